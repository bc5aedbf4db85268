#!/bin/bash
# Create the test cluster's SIP service in the CIB, from any node:
# the service address (IPaddr2) and Kamailio bound to it, as one group.
# Usage: sip-service.sh [SERVICE_IP]   (idempotent)
set -euo pipefail
IP=${1:-${SIPHA_SERVICE_IP:-198.51.100.100}}
export LC_ALL=C
if crm_resource --resource sip --query-xml >/dev/null 2>&1; then
    echo "sip service already configured"
    exit 0
fi
# No automatic failback: a recovered node does not take the service back.
pcs resource defaults update resource-stickiness=100 >/dev/null 2>&1 \
    || pcs resource defaults resource-stickiness=100
pcs resource create sip-ip ocf:heartbeat:IPaddr2 ip="$IP" cidr_netmask=24 \
    op monitor interval=5s --group sip
pcs resource create sip-proxy systemd:kamailio op monitor interval=5s \
    op start timeout=30s op stop timeout=30s --group sip
crm_resource --wait --timeout=60s
