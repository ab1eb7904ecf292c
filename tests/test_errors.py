"""The exception tree: one ``retryable`` attribute, every exit code in the enum, causes chained
unless they may hold a secret, TLS failures told by exception type, the server's clock read once."""

from __future__ import annotations

import inspect
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import trustme
import urllib3

from sf_credproc import errors, local_files
from sf_credproc.clock import SystemClock
from sf_credproc.config.key_uri import KeyUri
from sf_credproc.deadline import Deadline
from sf_credproc.errors import ConfigError, ExitStatus, KeySourceError, TransientError
from sf_credproc.keys.file_source import FileKeySource
from sf_credproc.keys.secrets_manager_source import key_from_json_secret
from sf_credproc.oauth.exchange import post_form, server_clock_skew
from sf_credproc.oauth.transport_errors import failure_reason, is_certificate_failure


def test_every_exception_class_says_when_it_is_raised() -> None:
    classes = [
        value
        for module in (errors, local_files)
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, BaseException) and value.__module__ == module.__name__
    ]
    assert len(classes) >= 10
    for cls in classes:
        assert (cls.__doc__ or "").startswith("Raised "), cls.__name__


def test_every_exit_code_is_in_the_enum() -> None:
    assert sorted(int(status) for status in ExitStatus) == [0, 1, 2, 3, 4, 5, 130, 143]


def test_retryable_is_one_attribute_set_by_class_and_instance() -> None:
    assert TransientError("network").retryable
    assert not TransientError("rate limit", retryable=False).retryable
    assert not ConfigError("bad flag").retryable
    assert not KeySourceError("no such key").retryable
    assert not Deadline(5, SystemClock()).exceeded("logging in").retryable
    assert not hasattr(TransientError("x"), "retry_now")


def test_a_key_file_error_keeps_its_cause(tmp_path: Path) -> None:
    source = FileKeySource(KeyUri("file", str(tmp_path / "missing.pem")))
    with pytest.raises(KeySourceError, match="no such file") as raised:
        source.load_key()
    assert isinstance(raised.value.__cause__, FileNotFoundError)


def test_a_json_secret_error_drops_the_cause_that_holds_the_key() -> None:
    secret = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END"
    with pytest.raises(KeySourceError, match="neither a PEM private key nor a JSON") as raised:
        key_from_json_secret("{" + secret, KeyUri("secretsmanager", "sf/jwt", "pem"))
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "MIIEvQ" not in str(raised.value)


def test_server_clock_skew_reads_the_date_header() -> None:
    date = "Tue, 01 Dec 2026 00:00:00 GMT"
    at = 1796083200.0  # that moment
    assert server_clock_skew(date, at + 42) == 42
    assert server_clock_skew(date, at - 300) == -300
    assert server_clock_skew("not a date", at) is None


def test_tls_failures_are_told_by_type_not_by_message_text() -> None:
    verify = ssl.SSLCertVerificationError(1, "something OpenSSL may word differently")
    wrapped = requests.exceptions.SSLError(
        urllib3.exceptions.MaxRetryError(
            urllib3.HTTPSConnectionPool("localhost"),
            "/",
            reason=urllib3.exceptions.SSLError(verify),
        )
    )
    assert is_certificate_failure(wrapped)
    from urllib3.util.ssl_match_hostname import CertificateError  # urllib3's own name check

    assert is_certificate_failure(requests.exceptions.SSLError(CertificateError("no match")))
    looks_alike = requests.exceptions.SSLError(ssl.SSLError(1, "certificate verify failed"))
    assert not is_certificate_failure(looks_alike)
    assert failure_reason(requests.exceptions.SSLError(ssl.SSLEOFError(8, "x"))) == (
        "the connection was closed"
    )
    assert failure_reason(requests.exceptions.SSLError(TimeoutError("x"))) == "timed out"
    assert failure_reason(requests.exceptions.SSLError("reset, eof, timed out")) == "SSLError"


class TlsServer:
    """A loopback HTTPS server whose certificate names ``localhost`` only."""

    def __init__(self, ca: trustme.CA) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("localhost").configure_cert(self.context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.close_at_once = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            # Every byte sent is read before closing: closing on unread data resets the
            # connection, which the client would see as another failure than the one meant.
            with connection:
                if self.close_at_once:
                    record = receive_exactly(connection, 5)  # the ClientHello's record header
                    receive_exactly(connection, int.from_bytes(record[3:5], "big"))
                    continue  # then hang up mid-handshake
                try:
                    with self.context.wrap_socket(connection, server_side=True) as tls:
                        request = b""
                        while not request.endswith(b"\r\n\r\na=b"):
                            request += tls.recv(65536) or b"\r\n\r\na=b"
                        tls.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                except (OSError, ssl.SSLError):
                    continue


def receive_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[TlsServer]:
    server = TlsServer(ca)
    yield server
    server.listener.close()


def post(url: str, ca_bundle: str | None) -> int:
    answer = post_form(url, {"a": "b"}, deadline=Deadline(10, SystemClock()), ca_bundle=ca_bundle)
    return answer.status


def test_a_trusted_certificate_for_the_host_is_accepted(
    tls_server: TlsServer, ca_bundle: str
) -> None:
    assert post(f"https://localhost:{tls_server.port}", ca_bundle) == 204


@pytest.mark.parametrize("case", ["untrusted CA", "name mismatch"])
def test_a_certificate_that_does_not_verify_is_a_config_error(
    case: str, tls_server: TlsServer, ca_bundle: str
) -> None:
    host, bundle = ("localhost", None) if case == "untrusted CA" else ("127.0.0.1", ca_bundle)
    url = f"https://{host}:{tls_server.port}"
    with pytest.raises(ConfigError, match="could not be verified") as raised:
        post(url, bundle)
    assert raised.value.exit_status == ExitStatus.USAGE
    assert raised.value.__cause__ is None  # a requests exception keeps the request body


def test_a_handshake_cut_short_is_transient(tls_server: TlsServer, ca_bundle: str) -> None:
    tls_server.close_at_once = True
    with pytest.raises(TransientError, match=r"handshake .* failed \(the connection was closed\)"):
        post(f"https://localhost:{tls_server.port}", ca_bundle)


class SteppingClock(SystemClock):
    """Real wall time and sleeps; a monotonic clock that jumps 10 minutes at every reading, so
    that the first chunk of a body arrives after the attempt's share of a 1000 s deadline."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 600
        return self.now


def test_a_body_sent_too_slowly_is_cut_at_the_attempt_budget() -> None:
    """The read timeout bounds each read, not the body: the deadline's clock ends a trickle."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def answer_slowly() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 20000)
            done.wait(10)  # the rest never comes

    threading.Thread(target=answer_slowly, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with pytest.raises(TransientError, match="sent its answer too slowly") as raised:
            post_form(url, None, deadline=Deadline(1000, SteppingClock()), ca_bundle=None)
        assert raised.value.retryable
    finally:
        done.set()
        listener.close()


def test_aws_error_code_assumes_nothing_about_the_shape() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    from sf_credproc.aws_errors import aws_error_code

    denied = ClientError({"Error": {"Code": "AccessDeniedException"}}, "Sign")
    assert aws_error_code(denied) == "AccessDeniedException"
    assert aws_error_code(ClientError({}, "Sign")) is None
    assert aws_error_code(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) is None
