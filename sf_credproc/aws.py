"""AWS clients cut to the command's deadline (``aws_errors.py`` translates what they raise).

The clients come from a ``botocore.session.Session``: the session boto3's own ``Session`` wraps, with
the same credential chain, config files, profiles and region resolution (boto3 delegates all of them
to it). ``import boto3`` alone also imports ``s3transfer`` (``boto3.compat`` needs its
``TransferConfig``) and boto3's resource and S3-transfer machinery, which sf-credproc never uses:
tens of milliseconds on every cold start that calls AWS (README, "Cold start, measured"). botocore
itself is imported on the first client, so a command whose key is not in AWS never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:
    from .deadline import Deadline


class AwsClients:
    """Creates botocore clients for one command: one session, the deadline's timeouts."""

    def __init__(
        self,
        *,
        region: str | None,
        profile: str | None,
        deadline: Deadline,
        fallback_region: str | None = None,
    ) -> None:
        self._region = region
        self._fallback_region = fallback_region
        self._profile = profile
        self._deadline = deadline
        #: One botocore session, shared with the clients ``cut_to`` makes (created on first use).
        self._sessions: dict[str, Any] = {}

    def cut_to(self, deadline: Deadline) -> AwsClients:
        """The same settings and session, with timeouts cut from another deadline (a share)."""
        clients = AwsClients(
            region=self._region,
            profile=self._profile,
            deadline=deadline,
            fallback_region=self._fallback_region,
        )
        clients._sessions = self._sessions
        return clients

    def client(self, service: str, *, region: str | None = None) -> Any:
        """A new botocore client for ``service`` whose timeouts fit this attempt's share of the
        deadline; ``region`` (from an ARN) overrides the default. The session is reused."""
        import botocore.config
        import botocore.exceptions
        import botocore.session

        connect, read = self._deadline.http_timeouts(f"connecting to AWS {service}")
        config = botocore.config.Config(
            connect_timeout=connect,
            read_timeout=read,
            # No retries inside botocore: sf-credproc's own loop retries within --timeout, with
            # fresh timeouts for every attempt (a client is made per call for that reason).
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        try:
            if "session" not in self._sessions:
                # profile=None: AWS_PROFILE, then "default", exactly as boto3.Session would.
                self._sessions["session"] = botocore.session.Session(profile=self._profile)
            session = self._sessions["session"]
            # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which most AWS runtimes set.
            configured = session.get_config_variable("region")
            chosen = region or self._region or configured or self._fallback_region
            return session.create_client(service, region_name=chosen, config=config)
        except botocore.exceptions.ProfileNotFound as error:
            raise ConfigError(
                f"AWS profile {self._profile!r} is not defined in the AWS config files",
                hint="Fix --aws-profile, or define the profile in ~/.aws/config",
            ) from error
        except botocore.exceptions.NoRegionError as error:
            raise ConfigError(
                "no AWS region is configured",
                hint="Pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or name the key by its ARN",
            ) from error
