"""python -m training: train the digits model, export it to ONNX, write its card and figures.

Every field of ``training.config.TrainConfig`` is a flag (see ``--help``); the defaults reproduce the
shipped model. Writes ``<out-dir>/<version>/model.onnx`` and, unless ``--no-report``,
``<out-dir>/metrics.json``, ``<out-dir>/*.png`` and ``<out-dir>/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from contract import MODEL_NAME, OPSET
from training.config import TrainConfig
from training.data import DataError, load

PROGRAM = "python -m training"


def _scalar_type(annotation: Any) -> Any:
    """int | None -> int, Path | None -> Path; plain types unchanged."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Train the MNIST digits CNN with SGD, export it to ONNX with its model card. "
        "The defaults reproduce the shipped model (models/digits/1/model.onnx).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _scalar_type(hints[f.name])
        options: dict[str, Any] = {"default": f.default, "help": f.metadata["help"], "dest": f.name}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
        else:
            parser.add_argument(flag, type=kind, choices=f.metadata.get("choices"), **options)
    return parser


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    return TrainConfig(**vars(build_parser().parse_args(argv)))


def command_line(config: TrainConfig) -> str:
    """The shortest command that reproduces ``config`` (flags only where it differs from the defaults)."""
    default = TrainConfig()
    parts = [PROGRAM]
    for f in dataclasses.fields(TrainConfig):
        value = getattr(config, f.name)
        if f.name in TrainConfig.LOCAL_FIELDS or value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + flag[2:])
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)


def run(config: TrainConfig) -> dict[str, Any]:
    """Data -> train -> export (with parity check) -> model file -> report. Returns the metrics."""
    data = load(config.source, config.data_dir, config.download)
    store = None
    if config.store:  # corrected samples from the service's store: training data, not test data
        from training.store_data import concat, load_store

        store = load_store(config.store)
        store_train, store_val = store.divide(config.store_validation, config.seed)
        data = dataclasses.replace(
            data, train=concat(store_train, data.train), val=concat(store_val, data.val)
        )
    # Imported only now, so that --help and data errors do not wait for torch.
    import torch

    from training import export, report
    from training.models import count_parameters
    from training.train import train

    result = train(config, data.train.subset(config.train_subset), data.val.subset(config.val_subset))

    proto = export.to_onnx(result.model)
    test = data.test
    probabilities = export.run(export.session(proto), test.images)
    parity = export.check_parity(export.torch_probabilities(result.model, test.images), probabilities)
    predictions = probabilities.argmax(1)
    picked = probabilities[np.arange(len(test)), test.labels].astype(np.float64)
    test_loss = float(-np.mean(np.log(np.clip(picked, 1e-12, None))))
    test_accuracy = float(np.mean(predictions == test.labels))
    best = result.best
    history = [dataclasses.asdict(h) for h in result.history]
    parameters = count_parameters(result.model)

    metadata = {
        "name": MODEL_NAME,
        "version": config.version,
        "test_accuracy": f"{test_accuracy:.4f}",
        "validation_accuracy": f"{best.val_accuracy:.4f}",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_sha256": data.sha256,
        "settings": config.to_json(),
        "test_loss": f"{test_loss:.6f}",
        "best_epoch": str(result.best_epoch),
        "parameters": str(parameters),
        "history": history,
        "description": "MNIST digit classifier: float32 image [N,1,28,28] (pixels/255) -> "
        "probabilities [N,10]; normalization and softmax inside the graph.",
    }
    if store is not None:
        metadata["store_samples"] = store_record(store, config)
    export.set_metadata(proto, metadata)
    model_path = Path(config.out_dir) / config.version / "model.onnx"
    export.save(proto, model_path)

    counts = report.confusion_matrix(test.labels, predictions)
    metrics: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": config.version,
        "trained_at": metadata["trained_at"],
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "test_errors": int(np.sum(predictions != test.labels)),
        "validation_accuracy": best.val_accuracy,
        "validation_loss": best.val_loss,
        "best_epoch": result.best_epoch,
        "parameters": parameters,
        "train_seconds": round(result.seconds, 1),
        "epoch_seconds": [round(s, 1) for s in result.epoch_seconds],
        "per_class_accuracy": (np.diag(counts) / counts.sum(1)).tolist(),
        "confusion_matrix": counts.tolist(),
        "parity_max_abs_diff": parity,
        "opset": OPSET,
        "file_bytes": model_path.stat().st_size,
        "source": data.source,
        "data_sha256": data.sha256,
        "train_images": len(data.train.subset(config.train_subset)),
        "validation_images": len(data.val.subset(config.val_subset)),
        "test_images": len(test),
        "torch": torch.__version__,
        "command": command_line(config),
        "settings": config.recipe(),
        "history": history,
    }
    if store is not None:
        metrics["store_samples"] = store_record(store, config)
    if config.report:
        out_dir = Path(config.out_dir)
        report.write_metrics(metrics, out_dir)
        report.write_figures(metrics, test.images, test.labels, probabilities, out_dir)
        report.write_card(metrics, out_dir, metrics["command"])
    metrics["model_path"] = str(model_path)
    return metrics


def store_record(store: Any, config: TrainConfig) -> dict[str, Any]:
    """What the card says about the store's samples: where from (no password), how many went where."""
    n = len(store.split)
    validation = round(n * config.store_validation)
    return {
        "store": store.url,
        "samples": n,
        "train": n - validation,
        "validation": validation,
        "sha256": store.sha256,
    }


def _parity_error() -> type[Exception]:
    # Evaluated only when an exception reaches that except clause: importing export imports torch.
    from training.export import ParityError

    return ParityError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["evaluate"]:  # python -m training evaluate --store URL (training/evaluate.py)
        from training import evaluate

        return evaluate.main(argv[1:])
    config = parse_config(argv)
    try:
        metrics = run(config)
    except DataError as error:
        print(f"{PROGRAM}: data error: {error}", file=sys.stderr)
        return 2
    except _parity_error() as error:
        print(f"{PROGRAM}: export check failed: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted; nothing was written", file=sys.stderr)
        return 130
    out_dir = Path(config.out_dir)
    print(
        f"test accuracy {metrics['test_accuracy']:.4f} (validation {metrics['validation_accuracy']:.4f}, "
        f"best epoch {metrics['best_epoch']}) in {metrics['train_seconds'] / 60:.1f} min"
    )
    print(f"model:   {metrics['model_path']}")
    if config.report:
        print(f"report:  {out_dir / 'README.md'}, {out_dir / 'metrics.json'}, {out_dir}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
