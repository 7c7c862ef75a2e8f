"""GenerateServiceLastAccessedDetails and GetServiceLastAccessedDetails (access advisor).

As AWS: Generate is iam:GenerateServiceLastAccessedDetails on the user, group, role or
policy ARN; Get is iam:GetServiceLastAccessedDetails on `*`. A report is made at once (the
job is COMPLETED when Generate returns), kept for 4 hours, and readable only from the
account that asked for it: a job id from another account is NOT_FOUND, as a made-up one.
"""

# ruff: noqa: N802  (method names are the RPC names)

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from iamd.v1 import management_pb2 as pb

from iamd_server import validation
from iamd_server.api import convert, targets
from iamd_server.api.dispatch import Call
from iamd_server.api.management_base import ManagementBase
from iamd_server.errors import InvalidArgument, NotFound
from iamd_server.insight import report
from iamd_server.store.last_accessed import kind_of

JOB_LIFETIME = timedelta(hours=4)
MAX_JOB_ID = 64
_GRANULARITY_IN = {
    pb.ACCESS_ADVISOR_USAGE_GRANULARITY_UNSPECIFIED: report.SERVICE_LEVEL,
    pb.ACCESS_ADVISOR_USAGE_GRANULARITY_SERVICE_LEVEL: report.SERVICE_LEVEL,
    pb.ACCESS_ADVISOR_USAGE_GRANULARITY_ACTION_LEVEL: report.ACTION_LEVEL,
}
_GRANULARITY_OUT = {
    report.SERVICE_LEVEL: pb.ACCESS_ADVISOR_USAGE_GRANULARITY_SERVICE_LEVEL,
    report.ACTION_LEVEL: pb.ACCESS_ADVISOR_USAGE_GRANULARITY_ACTION_LEVEL,
}


def _time(value: str | None) -> Any:
    return convert.timestamp(datetime.fromisoformat(value)) if value else None


def _service(item: dict[str, Any]) -> pb.ServiceLastAccessed:
    return pb.ServiceLastAccessed(
        service_name=item["name"],
        service_namespace=item["namespace"],
        last_authenticated=_time(item.get("last")),
        last_authenticated_entity=item.get("entity") or "",
        total_authenticated_entities=int(item.get("total") or 0),
        tracked_actions_last_accessed=[
            pb.TrackedActionLastAccessed(
                action_name=a["name"],
                last_accessed_time=_time(a.get("last")),
                last_accessed_entity=a.get("entity") or "",
            )
            for a in item.get("actions", ())
        ],
    )


def _offset(marker: str) -> int:
    if not marker:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(marker.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("marker", "marker is not one this service returned") from None
    if offset < 0:
        raise InvalidArgument("marker", "marker is not one this service returned")
    return offset


class LastAccessedMixin(ManagementBase):
    # Set by the app: this replica's unwritten times are written before a report is made.
    last_accessed: Any = None

    async def GenerateServiceLastAccessedDetails(
        self, request: pb.GenerateServiceLastAccessedDetailsRequest, call: Call
    ) -> pb.GenerateServiceLastAccessedDetailsResponse:
        caller = call.require_caller()
        arn = request.arn
        if not arn:
            raise InvalidArgument("arn", "is required")
        kind = kind_of(arn)
        if not kind:
            raise InvalidArgument("arn", "must be the ARN of a user, group, role or managed policy")
        account = validation.iam_arn(arn, kind, "arn").account_id
        granularity = _GRANULARITY_IN.get(request.granularity)
        if granularity is None:
            raise InvalidArgument("granularity", "must be SERVICE_LEVEL or ACTION_LEVEL")
        await self._require(caller, "iam:GenerateServiceLastAccessedDetails", arn, account)
        scope = await self._store.last_accessed_scope(arn=arn, kind=kind)
        created = datetime.now(UTC)
        if self.last_accessed is not None:
            await self.last_accessed.flush()
        rows = await self._store.last_accessed_rows(principal_ids=list(scope.principals))
        services = report.build(scope, rows, self._decider.registry, granularity)
        job_id = str(uuid.uuid4())
        completed = datetime.now(UTC)
        await self._store.put_last_accessed_job(
            job_id=job_id,
            account_id=caller.account_id,
            arn=arn,
            granularity=granularity,
            created_at=created,
            completed_at=completed,
            expires_at=completed + JOB_LIFETIME,
            services=services,
        )
        return pb.GenerateServiceLastAccessedDetailsResponse(job_id=job_id)

    async def GetServiceLastAccessedDetails(
        self, request: pb.GetServiceLastAccessedDetailsRequest, call: Call
    ) -> pb.GetServiceLastAccessedDetailsResponse:
        caller = call.require_caller()
        job_id = request.job_id
        if not job_id:
            raise InvalidArgument("job_id", "is required")
        if len(job_id) > MAX_JOB_ID or not (job_id.isascii() and job_id.isprintable()):
            raise InvalidArgument(
                "job_id", "is not a job id GenerateServiceLastAccessedDetails returned"
            )
        limit = request.max_items or 100
        if not 1 <= limit <= 1000:
            raise InvalidArgument("max_items", "must be 1-1000")
        offset = _offset(request.marker)
        await self._require(
            caller, "iam:GetServiceLastAccessedDetails", targets.ANY, caller.account_id
        )
        job = await self._store.get_last_accessed_job(job_id=job_id, account_id=caller.account_id)
        if job is None:
            raise NotFound(f"no last-accessed report {job_id} (reports expire after 4 hours)")
        page = job.services[offset : offset + limit]
        following = offset + limit
        marker = (
            base64.urlsafe_b64encode(str(following).encode()).decode()
            if following < len(job.services)
            else ""
        )
        return pb.GetServiceLastAccessedDetailsResponse(
            job_status=pb.JOB_STATUS_COMPLETED,
            job_type=_GRANULARITY_OUT[job.granularity],
            job_creation_date=convert.timestamp(job.created_at),
            job_completion_date=convert.timestamp(job.completed_at),
            services_last_accessed=[_service(item) for item in page],
            is_truncated=bool(marker),
            marker=marker,
        )
