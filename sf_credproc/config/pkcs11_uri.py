"""``pkcs11:`` key URIs, RFC 7512 ("The PKCS #11 URI Scheme"): which token and object sign.

``pkcs11:token=...;object=...`` (path attributes, ``;``-separated, section 2.3), with ``id=``
(the object's ``CKA_ID`` as percent-encoded bytes) and ``slot-id=``, and query attributes after
``?`` (``&``-separated): ``module-path``, ``module-name`` and ``pin-source``. ``pin-value`` is
refused: a URI is echoed in messages, kept in shell history and config files, and recorded by
process listings, so a PIN never belongs in one (RFC 7512, section 7, says as much).
Parsing is pure: no module is loaded here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from ..errors import ConfigError

#: RFC 7512, section 2.3: the path attributes, each at most once.
PATH_ATTRIBUTES = frozenset(
    {
        "id",
        "library-description",
        "library-manufacturer",
        "library-version",
        "manufacturer",
        "model",
        "object",
        "serial",
        "slot-description",
        "slot-id",
        "slot-manufacturer",
        "token",
        "type",
    }
)
#: The query attributes this tool acts on (``pin-value`` is recognised only to refuse it).
QUERY_ATTRIBUTES = frozenset({"module-name", "module-path", "pin-source", "pin-value"})
PIN_VALUE_HINT = (
    "Never put the PIN in the URI: use ?pin-source=file:/PATH, --pkcs11-pin-file or "
    "SF_CREDPROC_PKCS11_PIN"
)
_URI_HINT = "Use pkcs11:token=LABEL;object=LABEL (or id=%XX..., slot-id=N), RFC 7512"


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of one ``pkcs11:`` URI that select the private key and how to reach it."""

    token: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    object_label: str | None = None
    object_id: bytes | None = None
    slot_id: int | None = None
    module_path: str | None = None
    module_name: str | None = None
    #: ``file:/PATH`` (or a bare path): where the PIN is read from.
    pin_source: str | None = None


def has_pin_value(text: str) -> bool:
    """True when ``text`` (a ``--key`` value) carries a PIN: such a value is never shown."""
    return "pin-value" in text.lower()


def parse_pkcs11_uri(text: str, origin: str) -> Pkcs11Uri:
    """Parse a whole ``pkcs11:`` URI, or raise ``ConfigError`` (exit 2) naming the problem.

    Messages never repeat an attribute's value: the URI might carry a PIN, and the ``--key``
    setting named by ``origin`` tells the reader which value is meant.
    """
    if has_pin_value(text):
        raise ConfigError(f"the pkcs11: URI of {origin} carries pin-value", hint=PIN_VALUE_HINT)
    scheme, _, rest = text.partition(":")
    if scheme != "pkcs11":
        raise ConfigError(f"{origin} is not a pkcs11: URI", hint=_URI_HINT)
    path, _, query = rest.partition("?")
    values: dict[str, str] = {}
    raw_id: bytes | None = None
    for part, allowed, where in (
        (path, PATH_ATTRIBUTES, "path"),
        (query, QUERY_ATTRIBUTES, "query"),
    ):
        separator = ";" if where == "path" else "&"
        for attribute in filter(None, part.split(separator)):
            name, equals, value = attribute.partition("=")
            if not equals:
                raise ConfigError(
                    f"the pkcs11: URI of {origin} has {name!r} without a value", hint=_URI_HINT
                )
            if name.startswith("x-"):  # vendor-specific (section 2.3): not ours to act on
                continue
            if name not in allowed:
                raise ConfigError(
                    f"the pkcs11: URI of {origin} has an unknown {where} attribute {name!r}",
                    hint=_URI_HINT,
                )
            if name in values:
                raise ConfigError(
                    f"the pkcs11: URI of {origin} repeats {name!r}",
                    hint="Give each attribute once (RFC 7512, section 2.3)",
                )
            if name == "id":
                raw_id = unquote_to_bytes(value)
                values[name] = ""
                continue
            try:
                values[name] = unquote_to_bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError(
                    f"the pkcs11: URI of {origin} has {name!r} that is not UTF-8", hint=_URI_HINT
                ) from None
    kind = values.get("type")
    if kind is not None and kind != "private":
        raise ConfigError(
            f"the pkcs11: URI of {origin} names a {kind!r} object; signing needs the private key",
            hint="Use type=private, or leave type out",
        )
    if "object" not in values and raw_id is None:
        raise ConfigError(
            f"the pkcs11: URI of {origin} names no object", hint="Add object=LABEL or id=%XX..."
        )
    slot_id: int | None = None
    if "slot-id" in values:
        if not values["slot-id"].isdigit():
            raise ConfigError(
                f"the pkcs11: URI of {origin} has a slot-id that is not a number", hint=_URI_HINT
            )
        slot_id = int(values["slot-id"])
    return Pkcs11Uri(
        token=values.get("token"),
        manufacturer=values.get("manufacturer"),
        serial=values.get("serial"),
        model=values.get("model"),
        object_label=values.get("object"),
        object_id=raw_id,
        slot_id=slot_id,
        module_path=values.get("module-path"),
        module_name=values.get("module-name"),
        pin_source=values.get("pin-source"),
    )
