"""Attachments end to end on an S3 store: a Voxsig of the test's own with VOXSIG_STORAGE_URL at
a bucket of moto's standalone S3 server on 127.0.0.1, driven over HTTP through the REST API.
The links redirect to the store's own presigned URLs, which serve the exact bytes with the
stored type and disposition; the bucket is looked at behind Voxsig's back with boto3."""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from harness.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer
from tests.support.client import ApiClient, error, fields_of, ok
from tests.support.deployment import DeployFactory
from tests.support.factories import messages_of, setup_thread
from tests.support.files import PDF, SVG_WITH_SCRIPT, png, post_files
from tests.support.waiting import wait_until

PREFIX = "voxsig-files"


@pytest.fixture
def bucket(s3_server: MotoServer) -> Iterator[tuple[Any, str]]:
    """A bucket of the test's own and a plain client to look into it."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    name = f"voxsig-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    try:
        yield client, name
    finally:
        client.close()


@pytest.fixture
def s3_api(deploy: DeployFactory, s3_server: MotoServer, bucket: tuple[Any, str]) -> ApiClient:
    deployment = deploy(
        {
            "VOXSIG_STORAGE_URL": f"s3://{bucket[1]}/{PREFIX}",
            "VOXSIG_STORAGE_ENDPOINT": s3_server.endpoint,
            "VOXSIG_STORAGE_REGION": REGION,
            "VOXSIG_STORAGE_ACCESS_KEY": ACCESS_KEY,
            "VOXSIG_STORAGE_SECRET_KEY": SECRET_KEY,
        }
    )
    return deployment.account()


def objects(bucket: tuple[Any, str]) -> set[str]:
    client, name = bucket
    listed = client.list_objects_v2(Bucket=name)
    return {item["Key"] for item in listed.get("Contents", [])}


def redirected(link: str, s3_server: MotoServer) -> httpx.Response:
    """The link's answer (a redirect to the store) and then the store's, checked on the way."""
    first = httpx.get(link, timeout=10)
    assert first.status_code == 302, first.text
    assert first.headers["cache-control"] == "no-store"
    target = urllib.parse.urlsplit(first.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == s3_server.endpoint
    assert target.path.startswith("/")
    assert "X-Amz-Signature" in urllib.parse.parse_qs(target.query)
    final = httpx.get(first.headers["location"], timeout=10)
    assert final.status_code == 200, final.text
    return final


def test_files_are_stored_served_refused_and_deleted_on_s3(
    s3_api: ApiClient, s3_server: MotoServer, bucket: tuple[Any, str]
) -> None:
    _, contact, conversation = setup_thread(s3_api)
    picture = png(640, 480)
    message = ok(
        post_files(
            s3_api,
            conversation["id"],
            [("photo of the box.png", picture), ("invoice.pdf", PDF)],
            content="Here are both",
        )
    )
    image, pdf = message["attachments"]
    stored = objects(bucket)
    assert len(stored) == 3  # the image, its thumbnail and the PDF
    assert all(key.startswith(f"{PREFIX}/attachments/") for key in stored)

    shown = redirected(image["data_url"], s3_server)
    assert shown.content == picture
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline")
    document = redirected(pdf["data_url"], s3_server)
    assert document.content == PDF
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-disposition"].startswith('attachment; filename="invoice.pdf"')
    thumb = redirected(image["thumb_url"], s3_server)
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    assert len(thumb.content) < len(picture)

    url = urllib.parse.urlsplit(pdf["data_url"])
    _, _, ident, variant, token, name = url.path.split("/")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    tampered = f"{url.scheme}://{url.netloc}/files/{ident}/{variant}/{flipped}/{name}"
    refused_link = httpx.get(tampered, timeout=10)
    assert refused_link.status_code == 404
    assert "location" not in refused_link.headers

    script = error(
        post_files(s3_api, conversation["id"], [("a.png", png(8, 8)), ("x.svg", SVG_WITH_SCRIPT)]),
        422,
    )
    assert fields_of(script) == ["attachments[1]"]
    assert objects(bucket) == stored  # the PNG stored before the SVG was refused is gone too
    assert len(messages_of(s3_api, conversation["id"])) == 1

    ok(s3_api.delete(f"contacts/{contact['id']}"))
    wait_until(lambda: not objects(bucket), 10, lambda: f"still in the bucket: {objects(bucket)}")
