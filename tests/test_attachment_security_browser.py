"""Issue 17, "an uploaded HTML or SVG file must not run script in Voxsig's origin", in Chromium.

A deployment that accepts SVG and HTML at all (by default they are refused at upload:
test_attachments.py) takes, over the REST API, files whose script would leave marks: a cookie
and a localStorage item in the origin that ran it, a changed document title, and a request to
a beacon on 127.0.0.1. Chromium opens each file's data_url directly, and the dashboard embeds
the SVG in an <img>; none of the marks appears, and the responses are attachments with
nosniff and the sandbox CSP.

The probe is shown to work first: the same files served inline as text/html and image/svg+xml
without any CSP by a server of the test's own run their script, and the same probe sees every
mark. (Script marks made while a document loads are in place by its load event, so their
absence after it is no matter of waiting; the beacon is checked last.)"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.support.client import ApiClient, ok
from tests.support.deployment import DeployFactory, Deployment
from tests.support.factories import setup_thread
from tests.support.files import SVG_WITH_SCRIPT, post_files
from tests.support.receiver import Receiver

pytest.importorskip("playwright")
from playwright.sync_api import Browser, BrowserContext, Download, Page, expect
from playwright.sync_api import Error as PlaywrightError

ALLOWED = "image/png,application/pdf,image/svg+xml,text/html"
TITLE = "clean"
RAN = "probe ran"


def script(beacon: str, name: str) -> str:
    return (
        f"document.cookie = 'probe_{name}=ran; path=/';"
        f"try {{ localStorage.setItem('probe_{name}', 'ran'); }} catch (e) {{}}"
        f"document.title = '{RAN}';"
        f"fetch('{beacon}', {{ mode: 'no-cors' }}).catch(() => {{}});"
    )


def svg(beacon: str) -> bytes:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        f"<title>{TITLE}</title><script>{script(beacon, 'svg')}</script>"
        '<rect width="10" height="10" fill="red"/></svg>'
    ).encode()


def page_html(beacon: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{TITLE}</title></head>"
        f"<body><p>hello</p><script>{script(beacon, 'html')}</script></body></html>"
    ).encode()


@dataclass
class Marks:
    """What a script that ran in `origin` left there."""

    cookies: list[str]
    storage: list[str]
    titles: list[str]

    @property
    def none(self) -> bool:
        return not self.cookies and not self.storage and RAN not in self.titles


class Probe:
    """Opens files in one browser context and reads the marks their scripts would leave."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context(accept_downloads=True)
        self.downloads: list[Download] = []
        self.titles: list[str] = []

    def open(self, url: str) -> Page:
        """Navigates a fresh tab to `url`; a download (an attachment) leaves the tab blank."""
        page = self.context.new_page()
        page.on("download", lambda download: self.downloads.append(download))
        try:
            page.goto(url, wait_until="load")
        except PlaywrightError as error:
            if "Download is starting" not in str(error):
                raise
        self.titles.append(page.title())
        return page

    def marks(self, origin: str, names: tuple[str, ...]) -> Marks:
        """The origin's cookies and localStorage, read from a page of that origin."""
        page = self.context.new_page()
        page.goto(origin + "/")
        stored: list[str] = page.evaluate(
            "names => names.filter(name => localStorage.getItem(name) !== null)",
            [f"probe_{n}" for n in names] + ["pwned"],
        )
        page.close()
        cookies = [
            c["name"]
            for c in self.context.cookies(origin)
            if c["name"].startswith("probe_") or c["name"] == "pwned"
        ]
        return Marks(cookies, stored, list(self.titles))

    def close(self) -> None:
        self.context.close()


class Inline:
    """Serves each registered body inline with its content type and no other header: what a
    file server without Voxsig's precautions would do."""

    def __init__(self) -> None:
        files: dict[str, tuple[bytes, str]] = {}
        self.files = files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, kind = files.get(self.path, (b"", "text/plain"))
                self.send_response(200 if self.path in files else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.add("/", b"<!doctype html><title>the origin</title>", "text/html")  # for marks()

    def add(self, path: str, body: bytes, content_type: str) -> str:
        self.files[path] = (body, content_type)
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def probe(browser: Browser) -> Iterator[Probe]:
    made = Probe(browser)
    yield made
    made.close()


def test_the_probe_sees_the_marks_of_a_script_that_runs(probe: Probe, receiver: Receiver) -> None:
    inline = Inline()
    try:
        html_url = inline.add("/page.html", page_html(receiver.url("/probe/html")), "text/html")
        svg_url = inline.add("/image.svg", svg(receiver.url("/probe/svg")), "image/svg+xml")
        for url in (html_url, svg_url):
            probe.open(url)
        marks = probe.marks(inline.origin, ("html", "svg"))
    finally:
        inline.close()
    assert not marks.none
    assert sorted(marks.cookies) == ["probe_html", "probe_svg"]
    assert sorted(marks.storage) == ["probe_html", "probe_svg"]
    assert marks.titles == [RAN, RAN]
    assert probe.downloads == []
    receiver.wait_for(1, "/probe/html")
    receiver.wait_for(1, "/probe/svg")


def _deployment(deploy: DeployFactory) -> tuple[Deployment, ApiClient]:
    """Made on a worker thread: creating the account runs asyncio, which cannot run in the
    thread where Playwright's sync API keeps its loop."""
    with ThreadPoolExecutor(1) as pool:
        deployment = pool.submit(deploy, {"VOXSIG_ATTACHMENT_ALLOWED_TYPES": ALLOWED}).result()
        api = pool.submit(deployment.account).result()
    return deployment, api


def test_uploaded_svg_and_html_run_no_script_in_voxsigs_origin(
    deploy: DeployFactory, probe: Probe, receiver: Receiver
) -> None:
    deployment, api = _deployment(deploy)
    _, _, conversation = setup_thread(api)
    message = ok(
        post_files(
            api,
            conversation["id"],
            [
                ("drawing.svg", svg(receiver.url("/probe/svg"))),
                ("page.html", page_html(receiver.url("/probe/html"))),
                ("cat.svg", SVG_WITH_SCRIPT),
            ],
            content="files that would run script",
            message_type="incoming",
        )
    )
    files = message["attachments"]
    assert [f["content_type"] for f in files] == ["image/svg+xml", "text/html", "image/svg+xml"]

    for file in files:
        served = httpx.get(file["data_url"], timeout=10)
        assert served.status_code == 200
        assert served.headers["content-type"].split(";")[0] == file["content_type"]
        assert served.headers["content-disposition"].startswith("attachment;")
        assert served.headers["x-content-type-options"] == "nosniff"
        policy = served.headers["content-security-policy"]
        assert "sandbox" in policy.split("; ")
        assert "default-src 'none'" in policy

    for file in files:
        probe.open(file["data_url"])
    assert len(probe.downloads) == len(files)  # saved, never shown in Voxsig's origin

    # The dashboard: the SVG is a download link, and as an <img> it runs nothing either.
    page = probe.context.new_page()
    page.goto(api.url + "/")
    page.get_by_label("Email").fill(api.credentials.email)
    page.get_by_label("Password").fill(api.credentials.password)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{api.url}/app/conversations/{conversation['id']}")
    link = page.get_by_role("link", name="drawing.svg")
    expect(link).to_be_visible()
    assert re.fullmatch(r"/files/\d+/data/[^/]+/drawing\.svg", link.get_attribute("href") or "")
    embedded: bool = page.evaluate(
        """href => new Promise(done => {
            const img = new Image();
            img.onload = () => done(true);
            img.onerror = () => done(false);
            img.src = href;
            document.body.appendChild(img);
        })""",
        link.get_attribute("href"),
    )
    assert embedded  # the SVG was fetched and drawn, as an image
    probe.titles.append(page.title())
    page.close()

    marks = probe.marks(api.url, ("html", "svg"))
    assert marks.none, marks
    assert receiver.requests("/probe/html") == []
    assert receiver.requests("/probe/svg") == []
    assert deployment.server.running
