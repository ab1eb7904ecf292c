"""Checking one setting's value against its entry in the option spec (type, range, choices).

Every error names the setting as the user wrote it (``--session-ttl``, or ``session_ttl=`` for a
Python keyword argument), the value (never when it may be secret) and where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .option import Kind, Option, naming


@dataclass(frozen=True)
class RawValue:
    """A setting's value as found, before it is checked."""

    option: Option
    value: Any
    #: Where it came from: ``--session-ttl``, ``SF_CREDPROC_SESSION_TTL``, ``profile 'x' in ...``.
    origin: str
    #: From the TOML config file, where values carry their own types ("7200" is a string).
    typed: bool = False
    #: From a Python keyword argument: errors then say ``session_ttl=``, not ``--session-ttl``.
    from_python: bool = False

    @property
    def label(self) -> str:
        """The setting's name as the caller knows it."""
        if self.from_python:
            return self.option.python_label()
        return self.option.flag or self.option.name

    def subject(self, shown: str | None = None) -> str:
        """The setting and its value, for an error line."""
        return naming(self.label, repr(self.value) if shown is None else shown)


def check_text(raw: RawValue) -> str:
    """A non-empty string, stripped."""
    if not isinstance(raw.value, str) or not raw.value.strip():
        raise ConfigError(
            f"{raw.label} (from {raw.origin}) must be a non-empty string",
            hint=f"Set {raw.label} to a {raw.option.metavar.lower()}",
        )
    return raw.value.strip()


def check_sha256(raw: RawValue) -> str:
    """A SHA-256 digest as 64 hexadecimal digits, lower-cased (``sha256sum`` prints it so)."""
    value = raw.value.strip().lower() if isinstance(raw.value, str) else ""
    if len(value) != 64 or any(char not in "0123456789abcdef" for char in value):
        # Never echo the value: a caller may have passed the token itself by mistake.
        raise ConfigError(
            f"{raw.label} (from {raw.origin}) is not a SHA-256 digest (64 hexadecimal digits)",
            hint="Pass the digest of the rejected token, never the token: "
            'printf %s "$TOKEN" | sha256sum | cut -d" " -f1',
        )
    return value


def check_choice(raw: RawValue | None, option: Option) -> str:
    """One of the option's choices; its default when unset."""
    if raw is None:
        return str(option.default)
    value = check_text(raw)
    if value not in option.choices:
        raise ConfigError(
            f"{raw.subject(repr(value))} (from {raw.origin}) is not one of "
            + ", ".join(option.choices),
            hint="Use one of: " + ", ".join(option.choices),
        )
    return value


def check_seconds(raw: RawValue | None, option: Option) -> Any:
    """A number of seconds within the option's range (a whole number for ``WHOLE_SECONDS``); the
    option's default when unset."""
    whole = option.kind is Kind.WHOLE_SECONDS
    kind = int if whole else float
    if raw is None:
        return kind(option.default or 0)
    low, high = option.low or 0, option.high or 0
    what = "a whole number of seconds" if whole else "a number of seconds"
    value = raw.value
    if raw.typed and isinstance(value, str):
        # TOML has numbers: a quoted one is a mistake the README promises to report, not to guess.
        unquoted = value.strip()
        hint = f"Write it without quotes: {option.name} = {unquoted}"
        if not unquoted.replace(".", "", 1).isdigit():
            hint = f"Set it to {what} between {low:g} and {high:g}, without quotes"
        raise ConfigError(f"{raw.subject()} (from {raw.origin}) is a string, not {what}", hint=hint)
    if isinstance(value, str):
        try:
            value = kind(value.strip())
        except ValueError:
            value = None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (whole and not isinstance(value, int))
    ):
        raise ConfigError(
            f"{raw.subject()} (from {raw.origin}) is not {what}",
            hint=f"Set it to {what} between {low:g} and {high:g}",
        )
    if not low <= value <= high:
        raise ConfigError(
            f"{raw.subject()} (from {raw.origin}) is out of range",
            hint=f"Set it to {what} between {low:g} and {high:g}",
        )
    return kind(value)


def check_hosts(raw: RawValue) -> tuple[str, ...]:
    """The ``--trusted-host`` entries in canonical form, each checked with the login URL's host
    grammar (``host_names``); a wildcard over a public suffix is refused when the list is there."""
    from .host_names import canonical_trusted_host, load_public_suffix_check

    values = raw.value
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise ConfigError(
            f"{raw.label} (from {raw.origin}) must be a list of host names",
            hint='Write trusted_hosts = ["sso.example.com"] in the profile',
        )
    entries = [v.strip() for v in values]
    # The Public Suffix List is read only when a wildcard needs it.
    wildcards = any(entry.startswith("*.") for entry in entries)
    is_public_suffix = load_public_suffix_check() if wildcards else None
    hosts = []
    for entry in entries:
        try:
            hosts.append(canonical_trusted_host(entry, is_public_suffix))
        except ValueError as error:
            raise ConfigError(
                f"{naming(raw.label, repr(entry))} (from {raw.origin}) {error}",
                hint="Give a bare host such as sso.example.com, or *.example.com for its "
                "subdomains",
            ) from error
    return tuple(hosts)


def check_region(raw: RawValue) -> str:
    """An AWS region name: lower-case words and digits joined by hyphens (us-gov-west-1)."""
    region = check_text(raw)
    if not all((part.isalnum() and part.islower()) or part.isdigit() for part in region.split("-")):
        raise ConfigError(
            f"{raw.subject(repr(region))} (from {raw.origin}) is not an AWS region name",
            hint="Use a region such as us-east-1 or eu-west-1",
        )
    return region


def parse_table(text: str) -> str:
    """The table name in ``dynamodb://TABLE``; ``ValueError`` if it is not one (DynamoDB's naming
    rules: 3 to 255 of letters, digits, ``_``, ``.`` and ``-``)."""
    prefix = "dynamodb://"
    name = text[len(prefix) :] if text.startswith(prefix) else ""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    if not 3 <= len(name) <= 255 or not set(name) <= allowed:
        raise ValueError(text)
    return name
