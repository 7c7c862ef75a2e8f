"""The `iamctl` console script (the command line itself lives in `iamd_client.cli`)."""

from __future__ import annotations

import sys

from iamd_client.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
