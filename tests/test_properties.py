"""Property-based tests: whatever the input, parsers raise nothing but the project's own errors."""

from __future__ import annotations

import contextlib
import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from helpers import credential_document
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sf_credproc.cache.disk import join_entry, new_entry_header, parse_index
from sf_credproc.cache.entry import decode_entry
from sf_credproc.cache.identity import CacheIdentity
from sf_credproc.config.config_file import _parse as parse_config
from sf_credproc.config.key_uri import SCHEMES, KeyUri, is_plugin_name, parse_key_uri
from sf_credproc.config.login_url import LoginUrl, parse_login_url
from sf_credproc.config.options import PROFILE_KEYS
from sf_credproc.errors import CredProcError
from sf_credproc.keys.pem import load_rsa_private_key
from sf_credproc.oauth.exchange import ExchangeContext, TokenResponse, parse_token_response

QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONTEXT = ExchangeContext("https://login.salesforce.com/services/oauth2/token", "u", "c", "aud")

json_values: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)


@QUICK
@given(st.text())
@example("a:0")  # a signer plugin's URI: any other scheme of the plugin-name shape
def test_key_uri_parsing(text: str) -> None:
    try:
        uri = parse_key_uri(text, "test")
    except CredProcError:
        return
    assert isinstance(uri, KeyUri)
    assert uri.scheme in SCHEMES or (uri.is_plugin and is_plugin_name(uri.scheme))


@QUICK
@given(
    st.sampled_from([*(f"{scheme}:" for scheme in SCHEMES), "acme-signer:", "arn:aws:kms:", ""]),
    st.text(),
)
def test_key_uri_parsing_with_known_prefixes(prefix: str, rest: str) -> None:
    with contextlib.suppress(CredProcError):
        parse_key_uri(prefix + rest, "test")


@QUICK
@given(st.text(), st.lists(st.text(max_size=20), max_size=3))
def test_login_url_parsing(text: str, trusted: list[str]) -> None:
    try:
        url = parse_login_url(text, tuple(trusted), "test")
    except CredProcError:
        return
    assert isinstance(url, LoginUrl)
    assert url.base.startswith(("https://", "http://"))


@QUICK
@given(st.binary(max_size=400))
def test_config_parsing_of_arbitrary_bytes(raw: bytes) -> None:
    with contextlib.suppress(CredProcError):
        parse_config(raw, "config.toml", PROFILE_KEYS)


@QUICK
@given(
    st.dictionaries(
        st.sampled_from(["profile", "other"]),
        st.dictionaries(
            st.text(max_size=10),
            st.dictionaries(
                st.sampled_from([*sorted(PROFILE_KEYS), "bogus"]), json_values, max_size=4
            ),
            max_size=3,
        ),
        max_size=2,
    )
)
def test_config_parsing_of_structured_documents(document: dict[str, Any]) -> None:
    # Written as JSON, which is valid TOML only sometimes: both paths must end in our errors.
    with contextlib.suppress(CredProcError):
        parse_config(json.dumps(document).encode(), "config.toml", PROFILE_KEYS)


@QUICK
@given(st.binary(max_size=600))
def test_cache_entry_parsing_never_raises(data: bytes) -> None:
    decode_entry(data, "entry")
    parse_index(data)


@QUICK
@given(
    st.text(min_size=1, max_size=200),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from(["", "AccessToken", "Scope", "Expiration"]),
)
def test_cache_entry_round_trip(
    token: str, expiration: int, issued_at: int, missing_field: str
) -> None:
    """A whole credential comes back as it went in; one missing any field never does."""
    identity = CacheIdentity("https://login.salesforce.com/services/oauth2/token", "aud", "c", "u")
    document = credential_document(token, "u", issued_at, expiration)
    if missing_field:
        del document[missing_field]
    credential = json.dumps(document)
    entry = decode_entry(
        join_entry(
            new_entry_header(expiration, issued_at),
            credential.encode("utf-8"),
            identity.to_json_line(),
        ),
        "p",
    )
    if missing_field:
        assert entry is None
        return
    assert entry is not None
    assert (entry.credential.to_json(), entry.expiration, entry.credential.issued_at) == (
        credential,
        expiration,
        issued_at,
    )
    assert entry.identity == identity


@QUICK
@given(
    st.integers(min_value=100, max_value=599),
    st.one_of(st.none(), st.text(max_size=30)),
    st.binary(max_size=500),
)
def test_token_response_parsing_of_bytes(
    status: int, content_type: str | None, body: bytes
) -> None:
    try:
        result = parse_token_response(status, content_type, body, CONTEXT)
    except CredProcError:
        return
    assert isinstance(result, TokenResponse)


@QUICK
@given(st.integers(min_value=100, max_value=599), json_values)
def test_token_response_parsing_of_json(status: int, document: Any) -> None:
    try:
        result = parse_token_response(
            status, "application/json", json.dumps(document).encode(), CONTEXT
        )
    except CredProcError:
        return
    assert status == 200 and isinstance(result, TokenResponse)


VALID_SUCCESS = {
    "access_token": "00D5g000004ABCD!AQtoken",
    "instance_url": "https://acme.my.salesforce.com",
    "id": "https://login.salesforce.com/id/00D5g000004ABCDEAY/0055g00000ABCDEAAY",
    "token_type": "Bearer",
    "scope": "api",
    "issued_at": "1764403200000",
}
url_like = st.builds(
    str.__add__,
    st.sampled_from(["https://", "http://", "http://127.0.0.1", "https://a@", "javascript:", ""]),
    st.text(max_size=30),
)


def is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@QUICK
@given(
    st.sampled_from(sorted(VALID_SUCCESS)), st.one_of(url_like, st.text(max_size=30), json_values)
)
def test_an_accepted_token_response_is_safe_to_print(name: str, value: Any) -> None:
    """Whatever one field holds, what is accepted has no control character and a safe URL."""
    body = json.dumps({**VALID_SUCCESS, name: value}).encode()
    try:
        result = parse_token_response(200, "application/json", body, CONTEXT)
    except CredProcError:
        return
    for text in (result.access_token, result.scope, result.token_type):
        assert all(" " <= char <= "~" for char in text)
    for url in (result.instance_url, result.id_url):
        assert all("!" <= char <= "~" for char in url)
        parts = urlsplit(url)
        assert parts.hostname and parts.username is None
        assert parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
    assert result.token_type == "Bearer"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.one_of(st.none(), st.binary(max_size=10)))
def test_key_material_loading(material: bytes, passphrase: bytes | None) -> None:
    with contextlib.suppress(CredProcError):
        load_rsa_private_key(
            b"-----BEGIN PRIVATE KEY-----\n" + material, where="x", passphrase=passphrase
        )
    with contextlib.suppress(CredProcError):
        load_rsa_private_key(material, where="x", passphrase=passphrase)
