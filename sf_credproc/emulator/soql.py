"""The small subset of SOQL the emulator reads: enough for what clients ask right after logging in.

``SELECT field, ... | COUNT() FROM Object [WHERE Field = literal [AND ...]] [ORDER BY Field
[ASC|DESC]] [LIMIT n]``, keywords in any case (SOQL and SOSL Reference, "SOQL SELECT Syntax").
Anything else is refused as Salesforce refuses a query it cannot parse: 400 ``MALFORMED_QUERY``,
with the ``unexpected token`` message. It is a test double's parser, not a SOQL implementation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: String literals (with SOQL's backslash escapes), numbers, names (``Owner.Name``), punctuation.
_TOKEN = re.compile(r"\s*(?:('(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d+)?)|([A-Za-z_][\w.]*)|([,=()*]))")
_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


class MalformedQuery(ValueError):
    """A query outside the subset; ``str()`` is Salesforce's message for it."""


@dataclass(frozen=True)
class Query:
    """A parsed query: names as written (the caller resolves them against the object's fields)."""

    sobject: str
    fields: tuple[str, ...]
    count_only: bool = False
    where: tuple[tuple[str, Any], ...] = ()
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None


def parse(soql: str) -> Query:
    """Parse ``soql``, or raise ``MalformedQuery``."""
    if not soql.strip():
        raise MalformedQuery("A query string has to be specified")
    tokens = _tokens(soql)
    reader = _Reader(tokens)
    reader.expect("select")
    fields: list[str] = []
    count_only = False
    if reader.peek_lower() == "count" and reader.peek_lower(1) == "(":
        reader.take(), reader.take()
        reader.expect(")")
        count_only = True
    else:
        fields.append(reader.name())
        while reader.peek_lower() == ",":
            reader.take()
            fields.append(reader.name())
    reader.expect("from")
    sobject = reader.name()
    where: list[tuple[str, Any]] = []
    if reader.peek_lower() == "where":
        reader.take()
        where.append(_condition(reader))
        while reader.peek_lower() == "and":
            reader.take()
            where.append(_condition(reader))
    order_by, descending = None, False
    if reader.peek_lower() == "order":
        reader.take()
        reader.expect("by")
        order_by = reader.name()
        if reader.peek_lower() in ("asc", "desc"):
            descending = reader.take().lower() == "desc"
    limit = None
    if reader.peek_lower() == "limit":
        reader.take()
        value = reader.take()
        if not value.isdigit():
            raise MalformedQuery(f"unexpected token: {value}")
        limit = int(value)
    if reader.peek() is not None:
        raise MalformedQuery(f"unexpected token: {reader.peek()}")
    return Query(sobject, tuple(fields), count_only, tuple(where), order_by, descending, limit)


def _tokens(soql: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = soql.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise MalformedQuery(f"unexpected token: {text[position:].split()[0]}")
        tokens.append(match.group(match.lastindex or 0))
        position = match.end()
    return tokens


def _condition(reader: _Reader) -> tuple[str, Any]:
    name = reader.name()
    reader.expect("=")
    value = reader.take()
    if value.startswith("'"):
        return name, re.sub(r"\\(.)", r"\1", value[1:-1])
    if value.lower() in _LITERALS:
        return name, _LITERALS[value.lower()]
    if re.fullmatch(r"-?\d+(?:\.\d+)?", value):
        return name, float(value) if "." in value else int(value)
    raise MalformedQuery(f"unexpected token: {value}")


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self._tokens = tokens
        self._next = 0

    def peek(self, ahead: int = 0) -> str | None:
        index = self._next + ahead
        return self._tokens[index] if index < len(self._tokens) else None

    def peek_lower(self, ahead: int = 0) -> str:
        return (self.peek(ahead) or "").lower()

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise MalformedQuery("unexpected token: <EOF>")
        self._next += 1
        return token

    def expect(self, wanted: str) -> None:
        token = self.take()
        if token.lower() != wanted:
            raise MalformedQuery(f"unexpected token: {token}")

    def name(self) -> str:
        token = self.take()
        if not re.fullmatch(r"[A-Za-z_][\w.]*", token) or token.lower() in ("from", "where"):
            raise MalformedQuery(f"unexpected token: {token}")
        return token
