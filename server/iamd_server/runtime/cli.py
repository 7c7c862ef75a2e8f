"""`iamd`: run the service or a sidecar, migrate or bootstrap its database, or simulate
policies offline."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from iamd_server.runtime import event_loop

# iamd forks only to run programs (PostgreSQL's, and with --workers its own workers, which
# are fresh interpreters), never to use gRPC in a child: without fork support gRPC does not
# log a line at each of those forks.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

DEFAULT_HOME = Path(os.environ.get("IAMD_HOME", Path.home() / ".iamd"))


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return number


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def _env_flag(name: str, default: bool) -> bool:
    """A boolean environment variable, read one way for every flag: an unrecognised value
    is an error rather than a silent yes (IAMD_OIDC_ALLOW_HTTP=False must not allow http)."""
    value = os.environ.get(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise SystemExit(f"iamd: {name}={value!r} is not a boolean (true/false, 1/0, yes/no, on/off)")


def _add_database_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("IAMD_DATABASE_URL"),
        help="PostgreSQL DSN (env IAMD_DATABASE_URL); without it an embedded PostgreSQL"
        " is started under --data-dir",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("IAMD_DATA_DIR", DEFAULT_HOME / "data")),
        help="where the embedded PostgreSQL keeps its data (env IAMD_DATA_DIR; default:"
        " $IAMD_HOME/data)",
    )


def _rate(value: str) -> float:
    """A sampling rate: a number from 0 to 1."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {value}")
    return number


MAX_WORKERS = 256


def _workers(value: str) -> int:
    """`--workers`: a count from 1 to MAX_WORKERS, or ``auto`` for the usable cores."""
    if value.strip().lower() == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'auto': {value!r}") from None
    if not 1 <= count <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_WORKERS}: {count}")
    return count


def _add_sidecar_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sidecar = commands.add_parser(
        "sidecar",
        help="serve Authorize from a copy followed from an upstream iamd"
        " (no database, no master key)",
    )
    sidecar.add_argument(
        "--upstream",
        default=os.environ.get("IAMD_UPSTREAM"),
        help="HOST:PORT of the iamd to follow (env IAMD_UPSTREAM); the sidecar signs with"
        " its own credentials: IAMD_ACCESS_KEY_ID/IAMD_SECRET_ACCESS_KEY or a profile",
    )
    sidecar.add_argument("--listen", default=os.environ.get("IAMD_LISTEN", "127.0.0.1:50051"))
    sidecar.add_argument(
        "--max-staleness",
        type=float,
        default=float(os.environ.get("IAMD_MAX_STALENESS", "300")),
        help="seconds the sidecar keeps answering from its copy while the upstream is"
        " unreachable; then every call fails UNAVAILABLE (env IAMD_MAX_STALENESS)",
    )
    sidecar.add_argument(
        "--max-entries",
        type=int,
        default=int(os.environ.get("IAMD_MAX_ENTRIES", "50000")),
        help="most principals, keys and resources held (least recently used dropped first)",
    )
    sidecar.add_argument("--profile", default=None, help="credentials profile (env IAMD_PROFILE)")
    sidecar.add_argument(
        "--upstream-tls",
        action="store_true",
        help="connect to the upstream with TLS (also implied by --upstream-ca-file or the"
        " profile's tls/ca_file)",
    )
    sidecar.add_argument("--upstream-ca-file", default=None, help="PEM CAs for the upstream")
    sidecar.add_argument(
        "--metrics-listen",
        default=os.environ.get("IAMD_METRICS_LISTEN"),
        help="HOST:PORT for Prometheus metrics over HTTP (off when unset)",
    )
    sidecar.add_argument("--log-level", default=os.environ.get("IAMD_LOG_LEVEL", "INFO"))


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iamd",
        description=__doc__,
        epilog="IAMD_HOME (default: ~/.iamd) holds the default data directory, credentials"
        " file and master key. The options of serve and migrate can also be set by the"
        " environment variable named in their help; an option given wins.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="run the gRPC service",
        description="Run the gRPC service. IAMD_HOME (default: ~/.iamd) holds the default"
        " data directory, credentials file and master key.",
    )
    _add_database_arguments(serve)
    serve.add_argument(
        "--listen",
        default=os.environ.get("IAMD_LISTEN", "127.0.0.1:50051"),
        metavar="HOST:PORT",
        help="address of the gRPC service (env IAMD_LISTEN; default: 127.0.0.1:50051)",
    )
    serve.add_argument(
        "--metrics-listen",
        default=os.environ.get("IAMD_METRICS_LISTEN"),
        metavar="HOST:PORT",
        help="serve Prometheus metrics over HTTP there (env IAMD_METRICS_LISTEN; default: off)",
    )
    serve.add_argument(
        "--credentials-file",
        type=Path,
        default=Path(os.environ.get("IAMD_SHARED_CREDENTIALS_FILE", DEFAULT_HOME / "credentials")),
        help="where first start writes the management account's root credentials (env"
        " IAMD_SHARED_CREDENTIALS_FILE; default: $IAMD_HOME/credentials)",
    )
    serve.add_argument(
        "--master-key-file",
        type=Path,
        default=Path(os.environ.get("IAMD_MASTER_KEY_FILE", DEFAULT_HOME / "master.key")),
        help="32-byte key (hex) that encrypts stored secrets, created on first start; every"
        " replica needs the same one (env IAMD_MASTER_KEY_FILE; default:"
        " $IAMD_HOME/master.key)",
    )
    serve.add_argument(
        "--tls-cert-file",
        type=Path,
        default=os.environ.get("IAMD_TLS_CERT_FILE"),
        help="serve TLS with this PEM certificate chain, with --tls-key-file (env"
        " IAMD_TLS_CERT_FILE; default: plaintext)",
    )
    serve.add_argument(
        "--tls-key-file",
        type=Path,
        default=os.environ.get("IAMD_TLS_KEY_FILE"),
        help="PEM private key of --tls-cert-file (env IAMD_TLS_KEY_FILE)",
    )
    serve.add_argument(
        "--tls-client-ca-file",
        type=Path,
        default=os.environ.get("IAMD_TLS_CLIENT_CA_FILE"),
        help="require client certificates signed by this CA, mutual TLS (env"
        " IAMD_TLS_CLIENT_CA_FILE; default: no client certificates)",
    )
    serve.add_argument(
        "--log-level",
        default=os.environ.get("IAMD_LOG_LEVEL", "INFO"),
        help="DEBUG, INFO, WARNING or ERROR (env IAMD_LOG_LEVEL; default: INFO)",
    )
    serve.add_argument(
        "--service-name",
        default=os.environ.get("IAMD_SERVICE_NAME", "iamd"),
        help="the audience calls must be signed for, the clients' audience (env"
        " IAMD_SERVICE_NAME; default: iamd)",
    )
    serve.add_argument(
        "--oidc-allow-http",
        action="store_true",
        default=_env_flag("IAMD_OIDC_ALLOW_HTTP", False),
        help="accept and fetch plain http:// JWKS URLs, for tests and development only (env"
        " IAMD_OIDC_ALLOW_HTTP; default: https only)",
    )
    serve.add_argument(
        "--oidc-jwks-refresh-seconds",
        type=float,
        default=float(os.environ.get("IAMD_OIDC_JWKS_REFRESH_SECONDS", "3600")),
        help="how often providers' JWKS URLs are fetched again (env"
        " IAMD_OIDC_JWKS_REFRESH_SECONDS; default: 3600)",
    )
    serve.add_argument(
        "--bootstrap",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("IAMD_BOOTSTRAP", True),
        help="on an empty database, create the organization and write its root credentials"
        " to --credentials-file (default; env IAMD_BOOTSTRAP=false turns it off, for"
        " replicas whose credentials come from `iamd bootstrap`)",
    )
    serve.add_argument(
        "--max-staleness",
        type=_positive,
        default=_positive(os.environ.get("IAMD_MAX_STALENESS", "1.0")),
        help="seconds a replica may answer decisions without proving its change feed current;"
        " past that it answers UNAVAILABLE (env IAMD_MAX_STALENESS; default: 1)",
    )
    serve.add_argument(
        "--event-loop",
        choices=event_loop.CHOICES,
        default=os.environ.get("IAMD_EVENT_LOOP", "auto"),
        help="the asyncio event loop: uvloop (pip install 'iamd[uvloop]'), asyncio, or auto:"
        " uvloop when installed (env IAMD_EVENT_LOOP; default: auto)",
    )
    serve.add_argument(
        "--load-timeout",
        type=_positive,
        default=_positive(os.environ.get("IAMD_LOAD_TIMEOUT", "2.0")),
        help="seconds a cache miss may wait for a database lock or statement before"
        " answering UNAVAILABLE (env IAMD_LOAD_TIMEOUT; default: 2)",
    )
    serve.add_argument(
        "--cache-max-bytes",
        type=int,
        default=int(os.environ.get("IAMD_CACHE_MAX_BYTES", str(512 * 1024 * 1024))),
        help="memory budget of the decision caches, remembered decisions included"
        " (env IAMD_CACHE_MAX_BYTES; default: 512 MiB)",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=os.environ.get("IAMD_WORKERS", "1"),
        help="worker processes sharing the port (env IAMD_WORKERS; 'auto': one per usable"
        " core; default: 1); more than 1 runs a supervisor that restarts workers and aggregates"
        " metrics",
    )
    # Set by the supervisor on the workers it starts (see supervisor.py), not by operators.
    serve.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--worker-control-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--pool-size", type=int, default=10, help=argparse.SUPPRESS)
    serve.add_argument(
        "--http-listen",
        default=os.environ.get("IAMD_HTTP_LISTEN") or None,
        help="HOST:PORT of the HTTP forward-auth listener for nginx, Caddy and Traefik"
        " (GET /v1/forward-auth; env IAMD_HTTP_LISTEN; off when unset)",
    )
    serve.add_argument(
        "--http-timeout",
        type=float,
        default=float(os.environ.get("IAMD_HTTP_TIMEOUT", "10")),
        help="seconds a forward-auth client has to send one whole request (env"
        " IAMD_HTTP_TIMEOUT; default: 10)",
    )
    serve.add_argument(
        "--decision-log",
        default=os.environ.get("IAMD_DECISION_LOG") or None,
        metavar="PATH|-",
        help="append one JSON line per sampled decision (Authorize, AuthorizeBatch, Envoy"
        " Check, forward-auth) to PATH, or to standard output with - (env"
        " IAMD_DECISION_LOG; default: off). SIGHUP reopens PATH",
    )
    serve.add_argument(
        "--decision-log-sample-allows",
        type=_rate,
        default=_rate(os.environ.get("IAMD_DECISION_LOG_SAMPLE_ALLOWS", "0.01")),
        metavar="RATE",
        help="fraction of allowed decisions logged, 0-1 (env"
        " IAMD_DECISION_LOG_SAMPLE_ALLOWS; default: 0.01)",
    )
    serve.add_argument(
        "--decision-log-sample-denials",
        type=_rate,
        default=_rate(os.environ.get("IAMD_DECISION_LOG_SAMPLE_DENIALS", "1")),
        metavar="RATE",
        help="fraction of denials logged, 0-1 (env IAMD_DECISION_LOG_SAMPLE_DENIALS;"
        " default: 1, every denial)",
    )

    serve.add_argument(
        "--otel",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("IAMD_OTEL", False),
        help="export a trace span per RPC, decisions as attributes, over OTLP/gRPC to"
        " OTEL_EXPORTER_OTLP_ENDPOINT (needs iamd[otel]; env IAMD_OTEL; default: off)",
    )

    _add_sidecar_parser(commands)

    migrate = commands.add_parser("migrate", help="apply pending database migrations and exit")
    _add_database_arguments(migrate)

    bootstrap = commands.add_parser(
        "bootstrap",
        help="create the organization and its root key once, written to --output; exits 0"
        " without creating anything if the organization exists",
    )
    from iamd_server.runtime import bootstrap_command

    bootstrap_command.add_arguments(bootstrap, home=DEFAULT_HOME)

    simulate = commands.add_parser(
        "simulate", help="evaluate simulation cases (JSON lines) offline, like SimulateCustomPolicy"
    )
    from iamd_policy import simulate as simulate_module

    simulate_module.add_arguments(simulate)
    return parser


async def _migrate(args: argparse.Namespace) -> int:
    from iamd_server.startup import connect
    from iamd_server.store.embedded import EmbeddedPostgres
    from iamd_server.store.migrate import migrate

    embedded = None if args.database_url else EmbeddedPostgres(args.data_dir)
    try:
        dsn = args.database_url if embedded is None else await asyncio.to_thread(embedded.start)
        conn = await connect(dsn)
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "simulate":
        from iamd_policy import simulate as simulate_module

        return simulate_module.run(args)
    if args.command == "bootstrap":
        from iamd_server.runtime import bootstrap_command

        return bootstrap_command.run(args)
    if args.command == "migrate":
        from iamd_server.startup import StartupError

        try:
            return asyncio.run(_migrate(args))
        except StartupError as exc:
            print(f"iamd: {exc}", file=sys.stderr)
            return 1
    if args.command == "sidecar":
        from iamd_server.sidecar.app import sidecar_command

        return sidecar_command(args)
    from iamd_server.runtime.app import serve_command

    return serve_command(args)


if __name__ == "__main__":
    sys.exit(main())
