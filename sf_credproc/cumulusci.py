"""CumulusCI's org from the environment: ``CUMULUSCI_ORG_<NAME>`` holding the org's JSON.

CumulusCI (4.10) loads every variable named ``CUMULUSCI_ORG_<NAME>`` as an org called ``<name>``
(the suffix lower-cased) whose config is the variable's JSON
(``cumulusci/core/keychain/encrypted_file_project_keychain.py``,
``EncryptedFileProjectKeychain._load_org_from_environment``; ``EnvironmentProjectKeychain`` is now
that class). With ``CUMULUSCI_DISABLE_REFRESH`` set, ``OrgConfig.refresh_oauth_token`` never logs in
with keys of its own: it only reads ``/services/oauth2/userinfo`` and the ``Organization`` record
with the access token it was given (``cumulusci/core/config/org_config.py``).

The fields below are the ones ``OrgConfig`` reads for a persistent (non-scratch) org, and no others:

- ``access_token``: the ``Authorization: Bearer`` of every call (``salesforce_client``,
  ``latest_api_version``, ``_load_userinfo``);
- ``instance_url``: where those calls go (and ``get_domain``, ``lightning_base_url``);
- ``id``: the identity URL ``https://HOST/id/<org id>/<user id>``; ``OrgConfig.user_id`` is its
  last segment, and ``org_id`` falls back to the one before it;
- ``org_id``: read first by ``OrgConfig.org_id`` (``Organization.get(org_id)`` on every refresh);
- ``username``: ``OrgConfig.username`` (which else waits for ``userinfo``), and the org's cache
  directory (``get_orginfo_cache_dir``).

Left out on purpose: ``scratch`` (absent means a persistent org, which is what this is),
``expires`` (for a persistent org it is the *org's* trial expiry, ``"Persistent"`` or a date, set
by ``populate_expiration_date``; the token's expiry is no part of it), and ``refresh_token`` /
``client_id`` / ``client_secret`` (there is nothing for CumulusCI to refresh with: this tool
refreshes, and ``CUMULUSCI_DISABLE_REFRESH`` keeps CumulusCI from trying).
"""

from __future__ import annotations

import json
import re

from .credential import Credential
from .errors import ConfigError

ORG_VARIABLE_PREFIX = "CUMULUSCI_ORG_"
DISABLE_REFRESH_VARIABLE = "CUMULUSCI_DISABLE_REFRESH"
#: An org name CumulusCI reads back from a portable variable name: CumulusCI lower-cases the
#: suffix, and POSIX variable names are letters, digits and underscores.
_ORG_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")


def org_config(credential: Credential) -> dict[str, str]:
    """The org's config as CumulusCI reads it (the module docstring says why each field)."""
    config = {
        "access_token": credential.access_token,
        "instance_url": credential.instance_url,
        "id": credential.id_url,
        "org_id": credential.org_id,
        "username": credential.username,
    }
    # An empty org id or identity URL would only hide CumulusCI's own fallbacks.
    return {name: value for name, value in config.items() if value}


def org_json(credential: Credential) -> str:
    """The value of ``CUMULUSCI_ORG_<NAME>``: one line of JSON."""
    return json.dumps(org_config(credential))


def org_variable(name: str) -> str:
    """``CUMULUSCI_ORG_DEV`` for the org ``dev``; a name CumulusCI could not read back is exit 2.

    CumulusCI names the org after the variable's suffix, lower-cased: ``--cumulusci-org Dev``
    would export an org that ``cci org info Dev`` cannot find, so only the lower-case spelling is
    accepted, and the error suggests it.
    """
    if _ORG_NAME.fullmatch(name):
        return ORG_VARIABLE_PREFIX + name.upper()
    suggestion = re.sub(r"[^a-z0-9_]", "_", name.lower()).strip("_")[:64]
    example = suggestion if _ORG_NAME.fullmatch(suggestion) else "dev"
    raise ConfigError(
        f"--cumulusci-org {name[:80]!r} is not an org name CumulusCI reads from a variable",
        hint=f"Use lower-case letters, digits and underscores, as CumulusCI names the org: "
        f"--cumulusci-org {example} (exported as {ORG_VARIABLE_PREFIX}{example.upper()})",
    )


def environment_variables(credential: Credential, name: str) -> dict[str, str]:
    """What ``exec --cumulusci-org NAME`` adds: the org's JSON, and no refresh by CumulusCI."""
    return {org_variable(name): org_json(credential), DISABLE_REFRESH_VARIABLE: "1"}
