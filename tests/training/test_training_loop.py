"""The SGD loop: it learns, it is reproducible, and it keeps the best validation epoch."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from training import train as train_module
from training.config import TrainConfig
from training.train import EpochStats, elastic_field, random_affine, select_best_epoch, to_tensor, train


def _subsets(mnist, config: TrainConfig):
    return mnist.train.subset(config.train_subset), mnist.val.subset(config.val_subset)


def test_short_training_on_a_subset_learns(mnist, tiny_config):
    config = tiny_config(width=16, batch_size=32, max_lr=0.1, augment=False)
    result = train(config, *_subsets(mnist, config))
    losses = [h.train_loss for h in result.history]
    assert losses[-1] < losses[0] * 0.5, losses
    assert result.history[0].train_loss < math.log(10) * 1.1  # starts near chance and falls
    assert result.best.val_accuracy > 0.8  # chance is 0.1
    assert not result.model.training


def test_the_same_seed_reproduces_exactly(mnist, tiny_config):
    config = tiny_config(train_subset=512, val_subset=256, epochs=2)
    first = train(config, *_subsets(mnist, config))
    second = train(config, *_subsets(mnist, config))
    assert first.history == second.history
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    other = train(tiny_config(train_subset=512, val_subset=256, epochs=2, seed=1), *_subsets(mnist, config))
    assert other.history != first.history


def test_best_epoch_is_chosen_by_validation_only():
    history = [
        EpochStats(1, train_loss=0.5, train_accuracy=0.90, val_loss=0.30, val_accuracy=0.91),
        EpochStats(2, train_loss=0.3, train_accuracy=0.95, val_loss=0.20, val_accuracy=0.96),
        EpochStats(3, train_loss=0.1, train_accuracy=0.99, val_loss=0.25, val_accuracy=0.94),
    ]
    assert select_best_epoch(history) == 2  # not the last, not the best training epoch
    tie = [*history, EpochStats(4, 0.1, 0.99, val_loss=0.15, val_accuracy=0.96)]
    assert select_best_epoch(tie) == 4  # equal accuracy: lower validation loss wins


def test_training_returns_the_weights_of_the_best_validation_epoch(mnist, monkeypatch, tiny_config):
    """Validation (scripted here) peaks at epoch 2 of 3: the returned model must hold epoch 2's weights,
    not the final ones, although training accuracy is highest at the end."""
    scripted = iter([(0.5, 0.80), (0.2, 0.95), (0.4, 0.85)])
    snapshots = []

    def fake_evaluate(model, images, labels, batch_size=1000):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        loss, accuracy = next(scripted)
        return loss, accuracy, None

    monkeypatch.setattr(train_module, "evaluate", fake_evaluate)
    config = tiny_config(train_subset=512, epochs=3)
    result = train(config, *_subsets(mnist, config))
    assert result.best_epoch == 2
    final = result.model.state_dict()
    assert all(torch.equal(final[k], snapshots[1][k]) for k in final)
    assert not all(torch.equal(final[k], snapshots[2][k]) for k in final)


def test_augmentation_is_per_image_and_keeps_shape_and_range(mnist):
    x = to_tensor(mnist.train.images[:64])
    generator = torch.Generator().manual_seed(0)
    y = random_affine(x, TrainConfig(), generator)
    assert y.shape == x.shape
    assert y.min() >= 0
    assert y.max() <= 1 + 1e-6
    assert not torch.allclose(y, x)
    # Without any randomness the map is the identity.
    still = TrainConfig(rotate=0, scale=0, shear=0, translate=0)
    assert torch.allclose(random_affine(x, still, generator), x, atol=1e-5)
    # Different images get different maps: the same image repeated comes out differently.
    same = x[:1].repeat(8, 1, 1, 1)
    out = random_affine(same, TrainConfig(), generator)
    assert len({tuple(np.round(o.flatten().numpy(), 4)) for o in out}) == 8


def test_elastic_distortion_is_a_smooth_bounded_field_off_by_default(mnist):
    x = to_tensor(mnist.train.images[:64])
    generator = torch.Generator().manual_seed(0)
    field = elastic_field(x.shape, 34.0, 4.0, generator)
    assert field.shape == (64, 28, 28, 2)
    pixels = field * 14  # grid units -> pixels (28 px span 2 units)
    assert 0.3 < pixels.abs().mean() < 5  # a few pixels: visible, never tearing the digit apart
    # Smooth: neighbours move almost together (white noise would differ by about its own size).
    assert (pixels[:, 1:] - pixels[:, :-1]).abs().mean() < 0.2 * pixels.abs().mean()
    # Only the affine map when off; elastic on moves pixels and keeps the range.
    still = TrainConfig(rotate=0, scale=0, shear=0, translate=0)
    assert TrainConfig().elastic == 0
    assert torch.allclose(random_affine(x, still, generator), x, atol=1e-5)
    wobbly = random_affine(x, dataclasses.replace(still, elastic=34.0), generator)
    assert not torch.allclose(wobbly, x, atol=1e-2)
    assert wobbly.min() >= 0
    assert wobbly.max() <= 1 + 1e-6


@pytest.mark.parametrize("architecture", ["cnn", "linear"])
def test_models_take_contract_input_and_give_logits(architecture):
    from training.models import build

    model = build(architecture, width=8).eval()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_device_option_picks_the_gpu_only_where_there_is_one():
    """--device auto is the GPU where torch sees one, else the CPU; naming a GPU that is absent is a clear
    ConfigError (the CLI prints it and exits 2), never a traceback deep in torch."""
    from training.config import ConfigError
    from training.train import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
