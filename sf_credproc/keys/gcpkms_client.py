"""The Cloud KMS client of ``gcpkms:`` keys: the official SDK, its credentials, retries and timeouts.

google-cloud-kms's ``KeyManagementServiceClient`` over its REST transport (the documented REST
API, through requests: ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE`` apply as to every other call),
with credentials from Application Default Credentials (``google.auth.default()``, Google's
"How Application Default Credentials works": ``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's
application-default file, then the metadata server) passed to the client explicitly.

Every call fits inside the command's deadline: each attempt gets ``(connect, read)`` timeouts cut
from what is left (``Deadline.http_timeouts``, applied per attempt by ``_DeadlineTimeout``; the
SDK's own ``TimeToDeadlineTimeout`` resets to its whole value when under a second is left), and the
SDK retries 429, 500, 503, 504 and connection failures with backoff for at most the time left
(``Retry(timeout=remaining)``). The SDK's defaults would retry only 503 and 504, for up to 60 s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .gcpkms_errors import GCP_EXTRA_HINT, GcpKmsCall, gave_up, translate_gcpkms_error

if TYPE_CHECKING:
    from ..deadline import Deadline

#: Cloud KMS's own OAuth scope (Cloud KMS REST reference, "Authorization scopes").
CLOUDKMS_SCOPE = "https://www.googleapis.com/auth/cloudkms"
#: The SDK's backoff between retries: short, since the whole budget is a command's --timeout.
RETRY_INITIAL_SECONDS = 0.2
RETRY_MAXIMUM_SECONDS = 2.0


def require_sdk() -> None:
    """``ConfigError`` (exit 2) with the install line when the ``gcp`` extra is missing.

    google-api-core warns (FutureWarning, on stderr) at import on Python versions Google no longer
    updates it for (3.10): stderr holds one line per problem, so that notice is not repeated.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            import google.auth
            import google.cloud.kms_v1  # noqa: F401
            import google_crc32c  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            f"gcpkms: keys need Google's Cloud KMS SDK, which is not installed ({error.name})",
            hint=f"Install it with {GCP_EXTRA_HINT}",
        ) from None


class _DeadlineTimeout:
    """A google-api-core timeout decorator: each attempt's ``timeout=`` is ``(connect, read)``
    cut from what is left of the deadline (raising our deadline error when nothing is)."""

    def __init__(self, deadline: Deadline, doing: str) -> None:
        self._deadline = deadline
        self._doing = doing

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def with_timeout(*args: Any, **kwargs: Any) -> Any:
            kwargs["timeout"] = self._deadline.http_timeouts(self._doing)
            return func(*args, **kwargs)

        return with_timeout


def _retryable(error: BaseException) -> bool:
    """Quota, server errors and connection failures: the same call may succeed in a moment. A TLS
    failure will not."""
    import requests
    from google.api_core import exceptions as api

    if isinstance(error, requests.exceptions.SSLError):
        return False
    return isinstance(
        error,
        (
            api.TooManyRequests,
            api.ServerError,
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
        ),
    )


class GcpKmsClient:
    """Cloud KMS calls for one command: ``asymmetricSign`` and ``getPublicKey``."""

    def __init__(self, endpoint: str | None, deadline: Deadline) -> None:
        """``endpoint``: ``scheme://host[:port]`` (checked by ``config.gcpkms_uri``), or None for
        Google's. Nothing is looked up until the first call."""
        self.endpoint = endpoint
        self._deadline = deadline
        self._client: Any = None
        self.identity = ""

    def __repr__(self) -> str:
        return f"GcpKmsClient({self.endpoint or 'cloudkms.googleapis.com'!r})"

    def _sdk_client(self, call: GcpKmsCall) -> Any:
        if self._client is None:
            import google.auth
            from google.auth.exceptions import GoogleAuthError
            from google.cloud import kms_v1

            try:
                credentials, _ = google.auth.default(scopes=[CLOUDKMS_SCOPE])
            except GoogleAuthError as error:  # DefaultCredentialsError, a malformed file
                raise translate_gcpkms_error(error, call) from None
            self.identity = str(getattr(credentials, "service_account_email", "") or "")
            options = {"api_endpoint": self.endpoint} if self.endpoint else None
            self._client = kms_v1.KeyManagementServiceClient(
                credentials=credentials, transport="rest", client_options=options
            )
        return self._client

    def call(self, call: GcpKmsCall, method: str, request: dict[str, Any]) -> Any:
        """``method`` of the SDK client (``asymmetric_sign``, ``get_public_key``) with
        ``request``, within the deadline; failures become our errors (``gcpkms_errors``)."""
        from google.api_core.retry import Retry

        doing = f"calling Cloud KMS {call.method}"
        left = self._deadline.check(doing)
        client = self._sdk_client(call)
        call = GcpKmsCall(call.method, call.permission, call.key, self.identity)
        retried: list[BaseException] = []
        retry = Retry(
            predicate=_retryable,
            initial=RETRY_INITIAL_SECONDS,
            maximum=RETRY_MAXIMUM_SECONDS,
            multiplier=2.0,
            timeout=left,
            on_error=retried.append,
        )
        try:
            return getattr(client, method)(
                request=request, retry=retry, timeout=_DeadlineTimeout(self._deadline, doing)
            )
        except Exception as error:
            from ..errors import CredProcError

            if isinstance(error, CredProcError):
                # The deadline passed between two attempts: say what kept failing.
                if retried:
                    raise gave_up(retried[-1], call) from None
                raise
            # from None: requests' exceptions keep the request, whose headers hold the token.
            raise translate_gcpkms_error(error, call) from None
