"""Client CPU per UMA flow through python-keycloak 7.x, 16 threads.

Each flow: a fresh PAT (`KeycloakOpenIDConnection.get_token()`, client credentials), a
permission ticket (`KeycloakUMA.permission_ticket_create`, doc-1 read, id known so no name
lookup), and Keycloak's decision for alice (`KeycloakUMA.permissions_check` with the ticket).
Prints one JSON line like the Rust driver. Usage: pykc_flows.py <keycloak-url> <flows> <concurrency>
"""
import sys

from measure import run

from keycloak import KeycloakOpenID, KeycloakOpenIDConnection, KeycloakUMA
from keycloak.uma_permissions import UMAPermission

url, flows, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conn = KeycloakOpenIDConnection(server_url=url, realm_name="rkc", client_id="rkc-rs",
                                client_secret_key="rkc-rs-secret", grant_type="client_credentials",
                                pool_maxsize=concurrency)
uma = KeycloakUMA(connection=conn)
openid = KeycloakOpenID(server_url=url, realm_name="rkc", client_id="rkc-rs",
                        client_secret_key="rkc-rs-secret")
alice = openid.token("alice", "alice-pass")["access_token"]
conn.get_token()
perm = UMAPermission(resource="doc-1", scope="read")
perm.resource_id = uma.resource_set_list_ids(name="doc-1", exact_name=True)[0]


def flow(_):
    conn.get_token()  # the PAT
    t = uma.permission_ticket_create([perm])
    assert uma.permissions_check(alice, [perm], ticket=t["ticket"]) is True


run("python-keycloak 7.1.1 (Python)", flow, flows, concurrency)
