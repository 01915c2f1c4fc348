"""Model reload and readiness through the test client: real ONNX files in a temp model repository.

The e2e versions (SIGHUP to a real process, several workers) are in test_operations_e2e.py.
"""

from __future__ import annotations

import shutil

import pytest
from model_files import SHIPPED, write_broken, write_version

from service.model import ModelError
from service.repository import load_configured
from service.settings import Settings

KEY = "reload-key"
AUTH = {"x-api-key": KEY}
PIXELS = {"pixels": [255, *[0] * 783]}  # one inked pixel: not blank (a blank field is a 422)


def versions_served(client) -> tuple[str, str, list[str], str]:
    return (
        client.get("/model", headers=AUTH).json()["version"],
        client.get("/readyz").json()["model"]["version"],
        client.get("/v2/models/digits", headers=AUTH).json()["versions"],
        client.post("/predict", json=PIXELS, headers=AUTH).json()["model"]["version"],
    )


@pytest.fixture
def repo_app(make_client, model_repository):
    """An app serving a temp repository (version 1 = the shipped model), loaded by its lifespan."""
    return make_client(model=None, model_repository=model_repository, api_key=KEY)


def test_startup_serves_the_newest_valid_version(make_client, model_repository) -> None:
    write_version(model_repository, 2)
    write_broken(model_repository, 3)
    client = make_client(model=None, model_repository=model_repository, api_key=KEY)
    assert versions_served(client) == ("2", "2", ["2"], "2")


def test_no_valid_model_in_the_repository_stops_startup(model_repository) -> None:
    (model_repository / "1" / "model.onnx").unlink()
    write_broken(model_repository, 1, "truncated")
    with pytest.raises(ModelError, match="no valid model"):
        load_configured(Settings(model_repository=model_repository))
    empty = model_repository.parent / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="no version folder"):
        load_configured(Settings(model_repository=empty))


def test_admin_reload_picks_up_a_new_version(repo_app, model_repository) -> None:
    assert versions_served(repo_app) == ("1", "1", ["1"], "1")
    unchanged = repo_app.post("/admin/reload", headers=AUTH)
    assert unchanged.status_code == 200
    assert unchanged.json()["status"] == "unchanged"

    write_version(model_repository, 2)
    response = repo_app.post("/admin/reload", headers=AUTH)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "reloaded"
    assert report["model"] == {"name": "digits", "version": "2"}
    assert report["previous"] == {"name": "digits", "version": "1"}
    assert versions_served(repo_app) == ("2", "2", ["2"], "2")
    assert repo_app.get("/v2/models/digits/versions/2", headers=AUTH).status_code == 200
    assert repo_app.get("/v2/models/digits/versions/1", headers=AUTH).status_code == 404
    metrics = repo_app.get("/metrics").text
    assert 'digits_model_reloads_total{outcome="loaded"}' in metrics


@pytest.mark.parametrize("how", ["truncated", "no_name"])
def test_a_bad_new_model_is_refused_and_the_old_keeps_serving(repo_app, model_repository, how) -> None:
    write_broken(model_repository, 2, how)
    response = repo_app.post("/admin/reload", headers=AUTH)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "refused" in detail
    assert "version 1 keeps serving" in detail
    assert str(model_repository / "2" / "model.onnx") in detail
    assert versions_served(repo_app) == ("1", "1", ["1"], "1")
    assert repo_app.get("/readyz").status_code == 200


def test_a_card_that_disagrees_with_its_folder_is_refused(repo_app, model_repository) -> None:
    write_version(model_repository, 2, card_version="7")
    response = repo_app.post("/admin/reload", headers=AUTH)
    assert response.status_code == 422
    assert "must agree" in response.json()["detail"]
    assert versions_served(repo_app)[0] == "1"


def test_a_bad_newest_version_is_skipped_for_a_good_one_below(repo_app, model_repository) -> None:
    write_version(model_repository, 2)
    write_broken(model_repository, 3)
    report = repo_app.post("/admin/reload", headers=AUTH).json()
    assert report["status"] == "reloaded"
    assert report["model"]["version"] == "2"
    assert len(report["refused"]) == 1
    assert "/3/model.onnx" in report["refused"][0]


def test_reload_never_steps_back_to_an_older_version(make_client, model_repository) -> None:
    write_version(model_repository, 2)
    client = make_client(model=None, model_repository=model_repository, api_key=KEY)
    shutil.rmtree(model_repository / "2")  # the served file is gone from disk; its session still works
    report = client.post("/admin/reload", headers=AUTH).json()
    assert report["status"] == "unchanged"
    assert versions_served(client) == ("2", "2", ["2"], "2")


def test_without_a_repository_reload_rereads_the_model_file(make_client, tmp_path) -> None:
    path = tmp_path / "model.onnx"
    shutil.copy(SHIPPED, path)
    client = make_client(model=None, model_path=path, api_key=KEY)
    assert client.post("/admin/reload", headers=AUTH).json()["status"] == "unchanged"
    replacement = write_version(tmp_path / "new", 5)
    replacement.replace(path)  # an atomic replace, as an operator would do it
    report = client.post("/admin/reload", headers=AUTH).json()
    assert report["status"] == "reloaded"
    assert versions_served(client)[0] == "5"
    path.write_bytes(b"not a model")
    assert client.post("/admin/reload", headers=AUTH).status_code == 422
    assert versions_served(client)[0] == "5"


def test_requests_in_flight_finish_on_the_model_they_started_with(repo_app, model_repository) -> None:
    """The handler got the old model from DI; a swap in between does not change what it answers with."""
    app = repo_app.app
    old = app.state.model
    write_version(model_repository, 2)

    outcome = repo_app.blocking_portal.call(app.state.reloader.reload)  # on the app's own event loop
    assert outcome.outcome == "loaded"
    assert app.state.model is not old
    # The old session is still a working model for whoever holds it.
    import numpy as np

    probabilities = old.predict(np.zeros((1, 1, 28, 28), dtype=np.float32))
    assert probabilities.shape == (1, 10)
    assert old.version == "1"
    assert app.state.model.version == "2"


def test_readyz_is_503_while_no_model_is_loaded(make_client) -> None:
    client = make_client()
    assert client.get("/readyz").status_code == 200
    client.app.state.model = None
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/v2/health/ready").status_code == 400  # the protocol's "not ready"
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_a_vanished_repository_is_a_refusal_not_an_error(repo_app, model_repository) -> None:
    shutil.rmtree(model_repository)
    response = repo_app.post("/admin/reload", headers=AUTH)
    assert response.status_code == 422
    assert "not readable" in response.json()["detail"]
    assert versions_served(repo_app) == ("1", "1", ["1"], "1")  # the loaded session serves on
