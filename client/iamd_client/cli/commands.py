"""The commands of iamctl and how a command line names one.

Every RPC of iamd.v1 is a command named like the RPC in kebab case. As in the AWS CLI, a
command may follow its service namespace (`iamctl iam list-users`, `iamctl sts assume-role`,
`iamctl organizations list-accounts`); the namespace may also be left out
(`iamctl list-users`). `apply`, `configure`, `completion` and `help` are iamctl's own, and
`who-can` / `what-can` are friendly forms of ListPrincipalsAllowed / ListAllowedActions.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from iamd.v1 import analysis_pb2, authorization_pb2, management_pb2, sts_pb2

from iamd_client._convert import snake
from iamd_client.cli.usage import HINT, UsageError, did_you_mean

SERVICES: tuple[ServiceDescriptor, ...] = (
    management_pb2.DESCRIPTOR.services_by_name["ManagementService"],
    authorization_pb2.DESCRIPTOR.services_by_name["AuthorizationService"],
    sts_pb2.DESCRIPTOR.services_by_name["StsService"],
    analysis_pb2.DESCRIPTOR.services_by_name["AnalysisService"],
)

NAMESPACES = ("iam", "sts", "organizations", "accessanalyzer")

# iamctl's own commands (no RPC behind them), with their one-line help.
LOCAL_COMMANDS: dict[str, str] = {
    "apply": "Make an account match a desired-state file (YAML or JSON)",
    "configure": "Write a profile of the credentials file (asks for the values)",
    "completion": "Print a shell completion script (bash or zsh)",
    "help": "Show the commands and global options, or one command's flags",
    "who-can": "The principals allowed an action on a resource (ListPrincipalsAllowed)",
    "what-can": "The actions a principal is allowed (ListAllowedActions)",
}

# RPCs of the Manage API that AWS puts under `aws organizations`.
_ORGANIZATIONS_RPCS = frozenset({"CreateAccount", "DescribeAccount", "ListAccounts", "MoveAccount"})
_ORGANIZATIONS_WORDS = ("OrganizationalUnit", "ServiceControlPolic")


@dataclass(frozen=True, slots=True)
class RpcCommand:
    """A command that makes one RPC."""

    name: str
    """kebab-case name, e.g. "list-users"."""
    namespace: str
    """"iam", "sts", "organizations" or "accessanalyzer"."""
    service: ServiceDescriptor
    method: MethodDescriptor


def kebab(name: str) -> str:
    """CreateOpenIDConnectProvider -> create-open-id-connect-provider."""
    return snake(name).replace("_", "-")


def namespace_of(service: ServiceDescriptor, method: MethodDescriptor) -> str:
    if service.name == "StsService":
        return "sts"
    if service.name == "AnalysisService":
        return "accessanalyzer"
    if method.name in _ORGANIZATIONS_RPCS or any(w in method.name for w in _ORGANIZATIONS_WORDS):
        return "organizations"
    return "iam"


@functools.cache
def rpc_commands() -> dict[str, RpcCommand]:
    """Every RPC command by name, in the order of the API."""
    return {
        kebab(method.name): RpcCommand(
            kebab(method.name), namespace_of(service, method), service, method
        )
        for service in SERVICES
        for method in service.methods
    }


def commands_in(namespace: str) -> list[RpcCommand]:
    return [c for c in rpc_commands().values() if c.namespace == namespace]


def suggest(word: str, candidates: list[str]) -> list[str]:
    """The closest few candidates to a mistyped word (best first)."""
    return difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)


def lookup(namespace: str | None, name: str) -> RpcCommand | str:
    """The RPC command, or the name of a local command; UsageError with suggestions else."""
    rpcs = rpc_commands()
    command = rpcs.get(name)
    if namespace is None:
        if name in LOCAL_COMMANDS:
            return name
        if command is not None:
            return command
        candidates = [*rpcs, *LOCAL_COMMANDS, *NAMESPACES]
    else:
        if command is not None and command.namespace == namespace:
            return command
        if command is not None:
            raise UsageError(
                f"{name} is an {command.namespace} command: "
                f"iamctl {command.namespace} {name} (or iamctl {name})"
            )
        candidates = [c.name for c in commands_in(namespace)]
    where = f"{namespace} command" if namespace else "command"
    raise UsageError(
        f"unknown {where} {name!r}{did_you_mean(suggest(name, candidates))}",
        hint=f"Run `iamctl {namespace} help` for its commands." if namespace else HINT,
    )
