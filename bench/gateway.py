"""Gateway decisions (Envoy's Check, forward-auth) beside Authorize, on one core.

    .venv/bin/python bench/gateway.py [--seconds 5] [--rounds 1]

Starts a throwaway PostgreSQL and `iamd serve --http-listen` pinned to core 1, registers an
"orders" service with HTTP bindings, a user allowed to GET /orders/{OrderId} (and denied from
one network) and a role that an OpenID Connect token may act as, and loads the server with
h2load pinned to core 0, every call a cache hit:

- Authorize for the user (no context: the memoized decision; and with the three context
  keys a gateway adds, evaluated each time like a gateway's),
- Check as Envoy sends it, signed with the user's access key (x-iamd-* headers),
- Check with "Authorization: Bearer" (a verified token, cached until it expires),
- GET /v1/forward-auth (HTTP/1.1) as nginx sends it, signed.

Prints calls/s and p50/p99 at concurrency 1 and 16. Needs h2load (apt-get install -y
nghttp2-client) and two cores. Signatures are good for 5 minutes: keep the run shorter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2
from iamd.v1 import authorization_pb2 as pb
from iamd.v1 import management_pb2, sts_pb2, types_pb2
from iamd_client import http_signature_headers
from iamd_client.signing import SigningCredentials, sign_metadata
from iamd_server.store.embedded import EmbeddedPostgres
from iamd_server.store.migrate import migrate
from joserfc import jwt
from joserfc.jwk import RSAKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
from authorize import (
    LoadResult,
    median_result,
    read_credentials,
    require_tools,
    run_h2load,
    signed_headers,
    stop_process,
)

CHECK = "/envoy.service.auth.v3.Authorization/Check"
AUTHORIZE = "/iamd.v1.AuthorizationService/Authorize"
CONCURRENCY = (1, 16)
ISSUER = "https://idp.bench.example"
CLIENT_ID = "bench"
ORDERS = {
    "service_prefix": "orders",
    "resource_types": [
        {
            "name": "order",
            "arn_pattern": "arn:${Partition}:orders:${Region}:${Account}:order/${OrderId}",
        }
    ],
    "actions": [
        {
            "name": "GetOrder",
            "resource_types": ["order"],
            "http": [{"method": "GET", "path": "/orders/{OrderId}"}],
        },
        {
            "name": "ListOrders",
            "resource_types": [],
            "http": [{"method": "GET", "path": "/orders"}],
        },
    ],
    "condition_keys": [],
}
POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "orders:GetOrder", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "orders:*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
            },
        ],
    }
)


async def prepare_database(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO iamd_service_definitions (service_prefix, definition)"
            " VALUES ('orders', $1::jsonb)",
            json.dumps(ORDERS),
        )
    finally:
        await conn.close()


def unary(endpoint: str, method: str, request: Any, reply_type: Any, creds: Any = None) -> Any:
    body = request.SerializeToString()
    metadata = sign_metadata(method, body, creds) if creds is not None else None
    with grpc.insecure_channel(endpoint) as channel:
        stub: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        return reply_type.FromString(stub(body, metadata=metadata, timeout=30))


def manage(endpoint: str, root: SigningCredentials, name: str, request: Any) -> Any:
    reply = getattr(management_pb2, f"{name}Response")
    return unary(endpoint, f"/iamd.v1.ManagementService/{name}", request, reply, root)


def check_request(method: str, path: str, headers: dict[str, str]) -> Any:
    http = attribute_context_pb2.AttributeContext.HttpRequest(
        id="1",
        method=method,
        path=path,
        host="orders.example",
        scheme="https",
        protocol="HTTP/2",
        headers={
            ":authority": "orders.example",
            ":method": method,
            ":path": path,
            "user-agent": "bench/1.0",
            **headers,
        },
    )
    attributes = attribute_context_pb2.AttributeContext(
        request=attribute_context_pb2.AttributeContext.Request(http=http),
        context_extensions={"iamd_service": "orders", "iamd_region": "eu-west-1"},
    )
    attributes.source.address.socket_address.address = "10.1.2.3"
    attributes.source.address.socket_address.port_value = 40000
    return external_auth_pb2.CheckRequest(attributes=attributes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=1, help="runs per figure (median)")
    args = parser.parse_args()
    require_tools()
    work = Path(tempfile.mkdtemp(prefix="iamd-bench-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="iamd-bench-pg-"))
    cluster = EmbeddedPostgres(pg_dir, throwaway=True)
    processes: list[subprocess.Popen[str]] = []
    try:
        dsn = cluster.start()
        asyncio.run(prepare_database(dsn))
        server, endpoint, http_address = _start(
            [
                sys.executable, "-m", "iamd_server.runtime.cli", "serve", "--database-url", dsn,
                "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
                "--credentials-file", str(work / "credentials"),
                "--master-key-file", str(work / "master.key"), "--log-level", "WARNING",
            ]
        )  # fmt: skip
        processes.append(server)
        root = read_credentials(work / "credentials")

        # A user allowed GET /orders/{id} from the private network, with an access key.
        manage(endpoint, root, "CreateUser", management_pb2.CreateUserRequest(user_name="alice"))
        manage(
            endpoint, root, "PutUserPolicy",
            management_pb2.PutUserPolicyRequest(
                user_name="alice", policy_name="orders", policy_document=POLICY
            ),
        )  # fmt: skip
        key = manage(
            endpoint,
            root,
            "CreateAccessKey",
            management_pb2.CreateAccessKeyRequest(user_name="alice"),
        ).access_key
        alice = SigningCredentials(key.access_key_id, key.secret_access_key)
        account = unary(
            endpoint, "/iamd.v1.StsService/GetCallerIdentity", sts_pb2.GetCallerIdentityRequest(),
            sts_pb2.GetCallerIdentityResponse, root,
        ).account  # fmt: skip
        alice_arn = f"arn:aws:iam::{account}:user/alice"

        # A role an OpenID Connect token may act as.
        signing_key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        jwks = json.dumps({"keys": [signing_key.as_dict(private=False)]})
        manage(
            endpoint, root, "CreateOpenIDConnectProvider",
            management_pb2.CreateOpenIDConnectProviderRequest(
                url=ISSUER, client_ids=[CLIENT_ID], jwks=jwks
            ),
        )  # fmt: skip
        provider = f"arn:aws:iam::{account}:oidc-provider/idp.bench.example"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {"StringEquals": {"idp.bench.example:aud": CLIENT_ID}},
                }
            ],
        }
        role = manage(
            endpoint, root, "CreateRole",
            management_pb2.CreateRoleRequest(
                role_name="reader", assume_role_policy_document=json.dumps(trust)
            ),
        ).role.arn  # fmt: skip
        manage(
            endpoint, root, "PutRolePolicy",
            management_pb2.PutRolePolicyRequest(
                role_name="reader", policy_name="orders", policy_document=POLICY
            ),
        )  # fmt: skip
        now = int(time.time())
        token = jwt.encode(
            {"alg": "RS256", "kid": "k1"},
            {"iss": ISSUER, "sub": "reporting", "aud": CLIENT_ID, "iat": now, "exp": now + 3600},
            signing_key,
        )

        path = "/orders/1001"
        signed = http_signature_headers(
            method="GET", path=path, access_key_id=alice.access_key_id,
            secret_access_key=alice.secret_access_key, audience="orders",
        )  # fmt: skip
        check_signed = check_request("GET", path, signed).SerializeToString()
        check_bearer = check_request(
            "GET", path, {"authorization": f"Bearer {token}", "x-iamd-role-arn": role}
        ).SerializeToString()
        resource = f"arn:aws:orders:eu-west-1:{account}:order/1001"
        plain = pb.AuthorizeRequest(
            principal_arn=alice_arn, action="orders:GetOrder", resource_arn=resource
        ).SerializeToString()
        with_context = pb.AuthorizeRequest(
            principal_arn=alice_arn,
            action="orders:GetOrder",
            resource_arn=resource,
            context=[
                types_pb2.ContextEntry(
                    key="aws:SourceIp", type=types_pb2.CONTEXT_KEY_TYPE_IP, values=["10.1.2.3"]
                ),
                types_pb2.ContextEntry(
                    key="aws:SecureTransport",
                    type=types_pb2.CONTEXT_KEY_TYPE_BOOLEAN,
                    values=["true"],
                ),
                types_pb2.ContextEntry(
                    key="aws:UserAgent",
                    type=types_pb2.CONTEXT_KEY_TYPE_STRING,
                    values=["bench/1.0"],
                ),
            ],
        ).SerializeToString()

        # Each answer is right before it is timed.
        for body in (check_signed, check_bearer):
            reply = unary(
                endpoint, CHECK, external_auth_pb2.CheckRequest.FromString(body),
                external_auth_pb2.CheckResponse,
            )  # fmt: skip
            assert reply.HasField("ok_response"), reply
        for body in (plain, with_context):
            answer = unary(
                endpoint, AUTHORIZE, pb.AuthorizeRequest.FromString(body), pb.AuthorizeResponse,
                alice,
            )  # fmt: skip
            assert answer.decision == types_pb2.DECISION_ALLOWED, answer
        forward_headers = [
            f"{name}: {value}" for name, value in signed.items()
        ] + [
            "x-original-method: GET", f"x-original-uri: {path}", "x-forwarded-for: 10.1.2.3",
            "x-forwarded-proto: https", "x-iamd-service: orders", "user-agent: bench/1.0",
        ]  # fmt: skip

        grpc_headers = ["content-type: application/grpc", "te: trailers"]
        runs: list[tuple[str, str, bytes, list[str], bool]] = [
            ("Authorize (memoized)", f"http://{endpoint}{AUTHORIZE}", plain,
             signed_headers(AUTHORIZE, plain, alice), False),
            ("Authorize + 3 context keys", f"http://{endpoint}{AUTHORIZE}", with_context,
             signed_headers(AUTHORIZE, with_context, alice), False),
            ("Check, signed", f"http://{endpoint}{CHECK}", check_signed, grpc_headers, False),
            ("Check, bearer token", f"http://{endpoint}{CHECK}", check_bearer, grpc_headers,
             False),
            ("forward-auth (HTTP/1.1)",
             f"http://{http_address}/v1/forward-auth?region=eu-west-1", b"", forward_headers,
             True),
        ]  # fmt: skip
        print(f"server pid {server.pid} on core 1, h2load on core 0")
        print(f"{'run':<30} {'c':>3} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>6}")
        failed = 0
        for name, url, body, headers, h1 in runs:
            for concurrency in CONCURRENCY:
                result = median_result(
                    [
                        _load(url, body, headers, h1, concurrency, args.seconds, server.pid)
                        for _ in range(args.rounds)
                    ]
                )
                failed += result.failed
                print(
                    f"{name:<30} {concurrency:>3} {result.rate:>9,.0f} {result.p50_ms:>8.2f}"
                    f" {result.p99_ms:>8.2f} {result.failed:>6}"
                )
        # Check answers OK at the gRPC level even when it denies: count allowed answers.
        allowed = unary(
            endpoint, CHECK, external_auth_pb2.CheckRequest.FromString(check_signed),
            external_auth_pb2.CheckResponse,
        ).HasField("ok_response")  # fmt: skip
        print(f"still allowed after the runs: {allowed}")
        return 0 if failed == 0 and allowed else 1
    finally:
        for process in processes:
            stop_process(process)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


def _start(argv: list[str]) -> tuple[subprocess.Popen[str], str, str]:
    """`iamd serve` pinned to core 1: (process, gRPC address, forward-auth address)."""
    process = subprocess.Popen(
        ["taskset", "-c", "1", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: list[str] = []
    http_address = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("iamd forward-auth listening on "):
            http_address = line.split()[-1]
        if line.startswith("iamd listening on "):
            return process, line.split()[-1], http_address
    process.kill()
    raise RuntimeError("iamd did not start:\n" + "".join(lines))


def _load(
    url: str, body: bytes, headers: list[str], h1: bool, c: int, seconds: float, pid: int
) -> LoadResult:
    if not h1:
        return run_h2load(url, body, headers, concurrency=c, seconds=seconds, server_pid=pid)
    return _h2load_h1(url, headers, concurrency=c, seconds=seconds, server_pid=pid)


def _h2load_h1(
    url: str, headers: list[str], *, concurrency: int, seconds: float, server_pid: int
) -> LoadResult:
    """GET over HTTP/1.1 keep-alive connections (one request in flight on each)."""
    import re
    import statistics

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "calls.log"
        argv = ["taskset", "-c", "0", "h2load", "--h1", "-c", str(concurrency), "-m", "1"]
        argv += ["-t", "1", f"--log-file={log}", "-D", str(int(seconds)), "--warm-up-time=1"]
        for header in headers:
            argv += ["-H", header]
        argv.append(url)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        if out.returncode != 0:
            raise RuntimeError(f"h2load failed: {out.stderr or out.stdout}")
        latencies = sorted(
            int(line.split("\t")[2]) for line in log.read_text().splitlines() if line.count("\t")
        )
    match = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out.stdout)
    bad = sum(int(g) for g in match.groups()[1:]) if match else 0
    finished = re.search(r"finished in ([\d.]+)(ms|s)", out.stdout)
    measured = seconds
    if finished:
        measured = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    quantiles = statistics.quantiles(latencies, n=100)
    return LoadResult(len(latencies), measured, quantiles[49] / 1000, quantiles[98] / 1000, bad, 0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
