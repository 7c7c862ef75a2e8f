"""The iamd process: database, caches, change feed and the gRPC server, started and stopped
in order."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from iamd.v1 import authorization_pb2, management_pb2, sts_pb2

from iamd_server import metrics
from iamd_server.api.auth import Authenticator
from iamd_server.api.authorization import AuthorizationServicer
from iamd_server.api.credentials import CredentialsServicer
from iamd_server.api.dispatch import service_handler
from iamd_server.api.management import ManagementServicer
from iamd_server.api.sts import StsServicer
from iamd_server.bootstrap import bootstrap
from iamd_server.changes import ChangeFeed
from iamd_server.crypto import MasterKey
from iamd_server.decisions import Decider
from iamd_server.end_users import EndUsers
from iamd_server.key_usage import KeyUsage
from iamd_server.master_key import load_master_key
from iamd_server.oidc import JwksRefresher
from iamd_server.replication import service as replication
from iamd_server.session_policies import SessionPolicies
from iamd_server.sessions import SessionAuthority, SessionKeys
from iamd_server.startup import StartupError, bind, connect, one_line
from iamd_server.store import Store
from iamd_server.store.embedded import EmbeddedPostgres
from iamd_server.store.migrate import migrate
from iamd_server.store.pool import create_pool

log = logging.getLogger(__name__)

# How long a write's response may wait for this replica to apply the write.
_SETTLE_SECONDS = 2.0

_SERVICES = (
    management_pb2.DESCRIPTOR.services_by_name["ManagementService"],
    authorization_pb2.DESCRIPTOR.services_by_name["AuthorizationService"],
    sts_pb2.DESCRIPTOR.services_by_name["StsService"],
)


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = "127.0.0.1:50051"
    database_url: str | None = None
    data_dir: Path = Path.home() / ".iamd" / "data"
    credentials_file: Path = Path.home() / ".iamd" / "credentials"
    master_key_file: Path = Path.home() / ".iamd" / "master.key"
    metrics_listen: str | None = None
    grace_seconds: float = 5.0
    pool_size: int = 10
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None  # set: clients must present a certificate
    service_name: str = "iamd"  # the audience of signed calls (--service-name)
    oidc_allow_http: bool = False  # plain http JWKS URLs (tests and development)
    jwks_refresh_seconds: float = 3600.0

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """TLS (and mutual TLS) credentials, or None to serve plaintext."""
        if self.tls_cert_file is None and self.tls_key_file is None:
            if self.tls_client_ca_file is not None:
                raise ValueError("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
            return None
        if self.tls_cert_file is None or self.tls_key_file is None:
            raise ValueError("--tls-cert-file and --tls-key-file go together")
        client_ca = self.tls_client_ca_file.read_bytes() if self.tls_client_ca_file else None
        return grpc.ssl_server_credentials(
            [(self.tls_key_file.read_bytes(), self.tls_cert_file.read_bytes())],
            root_certificates=client_ca,
            require_client_auth=client_ca is not None,
        )


@dataclass
class IamdServer:
    """One replica. ``start()`` returns the bound address (port 0 picks a free port)."""

    settings: Settings
    address: str = ""
    pool: asyncpg.Pool | None = None
    store: Store | None = None
    feed: ChangeFeed | None = None
    decider: Decider | None = None
    authenticator: Authenticator | None = None
    _embedded: EmbeddedPostgres | None = None
    _server: grpc.aio.Server | None = None
    _health: health.aio.HealthServicer | None = field(default=None)
    _key_usage: KeyUsage | None = None
    _jwks: JwksRefresher | None = None
    _unstarted: grpc.aio.Server | None = None  # bound, not serving yet

    async def start(self) -> str:
        """Claims the data directory and the port first, so a start that cannot succeed
        fails before it changes anything; every failure is a StartupError."""
        embedded = None
        if not self.settings.database_url:
            embedded = self._embedded = EmbeddedPostgres(self.settings.data_dir)
            embedded.lock()
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 8 << 20)]
        )
        self._unstarted = server
        tls = self.settings.server_credentials()
        port = bind(server, self.settings.listen, tls)
        host = self.settings.listen.rsplit(":", 1)[0]
        self.address = f"{host}:{port}"
        if self.settings.metrics_listen:
            try:
                metrics.serve_http(self.settings.metrics_listen)
            except (OSError, ValueError) as exc:
                raise StartupError(
                    f"cannot serve metrics on {self.settings.metrics_listen}: {one_line(exc)}"
                ) from exc

        dsn = self.settings.database_url
        if embedded is not None:
            dsn = await asyncio.to_thread(embedded.start)
            verb = "created and started" if embedded.created else "started"
            print(f"iamd: {verb} an embedded {embedded.describe()}", flush=True)
        assert dsn
        conn = await connect(dsn)
        try:
            applied = await migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            key = await load_master_key(conn, self.settings.master_key_file)
        finally:
            await conn.close()
        self.pool = await create_pool(dsn, max_size=self.settings.pool_size)
        metrics.watch_pool(self.pool)
        self.store = Store(self.pool)
        master_key = MasterKey(key)

        # Listen before anything is cached, so no change can slip between load and listen.
        self.feed = ChangeFeed(dsn)
        # Temporary credentials are verified from their sealed token; revocations arrive
        # as change notifications. Long-term keys' last use is written in batches.
        sessions = SessionAuthority(SessionKeys(key), self.store)
        session_policies = SessionPolicies(self.store)
        self._key_usage = KeyUsage(self.pool)
        self.authenticator = Authenticator(
            self.store,
            master_key,
            sessions=sessions,
            usage=self._key_usage,
            audience=self.settings.service_name,
        )
        self.feed.subscribe(sessions.on_change)
        self.feed.subscribe(session_policies.on_change)
        self.decider = Decider(self.store, self.feed)
        metrics.watch_feed(self.feed)
        metrics.watch_cache("principals", self.decider.principals)
        metrics.watch_cache("resources", self.decider.resources)
        self.feed.subscribe(self._on_change)
        await self.feed.start()
        await self.decider.start()
        await sessions.start()
        self._key_usage.start()
        self._jwks = JwksRefresher(
            self.store,
            interval=self.settings.jwks_refresh_seconds,
            allow_http=self.settings.oidc_allow_http,
        )
        self._jwks.start()

        management = ManagementServicer(self.store, self.decider, master_key)
        authorization = AuthorizationServicer(self.decider, self.feed)
        self.decider.session_decide = functools.partial(session_policies.decide, self.decider)
        authorization.end_users = EndUsers(self.authenticator, session_policies)
        credentials = CredentialsServicer(self.store, self.decider, master_key)
        credentials.allow_http_jwks = self.settings.oidc_allow_http
        sts = StsServicer(self.store, self.decider, sessions, session_policies)
        # gRPC asks the handlers in order for each call: the Authorize hot path goes first.
        services: tuple[tuple[ServiceDescriptor, tuple[object, ...], tuple[str, ...]], ...] = (
            (_SERVICES[1], (authorization,), ()),
            (_SERVICES[0], (management, credentials), ()),
            (_SERVICES[2], (sts,), ("Login", "AssumeRoleWithWebIdentity")),
        )
        for descriptor, servicers, anonymous in services:
            server.add_generic_rpc_handlers(
                (
                    service_handler(
                        descriptor,
                        servicers,
                        self.authenticator,
                        unauthenticated=anonymous,
                        observe=metrics.observe_rpc,
                        settle=self._settle,
                    ),
                )
            )
        # Followers (`iamd sidecar`) replicate from here.
        replication.install(
            server,
            feed=self.feed,
            store=self.store,
            decider=self.decider,
            authenticator=self.authenticator,
            master_key=master_key,
            audience=self.settings.service_name,
            sessions=sessions,
        )
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = [d.full_name for d in _SERVICES] + [
            replication.SERVICE,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(names, server)
        await server.start()
        self._server, self._unstarted = server, None

        await bootstrap(
            self.pool,
            self.store,
            master_key,
            credentials_file=self.settings.credentials_file,
            endpoint=_local_endpoint(self.address),
            tls=tls is not None,
            audience=self.settings.service_name,
        )
        for descriptor in _SERVICES:
            await self._health.set(descriptor.full_name, health_pb2.HealthCheckResponse.SERVING)
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        return self.address

    def _on_change(self, revision: int, keys: Sequence[str]) -> None:
        assert self.authenticator is not None
        if "*" in keys:
            self.authenticator.invalidate_all()
            return
        for key in keys:
            if key.startswith("key:"):
                self.authenticator.invalidate(key[4:])
            elif key.startswith("user:"):  # renamed, moved or deleted: its keys' owner ARN
                self.authenticator.invalidate_owner(key[5:])

    async def _settle(self, revision: int, time_remaining: float | None) -> None:
        """Holds a write's response until this replica's caches reflect the write.

        Notifications normally arrive within a millisecond; if the feed is down the write
        still stands, so the wait is bounded and the response goes out regardless.
        """
        assert self.feed is not None
        limit = _SETTLE_SECONDS if time_remaining is None else min(_SETTLE_SECONDS, time_remaining)
        if not await self.feed.wait_for(revision, max(0.0, limit)):
            log.warning("revision %d not yet applied here after %.1f s", revision, limit)

    async def stop(self) -> None:
        """Stops what was started, in reverse order; safe after a start that failed midway."""
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._server is not None:
            # In-flight calls finish within the grace period; new ones are refused.
            await self._server.stop(self.settings.grace_seconds)
        self._unstarted = None
        steps: list[tuple[str, Callable[[], Awaitable[None]] | None]] = [
            ("OIDC key refresh", self._jwks.stop if self._jwks else None),
            ("access key usage", self._key_usage.stop if self._key_usage else None),
            ("decider", self.decider.stop if self.decider else None),
            ("change feed", self.feed.stop if self.feed else None),
            ("database pool", self._close_pool if self.pool else None),
        ]
        for name, step in steps:
            if step is None:
                continue
            try:
                await step()
            except Exception as exc:
                log.warning("stopping the %s failed: %s", name, one_line(exc))
        if self._embedded is not None:
            # Stops the cluster only if this process started it.
            await asyncio.to_thread(self._embedded.stop)

    async def _close_pool(self) -> None:
        assert self.pool is not None
        await asyncio.wait_for(self.pool.close(), 10)

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _local_endpoint(address: str) -> str:
    """Where a client on this machine reaches a server listening on ``address``."""
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):
        return f"127.0.0.1:{port}"
    return address


async def serve(settings: Settings) -> None:
    """Runs until SIGINT or SIGTERM, then drains in-flight calls and stops cleanly.

    Raises StartupError when the server cannot start."""
    server = IamdServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            address = await server.start()
        except StartupError:
            raise
        except Exception as exc:
            log.debug("start-up failed", exc_info=exc)
            raise StartupError(
                f"cannot start: {type(exc).__name__}: {one_line(exc)}"
                " (--log-level DEBUG shows where)"
            ) from exc
        # Everything built so far lives as long as the process: keep the cyclic collector
        # from walking it again and again under load (it only ever grows the cost per call).
        gc.collect()
        gc.freeze()
        print(f"iamd listening on {address}", flush=True)
        await stop.wait()
    finally:
        await server.stop()
    print("iamd stopped", flush=True)


def serve_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = Settings(
        listen=args.listen,
        database_url=args.database_url,
        data_dir=args.data_dir,
        credentials_file=args.credentials_file,
        master_key_file=args.master_key_file,
        metrics_listen=args.metrics_listen,
        tls_cert_file=args.tls_cert_file,
        tls_key_file=args.tls_key_file,
        tls_client_ca_file=args.tls_client_ca_file,
        service_name=args.service_name,
        oidc_allow_http=args.oidc_allow_http,
        jwks_refresh_seconds=args.oidc_jwks_refresh_seconds,
    )
    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        print(f"iamd: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
