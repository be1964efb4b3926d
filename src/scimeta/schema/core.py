"""Files, metrics and events: the types every domain shares; and API tokens and the caller
(`Viewer`) as the API shows them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from scimeta import models
from scimeta.auth.identity import Identity
from scimeta.auth.tokens import Grant
from scimeta.models import ownership
from scimeta.schema.connections import list_field
from scimeta.schema.enums import EventLevel, Role
from scimeta.schema.generated import lists
from scimeta.schema.node import Entity, LoaderInfo, load_nodes
from scimeta.schema.ordering import OrderTerm
from scimeta.schema.relations import SubjectId, reads, related
from scimeta.schema.scalars import Long


@strawberry.type(description="Metadata of a file on disk or in object storage.")
class File(Entity):
    __model__ = models.File

    path: str = strawberry.field(description="Path or URI of the file.")
    name: str = strawberry.field(description="File name.")
    mimetype: str | None = strawberry.field(description="MIME type.")
    size_bytes: Long | None = strawberry.field(description="Size in bytes.")
    checksum: str | None = strawberry.field(description="Checksum of the content.")
    checksum_algorithm: str | None = strawberry.field(description="Checksum algorithm.")
    modified_at: datetime | None = strawberry.field(description="Last modification time.")
    annotation: str | None = strawberry.field(description="Free-text annotation.")
    content_flag: int | None = strawberry.field(description="Content flag of the file type.")
    sub_type: int | None = strawberry.field(description="Sub-type of the file type.")
    imported_from: str | None = strawberry.field(description="Where an import came from.")
    imported_at: datetime | None = strawberry.field(description="When it was imported.")


@strawberry.type(description="A metric name in the catalogue, with its meaning and unit.")
class MetricKey(Entity):
    __model__ = models.MetricKey

    name: str = strawberry.field(description="The metric's name.")
    description: str | None = strawberry.field(description="What the metric measures.")
    unit: str | None = strawberry.field(description="Default unit.")


@strawberry.type(description="A named value (KPI) on a job, run, chunk, recording or calculation.")
class Metric(Entity):
    __model__ = models.Metric

    value: float | None = strawberry.field(description="Numeric value.")
    text: str | None = strawberry.field(description="Text value.")
    unit: str | None = strawberry.field(description="Unit of this value.")

    key: MetricKey = related(models.Metric, "key", description="The metric's catalogue entry.")

    name: str = related(
        models.Metric, "key", description="The metric's name (its key's name).", column="name"
    )


@strawberry.type(description="An entry of the append-only audit log.")
class Event(relay.Node):
    __model__: ClassVar[type[models.Base]] = models.Event

    id: relay.NodeID[int]
    sequence: Long = strawberry.field(
        description="Position in the log; strictly increasing, and events commit in this "
        "order. Subscriptions resume after it (`afterSequence`)."
    )
    at: datetime = strawberry.field(description="When it happened.")
    subject_type: str | None = strawberry.field(
        description="Type of the node the event is about; null for a service event, which "
        "is about the service itself."
    )
    level: EventLevel | None = strawberry.field(
        description="How much it matters (DEBUG to CRITICAL), if its writer said."
    )
    type: str = strawberry.field(description="What happened.")
    actor: str | None = strawberry.field(description="User, worker or agent that caused it.")
    payload: JSON = strawberry.field(description="Details, as JSON.")

    @classmethod
    def is_type_of(cls, obj: Any, info: LoaderInfo) -> bool:
        return isinstance(obj, models.Event)

    @strawberry.field(
        description="Global id of the node the event is about; null for a service event."
    )
    @reads(SubjectId("subject_type", "subject_id"))
    def subject_id(self, root: strawberry.Parent[models.Event]) -> relay.GlobalID | None:
        if root.subject_type is None:
            return None
        return relay.GlobalID(root.subject_type, str(root.subject_id))

    @classmethod
    async def resolve_nodes(
        cls, *, info: LoaderInfo, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        return await load_nodes(models.Event, info, node_ids, required=required)


def metric_list(metrics: ownership.Relation, description: str) -> Any:
    """The metrics of a job, run, chunk, recording or calculation (its `metrics`)."""
    return list_field(
        Metric,
        metrics,
        resolver=lists.metric_list,
        description=description,
    )


def event_list(subject_type: str, description: str) -> Any:
    """The events about a node of `subject_type`, in sequence order."""
    return list_field(
        Event,
        models.Event,
        resolver=lists.event_list,
        default_order=[OrderTerm(models.Event.sequence)],
        parent_key=models.Event.subject_id,
        fixed=lambda: [models.Event.subject_type == subject_type],
        description=description,
    )


def file_list(files: ownership.Relation, description: str) -> Any:
    """The files of a project (its `files`)."""
    return list_field(
        File,
        files,
        resolver=lists.file_list,
        description=description,
    )


@strawberry.type(description="A role on a project, on a study, or (neither) on everything.")
class ApiTokenGrant:
    role: Role = strawberry.field(description="What the role allows.")
    project_id: relay.GlobalID | None = strawberry.field(description="The project, if any.")
    study_id: relay.GlobalID | None = strawberry.field(description="The study, if any.")


@strawberry.type(description="An API token, without its secret.")
class ApiToken:
    id: relay.GlobalID = strawberry.field(description="The token's id, to revoke it by.")
    name: str = strawberry.field(description="Who or what the token is for.")
    prefix: str = strawberry.field(description="The secret's first characters.")
    created_at: datetime = strawberry.field(description="When it was made.")
    expires_at: datetime | None = strawberry.field(description="When it stops working.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked.")
    grants: list[ApiTokenGrant] = strawberry.field(description="What it may do, and where.")


@strawberry.type(description="Who the caller is, and what it may do.")
class Viewer:
    name: str = strawberry.field(description="The token's name (local: a server running open).")
    is_admin: bool = strawberry.field(description="Whether it is an admin of everything.")
    grants: list[ApiTokenGrant] = strawberry.field(description="Its roles, and where.")


def grant_of(grant: models.TokenGrant | Grant) -> ApiTokenGrant:
    return ApiTokenGrant(
        role=grant.role,
        project_id=None
        if grant.project_id is None
        else relay.GlobalID("Project", str(grant.project_id)),
        study_id=None if grant.study_id is None else relay.GlobalID("Study", str(grant.study_id)),
    )


def token_of(token: models.ApiToken, grants: list[models.TokenGrant]) -> ApiToken:
    return ApiToken(
        id=relay.GlobalID("ApiToken", str(token.id)),
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        grants=[grant_of(grant) for grant in grants],
    )


def viewer_of(identity: Identity) -> Viewer:
    return Viewer(
        name=identity.name,
        is_admin=identity.is_admin,
        grants=[grant_of(grant) for grant in identity.grants],
    )
