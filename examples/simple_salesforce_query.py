"""simple-salesforce with a session from sf-credproc (no password, no security token).

python examples/simple_salesforce_query.py   # settings from SF_CREDPROC_* or the profile
"""

from __future__ import annotations

from simple_salesforce.api import Salesforce

from sf_credproc import get_credential

credential = get_credential()
salesforce = Salesforce(instance_url=credential.instance_url, session_id=credential.access_token)
for record in salesforce.query("SELECT Id, Name FROM Organization")["records"]:
    print(record["Id"], record["Name"])
