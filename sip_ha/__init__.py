"""The SIP-HA operator command line and the library beneath it."""
