"""Usage errors of iamctl and the short usage printed with them."""

from __future__ import annotations

import argparse
from typing import NoReturn

SHORT_USAGE = (
    "usage: iamctl [GLOBAL OPTIONS] [iam|sts|organizations] COMMAND [FLAGS]\n"
    "       iamctl help [COMMAND]\n"
)
HINT = "Run `iamctl help` for the commands and global options."

EXIT_API_ERROR = 1
EXIT_USAGE = 2


class UsageError(ValueError):
    """Bad command-line input (exit status 2), with the usage to print beside it."""

    def __init__(self, message: str, *, usage: str = SHORT_USAGE, hint: str = "") -> None:
        super().__init__(message)
        self.usage = usage
        self.hint = hint


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are UsageErrors (reported once, by `main`)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, usage=self.format_usage())


def did_you_mean(matches: list[str]) -> str:
    """ "; did you mean X?" for the closest match (and the next ones in parentheses)."""
    if not matches:
        return ""
    others = f" (or {', '.join(matches[1:])})" if len(matches) > 1 else ""
    return f"; did you mean {matches[0]}?{others}"
