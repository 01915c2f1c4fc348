"""Fixtures for the service tests: the shipped model and Litestar test clients around ``create_app``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.model import DigitModel
from service.settings import Settings


@pytest.fixture(scope="session")
def shipped_model() -> DigitModel:
    """models/digits/2/model.onnx as the service loads it (the tests use the shipped model, nothing else)."""
    return DigitModel.load(Settings().model_path)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The app with default settings; the lifespan loads the shipped model."""
    with TestClient(create_app(Settings())) as test_client:
        yield test_client


@pytest.fixture
def make_client(shipped_model: DigitModel) -> Iterator[Callable[..., TestClient]]:
    """``make_client(max_batch=2, ...)``: an app with those settings (model shared), closed after the test."""
    opened: list[TestClient] = []

    def _make(**overrides: Any) -> TestClient:
        test_client = TestClient(create_app(Settings(**overrides), model=shipped_model))
        opened.append(test_client.__enter__())
        return opened[-1]

    yield _make
    for test_client in opened:
        test_client.__exit__(None, None, None)
