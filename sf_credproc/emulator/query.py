"""SOQL ``query`` and ``queryAll``, answered as the REST API answers them.

REST API Developer Guide, "Query" and "Execute a SOQL Query": ``{"totalSize", "done", "records"}``,
each record with its ``attributes`` (``type``, ``url``) and the fields asked for, in the order asked.
When more records match than one page holds, the answer has ``"done": false`` and
``nextRecordsUrl`` (``/services/data/vNN.N/query/<locator>-<offset>``), and a GET of that URL
answers the next page. Salesforce's pages hold up to 2,000 records; ``EmulatedOrg.query_page_size``
makes them smaller so tests page. The emulator holds no deleted records, so ``queryAll`` answers as
``query`` does.

``columns=true`` (a parameter the Salesforce CLI sends before printing a result, which the Guide
does not document) answers the query's column metadata: ``columnMetadata``, ``entityName``,
``groupBy``, ``idSelected``, ``keyPrefix``, as Salesforce answers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .answers import Answer, error, invalid_field, invalid_type
from .records import QueryCursor, salesforce_id
from .sobjects import Field, SObject, find, records_of, shown
from .soql import MalformedQuery, Query, parse

if TYPE_CHECKING:
    from .org import EmulatedOrg

_APEX_TYPES = {"id": "Id", "boolean": "Boolean", "datetime": "Datetime"}


def run_query(
    emulator: EmulatedOrg, username: str, version: str, text: str, *, columns: bool = False
) -> Answer:
    """Run ``text``; the first page, or (``columns``) the column metadata."""
    try:
        query = parse(text)
    except MalformedQuery as bad:
        return error(400, "MALFORMED_QUERY", str(bad))
    sobject = find(query.sobject)
    if sobject is None:
        return invalid_type(query.sobject)
    chosen: list[Field] = []
    for name in (*query.fields, *(n for n, _ in query.where), *filter(None, [query.order_by])):
        found = sobject.field(name)
        if found is None:
            return invalid_field(name, sobject.name)
        chosen.append(found)
    fields = tuple(chosen[: len(query.fields)])
    order_by = chosen[-1].name if query.order_by is not None else None
    if columns:
        return 200, _columns(sobject, fields)
    rows = [row for row in records_of(emulator, sobject) if _matches(sobject, row, query)]
    if order_by is not None:
        # Ascending puts nulls first and descending last, as SOQL's ORDER BY does by default.
        rows.sort(
            key=lambda row: (row[order_by] is not None, row[order_by]), reverse=query.descending
        )
    rows = rows[: query.limit] if query.limit is not None else rows
    if query.count_only:
        return 200, {"totalSize": len(rows), "done": True, "records": []}
    records = [shown(sobject, row, version, fields) for row in rows]
    cursor = QueryCursor(username, max(1, emulator.query_page_size), records)
    return 200, _page(emulator, version, cursor, salesforce_id("01g"), 0)


def next_page(emulator: EmulatedOrg, username: str, version: str, locator: str) -> Answer:
    """``GET query/<locator>-<offset>``: the page of a query's records starting at ``offset``."""
    query_id, _, offset = locator.rpartition("-")
    cursor = emulator.query_cursors.get(query_id)
    if cursor is None or cursor.username != username or not offset.isdigit():
        return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return 200, _page(emulator, version, cursor, query_id, int(offset))


def _page(
    emulator: EmulatedOrg, version: str, cursor: QueryCursor, query_id: str, offset: int
) -> dict[str, Any]:
    end = offset + cursor.page_size
    page: dict[str, Any] = {
        "totalSize": len(cursor.records),
        "done": end >= len(cursor.records),
        "records": cursor.records[offset:end],
    }
    if not page["done"]:
        # Salesforce keeps a locator for a while after its last page; so does the emulator, until
        # reset().
        emulator.query_cursors[query_id] = cursor
        page["nextRecordsUrl"] = f"/services/data/{version}/query/{query_id}-{end}"
    return page


def _matches(sobject: SObject, row: dict[str, Any], query: Query) -> bool:
    for name, wanted in query.where:
        field = sobject.field(name)
        value = row[field.name] if field is not None else None
        if field is not None and field.type == "id" and isinstance(wanted, str) and value:
            # An id matches in its 15- and its 18-character forms.
            value, wanted = value[:15], wanted[:15]
        if value != wanted:
            return False
    return True


def _columns(sobject: SObject, fields: tuple[Field, ...]) -> dict[str, Any]:
    metadata: list[dict[str, Any]] = [
        {
            "aggregate": False,
            "apexType": _APEX_TYPES.get(field.type, "String"),
            "booleanType": field.type == "boolean",
            "columnName": field.name,
            "custom": False,
            "displayName": field.name,
            "foreignKeyName": None,
            "insertable": sobject.createable and field.type != "id",
            "joinColumns": [],
            "numberType": False,
            "textType": field.type not in _APEX_TYPES,
            "updatable": sobject.createable and field.type != "id",
        }
        for field in fields
    ]
    return {
        "columnMetadata": metadata,
        "entityName": sobject.name,
        "groupBy": False,
        "idSelected": any(field.type == "id" for field in fields),
        "keyPrefix": sobject.key_prefix,
    }
