#!/usr/bin/env python3
"""A signer plugin for the tests, installed as ``sf-credproc-signer-NAME``: ``NAME:MODE`` chooses
how it behaves, well (``good``) or badly (everything else).

It signs with the PEM at ``$HOSTILE_KEY`` and keeps what the tests inspect in ``$HOSTILE_STATE``
(a directory): the requests it got, its argv and its environment's names, its process ids. Every
run writes ``STDERR_MARKER`` on stderr, which sf-credproc must never show.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

STDERR_MARKER = "PLUGIN-STDERR-MARKER-7f3a"
STATE = Path(os.environ["HOSTILE_STATE"])
#: The message of the ``error-*`` modes: two lines, a terminal escape and far too much text.
NASTY_MESSAGE = "the HSM said no\nsecond line\x1b[2J\x00 " + "x" * 1000


def key() -> rsa.RSAPrivateKey:
    loaded = serialization.load_pem_private_key(Path(os.environ["HOSTILE_KEY"]).read_bytes(), None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def good_answer(request: dict[str, Any], signer: rsa.RSAPrivateKey) -> dict[str, Any]:
    if request["operation"] == "public-key":
        pem = (
            key()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return {"version": 1, "public_key_pem": pem.decode()}
    message = base64.b64decode(request["message"], validate=True)
    signature = signer.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {"version": 1, "signature": base64.b64encode(signature).decode()}


def answer(mode: str, request: dict[str, Any]) -> tuple[int, str]:
    """Exit status and stdout for ``mode``."""
    if mode == "good":
        return 0, json.dumps(good_answer(request, key()))
    if mode == "wrong-signature":  # signs with another key than the public key it reports
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return 0, json.dumps(good_answer(request, other))
    if mode == "flaky":  # a transient failure first, then good answers
        marker = STATE / "failed-once"
        if not marker.exists():
            marker.touch()
            return 1, json.dumps(
                {"version": 1, "error": {"kind": "transient", "message": "busy, try again"}}
            )
        return 0, json.dumps(good_answer(request, key()))
    if mode.startswith("error-"):
        error = {"kind": mode[len("error-") :], "message": NASTY_MESSAGE}
        return 1, json.dumps({"version": 1, "error": error})
    if mode == "ec-public-key":
        pem = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return 0, json.dumps({"version": 1, "public_key_pem": pem.decode()})
    if mode == "hang":  # and a child that holds stdout open too
        child = subprocess.Popen(["sleep", "60"])
        (STATE / "pids").write_text(f"{os.getpid()} {child.pid}")
        time.sleep(60)
    if mode == "huge":  # never stops writing
        chunk = "A" * 65536
        (STATE / "pids").write_text(str(os.getpid()))
        while True:
            sys.stdout.write(chunk)
    return {
        "garbage": (0, "Signed!\x1b[31m not JSON"),
        "empty": (0, ""),
        "nested": (0, "[" * 60_000),
        "array": (0, "[1, 2]"),
        "no-version": (0, json.dumps({"signature": "AAAA"})),
        "version-2": (0, json.dumps({"version": 2, "signature": "AAAA"})),
        "no-error-object": (7, json.dumps({"version": 1})),
        "unknown-kind": (1, json.dumps({"version": 1, "error": {"kind": "fatal", "message": "x"}})),
        "not-base64": (0, json.dumps({"version": 1, "signature": "not base64 at all!"})),
        "short-signature": (0, json.dumps({"version": 1, "signature": "AAAAAAAAAAAAAAAAAAAAAA=="})),
    }[mode]


def main() -> int:
    print(STDERR_MARKER, file=sys.stderr, flush=True)
    request = json.load(sys.stdin)
    with (STATE / "requests.jsonl").open("a") as log:
        log.write(json.dumps(request) + "\n")
    (STATE / "argv.json").write_text(json.dumps(sys.argv))
    (STATE / "environment.json").write_text(json.dumps(sorted(os.environ)))
    mode = request["key"].partition(":")[2]
    status, out = answer(mode, request)
    sys.stdout.write(out)
    return status


if __name__ == "__main__":
    sys.exit(main())
