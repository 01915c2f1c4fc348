"""requirements/service.lock (what the image installs) still satisfies pyproject's base dependencies.

The build itself runs `pip check` on the installed lock, so a lock that is incomplete or inconsistent
fails the image build; this test catches the cheaper mistake first: someone changed a base dependency
in pyproject.toml and did not regenerate the lock.
"""

from __future__ import annotations

import re
import tomllib

from deployfiles import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version


def locked() -> dict[str, Version]:
    pins = {}
    for line in (REPO / "requirements" / "service.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;#]+)", line)
        assert match, f"not an exact pin: {line!r}"
        pins[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pins


def test_lock_pins_every_base_dependency_within_its_range() -> None:
    pins = locked()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} (pyproject) is missing from requirements/service.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"lock has {name}=={pins[name]}, pyproject wants {requirement}: regenerate the lock"
        )


def test_lock_has_no_training_stack() -> None:
    assert not {"torch", "torchvision", "onnx", "matplotlib"} & set(locked())
