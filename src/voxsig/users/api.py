"""Routes: /api/v1/profile and /api/v1/accounts/{account_id}/agents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from voxsig.deps import AdminCtx, Ctx, CurrentUser, DbSession
from voxsig.kit.schema import Id
from voxsig.openapi import GUARDED, errors, ok, ok_empty
from voxsig.users import service
from voxsig.users.schemas import (
    AgentCreate,
    AgentList,
    AgentObject,
    AgentUpdate,
    ProfileObject,
    agent_json,
    profile_json,
)

router = APIRouter(prefix="/api/v1", tags=["agents"], responses={**GUARDED, **errors(401)})


@router.get("/profile", responses=ok(ProfileObject))
async def get_profile(user: CurrentUser, session: DbSession) -> dict[str, Any]:
    return profile_json(user, await service.memberships(session, user))


@router.get("/accounts/{account_id}/agents", responses={**ok(AgentList), **errors(404)})
async def list_agents(ctx: Ctx) -> list[dict[str, Any]]:
    members = await service.list_members(ctx.session, ctx.account.id)
    return [agent_json(m.user, m.membership) for m in members]


@router.post(
    "/accounts/{account_id}/agents", responses={**ok(AgentObject), **errors(403, 404, 422)}
)
async def add_agent(ctx: AdminCtx, body: AgentCreate) -> dict[str, Any]:
    member = await service.add_member(ctx.session, ctx.account.id, body.name, body.email, body.role)
    return agent_json(member.user, member.membership)


@router.get(
    "/accounts/{account_id}/agents/{agent_id}", responses={**ok(AgentObject), **errors(404)}
)
async def get_agent(ctx: Ctx, agent_id: Id) -> dict[str, Any]:
    member = await service.get_member(ctx.session, ctx.account.id, agent_id)
    return agent_json(member.user, member.membership)


@router.patch(
    "/accounts/{account_id}/agents/{agent_id}",
    responses={**ok(AgentObject), **errors(403, 404, 422)},
)
async def update_agent(ctx: AdminCtx, agent_id: Id, body: AgentUpdate) -> dict[str, Any]:
    member = await service.get_member(ctx.session, ctx.account.id, agent_id)
    member = await service.update_member(ctx.session, member, body.name, body.role)
    return agent_json(member.user, member.membership)


@router.delete(
    "/accounts/{account_id}/agents/{agent_id}",
    response_class=Response,
    responses={
        **ok_empty("Removed from the account; the body is empty"),
        **errors(403, 404, (422, "The account would have no administrator left")),
    },
)
async def remove_agent(ctx: AdminCtx, agent_id: Id) -> Response:
    member = await service.get_member(ctx.session, ctx.account.id, agent_id)
    await service.remove_member(ctx.session, member)
    return Response(status_code=200)
