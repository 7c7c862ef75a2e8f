"""Policy simulation in the shape of AWS SimulateCustomPolicy, and the `iamd simulate` command.

`simulate_custom_policy` is the pure function shared by the CLI and the server's
SimulateCustomPolicy RPC, so both give identical answers for identical input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .builtin_services import builtin_registry
from .compile import CompiledPolicy, PolicySet, compile_parsed
from .context import Context
from .errors import ContextError, PolicyValidationError
from .evaluate import AuthorizationRequest, EvaluationResult, PolicySets, evaluate
from .grammar import parse_policy
from .kinds import PolicyKind
from .principal import Principal
from .resolve import bind_principal_ids
from .services import ServiceRegistry
from .trace import StatementTrace, trace_to_json
from .trace import trace as trace_statements

__all__ = [
    "InvalidInputError",
    "SimulationInput",
    "SimulationResult",
    "add_arguments",
    "main",
    "result_to_json",
    "run",
    "simulate_custom_policy",
]


class InvalidInputError(ValueError):
    """A simulation request is malformed (AWS: InvalidInput)."""


@dataclass(frozen=True, slots=True)
class SimulationInput:
    action_names: tuple[str, ...]
    caller_arn: str
    policy_input_list: tuple[str, ...] = ()
    permissions_boundary_policy_input_list: tuple[str, ...] = ()
    service_control_policy_input_list: tuple[str, ...] = ()
    resource_control_policy_input_list: tuple[str, ...] = ()
    session_policy_input_list: tuple[str, ...] = ()
    resource_arns: tuple[str, ...] = ("*",)
    resource_policy: str | None = None
    resource_owner: str | None = None
    # (ContextKeyName, ContextKeyType, ContextKeyValues)
    context_entries: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @classmethod
    def from_request(cls, request: Mapping[str, Any]) -> SimulationInput:
        """From the PascalCase request object (JSON)."""
        if not isinstance(request, Mapping):
            raise InvalidInputError("request must be a JSON object")

        def strings(name: str, required: bool = False) -> tuple[str, ...]:
            value = request.get(name)
            if value is None:
                if required:
                    raise InvalidInputError(f"{name} is required")
                return ()
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidInputError(f"{name} must be a list of strings")
            return tuple(value)

        actions = strings("ActionNames", required=True)
        if not actions:
            raise InvalidInputError("ActionNames must not be empty")
        for action in actions:
            if action.count(":") != 1 or "*" in action or "?" in action:
                raise InvalidInputError(f"invalid action name {action[:256]!r}")
        resources = strings("ResourceArns") or ("*",)
        caller = request.get("CallerArn")
        owner = request.get("ResourceOwner")
        policy = request.get("ResourcePolicy")
        for name, value in (
            ("CallerArn", caller),
            ("ResourceOwner", owner),
            ("ResourcePolicy", policy),
        ):
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(f"{name} must be a string")
        if caller is None:
            account = _account_of(owner) if isinstance(owner, str) else None
            caller = f"arn:aws:iam::{account or '000000000000'}:user/simulated-caller"
        entries: list[tuple[str, str, tuple[str, ...]]] = []
        raw_entries = request.get("ContextEntries") or []
        if not isinstance(raw_entries, list):
            raise InvalidInputError("ContextEntries must be a list")
        for entry in raw_entries:
            if not isinstance(entry, Mapping):
                raise InvalidInputError("each ContextEntries item must be an object")
            values = entry.get("ContextKeyValues", [])
            if not isinstance(values, list):
                raise InvalidInputError("ContextKeyValues must be a list")
            entries.append(
                (entry.get("ContextKeyName"), entry.get("ContextKeyType"), tuple(values))  # type: ignore[arg-type]
            )
        return cls(
            action_names=actions,
            caller_arn=caller,
            policy_input_list=strings("PolicyInputList"),
            permissions_boundary_policy_input_list=strings("PermissionsBoundaryPolicyInputList"),
            service_control_policy_input_list=strings("ServiceControlPolicyInputList"),
            resource_control_policy_input_list=strings("ResourceControlPolicyInputList"),
            session_policy_input_list=strings("SessionPolicyInputList"),
            resource_arns=resources,
            resource_policy=policy,
            resource_owner=owner,
            context_entries=tuple(entries),
        )


@dataclass(frozen=True, slots=True)
class SimulationResult:
    action: str
    resource: str
    result: EvaluationResult
    # Statement-level explanation, when asked for (`iamd simulate` always asks).
    trace: tuple[StatementTrace, ...] = ()


def _account_of(arn: str | None) -> str | None:
    if not arn:
        return None
    if len(arn) == 12 and arn.isascii() and arn.isdigit():
        return arn
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[4]:
        return parts[4]
    return None


def _compile_list(
    documents: Sequence[str], kind: PolicyKind, label: str, source_type: str
) -> list[CompiledPolicy]:
    compiled: list[CompiledPolicy] = []
    for number, document in enumerate(documents, start=1):
        policy_id = f"{label}.{number}"
        try:
            parsed = parse_policy(document, kind)
        except PolicyValidationError as exc:
            raise PolicyValidationError(
                f"{policy_id}: {exc.message}", exc.statement_index, exc.sid, exc.field
            ) from None
        compiled.append(compile_parsed(parsed, kind, policy_id=policy_id, source_type=source_type))
    return compiled


def build_policy_sets(
    simulation: SimulationInput, principal_ids: Mapping[str, str] | None = None
) -> PolicySets:
    """Validate and compile every document (raises PolicyValidationError).

    `principal_ids` binds user/role principals of the resource policy to the unique ids
    they name (the server resolves them as saving the policy would; see resolve.py).
    """
    identity = PolicySet.of(
        _compile_list(simulation.policy_input_list, PolicyKind.IDENTITY, "PolicyInputList", "none")
    )
    boundary = None
    if simulation.permissions_boundary_policy_input_list:
        boundary = PolicySet.of(
            _compile_list(
                simulation.permissions_boundary_policy_input_list,
                PolicyKind.PERMISSIONS_BOUNDARY,
                "PermissionsBoundaryPolicyInputList",
                "boundary",
            )
        )
    session = None
    if simulation.session_policy_input_list:
        session = PolicySet.of(
            _compile_list(
                simulation.session_policy_input_list,
                PolicyKind.SESSION,
                "SessionPolicyInputList",
                "session",
            )
        )
    scps: tuple[PolicySet, ...] = ()
    if simulation.service_control_policy_input_list:
        scps = (
            PolicySet.of(
                _compile_list(
                    simulation.service_control_policy_input_list,
                    PolicyKind.SERVICE_CONTROL,
                    "ServiceControlPolicyInputList",
                    "scp",
                )
            ),
        )
    rcps: tuple[PolicySet, ...] = ()
    if simulation.resource_control_policy_input_list:
        rcps = (
            PolicySet.of(
                _compile_list(
                    simulation.resource_control_policy_input_list,
                    PolicyKind.RESOURCE_CONTROL,
                    "ResourceControlPolicyInputList",
                    "rcp",
                )
            ),
        )
    resource = None
    if simulation.resource_policy is not None:
        kind = PolicyKind.RESOURCE
        try:
            parsed = parse_policy(simulation.resource_policy, kind, resource_optional=True)
        except PolicyValidationError as exc:
            raise PolicyValidationError(
                f"ResourcePolicy: {exc.message}", exc.statement_index, exc.sid, exc.field
            ) from None
        compiled = compile_parsed(parsed, kind, policy_id="ResourcePolicy", source_type="resource")
        resource = PolicySet.of([bind_principal_ids(compiled, principal_ids or {})])
    return PolicySets(
        identity=identity,
        boundary=boundary,
        session=session,
        scp_levels=scps,
        rcp_levels=rcps,
        resource=resource,
    )


def simulate_custom_policy(
    simulation: SimulationInput,
    registry: ServiceRegistry | None = None,
    *,
    extra_context: Context | None = None,
    principal: Principal | None = None,
    principal_ids: Mapping[str, str] | None = None,
    trace: bool = False,
) -> list[SimulationResult]:
    """Evaluate every action x resource pair (actions outer, resources inner).

    `principal` is the stored caller when the server knows it (with its unique id and role
    path), else the caller is derived from CallerArn; `principal_ids` as build_policy_sets.
    Raises PolicyValidationError for a malformed document, ContextError for a bad context
    entry and InvalidInputError for other malformed input.
    """
    registry = registry if registry is not None else builtin_registry()
    policies = build_policy_sets(simulation, principal_ids)
    context = Context.from_entries(simulation.context_entries)
    if extra_context is not None:
        context = context.merge(extra_context)
    if principal is None:
        try:
            principal = Principal.from_arn(simulation.caller_arn)
        except ValueError as exc:
            raise InvalidInputError(f"CallerArn: {exc}") from None
    owner_account = _account_of(simulation.resource_owner)
    results: list[SimulationResult] = []
    for action in simulation.action_names:
        for resource in simulation.resource_arns:
            account = owner_account or _account_of(resource) or principal.account
            request = AuthorizationRequest(
                principal=principal,
                action=action,
                resource=resource,
                resource_account=account,
                context=context,
            )
            result = evaluate(request, policies, registry)
            traced = trace_statements(request, policies) if trace else ()
            results.append(SimulationResult(action, resource, result, traced))
    return results


def result_to_json(
    item: SimulationResult, simulation: SimulationInput | None = None
) -> dict[str, Any]:
    """One EvaluationResults element in AWS's shape."""
    result = item.result
    out: dict[str, Any] = {
        "EvalActionName": item.action,
        "EvalResourceName": item.resource,
        "EvalDecision": result.decision.value,
        "MatchedStatements": [
            {
                "SourcePolicyId": m.policy_id,
                "SourcePolicyType": m.source_type,
                "StatementIndex": m.statement_index,
                "Sid": m.sid,
            }
            for m in result.matched_statements
        ],
        "MissingContextValues": list(result.missing_context_keys),
        "DecidedBy": result.decided_by.value,
        "Reason": result.reason,
    }
    if result.allowed_by_organizations is not None:
        out["OrganizationsDecisionDetail"] = {
            "AllowedByOrganizations": result.allowed_by_organizations
        }
    if result.allowed_by_permissions_boundary is not None:
        out["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": result.allowed_by_permissions_boundary
        }
    if item.trace:
        out["StatementTrace"] = [trace_to_json(t) for t in item.trace]
    return out


def simulate_line(line: str, registry: ServiceRegistry | None = None) -> dict[str, Any]:
    """One input line -> one output object (never raises)."""
    case_id: Any = None
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return {"id": None, "Error": {"Code": "InvalidInput", "Message": f"bad JSON: {exc}"}}
    if isinstance(data, dict):
        case_id = data.get("id")
        nested = data.get("request")
        request: Any = nested if isinstance(nested, dict) else data
    else:
        request = data
    try:
        simulation = SimulationInput.from_request(request)
        results = simulate_custom_policy(simulation, registry, trace=True)
    except PolicyValidationError as exc:
        return {"id": case_id, "Error": {"Code": "MalformedPolicyDocument", "Message": str(exc)}}
    except (ContextError, InvalidInputError) as exc:
        return {"id": case_id, "Error": {"Code": "InvalidInput", "Message": str(exc)}}
    except Exception as exc:  # one bad case must not stop the run
        return {"id": case_id, "Error": {"Code": "InternalError", "Message": repr(exc)}}
    return {"id": case_id, "EvaluationResults": [result_to_json(r) for r in results]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        "-i",
        metavar="FILE",
        help="JSON Lines file of simulation requests (default: standard input)",
    )
    parser.add_argument(
        "--format",
        choices=("json", "table"),
        default=None,
        help="output format (default: table on a terminal, else json)",
    )


def _table_rows(output: dict[str, Any]) -> Iterable[tuple[str, ...]]:
    case_id = str(output.get("id"))
    if "Error" in output:
        error = output["Error"]
        yield (case_id, "-", "-", f"ERROR {error['Code']}", error["Message"][:80])
        return
    for result in output["EvaluationResults"]:
        yield (
            case_id,
            result["EvalActionName"],
            result["EvalResourceName"],
            result["EvalDecision"],
            f"{result['DecidedBy']}: {result['Reason']}",
        )


def _write_table(rows: list[tuple[str, ...]], stream: IO[str]) -> None:
    header = ("ID", "ACTION", "RESOURCE", "DECISION", "DECIDED BY")
    table = [header, *rows]
    widths = [min(60, max(len(row[i]) for row in table)) for i in range(len(header))]
    for row in table:
        stream.write("  ".join(cell[:60].ljust(w) for cell, w in zip(row, widths, strict=True)))
        stream.write("\n")


def run(args: argparse.Namespace) -> int:
    """Run `iamd simulate`; returns the exit status (1 if any case failed)."""
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    registry = builtin_registry()
    failures = 0
    rows: list[tuple[str, ...]] = []
    use_file = bool(args.input) and args.input != "-"
    source: IO[str] = open(args.input, encoding="utf-8") if use_file else sys.stdin  # noqa: SIM115
    try:
        for line in source:
            if not line.strip():
                continue
            output = simulate_line(line, registry)
            if "Error" in output:
                failures += 1
            if fmt == "json":
                sys.stdout.write(json.dumps(output, separators=(",", ":")) + "\n")
                sys.stdout.flush()
            else:
                rows.extend(_table_rows(output))
    finally:
        if source is not sys.stdin:
            source.close()
    if fmt == "table":
        _write_table(rows, sys.stdout)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="iamd simulate", description="Evaluate policy simulation requests (JSON Lines)."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
