"""The Dockerfile: hadolint-clean, and the runtime image is what the issue asks for.

The image itself is built and run by scripts/container-smoke.sh (podman); these checks are the fast,
static half: they read the Dockerfile and .dockerignore as text.
"""

from __future__ import annotations

import re
import subprocess
import tomllib

from deployfiles import BIN, REPO, dockerfile, exec_form, healthcheck_command


def test_hadolint_is_clean_at_warning_level() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--failure-threshold", "warning", "Dockerfile"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_stages_and_default_target() -> None:
    global_args, by_name, stages = dockerfile()
    assert {"deps", "venv", "build", "runtime", "train"} <= set(by_name)
    # A plain `docker build .` (no --target) must give the service, not the training image.
    assert stages[-1].name == "runtime"
    # The base is a pinned Python tag, overridable with --build-arg.
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-bookworm)?", global_args["PYTHON_IMAGE"])
    # Every stage starts from the one pinned Python image (directly or via another stage).
    assert {stage.base for stage in stages} <= {"${PYTHON_IMAGE}", *by_name}
    assert by_name["runtime"].base == by_name["train"].base == "${PYTHON_IMAGE}"


def test_runtime_stage_runs_the_service_as_a_fixed_non_root_user() -> None:
    _, by_name, _ = dockerfile()
    runtime = by_name["runtime"]
    user, _, group = runtime.last("USER").partition(":")
    assert user.isdigit()
    assert group.isdigit()
    assert int(user) >= 1000
    assert int(group) >= 1000
    assert runtime.last("EXPOSE") == "8000 8001"  # HTTP, gRPC
    assert exec_form(runtime.last("CMD")) == ["python", "-m", "service"]
    env = " ".join(runtime.all("ENV"))
    assert "DIGITS_HOST=0.0.0.0" in env  # reachable through the published port
    assert "DIGITS_GRPC_PORT=8001" in env
    assert "DIGITS_MODEL_PATH=/app/models/" in env  # the installed package cannot find a repo root


def test_runtime_stage_copies_only_the_venv_the_service_and_the_models() -> None:
    _, by_name, _ = dockerfile()
    runtime = by_name["runtime"]
    assert runtime.all("COPY") == [
        "--from=venv /opt/venv /opt/venv",
        "models/ models/",
        "--from=build /opt/service /opt/service",
    ]
    assert not runtime.all("RUN")  # nothing installed or compiled in the final stage
    assert "PYTHONPATH=/opt/service" in " ".join(runtime.all("ENV"))
    # The service's sources come from the build stage, which copies neither training/ nor tests/.
    build_copies = " ".join(by_name["build"].all("COPY"))
    assert "service/" in build_copies
    assert "training" not in build_copies
    assert "tests" not in build_copies
    # The venv the runtime gets is the locked dependencies minus pip; the service is installed apart.
    assert by_name["venv"].base == "deps"
    assert by_name["build"].base == "deps"
    assert "requirements/service.lock" in " ".join(by_name["deps"].all("COPY"))


def test_healthcheck_probes_healthz_with_python_only() -> None:
    _, by_name, _ = dockerfile()
    options, command = healthcheck_command(by_name["runtime"])
    assert command[:2] == ["python", "-c"]
    assert "/healthz" in command[2]
    assert "curl" not in command[2]
    compile(command[2], "<healthcheck>", "exec")  # valid Python
    # No spaces: podman's Docker-compatible API splits exec-form healthcheck arguments on them.
    assert " " not in command[2]
    assert {"interval", "timeout", "start-period", "retries"} <= set(options)


def test_dockerignore_allows_only_what_the_dockerfile_copies() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore should be an allow-list starting with '*'"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    _, _, stages = dockerfile()
    sources = set()
    for stage in stages:
        for args in stage.all("COPY"):
            if args.startswith("--from="):
                continue
            *srcs, _dest = args.split()
            sources.update(src.rstrip("/") for src in srcs)
    missing = {src for src in sources if src.split("/")[0] not in allowed}
    assert not missing, f"COPY sources missing from .dockerignore's allow-list: {missing}"
    for path in sources:
        assert (REPO / path).exists(), f"the Dockerfile copies {path}, which is not in the repository"
    assert not allowed & {"tests", ".venv", "data", ".git", "bench", "docs", "artifacts", "runs"}


def test_train_stage_installs_the_pinned_torch_pair_and_runs_training() -> None:
    _, by_name, _ = dockerfile()
    train = by_name["train"]
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    pins = {line for line in extra if line.startswith(("torch==", "torchvision=="))}
    assert len(pins) == 2, "pyproject's train extra should pin torch and torchvision exactly"
    installs = " ".join(train.all("RUN"))
    for pin in pins:
        assert pin in installs.split(), f"the train stage does not install {pin} (pyproject's pin)"
    assert '--editable ".[train]"' in installs
    assert "training/ training/" in train.all("COPY")
    assert exec_form(train.last("CMD")) == ["python", "-m", "training"]
    assert train.last("USER") != "root"
