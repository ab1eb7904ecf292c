"""``obtain_credential``: a fresh credential for one command's settings. No printing, no exit codes.

The composition root (``compose.py``) builds the command's token cache and login; the cache serves
a fresh token it keeps, or takes the identity's lock, looks again (another process may just have
logged in), and only then logs in once and saves (kubelogin's get-token flow).
"""

from __future__ import annotations

from collections.abc import Mapping

from .cache.port import Outcome
from .clock import Clock
from .compose import CredentialPipeline
from .config.settings import Settings

__all__ = ["Outcome", "obtain_credential"]


def obtain_credential(
    settings: Settings,
    *,
    clock: Clock,
    environ: Mapping[str, str],
) -> Outcome:
    """A fresh credential: from the cache when it has one, else from a single login."""
    return CredentialPipeline(settings, clock=clock, environ=environ).obtain()
