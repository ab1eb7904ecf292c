"""The ``KeySource`` port: where the signing key of ``--key`` comes from.

One adapter per URI scheme (``file_source.py``, ``env_source.py``, ``secrets_manager_source.py``,
``ssm_source.py``, ``kms_source.py``, ``transit_source.py``, ``vault_kv_source.py``,
``pkcs11_source.py``, and ``plugin_source.py`` for any other scheme), chosen once per command by
``registry.py``, as google-auth's ``identity_pool`` chooses its subject-token supplier in the
constructor. Every adapter yields a cryptography ``RSAPrivateKey``: a key loaded locally, or a
``remote_key.RemoteRsaPrivateKey`` whose ``sign()`` calls the signer (KMS, Transit, the HSM, the
plugin). So assertions (PyJWT) and certificates (``CertificateBuilder``) share one signing path,
whatever holds the key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..clock import Clock
    from ..config.key_uri import KeyUri
    from ..config.settings import Settings
    from ..deadline import Deadline


class AwsClientFactory(Protocol):
    """Makes boto3 clients cut to the command's deadline (``aws.AwsClients`` is one)."""

    def client(self, service: str, *, region: str | None = None) -> Any: ...


class KeySource(Protocol):
    """Where one signing key lives. ``load_key`` reads it afresh on every call (a retry after a
    transient failure calls it again); it raises ``KeySourceError``, ``ConfigError`` or
    ``TransientError``, never with key material in the message."""

    def load_key(self) -> RSAPrivateKey: ...


@dataclass(frozen=True, eq=False)  # a context, compared by identity
class KeySourceContext:
    """What an adapter may use besides its URI. New backends add fields here with defaults, so
    that the adapters already written need no change."""

    #: AWS clients, made lazily: only the AWS adapters call it.
    aws: AwsClientFactory
    environ: Mapping[str, str] = field(repr=False)
    #: ``SF_CREDPROC_KEY_PASSPHRASE``: unlocks ``file:`` and ``env:`` keys only.
    passphrase: str | None = field(default=None, repr=False)
    #: The command's deadline and clock: every call to a signer ends within it (``None`` only in
    #: tests of adapters that make no call).
    deadline: Deadline | None = None
    clock: Clock | None = None
    #: The resolved settings (Vault AppRole, the PKCS#11 module and PIN, the CA bundle).
    settings: Settings | None = field(default=None, repr=False)
    #: Run when the command is done with the key (``compose.open_key_source``): an adapter
    #: registers here what must not outlive it (revoking a Vault token it logged in for, closing an
    #: HSM session).
    cleanup: ExitStack = field(default_factory=ExitStack, repr=False, compare=False)


#: Builds the adapter for one parsed URI of its scheme; called once per command.
KeySourceFactory = Callable[["KeyUri", KeySourceContext], KeySource]
