"""AWS Lambda: a handler that calls Salesforce with a session kept by sf-credproc.

Settings come from the function's environment (SF_CREDPROC_CLIENT_ID, SF_CREDPROC_USERNAME,
SF_CREDPROC_LOGIN_URL, SF_CREDPROC_KEY=kms:..., and SF_CREDPROC_SHARED_CACHE(_KEY) for a shared
cache, as iam/scheduled-job.yaml sets them). The auth object lives as long as the execution
environment: warm invocations reuse the session; /tmp holds the local cache.
"""

from __future__ import annotations

import os
from typing import Any

import requests

from sf_credproc import SalesforceAuth

# Lambda's only writable directory.
os.environ.setdefault("SF_CREDPROC_CACHE_DIR", "/tmp/sf-credproc")  # noqa: S108 - Lambda's private /tmp
AUTH = SalesforceAuth()
HTTP = requests.Session()


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    url = f"{AUTH.credential.instance_url}/services/data/v62.0/query"
    answer = HTTP.get(url, params={"q": "SELECT Id, Name FROM Organization"}, auth=AUTH, timeout=30)
    answer.raise_for_status()
    return {"organization": answer.json()["records"][0]["Name"], "user": AUTH.credential.username}
