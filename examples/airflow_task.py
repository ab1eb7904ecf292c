"""An Airflow-style task (a plain callable, as a PythonOperator runs it) using a profile.

The profile lives in the worker's config file (~/.config/sf-credproc/config.toml); the task keeps
one SalesforceAuth for all its calls, which refreshes itself as needed.
"""

from __future__ import annotations

from typing import Any

import requests

from sf_credproc import SalesforceAuth, Settings


def count_users(profile: str = "default", **context: Any) -> int:
    auth = SalesforceAuth(Settings.from_profile(profile))
    with requests.Session() as http:
        url = f"{auth.credential.instance_url}/services/data/v62.0/query"
        answer = http.get(url, params={"q": "SELECT Id, Username FROM User"}, auth=auth, timeout=30)
        answer.raise_for_status()
        return int(answer.json()["totalSize"])
