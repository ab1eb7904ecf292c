"""AWS failures translated into our errors, with the permission or setting that fixes them.

AWS denies access in two shapes: real KMS, Secrets Manager and SSM answer HTTP 400 with
``AccessDeniedException``, while some endpoints (and IAM-enforcing emulators) answer HTTP 403 with an
XML body. Both become one ``KeySourceError`` naming the action and resource that need a permission.
Imported by the adapters that call AWS only (it loads ``botocore.exceptions``).
"""

from __future__ import annotations

from typing import NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ConfigError, CredProcError, KeySourceError, TransientError

#: Error codes that mean "slow down" or "we had a problem": worth retrying later (exit 5).
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ThrottledException",
        "KMSInternalException",
        "KeyUnavailableException",
        "DependencyTimeoutException",
        "InternalServiceError",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "403"})
#: What a boto3 call raises: to be passed to ``translate_aws_error``.
AWS_ERRORS = (BotoCoreError, ClientError)


class AwsTarget(NamedTuple):
    """What a call is about, for error messages: ``kms:Sign`` on ``kms:alias/sf``."""

    action: str
    resource: str
    #: Extra permissions the call needs behind the scenes (``kms:Decrypt`` for secrets).
    also_needs: str = ""


def translate_aws_error(error: BotoCoreError | ClientError, target: AwsTarget) -> CredProcError:
    """Turn a botocore exception into a ``KeySourceError`` or ``TransientError`` with the fix."""
    import botocore.exceptions as bex

    where = target.resource
    if isinstance(error, bex.NoCredentialsError | bex.PartialCredentialsError):
        return KeySourceError(
            f"no AWS credentials were found to read {where}",
            hint="Run with an IAM role, set AWS_PROFILE/--aws-profile, or set AWS_ACCESS_KEY_ID",
        )
    if isinstance(error, bex.ProfileNotFound):
        return ConfigError(str(error), hint="Fix --aws-profile or AWS_PROFILE")
    if isinstance(error, bex.NoRegionError):
        return ConfigError(
            f"no AWS region is configured for {where}",
            hint="Pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or name the key by its ARN",
        )
    if isinstance(error, bex.ConnectTimeoutError | bex.ReadTimeoutError):
        return TransientError(
            f"AWS did not answer in time while reading {where}", hint="Retry later"
        )
    if isinstance(error, bex.EndpointConnectionError | bex.ConnectionError):
        return TransientError(f"could not connect to AWS to read {where}", hint="Check the network")
    if isinstance(error, bex.ClientError):
        return _translate_client_error(error, target)
    if isinstance(error, bex.BotoCoreError):
        return TransientError(
            f"AWS call for {where} failed ({type(error).__name__})", hint="Retry later"
        )
    raise error


def aws_error_code(error: BaseException) -> str | None:
    """The AWS error code (``AccessDeniedException``...) of a botocore exception, if it has one.

    Timeouts and dropped connections carry no response (or ``response = None``), so nothing
    about its shape is assumed.
    """
    response = getattr(error, "response", None)
    details = response.get("Error") if isinstance(response, dict) else None
    code = details.get("Code") if isinstance(details, dict) else None
    return str(code) if code else None


def _translate_client_error(error: ClientError, target: AwsTarget) -> CredProcError:
    code = aws_error_code(error) or ""
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    where = target.resource
    if code in ACCESS_DENIED_CODES or status == 403:
        needs = target.action + (f" (and {target.also_needs})" if target.also_needs else "")
        return KeySourceError(
            f"AWS denied {target.action} on {where} ({code or status})",
            hint=f"Grant the caller's IAM role {needs} on that resource",
        )
    if code in TRANSIENT_CODES or (isinstance(status, int) and status >= 500):
        return TransientError(f"AWS answered {code or status} for {where}", hint="Retry later")
    explanation = _KNOWN_ERRORS.get(code)
    if explanation is not None:
        problem, fix = explanation
        return KeySourceError(f"{where}: {problem} ({code})", hint=fix)
    return KeySourceError(
        f"AWS refused {target.action} on {where} ({code or status})",
        hint="Check the key source and its permissions",
    )


_WRONG_KMS_KEY = (
    "is not an RSA signing key",
    "Use a KMS key with KeySpec RSA_2048, RSA_3072 or RSA_4096 and KeyUsage SIGN_VERIFY",
)
_KNOWN_ERRORS: dict[str, tuple[str, str]] = {
    "NotFoundException": (
        "no such KMS key or alias in this account and region",
        "Check the key id, alias and --region",
    ),
    "DisabledException": (
        "the KMS key is disabled",
        "Enable the key (aws kms enable-key) or use another",
    ),
    "KMSInvalidStateException": (
        "the KMS key is pending deletion or otherwise unusable",
        "Cancel the deletion (aws kms cancel-key-deletion) or use another key",
    ),
    "InvalidKeyUsageException": _WRONG_KMS_KEY,
    "ValidationException": _WRONG_KMS_KEY,
    "UnsupportedOperationException": _WRONG_KMS_KEY,
    "ResourceNotFoundException": (
        "no such secret in this account and region",
        "Check the secret name or ARN and --region",
    ),
    "DecryptionFailure": (
        "Secrets Manager could not decrypt the secret with its KMS key",
        "Grant kms:Decrypt on the secret's KMS key (with kms:ViaService for Secrets Manager)",
    ),
    "InvalidRequestException": (
        "the secret cannot be read (it may be scheduled for deletion)",
        "Restore the secret (aws secretsmanager restore-secret) or use another",
    ),
    "ParameterNotFound": (
        "no such SSM parameter in this account and region",
        "Check the name and --region",
    ),
    "ParameterVersionNotFound": ("no such SSM parameter version", "Check the parameter name"),
    "InvalidKeyId": (
        "the parameter's KMS key is invalid or disabled",
        "Check the KMS key that encrypts the SecureString",
    ),
}
