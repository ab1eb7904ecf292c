"""What went wrong under an HTTPS request, told by exception type, never by message text.

requests wraps what urllib3 raised, which wraps what ``ssl`` or the socket raised
(``requests.exceptions.SSLError`` -> ``urllib3.exceptions.MaxRetryError`` -> ``urllib3.exceptions.SSLError``
-> ``ssl.SSLCertVerificationError``), through ``__cause__``, ``__context__``, ``reason`` and ``args``.
The innermost types say what happened; the wording of their messages changes with the OpenSSL and
Python versions, so it is never matched.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

#: How deep to look: requests, urllib3 and ssl wrap three or four levels at most.
MAX_CAUSE_DEPTH = 8


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception it wraps, each once, outermost first."""
    seen: set[int] = set()
    pending: list[tuple[BaseException, int]] = [(error, 0)]
    while pending:
        current, depth = pending.pop(0)
        if id(current) in seen or depth > MAX_CAUSE_DEPTH:
            continue
        seen.add(id(current))
        yield current
        # urllib3's MaxRetryError keeps the real failure in .reason; SSLError(inner) in args.
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None))
        for inner in (*linked, *current.args):
            if isinstance(inner, BaseException):
                pending.append((inner, depth + 1))


def is_certificate_failure(error: BaseException) -> bool:
    """True when the server's certificate did not verify: an untrusted chain, an expired
    certificate, or a name that does not match the host (OpenSSL checks it during the handshake;
    urllib3 raises its own ``CertificateError`` when it matches the name itself)."""
    kinds = _certificate_error_types()
    return any(isinstance(cause, kinds) for cause in causes(error))


def _certificate_error_types() -> tuple[type[BaseException], ...]:
    try:
        from urllib3.util import ssl_match_hostname
    except ImportError:  # an older urllib3 raises the standard library's error for names too
        return (ssl.SSLCertVerificationError,)
    return (ssl.SSLCertVerificationError, ssl_match_hostname.CertificateError)


def failure_reason(error: BaseException) -> str:
    """A short reason for a failed TLS handshake or connection, for one error line."""
    chain = list(causes(error))
    if any(isinstance(cause, TimeoutError) for cause in chain):
        return "timed out"
    closed = (ConnectionResetError, ConnectionAbortedError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
    if any(isinstance(cause, closed) for cause in chain):
        return "the connection was closed"
    return type(error).__name__
