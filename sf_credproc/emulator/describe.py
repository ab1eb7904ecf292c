"""The describe resources: ``sobjects`` (Describe Global), ``sobjects/<Name>`` (basic information)
and ``sobjects/<Name>/describe`` (the object's fields), as stubs of the REST API Developer Guide's
resources with the keys clients read (``name``, ``keyPrefix``, ``queryable``, ``urls``; per field
``name``, ``type``, ``soapType``, ``nillable``, ``createable``...). Values are those of a standard
object in a Developer Edition org; nothing here is per-user.
"""

from __future__ import annotations

from typing import Any

from .sobjects import SOBJECTS, Field, SObject

_SOAP_TYPES = {"id": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime"}


def describe_global(version: str) -> dict[str, Any]:
    """``GET /services/data/vNN.N/sobjects``."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_summary(sobject, version) for sobject in SOBJECTS.values()],
    }


def basic_information(sobject: SObject, version: str) -> dict[str, Any]:
    """``GET /services/data/vNN.N/sobjects/<Name>``: the summary and no recent items."""
    return {"objectDescribe": _summary(sobject, version), "recentItems": []}


def describe(sobject: SObject, version: str) -> dict[str, Any]:
    """``GET /services/data/vNN.N/sobjects/<Name>/describe``."""
    return {
        **_summary(sobject, version),
        "childRelationships": [],
        "fields": [_field(sobject, field) for field in sobject.fields],
        "recordTypeInfos": [],
    }


def _summary(sobject: SObject, version: str) -> dict[str, Any]:
    base = f"/services/data/{version}/sobjects/{sobject.name}"
    return {
        "activateable": False,
        "createable": sobject.createable,
        "custom": False,
        "customSetting": False,
        "deletable": sobject.createable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "keyPrefix": sobject.key_prefix,
        "label": sobject.label,
        "labelPlural": sobject.label_plural,
        "layoutable": True,
        "mergeable": False,
        "mruEnabled": False,
        "name": sobject.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": sobject.createable,
        "triggerable": sobject.createable,
        "undeletable": sobject.createable,
        "updateable": sobject.createable,
        "urls": {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        },
    }


def _field(sobject: SObject, field: Field) -> dict[str, Any]:
    editable = sobject.createable and field.type != "id"
    return {
        "autoNumber": False,
        "calculated": False,
        "createable": editable,
        "custom": False,
        "defaultValue": None,
        "externalId": False,
        "filterable": True,
        "idLookup": field.type == "id" or field.name == "Username",
        "label": field.label,
        "length": 0 if field.type in _SOAP_TYPES else 255,
        "name": field.name,
        "nameField": field.name == "Name",
        "nillable": field.type not in ("id", "boolean") and field.name != "Name",
        "picklistValues": [],
        "referenceTo": [],
        "relationshipName": None,
        "soapType": _SOAP_TYPES.get(field.type, "xsd:string"),
        "sortable": True,
        "type": field.type,
        "unique": field.name == "Username",
        "updateable": editable,
    }
