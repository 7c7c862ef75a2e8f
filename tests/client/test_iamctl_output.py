"""iamctl without a server: the AWS CLI's text and table formats, NextTokens, and the help
(every flag described, defaults and environment variables named, no Python wording)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from iamd_client import credentials
from iamd_client.cli import configure, main, paging
from iamd_client.cli.commands import rpc_commands
from iamd_client.cli.flags import command_parser
from iamd_client.cli.table import write_table
from iamd_client.cli.text import write_text
from iamd_client.cli.usage import UsageError


def text(value: Any) -> str:
    out = io.StringIO()
    write_text(value, out)
    return out.getvalue()


def table(value: Any, width: int = 200) -> list[str]:
    out = io.StringIO()
    write_table("ListThings", value, out, terminal_width=width)
    return out.getvalue().splitlines()


def test_text_format_is_the_aws_clis() -> None:
    users = {
        "Users": [
            {"UserName": "a", "Path": "/", "Tags": [{"Key": "k", "Value": "v"}]},
            {"UserName": "b", "Path": "/x/", "PermissionsBoundaryArn": "arn:p"},
        ],
        "IsTruncated": False,
    }
    # Top-level scalars first; then each record under its list's name, with the columns of
    # all records (sorted; missing ones empty); nested lists after their record.
    assert text(users) == ("False\nUSERS\t/\t\ta\nTAGS\tk\tv\nUSERS\t/x/\tarn:p\tb\n")
    assert text(["x", "y"]) == "x\ty\n"
    assert text({"Names": ["x", "y"]}) == "NAMES\tx\nNAMES\ty\n"
    assert text("one") == "one\n"
    assert text({"Ok": True, "Gone": None}) == "None\tTrue\n"
    assert text([]) == ""


def test_table_format_is_the_aws_clis() -> None:
    lines = table({"Count": 2, "Things": [{"Name": "a", "Size": 10}, {"Name": "bb", "Size": 2}]})
    assert lines == [
        "---------------------",
        "|    ListThings     |",
        "+------------+------+",
        "|  Count     |  2   |",
        "+------------+------+",
        "||     Things      ||",
        "|+--------+--------+|",
        "||  Name  |  Size  ||",
        "|+--------+--------+|",
        "||  a     |  10    ||",
        "||  bb    |  2     ||",
        "|+--------+--------+|",
    ]
    # Wider than the terminal: sections of one row turn into key/value rows.
    record = {"Arn": "arn:aws:iam::111122223333:user/a-rather-long-name", "Name": "a", "Id": "x"}
    wide = table(record, width=200)
    assert len(wide[0]) > 60 and "|  Arn  " not in "\n".join(wide)
    narrow = table(record, width=60)
    assert [line.split("|")[1].strip() for line in narrow[3:6]] == ["Arn", "Id", "Name"]
    assert table({}) == []


def test_next_tokens() -> None:
    position = paging.Position("bWFya2Vy", 7)
    assert paging.decode_token(paging.encode_token(position)) == position
    for bad in (
        "nope",
        "e30=",
        "W10=",
        "x" * 5000,
        paging.encode_token(paging.Position("", 0))[:-4],
    ):
        with pytest.raises(UsageError):
            paging.decode_token(bad)


def _help_texts() -> dict[str, str]:
    texts = {
        name: command_parser(command, f"iamctl {name}").format_help()
        for name, command in rpc_commands().items()
    }
    texts["configure"] = configure.parser().format_help()
    return texts


def test_every_flag_is_described() -> None:
    for name, command in rpc_commands().items():
        parser = command_parser(command, f"iamctl {name}")
        assert parser.description, name
        for action in parser._actions:
            if action.option_strings and action.help != "==SUPPRESS==":
                assert action.help and len(action.help) > 10, (name, action.option_strings)


def test_help_speaks_command_line_not_python() -> None:
    snake = re.compile(r"\b[a-z]+_[a-z_]+\b")
    for name, help_text in _help_texts().items():
        prose = help_text.replace("snake_case", "")
        assert "None" not in prose, name
        assert "empty =" not in prose and "absent =" not in prose, name
        # Fields are spelled as flags (--user-name) or output keys, never as in the proto.
        assert snake.findall(prose) == [], name
    assert "1,000" in _help_texts()["authorize-batch"]
    assert "100 " not in _help_texts()["authorize-batch"].split("\n\n")[1]


def test_help_names_defaults_and_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["help"]) == 0
    top = capsys.readouterr().out
    for variable in (
        credentials.ENV_ENDPOINT,
        credentials.ENV_ACCESS_KEY_ID,
        credentials.ENV_SECRET_ACCESS_KEY,
        credentials.ENV_SESSION_TOKEN,
        credentials.ENV_PROFILE,
        credentials.ENV_CREDENTIALS_FILE,
        "IAMD_DEFAULT_OUTPUT",
    ):
        assert variable in top
    for option in ("--profile", "--endpoint", "--output", "--query", "--no-paginate", "--timeout"):
        assert f"\n  {option} " in top
    assert "(default: 10)" in top and "127.0.0.1:50051" in top
    for namespace in ("iam", "sts", "organizations"):
        assert f"{namespace} commands" in top
    assert main(["iam", "list-users", "help"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("usage: iamctl iam list-users")
    assert "--max-items N" in listing and "default: all items" in listing
    assert main(["help", "sts"]) == 0
    assert "assume-role " in capsys.readouterr().out
    assert main(["configure", "--help"]) == 0
    assert "without echo" in capsys.readouterr().out
