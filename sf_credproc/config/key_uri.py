"""Key source URIs (``--key``): where the signing key lives.

``kms:<key id | alias/NAME | key ARN | alias ARN>`` (or a bare ``arn:aws:kms:...``),
``secretsmanager:<name or ARN>[#field]``, ``ssm:<name or ARN>``, ``transit:[MOUNT/]KEY[#VERSION]``
(Vault or OpenBao Transit), ``vault:MOUNT/PATH[#FIELD]`` (Vault KV version 2), ``pkcs11:...``
(RFC 7512, ``pkcs11_uri.py``), ``gcpkms:projects/.../cryptoKeyVersions/N`` (Google Cloud KMS,
``gcpkms_uri.py``), ``azurekv:https://VAULT.vault.azure.net/keys/KEY[/VERSION]`` (Azure Key Vault
or Managed HSM, ``azurekv_uri.py``), ``file:<path>``, ``env:<VAR>``, and ``NAME:REST`` for a signer
plugin (``sf-credproc-signer-NAME``). Parsing is pure: nothing is fetched here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigError

DEFAULT_SECRET_FIELD = "private_key"
#: Transit's mount when ``transit:KEY`` names none (``vault secrets enable transit``).
DEFAULT_TRANSIT_MOUNT = "transit"
#: A signer plugin's name: the scheme of its key URIs, the tail of ``sf-credproc-signer-NAME``.
PLUGIN_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz")
PLUGIN_NAME_CHARS = PLUGIN_NAME_FIRST | frozenset("0123456789-")
PLUGIN_NAME_MAX = 32
PLUGIN_PREFIX = "sf-credproc-signer-"

_HEX = frozenset("0123456789abcdef")
_ALIAS_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_-")
_SECRET_NAME_CHARS = _ALIAS_CHARS | frozenset("+=.@")
_PARAMETER_CHARS = _SECRET_NAME_CHARS
_ENV_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class KeyUri:
    """A parsed key source: ``scheme``, the ``target`` it names, and for ARNs their region."""

    scheme: str
    target: str
    #: The ``#FIELD`` of a secret, or the ``#VERSION`` of a Transit key.
    field: str | None = None
    region: str | None = None

    @property
    def is_plugin(self) -> bool:
        """True for ``NAME:REST`` served by the executable ``sf-credproc-signer-NAME``."""
        return self.scheme not in _PARSERS

    @property
    def shown_target(self) -> str:
        """The target for messages: never one that looks like key material pasted by mistake."""
        if looks_like_key_material(self.target):
            return "(not shown: looks like key material)"
        return self.target

    def __str__(self) -> str:
        text = f"{self.scheme}:{self.shown_target}"
        return f"{text}#{self.field}" if self.field else text

    def __repr__(self) -> str:
        # A file: target is any text, even a PEM pasted by mistake: reprs show what str shows.
        return f"KeyUri({str(self)!r})"


_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=")
#: A PEM line is 64 base64 characters with about one "/" in it; names and paths break far sooner
#: on "/", "-", "_" or ".", and rarely mix cases and digits over this many characters.
_BASE64_RUN = 32
HIDDEN = "(a value that looks like key material or a passphrase, not shown)"


def looks_like_key_material(text: str) -> bool:
    """True for PEM armour, line breaks, or a long mixed-case-and-digit base64 run."""
    if "BEGIN" in text or not text.isprintable() or len(text) > 256:
        return True
    run = ""
    for char in text + " ":
        if char in _BASE64_CHARS:
            run += char
            continue
        mixed = any(c.isupper() for c in run) and any(c.islower() for c in run)
        if len(run) >= _BASE64_RUN and mixed and any(c.isdigit() for c in run):
            return True
        run = ""
    return False


def shown(text: str) -> str:
    """``text`` quoted for an error message, unless it may be a secret pasted by mistake.

    A key source URI is not secret, but what lands in ``--key`` by mistake may be: a PEM (or one
    of its lines), a base64 blob, a passphrase. Only a value that starts with a known scheme, or
    is a bare KMS ARN, is repeated, and not even then when it looks like key material.
    """
    from .pkcs11_uri import (
        has_pin_value,  # the parsers of pkcs11:, gcpkms: and azurekv: load on use
    )

    scheme, colon, _ = text.partition(":")
    known = scheme in SCHEMES or is_plugin_name(scheme) or text.startswith("arn:")
    if not (colon and known) or has_pin_value(text):
        return HIDDEN
    return HIDDEN if looks_like_key_material(text) else repr(text)


def _bad(text: str, source: str, why: str, hint: str) -> ConfigError:
    # A Python keyword argument (source ``key=``) is named as the caller wrote it.
    subject = f"{source}{shown(text)}" if source.endswith("=") else f"--key {shown(text)}"
    return ConfigError(f"{subject} (from {source}) {why}", hint=hint)


def _is_uuid(text: str) -> bool:
    groups = text.lower().split("-")
    return [len(g) for g in groups] == [8, 4, 4, 4, 12] and all(set(g) <= _HEX for g in groups)


def _is_kms_key_id(text: str) -> bool:
    # Single-region keys are UUIDs; multi-Region keys are "mrk-" and 32 hex digits.
    if text.startswith("mrk-"):
        return len(text) == 36 and set(text[4:].lower()) <= _HEX
    return _is_uuid(text)


def _split_arn(arn: str, service: str) -> tuple[str, str] | None:
    """``(region, resource)`` of ``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE``, else None."""
    parts = arn.split(":", 5)
    if (
        len(parts) != 6
        or parts[0] != "arn"
        or not parts[1].startswith("aws")
        or parts[2] != service
    ):
        return None
    region, account, resource = parts[3], parts[4], parts[5]
    if not region or not (len(account) == 12 and account.isdigit()) or not resource:
        return None
    return region, resource


def _parse_kms(text: str, target: str, source: str) -> KeyUri:
    hint = "Use kms:KEY_ID, kms:alias/NAME, or a key or alias ARN"
    if target.startswith("arn:"):
        split = _split_arn(target, "kms")
        if split is None:
            raise _bad(text, source, "is not a valid KMS key or alias ARN", hint)
        region, resource = split
        kind, _, name = resource.partition("/")
        if (kind == "key" and _is_kms_key_id(name)) or (
            kind == "alias" and name and set(name) <= _ALIAS_CHARS
        ):
            return KeyUri("kms", target, region=region)
        raise _bad(text, source, "is not a valid KMS key or alias ARN", hint)
    if target.startswith("alias/"):
        name = target[len("alias/") :]
        if name and set(name) <= _ALIAS_CHARS and not name.startswith("aws/"):
            return KeyUri("kms", target)
        raise _bad(text, source, "is not a valid KMS alias name", hint)
    if _is_kms_key_id(target):
        return KeyUri("kms", target)
    raise _bad(text, source, "names no KMS key (not a key id, alias or ARN)", hint)


def _parse_secret(text: str, target: str, source: str) -> KeyUri:
    hint = "Use secretsmanager:NAME_OR_ARN, or secretsmanager:NAME_OR_ARN#FIELD for a JSON secret"
    name, hash_sign, field = target.partition("#")
    if hash_sign and not field:
        raise _bad(text, source, "has an empty #field", hint)
    if name.startswith("arn:"):
        split = _split_arn(name, "secretsmanager")
        if split is None or not split[1].startswith("secret:"):
            raise _bad(text, source, "is not a valid Secrets Manager secret ARN", hint)
        return KeyUri("secretsmanager", name, field or None, region=split[0])
    if not name or len(name) > 512 or not set(name) <= _SECRET_NAME_CHARS:
        raise _bad(text, source, "is not a valid Secrets Manager secret name", hint)
    return KeyUri("secretsmanager", name, field or None)


def _parse_ssm(text: str, target: str, source: str) -> KeyUri:
    hint = "Use ssm:/PATH/TO/PARAMETER or a parameter ARN"
    if target.startswith("arn:"):
        split = _split_arn(target, "ssm")
        if split is None or not split[1].startswith("parameter/"):
            raise _bad(text, source, "is not a valid SSM parameter ARN", hint)
        return KeyUri("ssm", target, region=split[0])
    if not target or len(target) > 2048 or not set(target) <= _PARAMETER_CHARS:
        raise _bad(text, source, "is not a valid SSM parameter name", hint)
    return KeyUri("ssm", target)


def is_plugin_name(name: str) -> bool:
    """``[a-z][a-z0-9-]{0,31}``: the names a signer plugin may have."""
    return (
        0 < len(name) <= PLUGIN_NAME_MAX
        and name[0] in PLUGIN_NAME_FIRST
        and set(name) <= PLUGIN_NAME_CHARS
    )


def parse_key_uri(text: str, source: str) -> KeyUri:
    """Parse a ``--key`` value, or raise ``ConfigError`` naming it and where it came from."""
    text = text.strip()
    if text.startswith("arn:aws") and ":kms:" in text:
        return _parse_kms(text, text, source)
    scheme, colon, target = text.partition(":")
    if not colon or not (scheme in SCHEMES or is_plugin_name(scheme)):
        raise _bad(
            text,
            source,
            "has no known key source scheme",
            f"Use {', '.join(f'{s}:' for s in SCHEMES)} (for example kms:alias/salesforce-jwt), "
            f"or NAME: for a signer plugin {PLUGIN_PREFIX}NAME",
        )
    if not target:
        raise _bad(text, source, f"names no {scheme} key", "Put the key's name after the colon")
    if scheme not in SCHEMES:
        # A plugin's URI: the plugin alone knows its shape (it gets the whole URI).
        return KeyUri(scheme, target)
    return _PARSERS[scheme](text, target, source)


def _parse_env(text: str, target: str, source: str) -> KeyUri:
    if not set(target) <= _ENV_CHARS or target[0].isdigit():
        raise _bad(text, source, "is not a valid environment variable name", "Use env:VARIABLE")
    return KeyUri("env", target)


def _parse_file(text: str, target: str, source: str) -> KeyUri:
    return KeyUri("file", target)


_VAULT_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _vault_segments(path: str) -> list[str] | None:
    """The ``/``-separated segments of a Vault path, or None when one is empty, ``.``/``..`` or
    holds a character that would change the request (``?``, ``#``, ``%``, spaces)."""
    segments = path.split("/")
    if all(s and s not in (".", "..") and set(s) <= _VAULT_NAME_CHARS for s in segments):
        return segments
    return None


def _parse_transit(text: str, target: str, source: str) -> KeyUri:
    hint = "Use transit:KEY, transit:MOUNT/KEY, or either with #VERSION (a positive number)"
    path, hash_sign, version = target.partition("#")
    segments = _vault_segments(path)
    if segments is None:
        raise _bad(text, source, "is not a valid Transit mount and key name", hint)
    if hash_sign and not (version.isdigit() and int(version) > 0):
        raise _bad(text, source, "has a #VERSION that is not a positive number", hint)
    if len(segments) == 1:
        segments.insert(0, DEFAULT_TRANSIT_MOUNT)
    return KeyUri("transit", "/".join(segments), version or None)


def _parse_vault(text: str, target: str, source: str) -> KeyUri:
    hint = (
        "Use vault:MOUNT/PATH or vault:MOUNT/PATH#FIELD (KV version 2; for example vault:secret/sf)"
    )
    path, hash_sign, field = target.partition("#")
    if hash_sign and not field:
        raise _bad(text, source, "has an empty #field", hint)
    segments = _vault_segments(path)
    if segments is None or len(segments) < 2:
        raise _bad(text, source, "is not a KV mount followed by a secret's path", hint)
    return KeyUri("vault", path, field or None)


def _parse_pkcs11(text: str, target: str, source: str) -> KeyUri:
    from .pkcs11_uri import parse_pkcs11_uri

    # Checked whole here (exit 2 before any work); the key source parses it again to use it.
    parse_pkcs11_uri(text, f"--key (from {source})")
    return KeyUri("pkcs11", target)


def _parse_gcpkms(text: str, target: str, source: str) -> KeyUri:
    from .gcpkms_uri import GCPKMS_HINT, gcpkms_name_problem

    problem = gcpkms_name_problem(target)
    if problem is not None:
        raise _bad(text, source, problem, GCPKMS_HINT)
    return KeyUri("gcpkms", target)


def _parse_azurekv(text: str, target: str, source: str) -> KeyUri:
    from .azurekv_uri import HINT as AZUREKV_HINT
    from .azurekv_uri import AzureKeyUriError, parse_azure_key_id

    try:
        parse_azure_key_id(target)
    except AzureKeyUriError as error:
        raise _bad(text, source, str(error), AZUREKV_HINT) from None
    return KeyUri("azurekv", target)


#: The parser of each scheme's target; ``keys.registry`` has the key source of each.
_PARSERS: dict[str, Callable[[str, str, str], KeyUri]] = {
    "kms": _parse_kms,
    "secretsmanager": _parse_secret,
    "ssm": _parse_ssm,
    "transit": _parse_transit,
    "vault": _parse_vault,
    "pkcs11": _parse_pkcs11,
    "gcpkms": _parse_gcpkms,
    "azurekv": _parse_azurekv,
    "file": _parse_file,
    "env": _parse_env,
}
#: The schemes ``--key`` accepts, in the order messages list them.
SCHEMES = tuple(_PARSERS)
