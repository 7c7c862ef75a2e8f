"""`iamd`: run the service, migrate its database, or simulate policies offline."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_HOME = Path(os.environ.get("IAMD_HOME", Path.home() / ".iamd"))


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return number


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
        help="where the embedded PostgreSQL keeps its data (env IAMD_DATA_DIR)",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iamd", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gRPC service")
    _add_database_arguments(serve)
    serve.add_argument("--listen", default=os.environ.get("IAMD_LISTEN", "127.0.0.1:50051"))
    serve.add_argument(
        "--metrics-listen",
        default=os.environ.get("IAMD_METRICS_LISTEN"),
        help="HOST:PORT for Prometheus metrics over HTTP (off when unset)",
    )
    serve.add_argument(
        "--credentials-file",
        type=Path,
        default=Path(os.environ.get("IAMD_SHARED_CREDENTIALS_FILE", DEFAULT_HOME / "credentials")),
        help="where first start writes the management account's root credentials",
    )
    serve.add_argument(
        "--master-key-file",
        type=Path,
        default=Path(os.environ.get("IAMD_MASTER_KEY_FILE", DEFAULT_HOME / "master.key")),
        help="32-byte key (hex) that encrypts stored secrets; every replica needs the same one",
    )
    serve.add_argument(
        "--tls-cert-file",
        type=Path,
        default=os.environ.get("IAMD_TLS_CERT_FILE"),
        help="serve TLS with this PEM certificate chain (with --tls-key-file)",
    )
    serve.add_argument("--tls-key-file", type=Path, default=os.environ.get("IAMD_TLS_KEY_FILE"))
    serve.add_argument(
        "--tls-client-ca-file",
        type=Path,
        default=os.environ.get("IAMD_TLS_CLIENT_CA_FILE"),
        help="require client certificates signed by this CA (mutual TLS)",
    )
    serve.add_argument(
        "--max-staleness",
        type=_positive,
        default=_positive(os.environ.get("IAMD_MAX_STALENESS", "1.0")),
        help="seconds a replica may answer decisions without proving its change feed current;"
        " past that it answers UNAVAILABLE (env IAMD_MAX_STALENESS)",
    )
    serve.add_argument(
        "--load-timeout",
        type=_positive,
        default=_positive(os.environ.get("IAMD_LOAD_TIMEOUT", "2.0")),
        help="seconds a cache miss may wait for a database lock or statement before"
        " answering UNAVAILABLE (env IAMD_LOAD_TIMEOUT)",
    )
    serve.add_argument(
        "--cache-max-bytes",
        type=int,
        default=int(os.environ.get("IAMD_CACHE_MAX_BYTES", str(512 * 1024 * 1024))),
        help="memory budget of the decision caches, remembered decisions included"
        " (env IAMD_CACHE_MAX_BYTES)",
    )
    serve.add_argument("--log-level", default=os.environ.get("IAMD_LOG_LEVEL", "INFO"))

    migrate = commands.add_parser("migrate", help="apply pending database migrations and exit")
    _add_database_arguments(migrate)

    simulate = commands.add_parser(
        "simulate", help="evaluate simulation cases (JSON lines) offline, like SimulateCustomPolicy"
    )
    from iamd_server.policy import simulate as simulate_module

    simulate_module.add_arguments(simulate)
    return parser


async def _migrate(args: argparse.Namespace) -> int:
    import asyncpg

    from iamd_server.store.embedded import EmbeddedPostgres
    from iamd_server.store.migrate import migrate

    embedded = None if args.database_url else EmbeddedPostgres(args.data_dir)
    dsn = args.database_url or (embedded.start() if embedded else "")
    try:
        conn = await asyncpg.connect(dsn)
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
    finally:
        if embedded is not None:
            embedded.stop()
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "simulate":
        from iamd_server.policy import simulate as simulate_module

        return simulate_module.run(args)
    if args.command == "migrate":
        return asyncio.run(_migrate(args))
    from iamd_server.app import serve_command

    return serve_command(args)


if __name__ == "__main__":
    sys.exit(main())
