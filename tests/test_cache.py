"""The token cache end to end: lifecycle, single-flight, file safety, the commands around it."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from clocks import SkippingClock
from conftest import Aws
from faulty_emulator import CannedResponse, FaultyEmulator
from helpers import (
    EXE,
    USERNAME,
    credential_document,
    get_args,
    pem_private,
    run_cli,
    run_process,
    run_timed,
    throwaway_key,
    under_load,
)


def cache_dir(env: dict[str, str]) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "sf-credproc"


def entries(env: dict[str, str]) -> list[Path]:
    return sorted(cache_dir(env).glob("*.cred"))


def test_lifecycle_miss_hit_expiry_refresh(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """Miss, hits (fast path and full command), a refresh once within --min-ttl, the new token.

    Robust under load: a 30 s session leaves ample time for the hits, and the step "within
    --min-ttl" waits for the entry's own Expiration to come that close, not for a guessed time.
    """
    args = get_args(org, key, "--session-ttl", "30", "--min-ttl", "1")
    clock = SkippingClock()
    first = run_cli(args, env, clock=clock).credential()
    assert org.token_request_count == 1

    # Salesforce now fails every login: a hit must not even ask.
    org.canned_responses.extend([CannedResponse(503, b"<html>down</html>")] * 5)
    assert run_process(args, env).credential() == first  # the fast path (same invocation)
    env["SF_CREDPROC_MIN_TTL"] = "1"  # a different invocation, same identity: the full command
    assert (
        run_cli(get_args(org, key, "--session-ttl", "30"), env, clock=clock).credential() == first
    )
    assert org.token_request_count == 1
    assert len(org.canned_responses) == 5

    # Within the mandatory window (here as wide as the advisory one) the token is never served:
    # a refresh is attempted, and its failure fails the command.
    due = get_args(org, key, "--session-ttl", "30", "--min-ttl", "28", "--mandatory-ttl", "28")
    clock.advance(max(0.0, first_expiry(first) - 28 - clock.time()) + 0.05)
    run_cli(due, env, clock=clock).assert_failed(5, "HTML page")
    org.canned_responses.clear()
    second = run_cli(due, env, clock=clock).credential()
    assert second["AccessToken"] != first["AccessToken"]
    assert org.token_request_count == 1 + 4 + 1  # the failed refresh made 4 attempts
    # The first invocation's index names the replaced token: the full command serves the new one,
    # and records it for the fast path.
    assert run_cli(args, env, clock=clock).credential() == second
    assert run_process(args, env).credential() == second
    assert org.token_request_count == 6


def test_fast_path_applies_the_freshness_rule(tmp_path: Path) -> None:
    """The fast path's own check, on a clock passed in: served while more than the recorded
    --min-ttl remains and the entry does not outlive the recorded --session-ttl."""
    from sf_credproc.cache.files import FileTokenCache
    from sf_credproc.cache.identity import CacheIdentity
    from sf_credproc.credential import Credential
    from sf_credproc.fast_path import cached_output, record_invocation

    environ = {"HOME": str(tmp_path), "SF_CREDPROC_CACHE_DIR": str(tmp_path / "cache")}
    identity = CacheIdentity("https://login.salesforce.com/services/oauth2/token", "a", "c", "u")
    expiration = 2_000_000_000
    cache = FileTokenCache(environ["SF_CREDPROC_CACHE_DIR"])
    issued_at = expiration - 900
    credential = Credential.from_document(
        credential_document("00Dxx0000000001!fast.path.test.token", "u", issued_at, expiration),
        issued_at=issued_at,
        expiration=expiration,
    )
    entry = cache.write(identity, credential)
    argv = ["get", "--session-ttl", "900"]
    record_invocation(
        argv,
        environ,
        entry_path=entry.path,
        entry_header=entry.header,
        advisory_seconds=225,
        session_ttl_seconds=900,
        output=b"printed\n",
    )
    for seconds_left, served in [
        (900, True),
        (226, True),
        (225, False),  # within --min-ttl
        (0, False),
        (900 + 60, True),  # clock skew allowed for
        (900 + 61, False),  # outlives the session
    ]:
        output = cached_output(argv, environ, expiration - seconds_left)
        assert (output == b"printed\n") is served, seconds_left


def first_expiry(credential: dict[str, str]) -> float:
    import calendar

    return calendar.timegm(time.strptime(credential["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))


def test_min_ttl_is_never_undercut(org: FaultyEmulator, env: dict[str, str], key: str) -> None:
    """A token with less than --min-ttl left is replaced, even though it is not expired."""
    args = get_args(org, key, "--session-ttl", "1000", "--min-ttl", "999")
    clock = SkippingClock()
    first = run_cli(args, env, clock=clock).credential()
    clock.advance(1.1)
    assert run_cli(args, env, clock=clock).credential()["AccessToken"] != first["AccessToken"]
    assert org.token_request_count == 2


def test_files_are_private_whatever_the_umask(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    done = subprocess.run(
        [str(EXE), *get_args(org, key)], env=env, umask=0, capture_output=True, check=True
    )
    assert done.stdout
    directory = cache_dir(env)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.suffix for p in directory.iterdir())
    assert names == [".cred", ".idx", ".lock"]
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert path.stat().st_uid == os.getuid()
        assert "00D" not in path.name and USERNAME not in path.name  # names are hashes


def damage_entry(entry: Path, damage: str) -> None:
    data = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x00\xffnot an entry")
    elif damage == "unknown version":
        entry.write_bytes(data.replace(b"sf-credproc-cache/1", b"sf-credproc-cache/9"))
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "readable by group":
        entry.chmod(0o640)
    elif damage == "symlink":
        target = entry.with_name("elsewhere")
        entry.rename(target)
        entry.symlink_to(target)
    else:  # the header and the identity kept, the credential line not a whole credential
        header, credential, identity, end = data.split(b"\n")
        entry.write_bytes(
            b"\n".join([header, CREDENTIAL_DAMAGE[damage](credential), identity, end])
        )


def _edited(**changes: object) -> Callable[[bytes], bytes]:
    def edit(line: bytes) -> bytes:
        document = json.loads(line)
        for name, value in changes.items():
            if value is None:
                del document[name]
            else:
                document[name] = value
        return json.dumps(document).encode()

    return edit


#: Credential lines the output contract (credential-v1.schema.json) rejects: each is a miss for the
#: full reader and for the fast path alike, never printed.
CREDENTIAL_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "only a version": lambda line: b'{"Version": 1}',
    "no access token": _edited(AccessToken=None),
    "empty access token": _edited(AccessToken=""),
    "version true": _edited(Version=True),
    "a number for a string": _edited(InstanceUrl=42),
    "an extra field": _edited(Extra="x"),
    "another user": _edited(Username="someone.else@acme.example"),
    "expiration not the header's": _edited(Expiration="2099-01-01T00:00:00Z"),
    "not an object": lambda line: b"[1]",
}


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "garbage",
        "unknown version",
        "empty",
        "readable by group",
        "symlink",
        *CREDENTIAL_DAMAGE,
    ],
)
def test_untrustworthy_entry_is_a_miss_and_is_replaced(
    damage: str, org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    previous = run_cli(get_args(org, key), env).credential()
    # The same invocation (the fast path), then another one (the full command's own read).
    full_command = get_args(org, key, "--timeout", "20")
    for args, run in ((get_args(org, key), run_process), (full_command, run_cli)):
        (entry,) = entries(env)
        damage_entry(entry, damage)
        current = run(args, env).credential()
        assert current["AccessToken"] != previous["AccessToken"]
        previous = current
        assert not entry.is_symlink()
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600
        assert entry.read_bytes().startswith(b"sf-credproc-cache/1 ")
    assert org.token_request_count == 3


@pytest.mark.skipif(os.getuid() != 0, reason="changing a file's owner needs root")
def test_entry_owned_by_someone_else_is_a_miss(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    first = run_cli(get_args(org, key), env).credential()
    for path in cache_dir(env).glob("*.*"):
        if path.suffix in (".cred", ".idx"):
            os.chown(path, 65534, 65534)
    second = run_cli(get_args(org, key), env).credential()
    assert second["AccessToken"] != first["AccessToken"]
    (entry,) = entries(env)
    assert entry.stat().st_uid == os.getuid()


def test_refresh_forces_a_login_and_replaces_the_entry(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    first = run_cli(get_args(org, key), env).credential()
    refreshed = run_cli(get_args(org, key, "--refresh"), env).credential()
    assert refreshed["AccessToken"] != first["AccessToken"]
    # No file keeps the replaced token (the index of the first invocation went with it).
    for path in cache_dir(env).iterdir():
        assert first["AccessToken"].encode() not in path.read_bytes()
    assert run_cli(get_args(org, key), env).credential() == refreshed
    assert org.token_request_count == 2


def test_no_cache_neither_reads_nor_writes(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    for _ in range(2):
        run_cli(get_args(org, key, "--no-cache"), env).credential()
    assert not cache_dir(env).exists()
    run_cli(get_args(org, key), env).credential()
    (entry,) = entries(env)
    before = entry.read_bytes()
    run_cli(get_args(org, key, "--no-cache"), env).credential()
    assert entry.read_bytes() == before
    assert org.token_request_count == 4


def test_a_rotated_key_keeps_the_cached_session(
    org: FaultyEmulator, env: dict[str, str], key: str, tmp_path: Path
) -> None:
    first = run_cli(get_args(org, key), env).credential()
    rotated = tmp_path / "rotated.pem"
    rotated.write_bytes(pem_private(throwaway_key()))
    assert run_cli(get_args(org, f"file:{rotated}"), env).credential() == first
    assert org.token_request_count == 1


def test_editing_the_config_file_is_seen_at_once(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """The fast path is keyed by the config file's identity: an edit re-resolves everything."""
    other = "second-user@acme.example"
    org.add_user(other, approve=[next(iter(org.apps))])
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    profile = f'[profile.default]\nclient_id = "{next(iter(org.apps))}"\nlogin_url = "{org.url}"\nkey = "{key}"\n'
    config.write_text(profile + f'username = "{USERNAME}"\n')
    assert run_cli(["get"], env).credential()["Username"] == USERNAME
    assert run_process(["get"], env).credential()["Username"] == USERNAME
    config.write_text(profile + f'username = "{other}"\n')
    assert run_process(["get"], env).credential()["Username"] == other
    assert org.token_request_count == 2


def test_racing_cold_starts_cause_one_login(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    processes = [
        subprocess.Popen(
            [str(EXE), *get_args(org, key)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(32)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * 32, outputs
    tokens = {json.loads(stdout)["AccessToken"] for stdout, _ in outputs}
    assert len(tokens) == 1
    assert org.token_request_count == 1


def test_waiters_give_up_at_the_deadline(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    run_cli(get_args(org, key, "--no-cache"), env).credential()  # warm nothing: cache stays empty
    cache_dir(env).mkdir(parents=True, mode=0o700)
    run_cli(get_args(org, key, "--refresh"), env).credential()
    (entry,) = entries(env)
    lock = entry.with_suffix(".lock")
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another process is "logging in"
        run, elapsed = run_timed(get_args(org, key, "--refresh", "--timeout", "1"), env)
    run.assert_failed(5, "another sf-credproc process", "1 s deadline")
    assert elapsed < 1 + under_load(3)


def test_a_killed_lock_holder_does_not_wedge_the_others(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    run_cli(get_args(org, key), env).credential()
    (entry,) = entries(env)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)",
            str(entry.with_suffix(".lock")),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait(timeout=10)
    run = run_cli(get_args(org, key, "--refresh", "--timeout", "5"), env)
    assert run.credential()["AccessToken"] in org.sessions


def test_bad_input_leaves_the_cache_untouched(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    run_cli(get_args(org, key), env).credential()
    before = {p.name: p.read_bytes() for p in cache_dir(env).iterdir()}
    run_cli(get_args(org, key, "--session-ttl", "forever"), env).assert_failed(2, "--session-ttl")
    run_cli(get_args(org, "kms:nonsense"), env).assert_failed(2, "--key")
    assert {p.name: p.read_bytes() for p in cache_dir(env).iterdir()} == before


def test_logout_revokes_the_session_and_deletes_the_entry(
    org: FaultyEmulator, env: dict[str, str], key: str, ca_bundle: str
) -> None:
    token = run_cli(get_args(org, key), env).credential()["AccessToken"]
    userinfo = f"{org.url}/services/oauth2/userinfo"
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(userinfo, headers=bearer, verify=ca_bundle, timeout=10).status_code == 200
    logout_args = ["logout", *get_args(org, key)[1:]]
    run = run_cli([a for a in logout_args if a != key and a != "--key"], env)
    assert run.code == 0 and run.stdout == ""
    assert "revoked" in run.stderr and token not in run.stderr
    assert requests.get(userinfo, headers=bearer, verify=ca_bundle, timeout=10).status_code == 403
    assert entries(env) == []
    again = run_cli(logout_args, env)
    assert again.code == 0 and "nothing to revoke" in again.stderr
    # The next get logs in anew.
    assert run_cli(get_args(org, key), env).credential()["AccessToken"] != token


def test_cache_list_shows_entries_but_never_a_token(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    credential = run_cli(get_args(org, key), env).credential()
    listing = run_cli(["cache", "list"], env)
    assert listing.code == 0
    assert USERNAME in listing.stdout and org.url in listing.stdout
    assert credential["Expiration"] in listing.stdout and "fresh" in listing.stdout
    as_json = run_cli(["cache", "list", "--json"], env)
    (row,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert row["username"] == USERNAME and row["expiration"] == credential["Expiration"]
    stale = run_cli(
        ["cache", "list", "--json", "--session-ttl", "86400", "--min-ttl", "86399"], env
    )
    assert json.loads(stale.stdout)["state"] == "advisory"  # 2 hours left, a day wanted
    for output in (listing.stdout + listing.stderr, as_json.stdout + as_json.stderr):
        assert credential["AccessToken"] not in output
        assert credential["AccessToken"].split("!")[1][:20] not in output


def test_cache_clear_one_identity_or_all(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    other = "second-user@acme.example"
    org.add_user(other, approve=[next(iter(org.apps))])
    run_cli(get_args(org, key), env).credential()
    args = get_args(org, key)
    args[args.index(USERNAME)] = other
    run_cli(args, env).credential()
    assert len(entries(env)) == 2
    cleared = run_cli(["cache", "clear", *args[1:]], env)
    assert cleared.code == 0 and "removed the cached token" in cleared.stderr
    assert len(entries(env)) == 1
    assert run_cli(["cache", "clear", "--all"], env).code == 0
    assert entries(env) == [] and list(cache_dir(env).glob("*.idx")) == []
    run_cli(["cache", "clear"], env).assert_failed(2, "--client-id is required")


def test_cache_dir_setting(
    org: FaultyEmulator, env: dict[str, str], key: str, tmp_path: Path
) -> None:
    custom = tmp_path / "custom-cache"
    run_cli(get_args(org, key, "--cache-dir", str(custom)), env).credential()
    assert len(list(custom.glob("*.cred"))) == 1
    assert stat.S_IMODE(custom.stat().st_mode) == 0o700
    assert not cache_dir(env).exists()  # nothing is written outside the chosen directory
    env["SF_CREDPROC_CACHE_DIR"] = str(custom)  # from the environment, the fast path applies
    run_process(get_args(org, key), env).credential()
    assert len(list(custom.glob("*.idx"))) == 1
    assert org.token_request_count == 1
    listing = run_cli(["cache", "list", "--cache-dir", str(custom)], env)
    assert USERNAME in listing.stdout


def test_cache_dir_writable_by_others_is_refused(
    org: FaultyEmulator, env: dict[str, str], key: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    run = run_cli(get_args(org, key, "--cache-dir", str(shared)), env)
    run.assert_failed(2, "writable by others", "chmod 700")
    assert org.token_request_count == 0


def test_cache_hits_import_no_heavy_library(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """Both hit paths, measured with -X importtime in a real process."""
    run_cli(get_args(org, key), env).credential()
    heavy = ("boto3", "botocore", "requests", "urllib3", "cryptography", "jwt")
    for args, fast in ((get_args(org, key), True), (get_args(org, key, "--timeout", "29"), False)):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", str(EXE), *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(done.stdout)["Username"] == USERNAME
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        assert "sf_credproc.fast_path" in imported
        for name in heavy:
            assert not any(m == name or m.startswith(name + ".") for m in imported), name
        # The fast path does not even load the full command (argparse, settings, the cache module).
        assert ("sf_credproc.cli.main" not in imported) is fast
    assert org.token_request_count == 1


def test_a_hit_touches_neither_aws_nor_salesforce(
    aws: Aws, org: FaultyEmulator, env: dict[str, str]
) -> None:
    """With a KMS key: after the first login, AWS and Salesforce may both be down."""
    from cryptography.hazmat.primitives import serialization

    kms = aws.client("kms")
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    org.register_app(
        next(iter(org.apps)),
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    first = run_cli(get_args(org, f"kms:{key_id}"), env).credential()
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens: any AWS call would fail
    org.canned_responses.extend([CannedResponse(503, b"down")] * 3)
    assert run_process(get_args(org, f"kms:{key_id}"), env).credential() == first  # fast path
    assert run_cli(get_args(org, f"kms:{key_id}", "--timeout", "9"), env).credential() == first
    assert org.token_request_count == 1


def test_a_fifteen_minute_session_is_cached_with_the_default_min_ttl(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """--session-ttl 900 (Salesforce's shortest timeout) with --min-ttl unset: served from the
    cache (min(900, 900 / 4) = 225 s), by the fast path, the full command and cache list."""
    args = get_args(org, key, "--session-ttl", "900")
    first = run_cli(args, env).credential()
    assert run_process(args, env).credential() == first  # the fast path
    assert run_cli([*args, "--timeout", "29"], env).credential() == first  # the full command
    assert org.token_request_count == 1
    listing = run_cli(["cache", "list", "--json", "--session-ttl", "900"], env)
    assert json.loads(listing.stdout)["state"] == "fresh"


def test_lowering_session_ttl_takes_effect_at_once(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """A token obtained under --session-ttl 7200 outlives a session of 900 started now: not
    served once 900 is in force; the token obtained under 900 is."""
    long_lived = run_cli(get_args(org, key), env).credential()
    short = get_args(org, key, "--session-ttl", "900")
    stale = run_cli(["cache", "list", "--json", "--session-ttl", "900"], env)
    assert json.loads(stale.stdout)["state"] == "mandatory"  # outlives a session of 900
    run = run_cli([*short, "-v"], env)
    assert "later than --session-ttl 900 allows" in run.stderr
    second = run.credential()
    assert second["AccessToken"] != long_lived["AccessToken"]
    assert first_expiry(second) - first_expiry(long_lived) < 0
    assert run_cli(short, env).credential() == second
    assert run_process(short, env).credential() == second  # and by the fast path
    assert org.token_request_count == 2


def test_verbose_says_the_answer_came_from_the_cache(
    org: FaultyEmulator, env: dict[str, str], key_file: Path
) -> None:
    """A hit never reads the key: -v says so, with the expiration, and what checks the key."""
    args = get_args(org, f"file:{key_file}")
    credential = run_cli(args, env).credential()
    key_file.unlink()  # a broken key setup, hidden by the cached token
    run = run_cli([*args, "-v"], env)
    assert run.credential() == credential
    assert f"the answer comes from the cache, expiring {credential['Expiration']}" in run.stderr
    assert "the key was not used (doctor or --refresh checks it)" in run.stderr
    run_cli([*args, "--refresh"], env).assert_failed(3, "no such file")


def test_fast_path_fails_like_the_full_command_on_a_missing_ca_bundle(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """REQUESTS_CA_BUNDLE naming nothing is exit 2 for the full command: the same on a hit."""
    args = get_args(org, key)
    run_cli(args, env).credential()
    assert len(list(cache_dir(env).glob("*.idx"))) == 1
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        broken = {**env, name: "/nonexistent/ca.pem"}
        if name == "SSL_CERT_FILE":
            del broken["REQUESTS_CA_BUNDLE"]
        run_process(args, broken).assert_failed(2, f"{name} names /nonexistent/ca.pem")
    assert org.token_request_count == 1


def test_fast_path_sees_a_config_edit_that_keeps_size_and_mtime(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    """An edit with the modification time put back (touch -r, cp -p) still changes the ctime."""
    config = Path(env["XDG_CONFIG_HOME"]) / "sf-credproc" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[profile.default]\ntimeout = 300\n")
    args = get_args(org, key)
    run_cli(args, env).credential()
    before = config.stat()
    config.write_text('[profile.default]\ntimeout = "3"\n')  # same size, now a quoted number
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = config.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    run_process(args, env).assert_failed(2, "--timeout '3'", "is a string")
