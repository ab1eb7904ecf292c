"""One line of ``doctor``'s report, and the probe its key checks sign."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CredProcError, ExitStatus

PROBE = b"sf-credproc doctor: does this key sign RS256?"


@dataclass(frozen=True)
class Check:
    """One line of the report; a FAILED check's ``exit_status`` is the code ``get`` would exit
    with for the same problem."""

    name: str
    status: str  # "ok", "FAILED" or "skipped"
    detail: str
    fix: str = ""
    exit_status: ExitStatus = ExitStatus.OK


def failed(name: str, error: CredProcError) -> Check:
    """The FAILED line for ``error``: its message, its fix and the exit code ``get`` would give."""
    return Check(name, "FAILED", error.message, error.hint or "", error.exit_status)
