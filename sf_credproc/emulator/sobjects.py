"""The objects the emulator knows (``Account``, ``Organization``, ``User``): their fields, and their
records as the org holds them.

A few standard fields of each, with the types of the Object Reference for Salesforce; a record is a
dict of field values, shown through the REST API with its ``attributes`` (``type``, ``url``) as the
REST API Developer Guide's query and retrieve examples show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .org import EmulatedOrg


@dataclass(frozen=True)
class Field:
    """One field: its API name, its describe ``type`` and label."""

    name: str
    type: str
    label: str


@dataclass(frozen=True)
class SObject:
    """One object: its API name, labels, the key prefix of its ids, its fields."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[Field, ...]
    #: Whether a client may insert or update it (Organization: never).
    createable: bool = True

    def field(self, name: str) -> Field | None:
        """The field named ``name`` in any case (API names are case-insensitive), or None."""
        return next((f for f in self.fields if f.name.lower() == name.lower()), None)


def _fields(*specs: tuple[str, str, str]) -> tuple[Field, ...]:
    return tuple(Field(*spec) for spec in specs)


SOBJECTS: dict[str, SObject] = {
    sobject.name: sobject
    for sobject in (
        SObject(
            "Account",
            "Account",
            "Accounts",
            "001",
            _fields(
                ("Id", "id", "Account ID"),
                ("Name", "string", "Account Name"),
                ("Type", "picklist", "Account Type"),
                ("Industry", "picklist", "Industry"),
                ("BillingCity", "string", "Billing City"),
                ("Phone", "phone", "Account Phone"),
                ("Website", "url", "Website"),
            ),
        ),
        SObject(
            "Organization",
            "Organization",
            "Organizations",
            "00D",
            _fields(
                ("Id", "id", "Organization ID"),
                ("Name", "string", "Name"),
                ("InstanceName", "string", "Instance Name"),
                ("IsSandbox", "boolean", "Is Sandbox"),
                ("TrialExpirationDate", "datetime", "Trial Expiration Date"),
                ("NamespacePrefix", "string", "Namespace Prefix"),
                ("OrganizationType", "picklist", "Edition"),
                ("LanguageLocaleKey", "picklist", "Language"),
                ("TimeZoneSidKey", "picklist", "Time Zone"),
            ),
            createable=False,
        ),
        SObject(
            "User",
            "User",
            "Users",
            "005",
            _fields(
                ("Id", "id", "User ID"),
                ("Username", "string", "Username"),
                ("Name", "string", "Full Name"),
                ("Email", "email", "Email"),
                ("IsActive", "boolean", "Active"),
                ("TimeZoneSidKey", "picklist", "Time Zone"),
            ),
        ),
    )
}


def find(name: str) -> SObject | None:
    """The object named ``name`` in any case, or None."""
    return next((s for s in SOBJECTS.values() if s.name.lower() == name.lower()), None)


def records_of(emulator: EmulatedOrg, sobject: SObject) -> list[dict[str, Any]]:
    """Every record of ``sobject`` in the org, each a dict of all of its fields."""
    if sobject.name == "Account":
        rows = list(emulator.accounts)
    elif sobject.name == "Organization":
        rows = [
            {
                "Id": emulator.org_id,
                "Name": "sf-credproc emulated org",
                "InstanceName": "EMU1",
                "IsSandbox": False,
                "OrganizationType": "Developer Edition",
                "LanguageLocaleKey": "en_US",
                "TimeZoneSidKey": "America/Los_Angeles",
            }
        ]
    else:
        rows = [
            {
                "Id": user.user_id,
                "Username": user.username,
                "Name": user.username.split("@")[0],
                "Email": user.username,
                "IsActive": user.active,
                "TimeZoneSidKey": "America/Los_Angeles",
            }
            for user in sorted(emulator.users.values(), key=lambda u: u.username)
        ]
    return [{f.name: row.get(f.name) for f in sobject.fields} for row in rows]


def shown(
    sobject: SObject, record: dict[str, Any], version: str, fields: tuple[Field, ...] | None = None
) -> dict[str, Any]:
    """``record`` as the REST API shows it: ``attributes`` first, then ``fields`` (all by default)
    in the order asked."""
    url = f"/services/data/{version}/sobjects/{sobject.name}/{record['Id']}"
    chosen = sobject.fields if fields is None else fields
    return {
        "attributes": {"type": sobject.name, "url": url},
        **{f.name: record[f.name] for f in chosen},
    }
