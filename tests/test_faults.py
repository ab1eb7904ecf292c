"""Fault injection: transient faults are retried within the deadline, persistent ones end in exit 5
with nothing on stdout and the cache untouched, and nothing blocks past --timeout (+1 s)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from aws_fault_proxy import AwsFaultProxy
from conftest import Aws
from cryptography.hazmat.primitives import serialization
from faulty_emulator import PASS, CannedResponse, FaultyEmulator
from helpers import (
    CLIENT_ID,
    EXE,
    USERNAME,
    Run,
    get_args,
    run_cli,
    run_timed,
    under_load,
    with_default_sigint,
)
from tcp_fault_proxy import TcpFaultProxy
from trickling_server import trickling_server

HTML = b"<html><body><h1>Down for maintenance</h1></body></html>"
JSON = "application/json;charset=UTF-8"

#: Faults at the token endpoint: (id, the canned answer). Each is transient.
SALESFORCE_FAULTS = [
    ("503 maintenance page", CannedResponse(503, HTML)),
    ("502 from a proxy", CannedResponse(502, HTML)),
    ("500 server_error", CannedResponse(500, b'{"error":"server_error"}', JSON)),
    ("429 too many requests", CannedResponse(429, b'{"error":"temporarily_unavailable"}', JSON)),
    ("200 captive portal page", CannedResponse(200, HTML)),
    (
        "truncated body",
        CannedResponse(
            200, b'{"access_token":"00D!x","instance_url":"https://x"}', JSON, kind="truncate"
        ),
    ),
    ("connection reset", CannedResponse(0, b"", kind="reset")),
    ("slow answer past the attempt budget", CannedResponse(503, HTML, delay_seconds=6)),
]


def get_via(url: str, key: str, timeout: str, *extra: str) -> list[str]:
    """``get`` for the test user at ``url`` (a fault proxy or server in front of the emulator)."""
    return [
        "get", "--client-id", CLIENT_ID, "--username", USERNAME, "--key", key,
        "--timeout", timeout, "--login-url", url, *extra,
    ]  # fmt: skip


def events(run: Run) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]


def retries(run: Run) -> int:
    return sum(1 for event in events(run) if event["event"] == "retry")


def cache_snapshot(env: dict[str, str]) -> dict[str, bytes]:
    directory = Path(env["XDG_CACHE_HOME"]) / "sf-credproc"
    return (
        {p.name: p.read_bytes() for p in sorted(directory.iterdir())} if directory.exists() else {}
    )


@pytest.mark.parametrize(
    "fault", [f[1] for f in SALESFORCE_FAULTS], ids=[f[0] for f in SALESFORCE_FAULTS]
)
def test_salesforce_fault_once_then_success(
    fault: CannedResponse, org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.canned_responses.append(fault)
    run = run_cli(get_args(org, key, "-v", "--log-format", "json", "--timeout", "20"), env)
    assert run.credential()["AccessToken"] in org.sessions
    assert retries(run) == 1
    attempts = [e for e in events(run) if e["event"] == "assertion"]
    assert [e["attempt"] for e in attempts] == [1, 2]
    assert attempts[0]["jti"] != attempts[1]["jti"]  # a fresh assertion for every attempt


@pytest.mark.parametrize(
    "fault", [f[1] for f in SALESFORCE_FAULTS], ids=[f[0] for f in SALESFORCE_FAULTS]
)
def test_salesforce_fault_persisting(
    fault: CannedResponse, org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    run_cli(get_args(org, key), env).credential()
    before = cache_snapshot(env)
    org.canned_responses.extend([fault] * 8)
    run, elapsed = run_timed(get_args(org, key, "--refresh", "--timeout", "8"), env)
    run.assert_failed(5)
    assert elapsed < 8 + 1 + under_load(2)  # the deadline, its grace, and the unwinding
    assert cache_snapshot(env) == before


def test_refused_until_the_server_comes_up(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    port = int(org.url.rsplit(":", 1)[1])
    proxy = TcpFaultProxy(port)  # its port is bound but not listening: connections are refused
    url = f"https://127.0.0.1:{proxy.port}"
    verbose = ("--audience", org.url, "-v", "--log-format", "json")
    command = [str(EXE), *get_via(url, key, "20", *verbose)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:  # wait for the first refused attempt, then come up
            lines.append(line)
            if '"event": "retry"' in line:
                proxy.start()
                break
        stdout, rest = process.communicate(timeout=60)
    finally:
        proxy.stop()
    run = Run(process.returncode, stdout, "".join(lines) + rest)
    assert run.credential()["AccessToken"] in org.sessions
    refused = [e for e in events(run) if e["event"] == "retry"]
    assert refused and "ConnectionError" in refused[0]["message"]


@pytest.mark.parametrize(
    "action", ["reset", "hang"], ids=["reset before TLS", "TLS handshake stalls"]
)
def test_tcp_fault_once_then_success(
    action: str, org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    port = int(org.url.rsplit(":", 1)[1])
    proxy = TcpFaultProxy(port, [action]).start()
    try:
        url = f"https://127.0.0.1:{proxy.port}"
        verbose = ("--audience", org.url, "-v", "--log-format", "json")
        run = run_cli(get_via(url, key, "10", *verbose), env)
    finally:
        proxy.stop()
    assert run.credential()["AccessToken"] in org.sessions
    assert retries(run) == 1
    assert proxy.connections == 2


def test_a_trickling_server_is_cut_at_the_deadline(env: dict[str, str], key: str) -> None:
    """Headers at one byte every 0.3 s never trip a read timeout; the command's deadline ends it."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"x" * 100
    with trickling_server(head, seconds_per_byte=0.3) as url:
        run, elapsed = run_timed(get_via(url, key, "3"), env)
    run.assert_failed(5, "the 3 s deadline passed")
    assert elapsed < 3 + 1 + under_load(2)  # the deadline, its grace, and the unwinding


def kms_key(aws: Aws, org: FaultyEmulator) -> str:
    kms = aws.client("kms")
    key_id: str = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    org.register_app(
        CLIENT_ID,
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    return key_id


AWS_FAULTS = [
    (
        "KMS throttling",
        "TrentService.Sign",
        lambda p, t, n: p.fail(t, "ThrottlingException", times=n),
    ),
    (
        "KMS internal error",
        "TrentService.Sign",
        lambda p, t, n: p.fail(t, "KMSInternalException", status=500, times=n),
    ),
    ("KMS 503 page", "TrentService.Sign", lambda p, t, n: p.page(t, 503, times=n)),
    ("KMS connection reset", "TrentService.Sign", lambda p, t, n: p.reset(t, times=n)),
    (
        "Secrets Manager throttling",
        "secretsmanager.GetSecretValue",
        lambda p, t, n: p.fail(t, "ThrottlingException", times=n),
    ),
    (
        "Secrets Manager 500",
        "secretsmanager.GetSecretValue",
        lambda p, t, n: p.fail(t, "InternalServiceError", status=500, times=n),
    ),
]


def aws_key(target: str, aws: Aws, org: FaultyEmulator, app_key_pem: bytes) -> str:
    if target.startswith("TrentService"):
        return f"kms:{kms_key(aws, org)}"
    aws.client("secretsmanager").create_secret(Name="sf/jwt", SecretString=app_key_pem.decode())
    return "secretsmanager:sf/jwt"


@pytest.mark.parametrize(
    ("target", "inject"), [f[1:] for f in AWS_FAULTS], ids=[f[0] for f in AWS_FAULTS]
)
def test_aws_fault_once_then_success(
    target: str,
    inject: Any,
    aws_through_fault_proxy: AwsFaultProxy,
    aws: Aws,
    org: FaultyEmulator,
    env: dict[str, str],
    key_file: Path,
) -> None:
    key = aws_key(target, aws, org, key_file.read_bytes())
    inject(aws_through_fault_proxy, target, 1)
    run = run_cli(get_args(org, key, "-v", "--log-format", "json"), env)
    assert run.credential()["AccessToken"] in org.sessions
    assert retries(run) == 1
    assert aws_through_fault_proxy.seen.count(target) == 2


@pytest.mark.parametrize(
    ("target", "inject"), [f[1:] for f in AWS_FAULTS], ids=[f[0] for f in AWS_FAULTS]
)
def test_aws_fault_persisting(
    target: str,
    inject: Any,
    aws_through_fault_proxy: AwsFaultProxy,
    aws: Aws,
    org: FaultyEmulator,
    env: dict[str, str],
    key_file: Path,
) -> None:
    key = aws_key(target, aws, org, key_file.read_bytes())
    inject(aws_through_fault_proxy, target, None)
    run, elapsed = run_timed(get_args(org, key, "--timeout", "8"), env)
    run.assert_failed(5)
    assert elapsed < 8 + 1 + under_load(2)
    assert 2 <= aws_through_fault_proxy.seen.count(target) <= 4
    assert org.token_requests == []
    # No entry and no temporary file: only the (released) lock file of the attempt may remain.
    assert [name for name in cache_snapshot(env) if not name.endswith(".lock")] == []


def test_permanent_errors_are_never_retried(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.users[USERNAME].approved_apps.clear()
    run = run_cli(get_args(org, key, "-v", "--log-format", "json"), env)
    assert run.code == 4
    assert retries(run) == 0 and len(org.token_requests) == 1


def test_login_rate_exceeded_is_not_retried(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.login_limit_per_hour = 0
    run = run_cli(get_args(org, key, "-v", "--log-format", "json"), env)
    assert run.code == 5
    assert retries(run) == 0 and len(org.token_requests) == 1
    (failure,) = [e for e in events(run) if e["level"] == "error"]
    assert "retry after the cool-down" in failure["message"] and failure["exit_code"] == 5


def test_expired_assertion_names_the_clock_skew(
    org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    org.clock = lambda: time.time() + 3600
    try:
        run = run_cli(get_args(org, key), env)
    finally:
        org.clock = time.time
    run.assert_failed(4, "expired authorization code", "s behind Salesforce's", "NTP")
    skew = int(run.stderr.split("clock is ")[1].split(" s ")[0])
    assert 3595 <= skew <= 3601  # the Date header has whole seconds


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_leave_nothing_behind(
    signum: int, code: int, org: FaultyEmulator, env: dict[str, str], key: str
) -> None:
    run_cli(get_args(org, key), env).credential()
    before = cache_snapshot(env)
    org.canned_responses.append(CannedResponse(0, b"", delay_seconds=5))  # the login hangs
    process = subprocess.Popen(
        with_default_sigint([str(EXE), *get_args(org, key, "--refresh")]),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    while org.token_request_count < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # wait until the process holds the lock and is mid-request
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == code, stderr
    assert stdout == ""
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr
    assert cache_snapshot(env) == before  # no partial entry, no temporary file left
    # The lock was released: the next refresh does not wait.
    org.canned_responses.clear()
    org.canned_responses.append(PASS)
    run, elapsed = run_timed(get_args(org, key, "--refresh", "--timeout", "5"), env)
    assert run.credential()
    assert elapsed < under_load(5)
