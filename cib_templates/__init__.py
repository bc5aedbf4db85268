"""The SIP-HA Pacemaker configuration: a parameter file (``params``), XML
templates rendered from it (``render``), checked by Pacemaker's schema and
``crm_verify`` (``validate``), and the equivalent ``pcs`` commands (``pcs``)."""
