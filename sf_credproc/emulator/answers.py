"""The REST API's answers shared by its resources: an ``Answer`` is a status and a JSON document.

Errors are Salesforce's: a JSON array of ``{"message", "errorCode"}`` objects (REST API Developer
Guide, "Status Codes and Error Responses").
"""

from __future__ import annotations

from typing import Any

Answer = tuple[int, Any]

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def error(status: int, code: str, message: str) -> Answer:
    """Salesforce's error body: one ``{"message", "errorCode"}`` in an array."""
    return status, [{"message": message, "errorCode": code}]


def invalid_type(name: str) -> Answer:
    """400 ``INVALID_TYPE``: an object the org does not have (or the emulator does not know)."""
    return error(
        400,
        "INVALID_TYPE",
        f"sObject type '{name}' is not supported. If you are attempting to use a custom object, be "
        "sure to append the '__c' after the entity name. Please reference your WSDL or the "
        "describe call for the appropriate names.",
    )


def invalid_field(name: str, sobject: str) -> Answer:
    """400 ``INVALID_FIELD``: a field the object does not have."""
    return error(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names.",
    )
