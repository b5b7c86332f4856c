"""Webhook settings (administrators only): endpoints with their health, the form, the signing
secret, enabling with recovery, the comeback recovery offer, and the delivery log with
redelivery. Everything goes through webhooks.service and webhooks.deliveries, as the API
does."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from voxsig.agent_bots import service as bots
from voxsig.dashboard import forms, queries
from voxsig.dashboard.web import AdminViewer, DashboardRoute, Form, Rendered, Viewer, page, redirect
from voxsig.errors import ApiError
from voxsig.events.names import ALL, DESCRIPTIONS
from voxsig.inboxes.service import list_inboxes
from voxsig.kit.schema import MAX_PAGE, Id
from voxsig.models import Webhook
from voxsig.models.webhook import BOT_ENDPOINT, DELIVERY_STATUSES, INBOX_ENDPOINT
from voxsig.outbox import replay
from voxsig.outbox.endpoints import of_webhook
from voxsig.outbox.signing import is_asymmetric, public_key
from voxsig.views.webhooks import sent_body
from voxsig.webhooks import backlog, deliveries, service
from voxsig.webhooks.schemas import WebhookCreate, WebhookUpdate

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

STATUSES = DELIVERY_STATUSES
PAYLOAD_FORMAT_CHOICES = [
    ("voxsig", "Voxsig: the documented events"),
    ("chatwoot", "Chatwoot: as Chatwoot sends"),
]
SIGNING_CHOICES = [
    ("symmetric", "Symmetric (v1): a shared secret"),
    ("asymmetric", "Asymmetric (v1a): a public key"),
]


def _limits(request: Request) -> service.Limits:
    return service.Limits.of(request.app.state.settings)


def _base(webhook: Webhook) -> str:
    """The endpoint's own page: an inbox's callback is shown on its inbox's page, a bot's
    endpoint on its bot's (dashboard/bots.py)."""
    if webhook.kind == INBOX_ENDPOINT:
        return f"/app/settings/inboxes/{webhook.inbox_id}"
    if webhook.kind == BOT_ENDPOINT:
        return f"/app/settings/bots/{webhook.agent_bot_id}"
    return f"/app/webhooks/{webhook.id}"


@router.get("/app/webhooks")
async def webhook_list(request: Request, viewer: AdminViewer) -> Response:
    session = viewer.session
    webhooks = await service.list_webhooks(session, viewer.account.id)
    health = {w.id: await deliveries.success_rate(session, w) for w in webhooks}
    inbox_names = {i.id: i.name for i in await list_inboxes(session, viewer.account.id)}
    return page(
        request,
        "webhooks/list.html",
        viewer,
        webhooks=webhooks,
        health=health,
        last_errors=await queries.last_errors(session, webhooks),
        pending=await queries.pending_counts(session, webhooks),
        inbox_names=inbox_names,
    )


async def _form_page(
    request: Request,
    viewer: Viewer,
    webhook: Webhook | None,
    values: dict[str, Any],
    errors: forms.Errors | None = None,
) -> Response:
    settings = request.app.state.settings
    standing = (
        None
        if webhook is None
        else (
            await backlog.standings(viewer.session, [webhook], settings.webhook_max_per_endpoint)
        )[webhook.id]
    )
    return page(
        request,
        "webhooks/form.html" if webhook is None else "webhooks/show.html",
        viewer,
        webhook=webhook,
        # Deliveries that failed since its comeback offer's start (the banner shows when
        # any), and how far behind it is.
        offer_failed=standing.failed_since_offer if standing else 0,
        backlog=standing.backlog if standing else None,
        default_max_in_flight=settings.webhook_max_per_endpoint,
        ceiling=settings.webhook_max_in_flight,
        form=values,
        errors=errors or {},
        events=[(name, DESCRIPTIONS[name]) for name in ALL],
        inboxes=await list_inboxes(viewer.session, viewer.account.id),
        payload_formats=PAYLOAD_FORMAT_CHOICES,
        signings=SIGNING_CHOICES,
        # Asymmetric: what the receiver verifies with (the whsk_ secret key is never shown).
        public_key=(
            public_key(webhook.secret)
            if webhook is not None and is_asymmetric(webhook.secret)
            else None
        ),
    )


def _values(form: FormData) -> dict[str, Any]:
    return {
        "name": forms.text(form, "name"),
        "url": forms.text(form, "url"),
        "subscriptions": [e for e in forms.checked(form, "subscriptions") if e in ALL],
        "inbox_id": forms.number(form, "inbox_id"),
        "auto_recover": forms.text(form, "auto_recover") == "on",
        # Empty: the default cap.
        "max_in_flight": forms.whole_or_typed(form, "max_in_flight"),
        # A form without them (an older page) leaves them as they are, or the defaults.
        **{
            name: forms.text(form, name)
            for name in ("payload_format", "signing")
            if forms.text(form, name)
        },
    }


@router.get("/app/webhooks/new")
async def webhook_new(request: Request, viewer: AdminViewer) -> Response:
    return await _form_page(request, viewer, None, {"subscriptions": []})


@router.post("/app/webhooks")
async def webhook_create(request: Request, viewer: AdminViewer, form: Form) -> Response:
    values = _values(form)
    try:
        fields = WebhookCreate.model_validate(values).model_dump()
        webhook = await service.create_webhook(
            viewer.session, viewer.account.id, fields, _limits(request)
        )
    except ValidationError as exc:
        errors = forms.validation_errors(exc)
        raise Rendered(await _form_page(request, viewer, None, values, errors)) from exc
    except ApiError as exc:
        errors = forms.api_errors(exc, "url")
        raise Rendered(await _form_page(request, viewer, None, values, errors)) from exc
    return redirect(
        request,
        _base(webhook),
        "Webhook created. Its public key is below: verify every delivery with it."
        if is_asymmetric(webhook.secret)
        else "Webhook created. Its signing secret is below: verify every delivery with it.",
    )


async def _webhook(viewer: Viewer, webhook_id: int) -> Webhook:
    return await service.get_webhook(viewer.session, viewer.account.id, webhook_id)


async def _endpoint(viewer: Viewer, endpoint_id: int) -> Webhook:
    """A webhook or an inbox's callback: for what every endpoint has (its delivery log,
    redelivery, recovery, enabling, secret)."""
    return await service.get_endpoint(viewer.session, viewer.account.id, endpoint_id)


def _current(webhook: Webhook) -> dict[str, Any]:
    return {
        "name": webhook.name,
        "url": webhook.url,
        "subscriptions": list(webhook.subscriptions),
        "inbox_id": webhook.inbox_id,
        "auto_recover": webhook.auto_recover,
        "max_in_flight": webhook.max_in_flight,
        "payload_format": webhook.payload_format,
        "signing": webhook.signing,
    }


@router.get("/app/webhooks/{webhook_id}")
async def webhook_page(request: Request, viewer: AdminViewer, webhook_id: Id) -> Response:
    webhook = await _webhook(viewer, webhook_id)
    return await _form_page(request, viewer, webhook, _current(webhook))


@router.post("/app/webhooks/{webhook_id}")
async def webhook_update(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id
) -> Response:
    webhook = await _webhook(viewer, webhook_id)
    values = _values(form)
    try:
        fields = WebhookUpdate.model_validate(values).model_dump(exclude_unset=True)
        await service.update_webhook(viewer.session, webhook, fields, _limits(request))
    except ValidationError as exc:
        errors = forms.validation_errors(exc)
        raise Rendered(await _form_page(request, viewer, webhook, values, errors)) from exc
    except ApiError as exc:
        errors = forms.api_errors(exc, "url")
        raise Rendered(await _form_page(request, viewer, webhook, values, errors)) from exc
    return redirect(request, _base(webhook), "Webhook saved")


@router.post("/app/webhooks/{webhook_id}/enable")
async def webhook_enable(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id
) -> Response:
    webhook = await _endpoint(viewer, webhook_id)
    missed_since = await service.update_webhook(
        viewer.session, webhook, {"enabled": True}, _limits(request)
    )
    message = "Webhook enabled."
    if missed_since is not None and forms.text(form, "recover") == "on":
        done = await replay.recover(viewer.session, of_webhook(webhook), missed_since)
        message += " " + _recovered_text(done)
    return redirect(request, _base(webhook), message)


def _recovered_text(done: dict[str, int]) -> str:
    again, missed = done["redelivered"], done["recovered"]
    return (
        f"{again} failed deliver{'y' if again == 1 else 'ies'} sent again, {missed} missed "
        f"event{'' if missed == 1 else 's'} delivered."
    )


@router.post("/app/webhooks/{webhook_id}/offer/recover")
async def webhook_take_offer(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id
) -> Response:
    """Accepts the comeback offer as it is now (a page shown before a second streak extended
    it back recovers the longer span, which only sends more of what failed)."""
    webhook = await _endpoint(viewer, webhook_id)
    since = webhook.recovery_offer_since
    if since is None:
        return redirect(request, _base(webhook), "Nothing is left to recover.")
    try:
        done = await replay.recover(viewer.session, of_webhook(webhook), since)
    except ApiError as exc:  # disabled meanwhile: enabling it offers the recovery
        viewer.web.flash(exc.message, "error")
        raise Rendered(redirect(request, _base(webhook))) from exc
    return redirect(request, _base(webhook), _recovered_text(done))


@router.post("/app/webhooks/{webhook_id}/offer/dismiss")
async def webhook_dismiss_offer(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id
) -> Response:
    webhook = await _endpoint(viewer, webhook_id)
    service.dismiss_offer(webhook)
    return redirect(
        request,
        _base(webhook),
        "Dismissed. The failed deliveries stay in the delivery log, where each can be sent again.",
    )


@router.post("/app/webhooks/{webhook_id}/disable")
async def webhook_disable(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id
) -> Response:
    webhook = await _endpoint(viewer, webhook_id)
    await service.update_webhook(viewer.session, webhook, {"enabled": False}, _limits(request))
    await bots.endpoint_disabled(viewer.session, webhook)
    return redirect(
        request,
        _base(webhook),
        "Webhook disabled. Its events are kept: enable it to send what it missed.",
    )


@router.post("/app/webhooks/{webhook_id}/rotate")
async def webhook_rotate(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id
) -> Response:
    webhook = await _endpoint(viewer, webhook_id)
    deliveries.rotate_secret(webhook)
    await viewer.session.flush()
    what = "key" if is_asymmetric(webhook.secret) else "secret"
    return redirect(
        request,
        _base(webhook),
        f"New signing {what} made. For 24 hours deliveries are signed with both the old and "
        f"the new {what}, so you have a day to update your receiver.",
    )


@router.get("/app/webhooks/{webhook_id}/delete")
async def webhook_delete_confirm(request: Request, viewer: AdminViewer, webhook_id: Id) -> Response:
    webhook = await _webhook(viewer, webhook_id)
    return page(
        request,
        "confirm.html",
        viewer,
        title=f"Delete the webhook to {webhook.url}?",
        message="It stops receiving events at once, and its delivery log is deleted with it. "
        "This cannot be undone.",
        action=f"{_base(webhook)}/delete",
        button="Delete webhook",
        cancel=_base(webhook),
    )


@router.post("/app/webhooks/{webhook_id}/delete")
async def webhook_delete(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id
) -> Response:
    webhook = await _webhook(viewer, webhook_id)
    await service.delete_webhook(viewer.session, webhook)
    return redirect(request, "/app/webhooks", f"The webhook to {webhook.url} was deleted.")


# -- the delivery log ------------------------------------------------------------------------


@router.get("/app/webhooks/{webhook_id}/deliveries")
async def delivery_log(
    request: Request,
    viewer: AdminViewer,
    webhook_id: Id,
    status: Annotated[str, Query()] = "",
    event: Annotated[str, Query()] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    webhook = await _endpoint(viewer, webhook_id)
    status = status if status in STATUSES else ""
    event = event if event in ALL else ""
    total, rows = await deliveries.list_deliveries(
        viewer.session, webhook, status or None, event or None, page_no
    )
    last = await queries.last_attempts(viewer.session, [d.id for d, _ in rows])
    return page(
        request,
        "webhooks/deliveries.html",
        viewer,
        webhook=webhook,
        back=_base(webhook),
        rows=rows,
        last=last,
        total=total,
        status_filter=status,
        event=event,
        statuses=STATUSES,
        events=ALL,
        page_no=page_no,
        more=page_no * deliveries.PAGE_SIZE < total,
    )


@router.get("/app/webhooks/{webhook_id}/deliveries/{delivery_id}")
async def delivery_page(
    request: Request, viewer: AdminViewer, webhook_id: Id, delivery_id: Id
) -> Response:
    webhook = await _endpoint(viewer, webhook_id)
    delivery, event = await deliveries.get_delivery(viewer.session, webhook, delivery_id)
    return page(
        request,
        "webhooks/delivery.html",
        viewer,
        webhook=webhook,
        delivery=delivery,
        event=event,
        body=sent_body(delivery, event),
        attempts=await deliveries.attempts_of(viewer.session, delivery),
    )


@router.post("/app/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request, viewer: AdminViewer, form: Form, webhook_id: Id, delivery_id: Id
) -> Response:
    webhook = await _endpoint(viewer, webhook_id)
    delivery, _ = await deliveries.get_delivery(viewer.session, webhook, delivery_id)
    target = f"{_base(webhook)}/deliveries/{delivery.id}"
    try:
        await replay.redeliver(viewer.session, of_webhook(webhook), delivery)
    except ApiError as exc:
        viewer.web.flash(exc.message, "error")
        raise Rendered(redirect(request, target)) from exc
    return redirect(
        request,
        target,
        "Sending again: the same body with the same webhook-id, so receivers "
        "can tell it is a repeat.",
    )
