"""The emulator's REST API surface: what API clients (the Salesforce CLI, CumulusCI, jsforce,
simple-salesforce, curl) ask of an org after logging in. Read-only; a test double, not a Salesforce.

Resources (REST API Developer Guide, "Reference"), under ``/services/data``:

=============================================  ==================================================
``/services/data``                             Versions; public, as Salesforce's is
``/vNN.N``                                     Resources by Version: the resources below
``/vNN.N/limits``                              Limits (``limits.py``)
``/vNN.N/query?q=SOQL``, ``/vNN.N/queryAll``   Query, with paging (``query.py``, ``soql.py``)
``/vNN.N/query/<locator>-<offset>``            the next page of a query's records
``/vNN.N/sobjects``                            Describe Global (``describe.py``)
``/vNN.N/sobjects/<Name>[/describe]``          sObject Basic Information, sObject Describe
``/vNN.N/sobjects/<Name>/<Id>[?fields=...]``   sObject Rows: one record (``sobjects.py``)
=============================================  ==================================================

The objects are ``Account`` (``EmulatedOrg.accounts``), ``Organization`` and ``User``. Every resource
but the version list needs a live session: a missing, unknown, revoked or expired token gets 401
``INVALID_SESSION_ID``. Then Salesforce's answers: an unknown version or resource 404
``NOT_FOUND``, an unknown object in SOQL 400 ``INVALID_TYPE``, an unknown field 400
``INVALID_FIELD``, SOQL the emulator cannot read 400 ``MALFORMED_QUERY``, a write 405
``METHOD_NOT_ALLOWED``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from .answers import INVALID_SESSION, NOT_FOUND, Answer, error, invalid_field
from .describe import basic_information, describe, describe_global
from .limits import limits
from .query import next_page, run_query
from .sobjects import find, records_of, shown

if TYPE_CHECKING:
    from .org import EmulatedOrg

__all__ = ["API_VERSIONS", "INVALID_SESSION", "NOT_FOUND", "handle_rest"]

#: Summer '14 (31.0) to Winter '26 (65.0): Salesforce retired versions 21.0 to 30.0 in 2025, and
#: clients still ask for old ones (the Salesforce CLI reads the user's record with v51.0).
API_VERSIONS = tuple(f"{major}.0" for major in range(31, 66))


def handle_rest(
    emulator: EmulatedOrg, method: str, path: str, query: str, authorization: str
) -> Answer:
    """Answer one request under ``/services/data``."""
    segments = [s for s in path.split("/") if s][2:]  # drop "services", "data"
    if not segments:
        return 200, [
            {"label": f"API {v}", "url": f"/services/data/v{v}", "version": v} for v in API_VERSIONS
        ]
    token = authorization[len("Bearer ") :].strip() if authorization.startswith("Bearer ") else ""
    session = emulator.session_for(token)
    if session is None:
        return 401, INVALID_SESSION
    version, resource = segments[0], segments[1:]
    if not re.fullmatch(r"v\d+\.\d", version) or version[1:] not in API_VERSIONS:
        return 404, NOT_FOUND
    if method != "GET":
        return error(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,HEAD"
        )
    parameters = {name: values[0] for name, values in parse_qs(query).items()}
    if not resource:
        base = f"/services/data/{version}"
        names = ("limits", "query", "queryAll", "sobjects")
        return 200, {name: f"{base}/{name}" for name in names}
    if resource == ["limits"]:
        return 200, limits(emulator)
    if resource[0] in ("query", "queryAll") and len(resource) <= 2:
        if len(resource) == 2:
            return next_page(emulator, session.username, version, resource[1])
        columns = parameters.get("columns") == "true"
        text = parameters.get("q", "")
        return run_query(emulator, session.username, version, text, columns=columns)
    if resource[0] == "sobjects":
        return _sobjects(emulator, version, resource[1:], parameters.get("fields"))
    return 404, NOT_FOUND


def _sobjects(
    emulator: EmulatedOrg, version: str, resource: list[str], field_names: str | None
) -> Answer:
    if not resource:
        return 200, describe_global(version)
    sobject = find(resource[0])
    if sobject is None or len(resource) > 2:
        return 404, NOT_FOUND
    if len(resource) == 1:
        return 200, basic_information(sobject, version)
    if resource[1] == "describe":
        return 200, describe(sobject, version)
    record_id = resource[1]
    record = next(
        (
            row
            for row in records_of(emulator, sobject)
            if len(record_id) in (15, 18) and row["Id"][:15] == record_id[:15]
        ),
        None,
    )
    if record is None:
        return 404, NOT_FOUND
    fields = sobject.fields
    if field_names:
        chosen = [(name.strip(), sobject.field(name.strip())) for name in field_names.split(",")]
        missing = next((name for name, found in chosen if found is None), None)
        if missing is not None:
            return invalid_field(missing, sobject.name)
        fields = tuple(found for _, found in chosen if found is not None)
        if all(f.name != "Id" for f in fields):
            fields = (*fields, sobject.fields[0])  # Salesforce adds the Id to the fields asked
    return 200, shown(sobject, record, version, fields)
