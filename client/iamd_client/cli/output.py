"""Printing a response in the chosen format, after the --query expression (if any)."""

from __future__ import annotations

import json
from typing import Any, TextIO

from jmespath.parser import ParsedResult

from iamd_client.cli.table import write_table
from iamd_client.cli.text import write_text
from iamd_client.cli.usage import UsageError


def _yaml_module() -> Any:
    try:
        import yaml
    except ImportError:
        raise UsageError("--output yaml needs PyYAML (pip install 'iamd-client[yaml]')") from None
    return yaml


def check_format(fmt: str) -> None:
    """Fail before any call when the format cannot be printed (so no write goes unseen)."""
    if fmt == "yaml":
        _yaml_module()


def _yaml(value: Any, out: TextIO) -> None:
    _yaml_module().safe_dump(
        value, out, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def emit(
    data: dict[str, Any], fmt: str, out: TextIO, *, title: str, query: ParsedResult | None
) -> None:
    """Print `data` (the AWS-shaped response) as `fmt` ("json", "table", "text", "yaml").

    As in the AWS CLI, the text format prints a NextToken last, on a line of its own
    ("NEXTTOKEN<TAB>token"), unless a query picks what to print.
    """
    next_token = None
    if fmt == "text" and query is None and "NextToken" in data:
        data = dict(data)
        next_token = data.pop("NextToken")
    value: Any = query.search(data) if query is not None else data
    if fmt == "json":
        if value != "":
            out.write(json.dumps(value, indent=4, ensure_ascii=False) + "\n")
    elif fmt == "text":
        write_text(value, out)
        if next_token is not None:
            write_text({"NextToken": {"NextToken": next_token}}, out)
    elif fmt == "table":
        write_table(title, value, out)
    else:
        _yaml(value, out)
