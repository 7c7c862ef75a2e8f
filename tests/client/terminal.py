"""Talk to a command on a pseudo-terminal, as a person at a terminal would.

pexpect forks. Forking the test process, whose gRPC threads are running, may kill the
child before it execs (gRPC's fork handlers close under it), so the dialogue runs in a
fresh interpreter that never imports gRPC: this file, run as a script. Only the standard
library and pexpect are imported here.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dialogue:
    transcript: str
    """Everything the terminal showed (prompts, echoed answers, output)."""
    exit_status: int | None
    failed_at: str | None
    """The text that never came (None when every prompt came)."""


def converse(
    argv: Sequence[str],
    env: dict[str, str],
    steps: Sequence[tuple[str, str]],
    *,
    timeout: float = 30,
) -> Dialogue:
    """Run `argv` on a terminal; for each (prompt, answer) wait for the prompt, then type the
    answer and Enter; then wait for the command to end."""
    request = {"argv": list(argv), "env": env, "steps": list(steps), "timeout": timeout}
    result = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout * (len(steps) + 2),
        check=True,
    )
    return Dialogue(**json.loads(result.stdout))


def _drive(request: dict[str, Any]) -> dict[str, Any]:
    import pexpect

    argv: list[str] = request["argv"]
    steps: list[list[str]] = request["steps"]
    shown = io.StringIO()
    child = pexpect.spawn(
        argv[0], argv[1:], env=request["env"], encoding="utf-8", timeout=request["timeout"]
    )
    child.logfile_read = shown
    failed_at = None
    try:
        for prompt, answer in steps:
            failed_at = prompt
            child.expect_exact(prompt)
            child.sendline(answer)
        failed_at = "(the end)"
        child.expect(pexpect.EOF)
        failed_at = None
    except (pexpect.EOF, pexpect.TIMEOUT):
        pass
    child.close()
    return {"transcript": shown.getvalue(), "exit_status": child.exitstatus, "failed_at": failed_at}


if __name__ == "__main__":
    print(json.dumps(_drive(json.load(sys.stdin))))
