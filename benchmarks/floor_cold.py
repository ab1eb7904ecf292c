"""The floor of a cold ``get --no-cache``: only the work no design can avoid, timed phase by phase.

    python benchmarks/floor_cold.py file  KEY.pem    TOKEN_URL AUDIENCE CLIENT_ID USERNAME
    python benchmarks/floor_cold.py kms   KEY_ID     TOKEN_URL AUDIENCE CLIENT_ID USERNAME

One process does what any credential helper must do to log in once with the JWT bearer flow (RFC
7523 section 2.1): import the HTTP client (requests) and PyJWT; reach the key (``file``: read the
PEM and load it with ``load_pem_private_key``, which validates it, as sf-credproc does; ``kms``: a
botocore KMS client, the one boto3's ``Session.client`` returns, built from the environment's
credentials, region and ``AWS_ENDPOINT_URL``); sign the assertion (RS256, RFC 7518 section 3.3;
KMS ``Sign`` with ``RSASSA_PKCS1_V1_5_SHA_256`` over the raw signing input); one POST to the token
endpoint. No settings, no cache, no retries, no error handling beyond failing loudly.

It prints the milliseconds of each phase it can see (``imports``, ``key``, ``signing``,
``exchange``) as JSON on stdout; the interpreter's start is what ``python -c pass`` takes, measured
by ``bench_cold.py`` around it. ``SF_CREDPROC_FLOOR_SKIP_RSA_VALIDATION=1`` loads a ``file`` key
with ``unsafe_skip_rsa_key_validation=True``: what skipping the check would save (README, "Cold
start, measured"). ``SF_CREDPROC_FLOOR_EXIT_NOW=1`` ends the process as sf-credproc ends a finished
command (``launch.end_process``: flush, then ``os._exit``), without the interpreter's teardown,
which is no part of the work above. ``SF_CREDPROC_FLOOR_NO_GC=1`` also runs it with the cyclic
garbage collector off, as sf-credproc runs a command that ends when its work is done
(``launch.is_one_shot``): the collections are no part of the work either. With both, this is the
floor to compare sf-credproc with, like for like.
"""

import gc
import json
import os
import sys
import time
from typing import Any

if os.environ.get("SF_CREDPROC_FLOOR_NO_GC") == "1":
    gc.disable()
started = time.perf_counter()
source, key_ref, token_url, audience, client_id, username = sys.argv[1:7]

import jwt  # noqa: E402 - the imports are a timed phase
import requests  # noqa: E402

if source == "file":
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
else:
    import botocore.session
imported = time.perf_counter()

if source == "file":
    with open(key_ref, "rb") as pem:
        key: Any = load_pem_private_key(  # an RSA key: PyJWT refuses any other for RS256
            pem.read(),
            password=None,
            unsafe_skip_rsa_key_validation=os.environ.get("SF_CREDPROC_FLOOR_SKIP_RSA_VALIDATION")
            == "1",
        )
else:
    kms: Any = botocore.session.Session().create_client("kms")
key_ready = time.perf_counter()

now = int(time.time())
claims = {"iss": client_id, "sub": username, "aud": audience, "iat": now, "exp": now + 180}
if source == "file":
    assertion = jwt.encode(claims, key, algorithm="RS256", headers={"typ": "JWT"})
else:
    header = jwt.utils.base64url_encode(b'{"alg":"RS256","typ":"JWT"}')
    payload = jwt.utils.base64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = header + b"." + payload
    signature = kms.sign(
        KeyId=key_ref,
        Message=signing_input,
        MessageType="RAW",
        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
    )["Signature"]
    assertion = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
signed = time.perf_counter()

answer = requests.post(
    token_url,
    data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    timeout=30,
)
answer.raise_for_status()
assert answer.json()["access_token"]
exchanged = time.perf_counter()

print(
    json.dumps(
        {
            "imports_ms": round((imported - started) * 1000, 2),
            "key_ms": round((key_ready - imported) * 1000, 2),
            "signing_ms": round((signed - key_ready) * 1000, 2),
            "exchange_ms": round((exchanged - signed) * 1000, 2),
        }
    )
)
if os.environ.get("SF_CREDPROC_FLOOR_EXIT_NOW") == "1":
    sys.stdout.flush()
    os._exit(0)
