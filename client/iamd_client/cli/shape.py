"""Responses as the AWS CLI prints them: AWS-shaped dicts (see `_convert.to_aws`) in which
policy documents are JSON values, not strings.

The AWS CLI decodes IAM's policy documents (botocore turns every ``policyDocumentType`` into
a value): a role's AssumeRolePolicyDocument, the PolicyDocument of Get{User,Group,Role}Policy
and a policy version's Document. iamd's resource policies get the same treatment. Service
control policies stay strings, as ``aws organizations`` prints their Content.
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from iamd_client._convert import descriptor, pascal, to_aws

POLICY_DOCUMENTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("iamd.v1.Role", "assume_role_policy_document"),
        ("iamd.v1.PolicyVersion", "document"),
        ("iamd.v1.GetUserPolicyResponse", "policy_document"),
        ("iamd.v1.GetGroupPolicyResponse", "policy_document"),
        ("iamd.v1.GetRolePolicyResponse", "policy_document"),
        ("iamd.v1.GetResourcePolicyResponse", "policy_document"),
    }
)


def _decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # never expected (the server validates documents); shown as stored


def _decode_documents(data: dict[str, Any], message: Descriptor) -> None:
    for field in message.fields:
        key = pascal(field.name)
        if key not in data:
            continue
        if (message.full_name, field.name) in POLICY_DOCUMENTS:
            data[key] = _decode(data[key])
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            values = data[key] if field.is_repeated else [data[key]]
            for value in values:
                if isinstance(value, dict):
                    _decode_documents(value, field.message_type)


def response_data(response: Message) -> dict[str, Any]:
    """The response as the AWS CLI would print it (before --query)."""
    data = to_aws(response)
    _decode_documents(data, descriptor(response))
    return data
