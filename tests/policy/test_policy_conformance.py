"""The conformance corpus, in-process and through the `simulate` command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from iamd_policy.simulate import simulate_line

CORPUS = Path(__file__).resolve().parents[1] / "conformance" / "public.jsonl"
SERVER = Path(__file__).resolve().parents[2] / "server"


def load_cases() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def request_line(case: dict[str, Any]) -> str:
    return json.dumps({**case["request"], "id": case["id"]})


def compare(cases: list[dict[str, Any]], outputs: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    checked = 0
    for case in cases:
        output = outputs.get(case["id"])
        if output is None or "EvaluationResults" not in output:
            problems.append(f"{case['id']}: no results: {output}")
            continue
        got = {(r["EvalActionName"], r["EvalResourceName"]): r for r in output["EvaluationResults"]}
        for expected in case["expect"]:
            pair = (expected["EvalActionName"], expected["EvalResourceName"])
            result = got.get(pair)
            checked += 1
            decision = result["EvalDecision"] if result else None
            if decision != expected["EvalDecision"]:
                problems.append(
                    f"{case['id']} {pair}: got {decision}, want {expected['EvalDecision']}"
                )
    assert checked > 2000
    return problems


def test_corpus_in_process() -> None:
    cases = load_cases()
    outputs = {case["id"]: simulate_line(request_line(case)) for case in cases}
    assert compare(cases, outputs) == []


def _run_cli(command: list[str], lines: str) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(SERVER)}
    proc = subprocess.run(
        command, input=lines, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    outputs = {}
    for line in proc.stdout.splitlines():
        item = json.loads(line)
        outputs[item["id"]] = item
    return outputs


def test_corpus_through_cli_module() -> None:
    cases = load_cases()
    lines = "".join(request_line(case) + "\n" for case in cases)
    outputs = _run_cli([sys.executable, "-m", "iamd_policy.simulate", "--format", "json"], lines)
    assert len(outputs) == len(cases)
    assert compare(cases, outputs) == []


def _iamd() -> str | None:
    candidate = Path(sys.executable).with_name("iamd")
    if candidate.exists():
        return str(candidate)
    return shutil.which("iamd")


@pytest.mark.skipif(_iamd() is None, reason="iamd console script not installed")
def test_corpus_through_iamd_simulate() -> None:
    cases = load_cases()
    lines = "".join(request_line(case) + "\n" for case in cases)
    command = [_iamd() or "iamd", "simulate"]
    outputs = _run_cli(command, lines)
    assert compare(cases, outputs) == []


@pytest.mark.skipif(_iamd() is None, reason="iamd console script not installed")
def test_iamd_simulate_input_file_explains_the_corrected_cases() -> None:
    """`iamd simulate --input` over the corpus: every decision, and the explanation shows the
    CIDR block that held the address (c01317) and the substituted resource (c01901)."""
    env = {**os.environ, "PYTHONPATH": str(SERVER)}
    command = [_iamd() or "iamd", "simulate", "--input", str(CORPUS), "--format", "json"]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outputs = {item["id"]: item for item in map(json.loads, proc.stdout.splitlines())}
    assert compare(load_cases(), outputs) == []

    ip_case = outputs["c01317"]["EvaluationResults"][0]
    assert ip_case["EvalDecision"] == "implicitDeny"
    (statement,) = ip_case["StatementTrace"]
    assert statement["Applies"] is False
    ip_condition = next(c for c in statement["Conditions"] if c["Operator"] == "NotIpAddress")
    assert ip_condition["Result"] is False
    assert ip_condition["Matches"] == [
        {"ContextValue": "203.0.113.9", "PolicyValue": "0.0.0.0/0", "Substituted": None}
    ]

    dev_jobs = "arn:aws:sqs:us-east-1:111122223333:dev-jobs"
    queue_case = next(
        r for r in outputs["c01901"]["EvaluationResults"] if r["EvalResourceName"] == dev_jobs
    )
    assert queue_case["EvalDecision"] == "allowed"
    applied = [t for t in queue_case["StatementTrace"] if t["Applies"]]
    assert [
        (t["StatementIndex"], t["MatchedResource"], t["SubstitutedResource"]) for t in applied
    ] == [
        (
            1,
            "arn:aws:sqs:*:111122223333:${aws:PrincipalTag/team}-*",
            "arn:aws:sqs:*:111122223333:dev-*",
        )
    ]


def test_cli_errors_do_not_stop_the_run(tmp_path: Path) -> None:
    good = {
        "id": "ok",
        "PolicyInputList": [
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
                }
            )
        ],
        "ActionNames": ["s3:GetObject", "s3:PutObject"],
        "ResourceArns": ["arn:aws:s3:::b/k"],
        "CallerArn": "arn:aws:iam::111122223333:user/a",
        "ResourceOwner": "arn:aws:iam::111122223333:root",
        "PermissionsBoundaryPolicyInputList": [
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                }
            )
        ],
        "ServiceControlPolicyInputList": [
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"},
                }
            )
        ],
    }
    bad_policy = {**good, "id": "bad-policy", "PolicyInputList": ['{"Statement": 1}']}
    bad_context = {
        **good,
        "id": "bad-context",
        "ContextEntries": [
            {"ContextKeyName": "aws:SourceIp", "ContextKeyType": "ip", "ContextKeyValues": ["x"]}
        ],
    }
    nested = {"id": "nested", "request": {k: v for k, v in good.items() if k != "id"}}
    path = tmp_path / "cases.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{not json",
                json.dumps(bad_policy),
                json.dumps(bad_context),
                json.dumps(nested),
            ]
        )
        + "\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SERVER)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "iamd_policy.simulate",
            "--input",
            str(path),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 1
    assert [o.get("id") for o in out] == ["ok", None, "bad-policy", "bad-context", "nested"]
    first = out[0]["EvaluationResults"]
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in first] == [
        ("s3:GetObject", "allowed"),
        ("s3:PutObject", "implicitDeny"),
    ]
    assert first[0]["MatchedStatements"] == [
        {
            "SourcePolicyId": "PolicyInputList.1",
            "SourcePolicyType": "none",
            "StatementIndex": 0,
            "Sid": None,
        }
    ]
    assert first[0]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    assert first[0]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert out[1]["Error"]["Code"] == "InvalidInput"
    assert out[2]["Error"]["Code"] == "MalformedPolicyDocument"
    assert "PolicyInputList.1" in out[2]["Error"]["Message"]
    assert out[3]["Error"]["Code"] == "InvalidInput"
    assert out[4]["EvaluationResults"][0]["EvalDecision"] == "allowed"
    table = subprocess.run(
        [
            sys.executable,
            "-m",
            "iamd_policy.simulate",
            "--input",
            str(path),
            "--format",
            "table",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert "DECISION" in table.stdout and "allowed" in table.stdout
