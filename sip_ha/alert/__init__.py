"""The SIP-HA Pacemaker alert agent (``sip-ha-alert``): e-mail, syslog and
SNMP notifications of cluster events, one recipient per call."""
