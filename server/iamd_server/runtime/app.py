"""The iamd process: database, caches, change feed and the gRPC server, started and stopped
in order."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from iamd.v1 import analysis_pb2, authorization_pb2, management_pb2, sts_pb2

from iamd_server.api.analysis import AnalysisServicer
from iamd_server.api.authorization import AuthorizationServicer
from iamd_server.api.credentials import CredentialsServicer
from iamd_server.api.dispatch import service_handler
from iamd_server.api.management import ManagementServicer
from iamd_server.api.sts import StsServicer
from iamd_server.authn.authenticator import Authenticator
from iamd_server.authn.crypto import MasterKey
from iamd_server.authn.end_users import EndUsers
from iamd_server.authn.key_usage import KeyUsage
from iamd_server.authn.master_key import load_master_key
from iamd_server.authn.oidc import JwksRefresher
from iamd_server.authn.sessions import SessionAuthority, SessionKeys
from iamd_server.authz.authorize_entry import AuthorizeEntry
from iamd_server.authz.changes import DEFAULT_MAX_STALENESS, ChangeFeed
from iamd_server.authz.decisions import Decider
from iamd_server.authz.session_policies import SessionPolicies
from iamd_server.gateway import envoy, forward_auth
from iamd_server.gateway.check import Gateway
from iamd_server.gateway.http_principal import HttpPrincipals
from iamd_server.insight import tracing
from iamd_server.insight.decision_log import (
    DEFAULT_SAMPLE_ALLOWS,
    DEFAULT_SAMPLE_DENIALS,
    DecisionLog,
)
from iamd_server.insight.last_accessed import LastAccessed
from iamd_server.insight.observe import Insight
from iamd_server.replication import service as replication
from iamd_server.runtime import event_loop, metrics
from iamd_server.runtime.bootstrap import bootstrap
from iamd_server.runtime.metrics_multiprocess import MultiprocessExport
from iamd_server.runtime.worker import SupervisorLink
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
    analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"],
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
    http_listen: str | None = None  # HOST:PORT of the forward-auth listener (off when None)
    http_timeout: float = forward_auth.REQUEST_SECONDS  # to receive one forward-auth request
    jwks_refresh_seconds: float = 3600.0
    bootstrap: bool = True  # False: the organization comes from `iamd bootstrap`
    max_staleness: float = DEFAULT_MAX_STALENESS
    load_timeout: float = 2.0
    cache_max_bytes: int = 512 * 1024 * 1024
    decision_log: str | None = None  # PATH or "-" (--decision-log); None: off
    decision_log_sample_allows: float = DEFAULT_SAMPLE_ALLOWS
    decision_log_sample_denials: float = DEFAULT_SAMPLE_DENIALS
    otel: bool = False  # OpenTelemetry traces (--otel; insight/tracing.py)
    workers: int = 1  # more than 1: a supervisor runs that many of this (supervisor.py)
    event_loop: str = "auto"  # --event-loop: auto (uvloop when installed), asyncio, uvloop
    # Set in a worker started by the supervisor: its index and control socket (worker.py).
    worker_index: int | None = None
    worker_control_fd: int | None = None

    @property
    def is_worker(self) -> bool:
        return self.worker_index is not None

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
    http_address: str = ""  # the forward-auth listener's, when --http-listen is set
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
    _export: MultiprocessExport | None = None  # a worker's metrics, for the supervisor
    _http_socket: socket.socket | None = None  # the forward-auth listener's, bound early
    _forward_auth: forward_auth.ForwardAuthServer | None = None
    last_accessed: LastAccessed | None = None
    decision_log: DecisionLog | None = None

    async def start(self) -> str:
        """Claims the data directory and the port first, so a start that cannot succeed
        fails before it changes anything; every failure is a StartupError.

        A worker (settings.is_worker) shares its port with the other workers and leaves the
        database's start-up, migrations, bootstrap, JWKS refresh and /metrics to the
        supervisor; its health says SERVING only when the supervisor tells it to."""
        worker = self.settings.is_worker
        embedded = None
        if not self.settings.database_url:
            embedded = self._embedded = EmbeddedPostgres(self.settings.data_dir)
            embedded.lock()
        interceptors = tracing.start(self.settings.otel)  # none when off
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                # Alone, a taken port is an error; workers all bind the supervisor's port.
                ("grpc.so_reuseport", 1 if worker else 0),
                ("grpc.max_receive_message_length", 8 << 20),
            ],
        )
        self._unstarted = server
        tls = self.settings.server_credentials()
        port = bind(server, self.settings.listen, tls)
        host = self.settings.listen.rsplit(":", 1)[0]
        self.address = f"{host}:{port}"
        if self.settings.http_listen:
            try:
                self._http_socket, self.http_address = forward_auth.bind(
                    self.settings.http_listen, reuse_port=worker
                )
            except (OSError, ValueError) as exc:
                raise StartupError(
                    f"cannot listen on {self.settings.http_listen} (--http-listen): {one_line(exc)}"
                ) from exc
        if self.settings.metrics_listen and not worker:
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
            applied = [] if worker else await migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            key = await load_master_key(conn, self.settings.master_key_file)
        finally:
            await conn.close()
        self.pool = await create_pool(dsn, max_size=self.settings.pool_size)
        metrics.watch_pool(self.pool)
        self.store = Store(self.pool)
        self.store.load_timeout = self.settings.load_timeout
        master_key = MasterKey(key)

        # Listen before anything is cached, so no change can slip between load and listen.
        self.feed = ChangeFeed(dsn, max_staleness=self.settings.max_staleness)
        # Temporary credentials are verified from their sealed token; revocations arrive
        # as change notifications. Long-term keys' last use is written in batches.
        sessions = SessionAuthority(SessionKeys(key), self.store)
        session_policies = SessionPolicies(self.store, max_bytes=self.settings.cache_max_bytes // 8)
        self._key_usage = KeyUsage(self.pool)
        self.last_accessed = LastAccessed(self.pool)
        if self.settings.decision_log:
            self.decision_log = DecisionLog(
                self.settings.decision_log,
                sample_allows=self.settings.decision_log_sample_allows,
                sample_denials=self.settings.decision_log_sample_denials,
            )
            try:
                self.decision_log.start()
            except OSError as exc:
                self.decision_log = None
                raise StartupError(
                    f"cannot open the decision log {self.settings.decision_log}: {one_line(exc)}"
                ) from exc
            metrics.watch_decision_log(self.decision_log)
        self.authenticator = Authenticator(
            self.store,
            master_key,
            sessions=sessions,
            usage=self._key_usage,
            audience=self.settings.service_name,
        )
        self.feed.subscribe(sessions.on_change)
        self.feed.subscribe(session_policies.on_change)
        self.decider = Decider(
            self.store,
            self.feed,
            max_bytes=self.settings.cache_max_bytes,
            load_timeout=self.settings.load_timeout,
        )
        metrics.watch_feed(self.feed)
        metrics.watch_cache("principals", self.decider.principals)
        metrics.watch_cache("resources", self.decider.resources)
        metrics.watch_cache("roles", self.decider.roles)
        metrics.watch_cache("grants", self.decider.grants)
        metrics.watch_cache("replies", self.decider.replies)
        metrics.watch_cache("sessions", session_policies)
        self.feed.subscribe(self._on_change)
        await self.feed.start()
        await self.decider.start()
        await sessions.start()
        # Last-used batches only move times forward, so every worker flushes its own.
        self._key_usage.start()
        self.last_accessed.start()  # times only move forward: every worker flushes its own
        if not worker:  # the supervisor refreshes JWKS once for all workers
            self._jwks = JwksRefresher(
                self.store,
                interval=self.settings.jwks_refresh_seconds,
                allow_http=self.settings.oidc_allow_http,
            )
            self._jwks.start()
        if worker and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            self._export = MultiprocessExport(metrics.COLLECTOR)
            self._export.start()

        management = ManagementServicer(self.store, self.decider, master_key)
        management.last_accessed = self.last_accessed
        authorization = AuthorizationServicer(self.decider, AuthorizeEntry(self.decider), self.feed)
        self.decider.session_decide = functools.partial(session_policies.decide, self.decider)
        insight = Insight(self.decider, self.last_accessed, self.decision_log)
        authorization.insight = insight
        self.decider.on_allowed = self.last_accessed.note
        authorization.end_users = EndUsers(self.authenticator, session_policies)
        self.decider.session_entry = session_policies.entry
        credentials = CredentialsServicer(self.store, self.decider, master_key)
        credentials.allow_http_jwks = self.settings.oidc_allow_http
        sts = StsServicer(self.store, self.decider, sessions, session_policies)
        # HTTP gateways (Envoy's Check, forward-auth): the principal comes from the HTTP
        # request, the decision from the same Decider as Authorize.
        principals = HttpPrincipals(self.authenticator, self.decider, sessions, self.store)
        self.feed.subscribe(principals.on_change)
        gateway = Gateway(
            self.decider,
            self.feed,
            principals,
            session_policies,
            own_audience=self.settings.service_name,
        )
        gateway.insight = insight
        # gRPC asks the handlers in order for each call: the Authorize hot path goes first.
        services: tuple[tuple[ServiceDescriptor, tuple[object, ...], tuple[str, ...]], ...] = (
            (_SERVICES[1], (authorization,), ()),
            (_SERVICES[0], (management, credentials), ()),
            (_SERVICES[2], (sts,), ("Login", "AssumeRoleWithWebIdentity")),
            (_SERVICES[3], (AnalysisServicer(self.decider, self.store),), ()),
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
        # Envoy does not sign its calls: Check authenticates the HTTP request it describes.
        server.add_generic_rpc_handlers((envoy.check_handler(gateway),))
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
        if worker:
            await self.set_serving(False)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = [d.full_name for d in (*_SERVICES, envoy.SERVICE_DESCRIPTOR)] + [
            replication.SERVICE,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(names, server)
        await server.start()
        self._server, self._unstarted = server, None
        if self._http_socket is not None:
            self._forward_auth = forward_auth.ForwardAuthServer(
                gateway, request_seconds=self.settings.http_timeout
            )
            await self._forward_auth.start(self._http_socket)
            self._http_socket = None
        if worker:
            return self.address

        if self.settings.bootstrap:
            await bootstrap(
                self.pool,
                self.store,
                master_key,
                credentials_file=self.settings.credentials_file,
                endpoint=local_endpoint(self.address),
                tls=tls is not None,
                audience=self.settings.service_name,
            )
        elif await self.store.get_organization() is None:
            log.warning("no organization yet: create it with `iamd bootstrap`")
        await self.set_serving(True)
        return self.address

    async def set_serving(self, serving: bool) -> None:
        """Health of every service and of the server as a whole ("")."""
        assert self._health is not None
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for descriptor in (*_SERVICES, envoy.SERVICE_DESCRIPTOR):
            await self._health.set(descriptor.full_name, status)
        await self._health.set("", status)

    def reopen_logs(self) -> None:
        """SIGHUP: reopen the decision log (the platform rotated it)."""
        if self.decision_log is not None:
            self.decision_log.reopen()

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
        if self._forward_auth is not None:
            await self._forward_auth.stop()
        if self._http_socket is not None:
            self._http_socket.close()
        if self._server is not None:
            # In-flight calls finish within the grace period; new ones are refused.
            await self._server.stop(self.settings.grace_seconds)
        self._unstarted = None
        steps: list[tuple[str, Callable[[], Awaitable[None]] | None]] = [
            ("metrics export", self._export.stop if self._export else None),
            ("OIDC key refresh", self._jwks.stop if self._jwks else None),
            ("access key usage", self._key_usage.stop if self._key_usage else None),
            ("last-accessed data", self.last_accessed.stop if self.last_accessed else None),
            ("decision log", self.decision_log.stop if self.decision_log else None),
            ("decider", self.decider.stop if self.decider else None),
            ("change feed", self.feed.stop if self.feed else None),
            ("database pool", self._close_pool if self.pool else None),
            ("tracing", tracing.stop),
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


def local_endpoint(address: str) -> str:
    """Where a client on this machine reaches a server listening on ``address``."""
    host, _, port = address.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):
        return f"127.0.0.1:{port}"
    return address


async def serve(settings: Settings) -> None:
    """Runs until SIGINT or SIGTERM, then drains in-flight calls and stops cleanly.

    Raises StartupError when the server cannot start. A worker reports its start (or why it
    failed) to its supervisor instead of printing it, and stops when the supervisor is gone."""
    server = IamdServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, server.reopen_logs)
    link = None
    if settings.worker_control_fd is not None:
        link = await SupervisorLink.open(settings.worker_control_fd)
    following: asyncio.Task[None] | None = None
    try:
        try:
            address = await _start(server)
        except StartupError as exc:
            if link is not None:
                await link.report_failure(str(exc))
            raise
        # Everything built so far lives as long as the process: keep the cyclic collector
        # from walking it again and again under load (it only ever grows the cost per call).
        gc.collect()
        gc.freeze()
        if link is None:
            if server.http_address:
                print(f"iamd forward-auth listening on {server.http_address}", flush=True)
            print(f"iamd listening on {address}", flush=True)
        else:
            following = loop.create_task(link.follow(server.set_serving, stop.set))
            await link.report_ready()
        await stop.wait()
    finally:
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        await server.stop()
        if link is not None:
            link.close()
    if link is None:
        print("iamd stopped", flush=True)


async def _start(server: IamdServer) -> str:
    try:
        return await server.start()
    except StartupError:
        raise
    except Exception as exc:
        log.debug("start-up failed", exc_info=exc)
        raise StartupError(
            f"cannot start: {type(exc).__name__}: {one_line(exc)} (--log-level DEBUG shows where)"
        ) from exc


def serve_command(args: argparse.Namespace) -> int:
    who = "" if args.worker_index is None else f"worker-{args.worker_index} "
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s %(levelname)s {who}%(name)s %(message)s",
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
        bootstrap=args.bootstrap,
        max_staleness=args.max_staleness,
        load_timeout=args.load_timeout,
        cache_max_bytes=args.cache_max_bytes,
        pool_size=args.pool_size,
        workers=args.workers,
        worker_index=args.worker_index,
        worker_control_fd=args.worker_control_fd,
        http_listen=args.http_listen,
        http_timeout=args.http_timeout,
        decision_log=args.decision_log,
        decision_log_sample_allows=args.decision_log_sample_allows,
        decision_log_sample_denials=args.decision_log_sample_denials,
        event_loop=args.event_loop,
        otel=args.otel,
    )
    try:
        if settings.workers > 1 and not settings.is_worker:
            from iamd_server.runtime.supervisor import supervise

            # The supervisor serves no calls (and starts workers with asyncio's subprocess
            # options, which uvloop lacks): only the workers run on the chosen loop.
            event_loop.resolve(args.event_loop)
            return asyncio.run(supervise(settings, log_level=args.log_level))
        event_loop.run(serve(settings), args.event_loop)
    except (StartupError, event_loop.EventLoopUnavailable) as exc:
        if not settings.is_worker:  # a worker has told its supervisor, which says it once
            print(f"iamd: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
