"""python -m training: train the digits model, export it to ONNX, write its card and figures.

Every field of ``training.config.TrainConfig`` is a flag (see ``--help``); the defaults reproduce the
shipped model. Writes ``<out-dir>/<version>/model.onnx`` and, unless ``--no-report``,
``<out-dir>/metrics.json``, ``<out-dir>/*.png`` and ``<out-dir>/README.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import shlex
import sys
import time
import types
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from contract import DIGIT_SCORE_NAME, DIGIT_SCORE_THRESHOLD, MODEL_NAME, OPSET
from training.config import ConfigError, TrainConfig
from training.data import DataError, load

PROGRAM = "python -m training"
# The modules of pyproject's `train` extra (the base install serves only): checked before any download.
TRAIN_MODULES = ("torch", "torchvision", "onnx", "matplotlib", "tqdm")
INSTALL_HINT = "pip install -e '.[train]' (or scripts/setup-dev.sh)"


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
        "The defaults reproduce the shipped model (models/digits/3/model.onnx).",
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
    parser = build_parser()
    args = parser.parse_args(argv)
    # Which of the two were given (argparse leaves attributes already in the namespace alone): one given
    # alone decides, --members N meaning N CNNs of --width and --widths W its count of members.
    given = parser.parse_args(argv, namespace=argparse.Namespace(members=None, widths=None))
    if given.members is not None and given.widths is None:
        args.widths = ""
    elif given.widths is not None and given.members is None and args.widths:
        args.members = len(args.widths.split(","))
    try:
        return TrainConfig(**vars(args))
    except ConfigError as error:  # settings that disagree: argparse's usage line and exit status 2
        parser.error(str(error))


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
    """Data -> members (trained or from the cache) -> ensemble, temperature, digit head -> export (with
    parity check) -> model file -> report. Returns the metrics."""
    data = load(config.source, config.data_dir, config.download)
    store = None
    if config.store:  # corrected samples from the service's store: training data, not test data
        from training.data import concat
        from training.store_data import load_store

        store = load_store(config.store)
        store_train, store_val = store.divide(config.store_validation, config.seed)
        data = dataclasses.replace(
            data, train=concat(store_train, data.train), val=concat(store_val, data.val)
        )
    # Imported only now, so that --help and data errors do not wait for torch.
    import torch

    from training import members

    train_split, val_split = data.train.subset(config.train_subset), data.val.subset(config.val_subset)
    if config.only_member is not None:
        if config.checkpoint_dir is None:
            raise ConfigError("--only-member needs --checkpoint-dir: the folder the member is saved in")
        if config.widths and not 0 <= config.only_member < config.members:
            last = config.members - 1
            raise ConfigError(f"--only-member {config.only_member}: --widths names members 0-{last}")
        member = members.get(config, config.only_member, data, train_split, val_split)
        return {
            "member": member.index,
            "seed": member.seed,
            "checkpoint": str(member.path),
            "validation_accuracy": member.result.best.val_accuracy,
            "train_seconds": round(member.result.seconds, 1),
            "loaded": member.loaded,
        }
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    started = time.time()
    trained = [members.get(config, k, data, train_split, val_split) for k in range(config.members)]
    twins = None
    if config.refit:  # the same members holding validation out: what validation can measure
        held_out = dataclasses.replace(config, refit=False)
        twins = [members.get(held_out, k, data, train_split, val_split) for k in range(config.members)]
    return finish(config, data, train_split, val_split, trained, started, store, twins)


def finish(config, data, train_split, val_split, trained, started, store=None, twins=None) -> dict[str, Any]:
    import torch

    from training import ensemble, export, negatives, report
    from training.models import count_parameters

    test = data.test
    model = ensemble.Ensemble([m.result.model for m in trained]).eval()

    # Calibration: one temperature fitted on validation (never on test). With --refit the members saw
    # validation, so it is fitted on their held-out twins' ensemble, which validation can still measure.
    val_log_probs, val_features = ensemble.compute(model, val_split.images)
    test_log_probs, _ = ensemble.compute(model, test.images)
    held_out = None
    if twins is not None:
        twin_model = ensemble.Ensemble([m.result.model for m in twins]).eval()
        twin_log_probs, _ = ensemble.compute(twin_model, val_split.images)
        held_out = {
            "members": [{"seed": m.seed, "validation_accuracy": m.result.best.val_accuracy} for m in twins],
            "validation_accuracy": float(np.mean(twin_log_probs.argmax(1) == val_split.labels)),
            "validation_loss": ensemble.nll(twin_log_probs, val_split.labels, 1.0),
            "train_seconds": round(sum(m.result.seconds for m in twins), 1),
        }
    fitted_on = val_log_probs if twins is None else twin_log_probs
    temperature = ensemble.fit_temperature(fitted_on, val_split.labels) if config.calibrate else 1.0
    model.set_temperature(temperature)
    calibration = {
        "temperature": temperature,
        "temperature_source": (
            "1, not fitted (--no-calibrate)"
            if not config.calibrate
            else "fitted on validation"
            if twins is None
            else "fitted on validation with the held-out twins' ensemble"
        ),
        "bins": ensemble.ECE_BINS,
        "validation_nll_before": ensemble.nll(val_log_probs, val_split.labels, 1.0),
        "validation_nll_after": ensemble.nll(val_log_probs, val_split.labels, 1.0 / temperature),
        "validation_ece_before": ensemble.reliability(ensemble.softmax(val_log_probs), val_split.labels).ece,
        "validation_ece_after": ensemble.reliability(
            ensemble.softmax(val_log_probs, 1.0 / temperature), val_split.labels
        ).ece,
        "test_before": dataclasses.asdict(
            ensemble.reliability(ensemble.softmax(test_log_probs), test.labels)
        ),
    }

    # "Looks like a digit": frozen features, digits vs synthetic non-digits, threshold on validation.
    head_report: dict[str, Any] | None = None
    train_fonts, held_out_fonts = negatives.font_split()
    if config.digit_head:
        head_report = fit_digit_head(config, model, train_split, val_split, val_features, train_fonts)

    proto = export.to_onnx(model)
    sess = export.session(proto)
    probabilities = export.run(sess, test.images)
    reference = export.torch_outputs(model, test.images)
    parity = export.check_parity(reference[0], probabilities)
    if config.digit_head:
        scores = export.run(sess, test.images, output=DIGIT_SCORE_NAME)
        parity = max(parity, export.check_parity(reference[1], scores, export.SCORE_PARITY_TOLERANCE))
        head_report["test"] = measure_digit_head(config, sess, test.images, scores.ravel(), held_out_fonts)
    calibration["test_after"] = dataclasses.asdict(ensemble.reliability(probabilities, test.labels))

    predictions = probabilities.argmax(1)
    picked = probabilities[np.arange(len(test)), test.labels].astype(np.float64)
    test_loss = float(-np.mean(np.log(np.clip(picked, 1e-12, None))))
    test_accuracy = float(np.mean(predictions == test.labels))
    val_accuracy = float(np.mean(val_log_probs.argmax(1) == val_split.labels))
    val_loss = calibration["validation_nll_after"]
    parameters = count_parameters(model)
    member_rows = [
        {
            "seed": m.seed,
            "best_epoch": m.result.best_epoch,
            "validation_accuracy": m.result.best.val_accuracy,
            "validation_loss": m.result.best.val_loss,
            "train_seconds": round(m.result.seconds, 1),
            "epoch_seconds": [round(x, 1) for x in m.result.epoch_seconds],
            "trained_by_this_run": not m.loaded,
            "started_at": _iso(m.started_at),
            "finished_at": _iso(m.finished_at),
            "width": config.member_width(m.index),
            "parameters": count_parameters(m.result.model),
            "history": [dataclasses.asdict(h) for h in m.result.history],
        }
        for m in trained
    ]
    train_wall = max(m.finished_at for m in trained) - min(m.started_at for m in trained)
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    source = {
        "source": data.source,
        "data_sha256": data.sha256,
        "train_images": len(train_split),
        "validation_images": len(val_split),
        "test_images": len(test),
    }
    metadata = {
        "name": MODEL_NAME,
        "version": config.version,
        "test_accuracy": f"{test_accuracy:.4f}",
        "validation_accuracy": f"{val_accuracy:.4f}",
        **({"held_out_validation_accuracy": f"{held_out['validation_accuracy']:.4f}"} if held_out else {}),
        "trained_at": trained_at,
        "data_sha256": data.sha256,
        "settings": config.to_json(),
        "test_loss": f"{test_loss:.6f}",
        # Each member: its seed, best epoch and validation accuracy; "history" and "best_epoch" are the
        # first member's (the page draws its learning curves).
        "members": json.dumps(
            [
                {k: row[k] for k in ("seed", "width", "best_epoch", "validation_accuracy", "train_seconds")}
                for row in member_rows
            ]
        ),
        "best_epoch": str(trained[0].result.best_epoch),
        "parameters": str(parameters),
        "temperature": f"{temperature:.4f}",
        "test_ece_before": f"{calibration['test_before']['ece']:.5f}",
        "test_ece_after": f"{calibration['test_after']['ece']:.5f}",
        **{k: str(v) for k, v in source.items()},
        "history": [dataclasses.asdict(h) for h in trained[0].result.history],
        "outputs": json.dumps(export.output_names(model)),
        "description": "MNIST digit classifier: float32 image [N,1,28,28] (pixels/255) -> "
        f"probabilities [N,10] (the average of {len(trained)} CNNs, temperature-scaled)"
        + (
            f", digit_score [N,1] (>= {DIGIT_SCORE_THRESHOLD} looks like a digit)"
            if config.digit_head
            else ""
        )
        + "; normalization and softmax inside the graph.",
    }
    if store is not None:
        metadata["store_samples"] = store_record(store, config)
    if head_report is not None:
        metadata["digit_score_threshold"] = str(DIGIT_SCORE_THRESHOLD)
    export.set_metadata(proto, metadata)
    model_path = Path(config.out_dir) / config.version / "model.onnx"
    export.save(proto, model_path)

    counts = report.confusion_matrix(test.labels, predictions)
    metrics: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": config.version,
        "trained_at": trained_at,
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "test_errors": int(np.sum(predictions != test.labels)),
        "validation_accuracy": val_accuracy,
        "validation_loss": val_loss,
        "members": member_rows,
        "best_epoch": trained[0].result.best_epoch,
        "parameters": parameters,
        "train_seconds": round(sum(m.result.seconds for m in trained), 1),
        "train_wall_seconds": round(train_wall, 1),
        "run_seconds": round(time.time() - started, 1),
        "epoch_seconds": [round(x, 1) for x in trained[0].result.epoch_seconds],
        "per_class_accuracy": (np.diag(counts) / counts.sum(1)).tolist(),
        "confusion_matrix": counts.tolist(),
        "calibration": calibration,
        "digit_score": head_report,
        "held_out_twins": held_out,
        "parity_max_abs_diff": parity,
        "opset": OPSET,
        "file_bytes": model_path.stat().st_size,
        **source,
        "torch": torch.__version__,
        "command": command_line(config),
        "settings": config.recipe(),
        "history": [dataclasses.asdict(h) for h in trained[0].result.history],
    }
    if store is not None:
        metrics["store_samples"] = store_record(store, config)
    if config.report:
        out_dir = Path(config.out_dir)
        report.write_metrics(metrics, out_dir)
        report.write_figures(metrics, test.images, test.labels, probabilities, out_dir)
        report.write_card(metrics, out_dir, metrics["command"])
        report.update_readme(metrics, out_dir)
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


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def fit_digit_head(config, model, train_split, val_split, val_features, train_fonts) -> dict[str, Any]:
    """Fit the digit head on frozen features and attach it to ``model``. Validation (MNIST validation
    digits, printed digits and non-digits drawn with other seeds) chooses the threshold."""
    import torch

    from training import ensemble, negatives
    from training.train import random_affine, to_tensor

    kinds = negatives.TRAIN_KINDS
    clean = train_split.images[: config.head_digits]
    # Half as many again, each under a random affine map of the training augmentation: digits as they vary.
    generator = torch.Generator().manual_seed(SEED_HEAD_TRAIN)
    warped = random_affine(to_tensor(clean[: len(clean) // 2]), config, generator)
    digits = np.concatenate([clean, (warped * 255).round().clamp(0, 255).byte().squeeze(1).numpy()])
    printed, _ = negatives.printed_digits(config.head_printed, SEED_HEAD_TRAIN, train_fonts)
    fakes, _ = negatives.generate(kinds, config.head_negatives, SEED_HEAD_TRAIN, train_fonts)
    val_printed, _ = negatives.printed_digits(max(1, config.head_printed // 4), SEED_HEAD_VAL, train_fonts)
    val_fakes, val_kinds = negatives.generate(
        kinds, max(1, config.head_negatives // 4), SEED_HEAD_VAL, train_fonts
    )
    features = {
        name: ensemble.compute(model, images)[1]
        for name, images in [
            ("digits", digits),
            ("printed", printed),
            ("fakes", fakes),
            ("val_printed", val_printed),
            ("val_fakes", val_fakes),
        ]
    }
    fit = ensemble.fit_head(
        np.concatenate([features["digits"], features["printed"]]),
        features["fakes"],
        np.concatenate([val_features, features["val_printed"]]),
        hidden=config.head_hidden,
        epochs=config.head_epochs,
        lr=config.head_lr,
        seed=config.seed,
        digit_quantile=config.digit_quantile,
    )
    model.head = fit.head

    def score(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(fit.head(torch.from_numpy(x).float())).numpy()

    flagged_fakes = score(features["val_fakes"]) < DIGIT_SCORE_THRESHOLD
    return {
        "threshold": DIGIT_SCORE_THRESHOLD,
        "raw_threshold_logit": fit.threshold_logit,
        "train": {
            "mnist_digits": len(digits),
            "printed_digits": len(printed),
            "non_digits": len(fakes),
            "kinds": list(kinds),
            "fonts": [f.name if f else "Pillow default" for f in train_fonts],
            "loss_history": fit.history,
        },
        "validation": {
            "mnist_digits": len(val_features),
            "mnist_flagged": float(np.mean(score(val_features) < DIGIT_SCORE_THRESHOLD)),
            "printed_digits": len(val_printed),
            "printed_flagged": float(np.mean(score(features["val_printed"]) < DIGIT_SCORE_THRESHOLD)),
            "non_digits": len(val_fakes),
            "non_digits_flagged": float(np.mean(flagged_fakes)),
            "flagged_by_kind": {
                k: float(np.mean(flagged_fakes[val_kinds == negatives.ALL_KINDS.index(k)])) for k in kinds
            },
        },
    }


def measure_digit_head(config, sess, test_images, test_scores, held_out_fonts) -> dict[str, Any]:
    """Held-out figures, through onnxruntime: the official test digits, digits printed in fonts the
    head never saw, and non-digits of every kind (training kinds with new seeds and fonts, and kinds
    never trained on)."""
    from training import export, negatives

    count = max(1, config.head_negatives // 4)
    fakes, kinds = negatives.generate(negatives.ALL_KINDS, count, SEED_HEAD_TEST, held_out_fonts)
    printed, _ = negatives.printed_digits(max(1, config.head_printed // 4), SEED_HEAD_TEST, held_out_fonts)
    flagged = export.run(sess, fakes, output=DIGIT_SCORE_NAME).ravel() < DIGIT_SCORE_THRESHOLD
    printed_flagged = export.run(sess, printed, output=DIGIT_SCORE_NAME).ravel() < DIGIT_SCORE_THRESHOLD
    by_kind = {k: float(np.mean(flagged[kinds == negatives.ALL_KINDS.index(k)])) for k in negatives.ALL_KINDS}
    unseen = np.isin(kinds, [negatives.ALL_KINDS.index(k) for k in negatives.HELD_OUT_KINDS])
    return {
        "mnist_digits": len(test_scores),
        "mnist_flagged": float(np.mean(test_scores < DIGIT_SCORE_THRESHOLD)),
        "printed_digits": len(printed),
        "printed_flagged": float(np.mean(printed_flagged)),
        "fonts": [f.name for f in held_out_fonts],
        "non_digits": len(fakes),
        "non_digits_flagged": float(np.mean(flagged)),
        "seen_kinds_flagged": float(np.mean(flagged[~unseen])),
        "unseen_kinds_flagged": float(np.mean(flagged[unseen])),
        "flagged_by_kind": by_kind,
    }


# Seeds of the synthetic pictures: training, validation (the threshold) and test never share one.
SEED_HEAD_TRAIN, SEED_HEAD_VAL, SEED_HEAD_TEST = 1, 2, 3


def _parity_error() -> type[Exception]:
    # Evaluated only when an exception reaches that except clause: importing export imports torch.
    from training.export import ParityError

    return ParityError


def missing_train_modules() -> list[str]:
    """The `train` extra's modules this Python cannot import (found without importing them: torch is slow)."""
    missing = []
    for name in TRAIN_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["evaluate"]:  # python -m training evaluate --store URL (training/evaluate.py)
        from training import evaluate

        return evaluate.main(argv[1:])
    config = parse_config(argv)
    missing = missing_train_modules()
    if missing:
        print(
            f"{PROGRAM}: training needs the 'train' extra, missing {', '.join(missing)}: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    try:
        metrics = run(config)
    except DataError as error:
        print(f"{PROGRAM}: data error: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    except _parity_error() as error:
        print(f"{PROGRAM}: export check failed: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted; nothing was written", file=sys.stderr)
        return 130
    if config.only_member is not None:
        print(f"member {metrics['member']} (seed {metrics['seed']}): {metrics['checkpoint']}")
        return 0
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
