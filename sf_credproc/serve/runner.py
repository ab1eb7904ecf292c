"""``Endpoint``: the composition of the endpoint — settings → pipeline → keeper → refresher → loop.

Two ways to run it. ``start()`` runs the event loop in a thread and returns the URL (``exec
--server``, and tests in-process with a fake clock); ``stop()`` drains it. ``run(on_ready)`` runs
the loop in the main thread with signal handlers (``serve``): SIGTERM drains and ends with 0 (the
documented exception to 143: a supervisor's stop is the normal end of a server), SIGINT drains and
ends with 130, SIGHUP re-resolves the settings through ``resolver``, keeping the old ones when the
new ones are invalid, and forgetting the token held when the identity changed.

Draining: stop accepting, close idle kept-alive connections, let requests in flight finish (each
within the ``--timeout`` of its refresh, the whole bounded by ``drain_seconds``), stop the
refresher, remove a Unix socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .. import log
from ..clock import Clock
from ..compose import CredentialPipeline, cache_identity
from ..config.serve_options import DEFAULT_LISTEN
from ..config.settings import Settings
from ..credential import Credential
from ..errors import ConfigError, ExitStatus, InternalError
from ..keeper import CredentialKeeper, Fetch, pipeline_fetch, windows_for
from ..refresher import BackgroundRefresher
from . import listen as listening
from .endpoint import SERVED_FORMATS, AccessLog, CredentialEndpoint
from .http11 import ConnectionSet, HttpConnection
from .shutdown import close_server

#: Kept-alive connections idle this long are closed (RFC 9112 section 9.5).
IDLE_SECONDS = 30.0
#: Connections served at once; beyond, new ones are closed at once (file descriptors are finite).
MAX_CONNECTIONS = 1024
#: Threads that wait for a refresh (single flight: one of them logs in, the others wait).
OBTAIN_THREADS = 16
TLS_HANDSHAKE_SECONDS = 10.0

#: Re-resolves the settings (SIGHUP): the same argv and environment, the config file re-read.
Resolver = Callable[[], Settings]
#: Writes a status line: ``announce(event, message, **fields)``.
Announce = Callable[..., None]


@dataclass(frozen=True)
class ListenSpec:
    """``--listen`` / ``--socket`` and TLS, as given."""

    listen: str = DEFAULT_LISTEN
    socket_path: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


def default_access_log(method: str, path: str, status: int, ms: float, token: str | None) -> None:
    """Access lines as progress events (``exec --server``: shown with ``-v``)."""
    fields: dict[str, Any] = {"method": method, "path": path, "status": status, "duration_ms": ms}
    if token is not None:
        fields["token"] = token
    log.info("access", access_line(method, path, status, ms, token), **fields)


def access_line(method: str, path: str, status: int, ms: float, token: str | None) -> str:
    return f"{method} {path} {status} {ms} ms" + (f" token {token}" if token else "")


def _seeded(fetch: Fetch, initial: Credential) -> Fetch:
    """``fetch``, whose first plain refresh answers ``initial`` (``exec --server`` obtained it
    already: with ``--no-cache`` a second login would follow at once)."""
    seed = [initial]

    def seeded(rejected_sha256: str | None, current: Credential | None) -> Credential:
        if seed and rejected_sha256 is None and current is None:
            return seed.pop()
        seed.clear()
        return fetch(rejected_sha256, current)

    return seeded


class Endpoint:
    """The credential endpoint of one identity."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        environ: Mapping[str, str],
        server_token: str,
        listen: ListenSpec | None = None,
        poll_seconds: float = 1.0,
        access_log: AccessLog | None = default_access_log,
        resolver: Resolver | None = None,
        initial: Credential | None = None,
        drain_seconds: float | None = None,
        idle_seconds: float = IDLE_SECONDS,
        announce: Announce = log.info,
    ) -> None:
        settings = long_lived(settings)
        self.settings = settings
        self._clock = clock
        self._environ = environ
        self._listen = listen or ListenSpec()
        self._resolver = resolver
        self._drain_seconds = (
            drain_seconds if drain_seconds is not None else settings.timeout_seconds
        )
        self._idle_seconds = idle_seconds
        #: Where status lines go (a reload): progress events by default, always shown by serve.
        self._announce = announce
        check_format(settings.output_format)
        self._tls, self._tls_names = self._check_listen()
        fetch = pipeline_fetch(CredentialPipeline(settings, clock=clock, environ=environ), clock)
        if initial is not None:
            fetch = _seeded(fetch, initial)
        self.keeper = CredentialKeeper(fetch, windows_for(settings), clock)
        self.refresher = BackgroundRefresher(self.keeper, clock, poll_seconds=poll_seconds)
        self._executor = ThreadPoolExecutor(OBTAIN_THREADS, thread_name_prefix="sf-credproc-obtain")
        self._server_token = server_token
        self._access_log = access_log
        self._app: CredentialEndpoint | None = None
        self._unix: listening.UnixListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self.exit_status = ExitStatus.OK
        self.url = ""

    def __repr__(self) -> str:
        return f"Endpoint(url={self.url!r}, username={self.settings.username!r})"

    # Binding

    def _check_listen(self) -> tuple[Any, tuple[str, ...]]:
        spec = self._listen
        listening.check_tls_flags(spec.tls_cert, spec.tls_key)
        tls = bool(spec.tls_cert and spec.tls_key)
        if spec.socket_path is None:
            listening.check_exposure(listening.parse_listen(spec.listen), tls)
        if spec.tls_cert and spec.tls_key:
            return listening.tls_context(spec.tls_cert, spec.tls_key)
        return None, ()

    def _bind(self) -> Any:
        """Bind the address (errors: ``ConfigError``, before anything is printed); sets ``url``."""
        spec = self._listen
        allowed: frozenset[str] | None = None
        if spec.socket_path is not None:
            self._unix = listening.bind_unix(spec.socket_path)
            sock = self._unix.sock
            self.url = "unix:" + self._unix.path
        else:
            address = listening.parse_listen(spec.listen)
            sock = listening.bind_tcp(address)
            host, port = sock.getsockname()[:2]
            allowed = listening.allowed_hosts(
                host, port, self._tls_names, tls=self._tls is not None
            )
            scheme = "https" if self._tls is not None else "http"
            self.url = f"{scheme}://{listening.format_host(host)}:{port}/credential"
        self._app = CredentialEndpoint(
            self.keeper,
            server_token=self._server_token,
            allowed_hosts=allowed,
            default_format=self.settings.output_format,
            executor=self._executor,
            access_log=self._access_log,
            monotonic=self._clock.monotonic,
        )
        return sock

    # In a thread

    def start(self) -> str:
        """Serve from a thread; returns the URL once listening."""
        sock = self._bind()
        self._thread = threading.Thread(
            target=self._run_thread, args=(sock,), name="sf-credproc-endpoint", daemon=True
        )
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            raise self._failure
        return self.url

    def _run_thread(self, sock: Any) -> None:
        try:
            asyncio.run(self._serve(sock, None))
        except BaseException as error:  # noqa: BLE001 - reported by start() or logged
            self._failure = error
            self._started.set()

    def stop(self) -> None:
        """Drain and stop (from any thread but the loop's)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(self._drain_seconds + 10)

    # In the main thread, with signals

    def run(self, on_ready: Callable[[str], None]) -> ExitStatus:
        """Serve until SIGTERM (0) or SIGINT (130); ``on_ready(url)`` once listening."""
        sock = self._bind()
        asyncio.run(self._main(sock, on_ready))
        return self.exit_status

    async def _main(self, sock: Any, on_ready: Callable[[str], None]) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._signalled, ExitStatus.OK)
        loop.add_signal_handler(signal.SIGINT, self._signalled, ExitStatus.INTERRUPTED)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            await self._serve(sock, on_ready)
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)

    def _signalled(self, status: ExitStatus) -> None:
        self.exit_status = status
        if self._stopping is not None:
            self._stopping.set()

    # The loop

    async def _serve(self, sock: Any, on_ready: Callable[[str], None] | None) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_one_line_exception_handler)
        self._loop = loop
        self._stopping = asyncio.Event()
        connections = ConnectionSet(MAX_CONNECTIONS)
        app = self._app
        if app is None:
            raise InternalError("the endpoint was not bound")
        idle = self._idle_seconds
        try:
            server = await loop.create_server(
                lambda: HttpConnection(app.handle, connections, idle, app.refused),
                sock=sock,
                ssl=self._tls,
                ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS if self._tls is not None else None,
            )
        except BaseException:
            self._cleanup()
            raise
        try:
            if on_ready is not None:
                on_ready(self.url)
            self.refresher.start()
            self._started.set()
            await self._stopping.wait()
            await close_server(server, sock, connections, self._drain_seconds)
        finally:
            server.close()
            self._cleanup()

    def _cleanup(self) -> None:
        self.refresher.stop()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._unix is not None:
            listening.remove_unix(self._unix)

    # SIGHUP

    def reload(self) -> None:
        """Re-resolve the settings; keep the old ones when the new ones are invalid; forget the
        token held when they name another identity."""
        if self._resolver is None:
            return
        try:
            settings = long_lived(self._resolver())
            check_format(settings.output_format)
            fetch = pipeline_fetch(
                CredentialPipeline(settings, clock=self._clock, environ=self._environ), self._clock
            )
        except Exception as error:  # noqa: BLE001 - a bad reload must never stop the server
            message = error.message if isinstance(error, ConfigError) else str(error)
            log.warning(
                "reload",
                f"the new settings are invalid ({log.one_line(message)}); keeping the previous ones",
                error=type(error).__name__,
            )
            return
        changed = cache_identity(settings).file_stem != cache_identity(self.settings).file_stem
        self.keeper.replace_fetch(fetch, windows_for(settings), forget=changed)
        self.settings = settings
        if self._app is not None:
            self._app.default_format = settings.output_format
            self._app.forget_failure()
        self.refresher.wake()
        self._announce(
            "reload",
            "settings reloaded"
            + ("; the identity changed, its token is obtained anew" if changed else ""),
            identity_changed=changed,
        )


def long_lived(settings: Settings) -> Settings:
    """``settings`` for a process that refreshes many times: ``--refresh`` and
    ``--rejected-sha256`` name one command's request, never every refresh of a server."""
    return dataclasses.replace(settings, refresh=False, rejected_sha256=None)


def check_format(format_name: str) -> None:
    if format_name not in SERVED_FORMATS:
        raise ConfigError(
            f"--format {format_name} cannot be served",
            hint="Use one of: " + ", ".join(SERVED_FORMATS) + " (a client may ask ?format= itself)",
        )


def _one_line_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's errors (a TLS handshake a client broke off, a reset connection): one line with
    ``-v``, never a traceback on the server's stderr."""
    error = context.get("exception")
    name = type(error).__name__ if error is not None else "error"
    log.info("serve", f"connection error ({name}: {log.one_line(str(context.get('message')))})")
