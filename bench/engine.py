"""Median microseconds per decision of the compiled policy engine, against cedarpy.

Scenarios (same request generator for all; policies are 5 statements each):
  (a)  one principal with 10 policies, all about one service
  (b)  1,000 policies across 100 services (the same 50 statements per service as (a)),
       requests spread over the 100 services
  (b') (b) with requests on one service: isolates the index (cost per statement that can
       match) from CPU-cache effects of touching 100x more objects
  (c)  as (b) with a condition block on every statement
"iamd" is evaluate(..., explain=False), "iamd+explain" also collects matched statements and
missing context keys. The same decisions are made by cedarpy on an equivalent Cedar policy
set parsed once (`PolicySet.from_str`, reused handle; action wildcards expanded, the ARN
matched with `like` on a context attribute); the two engines are checked to agree. Rounds
interleave the scenarios and medians are reported, all figures from one run.

Run: PYTHONPATH=server python bench/engine.py [--rounds N] [--requests N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iamd_policy import (
    AuthorizationRequest,
    Context,
    Decision,
    PolicyKind,
    PolicySet,
    PolicySets,
    Principal,
    builtin_registry,
    compile_policy,
    evaluate,
)

ACCOUNT = "111122223333"
VERBS = ("Get", "Put", "Delete", "List", "Describe", "Create", "Update", "Tag")
NOUNS = ("Object", "Bucket", "Item", "Table", "Queue", "Key")


@dataclass
class Statement:
    effect: str
    actions: list[str]
    resources: list[str]
    condition: dict[str, dict[str, str]] | None


def service_actions(service: str) -> list[str]:
    return [f"{service}:{verb}{noun}" for verb in VERBS for noun in NOUNS]


def resource_for(service: str, name: str) -> str:
    return f"arn:aws:{service}:us-east-1:{ACCOUNT}:thing/{name}"


def make_statement(rng: random.Random, service: str, with_condition: bool) -> Statement:
    actions = rng.sample(service_actions(service), 2)
    if rng.random() < 0.3:
        actions.append(f"{service}:{rng.choice(VERBS)}*")
    team = rng.choice(("alpha", "beta", "gamma", "delta"))
    resources = [resource_for(service, f"{team}/*"), resource_for(service, f"shared-{team}")]
    condition = None
    if with_condition:
        condition = {
            "StringEquals": {"aws:RequestedRegion": rng.choice(("us-east-1", "eu-west-1"))}
        }
    effect = "Deny" if rng.random() < 0.05 else "Allow"
    return Statement(effect, actions, resources, condition)


def make_policies(
    rng: random.Random, count: int, services: list[str], with_condition: bool
) -> list[list[Statement]]:
    policies = []
    for i in range(count):
        service = services[i % len(services)]
        policies.append([make_statement(rng, service, with_condition) for _ in range(5)])
    return policies


def to_document(statements: list[Statement]) -> str:
    body = []
    for s in statements:
        item: dict[str, Any] = {"Effect": s.effect, "Action": s.actions, "Resource": s.resources}
        if s.condition:
            item["Condition"] = s.condition
        body.append(item)
    return json.dumps({"Version": "2012-10-17", "Statement": body})


def to_cedar(statements: list[Statement]) -> str:
    out = []
    for s in statements:
        expanded: list[str] = []
        for pattern in s.actions:
            if pattern.endswith("*"):
                service, _, prefix = pattern[:-1].partition(":")
                expanded += [
                    a for a in service_actions(service) if a.split(":")[1].startswith(prefix)
                ]
            else:
                expanded.append(pattern)
        actions = ", ".join(f'Action::"{a}"' for a in sorted(set(expanded)))
        likes = " || ".join(f'context.arn like "{r}"' for r in s.resources)
        when = f"({likes})"
        if s.condition:
            region = s.condition["StringEquals"]["aws:RequestedRegion"]
            when += f' && context.region == "{region}"'
        effect = "permit" if s.effect == "Allow" else "forbid"
        head = f'{effect}(principal == User::"alice", action in [{actions}], resource)'
        out.append(f"{head} when {{ {when} }};")
    return "\n".join(out)


def requests_for(rng: random.Random, services: list[str], n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        service = rng.choice(services)
        action = rng.choice(service_actions(service))
        team = rng.choice(("alpha", "beta", "gamma", "delta", "omega"))
        out.append((action, resource_for(service, f"{team}/doc-{rng.randint(1, 99)}")))
    return out


@dataclass
class Scenario:
    name: str
    ours: Callable[[], int]
    ours_explain: Callable[[], int]
    cedar: Callable[[], int]
    calls: int
    cedar_calls: int


def build_scenario(
    name: str,
    policies: list[list[Statement]],
    services: list[str],
    n: int,
    request_services: list[str] | None = None,
) -> Scenario:
    import cedarpy

    rng = random.Random(7)
    compiled = [
        compile_policy(to_document(p), PolicyKind.IDENTITY, policy_id=f"p{i}", source_type="user")
        for i, p in enumerate(policies)
    ]
    sets = PolicySets(identity=PolicySet.of(compiled))
    registry = builtin_registry()
    principal = Principal.from_arn(f"arn:aws:iam::{ACCOUNT}:user/alice")
    context = Context.from_entries([("aws:RequestedRegion", "string", ["us-east-1"])])
    pairs = requests_for(rng, request_services or services, n)
    requests = [AuthorizationRequest(principal, a, r, ACCOUNT, context) for a, r in pairs]

    def ours() -> int:
        allowed = 0
        for request in requests:
            if evaluate(request, sets, registry, explain=False).decision is Decision.ALLOWED:
                allowed += 1
        return allowed

    def ours_explain() -> int:
        allowed = 0
        for request in requests:
            if evaluate(request, sets, registry).decision is Decision.ALLOWED:
                allowed += 1
        return allowed

    cedar_set = cedarpy.PolicySet.from_str("\n".join(to_cedar(p) for p in policies))
    entities = cedarpy.Entities.from_json_str("[]")
    cedar_requests = [
        {
            "principal": 'User::"alice"',
            "action": f'Action::"{a}"',
            "resource": 'Resource::"r"',
            "context": {"arn": r, "region": "us-east-1"},
        }
        for a, r in pairs
    ]
    # Cedar is slow on large sets; fewer calls keep the run short (medians are per call).
    cedar_n = 200 if len(policies) <= 10 else 20

    def cedar() -> int:
        allowed = 0
        for request in cedar_requests[:cedar_n]:
            if cedarpy.is_authorized(request, cedar_set, entities).allowed:
                allowed += 1
        return allowed

    # Both engines must agree on every decision compared.
    for request, cedar_request in zip(requests[:cedar_n], cedar_requests[:cedar_n], strict=True):
        mine = evaluate(request, sets, registry).decision is Decision.ALLOWED
        theirs = cedarpy.is_authorized(cedar_request, cedar_set, entities).allowed
        if mine != theirs:
            raise SystemExit(f"engines disagree on {request.action} {request.resource}")
    return Scenario(name, ours, ours_explain, cedar, len(requests), cedar_n)


def timed_us(fn: Callable[[], int], calls: int) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / calls / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    rng = random.Random(42)
    # (a) has the same density per service as (b): its 10 policies are about one service,
    # so (b) differs only by the 99 other services' policies, which the index must skip.
    one = ["s3"]
    many = [f"svc{i:03d}" for i in range(100)]
    policies_b = make_policies(rng, 1000, many, False)
    scenarios = [
        build_scenario(
            "(a) 10 policies x 5 stmts", make_policies(rng, 10, one, False), one, args.requests
        ),
        build_scenario(
            "(b) 1,000 policies / 100 services",
            policies_b,
            many,
            args.requests,
        ),
        build_scenario(
            "(b') (b), requests on one service",
            policies_b,
            many,
            args.requests,
            request_services=many[:1],
        ),
        build_scenario(
            "(c) (b) + conditions on every stmt",
            make_policies(rng, 1000, many, True),
            many,
            args.requests,
        ),
    ]
    samples: dict[str, list[list[float]]] = {s.name: [[], [], []] for s in scenarios}
    for scenario in scenarios:  # warm up
        scenario.ours()
        scenario.ours_explain()
        scenario.cedar()
    # Rounds interleave the scenarios so that machine noise hits all of them alike.
    for _ in range(args.rounds):
        for scenario in scenarios:
            fast, explained, cedar = samples[scenario.name]
            fast.append(timed_us(scenario.ours, scenario.calls))
            explained.append(timed_us(scenario.ours_explain, scenario.calls))
            cedar.append(timed_us(scenario.cedar, scenario.cedar_calls))
    rows: list[tuple[str, float, float, float]] = []
    for scenario in scenarios:
        fast_s, explained_s, cedar_s = samples[scenario.name]
        rows.append(
            (
                scenario.name,
                statistics.median(fast_s),
                statistics.median(explained_s),
                statistics.median(cedar_s),
            )
        )
    base = rows[0][1]
    print(f"median us per decision, {args.rounds} rounds")
    print(
        f"{'scenario':<38}{'iamd':>8}{'iamd+explain':>14}{'cedarpy':>11}"
        f"{'cedar/iamd':>12}{'vs (a)':>8}"
    )
    for name, fast_us, explained_us, cedar_us in rows:
        print(
            f"{name:<38}{fast_us:>8.2f}{explained_us:>14.2f}{cedar_us:>11.1f}"
            f"{cedar_us / fast_us:>11.0f}x{fast_us / base:>7.2f}x"
        )


if __name__ == "__main__":
    main()
