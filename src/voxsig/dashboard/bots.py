"""Settings → Bots (administrators only): the account's agent bots, made, changed and deleted
through agent_bots.service as the API does; the access token and the signing secret shown on
demand, reset and rotated; the inboxes each bot answers first (also chosen on an inbox's page);
and the health of its endpoint, whose delivery log, enabling and rotation are the endpoint
pages' (dashboard/webhooks.py), which lead back here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from voxsig.agent_bots import service
from voxsig.agent_bots.schemas import BotCreate, BotUpdate
from voxsig.dashboard import forms, queries
from voxsig.dashboard.web import AdminViewer, DashboardRoute, Form, Rendered, Viewer, page, redirect
from voxsig.dashboard.webhooks import PAYLOAD_FORMAT_CHOICES, SIGNING_CHOICES
from voxsig.errors import ApiError, NotFound
from voxsig.inboxes.service import get_inbox, list_inboxes
from voxsig.kit.schema import Id
from voxsig.models import AgentBot, Inbox, Webhook
from voxsig.models.webhook import CHATWOOT_FORMAT, SYMMETRIC
from voxsig.outbox.signing import is_asymmetric, public_key
from voxsig.webhooks import deliveries
from voxsig.webhooks.service import Limits

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

BOTS = "/app/settings/bots"
TEXT_FIELDS = ("name", "description", "outgoing_url", "avatar_url")
# Only a bot with an outgoing_url has an endpoint to format and sign for.
ENDPOINT_FIELDS = ("payload_format", "signing")
HANDED_OVER = "its pending conversations went to the agents"


def bot_url(bot_id: int) -> str:
    return f"{BOTS}/{bot_id}"


def _limits(request: Request) -> Limits:
    return Limits.of(request.app.state.settings)


def _values(form: FormData) -> dict[str, str]:
    return {name: forms.text(form, name) for name in (*TEXT_FIELDS, *ENDPOINT_FIELDS)}


def _fields(values: dict[str, str], model: type[BaseModel]) -> dict[str, Any]:
    """What the API would be sent: a bot called nowhere gets no format or signing (the
    service refuses them without an outgoing_url), an unchosen one keeps what it has."""
    body: dict[str, Any] = dict(values)
    for name in ENDPOINT_FIELDS:
        if not body["outgoing_url"] or not body[name]:
            body.pop(name)
    return model.model_validate(body).model_dump(exclude_none=True)


def _current(bot: AgentBot, endpoint: Webhook | None) -> dict[str, str]:
    return {
        "name": bot.name,
        "description": bot.description,
        "outgoing_url": endpoint.url if endpoint else "",
        "avatar_url": bot.avatar_url,
        "payload_format": endpoint.payload_format if endpoint else CHATWOOT_FORMAT,
        "signing": endpoint.signing if endpoint else SYMMETRIC,
    }


async def _bot(viewer: Viewer, bot_id: int) -> AgentBot:
    """The account's bot; another account's (or none) is the 404 page."""
    return await service.get_bot(viewer.session, viewer.account.id, bot_id)


async def _health(viewer: Viewer, endpoints: list[Webhook]) -> dict[str, Any]:
    """What the webhooks list shows of each endpoint, by endpoint id."""
    session = viewer.session
    return {
        "success": {w.id: await deliveries.success_rate(session, w) for w in endpoints},
        "waiting": await queries.pending_counts(session, endpoints),
        "last_error": await queries.last_errors(session, endpoints),
    }


# -- the list and creation -------------------------------------------------------------------


async def _bots_page(
    request: Request, viewer: Viewer, form: Any = None, errors: forms.Errors | None = None
) -> Response:
    session = viewer.session
    bots = await service.list_bots(session, viewer.account.id)
    endpoints = await queries.bot_endpoints(session, bots)
    inboxes = await list_inboxes(session, viewer.account.id)
    pending = await queries.pending_by_inbox(session, [i.id for i in inboxes])
    answered = {
        bot.id: [i for i in inboxes if i.agent_bot_id == bot.id] for bot in bots
    }  # one bot per inbox: each inbox is listed under one bot at most
    return page(
        request,
        "settings/bots.html",
        viewer,
        bots=bots,
        endpoints=endpoints,
        health=await _health(viewer, list(endpoints.values())),
        answered=answered,
        held={b.id: sum(pending.get(i.id, 0) for i in answered[b.id]) for b in bots},
        form=form or {"payload_format": CHATWOOT_FORMAT, "signing": SYMMETRIC},
        errors=errors or {},
        payload_formats=PAYLOAD_FORMAT_CHOICES,
        signings=SIGNING_CHOICES,
    )


@router.get(BOTS)
async def bot_list(request: Request, viewer: AdminViewer) -> Response:
    return await _bots_page(request, viewer)


@router.post(BOTS)
async def bot_create(request: Request, viewer: AdminViewer, form: Form) -> Response:
    values = _values(form)
    try:
        fields = _fields(values, BotCreate)
        bot = await service.create_bot(viewer.session, viewer.account.id, fields, _limits(request))
    except ValidationError as exc:
        errors = forms.validation_errors(exc)
        raise Rendered(await _bots_page(request, viewer, values, errors)) from exc
    except ApiError as exc:  # an outgoing URL that resolves to a refused address
        errors = forms.api_errors(exc, "outgoing_url")
        raise Rendered(await _bots_page(request, viewer, values, errors)) from exc
    return redirect(
        request,
        bot_url(bot.id),
        f"Bot {bot.name} created. Give it its access token below, then choose the inboxes "
        "it answers first.",
    )


# -- one bot ---------------------------------------------------------------------------------


async def _bot_page(
    request: Request,
    viewer: Viewer,
    bot: AgentBot,
    values: dict[str, str] | None = None,
    errors: forms.Errors | None = None,
) -> Response:
    session = viewer.session
    endpoint = await service.endpoint_of(session, bot)
    inboxes = await list_inboxes(session, viewer.account.id)
    attached = [i for i in inboxes if i.agent_bot_id == bot.id]
    names = {b.id: b.name for b in await service.list_bots(session, viewer.account.id)}
    pending = await queries.pending_by_inbox(session, [i.id for i in attached])
    return page(
        request,
        "settings/bot.html",
        viewer,
        bot=bot,
        endpoint=endpoint,
        health=await _health(viewer, [endpoint] if endpoint else []),
        attached=attached,
        # Each other inbox with the bot that answers it now, which attaching replaces.
        others=[(i, names.get(i.agent_bot_id or 0)) for i in inboxes if i.agent_bot_id != bot.id],
        pending=pending,
        held=sum(pending.values()),
        form=values or _current(bot, endpoint),
        errors=errors or {},
        payload_formats=PAYLOAD_FORMAT_CHOICES,
        signings=SIGNING_CHOICES,
        # Asymmetric: what the bot verifies with (the whsk_ secret key is never shown).
        public_key=public_key(endpoint.secret)
        if endpoint is not None and is_asymmetric(endpoint.secret)
        else None,
    )


@router.get(BOTS + "/{bot_id}")
async def bot_page(request: Request, viewer: AdminViewer, bot_id: Id) -> Response:
    return await _bot_page(request, viewer, await _bot(viewer, bot_id))


@router.post(BOTS + "/{bot_id}")
async def bot_update(request: Request, viewer: AdminViewer, form: Form, bot_id: Id) -> Response:
    bot = await _bot(viewer, bot_id)
    values = _values(form)
    try:
        fields = _fields(values, BotUpdate)
        await service.update_bot(viewer.session, bot, fields, _limits(request))
    except ValidationError as exc:
        errors = forms.validation_errors(exc)
        raise Rendered(await _bot_page(request, viewer, bot, values, errors)) from exc
    except ApiError as exc:
        errors = forms.api_errors(exc, "outgoing_url")
        raise Rendered(await _bot_page(request, viewer, bot, values, errors)) from exc
    return redirect(request, bot_url(bot.id), f"Bot {bot.name} saved")


@router.post(BOTS + "/{bot_id}/token")
async def bot_reset_token(
    request: Request, viewer: AdminViewer, form: Form, bot_id: Id
) -> Response:
    bot = await _bot(viewer, bot_id)
    await service.reset_token(viewer.session, bot)
    return redirect(
        request,
        bot_url(bot.id),
        f"New access token made for {bot.name}. The old one is refused from now on: give the "
        "bot the new one.",
    )


# -- the inboxes a bot answers ---------------------------------------------------------------


async def _attach(viewer: Viewer, inbox: Inbox, bot: AgentBot | None) -> str:
    """Sets the inbox's bot; says what happened, the bot it replaced included."""
    previous = await service.bot_of_inbox(viewer.session, inbox)
    await service.set_inbox_bot(viewer.session, inbox, bot)
    if previous is not None and (bot is None or previous.id != bot.id):
        gone = f"{previous.name} no longer answers {inbox.name}: {HANDED_OVER}."
        return gone if bot is None else f"{bot.name} now answers {inbox.name} first. {gone}"
    if bot is None:
        return f"{inbox.name} has no bot."
    return f"{bot.name} now answers {inbox.name} first: its new conversations start pending."


@router.post(BOTS + "/{bot_id}/inboxes")
async def bot_attach(request: Request, viewer: AdminViewer, form: Form, bot_id: Id) -> Response:
    bot = await _bot(viewer, bot_id)
    inbox_id = forms.number(form, "inbox_id")
    if inbox_id is None:
        viewer.web.flash("Choose an inbox", "error")
        raise Rendered(redirect(request, bot_url(bot.id)))
    inbox = await get_inbox(viewer.session, viewer.account.id, inbox_id)
    return redirect(request, bot_url(bot.id), await _attach(viewer, inbox, bot))


@router.post(BOTS + "/{bot_id}/inboxes/{inbox_id}/detach")
async def bot_detach(
    request: Request, viewer: AdminViewer, form: Form, bot_id: Id, inbox_id: Id
) -> Response:
    bot = await _bot(viewer, bot_id)
    inbox = await get_inbox(viewer.session, viewer.account.id, inbox_id)
    if inbox.agent_bot_id != bot.id:  # another bot's inbox, or none's: nothing to take away
        raise NotFound(f"{bot.name} does not answer the inbox {inbox.name}", field="inbox_id")
    return redirect(request, bot_url(bot.id), await _attach(viewer, inbox, None))


@router.post("/app/settings/inboxes/{inbox_id}/bot")
async def inbox_bot(request: Request, viewer: AdminViewer, form: Form, inbox_id: Id) -> Response:
    """The inbox page's choice of the bot that answers it first ("": none)."""
    inbox = await get_inbox(viewer.session, viewer.account.id, inbox_id)
    bot_id = forms.number(form, "agent_bot_id")
    if bot_id is None and forms.text(form, "agent_bot_id"):
        raise NotFound("There is no such bot", field="agent_bot_id")
    bot = await _bot(viewer, bot_id) if bot_id is not None else None
    message = await _attach(viewer, inbox, bot)
    return redirect(request, f"/app/settings/inboxes/{inbox.id}", message)


# -- deletion --------------------------------------------------------------------------------


@router.get(BOTS + "/{bot_id}/delete")
async def bot_delete_confirm(request: Request, viewer: AdminViewer, bot_id: Id) -> Response:
    bot = await _bot(viewer, bot_id)
    inboxes = await service.inboxes_of(viewer.session, bot)
    held = sum((await queries.pending_by_inbox(viewer.session, [i.id for i in inboxes])).values())
    where = ", ".join(i.name for i in inboxes)
    return page(
        request,
        "confirm.html",
        viewer,
        title=f"Delete the bot {bot.name}?",
        message=(
            f"It stops answering {where or 'any inbox'} at once"
            + (
                f", and its {held} pending conversation{' goes' if held == 1 else 's go'} to "
                "the agents (opened for them)"
                if held
                else ""
            )
            + ". Its access token stops working, and its endpoint and delivery log are deleted "
            "with it. Its messages stay in their conversations. This cannot be undone."
        ),
        action=f"{bot_url(bot.id)}/delete",
        button="Delete bot",
        cancel=bot_url(bot.id),
    )


@router.post(BOTS + "/{bot_id}/delete")
async def bot_delete(request: Request, viewer: AdminViewer, form: Form, bot_id: Id) -> Response:
    bot = await _bot(viewer, bot_id)
    name = bot.name
    await service.delete_bot(viewer.session, bot)
    return redirect(request, BOTS, f"The bot {name} was deleted; {HANDED_OVER}.")
