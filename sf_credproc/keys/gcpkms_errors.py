"""Cloud KMS's failures, as our errors and exit codes, each with the fix.

Google's REST errors carry an HTTP status and a canonical code ("Cloud APIs: Errors", google.rpc.Code),
which google-api-core raises as one exception class per status: 400 ``BadRequest`` (INVALID_ARGUMENT,
FAILED_PRECONDITION: a disabled or destroyed version, a key that is not for asymmetric signing),
401 ``Unauthorized`` (credentials Google does not accept), 403 ``Forbidden`` (PERMISSION_DENIED;
Cloud KMS also answers it for a key the caller may not see), 404 ``NotFound``, 429
``TooManyRequests`` (RESOURCE_EXHAUSTED: quota), 5xx ``ServerError`` (INTERNAL, UNAVAILABLE,
DEADLINE_EXCEEDED). Quota and server errors are transient (exit 5); the others need a change by
someone (exit 3). A refused or timed-out connection arrives as a raw requests exception; when the
SDK's retries (``gcpkms_client``) ran out of time, as ``RetryError`` around the last failure.
Google's ``message`` is quoted bounded and printable, never more of a body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, CredProcError, KeySourceError, TransientError
from ..oauth.oauth_errors import untrusted_line

#: How much of Google's own message an error line quotes.
MAX_QUOTED = 200
ADC_HINT = (
    "Give the process Application Default Credentials: gcloud auth application-default login "
    "(a person), GOOGLE_APPLICATION_CREDENTIALS=/path/to/key-or-workload-identity-config.json, "
    "or an attached service account (Compute Engine, GKE, Cloud Run)"
)
GCP_EXTRA_HINT = "pip install 'sf-credproc[gcp]'"
#: The shipped custom role (``iam/``) and Google's predefined role that grant each permission.
_ROLES = {
    "cloudkms.cryptoKeyVersions.useToSign": "the custom role in iam/gcp-kms-signer-role.yaml, "
    "or roles/cloudkms.signer",
    "cloudkms.cryptoKeyVersions.viewPublicKey": "the custom role in iam/gcp-kms-setup-role.yaml "
    "(cert and doctor only), or roles/cloudkms.signerVerifier",
}


@dataclass(frozen=True)
class GcpKmsCall:
    """What one call is about, for messages: the REST method, the IAM permission it needs, the key
    (``gcpkms:...``), and who asked (the credentials' account, when they name one)."""

    method: str
    permission: str
    key: str
    identity: str = ""

    @property
    def who(self) -> str:
        return self.identity or "the Application Default Credentials' identity"


def translate_gcpkms_error(error: BaseException, call: GcpKmsCall) -> CredProcError:
    """The error for a failed ``call``: ``error`` is what the SDK or google-auth raised."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    if isinstance(error, api.RetryError):
        return gave_up(error.cause, call)
    if isinstance(error, auth.DefaultCredentialsError):
        return ConfigError(
            "no Google Application Default Credentials were found "
            f"({untrusted_line(str(error), limit=120)})",
            hint=ADC_HINT,
        )
    if isinstance(error, auth.RefreshError):
        return _refresh_error(error, call)
    if isinstance(error, auth.TransportError):
        return TransientError(
            f"cannot reach Google to get an access token for Cloud KMS {call.method} "
            f"({untrusted_line(str(error), limit=120)})",
            hint="Check the network and any proxy (HTTPS_PROXY); retry later",
        )
    if isinstance(error, requests.exceptions.SSLError):
        return ConfigError(
            f"TLS to Cloud KMS failed for {call.method} on {call.key}: the endpoint's certificate "
            "does not verify",
            hint="Check SF_CREDPROC_GCPKMS_ENDPOINT and REQUESTS_CA_BUNDLE (the CA of a "
            "TLS-inspecting proxy)",
        )
    if isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return TransientError(
            f"Cloud KMS {call.method} on {call.key}: {_network(error)}",
            hint="Check the network, any proxy (HTTPS_PROXY) and SF_CREDPROC_GCPKMS_ENDPOINT; "
            "retry later",
        )
    if isinstance(error, api.GoogleAPICallError):
        return _status_error(error, call)
    return KeySourceError(
        f"Cloud KMS {call.method} on {call.key} failed ({type(error).__name__})",
        hint="Check the key URI and the credentials",
    )


def gave_up(last: BaseException | None, call: GcpKmsCall) -> TransientError:
    """The SDK retried ``last`` (a retryable failure) until what was left of ``--timeout`` ran out:
    retrying again cannot fit."""
    import requests

    described = _describe(last) if last is not None else "no answer"
    network = isinstance(last, requests.exceptions.RequestException)
    return TransientError(
        f"Cloud KMS {call.method} on {call.key} kept failing until the deadline ({described})",
        hint="Check the network, any proxy (HTTPS_PROXY) and SF_CREDPROC_GCPKMS_ENDPOINT; retry "
        "later, or raise --timeout"
        if network
        else "Retry later, or raise --timeout; if it lasts, check the Google Cloud status page",
        retryable=False,
    )


def _status_error(error: BaseException, call: GcpKmsCall) -> CredProcError:
    from google.api_core import exceptions as api

    said = _said(error)
    if isinstance(error, api.Forbidden):
        return KeySourceError(
            f"permission denied: {call.who} may not call {call.method} on {call.key} "
            f"(HTTP 403{said})",
            hint=f"Grant {call.permission} on the key ({_ROLES.get(call.permission, 'a role')}) "
            f"to {call.who}; Cloud KMS also answers 403 for a key that does not exist, so check "
            "the name too",
        )
    if isinstance(error, api.Unauthorized):
        return KeySourceError(
            f"Google did not accept the credentials for Cloud KMS {call.method} (HTTP 401{said})",
            hint=ADC_HINT + "; renew them if they expired",
        )
    if isinstance(error, api.NotFound):
        return KeySourceError(
            f"Cloud KMS has no key version {call.key.removeprefix('gcpkms:')} (HTTP 404{said})",
            hint="Check the project, location, key ring, key and version in the key URI "
            "(gcloud kms keys versions list --key KEY --keyring RING --location LOCATION)",
        )
    if isinstance(error, api.TooManyRequests):
        return TransientError(
            f"Cloud KMS quota exceeded for {call.method} on {call.key} (HTTP 429{said})",
            hint="Retry later; if it lasts, raise the project's Cloud KMS cryptographic requests "
            "quota",
        )
    if isinstance(error, api.ServerError):
        return TransientError(
            f"Cloud KMS answered HTTP {error.code} to {call.method} on {call.key}{said}",
            hint="Retry later",
        )
    if isinstance(error, api.BadRequest):
        return KeySourceError(
            f"Cloud KMS refused {call.method} on {call.key} (HTTP 400{said})",
            hint="Check that the version is ENABLED and belongs to an asymmetric signing key "
            "with algorithm RSA_SIGN_PKCS1_2048_SHA256, _3072_ or _4096_SHA256 (gcloud kms keys "
            "versions describe)",
        )
    return KeySourceError(
        f"Cloud KMS refused {call.method} on {call.key} (HTTP {getattr(error, 'code', '?')}{said})",
        hint="Check the key URI and the credentials' permissions",
    )


def _refresh_error(error: BaseException, call: GcpKmsCall) -> CredProcError:
    """google-auth could not get an access token (the token endpoint refused, or failed)."""
    said = untrusted_line(str(error), limit=120)
    if getattr(error, "retryable", False):
        return TransientError(
            f"Google's token endpoint failed for {call.who} ({said})", hint="Retry later"
        )
    return KeySourceError(
        f"Google refused to issue an access token for {call.who} ({said})",
        hint="The credentials are revoked, expired or malformed: " + ADC_HINT,
    )


def _said(error: BaseException) -> str:
    """Google's own ``error.message`` from the JSON error body (the SDK's ``message`` prefixes
    it with the method and the whole URL)."""
    response = getattr(error, "response", None)
    try:
        document: Any = response.json() if response is not None else {}
        message = document["error"]["message"]
    except (ValueError, TypeError, KeyError, AttributeError):
        message = None
    text = untrusted_line(message, limit=MAX_QUOTED) if isinstance(message, str) else ""
    return f": {text}" if text else ""


def _network(error: BaseException) -> str:
    import requests

    if isinstance(error, requests.exceptions.Timeout):
        return "no answer in time"
    return "cannot connect"


def _describe(error: BaseException) -> str:
    """The last failure inside a ``RetryError``, in a few words."""
    import requests

    code = getattr(error, "code", None)
    if isinstance(code, int):
        return f"last: HTTP {code}{_said(error)}"
    if isinstance(error, requests.exceptions.RequestException):
        return f"last: {_network(error)}"
    return f"last: {type(error).__name__}"
