"""What every SIP-HA program needs and that knows nothing of SIP-HA: running
commands with deadlines, logging, /proc, host:port, durations, alert
recipients, the error base.

This package imports nothing else of ours (tests/unit/test_layers.py checks)."""
