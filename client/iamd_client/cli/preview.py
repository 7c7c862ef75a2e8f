"""`--preview` on policy writes: instead of the write, PreviewPolicyChange with the request the
write would have sent; prints the decisions that would change (a table unless --output says
otherwise). Nothing is written."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from iamd.v1 import analysis_pb2, types_pb2

from iamd_client import _call
from iamd_client.cli.options import GlobalOptions
from iamd_client.cli.output import check_format, emit
from iamd_client.client import Client

_REQUEST = analysis_pb2.DESCRIPTOR.message_types_by_name["PreviewPolicyChangeRequest"]
_DECISIONS = {
    types_pb2.DECISION_ALLOWED: "allowed",
    types_pb2.DECISION_EXPLICIT_DENY: "explicitDeny",
    types_pb2.DECISION_IMPLICIT_DENY: "implicitDeny",
}


def preview_field(method: MethodDescriptor) -> str | None:
    """The field of PreviewPolicyChangeRequest that carries this write's request, if any."""
    for field in _REQUEST.oneofs_by_name["change"].fields:
        message = field.message_type
        if message is not None and message.full_name == method.input_type.full_name:
            return str(field.name)
    return None


def add_flag(parser: argparse.ArgumentParser, method: MethodDescriptor) -> None:
    if preview_field(method) is not None:
        parser.add_argument(
            "--preview",
            action="store_true",
            help="write nothing: print the decisions this write would change (PreviewPolicyChange)",
        )


def run(method: MethodDescriptor, request: Message, options: GlobalOptions, out: TextIO) -> int:
    field = preview_field(method)
    assert field is not None
    fmt = options.output or "table"
    check_format(fmt)
    message = analysis_pb2.PreviewPolicyChangeRequest()
    getattr(message, field).CopyFrom(request)
    with Client.from_environment(
        options.profile, endpoint=options.endpoint, timeout=options.timeout
    ) as client:
        response = client.call(
            _call.make_call(
                "iamd.v1.AnalysisService",
                "PreviewPolicyChange",
                message,
                analysis_pb2.PreviewPolicyChangeResponse,
            )
        )
    rows: list[dict[str, Any]] = [
        {
            "Principal": c.principal_arn,
            "Action": c.action,
            "Resource": c.resource_arn,
            "Before": _DECISIONS.get(c.before, ""),
            "After": _DECISIONS.get(c.after, ""),
        }
        for c in response.changes
    ]
    data: dict[str, Any] = {
        "Changes": rows,
        "Checked": response.checked,
        "Truncated": response.truncated,
    }
    emit(data, fmt, out, title="PreviewPolicyChange", query=options.query)
    return 0
