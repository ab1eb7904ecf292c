"""``sf-credproc cache list``, ``cache clear`` and ``logout`` (README, "Token cache")."""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import TYPE_CHECKING, Any

from ..cache.disk import FRESH
from ..cache.entry import CachedCredential
from ..cache.files import FileTokenCache
from ..credential import format_rfc3339
from ..errors import ConfigError, ExitStatus
from .context import CommandContext

if TYPE_CHECKING:
    from ..cache.cooldown import CoolDown

IDENTITY = frozenset({"client_id", "username"})
#: The state ``cache list`` shows for an entry that is not fresh while its user is cooling down.
COOLING_DOWN = "cooling-down"


def ask_for_action(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """``cache`` alone: a usage error naming the actions."""
    raise ConfigError("cache needs an action", hint="Use 'sf-credproc cache list' or 'cache clear'")


def list_entries(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """One line (or JSON object) per entry, its state by ``get``'s refresh windows."""
    from ..cache.refresh import RefreshWindows
    from ..config.settings import resolve_cache_view

    view = resolve_cache_view(vars(args), context.environ)
    directory, windows = view.directory, view.windows
    now = context.clock.time()
    cache = FileTokenCache(directory)
    rows = []
    for entry in cache.entries():
        judged_by = RefreshWindows.of(
            min_ttl_seconds=windows.min_ttl_seconds,
            mandatory_ttl_seconds=windows.mandatory_ttl_seconds,
            session_ttl_seconds=windows.session_ttl_seconds,
            identity_stem=entry.identity.file_stem,
            host=cache.host,
        )
        state = judged_by.state(entry.expiration, now)
        row = describe_entry(entry, state)
        if state != FRESH:
            # A token that get would refresh, for a user no login may be made for now.
            cooldown = _cooldown_of(entry, directory, view.rate_limit_cooldown_seconds, context)
            if cooldown is not None:
                row.update(state=COOLING_DOWN, cooldown_ends=format_rfc3339(cooldown.ends))
        rows.append(row)
    out = context.stdout
    if args.json:
        for row in rows:
            out.write(json.dumps(row) + "\n")
        return ExitStatus.OK
    out.write(f"cache: {directory} ({len(rows)} {'entry' if len(rows) == 1 else 'entries'})\n")
    for row in rows:
        out.write(
            f"{row['expiration']}  {row['state']:<12}  {row['username']}  {row['login_url']}  "
            f"aud={row['audience']}  client_id={row['client_id']}\n"
        )
    return ExitStatus.OK


def _cooldown_of(
    entry: CachedCredential, directory: str, cooldown_seconds: int, context: CommandContext
) -> CoolDown | None:
    """The login-rate cool-down this machine records for the entry's user, if one holds."""
    from ..cache.cooldown import LoginBreaker

    breaker = LoginBreaker(
        directory=directory,
        clock=context.clock,
        cooldown_seconds=cooldown_seconds,
        token_endpoint=entry.identity.token_endpoint,
        username=entry.identity.username,
    )
    found = breaker.active(shared=False)
    return found[0] if found is not None else None


def describe_entry(entry: CachedCredential, state: str) -> dict[str, Any]:
    """What ``cache list`` shows of an entry in ``state``: never the token."""
    credential = entry.credential
    return {
        "id": entry.identity.file_stem,
        "username": entry.identity.username,
        "client_id": entry.identity.client_id,
        "login_url": entry.identity.token_endpoint.removesuffix("/services/oauth2/token"),
        "audience": entry.identity.audience,
        "instance_url": credential.instance_url,
        "issued_at": format_rfc3339(credential.issued_at),
        "expiration": format_rfc3339(credential.expiration),
        "state": state,
    }


def clear(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """Delete one identity's entry (and its shared item) and end its user's login-rate cool-down,
    or every local entry and cool-down record with ``--all``."""
    from ..cache.cooldown import LocalCoolDowns
    from ..compose import cache_identity, login_breaker_of, shared_item_of
    from ..config.settings import resolve_cache_dir

    if args.all:
        # Every local entry; shared items are per identity (use clear without --all for those).
        directory = resolve_cache_dir(vars(args), context.environ)
        removed = FileTokenCache(directory).clear()
        ended = LocalCoolDowns(directory).clear()
        cooled = f" and {ended} login-rate cool-down(s)" if ended else ""
        context.log.say("cache", f"removed {removed} cached token(s){cooled} from {directory}")
        return ExitStatus.OK
    resolved = context.resolve(args, needs=IDENTITY)
    settings = resolved.settings
    cache = FileTokenCache(settings.cache_dir)
    identity = cache_identity(settings)
    removed = cache.delete(identity)
    what = "removed the cached token" if removed else "no cached token"
    also = ""
    if settings.shared_table:
        also = shared_item_of(settings, identity, resolved.deadline, context.clock).delete_or_warn(
            settings.username
        )
    # The user's login-rate cool-down ends too: here, and in the shared tier (best effort: a
    # record that cannot be deleted ends by itself).
    if login_breaker_of(settings, context.clock, resolved.deadline).end():
        also += "; ended the login-rate cool-down"
    context.log.say("cache", f"{what} for {settings.username} at {settings.login_url.base}{also}")
    return ExitStatus.OK


def logout(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """Revoke the session at Salesforce (RFC 7009), then delete the cached entry and shared item."""
    from ..compose import cache_identity, shared_item_of
    from ..oauth.exchange import revoke_token

    resolved = context.resolve(args, needs=IDENTITY)
    settings, deadline = resolved.settings, resolved.deadline
    cache = FileTokenCache(settings.cache_dir)
    identity = cache_identity(settings)
    entry = cache.read(identity)
    tokens = [entry.credential.access_token] if entry is not None else []
    shared = None
    if settings.shared_table:
        shared = shared_item_of(settings, identity, deadline, context.clock)
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
    also = shared.delete_or_warn(settings.username) if shared is not None else ""
    if not tokens:
        context.log.say(
            "logout", f"no cached token for {settings.username}; nothing to revoke{also}"
        )
        return ExitStatus.OK
    state = "revoked" if any(revoked) else "was already invalid at Salesforce"
    count = (
        f" ({len(tokens)} tokens: this machine's and the shared cache's)" if len(tokens) > 1 else ""
    )
    context.log.say(
        "logout", f"the session of {settings.username} {state}{count}; cache entry deleted{also}"
    )
    return ExitStatus.OK
