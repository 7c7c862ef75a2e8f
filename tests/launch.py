"""`iamd serve` processes whose stdout and stderr are kept apart (start-up tests read stderr)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def serve_argv(
    directory: Path,
    *,
    database_url: str | None = None,
    data_dir: Path | None = None,
    listen: str = "127.0.0.1:0",
    extra: Sequence[str] = (),
) -> list[str]:
    """`iamd serve` with its files in ``directory``: the given database, else an embedded
    PostgreSQL in ``data_dir`` (default ``directory/data``)."""
    argv = [sys.executable, "-m", "iamd_server.runtime.cli", "serve", "--listen", listen]
    if database_url is not None:
        argv += ["--database-url", database_url]
    else:
        argv += ["--data-dir", str(data_dir or directory / "data")]
    argv += [
        "--credentials-file",
        str(directory / "credentials"),
        "--master-key-file",
        str(directory / "master.key"),
        *extra,
    ]
    return argv


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    """This process's environment without iamd's own settings, plus ``env``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("IAMD_")}
    return {**inherited, **(env or {})}


@dataclass
class Launched:
    process: subprocess.Popen[str]
    endpoint: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def wait_for_stderr(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.stderr):
                return True
            time.sleep(0.05)
        return False


def launch(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> Launched:
    """Starts the server and waits until it listens."""
    process = subprocess.Popen(
        list(argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(env),
    )
    assert process.stdout is not None and process.stderr is not None
    launched = Launched(process, "")
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: IO[str], into: list[str], notify: bool) -> None:
        for line in stream:
            into.append(line)
            if notify:
                lines.put(line)
        if notify:
            lines.put(None)

    threading.Thread(target=pump, args=(process.stdout, launched.stdout, True), daemon=True).start()
    threading.Thread(
        target=pump, args=(process.stderr, launched.stderr, False), daemon=True
    ).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            raise RuntimeError("iamd did not start in time:\n" + "".join(launched.stderr)) from None
        if line is None:
            process.wait(10)
            raise RuntimeError("iamd exited during start:\n" + "".join(launched.stderr))
        if line.startswith("iamd listening on "):
            launched.endpoint = line.split()[-1]
            return launched


def run_to_exit(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Runs a command that is expected to end by itself (a start that must fail)."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, env=_environment(env)
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], expected: str) -> str:
    """A start-up failure: non-zero exit, exactly one line on stderr containing ``expected``,
    no traceback anywhere."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    return lines[0]
