"""Protocol clients, usable without OCF: SIP OPTIONS, Asterisk's control
socket, AMI and configuration, MySQL/MariaDB, gratuitous ARP and
unsolicited NA.  Import only sipha_runtime."""
