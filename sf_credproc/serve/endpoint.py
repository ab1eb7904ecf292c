"""The endpoint's application: ``GET /credential`` and ``GET /healthz`` (README, "A local
credential endpoint").

Every request is judged in this order, so that what a caller learns depends only on what it
proved: the ``Host`` field (DNS rebinding: a browser page of another origin that resolves its own
name to 127.0.0.1 sends that name; 421 Misdirected Request, RFC 9110 section 15.5.20), then
``/healthz`` (no authorization: it says whether a credential is ready and nothing else), then the
``Authorization`` field (the raw server token, as in the AWS container-credentials contract,
compared in constant time by ``hmac.compare_digest``; 401 with no detail), then the path (404),
the method (405 with ``Allow: GET``) and the query (400).

The answer of a servable credential is built in the event loop's thread from bytes rendered once
per credential and format; only when the keeper must refresh (none held, the mandatory window, a
reported ``rejected_sha256`` of the token held) does a request wait for ``keeper.obtain`` in the
executor, where concurrent waiters share one refresh (single flight).
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from urllib.parse import parse_qsl

from .. import log
from ..credential import Credential
from ..errors import CoolingDown, CredProcError, ExitStatus
from ..formats import render
from ..keeper import CredentialKeeper, token_sha256
from .http11 import Request
from .responses import JSON_TYPE, TEXT_TYPE, Response, error_response, request_error

#: ``?format=``: what ``formats.render`` gives for a credential alone (``github`` writes a file).
SERVED_FORMATS = ("json", "token", "header", "sf", "env", "cumulusci")
_CONTENT_TYPES = {"json": JSON_TYPE, "sf": JSON_TYPE, "cumulusci": JSON_TYPE}
#: Retry-After for a transient failure without a known end (the refresher retries in 1 s .. 60 s).
TRANSIENT_RETRY_SECONDS = 2
#: A failed obtain is the answer of the requests that need one for this long.
FAILURE_MEMORY_SECONDS = 2.0
#: An access log line names at most this much of a path (a path is the client's text).
MAX_LOGGED_PATH = 200

_READY = Response(200, JSON_TYPE, b'{"ready": true}\n')
_NOT_READY = Response(200, JSON_TYPE, b'{"ready": false}\n')
#: The request errors, built once (RFC 9110 section 15.5).
_MISDIRECTED = request_error(421, "the Host field does not name this server")
_UNAUTHORIZED = request_error(401, "missing or wrong Authorization")
_NOT_FOUND = request_error(404, "no such path; the credential is at /credential")
_METHOD_NOT_ALLOWED = error_response(
    405, "method_not_allowed", "only GET is served", extra_fields=b"Allow: GET\r\n"
)
_HEX = frozenset("0123456789abcdef")

#: Writes one access line: method, path (no query), status, duration in ms, token fingerprint.
AccessLog = Callable[[str, str, int, float, "str | None"], None]


def status_of(error: CredProcError) -> int:
    """The HTTP status of a failure to obtain: the server's fault (500), an upstream's refusal
    (502: the key source, Salesforce), or "later" (503)."""
    status = error.exit_status
    if status in (ExitStatus.KEY_SOURCE, ExitStatus.REFUSED):
        return 502
    if status == ExitStatus.TRANSIENT:
        return 503
    return 500


def failure_response(error: CredProcError, *, retry_after: int | None = None) -> Response:
    """The JSON error for ``error``; 503 carries ``Retry-After`` (RFC 9110 section 10.2.3): the
    cool-down's end, else ``retry_after``, else ``TRANSIENT_RETRY_SECONDS``."""
    status = status_of(error)
    extra = b""
    if status == 503:
        seconds = retry_after or TRANSIENT_RETRY_SECONDS
        if isinstance(error, CoolingDown):
            seconds = max(1, math.ceil(error.seconds_left))
        extra = b"Retry-After: %d\r\n" % seconds
    message = log.one_line(error.message)
    return error_response(
        status, type(error).__name__, message, code=int(error.exit_status), extra_fields=extra
    )


class _Rendered:
    """The answers of one credential, one per format, rendered on first use."""

    __slots__ = ("answers", "credential", "fingerprint", "sha256")

    def __init__(self, credential: Credential) -> None:
        self.credential = credential
        self.fingerprint = log.fingerprint(credential.access_token)
        self.sha256 = token_sha256(credential.access_token)
        self.answers: dict[str, Response] = {}

    def answer(self, format_name: str) -> Response:
        answer = self.answers.get(format_name)
        if answer is None:
            body = render(self.credential, format_name).encode("utf-8")
            answer = Response(200, _CONTENT_TYPES.get(format_name, TEXT_TYPE), body)
            self.answers[format_name] = answer
        return answer


class CredentialEndpoint:
    """The request handler of ``http11.HttpConnection``; lives in the event loop's thread."""

    def __init__(
        self,
        keeper: CredentialKeeper,
        *,
        server_token: str,
        allowed_hosts: frozenset[str] | None,
        default_format: str,
        executor: Executor,
        access_log: AccessLog | None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keeper = keeper
        self._monotonic = monotonic
        self._failure: tuple[CredProcError, float] | None = None
        self._token = server_token.encode("utf-8")
        #: Lower-case ``host:port`` values accepted; None: not checked (a Unix socket).
        self._allowed_hosts = allowed_hosts
        self.default_format = default_format
        self._executor = executor
        self._access_log = access_log
        self._rendered: _Rendered | None = None

    def handle(self, request: Request) -> Response | asyncio.Future[Response]:
        started = time.perf_counter()
        rendered: _Rendered | None = None
        answer = self._refusal(request)
        if answer is None:
            query = self._query(request.query)
            if isinstance(query, Response):
                answer = query
            else:
                format_name, rejected = query
                rendered = self._servable(rejected)
                if rendered is not None:
                    answer = rendered.answer(format_name)
                else:
                    answer = self._recent_failure()
                    if answer is None:
                        return asyncio.ensure_future(
                            self._obtain(request, format_name, rejected, started)
                        )
        self._log(request, answer, started, rendered)
        return answer

    def _refusal(self, request: Request) -> Response | None:
        """The answer decided by the head alone (``/healthz`` included), or None for a
        credential to serve."""
        allowed = self._allowed_hosts
        if allowed is not None:
            host = request.host
            if host is None or host.lower() not in allowed:
                return _MISDIRECTED
        path = request.path
        if path == "/healthz":
            if request.method != "GET":
                return _METHOD_NOT_ALLOWED
            return _READY if self._keeper.servable() is not None else _NOT_READY
        authorizations = request.fields.get_all("Authorization")
        if (
            not authorizations
            or len(authorizations) != 1
            or not self._authorized(authorizations[0])
        ):
            return _UNAUTHORIZED
        if path != "/credential":
            return _NOT_FOUND
        if request.method != "GET":
            return _METHOD_NOT_ALLOWED
        return None

    def _authorized(self, value: str) -> bool:
        # The field's value as received (http.client decodes ISO-8859-1, which round-trips).
        try:
            presented = value.strip().encode("latin-1")
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(presented, self._token)

    def _query(self, query: str | None) -> tuple[str, str | None] | Response:
        """``?format=`` and ``?rejected_sha256=``; anything else is a 400."""
        if not query:
            return self.default_format, None
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True, max_num_fields=2)
        except ValueError:
            return request_error(400, "malformed query; use ?format=F and ?rejected_sha256=HEX")
        values: dict[str, str] = {}
        for name, value in pairs:
            if name not in ("format", "rejected_sha256"):
                return request_error(400, "unknown query parameter; use format or rejected_sha256")
            if name in values:
                return request_error(400, f"query parameter {name} given twice")
            values[name] = value
        format_name = values.get("format", self.default_format)
        if format_name not in SERVED_FORMATS:
            return request_error(400, "unknown format; use one of: " + ", ".join(SERVED_FORMATS))
        rejected = values.get("rejected_sha256")
        if rejected is not None:
            rejected = rejected.lower()
            if len(rejected) != 64 or not _HEX.issuperset(rejected):
                return request_error(400, "rejected_sha256 must be 64 hexadecimal digits")
        return format_name, rejected

    def _servable(self, rejected: str | None) -> _Rendered | None:
        """The answers of the credential to serve without waiting, or None (obtain first)."""
        credential = self._keeper.servable()
        if credential is None:
            return None
        rendered = self._rendering(credential)
        if rejected is not None and rendered.sha256 == rejected:
            return None  # compare-and-refresh: the token held is the one reported dead
        return rendered

    def _rendering(self, credential: Credential) -> _Rendered:
        rendered = self._rendered
        if rendered is None or rendered.credential is not credential:
            rendered = self._rendered = _Rendered(credential)
        return rendered

    async def _obtain(
        self, request: Request, format_name: str, rejected: str | None, started: float
    ) -> Response:
        loop = asyncio.get_running_loop()
        rendered: _Rendered | None = None
        try:
            obtain = partial(self._keeper.obtain, rejected_sha256=rejected)
            credential = await loop.run_in_executor(self._executor, obtain)
            rendered = self._rendering(credential)
            answer = rendered.answer(format_name)
        except CredProcError as error:
            answer = failure_response(error)
            self._failure = (error, self._monotonic() + FAILURE_MEMORY_SECONDS)
        self._log(request, answer, started, rendered)
        return answer

    def forget_failure(self) -> None:
        """The next request that needs a credential tries again (new settings, SIGHUP)."""
        self._failure = None

    def _recent_failure(self) -> Response | None:
        """The answer of the obtain that failed less than ``FAILURE_MEMORY_SECONDS`` ago: while
        Salesforce (or the key source) is down, clients polling the endpoint cause one attempt
        per interval, not one after another (the refresher retries meanwhile, with backoff)."""
        failure = self._failure
        if failure is None:
            return None
        error, until = failure
        left = until - self._monotonic()
        if left <= 0:
            self._failure = None
            return None
        return failure_response(error, retry_after=math.ceil(left))

    def refused(self, status: int) -> None:
        """A request refused before it could be read (``http11``): an access line without a
        method or a path, which were not understood."""
        if self._access_log is not None:
            self._access_log("-", "-", status, 0.0, None)

    def _log(
        self, request: Request, answer: Response, started: float, rendered: _Rendered | None
    ) -> None:
        access_log = self._access_log
        if access_log is None:
            return
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        path = log.one_line(request.path[:MAX_LOGGED_PATH])
        token = rendered.fingerprint if rendered is not None and answer.status == 200 else None
        access_log(request.method, path, answer.status, duration_ms, token)
