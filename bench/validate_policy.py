"""Milliseconds per ValidatePolicy check (the pure engine, no gRPC), median of rounds.

Documents:
  typical      a 5-statement identity policy with conditions (what people write)
  managed-max  an identity policy at the 6,144-character managed-policy quota
  resource-max a resource policy at its 20,480-character quota of tiny public statements
               (hundreds of findings, every pair of statements compared)
  adversarial  backtracking-prone wildcards compared pairwise, stopped by the work budget
  not-policy   131,072 characters (the RPC's limit) that the grammar refuses at once

Run: PYTHONPATH=server python bench/validate_policy.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from iamd_policy import PolicyKind, builtin_registry
from iamd_policy.findings import validate_policy_document


def _doc(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


def documents() -> dict[str, tuple[str, PolicyKind]]:
    account = "111122223333"
    typical: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["iam:Get*", "iam:List*", "iam:PassRole"],
            "Resource": f"arn:aws:iam::{account}:role/app-*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "${aws:PrincipalTag/team}"}},
        },
        {
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": f"arn:aws:iam::{account}:role/x",
        },
        {"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": f"arn:aws:kms:eu-west-1:{account}:key/*",
            "Condition": {"Bool": {"aws:SecureTransport": "true"}},
        },
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"},
    ]
    managed: list[dict[str, Any]] = []
    while len(json.dumps(managed)) < 5900:
        n = len(managed)
        managed.append(
            {
                "Effect": "Allow",
                "Action": [f"iam:Get{n}*", "iam:ListUsers"],
                "Resource": f"arn:aws:iam::{account}:user/team-{n}/*",
            }
        )
    public: list[dict[str, Any]] = []
    while len(json.dumps(public, separators=(",", ":"))) < 20000:
        public.append({"Effect": "Allow", "Principal": "*", "Action": "a:b", "Resource": "*"})
    actions = ["kms:" + "*a" * 40 + f"*{i}" for i in range(20)]
    resources = ["arn:aws:kms:*:*:" + "*a" * 40 + f"*{i}" for i in range(20)]
    adversarial = [{"Effect": "Allow", "Action": actions, "Resource": resources}] * 2
    compact = json.dumps({"Version": "2012-10-17", "Statement": public}, separators=(",", ":"))
    return {
        "typical": (_doc(typical), PolicyKind.IDENTITY),
        "managed-max": (_doc(managed), PolicyKind.IDENTITY),
        "resource-max": (compact, PolicyKind.RESOURCE),
        "adversarial": (_doc(adversarial), PolicyKind.IDENTITY),
        "not-policy": ("[" + " " * 131_070 + "]", PolicyKind.IDENTITY),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    registry = builtin_registry()
    cases = documents()
    times: dict[str, list[float]] = {name: [] for name in cases}
    findings: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, (text, kind) in cases.items():
            started = time.perf_counter()
            result = validate_policy_document(text, kind, registry)
            times[name].append((time.perf_counter() - started) * 1000)
            findings[name] = len(result)
    print(f"{'document':<14}{'characters':>11}{'findings':>10}{'median ms':>11}{'max ms':>9}")
    for name, (text, _) in cases.items():
        print(
            f"{name:<14}{len(text):>11}{findings[name]:>10}"
            f"{statistics.median(times[name]):>11.2f}{max(times[name]):>9.2f}"
        )


if __name__ == "__main__":
    main()
