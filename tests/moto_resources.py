"""A test-only adapter: let moto's IAM enforcement see the real resource ARN of a call.

moto's server checks KMS and Secrets Manager actions against resource ``*`` (a known gap), so a
policy scoped to one key or secret ARN is always denied there. moto consults a response class's
``_determine_resource`` when it has one; this adapter supplies it for the calls sf-credproc makes.
Conditions are still not evaluated by moto: the tests assert them on the policy documents.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from moto.kms.responses import KmsResponse
from moto.secretsmanager.responses import SecretsManagerResponse


def _kms_resource(self: Any) -> str:
    try:
        arn: str = self.kms_backend.describe_key(self._get_param("KeyId")).arn
    except Exception:  # noqa: BLE001 - an unknown key: let moto answer NotFound as usual
        return "*"
    return arn


def _secret_resource(self: Any) -> str:
    try:
        arn: str = self.backend.describe_secret(self._get_param("SecretId")).arn
    except Exception:  # noqa: BLE001 - an unknown secret: let moto answer as usual
        return "*"
    return arn


@contextlib.contextmanager
def resource_arns_for_iam() -> Iterator[None]:
    KmsResponse._determine_resource = _kms_resource  # type: ignore[attr-defined]
    SecretsManagerResponse._determine_resource = _secret_resource  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del KmsResponse._determine_resource  # type: ignore[attr-defined]
        del SecretsManagerResponse._determine_resource  # type: ignore[attr-defined]
