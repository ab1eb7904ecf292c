"""simple-salesforce with a session from sf-credproc (no password, no security token).

python examples/simple_salesforce_query.py   # settings from SF_CREDPROC_* or the profile

simple-salesforce speaks https only: it keeps the host and port of ``instance_url`` and builds every
URL as ``https://HOST:PORT/...``. A plain-http instance URL (``sf-credproc emulator`` without
``--https``) would fail inside it with a TLS error, so it is refused here in one line; against the
emulator, run ``sf-credproc emulator --https`` and export the CA bundle it prints.
"""

from __future__ import annotations

import sys

from simple_salesforce.api import Salesforce

from sf_credproc import CredProcError, get_credential

try:
    credential = get_credential()
except CredProcError as error:
    sys.exit(f"sf-credproc: {error}")
if not credential.instance_url.startswith("https://"):
    sys.exit(
        f"simple-salesforce reaches Salesforce over https only, and the instance URL is "
        f"{credential.instance_url} (for the emulator: sf-credproc emulator --https)"
    )
salesforce = Salesforce(instance_url=credential.instance_url, session_id=credential.access_token)
for record in salesforce.query("SELECT Id, Name FROM Organization")["records"]:
    print(record["Id"], record["Name"])
