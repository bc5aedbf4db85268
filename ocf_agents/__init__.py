"""OCF resource agents of SIP-HA (provider ``sipha``) and their helper library.

Kept empty on purpose: every agent call imports this package first.
"""
