"""The settings of the signers beyond AWS: Vault (Transit, KV), PKCS#11 and Google Cloud KMS, in the
option spec.

Spliced into ``options.py``'s tables (``GET_OPTIONS``, ``ENVIRONMENT_ONLY``), which stay the one
spec; kept apart only so that each module stays small. Vault's own variables follow the ``vault``
CLI's conventions (``VAULT_ADDR``, ``VAULT_TOKEN`` ...), read as Vault's tools read them. Secrets (the
AppRole secret id, the PIN, the Vault token) are environment-only and marked ``secret``.
"""

from __future__ import annotations

from .option import Option

VAULT_SECRET_ID_ENV = "SF_CREDPROC_VAULT_SECRET_ID"
PKCS11_PIN_ENV = "SF_CREDPROC_PKCS11_PIN"
#: Vault's own variables (the ``vault`` CLI's conventions), read as Vault's tools read them.
VAULT_ADDR_ENV = "VAULT_ADDR"
VAULT_TOKEN_ENV = "VAULT_TOKEN"
VAULT_NAMESPACE_ENV = "VAULT_NAMESPACE"
VAULT_CACERT_ENV = "VAULT_CACERT"
VAULT_CAPATH_ENV = "VAULT_CAPATH"
#: Google Cloud KMS's endpoint (``gcpkms_uri.gcpkms_endpoint``); its credentials are Google's
#: Application Default Credentials, found as Google's libraries find them.
GCPKMS_ENDPOINT_ENV = "SF_CREDPROC_GCPKMS_ENDPOINT"

#: The signers' settings with a flag and a profile key (``get``, ``exec``, ``cert``, ``doctor``).
SIGNER_SETTINGS: tuple[Option, ...] = (
    Option(
        "vault_role_id",
        "--vault-role-id",
        "Vault AppRole role id, used when neither VAULT_TOKEN nor ~/.vault-token holds a token",
        "ROLE_ID",
        "SF_CREDPROC_VAULT_ROLE_ID",
        in_profile=True,
        doc="Vault AppRole role id, used when neither `VAULT_TOKEN` nor `~/.vault-token` holds a "
        "token (see [Vault](#vault-and-openbao-transit-and-kv))",
        readme_default="none",
    ),
    Option(
        "vault_secret_id_file",
        "--vault-secret-id-file",
        f"file holding the AppRole secret id (else {VAULT_SECRET_ID_ENV})",
        "FILE",
        "SF_CREDPROC_VAULT_SECRET_ID_FILE",
        in_profile=True,
        doc=f"file holding the AppRole secret id (else `{VAULT_SECRET_ID_ENV}`; never a flag's "
        "value)",
        readme_default="none",
    ),
    Option(
        "vault_approle_mount",
        "--vault-approle-mount",
        "mount path of the AppRole auth method",
        "MOUNT",
        "SF_CREDPROC_VAULT_APPROLE_MOUNT",
        in_profile=True,
        default="approle",
    ),
    Option(
        "pkcs11_module",
        "--pkcs11-module",
        "absolute path of the PKCS#11 module (a pkcs11: URI's module-path wins)",
        "PATH",
        "SF_CREDPROC_PKCS11_MODULE",
        in_profile=True,
        doc="absolute path of the PKCS#11 module, owned by root or you and writable by no one "
        "else (a `pkcs11:` URI's `module-path` wins; see [PKCS#11](#pkcs11-hsms-and-tokens))",
        readme_default="none",
    ),
    Option(
        "pkcs11_pin_file",
        "--pkcs11-pin-file",
        f"file holding the token's PIN (a URI's pin-source wins; else {PKCS11_PIN_ENV})",
        "FILE",
        "SF_CREDPROC_PKCS11_PIN_FILE",
        in_profile=True,
        doc=f"file holding the token's PIN (a URI's `pin-source` wins; else `{PKCS11_PIN_ENV}`)",
        readme_default="none",
    ),
)

#: The signers' settings read from the environment only.
SIGNER_ENVIRONMENT: tuple[Option, ...] = (
    Option(
        "vault_secret_id",
        None,
        "the Vault AppRole secret id",
        env=VAULT_SECRET_ID_ENV,
        secret=True,
        doc="the Vault AppRole secret id (or `--vault-secret-id-file`)",
        readme_default="none",
    ),
    Option(
        "pkcs11_pin",
        None,
        "the PKCS#11 token's PIN",
        env=PKCS11_PIN_ENV,
        secret=True,
        doc="the PKCS#11 token's PIN (or `--pkcs11-pin-file`, or the URI's `pin-source`; "
        "`pin-value` is refused everywhere)",
        readme_default="none",
    ),
    Option(
        "vault_addr",
        None,
        "the Vault or OpenBao server",
        env=VAULT_ADDR_ENV,
        doc="the Vault or OpenBao server, `https://HOST:PORT` (plain `http` only to loopback)",
        readme_default="`https://127.0.0.1:8200`",
    ),
    Option(
        "vault_token",
        None,
        "a Vault token",
        env=VAULT_TOKEN_ENV,
        secret=True,
        doc="a Vault token; else the token file `~/.vault-token` (Vault Agent's sink), else AppRole",
        readme_default="none",
    ),
    Option(
        "vault_namespace",
        None,
        "the Vault Enterprise namespace",
        env=VAULT_NAMESPACE_ENV,
        doc="the Vault Enterprise namespace (`X-Vault-Namespace`)",
        readme_default="none",
    ),
    Option(
        "vault_cacert",
        None,
        "a CA bundle for TLS to Vault",
        env=VAULT_CACERT_ENV,
        doc="a PEM CA bundle for TLS to Vault",
        readme_default="the system's CA store (certifi)",
    ),
    Option(
        "vault_capath",
        None,
        "a directory of CA certificates for TLS to Vault",
        env=VAULT_CAPATH_ENV,
        doc="a directory of CA certificates (`c_rehash` layout) for TLS to Vault, when "
        "`VAULT_CACERT` is unset",
        readme_default="none",
    ),
    Option(
        "gcpkms_endpoint",
        None,
        "the Cloud KMS endpoint of gcpkms: keys",
        env=GCPKMS_ENDPOINT_ENV,
        doc="the Cloud KMS endpoint of `gcpkms:` keys, `https://HOST[:PORT]` (a private endpoint; "
        "plain `http` only to loopback; see [Google Cloud KMS](#google-cloud-kms))",
        readme_default="`https://cloudkms.googleapis.com`",
    ),
)
