"""The scale profiles: one place decides how big every chapter's experiments are.

- ``tiny``: the tests. Seconds per chapter; the numbers mean little.
- ``small``: the default, and what the website shows. MNIST-1D on a CPU, minutes per chapter.
- ``paper``: the paper's data set and networks, on a GPU (Colab). Downloads data.
- ``paper-smoke``: the paper's networks on CIFAR-shaped random tensors for a couple of epochs,
  so that the paper path is tested without a GPU or a download.

Each chapter's getter takes the scale's name; with none, ``settings.scale()`` reads
``$BOOK_SCALE``. Profiles are frozen, keyword-only dataclasses with units in comments.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field, replace

from . import settings
from .train import RunSpec

SCALES = settings.SCALES


def current(scale: str | None = None) -> str:
    """The scale in force: ``scale`` if given, else ``$BOOK_SCALE``, else 'small'."""
    return settings.scale(scale)


def _profile(profiles: dict, scale: str | None):
    return profiles[settings.scale(scale)]


class Profile:
    """What every chapter's profile can do: become JSON, so that a sweep point can carry it."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class TableModel:
    """One row of Zhang et al.'s Table 1: a label, an architecture name and its keyword arguments."""

    label: str
    architecture: str  # 'mlp' | 'cnn1d' | 'convnet' (helpers.models.build)
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RandomizationTests(Profile):
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
    seeds: tuple[int, ...]          # independent repeats of the sweeps (time-to-fit is noisy)
    table_models: tuple[TableModel, ...]  # the rows of the regularization table
    weight_decay: float             # the 'explicit regularization' column: L2 coefficient ...
    dropout: float                  # ... and dropout probability on hidden layers
    augment: bool                   # ... and random crops (images only)
    regularized_random_budget: float = 3.0  # the regularized random-label runs get this many
                                    # times the epochs the network needed for random labels
                                    # without regularization (at most max_epochs): they may
                                    # never reach 100%, and the cap would decide their length
    expressivity_n: int = 4000      # points fitted by the closed-form two-layer net (an n x n solve)
    min_norm_n: int = 50            # samples of the over-parameterized linear model ...
    min_norm_features: int = 2000   # ... its random ReLU features (d >> n) ...
    min_norm_steps: int = 20_000    # ... and its SGD steps (batch 10)
    explorer_default_p: float = 0.6  # where the label-noise slider starts; its runs also record
                                     # when each example is first learned (Arpit et al. 2017)
    rademacher_n: int = 1000        # points labelled by fair coins, Rademacher's sigma_i ...
    rademacher_k: int = 3           # ... and how many such labellings are fitted

    def run_spec(self, **changes) -> RunSpec:
        """The run of the learning curves and the p sweep; ``changes`` vary it (randomization, p, ...)."""
        return RunSpec(dataset=self.dataset, n_train=self.n_train, n_test=self.n_test,
                       architecture=self.architecture, model_kwargs=self.model_kwargs, lr=self.lr,
                       batch_size=self.batch_size, max_epochs=self.max_epochs).replace(**changes)


# Zhang et al.'s MLP 1x512, and a deeper MLP at the width of the chapter's network (3x512 made
# the table alone take 140 s of the chapter's 3 minutes on a 2-core CPU; on 40 inputs 3x256 has
# 144,650 weights for 3,000 samples, over-parameterized as the paper's MLPs are)
_MNIST1D_TABLE = (TableModel(label="MLP 1x512", architecture="mlp", kwargs={"hidden": [512]}),
                  TableModel(label="MLP 3x256", architecture="mlp", kwargs={"hidden": [256, 256, 256]}))

_PROFILES = {
    "tiny": RandomizationTests(
        scale="tiny", dataset="mnist1d", n_train=400, n_test=200, architecture="mlp",
        model_kwargs={"hidden": [64, 64]}, lr=0.05, batch_size=100,
        max_epochs=60, p_grid=(0.0, 0.5, 1.0), seeds=(0, 1),
        table_models=(TableModel(label="MLP 1x64", architecture="mlp", kwargs={"hidden": [64]}),),
        weight_decay=5e-4, dropout=0.2, augment=False,
        expressivity_n=400, min_norm_n=20, min_norm_features=400, min_norm_steps=5000,
        explorer_default_p=0.5, rademacher_n=200, rademacher_k=2),
    "small": RandomizationTests(
        # 3,000 training samples (not 4,000 as in Chapters 3 and 4): the chapter's 44 runs fit
        # its 3-minute budget on a 2-core CPU
        scale="small", dataset="mnist1d", n_train=3000, n_test=1000, architecture="mlp",
        model_kwargs={"hidden": [256, 256]}, lr=0.05, batch_size=128,
        max_epochs=400, p_grid=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0, 1, 2),
        table_models=_MNIST1D_TABLE, weight_decay=5e-4, dropout=0.2, augment=False),
    "paper": RandomizationTests(
        # 20,000 of CIFAR-10's 50,000 training images and at most 120 epochs per run (the paper:
        # all of them, until fitted): at most 1.7 h on a Colab T4 by helpers.cost's estimate
        scale="paper", dataset="cifar10", n_train=20_000, n_test=None, architecture="convnet",
        model_kwargs={}, lr=0.01, batch_size=128,
        max_epochs=120, p_grid=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), seeds=(0,),
        table_models=(TableModel(label="MLP 1x512", architecture="mlp", kwargs={"hidden": [512]}),
                      TableModel(label="MLP 3x512", architecture="mlp", kwargs={"hidden": [512, 512, 512]}),
                      TableModel(label="small AlexNet-style conv net", architecture="convnet", kwargs={})),
        weight_decay=5e-4, dropout=0.0, augment=True, explorer_default_p=0.6,
        rademacher_n=5000, rademacher_k=3),
}


# the paper's networks and shapes, two epochs of noise
_PROFILES["paper-smoke"] = replace(
    _PROFILES["paper"], scale="paper-smoke", dataset="synthetic-cifar10", n_train=256, n_test=128, max_epochs=2,
    p_grid=(0.0, 0.6, 1.0), expressivity_n=256, min_norm_steps=2000, rademacher_n=200,
    rademacher_k=2)


def randomization_tests(scale: str | None = None) -> RandomizationTests:
    """Chapter 1's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    return _profile(_PROFILES, scale)


# --- Chapter 2: normalized cross-entropy (Liao, Miranda et al. 2018) ------------------------

@dataclass(frozen=True, kw_only=True)
class NormalizedLoss(Profile):
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
                                    # (p = 0 would only train twice on the same labels)
    pretrain_init_std: float        # init std of the pretraining runs
    pretrain_epochs: int            # cap on the pretraining (it stops at 100% train accuracy)
    explorer_default_std: float     # where the init-std slider starts (one of init_stds)
    check_every: int = 2            # steps between checks of the target inside an epoch: equal
                                    # train loss to a few percent, not to one epoch's drop
    noise_seeds: tuple[int, ...] = (1, 2)  # the default run again with these seeds: seed noise

    def run_spec(self, **changes) -> RunSpec:
        """A run to the target train loss, tracking the normalized loss; ``changes`` vary it."""
        return RunSpec(dataset=self.dataset, n_train=self.n_train, n_test=self.n_test,
                       architecture=self.architecture, model_kwargs=self.model_kwargs, lr=self.lr,
                       batch_size=self.batch_size, max_epochs=self.max_epochs, target_train_acc=None,
                       target_train_loss=self.target_train_loss, check_every=self.check_every,
                       track=("normalized_cross_entropy", "normalized_lipschitz_bound")).replace(**changes)


_NORMALIZED_LOSS_PROFILES = {
    "tiny": NormalizedLoss(
        scale="tiny", dataset="mnist1d", n_train=400, n_test=200, architecture="mlp",
        model_kwargs={"hidden": [64, 64], "bias": "first"}, lr=0.05,
        batch_size=100, max_epochs=40, target_train_loss=0.1, init_stds=(0.02, 0.05, 0.2),
        pretrain_ps=(0.5, 1.0), pretrain_init_std=0.05, pretrain_epochs=30, explorer_default_std=0.05,
        check_every=1, noise_seeds=(1,)),
    "small": NormalizedLoss(
        scale="small", dataset="mnist1d", n_train=4000, n_test=1000, architecture="mlp",
        model_kwargs={"hidden": [256, 256], "bias": "first"}, lr=0.05,
        batch_size=128, max_epochs=250, target_train_loss=0.02,
        init_stds=(0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256),
        pretrain_ps=(0.25, 0.5, 0.75, 1.0), pretrain_init_std=0.032, pretrain_epochs=150,
        explorer_default_std=0.032, noise_seeds=(1, 2, 3, 4)),
    # CIFAR-10, Liao et al.'s net; SGD lr 0.01, momentum 0.9, batch 1024. Cut to fit a Colab T4
    # session (helpers.cost: at most 7.8 h with all 50,000 images): 10,000 training images
    "paper": NormalizedLoss(
        scale="paper", dataset="cifar10", n_train=10_000, n_test=None, architecture="liao_cnn",
        model_kwargs={}, lr=0.01, batch_size=1024, max_epochs=300,
        target_train_loss=0.05, init_stds=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.19),
        pretrain_ps=(0.25, 0.5, 0.75, 1.0), pretrain_init_std=0.01, pretrain_epochs=300,
        explorer_default_std=0.01, check_every=5),
}


# the paper's net on CIFAR-shaped noise, two epochs
_NORMALIZED_LOSS_PROFILES["paper-smoke"] = replace(
    _NORMALIZED_LOSS_PROFILES["paper"], scale="paper-smoke", dataset="synthetic-cifar10", n_train=256, n_test=128, max_epochs=2,
    pretrain_epochs=2, init_stds=(0.005, 0.01, 0.05), pretrain_ps=(0.5, 1.0), noise_seeds=(1,))


def normalized_loss(scale: str | None = None) -> NormalizedLoss:
    """Chapter 2's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    return _profile(_NORMALIZED_LOSS_PROFILES, scale)


@dataclass(frozen=True, kw_only=True)
class GradientSignalToNoise(Profile):
    """Sizes for Chapter 3 (Liu et al. 2020, GSNR and the one-step generalization ratio)."""

    scale: str
    dataset: str                    # helpers.data.load_dataset name
    n_train: int                    # the training set: networks train on it, GSNR is taken over it
    n_fresh: int                    # held-out draws from the same distribution (test split): D'
    architecture: str               # the network of Exp. 1-2 (OSGR; true vs random labels)
    model_kwargs: dict              # its builder's arguments
    lr: float                       # plain SGD, no momentum: the paper analyses plain GD steps
    batch_size: int                 # samples per SGD step
    checkpoints: tuple[int, ...]    # SGD steps at which GSNR and OSGR are measured (0: at init)
    early_steps: int                # checkpoints up to this step are "early training" (Pearson r)
    osgr_checkpoints: tuple[int, ...]  # the checkpoints at which the OSGR is also measured
    osgr_n: int                     # n: samples in each train set D and test set D' of the OSGR
    osgr_pairs: int                 # M: pairs (D, D') averaged in one OSGR measurement
    osgr_lr: float                  # the "small learning rate" of the one-step measurement
    seeds: tuple[int, ...]          # training seeds of every trajectory (init and batch order)
    rise_window: int                # checkpoints after the minimum averaged by the sustained rise
    own_sets: int                   # networks each trained on its own D of osgr_n samples ...
    own_checkpoints: tuple[int, ...]  # ... with full-batch GD (lr as above), measured at these
    own_test_sets: int              # ... on this many fresh D' each
    contrast_widths: tuple[int, ...]  # two-layer MLPs' widths (first layer trained/frozen)
    contrast_checkpoints: tuple[int, ...]  # their SGD steps (same lr and batch size as above)
    toy_n: int                      # toy regression y = x0 * x1 + noise: training samples ...
    toy_d: int                      # ... input dimension (only x0 and x1 matter) ...
    toy_noise: float                # ... label-noise standard deviation ...
    toy_lr: float                   # ... full-batch gradient descent learning rate ...
    toy_checkpoints: tuple[int, ...]  # ... and the GD steps at which GSNR is measured
    data_seed: int = 42             # which sample of the data set
    seed: int = 0                   # init, batch order, random labels and the OSGR draws


_GSNR_PROFILES = {
    "tiny": GradientSignalToNoise(
        scale="tiny", dataset="mnist1d", n_train=400, n_fresh=400, architecture="mlp",
        model_kwargs={"hidden": [64, 64]}, lr=0.05, batch_size=100,
        checkpoints=(0, 10, 20, 40, 80), early_steps=40, osgr_checkpoints=(0, 20, 40, 80),
        osgr_n=50, osgr_pairs=10, osgr_lr=1e-4, seeds=(0, 1), rise_window=1, own_sets=4,
        own_checkpoints=(0, 10, 40), own_test_sets=2,
        contrast_widths=(32, 256), contrast_checkpoints=(0, 10, 20, 40, 80),
        toy_n=200, toy_d=10, toy_noise=0.1, toy_lr=0.01, toy_checkpoints=(0, 50, 100, 200)),
    "small": GradientSignalToNoise(
        scale="small", dataset="mnist1d", n_train=4000, n_fresh=4000, architecture="mlp",
        model_kwargs={"hidden": [256, 256]}, lr=0.05, batch_size=128,
        checkpoints=(0, 10, 20, 40, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920, 2560, 3840,
                     5120, 7680),  # 32 steps/epoch: up to epoch 240
        early_steps=640,  # 20 epochs: the fresh-sample loss is still within ~5% of the train loss
        osgr_checkpoints=(0, 20, 40, 80, 160, 320, 640, 1280, 2560, 3840, 5120, 7680),
        osgr_n=100, osgr_pairs=100, osgr_lr=1e-4, seeds=(0, 1, 2), rise_window=3,
        own_sets=16, own_checkpoints=(0, 10, 20, 40, 80, 160, 320, 640), own_test_sets=4,
        contrast_widths=(32, 256),
        contrast_checkpoints=(0, 10, 20, 40, 80, 120, 160, 240, 320, 640, 1280),
        toy_n=1000, toy_d=10, toy_noise=0.1, toy_lr=0.01,
        toy_checkpoints=(0, 25, 50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600)),
    "paper": GradientSignalToNoise(  # CIFAR-10 and Zhang et al.'s small conv net, on a GPU
        scale="paper", dataset="cifar10", n_train=10000, n_fresh=10000, architecture="convnet",
        model_kwargs={}, lr=0.01, batch_size=128,
        checkpoints=(0, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240), early_steps=1280,
        osgr_checkpoints=(0, 40, 160, 640, 1280, 2560, 5120, 10240),
        osgr_n=1000, osgr_pairs=50, osgr_lr=1e-4, seeds=(0, 1, 2), rise_window=3,
        own_sets=16, own_checkpoints=(0, 20, 40, 80, 160, 320, 640, 1280), own_test_sets=4,
        contrast_widths=(32, 512), contrast_checkpoints=(0, 20, 40, 80, 160, 320, 640, 1280, 2560),
        toy_n=10000, toy_d=10, toy_noise=0.1, toy_lr=0.001,
        toy_checkpoints=(0, 250, 500, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000)),
}


# the paper's net on CIFAR-shaped noise, a few steps
_GSNR_PROFILES["paper-smoke"] = replace(
    _GSNR_PROFILES["paper"], scale="paper-smoke", dataset="synthetic-cifar10", n_train=128, n_fresh=128,
    checkpoints=(0, 1, 2, 4), early_steps=2, osgr_checkpoints=(0, 2, 4), osgr_n=32, osgr_pairs=4,
    seeds=(0, 1), rise_window=1, own_sets=2, own_checkpoints=(0, 2), own_test_sets=2,
    contrast_checkpoints=(0, 2, 4), toy_n=256, toy_checkpoints=(0, 2, 4))


def gsnr_profile(scale: str | None = None) -> GradientSignalToNoise:
    """Chapter 3's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    return _profile(_GSNR_PROFILES, scale)


@dataclass(frozen=True, kw_only=True)
class HeavyTails(Profile):
    """Sizes for Chapter 5 (Martin & Mahoney 2019/2020, heavy-tailed spectra and weighted alpha).

    Every network trains with one recipe (SGD, momentum 0.9) until its train cross-entropy falls
    to ``target_train_loss``: compared at equal train loss, not at equal epochs. The architecture
    series (the paper's headline, offline) are MLPs of growing width at depth ``depth`` and of
    growing depth at width ``series_depth_width``, each with ``series_seeds``. The zoo is a base
    model plus variations of one factor at a time (width, batch size, learning rate, weight
    decay, label noise).
    """

    scale: str
    dataset: str                    # helpers.data.load_dataset name
    n_train: int | None             # training samples (None: the whole set)
    n_test: int | None              # test samples (None: the whole set)
    architecture: str               # 'mlp' (hidden layers of one width) or 'convnet' (its MLP head)
    depth: int                      # mlp: hidden layers; depth - 1 of them are width x width
    width: int                      # the base model's hidden width
    lr: float                       # the base model's SGD learning rate (momentum 0.9)
    batch_size: int                 # the base model's samples per step
    target_train_loss: float        # every network trains until its train cross-entropy (nats) is this
    max_epochs: int                 # ... or this many epochs (a run that misses the target is left out)
    widths: tuple[int, ...]         # the zoo's variations, one factor at a time ...
    batch_sizes: tuple[int, ...]    # ... (also the batch-size experiment, with the base) ...
    lrs: tuple[float, ...]
    weight_decays: tuple[float, ...]  # ... the base has none ...
    label_noises: tuple[float, ...]   # ... and clean labels (p = 0)
    series_widths: tuple[int, ...] = ()  # the width series: MLPs of these widths at depth `depth`
    series_depths: tuple[int, ...] = ()  # the depth series: these depths at series_depth_width
    series_depth_width: int = 128   # (hidden layers of at least min_evals units: analyzed)
    series_seeds: tuple[int, ...] = (0, 1)  # every series model with each seed (init, batch order)
    n_boot: int = 1000              # bootstrap resamples of the series' and the zoo's rank correlations
    min_evals: int = 100            # layers with fewer eigenvalues are skipped (>= 100 per ESD)
    seed: int = 0                   # init, batch order and label noise of every zoo model
    pretrained: tuple[str, ...] = ()  # torchvision ImageNet models (needs torchvision + network)

    def model_kwargs(self, width: int, depth: int | None = None) -> dict:
        """The builder's arguments for a model of hidden width ``width`` (and ``depth``)."""
        if self.architecture == "mlp":
            return {"hidden": [width] * (self.depth if depth is None else depth)}
        return {"hidden": [width, width // 2]}

    def run_spec(self, setting: dict) -> RunSpec:
        """The run of one setting (see ``zoo()`` and ``series()``): to the target train loss."""
        noisy = {"randomization": "random labels", "p": setting["p"]} if setting["p"] > 0 else {}
        return RunSpec(dataset=self.dataset, n_train=self.n_train, n_test=self.n_test,
                       architecture=self.architecture,
                       model_kwargs=self.model_kwargs(setting["width"], setting.get("depth")),
                       lr=setting["lr"], batch_size=setting["batch_size"], max_epochs=self.max_epochs,
                       weight_decay=setting["weight_decay"], target_train_acc=None,
                       target_train_loss=self.target_train_loss, seed=setting.get("seed", self.seed),
                       **noisy)

    def point(self, setting: dict) -> dict:
        """The sweep point of one setting (``helpers.zoo.train_and_analyze``'s arguments)."""
        return {"run": self.run_spec(setting), "min_evals": self.min_evals}

    def base(self) -> dict:
        """The base model's setting."""
        return {"varied": "base", "width": self.width, "batch_size": self.batch_size, "lr": self.lr,
                "weight_decay": 0.0, "p": 0.0}

    def zoo(self) -> list[dict]:
        """The zoo's settings: the base model, then each variation of one factor ('varied')."""
        base = self.base()
        factors = {"width": self.widths, "batch_size": self.batch_sizes, "lr": self.lrs,
                   "weight_decay": self.weight_decays, "p": self.label_noises}
        return [base] + [dict(base, varied=k, **{k: v}) for k, values in factors.items() for v in values]

    def series(self) -> list[dict]:
        """The architecture series' settings ('series': 'width' or 'depth'), every seed of each.

        One recipe, the base model's (learning rate, batch size, no weight decay, clean labels).
        """
        recipe = {k: v for k, v in self.base().items() if k != "varied"}
        shapes = [("width", w, self.depth) for w in self.series_widths] + [
            ("depth", self.series_depth_width, d) for d in self.series_depths]
        return [dict(recipe, series=name, width=w, depth=d, seed=s)
                for name, w, d in shapes for s in self.series_seeds]


_TORCHVISION_SERIES = ("vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
                       "resnet101", "resnet152")

_HEAVY_TAILS_PROFILES = {
    "tiny": HeavyTails(
        scale="tiny", dataset="mnist1d", n_train=500, n_test=250, architecture="mlp", depth=2, width=128, lr=0.05, batch_size=64,
        target_train_loss=0.3, max_epochs=120, widths=(), batch_sizes=(16, 128), lrs=(0.1,), weight_decays=(5e-4,),
        label_noises=(0.4,), series_widths=(100, 128, 160), series_depths=(2, 3, 4), series_depth_width=100,
        series_seeds=(0, 1), n_boot=200),
    "small": HeavyTails(
        scale="small", dataset="mnist1d", n_train=2000, n_test=1000, architecture="mlp", depth=3, width=256, lr=0.02, batch_size=64,
        target_train_loss=0.05, max_epochs=150, widths=(128, 512), batch_sizes=(16, 32, 128), lrs=(0.05,),
        weight_decays=(1e-4, 5e-4, 1e-3), label_noises=(0.1, 0.2, 0.4),
        series_widths=(128, 192, 256, 384, 512), series_depths=(2, 3, 4, 5), series_depth_width=128,
        series_seeds=(0, 1), n_boot=1000, pretrained=_TORCHVISION_SERIES),
    # cut to fit a Colab T4 session (helpers.cost: at most 5.4 h with all 50,000 images):
    # 10,000 training images, every network and seed kept
    "paper": HeavyTails(
        scale="paper", dataset="cifar10", n_train=10_000, n_test=None, architecture="convnet", depth=2, width=384, lr=0.01, batch_size=128,
        target_train_loss=0.01, max_epochs=100, widths=(192, 768, 1536), batch_sizes=(16, 32, 64, 256), lrs=(0.003, 0.03),
        weight_decays=(5e-4, 1e-3, 5e-3), label_noises=(0.1, 0.2, 0.4),
        series_widths=(192, 384, 768, 1536), series_seeds=(0, 1, 2),
        pretrained=_TORCHVISION_SERIES + ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")),
}


# the paper's net on CIFAR-shaped noise, two epochs
_HEAVY_TAILS_PROFILES["paper-smoke"] = replace(
    _HEAVY_TAILS_PROFILES["paper"], scale="paper-smoke", dataset="synthetic-cifar10", n_train=256, n_test=128, max_epochs=2,
    target_train_loss=5.0, widths=(192,), batch_sizes=(64,), lrs=(), weight_decays=(5e-3,),
    label_noises=(0.4,), series_widths=(128, 192), series_seeds=(0,), n_boot=50, pretrained=())


def heavy_tails(scale: str | None = None) -> HeavyTails:
    """Chapter 5's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    return _profile(_HEAVY_TAILS_PROFILES, scale)


@dataclass(frozen=True, kw_only=True)
class BadMinima(Profile):
    """Sizes for Chapter 4 (Huang et al. 2019, bad minima, flatness and basin volume)."""

    scale: str
    dataset: str                  # helpers.data.load_dataset name
    n_train: int | None           # training samples
    n_test: int | None            # test samples (None: the whole test split)
    n_distractor: int             # distractor samples: further draws, disjoint from train and test
    architecture: str             # 'mlp' | 'cnn1d' | 'convnet' (helpers.models) | 'resnet18' (torchvision)
    model_kwargs: dict            # its builder's arguments
    optimizer: str                # 'sgd' (momentum 0.9) or 'adam'
    lr: float                     # learning rate, constant
    batch_size: int               # training samples per step
    epochs: int                   # at most this many epochs (a run that misses the target is flagged)
    target_train_loss: float      # every beta trains to this train cross-entropy: equal-loss minima
    check_every: int              # steps between checks of the target inside an epoch
    seeds: tuple[int, ...]        # initializations (and batch orders) per beta
    distractor_fraction: float    # distractor samples / all samples of a step (the paper: 0.35)
    beta_grid: tuple[float, ...]  # anti-generalization weights of the sweep and the explorer
    bad_beta: float               # the bad minimum compared with the clean one; the slider's default
    slice_span: float             # slices cover a in [-span, span], in units of the direction
    slice_points: int             # points of a 1-D slice
    grid_points: int              # points per axis of a 2-D slice
    hessian_samples: int          # training samples the Hessian is measured on (one graph)
    n_directions: int             # random directions of the basin radii
    radius_threshold: float       # train cross-entropy (nats) that bounds the basin and the widths
    toy_hidden: tuple[int, ...]   # the deep narrow MLP of the two-spirals toy (the paper's widths)
    toy_n_train: int              # its training points (the authors' script: 200 of 400 drawn)
    toy_steps: int                # full-batch Adam steps at most (the authors: 40,000); a run
                                  # stops earlier once it classifies every training point
    toy_lr: float                 # Adam's rate, divided by 10 at each of ...
    toy_lr_drops: tuple[int, ...]  # ... these steps (the authors: 0.0067; 3,000 and 6,452)
    toy_shares: tuple[float, ...]  # the distractors' share of the poisoned loss (beta), ...
    toy_share_steps: tuple[int, ...]  # ... raised at these steps (the authors: 110 of 310
                                  # samples, then 200 of 400, from step 8,812)
    toy_distractor_batch: int     # fresh spiral samples drawn as distractors at every step
    toy_clip: float               # gradients clipped to this global norm (the authors: 8)
    toy_stop_at_fit: bool = True  # stop a run once it fits its training set (the authors train
                                  # all their steps: paper scale does so)
    toy_features: int             # random Fourier features of the linear model (d >> toy_n_train)
    toy_bandwidth: float          # their frequency scale, rad per unit of the input (the figure's)
    toy_bandwidths: tuple[float, ...]  # ... and the sweep the linear model is compared over
    minefield_epochs: tuple[int, ...]  # epochs of a clean run at which poisoned runs branch off
    minefield_poison_epochs: int  # ... and how long each poisoned branch trains (beta = bad_beta)
    # guess and check (on MNIST-1D at every scale: a search by random draws needs a tiny problem)
    gc_classes: tuple[int, int] = (0, 1)  # the two MNIST-1D classes of the problem
    gc_n_train: int = 12          # training points the random networks must fit
    gc_hidden: tuple[int, ...] = (32,)  # the MLP's hidden widths (40 inputs, 2 outputs)
    gc_samples: int = 400_000     # networks drawn from the initialization prior
    gc_seeds: int = 16            # networks trained by Adam from that prior, clean and poisoned


_BAD_MINIMA_PROFILES = {
    "tiny": BadMinima(
        scale="tiny", dataset="mnist1d", n_train=400, n_test=200, n_distractor=800,
        architecture="mlp", model_kwargs={"hidden": [64, 64]}, optimizer="sgd", lr=0.1, batch_size=100,
        epochs=150, target_train_loss=0.05, check_every=1, seeds=(0, 1), distractor_fraction=0.5, beta_grid=(0.0, 0.5), bad_beta=0.5, slice_span=1.0,
        slice_points=11, grid_points=5, hessian_samples=200, n_directions=3, radius_threshold=2.0,
        toy_hidden=(17, 18, 32, 32, 31, 9), toy_n_train=200, toy_steps=300, toy_lr=0.0067,
        toy_lr_drops=(150, 250), toy_shares=(110 / 310, 0.5), toy_share_steps=(200,),
        toy_distractor_batch=100, toy_clip=8.0, toy_features=800, toy_bandwidth=1.0,
        toy_bandwidths=(0.25, 1.0), minefield_epochs=(1, 3), minefield_poison_epochs=3,
        gc_n_train=6, gc_samples=20_000, gc_seeds=4),
    "small": BadMinima(
        # 3,000 training samples and a 15 x 15 2-D slice: the chapter within its 3 minutes on
        # a 2-core CPU (with 4,000 and 21 x 21 it took 250 s)
        scale="small", dataset="mnist1d", n_train=3000, n_test=1000, n_distractor=8000,
        architecture="mlp", model_kwargs={"hidden": [256, 256]}, optimizer="sgd", lr=0.1,
        batch_size=128, epochs=200, target_train_loss=0.005, check_every=1, seeds=(0, 1),
        distractor_fraction=0.5, beta_grid=(0.0, 0.1, 0.3, 0.5),
        bad_beta=0.5, slice_span=1.0, slice_points=41, grid_points=15, hessian_samples=3000,
        # the toy: the authors' schedule 0.6x as long (rate drops at 1,800 and 3,871 steps, the
        # distractors' share raised at 5,287), stopped at 6,000 steps (of the authors' 40,000)
        n_directions=20, radius_threshold=0.1, toy_hidden=(17, 18, 32, 32, 31, 9), toy_n_train=200, toy_steps=6_000, toy_lr=0.0067,
        toy_lr_drops=(1800, 3871), toy_shares=(110 / 310, 0.5), toy_share_steps=(5287,),
        toy_distractor_batch=200, toy_clip=8.0, toy_features=2000, toy_bandwidth=1.0,
        toy_bandwidths=(0.1, 0.25, 0.5, 1.0, 2.0), minefield_epochs=(1, 2, 5, 10, 20),
        minefield_poison_epochs=10, gc_samples=250_000),
    # ResNet-18 at a quarter of its width (24 channels in the first stage, 1.6 M weights) on
    # 10,000 CIFAR-10 images, at most 80 epochs, 3 betas, 20 directions: at most 1.6 h on a Colab
    # T4 by helpers.cost's estimate (the full network on 40,000 images, 6 betas: 142 h)
    "paper": BadMinima(
        scale="paper", dataset="cifar10", n_train=10_000, n_test=None, n_distractor=5_000,
        architecture="resnet18", model_kwargs={"width": 24}, optimizer="sgd", lr=0.05, batch_size=128,
        epochs=80, target_train_loss=0.005, check_every=20, seeds=(0, 1), distractor_fraction=0.35,
        beta_grid=(0.0, 0.3, 0.5), bad_beta=0.5,
        slice_span=1.0, slice_points=41, grid_points=11, hessian_samples=500, n_directions=20,
        radius_threshold=0.1, toy_stop_at_fit=False,
        toy_hidden=(17, 18, 32, 32, 31, 9), toy_n_train=200, toy_steps=40_000, toy_lr=0.0067,
        toy_lr_drops=(3000, 6452), toy_shares=(110 / 310, 0.5), toy_share_steps=(8812,),
        toy_distractor_batch=200, toy_clip=8.0, toy_features=2000, toy_bandwidth=1.0,
        toy_bandwidths=(0.1, 0.25, 0.5, 1.0, 2.0), minefield_epochs=(1, 5, 20),
        minefield_poison_epochs=10),
}


# CIFAR-shaped noise, two epochs, seconds on a CPU: the paper's ResNet-18 at width 4, and two
# epochs fit nothing, hence the loose threshold
_BAD_MINIMA_PROFILES["paper-smoke"] = replace(
    _BAD_MINIMA_PROFILES["paper"], scale="paper-smoke", dataset="synthetic-cifar10", n_train=256, n_test=128, n_distractor=128,
    model_kwargs={"width": 4},
    epochs=2, check_every=2, beta_grid=(0.0, 0.5), slice_points=5, minefield_epochs=(1,),
    minefield_poison_epochs=1, grid_points=3,
    hessian_samples=32, n_directions=2, radius_threshold=5.0,
    toy_steps=20, toy_lr_drops=(10,), toy_share_steps=(15,), toy_features=500,
    gc_n_train=6, gc_samples=5_000, gc_seeds=2)


def bad_minima(scale: str | None = None) -> BadMinima:
    """Chapter 4's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    return _profile(_BAD_MINIMA_PROFILES, scale)


@dataclass(frozen=True, kw_only=True)
class MeasureZoo(Profile):
    """Sizes for Chapter 6 (after Jiang et al. 2020): the zoo's grid and how each measure is taken.

    The zoo is the full grid depths x widths x lrs x batch_sizes x weight_decays, every model
    trained (SGD, momentum 0.9, constant lr) until its train cross-entropy reaches
    ``target_train_loss``, then measured (``helpers.zoo``).
    """

    scale: str
    dataset: str                    # helpers.data.load_dataset name
    n_train: int | None             # training samples (None: the whole set)
    n_test: int | None              # test samples (None: the whole set)
    architecture: str               # 'mlp' or 'convnet' (helpers.zoo.model_kwargs)
    depths: tuple[int, ...]         # hidden layers (mlp) or conv blocks (convnet)
    widths: tuple[int, ...]         # units (mlp) or channels (convnet) per layer
    lrs: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    weight_decays: tuple[float, ...]
    max_epochs: int                 # a model still above the target after this is left out
    target_train_loss: float        # the stopping criterion (Jiang et al.: cross-entropy 0.01)
    measure_samples: int            # train samples for the Hessian, GSNR and perturbation measures
    sharpness_samples: int          # weight perturbations averaged per sigma (PAC-Bayes sharpness)
    n_directions: int               # random directions of the basin radius
    radius_threshold: float         # train cross-entropy that bounds the basin
    min_evals: int                  # layers with fewer eigenvalues get no alpha (Ch. 5)
    n_boot: int                     # bootstrap resamples of every confidence interval
    seeds: tuple[int, ...] = (0, 1)  # every configuration is trained once per seed (init and batch order)
    null_permutations: int = 100    # zoos with the measures permuted: how often a scorecard row holds by chance
    null_boot: int = 100            # bootstrap resamples of each row's interval in each permuted zoo

    def __post_init__(self):
        if len(self.seeds) < 2 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must hold at least 2 distinct seeds (the ranking averages over them "
                             f"and compares them), got {self.seeds!r}")

    def settings(self):
        """How every model of the zoo is measured (``helpers.zoo.MeasureSettings``)."""
        from .zoo import MeasureSettings

        return MeasureSettings(measure_samples=self.measure_samples, sharpness_samples=self.sharpness_samples,
                               n_directions=self.n_directions, radius_threshold=self.radius_threshold,
                               min_evals=self.min_evals)

    def grid(self) -> list[dict]:
        """The zoo's configurations, one dict per cell of the grid, in a fixed order."""
        grid = itertools.product(self.depths, self.widths, self.lrs, self.batch_sizes, self.weight_decays)
        return [dict(depth=d, width=w, lr=lr, batch_size=b, weight_decay=wd) for d, w, lr, b, wd in grid]

    def point(self, *, seed: int | None = None, label_noise: float = 0.0, **hyperparameters) -> dict:
        """The sweep point of one zoo model (``helpers.zoo.train_and_measure``'s arguments)."""
        from .zoo import zoo_run

        run = zoo_run(dataset=self.dataset, n_train=self.n_train, n_test=self.n_test,
                      architecture=self.architecture, max_epochs=self.max_epochs,
                      target_train_loss=self.target_train_loss, label_noise=label_noise,
                      seed=self.seeds[0] if seed is None else seed, **hyperparameters)
        return {"run": run, "settings": self.settings()}

    def points(self) -> list[dict]:
        """The zoo's sweep points: every configuration of ``grid()`` once per seed, seed-major."""
        return [self.point(seed=s, **h) for s in self.seeds for h in self.grid()]


_MEASURE_ZOO_PROFILES = {
    "tiny": MeasureZoo(
        scale="tiny", dataset="mnist1d", n_train=400, n_test=200, architecture="mlp", depths=(2, 3), widths=(32, 64), lrs=(0.05, 0.1),
        batch_sizes=(32, 100), weight_decays=(0.0, 2e-4), max_epochs=60, target_train_loss=0.05,
        measure_samples=200, sharpness_samples=2, n_directions=2, radius_threshold=0.3, min_evals=20,
        n_boot=50, null_permutations=20, null_boot=20),
    "small": MeasureZoo(
        scale="small", dataset="mnist1d", n_train=2000, n_test=1000, architecture="mlp", depths=(2, 3), widths=(128, 256), lrs=(0.025, 0.05),
        batch_sizes=(64, 256), weight_decays=(0.0, 2e-4), max_epochs=300, target_train_loss=0.01,
        measure_samples=500, sharpness_samples=8, n_directions=10, radius_threshold=0.1, min_evals=100,
        n_boot=500),
    # cut to fit a Colab T4 session (helpers.cost: at most 31 h with all 50,000 images, depths
    # 2-4, 200 epochs, 2,000 measure samples): 10,000 training images, depths 2-3 (every
    # hyperparameter still varies), at most 60 epochs, the measures on 500 samples
    "paper": MeasureZoo(
        scale="paper", dataset="cifar10", n_train=10_000, n_test=None, architecture="convnet", depths=(2, 3), widths=(32, 64), lrs=(0.01, 0.03),
        batch_sizes=(64, 256), weight_decays=(0.0, 5e-4), max_epochs=60, target_train_loss=0.01,
        measure_samples=500, sharpness_samples=8, n_directions=20, radius_threshold=0.1, min_evals=100,
        n_boot=1000, null_permutations=1000, null_boot=200),
}


# CIFAR-shaped noise; a loose target that two epochs reach
_MEASURE_ZOO_PROFILES["paper-smoke"] = replace(
    _MEASURE_ZOO_PROFILES["paper"], scale="paper-smoke", dataset="synthetic-cifar10", n_train=256, n_test=128, depths=(2,), widths=(8, 16),
    lrs=(0.01,), batch_sizes=(64, 128), weight_decays=(0.0, 5e-4), max_epochs=2,
    target_train_loss=5.0, measure_samples=64, sharpness_samples=2, n_directions=2,
    radius_threshold=10.0, min_evals=8, n_boot=20, null_permutations=10, null_boot=10)


def measure_zoo(scale: str | None = None) -> MeasureZoo:
    """Chapter 6's profile at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    return _profile(_MEASURE_ZOO_PROFILES, scale)
