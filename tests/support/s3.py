"""The test S3 server: one moto standalone server for the session, started only when a test
asks for `s3_server` (so the rest of the suite never pays for its start-up)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.s3 import MotoServer


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("s3"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
