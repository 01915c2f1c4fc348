"""The command line is the config: every field is a documented flag."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from training.__main__ import build_parser, command_line, parse_config
from training.config import TrainConfig


def test_help_documents_every_setting():
    result = subprocess.run(
        [sys.executable, "-m", "training", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    help_text = " ".join(result.stdout.split())
    for field in dataclasses.fields(TrainConfig):
        assert "--" + field.name.replace("_", "-") in help_text, field.name
        assert " ".join(field.metadata["help"].split()) in help_text, field.name


def test_defaults_are_the_config_defaults():
    assert parse_config([]) == TrainConfig()


def test_flags_parse_into_typed_fields():
    config = parse_config(
        ["--epochs", "3", "--no-augment", "--train-subset", "100", "--out-dir", "/tmp/x", "--max-lr", "0.2"]
    )
    assert config.epochs == 3
    assert config.augment is False
    assert config.train_subset == 100
    assert config.out_dir == Path("/tmp/x")
    assert config.max_lr == 0.2


def test_command_line_round_trips():
    config = TrainConfig(epochs=3, augment=False, max_lr=0.2, threads=2)
    line = command_line(config)
    assert line == "python -m training --epochs 3 --max-lr 0.2 --no-augment --threads 2"
    assert parse_config(line.split()[3:]) == config
    assert command_line(TrainConfig()) == "python -m training"
    assert build_parser().prog == "python -m training"
