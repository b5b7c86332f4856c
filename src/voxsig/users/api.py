"""Routes: /api/v1/profile and /api/v1/accounts/{account_id}/agents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from voxsig.deps import AdminCtx, Ctx, CurrentUser, DbSession
from voxsig.errors import Invalid
from voxsig.kit.ratelimit import LimitedRoute, RateLimited
from voxsig.kit.schema import Id
from voxsig.openapi import GUARDED, errors, ok, ok_empty
from voxsig.users import attempts, service
from voxsig.users.schemas import (
    AgentCreate,
    AgentList,
    AgentObject,
    AgentUpdate,
    PasswordChange,
    ProfileChanged,
    ProfileObject,
    agent_json,
    profile_json,
)

# LimitedRoute: a 429 (too many wrong current passwords) carries Retry-After.
NAME_OR_ROLE = (
    "The account would have no administrator left, or `name` was given for an agent who has "
    "joined (only they change their own name)"
)

router = APIRouter(
    prefix="/api/v1",
    tags=["agents"],
    responses={**GUARDED, **errors(401)},
    route_class=LimitedRoute,
)


@router.get("/profile", responses=ok(ProfileObject))
async def get_profile(user: CurrentUser, session: DbSession) -> dict[str, Any]:
    return profile_json(user, await service.memberships(session, user))


@router.put(
    "/profile",
    responses={
        **ok(ProfileChanged),
        **errors((422, "Invalid input, or `current_password` is not right"), 429),
    },
)
async def change_profile_password(
    user: CurrentUser, session: DbSession, body: PasswordChange, request: Request
) -> Any:
    """Changes the token's user's password: every dashboard session of the user ends; the API
    token is kept unless `rotate_token`. Wrong current passwords are limited per user
    (users/attempts.py): 429 after 10 in 15 minutes."""
    limit = attempts.change_limit(request.app.state)
    keys = (attempts.change_key(user.id),)
    wait = limit.begin(*keys)
    if wait > 0:
        raise RateLimited(wait, "Too many failed password attempts")
    try:
        await service.change_password(
            session, user, body.current_password, body.password, body.password_confirmation
        )
    except Invalid as exc:
        if exc.field != "current_password":
            limit.succeeded(*keys)
        raise
    limit.succeeded(*keys)
    answer = profile_json(user, await service.memberships(session, user))
    if body.rotate_token:
        answer["access_token"] = await service.replace_tokens(session, user)
    return answer


@router.get("/accounts/{account_id}/agents", responses={**ok(AgentList), **errors(404)})
async def list_agents(ctx: Ctx) -> list[dict[str, Any]]:
    # Pending invitations too, looking like the agents a new email makes (not yet joined).
    members = await service.list_agents(ctx.session, ctx.account.id)
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
    member = await service.get_agent(ctx.session, ctx.account.id, agent_id)
    return agent_json(member.user, member.membership)


@router.patch(
    "/accounts/{account_id}/agents/{agent_id}",
    responses={
        **ok(AgentObject),
        **errors(403, 404, (422, NAME_OR_ROLE)),
    },
)
async def update_agent(ctx: AdminCtx, agent_id: Id, body: AgentUpdate) -> dict[str, Any]:
    member = await service.get_agent(ctx.session, ctx.account.id, agent_id)
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
    member = await service.get_agent(ctx.session, ctx.account.id, agent_id)
    await service.remove_member(ctx.session, member)
    return Response(status_code=200)
