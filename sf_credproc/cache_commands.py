"""``sf-credproc cache list``, ``cache clear`` and ``logout``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO

from . import watchdog
from .cache import FileTokenCache, describe_entry
from .clock import Clock
from .deadline import Deadline
from .errors import ConfigError, ExitStatus
from .log import one_line

IDENTITY = frozenset({"client_id", "username"})


def run_cache_command(
    flags: dict[str, Any], environ: Mapping[str, str], out: TextIO, err: TextIO, clock: Clock
) -> int:
    if flags["command"] == "logout":
        return _logout(flags, environ, err, clock)
    if flags.get("cache_command") == "list":
        return _list(flags, environ, out, clock)
    if flags.get("cache_command") == "clear":
        return _clear(flags, environ, err)
    raise ConfigError("cache needs an action", hint="Use 'sf-credproc cache list' or 'cache clear'")


def _list(flags: dict[str, Any], environ: Mapping[str, str], out: TextIO, clock: Clock) -> int:
    from .settings import resolve_cache_view

    directory, min_ttl = resolve_cache_view(flags, environ)
    rows = [describe_entry(e, clock.time(), min_ttl) for e in FileTokenCache(directory).entries()]
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


def _clear(flags: dict[str, Any], environ: Mapping[str, str], err: TextIO) -> int:
    from .service import cache_identity
    from .settings import resolve_cache_dir, resolve_settings

    if flags.get("all"):
        directory = resolve_cache_dir(flags, environ)
        removed = FileTokenCache(directory).clear()
        _say(err, f"removed {removed} cached token(s) from {directory}")
        return ExitStatus.OK
    settings = resolve_settings(flags, environ, needs=IDENTITY)
    cache = FileTokenCache(settings.cache_dir)
    removed = cache.delete(cache_identity(settings))
    what = "removed the cached token" if removed else "no cached token"
    _say(err, f"{what} for {settings.username} at {settings.login_url.base}")
    return ExitStatus.OK


def _say(err: TextIO, message: str) -> None:
    """One line on stderr, even when a setting quoted in it holds a line break."""
    err.write(f"sf-credproc: {one_line(message)}\n")


def _logout(flags: dict[str, Any], environ: Mapping[str, str], err: TextIO, clock: Clock) -> int:
    from .exchange import revoke_token
    from .service import cache_identity
    from .settings import resolve_settings

    settings = resolve_settings(flags, environ, needs=IDENTITY)
    watchdog.arm(settings.timeout_seconds)
    cache = FileTokenCache(settings.cache_dir)
    identity = cache_identity(settings)
    entry = cache.read(identity)
    if entry is None:
        cache.delete(identity)
        _say(err, f"no cached token for {settings.username}; nothing to revoke")
        return ExitStatus.OK
    token = json.loads(entry.credential_json)["AccessToken"]
    revoked = revoke_token(
        token,
        settings.login_url.base + "/services/oauth2/revoke",
        deadline=Deadline(settings.timeout_seconds, clock),
        ca_bundle=settings.ca_bundle,
    )
    cache.delete(identity)
    state = "revoked" if revoked else "was already invalid at Salesforce"
    _say(err, f"the session of {settings.username} {state}; cache entry deleted")
    return ExitStatus.OK
