"""``exec``'s own options besides ``--server`` (``serve_options.py``): the variables a consumer
reads its org from. Flags of the command, not settings: no variable, no profile key, and they never
decide which token is obtained (the get options do)."""

from __future__ import annotations

from .option import Option

#: ``exec --cumulusci-org NAME``: CumulusCI's ``CUMULUSCI_ORG_<NAME>`` and
#: ``CUMULUSCI_DISABLE_REFRESH=1`` (``cumulusci.py``), besides the usual variables.
CUMULUSCI_ORG = Option(
    "cumulusci_org",
    "--cumulusci-org",
    "also export CUMULUSCI_ORG_<NAME> (the org as CumulusCI reads it) and "
    "CUMULUSCI_DISABLE_REFRESH=1; NAME in lower case, as cci names the org",
    "NAME",
)
