"""``python -m training evaluate --store URL``: score a model on the samples users corrected.

By default the shipped model (models/digits/3/model.onnx) runs in onnxruntime - the same runtime the
service uses - on every stored sample that has a digit label; prints the accuracy per class and overall,
beside what the serving model(s) said at the time. Exit status 0, or 2 when there is nothing to score.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

import contract
from training.data import DataError
from training.store_data import load_store

PROGRAM = "python -m training evaluate"
SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "digits" / "3" / "model.onnx"


def per_class(labels: np.ndarray, predicted: np.ndarray) -> list[dict[str, float | int | None]]:
    rows = []
    for digit in range(contract.NUM_CLASSES):
        mask = labels == digit
        n = int(mask.sum())
        rows.append(
            {
                "digit": digit,
                "samples": n,
                "accuracy": float(np.mean(predicted[mask] == digit)) if n else None,
            }
        )
    return rows


def evaluate(store_url: str, model_path: Path, model_version: str | None = None) -> dict:
    import onnxruntime as ort

    samples = load_store(store_url, model_version)
    images, labels = samples.split.images, samples.split.labels
    if not len(labels):
        raise DataError(f"no corrected samples in {samples.url} yet: nothing to score")
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    probabilities = session.run(
        [contract.OUTPUT_NAME], {contract.INPUT_NAME: contract.to_model_input(images)}
    )[0]
    predicted = probabilities.argmax(1)
    from service.store import database, queries

    engine = database.create_store_engine(store_url)
    try:
        served = queries.corrected_samples(engine, model_version).predicted
    finally:
        engine.dispose()
    return {
        "model": str(model_path),
        "store": samples.url,
        "samples": len(labels),
        "samples_sha256": samples.sha256,
        "accuracy": float(np.mean(predicted == labels)),
        "served_accuracy": float(np.mean(served == labels)),
        "per_class": per_class(labels, predicted),
    }


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0].split(": ", 1)[1])
    cli.add_argument(
        "--store",
        default=os.environ.get("DIGITS_STORE_URL", ""),
        help="sample store URL [env DIGITS_STORE_URL]",
    )
    cli.add_argument(
        "--model", type=Path, default=SHIPPED_MODEL, help="the ONNX model to score (default: the shipped one)"
    )
    cli.add_argument(
        "--model-version", default=None, help="only samples that this served model version answered"
    )
    cli.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = cli.parse_args(argv)
    if not args.store:
        print(f"{PROGRAM}: give --store URL (or set DIGITS_STORE_URL)", file=sys.stderr)
        return 2
    try:
        result = evaluate(args.store, args.model, args.model_version)
    except DataError as error:
        print(f"{PROGRAM}: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['samples']} corrected samples from {result['store']}")
    print(
        f"model {result['model']}: accuracy {100 * result['accuracy']:.1f}% "
        f"(the serving model said {100 * result['served_accuracy']:.1f}% right at the time)"
    )
    print("digit  samples  accuracy")
    for row in result["per_class"]:
        accuracy = "-" if row["accuracy"] is None else f"{100 * row['accuracy']:.1f}%"
        print(f"{row['digit']:>5}  {row['samples']:>7}  {accuracy:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
