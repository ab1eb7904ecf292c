"""What the endpoint answered, read as its contract says and trusted no further.

A 200 carries the credential JSON (``?format=json``): parsed within the transport's size bound and
checked as the cache checks the lines it keeps (``Credential.from_document``), with every field one
printable line (a consumer puts the token in a header or a shell variable). An error answer
carries ``{"code": <exit status>, "kind": ..., "message": ...}``: it becomes the exception of that
exit status (``errors.py``), so a client exits as the server's own ``get`` would have. The
server's message is shown, but as one printable line of bounded length, without the server token
(a hostile server could echo it back), and always after our own words naming the endpoint.

Anything else is no endpoint's answer: a 5xx without the error JSON (a proxy in between) is
``TransientError`` (exit 5), and any other status, or a 200 that is not a credential, is
``ConfigError`` (exit 2): the variable names something that is not ``sf-credproc serve``.
"""

from __future__ import annotations

import calendar
import json
import time

from .credential import TEXT_FIELDS, Credential
from .errors import (
    ConfigError,
    CredProcError,
    InternalError,
    KeySourceError,
    LoginRateLimited,
    SalesforceRefusedError,
    SessionInvalidError,
    TransientError,
)
from .http_call import HttpAnswer

#: The server's message is cut to this many characters.
MAX_MESSAGE_CHARS = 300
#: The exception of each exit status an error answer may carry (README, "Exit codes and errors").
_BY_CODE: dict[int, type[CredProcError]] = {
    1: InternalError,
    2: ConfigError,
    3: KeySourceError,
    4: SalesforceRefusedError,
    5: TransientError,
}
#: Subclasses a client's own refresh rules tell apart (``cache/refresh.may_keep`` keeps a token
#: in the mandatory window through a login rate limit), by the ``kind`` the server names.
_BY_KIND: dict[str, type[CredProcError]] = {
    "LoginRateLimited": LoginRateLimited,
    "LoginRateExceeded": LoginRateLimited,
    "CoolingDown": LoginRateLimited,
    "SessionInvalidError": SessionInvalidError,
}
_RFC3339 = "%Y-%m-%dT%H:%M:%SZ"
_NOT_AN_ENDPOINT_HINT = "Set it to the address `sf-credproc serve` printed"


def printable(text: str, limit: int = 200) -> str:
    """``text`` fit for one line of a message: every character that is not printable (line
    breaks, escapes, bidirectional controls) as ``?``, at most ``limit`` characters."""
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def credential_from_answer(answer: HttpAnswer, *, where: str, secret: str) -> Credential:
    """The credential in a 200 answer; the exception an error answer stands for."""
    from .server_transport import MAX_ANSWER_BYTES

    if len(answer.body) > MAX_ANSWER_BYTES:
        raise ConfigError(
            f"the endpoint ({where}) answered {answer.status} with more than {MAX_ANSWER_BYTES} "
            "bytes, far more than a credential",
            hint=_NOT_AN_ENDPOINT_HINT,
        )
    if answer.status != 200:
        raise error_from_answer(answer, where=where, secret=secret)
    try:
        return parse_credential(answer.body)
    except ValueError as error:
        raise ConfigError(
            f"the endpoint ({where}) answered 200 with no credential: {error}",
            hint=_NOT_AN_ENDPOINT_HINT,
        ) from None


def parse_credential(body: bytes) -> Credential:
    """The credential in a ``--format json`` body; ``ValueError`` saying what is wrong (never
    quoting the body, which may hold a token)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not UTF-8 JSON, or nested too deeply to be ours
        raise ValueError("the body is not JSON") from None
    if not isinstance(document, dict):
        raise ValueError("the body is not a JSON object")
    times = []
    for name in ("IssuedAt", "Expiration"):
        value = document.get(name)
        try:
            if not isinstance(value, str):
                raise TypeError(name)
            times.append(calendar.timegm(time.strptime(value, _RFC3339)))
        except (TypeError, ValueError):
            raise ValueError(f"{name} is not an RFC 3339 UTC time") from None
    credential = Credential.from_document(document, issued_at=times[0], expiration=times[1])
    for name in TEXT_FIELDS:
        if not document[name].isprintable():
            raise ValueError(f"{name} is not one printable line")
    for name in ("AccessToken", "TokenType"):
        if not all("!" <= c <= "~" for c in document[name]):
            raise ValueError(f"{name} holds more than visible ASCII characters")
    return credential


def error_from_answer(answer: HttpAnswer, *, where: str, secret: str) -> CredProcError:
    """The exception of the exit status the error JSON carries (by HTTP status without one)."""
    code, kind, message = _error_document(answer.body)
    said = f"the endpoint ({where}) answered {answer.status}"
    if message:
        said += ": " + printable(message.replace(secret, "[server token]"), MAX_MESSAGE_CHARS)
    if code is None:
        if answer.status >= 500:
            return TransientError(said, hint="Retry later; the server's log says why")
        return ConfigError(f"{said}, not an endpoint's answer", hint=_NOT_AN_ENDPOINT_HINT)
    if answer.status == 401:
        from .config.serve_options import SERVER_TOKEN_ENV, SERVER_TOKEN_FILE_ENV

        return ConfigError(
            f"{said} (the server token was refused)",
            hint=f"Set {SERVER_TOKEN_ENV} (or {SERVER_TOKEN_FILE_ENV}) to that server's token",
        )
    if answer.status < 500:
        return ConfigError(said, hint=_NOT_AN_ENDPOINT_HINT)
    error_class = _BY_KIND.get(kind or "", _BY_CODE[code])
    if not issubclass(error_class, _BY_CODE[code]):
        error_class = _BY_CODE[code]
    return error_class(said, hint="The server's log says more")


def _error_document(body: bytes) -> tuple[int | None, str | None, str | None]:
    """``(code, kind, message)`` of an error JSON; ``(None, None, None)`` for anything else."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None, None, None
    if not isinstance(document, dict):
        return None, None, None
    code, kind, message = document.get("code"), document.get("kind"), document.get("message")
    if type(code) is not int or code not in _BY_CODE:  # bool is an int: not a code
        return None, None, None
    return (
        code,
        kind if isinstance(kind, str) else None,
        message if isinstance(message, str) else None,
    )
