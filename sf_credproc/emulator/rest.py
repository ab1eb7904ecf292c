"""The emulator's small REST API surface: what API clients ask right after logging in.

Salesforce's REST API (``/services/data``): the version list, one ``sobjects/User`` record, and SOQL
``query`` for ``Organization`` and ``User``; other objects (``ScratchOrgInfo`` outside a Dev Hub)
answer 400 ``INVALID_TYPE``. Every call needs a live session: a revoked or expired token gets 401
``INVALID_SESSION_ID``, as Salesforce answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .org import EmulatedOrg

API_VERSIONS = ("58.0", "59.0", "60.0", "61.0", "62.0", "63.0", "64.0", "65.0")
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]

Answer = tuple[int, Any]


def handle_rest(
    emulator: EmulatedOrg, method: str, path: str, query: str, authorization: str
) -> Answer:
    """Answer one ``/services/data`` request."""
    segments = [s for s in path.split("/") if s][2:]  # drop "services", "data"
    if not segments:
        versions = [
            {"label": f"API {v}", "url": f"/services/data/v{v}", "version": v} for v in API_VERSIONS
        ]
        return 200, versions
    token = (
        authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else ""
    )
    session = emulator.session_for(token)
    if session is None:
        return 401, INVALID_SESSION
    version = segments[0]
    if not version.startswith("v") or len(segments) == 1:
        return 200, {
            "sobjects": f"/services/data/{version}/sobjects",
            "query": f"/services/data/{version}/query",
            "limits": f"/services/data/{version}/limits",
        }
    if segments[1] == "query" and method == "GET":
        soql = parse_qs(query).get("q", [""])[0]
        return _query(emulator, version, soql)
    if segments[1:3] == ["sobjects", "User"] and len(segments) == 4:
        user = next(
            (u for u in emulator.users.values() if u.user_id[:15] == segments[3][:15]), None
        )
        if user is None:
            return 404, NOT_FOUND
        return 200, _user_record(emulator, version, user.username)
    return 404, NOT_FOUND


def _query(emulator: EmulatedOrg, version: str, soql: str) -> Answer:
    words = soql.replace(",", " , ").split()
    lowered = [w.lower() for w in words]
    if "from" not in lowered or lowered.index("from") + 1 >= len(words):
        return 400, [{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}]
    sobject = words[lowered.index("from") + 1]
    if sobject.lower() == "organization":
        records = [_organization_record(emulator, version)]
    elif sobject.lower() == "user":
        records = [_user_record(emulator, version, name) for name in sorted(emulator.users)]
    else:
        message = f"sObject type '{sobject}' is not supported."
        return 400, [{"message": message, "errorCode": "INVALID_TYPE"}]
    return 200, {"totalSize": len(records), "done": True, "records": records}


def _organization_record(emulator: EmulatedOrg, version: str) -> dict[str, Any]:
    return {
        "attributes": {
            "type": "Organization",
            "url": f"/services/data/{version}/sobjects/Organization/{emulator.org_id}",
        },
        "Id": emulator.org_id,
        "Name": "sf-credproc emulated org",
        "InstanceName": "EMU1",
        "IsSandbox": False,
        "TrialExpirationDate": None,
        "NamespacePrefix": None,
        "OrganizationType": "Developer Edition",
    }


def _user_record(emulator: EmulatedOrg, version: str, username: str) -> dict[str, Any]:
    user = emulator.users[username]
    return {
        "attributes": {
            "type": "User",
            "url": f"/services/data/{version}/sobjects/User/{user.user_id}",
        },
        "Id": user.user_id,
        "Username": user.username,
        "Email": user.username,
        "IsActive": user.active,
    }
