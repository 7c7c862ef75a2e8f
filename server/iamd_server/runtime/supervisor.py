"""`iamd serve --workers N`: one supervisor process and N worker processes on one port.

One Python process serves from one core at a time; N workers serve from N cores. Each
worker is a whole iamd replica (its own caches, change feed and connection pool) and the
supervisor only starts, watches and stops them:

- Workers are fresh interpreters (`python -m iamd_server.runtime.cli serve --worker-index I ...`),
  not forks of the supervisor: gRPC's core does not survive fork() (its threads and poller
  stay behind in the parent), and a re-exec needs no care about what the supervisor has
  imported or started. The database URL reaches them in the environment, not argv, so its
  password does not show in `ps`.
- The port: the supervisor binds the address first (port 0 picks one) and keeps that
  socket, bound but not listening, for its whole life. The bind is exclusive until done, so
  a port already in use fails the start in one line; then SO_REUSEPORT is turned on and
  each worker binds the same HOST:PORT with it (gRPC's `grpc.so_reuseport`); the kernel
  spreads new connections over the listening workers, and the port stays claimed while a
  worker restarts.
- What must happen once happens here, before any worker starts: the data-directory lock
  and the embedded PostgreSQL, migrations, the master key check, and bootstrap of a new
  database. The JWKS refresh of OIDC providers runs here too, so it keeps its pace across
  worker restarts. The access keys' last-used flush runs in every worker: its batched
  UPDATE only ever moves a time forward, so the workers' batches commute.
- Health: a worker tells the supervisor when it is ready over its control socket (see
  worker.py); the supervisor tells every worker SERVING only while all of them are ready,
  and NOT_SERVING as soon as one dies, so any worker answering a health check answers for
  the whole.
- A worker that dies is started again, after 0.5 s, then 1, 2, 4 ... at most 30 s while it
  keeps dying quickly (a crash loop does not spin); one that ran for a minute starts over
  at 0.5 s. A worker that fails during the first start fails the whole start, in one line.
- SIGTERM or SIGINT: every worker gets SIGTERM (a worker interrupted before it could handle
  signals would print a traceback on SIGINT) and drains its calls; the supervisor exits 0
  once all have stopped, or 1 if it had to kill one that did not within the grace period.
- Metrics: see metrics_multiprocess.py; the supervisor serves them on --metrics-listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from iamd_server.authn.crypto import MasterKey
from iamd_server.authn.master_key import load_master_key
from iamd_server.authn.oidc import JwksRefresher
from iamd_server.runtime import metrics
from iamd_server.runtime.app import Settings, local_endpoint
from iamd_server.runtime.bootstrap import bootstrap
from iamd_server.runtime.metrics_multiprocess import aggregate_registry, forget_worker
from iamd_server.runtime.worker import FAILED, NOT_SERVING, READY, SERVING
from iamd_server.startup import StartupError, connect, one_line
from iamd_server.store import Store
from iamd_server.store.embedded import EmbeddedPostgres
from iamd_server.store.migrate import migrate
from iamd_server.store.pool import create_pool

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0
STABLE_SECONDS = 60.0  # a worker that ran this long restarts without delay history
DRAIN_MARGIN = 10.0  # beyond the workers' grace period, before they are killed
# Connections each worker's pool may open: at most 10, fewer with many workers so that all
# of them stay within PostgreSQL's default of 100 connections.
POOL_BUDGET = 80


def worker_pool_size(settings: Settings) -> int:
    return max(2, min(settings.pool_size, POOL_BUDGET // settings.workers))


def reserve(listen: str) -> tuple[socket.socket, str]:
    """Binds HOST:PORT for the workers to share; the socket and the bound address."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit():
        raise StartupError(f"--workers needs a HOST:PORT address to listen on, not {listen!r}")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            bare or None, int(port_text), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, OverflowError) as exc:
        raise StartupError(f"cannot listen on {listen}: {one_line(exc)}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does
        sock.bind(address)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError as exc:
        sock.close()
        why = (exc.strerror or one_line(exc)).lower()
        raise StartupError(f"cannot listen on {listen}: {why}") from exc
    return sock, f"{host}:{sock.getsockname()[1]}"


@dataclass
class _Slot:
    """One worker position: the current process of that index, if any."""

    index: int
    process: asyncio.subprocess.Process | None = None
    writer: asyncio.StreamWriter | None = None
    ready: bool = False
    failure: str | None = None  # what the current process said when its start failed
    started: float = 0.0
    quick_exits: int = 0

    def next_delay(self, now: float) -> float:
        if now - self.started >= STABLE_SECONDS:
            self.quick_exits = 0
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2.0**self.quick_exits)
        self.quick_exits += 1
        return delay


@dataclass
class Supervisor:
    settings: Settings
    log_level: str = "INFO"
    address: str = ""
    restarts: int = 0
    slots: list[_Slot] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _started: bool = False
    _serving: bool = False
    _initial: asyncio.Future[None] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _reserved: socket.socket | None = None
    _reserved_http: socket.socket | None = None  # the forward-auth port (--http-listen)
    http_address: str | None = None
    _embedded: EmbeddedPostgres | None = None
    _pool: asyncpg.Pool | None = None
    _jwks: JwksRefresher | None = None
    _dsn: str = ""
    _metrics_dir: str | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def reopen_logs(self) -> None:
        """SIGHUP: every worker reopens its decision log."""
        for slot in self.slots:
            if slot.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signal.SIGHUP)

    def request_stop(self) -> None:
        self._stopping.set()
        if self._initial is not None and not self._initial.done():
            self._initial.set_result(None)

    async def start(self) -> str:
        """Everything that runs once, then the workers; returns when all are ready."""
        settings = self.settings
        if not settings.database_url:
            self._embedded = EmbeddedPostgres(settings.data_dir)
            self._embedded.lock()
        self._reserved, self.address = reserve(settings.listen)
        if settings.http_listen:
            self._reserved_http, self.http_address = reserve(settings.http_listen)
        tls = settings.server_credentials() is not None  # checks the TLS files too
        if settings.metrics_listen:
            self._metrics_dir = tempfile.mkdtemp(prefix="iamd-metrics-")  # new, so empty
            registry = aggregate_registry(self._metrics_dir, _SupervisorCollector(self))
            try:
                metrics.serve_http(settings.metrics_listen, registry)
            except (OSError, ValueError) as exc:
                raise StartupError(
                    f"cannot serve metrics on {settings.metrics_listen}: {one_line(exc)}"
                ) from exc
        if self._embedded is not None:
            self._dsn = await asyncio.to_thread(self._embedded.start)
            verb = "created and started" if self._embedded.created else "started"
            print(f"iamd: {verb} an embedded {self._embedded.describe()}", flush=True)
        else:
            assert settings.database_url
            self._dsn = settings.database_url
        conn = await connect(self._dsn)
        try:
            applied = await migrate(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            key = await load_master_key(conn, settings.master_key_file)
        finally:
            await conn.close()
        self._pool = await create_pool(self._dsn, min_size=1, max_size=2)
        store = Store(self._pool)
        if settings.bootstrap:
            await bootstrap(
                self._pool,
                store,
                MasterKey(key),
                credentials_file=settings.credentials_file,
                endpoint=local_endpoint(self.address),
                tls=tls,
                audience=settings.service_name,
            )
        elif await store.get_organization() is None:
            log.warning("no organization yet: create it with `iamd bootstrap`")
        self._jwks = JwksRefresher(
            store, interval=settings.jwks_refresh_seconds, allow_http=settings.oidc_allow_http
        )
        self._jwks.start()

        if self.stopping:
            return self.address
        self._initial = asyncio.get_running_loop().create_future()
        self.slots = [_Slot(i) for i in range(settings.workers)]
        self._tasks = [asyncio.create_task(self._keep(slot)) for slot in self.slots]
        await self._initial  # all ready, a stop request, or a StartupError
        self._started = True
        return self.address

    async def wait(self) -> None:
        await self._stopping.wait()

    async def close(self) -> bool:
        """Drains the workers and stops what start() started; False if a worker had to be
        killed."""
        self.request_stop()
        clean = await self._drain()
        if self._jwks is not None:
            await self._jwks.stop()
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 10)
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.stop)
        for reserved in (self._reserved, self._reserved_http):
            if reserved is not None:
                reserved.close()
        if self._metrics_dir is not None:
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
        return clean

    async def _drain(self) -> bool:
        running = [slot.process for slot in self.slots if slot.process is not None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        clean = True
        if running:
            waits = [asyncio.ensure_future(process.wait()) for process in running]
            _, late = await asyncio.wait(waits, timeout=self.settings.grace_seconds + DRAIN_MARGIN)
            for process in running:
                if process.returncode is None:
                    log.warning("worker pid %d did not stop in time; killing it", process.pid)
                    clean = False
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            if late:
                await asyncio.wait(late, timeout=10)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        return clean

    # -- workers ---------------------------------------------------------------------------

    def _argv(self, slot: _Slot, fd: int) -> list[str]:
        settings = self.settings
        argv = [sys.executable, "-m", "iamd_server.runtime.cli", "serve"]
        argv += ["--listen", self.address]
        argv += ["--credentials-file", str(settings.credentials_file)]
        argv += ["--master-key-file", str(settings.master_key_file)]
        argv += ["--service-name", settings.service_name]
        argv += ["--oidc-jwks-refresh-seconds", repr(settings.jwks_refresh_seconds)]
        argv += ["--log-level", self.log_level]
        argv += ["--pool-size", str(worker_pool_size(settings))]
        if self.http_address:
            argv += ["--http-listen", self.http_address]
            argv += ["--http-timeout", repr(settings.http_timeout)]
        argv += ["--max-staleness", repr(settings.max_staleness)]
        argv += ["--load-timeout", repr(settings.load_timeout)]
        argv += ["--event-loop", settings.event_loop]
        # The budget is the server's: each worker holds caches of its own.
        argv += ["--cache-max-bytes", str(settings.cache_max_bytes // settings.workers)]
        argv += ["--worker-index", str(slot.index), "--worker-control-fd", str(fd)]
        if settings.decision_log:  # each worker appends whole lines to the same path
            argv += ["--decision-log", settings.decision_log]
            argv += ["--decision-log-sample-allows", repr(settings.decision_log_sample_allows)]
            argv += ["--decision-log-sample-denials", repr(settings.decision_log_sample_denials)]
        if settings.oidc_allow_http:
            argv.append("--oidc-allow-http")
        if settings.otel:
            argv.append("--otel")
        for flag, path in (
            ("--tls-cert-file", settings.tls_cert_file),
            ("--tls-key-file", settings.tls_key_file),
            ("--tls-client-ca-file", settings.tls_client_ca_file),
        ):
            if path is not None:
                argv += [flag, str(path)]
        return argv

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("IAMD_METRICS_LISTEN", "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
            env.pop(name, None)
        env["IAMD_WORKERS"] = "1"
        env["IAMD_DATABASE_URL"] = self._dsn
        if self._metrics_dir is not None:
            env["PROMETHEUS_MULTIPROC_DIR"] = self._metrics_dir
        return env

    async def _keep(self, slot: _Slot) -> None:
        """Runs the worker of ``slot``, again and again, until the supervisor stops."""
        loop = asyncio.get_running_loop()
        while not self.stopping:
            try:
                outcome = await self._run(slot)
            except Exception as exc:  # could not even start the process
                outcome = f"could not be started: {one_line(exc)}"
                log.debug("starting worker %d failed", slot.index, exc_info=exc)
            if self.stopping:
                return
            if self._initial is not None and not self._initial.done():
                # The first start: a worker that cannot start fails it, as iamd alone would.
                reason = slot.failure or f"worker {slot.index} {outcome}"
                self._initial.set_exception(StartupError(reason))
                return
            delay = slot.next_delay(loop.time())
            self.restarts += 1
            log.warning("worker %d %s; starting it again in %.1f s", slot.index, outcome, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run(self, slot: _Slot) -> str:
        """One process of ``slot`` from start to exit; what became of it, in words."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv(slot, theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                env=self._environment(),
                # Its own process group: a Ctrl-C at the terminal reaches the supervisor
                # only, which stops the workers in order.
                process_group=0,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        slot.process, slot.failure, slot.ready = process, None, False
        slot.started = asyncio.get_running_loop().time()
        if self.stopping:  # the drain may have signalled the workers before this one existed
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        reader, slot.writer = await asyncio.open_connection(sock=ours)
        listening = asyncio.create_task(self._listen(slot, reader))
        try:
            code = await process.wait()
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
            slot.writer.close()
            slot.process = slot.writer = None
            if slot.ready:
                slot.ready = False
                self._update_health()
            if self._metrics_dir is not None:
                forget_worker(process.pid, self._metrics_dir)
        if slot.failure is not None:
            return f"(pid {process.pid}) failed to start: {slot.failure}"
        if code < 0:
            return f"(pid {process.pid}) was killed by {signal.Signals(-code).name}"
        return f"(pid {process.pid}) exited with status {code}"

    async def _listen(self, slot: _Slot, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, ValueError):
            while line := await reader.readline():
                word, _, rest = line.decode(errors="replace").strip().partition(" ")
                if word == READY and not slot.ready:
                    slot.ready = True
                    pid = slot.process.pid if slot.process else 0
                    # The first start is told in one line by supervise().
                    level = logging.INFO if self._started else logging.DEBUG
                    log.log(level, "worker %d (pid %d) ready", slot.index, pid)
                    self._update_health()
                elif word == FAILED:
                    slot.failure = rest

    def _update_health(self) -> None:
        """Tells every ready worker whether all are ready (their health answer)."""
        serving = bool(self.slots) and all(slot.ready for slot in self.slots)
        if serving and self._initial is not None and not self._initial.done():
            self._initial.set_result(None)
        if serving != self._serving and self._started and not self.stopping:
            ready = sum(1 for slot in self.slots if slot.ready)
            log.info("%d of %d workers ready", ready, len(self.slots))
        self._serving = serving
        message = (SERVING if serving else NOT_SERVING).encode() + b"\n"
        for slot in self.slots:
            if slot.ready and slot.writer is not None:
                with contextlib.suppress(OSError, RuntimeError):
                    slot.writer.write(message)


class _SupervisorCollector(Collector):
    """The supervisor's own figures, beside the workers' merged metrics."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        supervisor = self._supervisor
        yield GaugeMetricFamily(
            "iamd_workers", "Worker processes configured (--workers).", len(supervisor.slots)
        )
        yield GaugeMetricFamily(
            "iamd_workers_ready",
            "Worker processes ready to serve.",
            sum(1 for slot in supervisor.slots if slot.ready),
        )
        yield CounterMetricFamily(
            "iamd_worker_restarts", "Workers started again after they died.", supervisor.restarts
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())


async def supervise(settings: Settings, *, log_level: str = "INFO") -> int:
    """Runs the workers until SIGINT or SIGTERM, then drains them; the exit status.

    Raises StartupError when iamd cannot start."""
    supervisor = Supervisor(settings, log_level=log_level)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, supervisor.request_stop)
    loop.add_signal_handler(signal.SIGHUP, supervisor.reopen_logs)
    clean = False
    try:
        try:
            address = await supervisor.start()
        except StartupError:
            raise
        except Exception as exc:
            log.debug("start-up failed", exc_info=exc)
            raise StartupError(
                f"cannot start: {type(exc).__name__}: {one_line(exc)}"
                " (--log-level DEBUG shows where)"
            ) from exc
        if not supervisor.stopping:
            print(f"iamd: {settings.workers} workers ready", flush=True)
            if supervisor.http_address:
                print(f"iamd forward-auth listening on {supervisor.http_address}", flush=True)
            print(f"iamd listening on {address}", flush=True)
            await supervisor.wait()
    finally:
        clean = await supervisor.close()
    print("iamd stopped", flush=True)
    return 0 if clean else 1
