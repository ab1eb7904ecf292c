"""The TokenCache port and its owner of the file formats, at our own seams: a fake login passed in
as the callable, a clock passed in, a cache directory of the test's own."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from helpers import CLIENT_ID, USERNAME, credential_document

import sf_credproc
from sf_credproc.cache.disk import advisory_seconds, indexed_output, split_entry
from sf_credproc.cache.files import FileTokenCache
from sf_credproc.cache.identity import CacheIdentity
from sf_credproc.cache.index_writer import write_index
from sf_credproc.cache.port import CacheRequest, NoTokenCache
from sf_credproc.cache.tiered import TieredTokenCache
from sf_credproc.compose import CredentialPipeline
from sf_credproc.config.settings import resolve_keywords
from sf_credproc.credential import Credential
from sf_credproc.deadline import Deadline
from sf_credproc.emulator import SalesforceEmulator
from sf_credproc.formats import render

IDENTITY = CacheIdentity("https://login.salesforce.com/services/oauth2/token", "aud", "c", "u")
SESSION_TTL = 7200
MIN_TTL = 900


class FakeClock:
    """Wall time that a test moves forward; the real monotonic clock for deadlines."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeLogin:
    """The login callable: a new credential per call, counted."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls = 0

    def __call__(self, *, patient: bool = True) -> Credential:
        self.calls += 1
        issued_at = int(self.clock.time())
        return Credential(
            access_token=f"00Dxx0000000001!token.number.{self.calls}",
            token_type="Bearer",
            instance_url="https://acme.my.salesforce.com",
            id_url="https://login.salesforce.com/id/00Dxx0000000001AAA/005xx0000000001AAA",
            org_id="00Dxx0000000001AAA",
            username="u",
            scope="api",
            issued_at=issued_at,
            expiration=issued_at + SESSION_TTL,
        )


def request(clock: FakeClock, *, refresh: bool = False) -> CacheRequest:
    return CacheRequest(
        identity=IDENTITY,
        min_ttl_seconds=MIN_TTL,
        mandatory_ttl_seconds=MIN_TTL,
        session_ttl_seconds=SESSION_TTL,
        refresh=refresh,
        deadline=Deadline(10, clock),
    )


def test_the_file_cache_logs_in_once_per_session_and_on_refresh(tmp_path: Path) -> None:
    clock = FakeClock(1_900_000_000)
    log_in = FakeLogin(clock)
    cache = FileTokenCache(str(tmp_path / "cache"), clock)
    first = cache.obtain(request(clock), log_in)
    # One second before the refresh is due: the advisory window is --min-ttl stretched by this
    # host's jitter for the identity (disk.advisory_seconds).
    clock.now += SESSION_TTL - advisory_seconds(MIN_TTL, IDENTITY.file_stem, cache.host) - 1
    again = cache.obtain(request(clock), log_in)
    assert log_in.calls == 1
    assert again.credential == first.credential
    assert again.entry_path == first.entry_path and again.entry_header == first.entry_header
    clock.now += 1  # due: within --min-ttl
    due = cache.obtain(request(clock), log_in)
    forced = cache.obtain(request(clock, refresh=True), log_in)
    assert log_in.calls == 3
    assert forced.credential.access_token.endswith(".3")
    assert cache.read(IDENTITY) is not None
    assert due.entry_header != forced.entry_header  # a new generation names the new token


def test_a_failed_login_keeps_the_entry_and_raises(tmp_path: Path) -> None:
    clock = FakeClock(1_900_000_000)
    cache = FileTokenCache(str(tmp_path), clock)
    kept = cache.obtain(request(clock), FakeLogin(clock))

    def failing(*, patient: bool = True) -> Credential:
        raise RuntimeError("the login failed")

    with pytest.raises(RuntimeError):
        cache.obtain(request(clock, refresh=True), failing)
    entry = cache.read(IDENTITY)
    assert entry is not None and entry.credential == kept.credential


def test_no_cache_logs_in_every_time_and_keeps_nothing(tmp_path: Path) -> None:
    clock = FakeClock(1_900_000_000)
    log_in = FakeLogin(clock)
    outcomes = [NoTokenCache().obtain(request(clock), log_in) for _ in range(2)]
    assert log_in.calls == 2
    assert [o.entry_path for o in outcomes] == [None, None]
    assert outcomes[0].credential != outcomes[1].credential


def test_a_local_hit_never_opens_the_shared_tier(tmp_path: Path) -> None:
    """The tiered cache opens DynamoDB (and loads botocore) only under the lock, on a miss."""
    clock = FakeClock(1_900_000_000)
    local = FileTokenCache(str(tmp_path), clock)
    local.obtain(request(clock), FakeLogin(clock))
    opened = []

    def open_shared(share: object) -> object:
        opened.append(share)
        raise AssertionError("the shared tier was opened on a local hit")

    tiered = TieredTokenCache(local, open_shared)  # type: ignore[arg-type]
    log_in = FakeLogin(clock)
    outcome = tiered.obtain(request(clock), log_in)
    assert (opened, log_in.calls) == ([], 0)
    assert outcome.credential.access_token.endswith(".1")


def test_json_output_is_the_entry_line_byte_for_byte(tmp_path: Path) -> None:
    """The credential travels typed and is serialized at the edges: the entry and stdout agree."""
    clock = FakeClock(1_900_000_000)
    cache = FileTokenCache(str(tmp_path), clock)
    outcome = cache.obtain(request(clock), FakeLogin(clock))
    assert outcome.entry_path is not None
    lines = split_entry(Path(outcome.entry_path).read_bytes())
    assert lines is not None
    assert render(outcome.credential, "json").encode() == lines.credential_line + b"\n"
    reread = cache.read(IDENTITY)
    assert reread is not None and render(reread.credential, "json") == render(
        outcome.credential, "json"
    )


def test_the_index_serves_only_the_token_it_was_made_from(tmp_path: Path) -> None:
    """One owner of both formats: an index written for an entry is served until the entry is
    replaced; the replacement removes the index."""
    clock = FakeClock(1_900_000_000)
    cache = FileTokenCache(str(tmp_path), clock)
    saved = cache.obtain(request(clock), FakeLogin(clock))
    assert saved.entry_path is not None
    index = str(tmp_path / "0000abcd.idx")
    write_index(
        index,
        b"the invocation",
        entry_path=saved.entry_path,
        entry_header=saved.entry_header,
        advisory_seconds=MIN_TTL,
        session_ttl_seconds=SESSION_TTL,
        output=b"printed\n",
    )
    assert indexed_output(index, b"the invocation", clock.now) == b"printed\n"
    assert indexed_output(index, b"another invocation", clock.now) is None
    cache.obtain(request(clock, refresh=True), FakeLogin(clock))
    assert indexed_output(index, b"the invocation", clock.now) is None
    assert not Path(index).exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Version", True),  # True == 1 in Python, yet not a version
        ("Version", 2),
        ("AccessToken", ""),
        ("TokenType", ""),
        ("InstanceUrl", "ftp://acme.example"),
        ("Scope", None),
        ("Expiration", "2030-01-01T00:00:00Z"),  # not the time kept beside it
        ("Extra", "field"),
    ],
)
def test_a_credential_document_short_of_the_contract_is_refused(field: str, value: object) -> None:
    document = credential_document("00Dxx!token", "u", 1_900_000_000, 1_900_007_200)
    times = {"issued_at": 1_900_000_000, "expiration": 1_900_007_200}
    assert Credential.from_document(dict(document), **times).to_document() == document
    document[field] = value
    with pytest.raises(ValueError, match="output contract") as refused:
        Credential.from_document(document, **times)
    assert "00Dxx!token" not in str(refused.value)


def test_the_fast_path_modules_load_only_what_they_need() -> None:
    """The cache modules the fast path reads through (``get``'s and ``exec``'s) import no more of
    the standard library than the fast path itself allows (os, stat, time, zlib, the built-in
    SHA-256), measured with -X importtime, without the site packages (whose .pth files may load
    more at start than an installed copy does)."""
    package_root = str(Path(sf_credproc.__file__).parents[1])

    def imported(code: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-S", "-X", "importtime", "-c", code],
            env={"PYTHONPATH": package_root},
            capture_output=True,
            text=True,
            check=True,
        )
        return {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}

    # Not even __future__: its import costs a fifth of a millisecond on every cache hit.
    allowed = imported("import os, stat, time, zlib") | {"_sha2", "_sha256"}
    extra = imported("import sf_credproc.fast_path") - allowed
    ours = {name for name in extra if name.split(".")[0] == "sf_credproc"}
    assert extra == ours, sorted(extra - ours)
    assert ours == {
        "sf_credproc",
        "sf_credproc.cache",
        "sf_credproc.cache.disk",
        "sf_credproc.fast_path",
        "sf_credproc.paths",
    }
    # exec's fast path adds its recipe and nothing else (not even shutil: os.execvpe finds the program).
    extra = imported("import sf_credproc.fast_path, sf_credproc.exec_recipe") - allowed
    assert extra == {*ours, "sf_credproc.exec_recipe"}, sorted(extra - ours)


class SteppedClock(FakeClock):
    """A fake clock whose monotonic time a test moves too (deadlines)."""

    def __init__(self, now: float) -> None:
        super().__init__(now)
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed


def test_a_pipeline_built_once_gives_each_obtain_its_own_deadline(
    org: SalesforceEmulator, env: dict[str, str], key_file: Path
) -> None:
    """As SalesforceAuth uses it: built once, obtained from for longer than --timeout."""
    settings = resolve_keywords(
        environ=env,
        client_id=CLIENT_ID,
        username=USERNAME,
        login_url=org.url,
        key=f"file:{key_file}",
        timeout=5,
    )
    clock = SteppedClock(time.time())
    pipeline = CredentialPipeline(settings, clock=clock, environ=env)
    first = pipeline.obtain()
    clock.elapsed += 3600  # far past one deadline of 5 s
    assert pipeline.obtain().credential == first.credential  # a hit
    refreshed = pipeline.obtain(refresh=True)  # a login within a deadline of its own
    assert refreshed.credential.access_token != first.credential.access_token
    assert refreshed.credential.access_token in org.sessions
    assert pipeline.obtain().credential == refreshed.credential  # the settings' refresh is off
    assert org.token_request_count == 2


def test_the_file_formats_are_byte_for_byte_those_of_the_release(tmp_path: Path) -> None:
    """The entry (sf-credproc-cache/1) and the index (sf-credproc-index/4: its first number is the
    advisory window, jitter included), as released."""
    clock = FakeClock(1_900_000_000)
    saved = FileTokenCache(str(tmp_path), clock).obtain(request(clock), FakeLogin(clock))
    assert saved.entry_path == str(tmp_path / (IDENTITY.file_stem + ".cred"))
    data = Path(saved.entry_path).read_bytes()
    header, credential_line, identity_line, end = data.split(b"\n")
    assert re.fullmatch(rb"sf-credproc-cache/1 1900007200 1900000000 [0-9a-f]{16}", header)
    assert header == saved.entry_header and end == b""
    assert credential_line == (
        b'{"Version": 1, "AccessToken": "00Dxx0000000001!token.number.1", "TokenType": "Bearer", '
        b'"InstanceUrl": "https://acme.my.salesforce.com", "Id": '
        b'"https://login.salesforce.com/id/00Dxx0000000001AAA/005xx0000000001AAA", '
        b'"OrgId": "00Dxx0000000001AAA", "Username": "u", "Scope": "api", '
        b'"IssuedAt": "2030-03-17T17:46:40Z", "Expiration": "2030-03-17T19:46:40Z"}'
    )
    assert identity_line == (
        b'{"token_endpoint": "https://login.salesforce.com/services/oauth2/token", '
        b'"audience": "aud", "client_id": "c", "username": "u"}'
    )
    assert (
        IDENTITY.file_stem
        == hashlib.sha256(
            b'["https://login.salesforce.com/services/oauth2/token","aud","c","u"]'
        ).hexdigest()
    )
    index = tmp_path / "0000abcd.idx"
    write_index(
        str(index),
        b"key",
        entry_path=saved.entry_path,
        entry_header=saved.entry_header,
        advisory_seconds=MIN_TTL,
        session_ttl_seconds=SESSION_TTL,
        output=b"out\n",
    )
    digest = b"%08x-%d" % (zlib.crc32(data), len(data))
    assert index.read_bytes() == b"\t".join(
        [
            b"sf-credproc-index/4",
            b"900",
            b"7200",
            saved.entry_path.encode(),
            saved.entry_header,
            digest,
            b"3\nkeyout\n",
        ]
    )
    assert index.stat().st_mode & 0o777 == 0o600
