"""``sf-credproc cache list``, ``cache clear`` and ``logout``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any, TextIO

from ..cache.files import FileTokenCache, describe_entry
from ..clock import Clock
from ..deadline import Deadline
from ..errors import ConfigError, ExitStatus
from ..log import one_line
from . import watchdog

IDENTITY = frozenset({"client_id", "username"})


def run_cache_command(
    flags: dict[str, Any], environ: Mapping[str, str], out: TextIO, err: TextIO, clock: Clock
) -> int:
    if flags["command"] == "logout":
        return _logout(flags, environ, err, clock)
    if flags.get("cache_command") == "list":
        return _list(flags, environ, out, clock)
    if flags.get("cache_command") == "clear":
        return _clear(flags, environ, err, clock)
    raise ConfigError("cache needs an action", hint="Use 'sf-credproc cache list' or 'cache clear'")


def _list(flags: dict[str, Any], environ: Mapping[str, str], out: TextIO, clock: Clock) -> int:
    from ..config.settings import resolve_cache_view

    directory, min_ttl, session_ttl = resolve_cache_view(flags, environ)
    now = clock.time()
    rows = [
        describe_entry(entry, now, min_ttl, session_ttl)
        for entry in FileTokenCache(directory).entries()
    ]
    if flags.get("json"):
        for row in rows:
            out.write(json.dumps(row) + "\n")
        return ExitStatus.OK
    out.write(f"cache: {directory} ({len(rows)} {'entry' if len(rows) == 1 else 'entries'})\n")
    for row in rows:
        out.write(
            f"{row['expiration']}  {row['state']:<11}  {row['username']}  {row['login_url']}  "
            f"aud={row['audience']}  client_id={row['client_id']}\n"
        )
    return ExitStatus.OK


def _clear(flags: dict[str, Any], environ: Mapping[str, str], err: TextIO, clock: Clock) -> int:
    from ..compose import cache_identity, shared_item_of
    from ..config.settings import resolve_cache_dir, resolve_settings

    if flags.get("all"):
        # Every local entry; shared items are per identity (use clear without --all for those).
        directory = resolve_cache_dir(flags, environ)
        removed = FileTokenCache(directory).clear()
        _say(err, f"removed {removed} cached token(s) from {directory}")
        return ExitStatus.OK
    settings = resolve_settings(flags, environ, needs=IDENTITY)
    cache = FileTokenCache(settings.cache_dir)
    identity = cache_identity(settings)
    removed = cache.delete(identity)
    what = "removed the cached token" if removed else "no cached token"
    also = ""
    if settings.shared_table:
        watchdog.arm(settings.timeout_seconds)
        deadline = Deadline(settings.timeout_seconds, clock)
        also = shared_item_of(settings, identity, deadline, clock).delete_or_warn(
            err, settings.username
        )
    _say(err, f"{what} for {settings.username} at {settings.login_url.base}{also}")
    return ExitStatus.OK


def _say(err: TextIO, message: str) -> None:
    """One line on stderr, even when a setting quoted in it holds a line break."""
    err.write(f"sf-credproc: {one_line(message)}\n")


def _logout(flags: dict[str, Any], environ: Mapping[str, str], err: TextIO, clock: Clock) -> int:
    from ..compose import cache_identity, shared_item_of
    from ..config.settings import resolve_settings
    from ..oauth.exchange import revoke_token

    settings = resolve_settings(flags, environ, needs=IDENTITY)
    watchdog.arm(settings.timeout_seconds)
    deadline = Deadline(settings.timeout_seconds, clock)
    cache = FileTokenCache(settings.cache_dir)
    identity = cache_identity(settings)
    entry = cache.read(identity)
    tokens = [entry.credential.access_token] if entry is not None else []
    shared = None
    if settings.shared_table:
        shared = shared_item_of(settings, identity, deadline, clock)
        # Another machine may have logged in since this one did: its token is revoked too.
        shared_token = shared.read_token()
        if shared_token is not None and shared_token not in tokens:
            tokens.append(shared_token)
    revoked = []
    with shared.share.paused() if shared is not None else contextlib.nullcontext():
        for token in tokens:  # Salesforce unreachable: exit 5 here, both tiers kept for a retry
            revoked.append(
                revoke_token(
                    token,
                    settings.login_url.revoke_endpoint,
                    deadline=deadline,
                    ca_bundle=settings.ca_bundle,
                )
            )
    cache.delete(identity)
    also = shared.delete_or_warn(err, settings.username) if shared is not None else ""
    if not tokens:
        _say(err, f"no cached token for {settings.username}; nothing to revoke{also}")
        return ExitStatus.OK
    state = "revoked" if any(revoked) else "was already invalid at Salesforce"
    count = (
        f" ({len(tokens)} tokens: this machine's and the shared cache's)" if len(tokens) > 1 else ""
    )
    _say(err, f"the session of {settings.username} {state}{count}; cache entry deleted{also}")
    return ExitStatus.OK
