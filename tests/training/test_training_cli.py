"""The command line is the config: every field is a documented flag."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from training.__main__ import build_parser, command_line, parse_config
from training.config import TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[2]

# Loaded by Python at startup from PYTHONPATH: makes `import torch` fail as it does where the `train` extra
# is not installed (ModuleNotFoundError from the import system, found or not on disk).
NO_TORCH_SITECUSTOMIZE = textwrap.dedent(
    """
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    """
)


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


def test_members_and_widths_given_alone_or_together():
    """--members N alone: N CNNs of --width; --widths alone: one member per width; both: they must agree."""
    import shlex

    import pytest

    cases = {
        "--architecture linear --members 1": [32],
        "--members 3": [32, 32, 32],
        "--width 8 --members 2": [8, 8],
        "--widths 16": [16],
        "--members 2 --widths 8,4": [8, 4],
        "": [int(w) for w in TrainConfig().widths.split(",")],
    }
    for argv, widths in cases.items():
        config = parse_config(shlex.split(argv))
        assert (config.members, config.member_widths()) == (len(widths), widths), argv
        assert parse_config(shlex.split(command_line(config))[3:]) == config, argv
    with pytest.raises(SystemExit) as refused:
        parse_config(["--widths", "16,16", "--members", "3"])
    assert refused.value.code == 2


def test_without_torch_one_line_says_what_to_install_before_any_download(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(NO_TORCH_SITECUSTOMIZE)
    data_dir, out_dir = tmp_path / "data", tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(REPO_ROOT)])}
    import_torch = [sys.executable, "-c", "import torch"]
    probe = subprocess.run(import_torch, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "No module named 'torch'" in probe.stderr  # the shim really takes torch away
    result = subprocess.run(
        [sys.executable, "-m", "training", "--data-dir", str(data_dir), "--out-dir", str(out_dir)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert "torch" in lines[0]
    assert "pip install -e '.[train]'" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not data_dir.exists() or not any(data_dir.iterdir())  # nothing was downloaded
    assert not out_dir.exists()
