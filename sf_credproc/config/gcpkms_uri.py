"""``gcpkms:`` key URIs and the Cloud KMS endpoint setting: what to sign with, and where to ask.

A ``gcpkms:`` URI is the resource name of one CryptoKeyVersion (Cloud KMS REST reference,
``projects.locations.keyRings.cryptoKeys.cryptoKeyVersions``)::

    gcpkms:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/cryptoKeyVersions/N

Each part follows Google's documented id rules, so that nothing the name holds can change the
request path the SDK builds from it: a project id (6 to 30 lower-case letters, digits and hyphens,
starting with a letter, not ending with a hyphen; "Creating and managing projects"), optionally
domain-scoped (``example.com:my-project``), or a project number; a location (``global``,
``us-east1``, ``europe``: lower-case letters, digits and hyphens); key ring and key ids matching
``[a-zA-Z0-9_-]{1,63}`` (``CreateKeyRingRequest.key_ring_id``, ``CreateCryptoKeyRequest
.crypto_key_id``); a version number (versions are numbered from 1). A version must be named:
``asymmetricSign`` signs with one version, and the connected app's certificate holds the public
key of exactly one.

``SF_CREDPROC_GCPKMS_ENDPOINT`` (private endpoints, and tests) follows the login URL's host policy
(``login_url.split_login_url``): https, or plain http only to loopback; no user info, path, query
or backslash. The endpoint given to the SDK is rebuilt from the validated parts, so the host that
was checked is the host its HTTP client connects to. Parsing is pure: nothing is fetched here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ConfigError
from .host_names import host_in_url, is_loopback_host
from .signer_options import GCPKMS_ENDPOINT_ENV

GCPKMS_HINT = (
    "Use gcpkms:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY/"
    "cryptoKeyVersions/VERSION (the key version's resource name, as gcloud kms keys versions "
    "describe prints it)"
)
_PROJECT_ID = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"
_PROJECT = re.compile(
    rf"(?:(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}}:)?{_PROJECT_ID}\Z|[1-9][0-9]{{0,19}}\Z"
)
_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,62}\Z")
_ID = re.compile(r"[a-zA-Z0-9_-]{1,63}\Z")
_VERSION = re.compile(r"[1-9][0-9]{0,19}\Z")
#: The collection names, in order, between the ids (case matters in resource names).
_COLLECTIONS = ("projects", "locations", "keyRings", "cryptoKeys", "cryptoKeyVersions")
_RULES = (
    (_PROJECT, "a project id (6 to 30 of a-z 0-9 -, starting with a letter) or number"),
    (_LOCATION, "a location such as global or us-east1"),
    (_ID, "a key ring id (1 to 63 of a-z A-Z 0-9 _ -)"),
    (_ID, "a key id (1 to 63 of a-z A-Z 0-9 _ -)"),
    (_VERSION, "a version number (1, 2, ...)"),
)


@dataclass(frozen=True)
class GcpKmsName:
    """A validated CryptoKeyVersion resource name."""

    project: str
    location: str
    key_ring: str
    key: str
    version: int

    def __str__(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.location}/keyRings/{self.key_ring}/"
            f"cryptoKeys/{self.key}/cryptoKeyVersions/{self.version}"
        )

    @property
    def crypto_key(self) -> str:
        """The CryptoKey's name (the resource a role binding names)."""
        return str(self).rsplit("/cryptoKeyVersions/", 1)[0]


def gcpkms_name_problem(target: str) -> str | None:
    """Why ``target`` is not a CryptoKeyVersion resource name, in words for an error line; None
    when it is one."""
    parts = target.split("/")
    if len(parts) != 2 * len(_COLLECTIONS):
        return (
            "is not a Cloud KMS key version name (projects/.../locations/.../keyRings/.../"
            "cryptoKeys/.../cryptoKeyVersions/N)"
        )
    for index, collection in enumerate(_COLLECTIONS):
        given, value = parts[2 * index], parts[2 * index + 1]
        if given != collection:
            return f"has {given!r} where the resource name needs {collection!r}"
        pattern, what = _RULES[index]
        if not pattern.match(value):
            return f"has {collection}/{value!r}, which is not {what}"
    return None


def parse_gcpkms_name(target: str) -> GcpKmsName:
    """The parts of a name ``gcpkms_name_problem`` accepts (``ValueError`` otherwise)."""
    problem = gcpkms_name_problem(target)
    if problem is not None:
        raise ValueError(problem)
    parts = target.split("/")
    return GcpKmsName(parts[1], parts[3], parts[5], parts[7], int(parts[9]))


def gcpkms_endpoint(environ: Mapping[str, str]) -> str | None:
    """``SF_CREDPROC_GCPKMS_ENDPOINT`` as ``scheme://host[:port]`` rebuilt from its checked parts,
    or None for Google's own endpoint; ``ConfigError`` (exit 2) naming what is wrong."""
    from .login_url import split_login_url

    text = environ.get(GCPKMS_ENDPOINT_ENV, "").strip()
    if not text:
        return None
    hint = (
        f"Set {GCPKMS_ENDPOINT_ENV} to https://HOST[:PORT] (a private endpoint such as "
        "https://cloudkms.googleapis.com or a Private Service Connect name; plain http only to "
        "127.0.0.1, ::1 or localhost), without a path, or unset it"
    )
    try:
        scheme, host, port, path = split_login_url(text)
    except ValueError as error:
        shown = "(not shown: it carries user info)" if "@" in text else repr(text)
        raise ConfigError(f"{GCPKMS_ENDPOINT_ENV} {shown} {error}", hint=hint) from None
    if path:
        raise ConfigError(f"{GCPKMS_ENDPOINT_ENV} {text!r} must have no path", hint=hint)
    if scheme == "http" and not is_loopback_host(host):
        raise ConfigError(
            f"{GCPKMS_ENDPOINT_ENV} {text!r} uses plain http to a remote host: the Google access "
            "token would cross the network unencrypted",
            hint=hint,
        )
    if port == {"https": 443, "http": 80}[scheme]:
        port = None
    url = f"{scheme}://{host_in_url(host)}{f':{port}' if port is not None else ''}"
    _check_connects_to(url, host)
    return url


def _check_connects_to(url: str, host: str) -> None:
    """The host urllib3 (under requests, under the SDK) reads in ``url`` is the host approved."""
    from urllib3.util import parse_url

    from .host_names import canonical_host

    read = parse_url(url).host or ""
    if canonical_host(read.strip("[]") if ":" not in read else f"[{read.strip('[]')}]") != host:
        raise ConfigError(
            f"{GCPKMS_ENDPOINT_ENV} names a host that the HTTP client would read differently",
            hint="Write the host as a plain name or address",
        )
