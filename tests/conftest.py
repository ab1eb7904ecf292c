"""Real parts for the tests: moto's server over HTTP, the emulator over HTTPS with a test CA.

Both servers start once per session on loopback and are reset for every test that uses them.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import trustme
from aws_fault_proxy import AwsFaultProxy
from cryptography.hazmat.primitives.asymmetric import rsa
from faulty_emulator import FaultyEmulator
from helpers import (
    CLIENT_ID,
    EMULATORS,
    REGION,
    USERNAME,
    base_env,
    pem_private,
    pem_public,
    throwaway_key,
)
from moto.server import ThreadedMotoServer
from moto_adapters import atomic_dynamodb_writes

#: Names the emulator's test certificate carries, reachable through tests/connect_proxy.py.
#: The shared cache's table in moto (the ``shared`` fixture).
SHARED_TABLE = "sf-credproc-tokens"
TLS_NAMES = (
    "127.0.0.1",
    "localhost",
    "login.salesforce.com",
    "test.salesforce.com",
    "acme.my.salesforce.com",
    "acme--dev.sandbox.my.salesforce.com",
    "partners.acme.example",
)


class Aws:
    """boto3 clients for arranging a test's AWS state in moto."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )

    def client(self, service: str, **kwargs: Any) -> Any:
        make: Any = self.session.client  # one helper for every service: typed as Any on purpose
        return make(service, endpoint_url=self.endpoint, **kwargs)

    def run_as(
        self, env: dict[str, str], *, actions: Sequence[str] = (), policy: Any = None
    ) -> None:
        """Make ``env`` call AWS as a new IAM user holding exactly ``policy`` (or one allowing
        ``actions`` on every resource), and turn IAM enforcement on from the next request."""
        if policy is None:
            statement = {"Effect": "Allow", "Action": list(actions), "Resource": "*"}
            policy = {"Version": "2012-10-17", "Statement": [statement]}
        iam = self.client("iam")
        name = f"job-{len(iam.list_users()['Users'])}"
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="policy", PolicyDocument=json.dumps(policy))
        access_key = iam.create_access_key(UserName=name)["AccessKey"]
        env.update(
            AWS_ACCESS_KEY_ID=access_key["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=access_key["SecretAccessKey"],
        )
        self.set_iam_enforcement(True)

    def set_iam_enforcement(self, enabled: bool) -> None:
        """Turn moto's IAM checks on (from the next request) or off."""
        requests.post(
            f"{self.endpoint}/moto-api/reset-auth", data=b"0" if enabled else b"inf", timeout=10
        )


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url: str) -> Iterator[Aws]:
    requests.post(f"{moto_url}/moto-api/reset", timeout=10)
    handle = Aws(moto_url)
    yield handle
    handle.set_iam_enforcement(False)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def emulator_server(ca: trustme.CA) -> Iterator[FaultyEmulator]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*TLS_NAMES).configure_cert(context)
    with FaultyEmulator(ssl_context=context) as emulator:
        EMULATORS.append(emulator)
        yield emulator
        EMULATORS.remove(emulator)


@pytest.fixture(scope="session")
def app_key() -> rsa.RSAPrivateKey:
    """The key whose certificate is uploaded to the test connected app."""
    return throwaway_key()


@pytest.fixture
def org(emulator_server: FaultyEmulator, app_key: rsa.RSAPrivateKey) -> FaultyEmulator:
    """The emulator, reset, with CLIENT_ID registered for ``app_key`` and USERNAME approved."""
    emulator_server.reset()
    emulator_server.clock = time.time  # a test may have set its own
    emulator_server.register_app(CLIENT_ID, pem_public(app_key))
    emulator_server.add_user(USERNAME, approve=[CLIENT_ID])
    return emulator_server


@pytest.fixture
def key_file(tmp_path: Path, app_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "app-key.pem"
    path.write_bytes(pem_private(app_key))
    path.chmod(0o600)
    return path


@pytest.fixture
def key(key_file: Path) -> str:
    """The app's key as a ``file:`` key source: the default of tests that are not about keys."""
    return f"file:{key_file}"


@pytest.fixture
def aws_fault_proxy(aws: Aws) -> Iterator[AwsFaultProxy]:
    """A proxy in front of moto that can reset or hang chosen AWS calls (aws_fault_proxy.py)."""
    started = AwsFaultProxy(aws.endpoint).start()
    yield started
    started.stop()


@pytest.fixture
def aws_through_fault_proxy(aws_fault_proxy: AwsFaultProxy, env: dict[str, str]) -> AwsFaultProxy:
    """``aws_fault_proxy``, with every AWS call of ``env`` going through it."""
    env["AWS_ENDPOINT_URL"] = aws_fault_proxy.url
    return aws_fault_proxy


@pytest.fixture
def env(tmp_path: Path, moto_url: str, ca_bundle: str) -> dict[str, str]:
    """The environment for ``sf-credproc`` (in-process or a subprocess): moto for AWS, the test CA
    for TLS."""
    home = tmp_path / "home"
    home.mkdir()
    return {
        **base_env(home),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "REQUESTS_CA_BUNDLE": ca_bundle,
    }


@pytest.fixture
def shared(aws: Aws, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` with a shared cache: a DynamoDB table (tests/shared_tier.py) and a symmetric key."""
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(
        TableName=SHARED_TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=SHARED_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    key_id = aws.client("kms").create_key()["KeyMetadata"]["KeyId"]  # symmetric
    env.update(
        SF_CREDPROC_SHARED_CACHE=f"dynamodb://{SHARED_TABLE}", SF_CREDPROC_SHARED_CACHE_KEY=key_id
    )
    with atomic_dynamodb_writes():  # as DynamoDB itself is (see moto_adapters.py)
        yield env


# moto's server logs every request through werkzeug; keep test output for failures that matter.
logging.getLogger("werkzeug").setLevel(logging.ERROR)
