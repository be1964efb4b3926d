"""API tokens made and revoked through the API.

An admin of a project or study may make tokens with grants on it, and revoke them; an
admin of everything may make any token. The secret is in the answer to `createApiToken`
only: the database keeps its hash.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy import select
from strawberry import relay

from scimeta import models
from scimeta.auth.policy import Action, Scope
from scimeta.auth.tokens import Grant, create_token, revoke_token
from scimeta.errors import BadUserInput, NotFound
from scimeta.resolvers.mutations.base import (
    WriteInfo,
    optional_row_id,
    row_id,
    write,
)
from scimeta.schema.core import ApiToken, token_of
from scimeta.schema.enums import Role
from scimeta.writes.transaction import Writer


@strawberry.input(description="A role, on a project, on a study, or (neither) on everything.")
class GrantInput:
    role: Role = strawberry.field(description="What the role allows.")
    project_id: relay.GlobalID | None = strawberry.field(default=None, description="A project.")
    study_id: relay.GlobalID | None = strawberry.field(default=None, description="A study.")


@strawberry.input(description="A new API token.")
class CreateApiTokenInput:
    name: str = strawberry.field(description="Who or what it is for (1 to 200 characters).")
    grants: list[GrantInput] = strawberry.field(description="Its roles (at least one).")
    expires_at: datetime | None = strawberry.field(
        default=None, description="When it stops working; never if left out."
    )


@strawberry.type(description="The new token, and its secret: shown this once.")
class CreateApiTokenPayload:
    secret: str = strawberry.field(
        description="Send it as Authorization: Bearer <secret>. It is not stored and "
        "cannot be shown again."
    )
    token: ApiToken = strawberry.field(description="The token.")


@strawberry.input(description="The token to revoke.")
class RevokeApiTokenInput:
    id: relay.GlobalID = strawberry.field(description="The token.")


@strawberry.type(description="The revoked token.")
class RevokeApiTokenPayload:
    token: ApiToken = strawberry.field(description="The token, with revokedAt set.")


MAX_GRANTS = 100


def _grants(inputs: list[GrantInput]) -> list[Grant]:
    if len(inputs) > MAX_GRANTS:
        raise BadUserInput(f"A token takes at most {MAX_GRANTS} grants.", field="grants")
    grants = []
    for position, given in enumerate(inputs):
        field = f"grants[{position}]"
        project = optional_row_id(given.project_id, models.Project, f"{field}.projectId")
        study = optional_row_id(given.study_id, models.Study, f"{field}.studyId")
        if project is not None and study is not None:
            raise BadUserInput(f"{field}: a grant is on a project or a study, not both.")
        grants.append(Grant(given.role, project, study))
    return grants


async def _administer(writer: Writer, grants: list[Grant]) -> None:
    """The caller must be an admin wherever the token is (or would be) granted; the rows
    named must exist and be visible to it."""
    access = writer.access
    for grant in grants:
        scope = Scope(grant.project_id, grant.study_id)
        if grant.project_id is not None:
            await writer.get(models.Project, grant.project_id)
        if grant.study_id is not None:
            await writer.get(models.Study, grant.study_id)
        if access is not None:
            access.require(Action.ADMINISTER, scope, "tokens on " + scope.describe())


def _may_administer(writer: Writer, grants: list[models.TokenGrant]) -> bool:
    access = writer.access
    return access is None or all(
        access.may(Action.ADMINISTER, Scope(grant.project_id, grant.study_id)) for grant in grants
    )


async def _token_grants(writer: Writer, token_id: int) -> list[models.TokenGrant]:
    rows = await writer.session.scalars(
        select(models.TokenGrant)
        .where(models.TokenGrant.token_id == token_id)
        .order_by(models.TokenGrant.id)
    )
    return list(rows)


@strawberry.type
class TokenMutations:
    @strawberry.mutation(
        description="Make an API token (admins: on the projects and studies they administer; "
        "admins of everything: any). The secret is in the answer only."
    )
    async def create_api_token(
        self, info: WriteInfo, input: CreateApiTokenInput
    ) -> CreateApiTokenPayload:
        grants = _grants(input.grants)
        async with write(info, Action.ADMINISTER) as writer:
            await _administer(writer, grants)
            made = await create_token(
                writer.session, name=input.name, grants=grants, expires_at=input.expires_at
            )
            await writer.session.refresh(made.token)
            # checked above, on the scopes of its grants
            writer.trust(("ApiToken", made.token.id))
            writer.event(
                made.token,
                "created",
                {
                    "name": made.token.name,
                    "prefix": made.token.prefix,
                    "grants": [
                        {"role": g.role.value, "projectId": g.project_id, "studyId": g.study_id}
                        for g in grants
                    ],
                },
            )
            stored = await _token_grants(writer, made.token.id)
        return CreateApiTokenPayload(secret=made.secret, token=token_of(made.token, stored))

    @strawberry.mutation(
        description="Revoke an API token from now on; it is refused (UNAUTHENTICATED, "
        "REVOKED) from its next request. Revoking twice keeps the first time."
    )
    async def revoke_api_token(
        self, info: WriteInfo, input: RevokeApiTokenInput
    ) -> RevokeApiTokenPayload:
        token_id = row_id(input.id, models.ApiToken, "id")
        async with write(info, Action.ADMINISTER) as writer:
            stored = await _token_grants(writer, token_id)
            # a token the caller may not revoke is one it cannot see: refused as a missing
            # one, so that no answer names its grants or tells that it exists
            if not stored or not _may_administer(writer, stored):
                raise NotFound(f"No API token has the id {input.id}.")
            await _administer(writer, [Grant(g.role, g.project_id, g.study_id) for g in stored])
            writer.trust(("ApiToken", token_id))
            token = await revoke_token(writer.session, token_id)
            writer.event(token, "revoked", {"name": token.name, "prefix": token.prefix})
        return RevokeApiTokenPayload(token=token_of(token, stored))
