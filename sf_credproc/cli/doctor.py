"""``sf-credproc doctor``: walk the whole chain and say, step by step, what is wrong and the fix.

Most JWT bearer failures are set-up failures: a certificate that does not match the key, a user who
is not pre-authorized, a wrong audience, a skewed clock, a missing permission. Each check prints
ok / FAILED / skipped with the fix; the exit code is 0 only when every check passes. No secret is
ever printed: the token appears as a fingerprint.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from ..clock import Clock
from ..deadline import Deadline
from ..errors import ConfigError, CredProcError, ExitStatus, InternalError
from ..log import fingerprint
from .context import CommandContext
from .doctor_key import key_checks_of
from .doctor_report import PROBE, Check, failed

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from ..aws import AwsClients
    from ..config.settings import Settings
    from ..keys.source import KeySource

#: Assertions live 180 s; a clock this far behind Salesforce's makes them arrive expired.
MAX_CLOCK_SKEW_SECONDS = 60


def run(args: argparse.Namespace, context: CommandContext) -> ExitStatus:
    """Print the report; the exit code is the first failed check's (0 when all pass)."""
    checks = _run_checks(args, context)
    failed = [check for check in checks if check.status == "FAILED"]
    out = context.stdout
    if args.json:
        document = {"ok": not failed, "checks": [asdict(check) for check in checks]}
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        for check in checks:
            line = f"{check.status:<8} {check.name:<15} {check.detail}"
            out.write(line + (f"\n{'':<24} fix: {check.fix}" if check.fix else "") + "\n")
        out.write(f"{'all checks passed' if not failed else f'{len(failed)} check(s) failed'}\n")
    return failed[0].exit_status if failed else ExitStatus.OK


@dataclass(frozen=True)
class _Pieces:
    """What the checks use, built once per run the way ``get`` builds them."""

    settings: Settings
    environ: Mapping[str, str] = field(repr=False)  # may hold an env: key or the passphrase
    clock: Clock
    deadline: Deadline
    aws: AwsClients


def _run_checks(args: argparse.Namespace, context: CommandContext) -> list[Check]:
    from ..compose import AwsSession

    try:
        resolved = context.resolve(args)
    except ConfigError as error:
        return [failed("configuration", error)]
    settings = resolved.settings
    pieces = _Pieces(
        settings=settings,
        environ=context.environ,
        clock=context.clock,
        deadline=resolved.deadline,
        aws=AwsSession(settings).clients(resolved.deadline),
    )
    checks = [_configuration(settings), _login_url(settings)]
    with ExitStack() as stack:
        source, key, key_checks = key_checks_of(
            settings, pieces.aws, pieces.environ, pieces.deadline, pieces.clock, stack
        )
        checks.extend(key_checks)
        checks.append(_certificate(args.cert, key))
        checks.append(_clock(pieces))
        cooldown = _login_rate(pieces)
        checks.append(cooldown)
        if cooldown.status == "FAILED":  # no login while it lasts: not even this one
            checks.append(Check("token exchange", "skipped", "no login during the cool-down"))
        elif source is None:
            checks.append(Check("token exchange", "skipped", "the key source could not be used"))
        else:
            checks.append(_exchange(pieces, source))
    checks.append(_cache_directory(settings.cache_dir))
    if settings.shared_table:
        checks.append(_shared_cache(pieces))
    return checks


def _configuration(settings: Settings) -> Check:
    origins = ", ".join(
        f"{name} from {origin}" for name, origin in sorted(settings.origins.items())
    )
    profile = f"profile {settings.profile!r}" if settings.profile else "no profile"
    return Check(
        "configuration", "ok", f"{profile} ({settings.config_path}); {origins or 'defaults'}"
    )


def _login_url(settings: Settings) -> Check:
    from ..config.login_url import is_salesforce_host

    host = settings.login_url.host
    kind = (
        "loopback"
        if settings.login_url.is_loopback
        else "a Salesforce domain"
        if is_salesforce_host(host)
        else "a host trusted by --trusted-host"
    )
    origin = settings.origins.get("audience")
    audience = f"from {origin}" if origin else "derived from the login URL"
    return Check(
        "login URL",
        "ok",
        f"{settings.login_url.token_endpoint} ({kind}); audience {settings.audience} ({audience})",
    )


def _certificate(path: str | None, key: RSAPrivateKey | None) -> Check:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from ..keys.certificates import UPLOAD_STEPS, load_certificate

    if not path:
        return Check(
            "certificate",
            "skipped",
            "no --cert given",
            "Pass --cert FILE (the certificate uploaded to the connected app or External Client "
            "App) to check it",
        )
    if key is None:
        return Check("certificate", "skipped", "the key could not be used")
    from ..local_files import read_regular_file

    try:
        # A FIFO or a device named by mistake fails at once (a certificate is a few KiB).
        certificate = load_certificate(read_regular_file(path, 1024 * 1024), f"--cert {path}")
    except OSError as error:
        reason = error.strerror or str(error)
        return Check(
            "certificate", "FAILED", f"--cert {path}: {reason}", "Check the path", ExitStatus.USAGE
        )
    except ConfigError as error:
        return failed("certificate", error)
    public = certificate.public_key()
    try:
        if not isinstance(public, rsa.RSAPublicKey):
            raise InvalidSignature
        # A signature made by the key now, checked with the certificate: works for KMS keys with
        # kms:Sign alone, no kms:GetPublicKey needed.
        public.verify(
            key.sign(PROBE, padding.PKCS1v15(), hashes.SHA256()),
            PROBE,
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return Check(
            "certificate",
            "FAILED",
            f"{path} ({certificate.subject.rfc4514_string()}) does not match the key: Salesforce "
            "would answer 'invalid assertion'",
            f"Make the certificate from this key (sf-credproc cert --key ...) and {UPLOAD_STEPS}",
            ExitStatus.REFUSED,
        )
    except CredProcError as error:
        return failed("certificate", error)
    until = certificate.not_valid_after_utc.strftime("%Y-%m-%d")
    return Check(
        "certificate",
        "ok",
        f"{path} ({certificate.subject.rfc4514_string()}) matches the key; valid until {until}",
    )


def _clock(pieces: _Pieces) -> Check:
    from ..oauth.exchange import post_form, server_clock_skew

    settings = pieces.settings
    try:
        answer = post_form(
            settings.login_url.token_endpoint,
            None,
            deadline=pieces.deadline,
            ca_bundle=settings.ca_bundle,
            method="GET",
        )
    except CredProcError as error:
        return failed("clock", error)
    now = pieces.clock.time()
    if not answer.date:
        return Check("clock", "skipped", "the token endpoint sent no Date header")
    # The same reading of the Date header (RFC 9110, 6.6.1) as the exchange's skew hint.
    skew = server_clock_skew(answer.date, now)
    if skew is None:
        return Check("clock", "skipped", f"the Date header {answer.date!r} is not a date")
    direction = "behind" if skew < 0 else "ahead of"
    detail = f"this machine's clock is {abs(skew):.0f} s {direction} the token endpoint's"
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        return Check(
            "clock",
            "FAILED",
            detail,
            "Synchronise the clock (NTP): assertions expire 180 s after they are made",
            ExitStatus.REFUSED,
        )
    return Check("clock", "ok", detail)


def _login_rate(pieces: _Pieces) -> Check:
    """The login-rate circuit breaker (``cache/cooldown.py``): a cool-down in force fails the
    check as ``get`` would fail without a cached token (exit 5), and the exchange is skipped."""
    from ..compose import login_breaker_of

    settings = pieces.settings
    breaker = login_breaker_of(settings, pieces.clock, pieces.deadline)
    try:
        breaker.check()
    except CredProcError as error:
        return failed("login rate", error)
    if not breaker.enabled:
        return Check("login rate", "ok", "no cool-down after 'login rate exceeded' (it is off)")
    return Check(
        "login rate",
        "ok",
        f"no login-rate cool-down for {settings.username} at {breaker.host} "
        f"(after 'login rate exceeded': {breaker.cooldown_seconds} s)",
    )


def _exchange(pieces: _Pieces, source: KeySource) -> Check:
    from ..login import log_in

    try:
        credential = log_in(
            pieces.settings,
            key_source=source,
            clock=pieces.clock,
            deadline=pieces.deadline,
        )
    except CredProcError as error:
        return failed("token exchange", error)
    return Check(
        "token exchange",
        "ok",
        f"Salesforce issued token {fingerprint(credential.access_token)} for {credential.username} "
        f"at {credential.instance_url} (scope: {credential.scope or 'none'})",
    )


def _shared_cache(pieces: _Pieces) -> Check:
    from ..cache.shared_errors import SharedCacheUnavailable, SharedItemMalformed
    from ..compose import cache_identity, shared_cache_of

    settings, clock = pieces.settings, pieces.clock
    if settings.shared_key is None:  # the resolver pairs it with --shared-cache
        raise InternalError(
            "doctor resolved no --shared-cache-key", hint="This is a bug; report it"
        )
    shared = shared_cache_of(settings, pieces.aws, clock)
    where = f"dynamodb://{shared.table} with KMS key {settings.shared_key.target}"
    try:
        found = shared.read(cache_identity(settings).file_stem)
        shared.probe_key()
    except SharedItemMalformed as problem:
        return Check(
            "shared cache",
            "FAILED",
            f"{where}: the item for this identity is malformed: {problem} (get warns and logs in "
            "per machine)",
            "Run sf-credproc cache clear with the same options to delete the item",
            ExitStatus.KEY_SOURCE,
        )
    except (SharedCacheUnavailable, CredProcError) as problem:
        return Check(
            "shared cache",
            "FAILED",
            f"{where}: {problem} (get goes on with the local cache alone, logging in per machine)",
            "Grant the role dynamodb:GetItem, PutItem, UpdateItem and DeleteItem on the table and "
            "kms:Encrypt and kms:Decrypt on the key "
            "(iam/shared-cache-table.json, iam/shared-cache-key.json)",
            ExitStatus.KEY_SOURCE,
        )
    entry, lease = found.entry, found.lease
    state = (f"holds a token until {entry.expiration}" if entry else "holds no token yet") + (
        f"; lease held by {lease.holder}" if lease.holder and lease.expires > clock.time() else ""
    )
    if found.refused:
        state = f"holds a token that get refuses ({found.refused}) and replaces"
    return Check(
        "shared cache", "ok", f"{where}: readable, the key encrypts and decrypts; the item {state}"
    )


def _cache_directory(path: str) -> Check:
    """The cache's own rule (``directory_refusal``), and whether the directory can be created."""
    from ..cache.directory_rule import directory_refusal

    fix = "Choose another --cache-dir (SF_CREDPROC_CACHE_DIR), or run chmod 700 on it"
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        parent = os.path.dirname(os.path.abspath(path))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK):
            return Check("cache", "ok", f"{path} does not exist yet; it will be created 0700")
        return _cachefailed(f"{path} cannot be created under {parent}", fix)
    except OSError as error:
        return _cachefailed(f"{path}: {error.strerror}", fix)
    refusal = directory_refusal(info)
    if refusal == "type":
        return _cachefailed(f"{path} is not a directory", fix)
    if refusal == "owner":
        return _cachefailed(f"{path} belongs to uid {info.st_uid}, not this user", fix)
    if refusal == "mode":
        mode = stat.filemode(info.st_mode)
        return _cachefailed(f"{path} is writable by group or others ({mode})", fix)
    if not os.access(path, os.W_OK | os.X_OK):
        return _cachefailed(f"{path} is not writable", fix)
    return Check("cache", "ok", f"{path} ({stat.filemode(info.st_mode)}, owned by this user)")


def _cachefailed(detail: str, fix: str) -> Check:
    """What get would do with that directory: refuse it (exit 2)."""
    return Check("cache", "FAILED", detail, fix, ExitStatus.USAGE)
