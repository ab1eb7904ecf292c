"""``sf-credproc cache list``, ``cache clear`` and ``logout`` (README, "Token cache")."""

from __future__ import annotations

import argparse
import contextlib
import json

from ..cache.files import FileTokenCache, describe_entry
from ..errors import ConfigError, ExitStatus
from .context import CommandContext

IDENTITY = frozenset({"client_id", "username"})


def ask_for_action(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """``cache`` alone: a usage error naming the actions."""
    raise ConfigError("cache needs an action", hint="Use 'sf-credproc cache list' or 'cache clear'")


def list_entries(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """One line (or JSON object) per entry, with ``get``'s freshness rule as its state."""
    from ..config.settings import resolve_cache_view

    directory, min_ttl, session_ttl = resolve_cache_view(vars(args), context.environ)
    now = context.clock.time()
    rows = [
        describe_entry(entry, now, min_ttl, session_ttl)
        for entry in FileTokenCache(directory).entries()
    ]
    out = context.stdout
    if args.json:
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


def clear(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """Delete one identity's entry (and its shared item), or every local entry with ``--all``."""
    from ..compose import cache_identity, shared_item_of
    from ..config.settings import resolve_cache_dir

    if args.all:
        # Every local entry; shared items are per identity (use clear without --all for those).
        directory = resolve_cache_dir(vars(args), context.environ)
        removed = FileTokenCache(directory).clear()
        context.log.say("cache", f"removed {removed} cached token(s) from {directory}")
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
