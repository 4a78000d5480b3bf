"""Shared by the ingest tests: the libpq URL of the test database."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def conninfo(database_url: str) -> str:
    from gyre.services.endpoints import libpq_url

    return libpq_url()
