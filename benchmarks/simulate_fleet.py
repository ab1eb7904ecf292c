"""A fleet simulation: M machines x N processes start together on empty caches, sharing one table.

Each simulated machine has its own local cache directory; all share a DynamoDB table and a KMS key
(moto's server) and log in to one Salesforce emulator, everything on loopback:

    python benchmarks/simulate_fleet.py [--machines 8] [--processes 8]

Prints the logins Salesforce saw (target: 1), the DynamoDB and KMS calls (in total, as counted by a
proxy in front of moto, and per process, as each process reports with -v), and wall times.
Needs the test extras (moto). moto's conditional writes are made atomic, as DynamoDB's are
(tests/moto_adapters.py explains why).
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from aws_fault_proxy import AwsFaultProxy
from common import throwaway_workspace
from moto_adapters import atomic_dynamodb_writes

from sf_credproc.emulator import SalesforceEmulator

EXE = Path(sys.executable).with_name("sf-credproc")
CLIENT_ID = "3MVG9fleet.simulation"
USERNAME = "fleet@acme.example"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, default=8)
    parser.add_argument("--processes", type=int, default=8, help="per machine")
    options = parser.parse_args()

    with throwaway_workspace("sf-credproc-fleet-") as (work, key_path, public):
        simulate(options, work, key_path, public)


def simulate(options: argparse.Namespace, work: Path, key_path: Path, public: bytes) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    proxy = AwsFaultProxy(f"http://{host}:{port}").start()
    aws: dict[str, Any] = {
        "endpoint_url": proxy.url,
        "region_name": "us-east-1",
        "aws_access_key_id": "x",
        "aws_secret_access_key": "x",
    }
    boto3.client("dynamodb", **aws).create_table(
        TableName="fleet-tokens",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    cache_key = boto3.client("kms", **aws).create_key()["KeyMetadata"]["KeyId"]
    proxy.seen.clear()
    with atomic_dynamodb_writes(), SalesforceEmulator() as emulator:
        emulator.register_app(CLIENT_ID, public)
        emulator.add_user(USERNAME, approve=[CLIENT_ID])
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(work),
            "AWS_ENDPOINT_URL": proxy.url,
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SF_CREDPROC_SHARED_CACHE": "dynamodb://fleet-tokens",
            "SF_CREDPROC_SHARED_CACHE_KEY": cache_key,
        }
        get = [
            str(EXE),
            "get",
            "--client-id",
            CLIENT_ID,
            "--username",
            USERNAME,
            "--login-url",
            emulator.url,
            "--key",
            f"file:{key_path}",
            "-v",
            "--log-format",
            "json",
            "--timeout",
            "60",
        ]
        started = time.perf_counter()
        processes = []
        for machine in range(options.machines):
            env = {**base, "XDG_CACHE_HOME": str(work / f"machine-{machine}")}
            for _ in range(options.processes):
                processes.append(
                    (
                        time.perf_counter(),
                        subprocess.Popen(
                            get, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                        ),
                    )
                )
        walls, tokens, per_process = [], set(), []
        for launched, process in processes:
            out, err = process.communicate(timeout=300)
            walls.append(time.perf_counter() - launched)
            if process.returncode != 0:
                raise SystemExit(f"a process failed: {err}")
            tokens.add(json.loads(out)["AccessToken"])
            calls = [json.loads(line).get("calls") for line in err.splitlines()]
            reported = [c for c in calls if c]
            per_process.append(sum(reported[-1].values()) if reported else 0)
        elapsed = time.perf_counter() - started
        logins = emulator.token_request_count
    proxy.stop()
    moto.stop()
    by_service = collections.Counter(target.split(".")[0] for target in proxy.seen)
    total = options.machines * options.processes
    print(
        json.dumps(
            {
                "machines": options.machines,
                "processes_per_machine": options.processes,
                "logins_at_salesforce": logins,
                "distinct_tokens": len(tokens),
                "dynamodb_calls_total": by_service["DynamoDB_20120810"],
                "kms_calls_total": by_service["TrentService"],
                "aws_calls_per_process_mean": round(
                    (by_service["DynamoDB_20120810"] + by_service["TrentService"]) / total, 2
                ),
                "aws_calls_per_process_max": max(per_process),
                "processes_with_no_aws_call": sum(1 for n in per_process if n == 0),
                "slowest_process_ms": round(max(walls) * 1000, 1),
                "median_process_ms": round(statistics.median(walls) * 1000, 1),
                "all_done_ms": round(elapsed * 1000, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
