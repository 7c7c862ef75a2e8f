"""One iamd per data directory: an exclusive lock held for the life of the process.

`flock` on `iamd.lock` in the data directory; the kernel releases it when the process ends,
however it ends, so a crash never leaves a stale lock. The file holds the owner's pid, for the
message a second instance prints before it exits without touching anything.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from iamd_server.startup import StartupError

LOCK_FILE = "iamd.lock"


class AlreadyRunning(StartupError):
    pass


class DirectoryLock:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Takes the lock or raises AlreadyRunning naming the holder's pid."""
        if self._fd is not None:
            return
        # Not inherited by children (PEP 446): PostgreSQL must not keep it after iamd ends.
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"iamd is already running on this data directory (pid {holder}): {self.directory}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock
