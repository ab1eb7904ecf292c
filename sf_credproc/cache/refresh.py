"""Refresh windows: when a kept token is served, refreshed first, or kept after a failed refresh.

botocore's ``RefreshableCredentials`` is the model (an advisory window in which a failed refresh
keeps the current credentials, a mandatory one in which it fails), with the AWS SDKs' jitter
(``disk.advisory_seconds``). What each state does when the refresh fails:

============  ==================  =====================================  ==================
state         transient (exit 5)  login rate limit / cool-down (exit 5)  permanent (2, 3, 4)
============  ==================  =====================================  ==================
advisory      serve, one warning  serve (a cool-down: silently)          fail
mandatory     fail                serve, one warning                     fail
expired       fail                fail                                   fail
============  ==================  =====================================  ==================

``--refresh`` forces a login and never falls back. Every tier and the Python API apply this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import log
from ..clock import Clock
from ..credential import Credential, format_rfc3339
from ..errors import CoolingDown, LoginRateLimited, TransientError
from .disk import ADVISORY, MANDATORY, advisory_seconds, refresh_state


@dataclass(frozen=True)
class RefreshWindows:
    """The windows one identity's tokens are judged by on one host."""

    #: ``--min-ttl`` with this host's jitter.
    advisory_seconds: int
    mandatory_seconds: int
    session_ttl_seconds: int

    @classmethod
    def of(
        cls,
        *,
        min_ttl_seconds: int,
        mandatory_ttl_seconds: int,
        session_ttl_seconds: int,
        identity_stem: str,
        host: str,
    ) -> RefreshWindows:
        return cls(
            advisory_seconds(min_ttl_seconds, identity_stem, host),
            mandatory_ttl_seconds,
            session_ttl_seconds,
        )

    def state(self, expiration: float, now: float) -> str:
        """``fresh``, ``advisory``, ``mandatory`` or ``expired`` (``disk.refresh_state``)."""
        return refresh_state(
            expiration, now, self.advisory_seconds, self.mandatory_seconds, self.session_ttl_seconds
        )


def may_keep(state: str, error: BaseException) -> bool:
    """True when a token in ``state`` may still be served after a refresh failed with ``error``."""
    if not isinstance(error, TransientError):
        return False  # a refusal, a key or configuration problem: someone must fix it
    if state == ADVISORY:
        return True
    return state == MANDATORY and isinstance(error, LoginRateLimited)


def say_kept(state: str, error: TransientError, credential: Credential, clock: Clock) -> None:
    """Say that the current token is served although its refresh failed: one ``warning:`` line,
    except in the advisory window during a cool-down, when not refreshing is the plan."""
    left = int(credential.expiration - clock.time())
    until = format_rfc3339(credential.expiration)
    if state == ADVISORY and isinstance(error, CoolingDown):
        log.info(
            "refresh",
            f"refresh: skipped ({error.message}); serving the cached token, valid until {until} "
            f"(in {left} s)",
            state=state,
        )
        return
    log.warning(
        "refresh",
        f"could not refresh the Salesforce token ({error.message}); serving the cached one, "
        f"valid until {until} (in {left} s)",
        state=state,
        expiration=until,
    )
