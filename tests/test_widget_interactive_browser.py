"""Interactive messages (issue 16): cards, articles and a CSAT survey in the widget in Chromium,
the visitor's answers through the Widget API to the REST API and to webhooks, what the server
refuses as an answer, and the agents' thread showing what was offered and chosen, escaped.

Bots and agents are strangers to the visitor, and visitors to the agents: their values are
hostile, so a `javascript:` link must never become one and markup must arrive as text."""

from __future__ import annotations

import base64
from typing import Any

from playwright.sync_api import Page, Route, expect

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient, ok
from tests.support.dashboard import logged_in
from tests.support.factories import messages_of, post_message, subscribe
from tests.support.host_page import (
    api_off_loop,  # noqa: F401  (the `api` fixture)
)
from tests.support.receiver import Receiver
from tests.support.widget import WidgetVisitor, visit

IMAGE_URL = "https://images.example/pro.png"
# A 1x1 PNG, served for IMAGE_URL by the browser's router (the test has no network).
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
EVIL_LINK = "javascript:alert(document.domain)"
MARKUP = "<img src=x onerror=alert(1)>"
CARDS = {
    "items": [
        {
            "title": "Pro",
            "description": "For growing teams",
            "media_url": IMAGE_URL,
            "actions": [
                {"type": "link", "text": "Details", "uri": "https://shop.example/pro"},
                {"type": "postback", "text": "Buy Pro", "payload": "buy_pro"},
                {"type": "link", "text": "Evil details", "uri": EVIL_LINK},
            ],
        },
        {
            "title": "Basic",
            "description": MARKUP,  # text, not an image whose onerror runs
            "media_url": "javascript:alert(2)",
            "actions": [{"type": "postback", "text": "Buy Basic", "payload": "buy_basic"}],
        },
    ]
}
ARTICLES = {
    "items": [
        {
            "title": "Shipping times",
            "description": "How long a parcel takes",
            "link": "https://help.example/shipping",
        },
        {"title": "Sneaky article", "description": "Not a link", "link": EVIL_LINK},
    ]
}
CSAT_ANSWER = {"csat_survey_response": {"rating": 4, "feedback_message": "Quick and friendly"}}


def serve_pixel(route: Route) -> None:
    route.fulfill(status=200, content_type="image/png", body=PIXEL)


def start_chat(page: Page, backend: Backend, inbox: JSON, api: ApiClient) -> int:
    """The widget page opened on its own (as the popout is), a first message sent: the
    conversation's number."""
    page.goto(f"{backend.url}/widget?website_token={inbox['website_token']}")
    page.fill(".composer textarea", "Which plan should I take?")
    page.press(".composer textarea", "Enter")
    expect(page.locator(".msg.in:not(.pending) .text")).to_have_text("Which plan should I take?")
    listed = ok(api.get("conversations", params={"status": "all"}))["data"]["payload"]
    number: int = listed[0]["id"]
    return number


def post_interactive(api: ApiClient, number: int) -> dict[str, JSON]:
    """A cards message, an article and a CSAT survey from the agent, by content_type."""
    return {
        "cards": post_message(
            api, number, "Our plans", content_type="cards", content_attributes=CARDS
        ),
        "article": post_message(
            api, number, "These may help", content_type="article", content_attributes=ARTICLES
        ),
        "input_csat": post_message(api, number, "How did we do?", content_type="input_csat"),
    }


def expect_cards_rendered_safely(page: Page) -> None:
    cards = page.locator(".cards .card")
    expect(cards.locator(".card-title")).to_have_text(["Pro", "Basic"])
    expect(cards.locator(".card-text")).to_have_text(["For growing teams", MARKUP])
    image = cards.locator("img")
    expect(image).to_have_count(1)  # the javascript: media_url is no image
    expect(image).to_have_attribute("src", IMAGE_URL)
    page.wait_for_function("() => document.querySelector('.card img').naturalWidth === 1")
    link = cards.locator("a.action")
    expect(link).to_have_count(1)  # the javascript: link action is left out
    expect(link).to_have_text("Details")
    expect(link).to_have_attribute("href", "https://shop.example/pro")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(cards.locator("button.action")).to_have_text(["Buy Pro", "Buy Basic"])
    expect(page.get_by_text("Evil details")).to_have_count(0)


def expect_articles_rendered_safely(page: Page) -> None:
    articles = page.locator(".articles li")
    expect(articles.locator(".article-title")).to_have_text(["Shipping times", "Sneaky article"])
    expect(articles.locator(".article-text")).to_have_text(
        ["How long a parcel takes", "Not a link"]
    )
    links = page.locator(".articles a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://help.example/shipping")
    expect(links).to_have_attribute("rel", "noopener noreferrer")
    expect(page.locator(".articles span.article-title")).to_have_text("Sneaky article")


def rate(page: Page) -> None:
    csat = page.locator(".csat")
    expect(csat.locator(".ratings button")).to_have_count(5)
    submit = csat.locator("button[type=submit]")
    expect(submit).to_be_disabled()  # nothing chosen yet
    csat.get_by_role("button", name="4 of 5").click()
    expect(csat.get_by_role("button", name="4 of 5")).to_have_attribute("aria-pressed", "true")
    csat.locator("textarea").fill("  Quick and friendly ")
    submit.click()


def expect_answers_shown(page: Page) -> None:
    cards = page.locator(".msg", has=page.locator(".cards"))
    expect(cards.locator(".answer b")).to_have_text("Buy Pro")
    for button in cards.locator("button.action").all():
        expect(button).to_be_disabled()  # answered once: no second choice
    csat = page.locator(".msg", has_text="How did we do?")
    expect(csat.locator(".answer b")).to_have_text("😀 4 of 5")
    expect(csat.locator(".answer .feedback")).to_have_text("Quick and friendly")
    expect(csat.locator(".ratings")).to_have_count(0)


def test_cards_articles_and_csat_render_safely_and_answers_reach_api_and_webhooks(
    api: ApiClient, backend: Backend, inbox: JSON, page: Page, receiver: Receiver
) -> None:
    page.route(IMAGE_URL, serve_pixel)
    number = start_chat(page, backend, inbox, api)
    subscribe(api, receiver, "/answers", ["message_updated"])
    posted = post_interactive(api, number)

    expect_cards_rendered_safely(page)
    expect_articles_rendered_safely(page)
    expect(page.locator("a[href^='javascript' i]")).to_have_count(0)
    page.locator(".card button.action", has_text="Buy Pro").click()
    rate(page)
    expect_answers_shown(page)

    got = {r.json()["id"]: r.json() for r in receiver.wait_for(2, "/answers")}
    assert sorted(got) == sorted([posted["cards"]["id"], posted["input_csat"]["id"]])
    stored = {m["id"]: m["content_attributes"] for m in messages_of(api, number)}
    chose = [{"title": "Buy Pro", "value": "buy_pro"}]
    for message_id, values in (
        (posted["cards"]["id"], chose),
        (posted["input_csat"]["id"], CSAT_ANSWER),
    ):
        assert got[message_id]["content_attributes"]["submitted_values"] == values
        assert stored[message_id]["submitted_values"] == values
    assert "submitted_values" not in stored[posted["article"]["id"]]

    page.reload()  # the answers come back with the history, read-only
    expect_answers_shown(page)


# -- what the server takes as an answer -----------------------------------------------------------


def answer(visitor: WidgetVisitor, message: JSON, values: Any) -> Any:
    return visitor.request("PATCH", f"messages/{message['id']}", json={"submitted_values": values})


def refused_as(response: Any) -> str:
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["submitted_values"], response.text
    return str(response.json()["errors"][0]["message"])


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"v": value}
    return value


def test_answers_off_their_shape_are_422_never_500(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    number = visitor.say("Hello")["conversation_id"]
    posted = post_interactive(api, number)
    link_only = post_message(
        api,
        number,
        "Read more",
        content_type="cards",
        content_attributes={
            "items": [{"title": "Docs", "actions": [CARDS["items"][0]["actions"][0]]}]
        },
    )
    csat = posted["input_csat"]
    garbage: list[Any] = [
        [nested(12)],  # deeper than the body's limit
        [{"title": "x" * 20_000, "value": "big"}],  # larger than 16 KiB
        "a string",
        [{"title": "NUL", "value": "\x00"}],
    ]
    for values in garbage:
        refused_as(answer(visitor, posted["cards"], values))
    off_scale: list[Any] = [
        {"csat_survey_response": {"rating": 6}},
        {"csat_survey_response": {"rating": 0}},
        {"csat_survey_response": {"rating": "5"}},
        {"csat_survey_response": {"rating": True}},
        {"csat_survey_response": {"rating": 4.5}},
        {"csat_survey_response": {"rating": 3, "feedback_message": {"html": "<b>"}}},
        {"csat_survey_response": {"rating": 3, "extra": 1}},
        {"csat_survey_response": {"rating": 3}, "rating": 5},
        [{"title": "Great", "value": 5}],
    ]
    for values in off_scale:
        assert "CSAT" in refused_as(answer(visitor, csat, values)), values
    for message in (posted["article"], link_only):  # they ask nothing
        assert "asks for no answer" in refused_as(answer(visitor, message, [{"value": "x"}]))

    taken = visitor.ok("PATCH", f"messages/{csat['id']}", json={"submitted_values": CSAT_ANSWER})
    assert taken["content_attributes"]["submitted_values"] == CSAT_ANSWER
    assert "answered already" in refused_as(answer(visitor, csat, CSAT_ANSWER))
    rating_only = {"csat_survey_response": {"rating": 1}}  # the feedback is optional
    again = post_message(api, number, "Once more?", content_type="input_csat")
    assert visitor.ok("PATCH", f"messages/{again['id']}", json={"submitted_values": rating_only})


# -- the agents' thread ---------------------------------------------------------------------------


def link(href: str, text: str) -> str:
    """A link of the thread as the template writes it."""
    return f'<a href="{href}" rel="noopener noreferrer nofollow" target="_blank">{text}</a>'


def test_the_thread_shows_offers_and_choices_as_escaped_text(
    api: ApiClient, backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    number = visitor.say("Hello")["conversation_id"]
    select = post_message(
        api,
        number,
        "Which size?",
        content_type="input_select",
        content_attributes={
            "items": [{"title": MARKUP, "value": "xss"}, {"title": "Large", "value": "l"}]
        },
    )
    form = post_message(
        api,
        number,
        "A few details",
        content_type="form",
        content_attributes={
            "items": [
                {"name": "email", "label": "Your email", "type": "email", "required": True},
                {
                    "name": "plan",
                    "label": "Plan",
                    "type": "select",
                    "options": [
                        {"label": "Pro", "value": "pro"},
                        {"label": "Team", "value": "team"},
                    ],
                },
            ]
        },
    )
    posted = post_interactive(api, number)
    visitor.ok(
        "PATCH",
        f"messages/{select['id']}",
        json={"submitted_values": [{"title": MARKUP, "value": "xss"}]},
    )
    feedback = {
        "csat_survey_response": {"rating": 5, "feedback_message": "<script>alert(2)</script>"}
    }
    visitor.ok(
        "PATCH", f"messages/{posted['input_csat']['id']}", json={"submitted_values": feedback}
    )
    form_answer = [{"name": "plan", "title": "Plan", "value": "team"}]
    visitor.ok("PATCH", f"messages/{form['id']}", json={"submitted_values": form_answer})

    dashboard = logged_in(api)
    try:
        raw = dashboard.get(f"/app/conversations/{number}").text
    finally:
        dashboard.close()
    assert MARKUP not in raw
    assert "<script>alert(2)" not in raw
    assert 'href="javascript:' not in raw.lower()
    thread = raw[raw.index('id="messages"') : raw.index('id="new-messages"')]
    for shown in (
        "Options offered",
        "&lt;img src=x onerror=alert(1)&gt;",
        "Large",
        "Chose: <strong>&lt;img src=x onerror=alert(1)&gt; (xss)</strong>",
        "Cards offered",
        'Button: Buy Pro <span class="hint">(buy_pro)</span>',
        f"Link: {link('https://shop.example/pro', 'Details')}",
        # Shown as text, so agents see what the bot sent, but no link.
        'Link: Evil details <span class="hint">(javascript:alert(document.domain))</span>',
        "Form fields",
        "Your email",
        "email · required",
        "select · options: Pro, Team",
        "Chose: <strong>Plan: team</strong>",
        "Articles offered",
        link("https://help.example/shipping", "Shipping times"),
        "<strong>Sneaky article</strong>",
        "Asked for a satisfaction rating (1 to 5)",
        "<strong>Rated 5 of 5</strong>",
        "Feedback: &lt;script&gt;alert(2)&lt;/script&gt;",
    ):
        assert shown in thread, shown
