"""The Widget API's rate limits (per visitor, per address) and the files a website loads: the
SDK (its size included), the widget page and its assets, the preview page."""

from __future__ import annotations

import gzip

import httpx
import pytest

from tests.conftest import Backend
from tests.support.client import JSON, ApiClient
from tests.support.factories import widget_inbox
from tests.support.widget import WidgetVisitor, visit
from voxsig.kit.ratelimit import TokenBuckets
from voxsig.widget.browser import browser_info, browser_language

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)
SDK_GZIP_LIMIT = 10 * 1024


# -- rate limits --------------------------------------------------------------------------------


def exhaust(visitor: WidgetVisitor, path: str, limit: int) -> httpx.Response:
    for _ in range(limit):
        response = visitor.request("GET", path)
        if response.status_code == 429:
            return response
    raise AssertionError(f"no 429 within {limit} requests")


def test_a_visitor_is_rate_limited(
    backend: Backend, inbox: JSON, visitors: list[WidgetVisitor]
) -> None:
    visitor = visit(backend, inbox, visitors)
    limited = exhaust(visitor, "contact", 200)
    assert int(limited.headers["Retry-After"]) >= 1
    body = limited.json()
    assert body["error"] == "rate_limited"
    assert "visitor" in body["message"]
    neighbour = WidgetVisitor(backend.url, inbox["website_token"], visitor.token)
    neighbour.ip = visitor.ip  # same visitor from another address: still limited
    assert neighbour.request("GET", "contact").status_code == 429
    neighbour.close()
    other = visit(backend, inbox, visitors)
    assert other.request("GET", "contact").status_code == 200


def test_an_address_is_rate_limited_before_any_work(backend: Backend, inbox: JSON) -> None:
    crowd = WidgetVisitor(backend.url, "no-such-website-token")  # 404s: cheap, but counted
    try:
        limited = exhaust(crowd, "contact", 2000)
        assert int(limited.headers["Retry-After"]) >= 1
        assert "address" in limited.json()["message"]
        elsewhere = WidgetVisitor(backend.url, inbox["website_token"])
        assert elsewhere.request("POST", "config").status_code == 200
        elsewhere.close()
    finally:
        crowd.close()


def test_token_buckets_refill_and_forget() -> None:
    now = [0.0]
    buckets = TokenBuckets(3, 2.0, max_keys=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0
    buckets.take("c")  # beyond max_keys: "a", the least recently used, is forgotten
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == 0.0


def test_browser_details_from_headers() -> None:
    assert browser_info(CHROME_LINUX)["browser_name"] == "Chrome"
    assert browser_info(None)["browser_name"] == "Unknown"
    iphone = browser_info(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
    )
    assert (iphone["device_name"], iphone["platform_name"], iphone["platform_version"]) == (
        "iPhone",
        "iOS",
        "17.2",
    )
    assert browser_language("en;q=0.5, pt-BR") == "pt"
    assert browser_language("*") == ""
    assert browser_language(None) == ""


# -- files a website loads ---------------------------------------------------------------------


def test_the_sdk_is_small(backend: Backend) -> None:
    plain = httpx.get(f"{backend.url}/packs/js/sdk.js", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "voxsigSDK" in plain.text
    size = len(gzip.compress(plain.content, 9))
    assert size <= SDK_GZIP_LIMIT, f"sdk.js is {size} bytes gzipped, over {SDK_GZIP_LIMIT}"
    served = httpx.get(f"{backend.url}/packs/js/sdk.js", headers={"Accept-Encoding": "gzip"})
    assert served.headers["content-encoding"] == "gzip"
    assert served.content == plain.content  # httpx decodes it
    etag = served.headers["etag"]
    again = httpx.get(f"{backend.url}/packs/js/sdk.js", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_the_widget_page_and_its_assets(backend: Backend, inbox: JSON) -> None:
    page = httpx.get(f"{backend.url}/widget", params={"website_token": inbox["website_token"]})
    assert page.status_code == 200
    assert "frame-ancestors *" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers
    assert '<script src="/widget/assets/widget.js"' in page.text
    for name, kind in (("widget.js", "text/javascript"), ("widget.css", "text/css")):
        asset = httpx.get(f"{backend.url}/widget/assets/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
    assert httpx.get(f"{backend.url}/widget/assets/..%2Fapi.py").status_code == 404


def test_the_preview_page_embeds_the_inboxes_snippet(api: ApiClient, backend: Backend) -> None:
    inbox = widget_inbox(api, website_url="https://acme.example/shop")
    renamed = api.patch(f"inboxes/{inbox['id']}", json={"name": "<b>Acme</b> & Co"})
    assert renamed.status_code == 200
    url = inbox["widget_preview_url"]
    assert url == f"{backend.url}/widget/preview?website_token={inbox['website_token']}"
    page = httpx.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert inbox["web_widget_script"] in page.text  # embedded as the website owner would
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Co" in page.text
    assert "<b>Acme</b>" not in page.text
    assert "acme.example" in page.text
    api_inbox = api.post("inboxes", json={"name": "API", "channel": {"type": "api"}}).json()
    assert api_inbox["widget_preview_url"] is None
    assert httpx.get(f"{backend.url}/widget/preview?website_token=nope").status_code == 404
