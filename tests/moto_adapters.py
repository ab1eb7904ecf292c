"""Test-only adapters for two known gaps of moto's server, each documented where it is used.

1. IAM enforcement checks KMS and Secrets Manager actions against resource ``*``, so a policy scoped
   to one key or secret ARN is always denied there. moto consults a response class's
   ``_determine_resource`` when it has one; ``resource_arns_for_iam`` supplies it for the calls
   sf-credproc makes. (Conditions are still not evaluated: the tests assert them on the documents.)
2. DynamoDB's conditional writes are atomic; moto's are not (its server threads can both pass a
   condition before either writes: about 1 race in 150 with 16 writers under load). The fleet-wide
   lease relies on that atomicity, so ``atomic_dynamodb_writes`` serialises moto's item writes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
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


_WRITE_LOCK = threading.Lock()


@contextlib.contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    originals = {
        name: getattr(DynamoDBBackend, name) for name in ("put_item", "update_item", "delete_item")
    }

    def serialised(method: Any) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            with _WRITE_LOCK:
                return method(*args, **kwargs)

        return call

    for name, method in originals.items():
        setattr(DynamoDBBackend, name, serialised(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(DynamoDBBackend, name, method)
