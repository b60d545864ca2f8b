"""The scale profiles: one place decides how big every chapter's experiments are.

- ``tiny``: the tests. Seconds per chapter; the numbers mean little.
- ``small``: the default, and what the website shows. MNIST-1D on a CPU, minutes per chapter.
- ``paper``: the paper's data set and networks, on a GPU (Colab). Downloads data.

Choose with the ``BOOK_SCALE`` environment variable, or pass the name explicitly.
``BOOK_SMOKE=1`` turns ``paper`` into a smoke run: the paper's networks on CIFAR-shaped random
tensors for a couple of epochs, so that the paper path is tested without a GPU or a download.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

SCALES = ("tiny", "small", "paper")


def current(scale: str | None = None) -> str:
    """The scale in force: ``scale`` if given, else ``$BOOK_SCALE``, else 'small'."""
    name = scale if scale is not None else os.environ.get("BOOK_SCALE", "small")
    if name not in SCALES:
        source = "scale" if scale is not None else "the BOOK_SCALE environment variable"
        raise ValueError(f"{source} must be one of {SCALES}, got {name!r}")
    return name


def smoke() -> bool:
    """True when ``$BOOK_SMOKE`` asks for the paper profile's smoke mode."""
    return os.environ.get("BOOK_SMOKE", "0").lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class TableModel:
    """One row of Zhang et al.'s Table 1: a label, an architecture name and its keyword arguments."""

    label: str
    architecture: str  # 'mlp' | 'cnn1d' | 'convnet' (helpers.models.build)
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RandomizationTests:
    """Sizes for Chapter 1 (Zhang et al. 2017, randomization tests)."""

    scale: str
    dataset: str                    # helpers.data.load_dataset name
    n_train: int | None             # training samples (None: the whole set)
    n_test: int | None              # test samples (None: the whole set)
    architecture: str               # the network of the learning curves and the p sweep
    model_kwargs: dict              # its builder's arguments (widths, ...)
    lr: float                       # SGD learning rate, momentum 0.9 throughout
    batch_size: int                 # samples per SGD step
    max_epochs: int                 # cap; runs stop as soon as train accuracy reaches 100%
    p_grid: tuple[float, ...]       # label-corruption probabilities of the sweep and the explorer
    seeds: tuple[int, ...]          # independent repeats of the p sweep (time-to-fit is noisy)
    table_models: tuple[TableModel, ...]  # the rows of the regularization table
    weight_decay: float             # the 'explicit regularization' column: L2 coefficient ...
    dropout: float                  # ... and dropout probability on hidden layers
    augment: bool                   # ... and random crops (images only)
    expressivity_n: int = 4000      # points fitted by the closed-form two-layer net (an n x n solve)
    min_norm_n: int = 50            # samples of the over-parameterized linear model ...
    min_norm_features: int = 2000   # ... its random ReLU features (d >> n) ...
    min_norm_steps: int = 20_000    # ... and its SGD steps (batch 10)
    explorer_default_p: float = 0.5  # where the label-noise slider starts


_MNIST1D_TABLE = (TableModel("MLP 1x512", "mlp", {"hidden": [512]}),
                  TableModel("MLP 3x512", "mlp", {"hidden": [512, 512, 512]}))

_PROFILES = {
    "tiny": RandomizationTests(
        "tiny", "mnist1d", 400, 200, "mlp", {"hidden": [64, 64]}, lr=0.05, batch_size=100,
        max_epochs=60, p_grid=(0.0, 0.5, 1.0), seeds=(0,),
        table_models=(TableModel("MLP 1x64", "mlp", {"hidden": [64]}),),
        weight_decay=5e-4, dropout=0.2, augment=False,
        expressivity_n=400, min_norm_n=20, min_norm_features=400, min_norm_steps=5000),
    "small": RandomizationTests(
        "small", "mnist1d", 4000, 1000, "mlp", {"hidden": [256, 256]}, lr=0.05, batch_size=128,
        max_epochs=400, p_grid=tuple(round(0.1 * i, 1) for i in range(11)), seeds=(0, 1),
        table_models=_MNIST1D_TABLE, weight_decay=5e-4, dropout=0.2, augment=False),
    "paper": RandomizationTests(
        "paper", "cifar10", None, None, "convnet", {}, lr=0.01, batch_size=128,
        max_epochs=200, p_grid=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0,),
        table_models=(TableModel("MLP 1x512", "mlp", {"hidden": [512]}),
                      TableModel("MLP 3x512", "mlp", {"hidden": [512, 512, 512]}),
                      TableModel("small AlexNet-style conv net", "convnet", {})),
        weight_decay=5e-4, dropout=0.0, augment=True, explorer_default_p=0.4),
}


def randomization_tests(scale: str | None = None) -> RandomizationTests:
    """Chapter 1's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    cfg = _PROFILES[current(scale)]
    if cfg.scale == "paper" and smoke():  # the paper's networks and shapes, two epochs of noise
        cfg = replace(cfg, dataset="synthetic-cifar10", n_train=256, n_test=128, max_epochs=2,
                      p_grid=(0.0, 0.4, 1.0), expressivity_n=256, min_norm_steps=2000)
    return cfg


# --- Chapter 2: normalized cross-entropy (Liao, Miranda et al. 2018) ------------------------

@dataclass(frozen=True)
class NormalizedLoss:
    """Sizes for Chapter 2 (Liao et al. 2018): runs that differ only in how they were started."""

    scale: str
    dataset: str                    # helpers.data.load_dataset name
    n_train: int | None             # training samples (None: the whole set)
    n_test: int | None              # test samples
    architecture: str               # a ReLU net with a bias in its first layer only
    model_kwargs: dict              # its builder's arguments
    lr: float                       # SGD learning rate, momentum 0.9
    batch_size: int                 # samples per SGD step
    max_epochs: int                 # cap on each run
    target_train_loss: float        # every run stops at this train cross-entropy (nats): equal train loss
    init_stds: tuple[float, ...]    # (a) Gaussian init std of every layer, log-spaced
    pretrain_ps: tuple[float, ...]  # (b) label corruption of the pretraining, then true labels
    pretrain_init_std: float        # init std of the pretraining runs
    pretrain_epochs: int            # cap on the pretraining (it stops at 100% train accuracy)
    explorer_default_std: float     # where the init-std slider starts (one of init_stds)


_NORMALIZED_LOSS_PROFILES = {
    "tiny": NormalizedLoss(
        "tiny", "mnist1d", 400, 200, "mlp", {"hidden": [64, 64], "bias": "first"}, lr=0.05,
        batch_size=100, max_epochs=40, target_train_loss=0.1, init_stds=(0.02, 0.05, 0.2),
        pretrain_ps=(0.0, 1.0), pretrain_init_std=0.05, pretrain_epochs=30, explorer_default_std=0.05),
    "small": NormalizedLoss(
        "small", "mnist1d", 4000, 1000, "mlp", {"hidden": [256, 256], "bias": "first"}, lr=0.05,
        batch_size=128, max_epochs=250, target_train_loss=0.02,
        init_stds=(0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256),
        pretrain_ps=(0.0, 0.25, 0.5, 0.75, 1.0), pretrain_init_std=0.032, pretrain_epochs=150,
        explorer_default_std=0.032),
    "paper": NormalizedLoss(  # CIFAR-10, Liao et al.'s net; SGD lr 0.01, momentum 0.9, batch 1024
        "paper", "cifar10", None, None, "liao_cnn", {}, lr=0.01, batch_size=1024, max_epochs=300,
        target_train_loss=0.05, init_stds=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.19),
        pretrain_ps=(0.0, 0.25, 0.5, 0.75, 1.0), pretrain_init_std=0.01, pretrain_epochs=300,
        explorer_default_std=0.01),
}


def normalized_loss(scale: str | None = None) -> NormalizedLoss:
    """Chapter 2's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    cfg = _NORMALIZED_LOSS_PROFILES[current(scale)]
    if cfg.scale == "paper" and smoke():  # the paper's net on CIFAR-shaped noise, two epochs
        cfg = replace(cfg, dataset="synthetic-cifar10", n_train=256, n_test=128, max_epochs=2,
                      pretrain_epochs=2, init_stds=(0.005, 0.01, 0.05), pretrain_ps=(0.0, 1.0))
    return cfg


@dataclass(frozen=True)
class GradientSignalToNoise:
    """Sizes for Chapter 3 (Liu et al. 2020, GSNR and the one-step generalization ratio)."""

    scale: str
    dataset: str                    # helpers.data.load_dataset name
    n_train: int                    # the training set: networks train on it, GSNR is taken over it
    n_fresh: int                    # held-out draws of the same distribution (the test split): OSGR's D'
    architecture: str               # the network of Exp. 1-2 (OSGR; true vs random labels)
    model_kwargs: dict              # its builder's arguments
    lr: float                       # plain SGD, no momentum: the paper analyses plain gradient steps
    batch_size: int                 # samples per SGD step
    checkpoints: tuple[int, ...]    # SGD steps at which GSNR and OSGR are measured (0: at init)
    early_steps: int                # checkpoints up to this step are "early training" (Pearson r)
    osgr_n: int                     # n: samples in each train set D and test set D' of the OSGR
    osgr_pairs: int                 # M: pairs (D, D') averaged in one OSGR measurement
    osgr_lr: float                  # the "small learning rate" of the one-step measurement
    contrast_widths: tuple[int, ...]  # hidden widths of the two-layer MLPs, first layer trained/frozen
    contrast_checkpoints: tuple[int, ...]  # their SGD steps (same lr and batch size as above)
    toy_n: int                      # toy regression y = x0 * x1 + noise: training samples ...
    toy_d: int                      # ... input dimension (x0, x1 matter; the other d - 2 do not) ...
    toy_noise: float                # ... label-noise standard deviation ...
    toy_lr: float                   # ... full-batch gradient descent learning rate ...
    toy_checkpoints: tuple[int, ...]  # ... and the GD steps at which GSNR is measured
    data_seed: int = 42             # which sample of the data set
    seed: int = 0                   # init, batch order, random labels and the OSGR draws


_GSNR_PROFILES = {
    "tiny": GradientSignalToNoise(
        "tiny", "mnist1d", 400, 400, "mlp", {"hidden": [64, 64]}, lr=0.05, batch_size=100,
        checkpoints=(0, 10, 20, 40, 80), early_steps=40, osgr_n=50, osgr_pairs=10, osgr_lr=1e-4,
        contrast_widths=(32,), contrast_checkpoints=(0, 10, 20, 40, 80),
        toy_n=200, toy_d=10, toy_noise=0.1, toy_lr=0.01, toy_checkpoints=(0, 50, 100, 200)),
    "small": GradientSignalToNoise(
        "small", "mnist1d", 4000, 4000, "mlp", {"hidden": [256, 256]}, lr=0.05, batch_size=128,
        checkpoints=(0, 10, 20, 40, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920, 2560),
        early_steps=640, osgr_n=100, osgr_pairs=100, osgr_lr=1e-4,
        contrast_widths=(32, 256), contrast_checkpoints=(0, 10, 20, 40, 80, 120, 160, 240, 320, 640, 1280),
        toy_n=1000, toy_d=10, toy_noise=0.1, toy_lr=0.01,
        toy_checkpoints=(0, 25, 50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600)),
    "paper": GradientSignalToNoise(  # CIFAR-10 and Zhang et al.'s small conv net, on a GPU
        "paper", "cifar10", 10000, 10000, "convnet", {}, lr=0.01, batch_size=128,
        checkpoints=(0, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240), early_steps=1280,
        osgr_n=1000, osgr_pairs=50, osgr_lr=1e-4,
        contrast_widths=(32, 512), contrast_checkpoints=(0, 20, 40, 80, 160, 320, 640, 1280, 2560),
        toy_n=10000, toy_d=10, toy_noise=0.1, toy_lr=0.001,
        toy_checkpoints=(0, 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000)),
}


def gsnr_profile(scale: str | None = None) -> GradientSignalToNoise:
    """Chapter 3's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    cfg = _GSNR_PROFILES[current(scale)]
    if cfg.scale == "paper" and smoke():  # the paper's net on CIFAR-shaped noise, a few steps
        cfg = replace(cfg, dataset="synthetic-cifar10", n_train=256, n_fresh=128,
                      checkpoints=(0, 2, 4), early_steps=4, osgr_n=32, osgr_pairs=4,
                      contrast_checkpoints=(0, 2, 4), toy_n=256, toy_checkpoints=(0, 2, 4))
    return cfg
