"""Fixtures for the service tests: a Litestar test client around ``create_app`` with default settings.

``shipped_model`` and ``make_client`` (an app with chosen settings) are the suite's, in tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The app with default settings; the lifespan loads the shipped model."""
    with TestClient(create_app(Settings())) as test_client:
        yield test_client
