"""Client CPU per UMA flow through the seed library (PyPI `keycloak` 3.1.5), 16 threads.

Each flow: `Client.pat()` (client credentials), `ticket([doc-1 read], pat)`, `rpt(alice token)`
(the seed's RPT call takes no ticket; it asks for every permission at the audience). Prints one
JSON line like the Rust driver. Usage: seed_flows.py <keycloak-url> <flows> <concurrency>
"""
import json
import os
import sys
import tempfile

from measure import run

url, flows, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
settings = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
json.dump(
    {"realm": "rkc", "auth-server-url": url, "resource": "rkc-rs",
     "credentials": {"secret": "rkc-rs-secret"}},
    settings,
)
settings.close()
os.environ["KEYCLOAK_SETTINGS"] = settings.name

from keycloak import Client  # noqa: E402  (reads KEYCLOAK_SETTINGS lazily)

kc = Client(callback_uri=url)
alice = Client.pat("alice", "alice-pass")["access_token"]
pat = Client.pat()["access_token"]
# The seed's `resources` property lists every resource with N+1 GETs; we only need doc-1's id.
import httpx  # noqa: E402
from keycloak.config import config  # noqa: E402

ids = httpx.get(config.uma2.resource_registration_endpoint, params={"name": "doc-1", "exactName": "true"},
                headers={"Authorization": f"Bearer {pat}"}).json()
doc = {"_id": ids[0], "resource_scopes": ["read"]}


def flow(_):
    p = Client.pat()["access_token"]
    t = kc.ticket([doc], p)
    assert "ticket" in t, t
    rpt = kc.rpt(alice)
    assert "access_token" in rpt, rpt


run("keycloak 3.1.5 (seed, Python)", flow, flows, concurrency)
