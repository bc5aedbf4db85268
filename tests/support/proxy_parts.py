"""The Kamailio proxy service of the test clusters: its configuration (on
every address, so the hot standby runs before the service address arrives)
and its [[service]] table, on node2/node3 as the three-node cluster has it
(PROXY_ON_TWO: the same on node1/node2, preferring node1, for the
two-node clusters)."""

from __future__ import annotations

from tests.support.sipha_cluster import NET

PROXY_IP = f"{NET}.110"
PROXY_PORT = 5070
KAMAILIO_CFG = "/etc/sip-ha/proxy-kamailio.cfg"
# Listens on every address, so the hot standby runs before the service
# address arrives; replies over TCP come from the address that was asked.
KAMAILIO = f"""#!KAMAILIO
debug=2
log_stderror=no
children=2
tcp_children=2
listen=udp:0.0.0.0:{PROXY_PORT}
listen=tcp:0.0.0.0:{PROXY_PORT}
server_header="Server: sipha-test-proxy"
loadmodule "sl.so"
loadmodule "pv.so"
request_route {{
    if ($rm == "OPTIONS") {{
        sl_send_reply("200", "OK");
        exit;
    }}
    sl_send_reply("404", "Not here");
}}
"""
PROXY = f"""
[[service]]
name = "proxy"
server = "sipserver"
preferred_node = "node3"
nodes = ["node2", "node3"]
ip = ["{PROXY_IP}/24"]
[service.options]
profile = "kamailio"
config = "{KAMAILIO_CFG}"
sip_uris = "sip:127.0.0.1:{PROXY_PORT};transport=tcp"
control_command = "none"
"""
PROXY_ON_TWO = PROXY.replace('nodes = ["node2", "node3"]', 'nodes = ["node1", "node2"]').replace(
    'preferred_node = "node3"', 'preferred_node = "node1"')
# The two-node proxy's synchronised folder: its [service.sync] table and the
# sync configuration every node gets at /etc/sip-ha/sync.toml.
PROXY_SYNC_DIR = "/srv/sipha-sync"
PROXY_SYNC_SERVICE = '[service.sync]\nconfig = "/etc/sip-ha/sync.toml"\n'
PROXY_SYNC_CONFIG = f"""folders = ["{PROXY_SYNC_DIR}"]
debounce = 0.3
[ssh]
identity_file = "/root/.ssh/id_ed25519"
[[peers]]
name = "node1"
[[peers]]
name = "node2"
"""
