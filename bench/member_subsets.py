"""Which cached members to average: validation accuracy and cross-entropy of every subset of the members
in the given checkpoint folders (``python -m training --only-member K --checkpoint-dir DIR`` writes them).
Validation only: the test set is not loaded. Writes bench/results/member-subsets-latest.json.

    .venv/bin/python bench/member_subsets.py runs/members [more folders]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from training.data import load  # noqa: E402
from training.members import MEMBER_FIELDS  # noqa: E402
from training.models import build  # noqa: E402
from training.train import evaluate  # noqa: E402

RESULT = REPO / "bench" / "results" / "member-subsets-latest.json"


def describe(recipe: dict) -> str:
    extra = f", elastic {recipe['elastic']:g}" if recipe.get("elastic") else ""
    extra += ", refit (trained on validation too)" if recipe.get("refit") else ""
    return f"seed {recipe['seed']}, width {recipe['width']}, {recipe['epochs']} epochs{extra}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load("wheel")
    val = data.val
    labels = torch.from_numpy(val.labels)
    members = []
    for path in sorted(p for folder in args.folders for p in folder.glob("member-seed*.pt")):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        recipe = checkpoint["identity"]["recipe"]
        model = build(recipe["architecture"], recipe["width"])
        model.load_state_dict(checkpoint["state_dict"])
        _, accuracy, logits = evaluate(model, val.images, val.labels)
        members.append(
            {
                "checkpoint": str(path),
                "member": describe(recipe),
                "recipe": {k: recipe[k] for k in MEMBER_FIELDS if k in recipe},
                "validation_accuracy": accuracy,
                "log_probs": torch.log_softmax(logits, 1),
            }
        )
        print(f"{members[-1]['member']:<40} validation {accuracy:.2%}")
    subsets = []
    for size in range(2, len(members) + 1):
        for chosen in itertools.combinations(range(len(members)), size):
            stacked = torch.stack([members[i]["log_probs"] for i in chosen])
            averaged = torch.logsumexp(stacked, 0) - math.log(size)
            accuracy = (averaged.argmax(1) == labels).float().mean().item()
            loss = torch.nn.functional.nll_loss(averaged, labels).item()
            names = [members[i]["member"] for i in chosen]
            subsets.append({"members": names, "validation_accuracy": accuracy, "validation_loss": loss})
            print(f"{' + '.join(names):<100} validation {accuracy:.2%}  loss {loss:.4f}")
    for m in members:
        del m["log_probs"]
    out = {"validation_images": len(val), "data_sha256": data.sha256, "members": members, "subsets": subsets}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
