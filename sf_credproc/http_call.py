"""One HTTP request within a deadline: the transport rules every peer (Salesforce, Vault) shares.

requests with a Session whose ``trust_env`` is off (no ``~/.netrc``, no proxies of requests' own
choosing: the caller passes them), TLS always verified (``verify`` may only name other CAs),
redirects never followed, ``(connect, read)`` timeouts cut from the command's deadline, a body read
in chunks against that deadline and a size limit, and ``from None`` on every requests exception:
it keeps the request (an assertion, a token being revoked, a Vault token header, a secret id) and
may keep the response, so it must not travel on as a cause. Failures are ``TransientError``
(exit 5), an untrusted certificate ``ConfigError`` (exit 2, the peer's own fix).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .deadline import Deadline
from .errors import ConfigError, TransientError
from .oauth.transport_errors import failure_reason, is_certificate_failure


@dataclass(frozen=True)
class HttpAnswer:
    """Status, content type and (bounded) body of one answer."""

    status: int
    content_type: str | None
    body: bytes = field(repr=False)
    date: str | None = None


class Peer(NamedTuple):
    """How messages name the peer and the fixes they give for its transport failures."""

    #: The peer as messages say it: a URL, or ``Vault at https://vault:8200``.
    name: str
    #: The fix for a certificate that does not verify (the CA bundle setting of this peer).
    untrusted_certificate_hint: str
    #: The fix for a peer that cannot be reached.
    unreachable_hint: str


def request_within(
    method: str,
    url: str,
    *,
    peer: Peer,
    deadline: Deadline,
    headers: Mapping[str, str],
    data: bytes | Mapping[str, str] | None,
    verify: str | bool,
    proxies: Mapping[str, str],
    max_bytes: int,
) -> HttpAnswer:
    """One attempt, whose connect, TLS, header and body phases all end within the attempt's share
    of ``deadline``; the body is cut after ``max_bytes + 1`` bytes (enough to know it is too long:
    the caller decides what a long one means)."""
    import requests

    connect, read = deadline.http_timeouts(f"calling {peer.name}")
    give_up_at = deadline.now() + read
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.request(
                method,
                url,
                data=data,
                headers=dict(headers),
                timeout=(connect, read),
                verify=verify,
                allow_redirects=False,
                stream=True,
                proxies=dict(proxies),
            )
    except requests.exceptions.SSLError as error:
        if is_certificate_failure(error):
            # Not transient: retrying will not make an untrusted certificate trusted.
            raise ConfigError(
                f"the TLS certificate of {peer.name} could not be verified",
                hint=peer.untrusted_certificate_hint,
            ) from None
        raise TransientError(
            f"the TLS handshake with {peer.name} failed ({failure_reason(error)})",
            hint="Retry later",
        ) from None
    except requests.exceptions.Timeout:
        raise TransientError(
            f"{peer.name} did not answer within {read:.1f} s",
            hint="Retry later, or raise --timeout",
        ) from None
    except (requests.exceptions.RequestException, OSError) as error:
        raise TransientError(
            f"could not reach {peer.name} ({type(error).__name__})", hint=peer.unreachable_hint
        ) from None
    try:
        body = _read_bounded(response, max_bytes, lambda: deadline.now() > give_up_at)
    except TimeoutError as error:  # _read_bounded's own, which carries nothing; before OSError,
        # its base class, which would otherwise take it for a connection cut short.
        raise TransientError(
            f"{peer.name} sent its answer too slowly (more than {read:.1f} s)", hint="Retry later"
        ) from error
    except (requests.exceptions.RequestException, OSError) as error:
        raise TransientError(
            f"the answer from {peer.name} was cut short ({type(error).__name__})",
            hint="Retry later",
        ) from None
    return HttpAnswer(
        response.status_code,
        response.headers.get("Content-Type"),
        body,
        response.headers.get("Date"),
    )


def _read_bounded(response: Any, max_bytes: int, too_late: Callable[[], bool]) -> bytes:
    """The body, or its first ``max_bytes + 1`` bytes.

    A read timeout bounds each read, not the whole body: a server that trickles bytes would never
    trip it, so the attempt's own deadline is checked between chunks (``TimeoutError``).
    """
    chunks: list[bytes] = []
    size = 0
    with response:
        # iter_content turns urllib3's mid-body failures into requests exceptions.
        for chunk in response.iter_content(chunk_size=16384):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                break
            if too_late():
                raise TimeoutError
    return b"".join(chunks)
