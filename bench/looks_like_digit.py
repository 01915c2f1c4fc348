"""Digits and non-digits as users send them, through the service's preprocessing and the shipped
model: accuracy and the share flagged "not a digit" per set. Writes ``models/digits/realistic.json``
and writes the model card again so that it quotes these figures (tests/images/test_digit_likeness.py
asserts the goals on the same sets).

    .venv/bin/python bench/looks_like_digit.py            # about a minute of CPU
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "images")]

import digit_likeness as likeness  # noqa: E402

from service.settings import Settings  # noqa: E402
from training import report  # noqa: E402
from training.data import load  # noqa: E402

DIGITS = 1000  # every 10th MNIST test digit, as the tests take them
NON_DIGITS_PER_KIND = 60
COMMAND = "python bench/looks_like_digit.py"


def main() -> int:
    model_path = Settings().model_path
    out_dir = model_path.parent.parent
    sess = likeness.session(model_path)
    version = sess.get_modelmeta().custom_metadata_map["version"]
    test = load().test
    step = len(test) // DIGITS
    images, labels = test.images[::step][:DIGITS], test.labels[::step][:DIGITS]
    sets, all_flags = {}, []
    for name, pixels, truth in likeness.realistic_digits(images, labels):
        predicted, digit_like = likeness.classify(sess, pixels)
        sets[name] = {
            "images": len(pixels),
            "accuracy": float(np.mean(predicted == truth)),
            "flagged": float(np.mean(~digit_like)),
        }
        all_flags.append(~digit_like)
        row = sets[name]
        print(f"{name:<22} {len(pixels):>5}  accuracy {row['accuracy']:.2%}  flagged {row['flagged']:.2%}")
    digits_flagged = float(np.mean(np.concatenate(all_flags)))
    kinds, non_flags = {}, []
    for kind, pixels in likeness.non_digits(NON_DIGITS_PER_KIND):
        _, digit_like = likeness.classify(sess, pixels)
        kinds[kind] = {"images": len(pixels), "flagged": float(np.mean(~digit_like))}
        non_flags.append(~digit_like)
        print(f"non-digit {kind:<12} {len(pixels):>5}  flagged {kinds[kind]['flagged']:.0%}")
    non_digits_flagged = float(np.mean(np.concatenate(non_flags)))
    print(
        f"realistic digits flagged {digits_flagged:.2%}; held-out non-digits flagged {non_digits_flagged:.1%}"
    )
    result = {
        "version": version,
        "model": str(model_path.relative_to(REPO)),
        "command": COMMAND,
        "renderers_of_non_digits": list(likeness.NON_DIGIT_RENDERERS),
        "sets": sets,
        "digits_flagged": digits_flagged,
        "digits": int(sum(s["images"] for s in sets.values())),
        "non_digit_kinds": kinds,
        "non_digits": int(sum(k["images"] for k in kinds.values())),
        "non_digits_flagged": non_digits_flagged,
    }
    (out_dir / report.REALISTIC).write_text(json.dumps(result, indent=2) + "\n")
    metrics = json.loads((out_dir / "metrics.json").read_text())
    print(f"wrote {out_dir / report.REALISTIC} and {report.write_card(metrics, out_dir, metrics['command'])}")
    if report.update_readme(metrics, out_dir):
        print(f"and the figures in {report.README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
