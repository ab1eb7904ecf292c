"""The endpoint's parts that meet the operating system: ``--listen`` and ``--socket`` rules (a
socket private from the first instant, an existing path never removed), the server token's
resolution (the variable, a file, one generated 0600 into a 0700 directory)."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import SECRETS

from sf_credproc.errors import (
    ConfigError,
)
from sf_credproc.serve import listen as listening
from sf_credproc.serve.server_token import resolve_server_token

# --listen and --socket


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("[::1]:8080", "::1", 8080),
        ("localhost:65535", "localhost", 65535),
    ],
)
def test_listen_addresses_parse(text: str, host: str, port: int) -> None:
    assert listening.parse_listen(text) == listening.TcpAddress(host, port)


@pytest.mark.parametrize(
    "text", ["127.0.0.1", ":80", "::1:80", "[::1]", "[127.0.0.1]:1", "h:65536", "h:-1", "h:x"]
)
def test_bad_listen_addresses_are_usage_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        listening.parse_listen(text)


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "10.1.2.3", "192.168.1.1", "example.com", "localhost.evil"],  # noqa: S104
)
def test_a_non_loopback_address_needs_tls(host: str) -> None:
    with pytest.raises(ConfigError, match="--tls-cert"):
        listening.check_exposure(listening.TcpAddress(host, 1), tls=False)
    listening.check_exposure(listening.TcpAddress(host, 1), tls=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "localhost", "LOCALHOST"])
def test_loopback_addresses_need_no_tls(host: str) -> None:
    listening.check_exposure(listening.TcpAddress(host, 1), tls=False)


def test_one_tls_half_is_refused() -> None:
    with pytest.raises(ConfigError, match="together"):
        listening.check_tls_flags("cert.pem", None)


def test_allowed_hosts_name_this_server_only() -> None:
    hosts = listening.allowed_hosts("127.0.0.1", 8080, ("api.example",), tls=True)
    assert hosts == {"127.0.0.1:8080", "localhost:8080", "api.example:8080"}
    assert "[::1]:443" in listening.allowed_hosts("::1", 443, (), tls=True)
    assert "[::1]" in listening.allowed_hosts("::1", 443, (), tls=True)


@pytest.fixture
def short_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory with a short path: a Unix socket's path is limited to about 100 bytes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sfu") as name:
        yield Path(name)


def test_a_socket_is_private_whatever_the_umask(short_dir: Path) -> None:
    previous = os.umask(0)
    try:
        bound = listening.bind_unix(str(short_dir / "s"))
    finally:
        os.umask(previous)
    try:
        assert stat.S_IMODE(os.lstat(bound.path).st_mode) & 0o077 == 0
    finally:
        bound.sock.close()
        listening.remove_unix(bound)
    assert not os.path.lexists(bound.path)


@pytest.mark.parametrize("kind", ["file", "directory", "symlink", "live socket"])
def test_an_existing_path_is_never_removed(short_dir: Path, kind: str) -> None:
    path = short_dir / "s"
    live = None
    if kind == "file":
        path.write_text("keep")
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        path.symlink_to(short_dir / "elsewhere")
    else:
        live = socket.socket(socket.AF_UNIX)
        live.bind(str(path))
        live.listen(1)
    try:
        with pytest.raises(ConfigError, match=str(path)):
            listening.bind_unix(str(path))
        assert os.path.lexists(path)
        if kind == "file":
            assert path.read_text() == "keep"
    finally:
        if live is not None:
            live.close()


def test_a_stale_socket_is_replaced_and_only_ours_is_removed(short_dir: Path) -> None:
    path = short_dir / "s"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a killed server's socket: nobody answers on it
    bound = listening.bind_unix(str(path))
    bound.sock.close()
    os.unlink(path)
    path.write_text("someone else's")
    listening.remove_unix(bound)
    assert path.read_text() == "someone else's"


# The server token


def private_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_variable_wins_over_the_file(tmp_path: Path) -> None:
    SECRETS.update({"from-the-environment-0123456789", "from-the-file-0123456789"})
    file = private_file(tmp_path / "t", "from-the-file-0123456789")
    environ = {"SF_CREDPROC_SERVER_TOKEN": "from-the-environment-0123456789"}
    assert resolve_server_token(environ, str(file)).value == "from-the-environment-0123456789"
    resolved = resolve_server_token({"SF_CREDPROC_SERVER_TOKEN_FILE": str(file)}, None)
    assert (resolved.value, resolved.generated_path) == ("from-the-file-0123456789", None)


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("token", 0o644, "chmod 600"),
        ("token", 0o620, "chmod 600"),
        ("", 0o600, "empty"),
        ("tok en", 0o600, "visible ASCII"),
        ("t" * 5000, 0o600, "bytes"),
    ],
)
def test_a_bad_token_file_is_refused(tmp_path: Path, content: str, mode: int, message: str) -> None:
    file = private_file(tmp_path / "t", content, mode)
    with pytest.raises(ConfigError, match=message):
        resolve_server_token({}, str(file))


def test_a_directory_is_no_token_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        resolve_server_token({}, str(tmp_path))


def test_a_generated_token_goes_to_the_runtime_directory(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    token = resolve_server_token({"XDG_RUNTIME_DIR": str(runtime)}, None)
    SECRETS.add(token.value)
    path = runtime / "sf-credproc" / "server-token"
    assert token.generated_path == str(path)
    assert path.read_text().strip() == token.value
    assert len(token.value) >= 43
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = resolve_server_token({"XDG_RUNTIME_DIR": str(runtime)}, None)
    SECRETS.add(again.value)
    assert again.value != token.value, "a new token at every start"


def test_without_a_runtime_directory_the_cache_home_is_used(tmp_path: Path) -> None:
    token = resolve_server_token({"XDG_CACHE_HOME": str(tmp_path / "cache")}, None)
    SECRETS.add(token.value)
    assert token.generated_path == str(tmp_path / "cache" / "sf-credproc" / "server-token")


def test_a_link_planted_at_the_token_file_is_not_written_through(tmp_path: Path) -> None:
    directory = tmp_path / "run" / "sf-credproc"
    directory.mkdir(parents=True, mode=0o700)
    target = tmp_path / "target"
    target.write_text("untouched")
    (directory / "server-token").symlink_to(target)
    token = resolve_server_token({"XDG_RUNTIME_DIR": str(tmp_path / "run")}, None)
    SECRETS.add(token.value)
    assert target.read_text() == "untouched"
    assert not (directory / "server-token").is_symlink()


@pytest.mark.parametrize("kind", ["open to others", "a symlink"])
def test_a_token_directory_others_could_use_is_refused(tmp_path: Path, kind: str) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    if kind == "open to others":
        (runtime / "sf-credproc").mkdir(mode=0o755)
        (runtime / "sf-credproc").chmod(0o755)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        (runtime / "sf-credproc").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConfigError, match="closed to others"):
        resolve_server_token({"XDG_RUNTIME_DIR": str(runtime)}, None)
