"""The shapes a credential is printed in (``--format``), one per kind of consumer.

``json`` is the versioned contract (``Credential.to_json``); the others are derived from the same
``Credential``. Values are quoted for the consumer that reads them (POSIX shell for ``env``), never
interpolated raw. What one format needs (``shlex``, CumulusCI's shape) is imported by that format:
every cold ``get`` imports this module.
"""

from __future__ import annotations

import json
import re

from .credential import Credential, format_rfc3339
from .errors import ConfigError, InternalError

FORMATS = ("json", "env", "token", "header", "github", "sf", "cumulusci")
#: Formats whose output depends only on the credential (``github`` also writes a file).
PURE_FORMATS = ("json", "env", "token", "header", "sf", "cumulusci")
#: A Salesforce session id (the org id, ``!``, the rest): what ``sf`` takes as an org in place of a
#: username (``@salesforce/core``'s ``accessTokenRegex``). It does not take a JWT-based access
#: token there (``@salesforce/cli`` 2.134.6 answers "No default environment found").
_SESSION_ID = re.compile(r"00D\w{12,15}!")


def environment_variables(credential: Credential) -> dict[str, str]:
    """The variables ``env``, ``github`` and ``exec`` provide, as the Salesforce CLI reads them.

    ``SF_TARGET_ORG`` (sf's default org) set to a session id, with ``SF_ORG_INSTANCE_URL``, makes
    ``sf`` use the token as the org itself, writing no auth file. It is left out for a JWT-based
    access token, which sf would not take: set, it would hide the user's own default org (say,
    one logged in with ``sf org login access-token``, which reads ``SF_ACCESS_TOKEN``).
    """
    token = credential.access_token
    instance_url = credential.instance_url
    variables = {
        "SF_ACCESS_TOKEN": token,
        "SF_INSTANCE_URL": instance_url,
        "SF_TARGET_ORG": token,
        "SF_ORG_INSTANCE_URL": instance_url,
        "SFDX_ACCESS_TOKEN": token,
        "SFDX_INSTANCE_URL": instance_url,
        "SF_CREDPROC_EXPIRATION": format_rfc3339(credential.expiration),
    }
    if not _SESSION_ID.match(token):
        del variables["SF_TARGET_ORG"]
    return variables


def render(credential: Credential, format_name: str) -> str:
    """The text to print for ``format_name``; ``json`` is the line the caches keep."""
    if format_name == "json":
        return credential.to_json() + "\n"
    token = credential.access_token
    if format_name == "token":
        return token + "\n"
    if format_name == "header":
        return f"Authorization: Bearer {token}\n"
    if format_name == "env":
        import shlex

        variables = environment_variables(credential)
        return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items())
    if format_name == "sf":
        # For scripts written against sf: `sf org auth show-access-token --json` (in CLIs newer
        # than 2.134.6, whose `org display` redacts the token) prints {"status", "result":
        # {"accessToken"}, "warnings"}; the other keys are named as `sf org login access-token
        # --json` and `sf org display --json` name them.
        result = {
            "accessToken": token,
            "instanceUrl": credential.instance_url,
            "username": credential.username,
            "orgId": credential.org_id,
        }
        return json.dumps({"status": 0, "result": result, "warnings": []}) + "\n"
    if format_name == "cumulusci":
        # The value CumulusCI reads from CUMULUSCI_ORG_<NAME> (why these fields: cumulusci.py).
        from .cumulusci import org_json

        return org_json(credential) + "\n"
    if format_name == "github":
        # Masking is a workflow command on stdout; the variables go to $GITHUB_ENV.
        return f"::add-mask::{token}\n"
    raise ConfigError(f"unknown --format {format_name!r}", hint="Use one of: " + ", ".join(FORMATS))


def github_env_lines(credential: Credential) -> str:
    """``NAME=value`` lines for ``$GITHUB_ENV`` (GitHub Actions' environment file)."""
    variables = environment_variables(credential)
    for name, value in variables.items():
        if "\n" in value or "\r" in value:
            # A newline would let a value define further variables in the file.
            raise InternalError(f"{name} contains a line break", hint="This is a bug; report it")
    return "".join(f"{name}={value}\n" for name, value in variables.items())
