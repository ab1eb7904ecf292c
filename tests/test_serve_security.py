"""``sf-credproc serve``: who can reach the endpoint, and what they get without the token.

Loopback TCP is reachable by every local user and, through DNS rebinding, by any web page a local
browser shows: hence the ``Authorization`` token (compared in constant time; the raw token, as in
the AWS container-credentials contract) and the ``Host`` check (RFC 9110 section 7.2), made before
authentication. A non-loopback address is served only over TLS; a Unix socket is guarded by its
permissions from the instant it exists, and never replaces a file that is not its own.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from faulty_emulator import FaultyEmulator
from helpers import SECRETS
from serve_fixtures import (
    ServeProcess,
    assert_error,
    assert_one_error_line,
    get_json,
    refuses_connections,
    request,
    serve_args,
    tls_context_trusting,
    write_private,
)

from sf_credproc.config.serve_options import SERVER_TOKEN_FILE_ENV

#: Answers a refused Host may get: 421 Misdirected Request (RFC 9110 section 15.5.20) or 400.
MISDIRECTED = ("misdirected", "bad_request")
SERVE_PACKAGE = Path(__file__).resolve().parent.parent / "sf_credproc" / "serve"


@pytest.fixture
def server(org: FaultyEmulator, key: str, env: dict[str, str]) -> Iterator[ServeProcess]:
    with ServeProcess(serve_args(org, key), env) as served:
        yield served


# --- the token -----------------------------------------------------------------------------------


def wrong_tokens(token: str) -> dict[str, str | None]:
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    return {
        "missing": None,
        "empty": "",
        "another token": "x" * len(token),
        "the Bearer form": f"Bearer {token}",
        "a prefix": token[:-1],
        "the first half": token[: len(token) // 2],
        "one byte changed": flipped,
        "the token and more": token + "x",
        "its lower case": token.lower() if token.lower() != token else token.upper(),
    }


def test_every_request_but_healthz_needs_the_exact_token(
    server: ServeProcess, org: FaultyEmulator
) -> None:
    assert get_json(server.url, server.token).status == 200  # the login is done
    bodies = set()
    for what, wrong in wrong_tokens(server.token).items():
        for query in (None, {"format": "token"}):
            answer = request(server.url, wrong, query=query)
            assert answer.status == 401, (what, answer)
            assert_error(answer, 401, "unauthorized")
            bodies.add(answer.body)
    # The same answer whatever was wrong: no oracle on how close a guess came.
    assert len(bodies) == 1, bodies
    # Nothing about the credential, and no login either.
    assert org.token_request_count == 1
    # The header's name is case-insensitive (RFC 9110 section 5.1).
    answer = request(server.url, None, headers={"authorization": server.token})
    assert answer.status == 200, answer


def test_the_token_is_compared_in_constant_time() -> None:
    """A timing test would be flaky on a shared machine: the comparison is
    ``hmac.compare_digest`` (on bytes), which the contract names."""
    sources = "".join(path.read_text() for path in sorted(SERVE_PACKAGE.glob("*.py")))
    assert "compare_digest" in sources


@pytest.mark.parametrize("given_by", ["flag", "variable"])
def test_a_token_file_is_read_and_stripped(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path, given_by: str
) -> None:
    token = "file-token-" + os.urandom(16).hex()
    SECRETS.add(token)
    path = write_private(tmp_path / "server-token", f"{token}\n".encode())
    args = serve_args(org, key)
    if given_by == "flag":
        args += ["--server-token-file", str(path)]
    else:
        env[SERVER_TOKEN_FILE_ENV] = str(path)
    with ServeProcess(args, env, token_in_env=False) as served:
        served.token = token
        assert get_json(served.url, token).status == 200


def test_a_token_file_others_can_read_is_refused(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    token = "readable-token-" + os.urandom(16).hex()
    SECRETS.add(token)
    path = write_private(tmp_path / "server-token", token.encode())
    path.chmod(0o644)
    args = serve_args(org, key, "--server-token-file", str(path))
    with ServeProcess(args, env, token_in_env=False, wait_for_url=False) as served:
        code = served.wait()
        assert code == 2, served.stderr_text()
        assert served.rest_of_stdout() == ""
        assert_one_error_line(code, served.stderr_text(), str(path))


def test_a_generated_token_is_written_privately_and_its_path_said(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    path = runtime / "sf-credproc" / "server-token"
    with ServeProcess(serve_args(org, key), env, token_in_env=False) as served:
        token = path.read_text().strip()
        SECRETS.add(token)  # the leak check of the block covers it from here on
        served.token = token
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        served.wait_for_stderr(
            lambda lines: any(str(path) in line for line in lines), "the token file's path said"
        )
        assert token not in served.stderr_text()
        assert get_json(served.url, token).status == 200


# --- Host ----------------------------------------------------------------------------------------


def test_a_host_that_is_not_the_listen_address_is_refused_before_authentication(
    server: ServeProcess,
) -> None:
    port = server.port
    other = port + 1 if port < 65535 else port - 1
    refused = {
        "an attacker's name": "evil.example",
        "an attacker's name and the port": f"evil.example:{port}",
        "a rebinding name": f"127.0.0.1.nip.example:{port}",
        "localhost, another port": f"localhost:{other}",
        "127.0.0.1, another port": f"127.0.0.1:{other}",
        "localhost without the port": "localhost",
        "another loopback address": f"127.0.0.2:{port}",
        "empty": "",
    }
    for what, host in refused.items():
        for token in (server.token, "wrong", None):
            for path in ("/credential", "/healthz"):
                answer = request(server.url, token, host=host, path=path)
                assert answer.status in (421, 400), (what, token is None, path, answer)
                assert_error(answer, answer.status, MISDIRECTED)
    for token in (server.token, None):
        answer = request(server.url, token, send_host=False)
        assert answer.status in (421, 400), ("no Host", answer)
        assert_error(answer, answer.status, MISDIRECTED)
    # Two Host fields (RFC 9112 section 3.2: 400), one of them right.
    two = request(server.url, server.token, headers={"Host": "evil.example"})
    assert two.status in (421, 400), two


def test_the_listen_address_by_ip_or_localhost_is_accepted(server: ServeProcess) -> None:
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        answer = get_json(server.url, server.token, host=host)
        assert answer.status == 200, (host, answer)
        assert get_json(server.url, None, host=host, path="/healthz").status == 200


def test_an_ipv6_loopback_server_accepts_its_own_names(
    org: FaultyEmulator, key: str, env: dict[str, str]
) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("this machine has no IPv6 loopback address")
    with ServeProcess(serve_args(org, key, "--listen", "[::1]:0"), env) as served:
        assert served.url == f"http://[::1]:{served.port}/credential", served.url
        for host in (f"[::1]:{served.port}", f"localhost:{served.port}"):
            assert get_json(served.url, served.token, host=host).status == 200, host
        for host in (f"[::1]:{served.port + 1}", f"evil.example:{served.port}", "[::1]"):
            refused = request(served.url, served.token, host=host)
            assert refused.status in (421, 400), (host, refused)
            assert_error(refused, refused.status, MISDIRECTED)


# --- addresses: loopback, or TLS -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("address", ["0.0.0.0", "[::]"])  # noqa: S104 (refused: the point)
def test_a_non_loopback_address_without_tls_is_refused(
    org: FaultyEmulator, key: str, env: dict[str, str], address: str
) -> None:
    port = free_port()
    args = serve_args(org, key, "--listen", f"{address}:{port}")
    with ServeProcess(args, env, wait_for_url=False) as served:
        code = served.wait()
        assert code == 2, served.stderr_text()
        assert served.rest_of_stdout() == ""
        assert_one_error_line(code, served.stderr_text(), "--tls-cert")
    assert refuses_connections(f"http://127.0.0.1:{port}/credential")
    assert org.token_request_count == 0


def test_half_of_the_tls_settings_is_refused(
    org: FaultyEmulator, key: str, env: dict[str, str], ca: trustme.CA, tmp_path: Path
) -> None:
    cert = ca.issue_cert("endpoint.acme.example")
    cert_path = tmp_path / "endpoint.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    args = serve_args(org, key, "--listen", "0.0.0.0:0", "--tls-cert", str(cert_path))
    with ServeProcess(args, env, wait_for_url=False) as served:
        code = served.wait()
        assert code == 2, served.stderr_text()
        assert_one_error_line(code, served.stderr_text(), "--tls-key")


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1"])  # noqa: S104 (with TLS)
def test_tls_serves_https_and_accepts_the_certificate_names(
    org: FaultyEmulator,
    key: str,
    env: dict[str, str],
    ca: trustme.CA,
    tmp_path: Path,
    address: str,
) -> None:
    name = "endpoint.acme.example"
    cert = ca.issue_cert(name)
    cert_path = tmp_path / "endpoint.pem"
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    key_path = write_private(tmp_path / "endpoint-key.pem", cert.private_key_pem.bytes())
    args = serve_args(
        org, key, "--listen", f"{address}:0", "--tls-cert", str(cert_path), "--tls-key",
        str(key_path),
    )  # fmt: skip
    context = tls_context_trusting(ca)
    with ServeProcess(args, env) as served:
        assert served.url.startswith("https://"), served.url
        # Over loopback whatever the bound address; the handshake names the certificate's name.
        url = f"https://127.0.0.1:{served.port}/credential"
        tls: dict[str, Any] = {"context": context, "server_name": name}
        answer = get_json(url, served.token, host=f"{name}:{served.port}", **tls)
        assert answer.status == 200, answer
        refused = request(url, served.token, host=f"evil.example:{served.port}", **tls)
        assert_error(refused, refused.status, MISDIRECTED)
        assert refused.status in (421, 400)
        assert_error(
            request(url, "wrong", host=f"{name}:{served.port}", **tls), 401, "unauthorized"
        )


# --- a Unix socket -------------------------------------------------------------------------------


class PathWatcher:
    """Looks at a path as often as it can while a server starts: every mode it ever had."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.modes: set[int] = set()
        self.parent_modes: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PathWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self.modes.add(os.lstat(self.path).st_mode)
                self.parent_modes.add(os.lstat(self.path.parent).st_mode)
            except FileNotFoundError:
                continue


def test_the_socket_is_never_accessible_to_others(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "run"
    directory.mkdir()
    directory.chmod(0o755)  # a directory others may enter: only the socket's own mode guards it
    path = directory / "serve.sock"
    args = serve_args(org, key, "--socket", str(path))
    with PathWatcher(path) as watcher, ServeProcess(args, env) as served:
        assert served.url == f"unix:{path}", served.url
        final_mode = os.lstat(path).st_mode
        answer = get_json(served.url, served.token)
        assert answer.status == 200, answer
        # Over a socket Host is not checked (no browser reaches one); the token still is.
        assert get_json(served.url, served.token, host="evil.example").status == 200
        assert_error(request(served.url, None), 401, "unauthorized")
        served.terminate()
        assert served.wait() == 0, served.stderr_text()
    assert watcher.modes, "the socket was never seen"
    for mode in {*watcher.modes, final_mode}:
        assert stat.S_ISSOCK(mode), oct(mode)
        assert mode & 0o077 == 0, f"the socket was {stat.filemode(mode)} at some instant"
    assert not path.exists() and not path.is_symlink(), "the socket outlived the server"


def _existing(kind: str, path: Path, elsewhere: Path) -> socket.socket | None:
    """Put a ``kind`` of thing at ``path``; a live socket is returned (the caller closes it)."""
    if kind == "a regular file":
        path.write_text("precious\n")
    elif kind == "a symlink":
        elsewhere.write_text("precious\n")
        path.symlink_to(elsewhere)
    elif kind == "a dangling symlink":
        path.symlink_to(elsewhere)
    elif kind == "a directory":
        path.mkdir()
        (path / "inside").write_text("precious\n")
    else:
        live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        live.bind(str(path))
        live.listen(8)
        return live
    return None


@pytest.mark.parametrize(
    "kind",
    ["a regular file", "a symlink", "a dangling symlink", "a directory", "a live socket"],
)
def test_an_existing_path_that_is_not_a_stale_socket_is_never_unlinked(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "serve.sock"
    elsewhere = tmp_path / "target"
    live = _existing(kind, path, elsewhere)
    before = os.lstat(path)
    try:
        args = serve_args(org, key, "--socket", str(path))
        with ServeProcess(args, env, wait_for_url=False) as served:
            code = served.wait()
            assert code == 2, served.stderr_text()
            assert served.rest_of_stdout() == ""
            assert_one_error_line(code, served.stderr_text(), str(path))
        after = os.lstat(path)
        assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode), kind
        if kind in ("a regular file",):
            assert path.read_text() == "precious\n"
        if kind == "a symlink":
            assert os.readlink(path) == str(elsewhere)
            assert elsewhere.read_text() == "precious\n"
        if kind == "a directory":
            assert (path / "inside").read_text() == "precious\n"
        if live is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.connect(str(path))  # still the other server's
    finally:
        if live is not None:
            live.close()
    assert org.token_request_count == 0


def test_a_stale_socket_nobody_answers_on_is_replaced(
    org: FaultyEmulator, key: str, env: dict[str, str], tmp_path: Path
) -> None:
    """A socket left behind by a server that died (nobody accepts on it) is the one kind of
    existing path the server may take over."""
    path = tmp_path / "serve.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    with ServeProcess(serve_args(org, key, "--socket", str(path)), env) as served:
        assert get_json(served.url, served.token).status == 200
        assert stat.S_IMODE(os.lstat(path).st_mode) & 0o077 == 0
