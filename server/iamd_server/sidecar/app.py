"""The `iamd sidecar` process: follows an upstream iamd and serves Authorize,
AuthorizeBatch and gRPC health to the processes of its pod. No PostgreSQL, no master key."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import signal
import sys
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from iamd_client import credentials
from iamd_client.credentials import CredentialsError

from iamd_server.api.authorization import AuthorizationServicer
from iamd_server.authz.authorize_entry import AuthorizeEntry
from iamd_server.authz.decisions import Decider
from iamd_server.authz.session_policies import SessionPolicies
from iamd_server.runtime import metrics
from iamd_server.sidecar.authentication import ScopedKeyAuthenticator
from iamd_server.sidecar.follower import Follower
from iamd_server.sidecar.handlers import SERVICE, Freshness, authorization_handler
from iamd_server.sidecar.metrics import watch_follower
from iamd_server.sidecar.upstream import Upstream
from iamd_server.startup import StartupError, bind, one_line

log = logging.getLogger(__name__)

# How long start-up waits for the first batch from the upstream before serving anyway
# (calls are refused until it arrives; an unreachable upstream must not stop the pod).
FIRST_SYNC_WAIT = 5.0
HEALTH_INTERVAL = 0.5


@dataclass(frozen=True, slots=True)
class SidecarSettings:
    upstream: str
    listen: str = "127.0.0.1:50051"
    max_staleness: float = 300.0
    metrics_listen: str | None = None
    max_entries: int = 50_000
    profile: str | None = None
    upstream_tls: bool | None = None
    upstream_ca_file: str | None = None
    grace_seconds: float = 5.0


class Sidecar:
    """One sidecar. ``start()`` returns the bound address."""

    def __init__(self, settings: SidecarSettings) -> None:
        self.settings = settings
        self.address = ""
        self.upstream: Upstream | None = None
        self.follower: Follower | None = None
        self.decider: Decider | None = None
        self._server: grpc.aio.Server | None = None
        self._health: health.aio.HealthServicer | None = None
        self._health_task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        settings = self.settings
        try:
            config = credentials.resolve(
                endpoint=settings.upstream,
                profile=settings.profile,
                tls=settings.upstream_tls,
                ca_file=settings.upstream_ca_file,
            )
            upstream = self.upstream = Upstream(config)
        except (CredentialsError, ValueError) as exc:
            raise StartupError(one_line(exc)) from exc
        server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 8 << 20)]
        )
        port = bind(server, settings.listen, None)
        host = settings.listen.rsplit(":", 1)[0]
        self.address = f"{host}:{port}"
        if settings.metrics_listen:
            try:
                metrics.serve_http(settings.metrics_listen)
            except (OSError, ValueError) as exc:
                raise StartupError(
                    f"cannot serve metrics on {settings.metrics_listen}: {one_line(exc)}"
                ) from exc

        follower = self.follower = Follower(upstream.open_watch, max_items=settings.max_entries)
        decider = self.decider = Decider(
            follower,
            follower,
            max_entries=settings.max_entries,
            max_bytes=256 * 1024 * 1024,
            # Watch's index lists the sidecar's own account's resources only.
            index_lists_account_less=False,
        )
        metrics.watch_feed(_FeedMetrics(follower, settings.max_staleness))
        metrics.watch_cache("principals", decider.principals)
        metrics.watch_cache("resources", decider.resources)
        watch_follower(follower, settings.max_staleness)
        # Callers with temporary credentials: their session policies apply, as upstream.
        session_policies = SessionPolicies(follower)
        follower.subscribe(session_policies.on_change)
        decider.session_decide = functools.partial(session_policies.decide, decider)
        # The Decider subscribes (and reads the empty copy) before anything arrives.
        await decider.start()
        follower.start()
        print(
            f"iamd sidecar: following {upstream.address} as {config.access_key_id}"
            f" (credentials from {config.credentials_source}); no database, no master key",
            flush=True,
        )
        if not await follower.wait_ready(FIRST_SYNC_WAIT):
            log.warning(
                "the upstream %s is not reachable yet; refusing calls until it is", upstream.address
            )

        authorization = AuthorizationServicer(decider, AuthorizeEntry(decider), follower)
        decider.session_entry = session_policies.entry
        freshness = Freshness(follower, settings.max_staleness)
        authenticator = ScopedKeyAuthenticator(follower, upstream.audience)
        server.add_generic_rpc_handlers(
            (
                authorization_handler(
                    authorization, authenticator, upstream, freshness, metrics.observe_rpc
                ),
            )
        )
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        await server.start()
        self._server = server
        self._health_task = asyncio.get_running_loop().create_task(self._report_health(freshness))
        return self.address

    async def _report_health(self, freshness: Freshness) -> None:
        """SERVING while the copy may be used, NOT_SERVING beyond --max-staleness."""
        assert self._health is not None
        serving: int = health_pb2.HealthCheckResponse.SERVING
        not_serving: int = health_pb2.HealthCheckResponse.NOT_SERVING
        current: int | None = None
        while True:
            try:
                freshness.check()
                status = serving
            except Exception:
                status = not_serving
            if status != current:
                for name in ("", SERVICE):
                    await self._health.set(name, status)
                current = status
            await asyncio.sleep(HEALTH_INTERVAL)

    async def stop(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._server is not None:
            await self._server.stop(self.settings.grace_seconds)
        for step in (
            self.decider.stop if self.decider else None,
            self.follower.stop if self.follower else None,
            self.upstream.close if self.upstream else None,
        ):
            if step is None:
                continue
            try:
                await step()
            except Exception as exc:
                log.warning("stopping the sidecar: %s", one_line(exc))


async def run(settings: SidecarSettings) -> None:
    sidecar = Sidecar(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        try:
            address = await sidecar.start()
        except StartupError:
            raise
        except Exception as exc:
            log.debug("start-up failed", exc_info=exc)
            raise StartupError(f"cannot start: {type(exc).__name__}: {one_line(exc)}") from exc
        gc.collect()
        gc.freeze()
        print(f"iamd listening on {address}", flush=True)
        await stop.wait()
    finally:
        await sidecar.stop()
    print("iamd stopped", flush=True)


def sidecar_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if not args.upstream:
        print("iamd: sidecar needs --upstream HOST:PORT (or IAMD_UPSTREAM)", file=sys.stderr)
        return 2
    settings = SidecarSettings(
        upstream=args.upstream,
        listen=args.listen,
        max_staleness=args.max_staleness,
        metrics_listen=args.metrics_listen,
        max_entries=args.max_entries,
        profile=args.profile,
        upstream_tls=True if args.upstream_tls else None,
        upstream_ca_file=args.upstream_ca_file,
    )
    try:
        asyncio.run(run(settings))
    except StartupError as exc:
        print(f"iamd: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


class _FeedMetrics:
    """The follower as the server's change-feed metrics see a feed (metrics.FeedView)."""

    def __init__(self, follower: Follower, max_staleness: float) -> None:
        self._follower = follower
        self.max_staleness = max_staleness

    @property
    def applied_revision(self) -> int:
        return self._follower.applied_revision

    @property
    def database_revision(self) -> int:
        return self._follower.database_revision

    @property
    def connected(self) -> bool:
        return self._follower.connected

    @property
    def resets(self) -> int:
        return self._follower.resets

    @property
    def notifications(self) -> int:
        return self._follower.notifications

    @property
    def heartbeats(self) -> int:
        return 0  # the upstream's heartbeats show in iamd_sidecar_staleness_seconds

    @property
    def staleness(self) -> float:
        return self._follower.staleness()
