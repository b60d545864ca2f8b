"""What a chapter costs before it runs: floating-point work and wall time at every scale.

``estimate(chapter, scale)`` walks through what the chapter trains and measures, as its source in
``book/src`` does, with the sizes of its profile (``helpers.scale``), and adds up the work:

- **One training step** of each network is counted by torch itself
  (``torch.utils.flop_counter.FlopCounterMode``): the forward and backward pass of a batch, i.e.
  every matmul and convolution autograd really runs (the first layer's input gradient is not
  computed, so its backward costs one forward, the others' two). Elementwise ops, pooling,
  normalization, the loss and the optimizer are not counted: a few percent for these networks.
- **A run** is steps per epoch x epochs of such steps, plus after every epoch a forward pass over
  the train and the test set (``train.fit`` evaluates both), plus a tracked data measure (Ch. 2's
  normalized loss) as another such pass, plus the checks of a loss target inside an epoch.
- **Runs stop at a target** (train accuracy or loss) or at their cap of epochs. ``flop`` assumes
  every run goes to its cap: an upper bound ("at most"). ``typical_flop`` assumes that each run
  stops where the same chapter's ``small`` runs stopped, as a fraction of the cap (``TYPICAL``:
  read from the sweep caches of the ``small`` runs of 2026-12-01). At paper scale that fraction is
  a guess of the right order, not a measurement; where no small run was read, typical = at most.
- **Measures** are counted in forward-pass equivalents of the samples they see; each factor is a
  named constant below (Hessian-vector products, per-sample gradients, one-step OSGR draws,
  perturbation searches, eigendecompositions of the layers' Gram matrices).

Wall time is FLOP / (peak x ``UTILIZATION``) plus ``STEP_SECONDS`` per sequential step (a GPU
cannot go faster than the launches of one step's kernels, whatever the step's size). Peaks are
the vendors' dense float32 figures, since the book trains in float32 (no autocast yet): NVIDIA's
datasheets give T4 8.1 TFLOP/s fp32 (65 fp16 tensor), A100 SXM 19.5 fp32 (156 TF32, 312 bf16
tensor, dense), H100 SXM 67 fp32 (495 TF32, 989 bf16 tensor, dense)
(https://www.nvidia.com/en-us/data-center/tesla-t4/,
https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf,
https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet). The CPU's
throughput is measured (``cpu_throughput``, a float32 matmul), never assumed.

Not counted: bootstraps and permutation nulls (numpy, seconds), a live explorer's "train at this
value" button (one run, on demand), the pretrained ImageNet series of Ch. 5 (a download, then
ESDs only), and the closed-form constructions' small solves where noted.
"""
from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from . import models, settings

CHAPTERS = (1, 2, 3, 4, 5, 6)

# --- devices ---------------------------------------------------------------------------------

# dense float32 peak, FLOP/s (module docstring for the sources); the book trains in float32
PEAK_FP32 = {"T4": 8.1e12, "A100": 19.5e12, "H100": 67e12}
# ... and the tensor-core peak that bf16/fp16 autocast could reach (T4: fp16, it has no bf16)
PEAK_TENSOR = {"T4": 65e12, "A100": 312e12, "H100": 989e12}
# The fraction of the float32 peak the counted FLOPs run at. These are small networks (Zhang et
# al.'s conv net has 64-channel 5x5 layers, 65 MFLOP per image forward): at a batch of 128 their
# matmuls and convolutions are a few GFLOP each, which cuBLAS/cuDNN run at perhaps 30-60% of
# peak, and the uncounted elementwise ops, pooling and the optimizer take time too. 25% is what
# the issue's own count assumed (1e17 FLOP in ~14 h on a T4); an MLP on MNIST-1D gets far less,
# which STEP_SECONDS captures. A first GPU run should replace this guess by a measurement.
UTILIZATION = 0.25
# The least time of one training step on a GPU in eager PyTorch: forward, backward and SGD step
# launch some 30-60 kernels of ~10 us each, plus Python. A forward-only pass counts a third.
STEP_SECONDS = 1e-3

# --- measures, in forward-pass equivalents per sample (forward = 1, forward + backward = 3) -----

STEP_PASSES = 3      # a training step: forward (1) + backward (2: input and weight gradients)
HVP_PASSES = 8       # a Hessian-vector product: double backward through a forward + backward graph
GSNR_PASSES = 4      # per-sample gradients (forward + backward) and their squares summed (one more)
OSGR_PASSES = 6      # one OSGR draw: gradient on D (3), the loss on D and D' before/after (3 forwards)
LANCZOS_ITERS = 100  # top Hessian eigenvalue: landscape.top_hessian_eigenvalue's max_iter (the cap)
TRACE_ITERS = 200    # Hutchinson's trace: landscape.hessian_trace's max_iter (the cap)
BASIN_EVALS = 20 + 8  # basin radius: n_grid steps out, then n_bisect halvings (landscape.basin_radius)
PAC_BAYES_EVALS = 20 + 2  # PAC-Bayes sigma: n_bisect halvings and the bracket's two ends
WORST_CASE_EVALS = 14 + 2  # worst-case alpha: n_bisect halvings and the two ends ...
WORST_CASE_ASCENT = 10     # ... each with this many gradient-ascent steps (landscape.worst_case_alpha)
EIGH_FACTOR = 4 / 3  # eigvalsh of an M x M matrix: Householder tridiagonalization, ~4/3 M^3
NEAR_EPOCHS = 6      # epochs in which a run checks its loss target inside the epoch (StopRule.NEAR):
                     # at most 6, median 4, in the small runs of Ch. 2
EVAL_CHUNK = 4096    # train.evaluate's batch: sequential forward passes over a set

# How far the small runs went, as a fraction of their cap of epochs (mean over the cached small
# runs of 2026-12-01: Ch. 1's 60 randomization, 72 label-corruption, 9 Rademacher and 25 table
# runs; Ch. 2's 17 runs and their pretraining, 13 of 150 epochs; Ch. 5's 166 networks; Ch. 6's
# 320 zoo models). Ch. 3 trains fixed steps; Ch. 4's small runs were not in a cache (typical =
# at most).
TYPICAL = {"ch1-randomizations": 0.086, "ch1-label-corruption": 0.111, "ch1-rademacher": 0.113,
           "ch1-regularization": 0.343, "ch2-runs": 0.161, "ch2-pretraining": 0.09,
           "ch5-networks": 0.289, "ch6-zoo": 0.309}

_DATA = {  # name -> (input shape, classes, default n_train, default n_test), as data.load_dataset
    "mnist1d": ((40,), 10, 4000, 1000), "cifar10": ((3, 32, 32), 10, 50_000, 10_000),
    "mnist": ((1, 28, 28), 10, 60_000, 10_000), "synthetic-cifar10": ((3, 32, 32), 10, 256, 128)}


# --- counting ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Work:
    """Floating-point work and the sequential steps it takes (training-step equivalents)."""

    flop: float = 0.0
    steps: float = 0.0

    def __add__(self, other: "Work") -> "Work":
        return Work(self.flop + other.flop, self.steps + other.steps)

    def __mul__(self, k: float) -> "Work":
        return Work(self.flop * k, self.steps * k)

    __rmul__ = __mul__


def _count(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def step_flop(model: torch.nn.Module, batch_size: int, input_shape=None, loss_fn=None) -> int:
    """FLOP of one training step (forward + backward, no optimizer) of ``model`` on a batch.

    Counted by ``FlopCounterMode`` on a random batch of ``batch_size`` inputs of ``input_shape``
    (default ``model.input_shape``) and cross-entropy (or ``loss_fn(output)``, a scalar).
    """
    x = _random_batch(model, batch_size, input_shape)
    loss_fn = loss_fn or (lambda out: F.cross_entropy(out, torch.zeros(len(out), dtype=torch.long)))
    was = model.training
    model.train()
    try:
        return _count(lambda: loss_fn(model(x)).backward())
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was)


def forward_flop(model: torch.nn.Module, batch_size: int, input_shape=None) -> int:
    """FLOP of one forward pass of ``model`` on ``batch_size`` inputs (eval mode, no gradients)."""
    x = _random_batch(model, batch_size, input_shape)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _count(lambda: model(x))
    finally:
        model.train(was)


def _random_batch(model, batch_size, input_shape):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if shape is None:
        raise ValueError("input_shape must be given for a model without an input_shape attribute")
    return torch.randn(batch_size, *tuple(shape), generator=torch.Generator().manual_seed(0))


@functools.lru_cache(maxsize=256)
def _per_sample(architecture: str, kwargs_json: str, input_shape: tuple, classes: int):
    """(forward, training step) FLOP per sample, and the layers' Gram shapes for the ESD.

    FLOPs are linear in the batch for these networks, so a batch of 2 (BatchNorm needs 2) gives
    them per sample.
    """
    from .metrics import esd

    with torch.random.fork_rng(devices=[]):
        model = models.build(architecture, input_shape, classes, **json.loads(kwargs_json))
    fwd, step = forward_flop(model, 2) / 2, step_flop(model, 2) / 2
    grams = tuple((layer.matrices.shape[0], *sorted(layer.matrices.shape[1:], reverse=True))
                  for layer in esd.layer_matrices(model))  # (slices, N >= M, M)
    return fwd, step, grams


class _Net:
    """A network of a chapter on its data set: what one sample costs, forward and per step."""

    def __init__(self, architecture: str, model_kwargs: dict, dataset: str | tuple, n_train=None,
                 n_test=None):
        # dataset: a data set's name, or (input shape, classes, n_train, n_test) of a toy's data
        shape, classes, default_train, default_test = _DATA.get(dataset, dataset)
        kwargs = json.dumps(dict(model_kwargs), sort_keys=True)
        self.fwd, self.step, self.grams = _per_sample(architecture, kwargs, shape, classes)
        self.n_train, self.n_test = n_train or default_train, n_test or default_test

    def forward(self, n: float) -> Work:
        """Forward passes over n samples (evaluation, loss slices, perturbations)."""
        return Work(self.fwd * n, math.ceil(n / EVAL_CHUNK) / 3)

    def train_steps(self, steps: float, batch: float) -> Work:
        return Work(self.step * batch * steps, steps)

    def passes(self, n: float, per_sample: float, steps: float = 1.0) -> Work:
        """A measure of ``per_sample`` forward equivalents on each of n samples, in ``steps`` steps."""
        return Work(self.fwd * per_sample * n, steps)

    def esd(self, decompositions: int = 1, min_evals: int = 1) -> Work:
        """Gram matrices (2 N M^2) and their eigenvalues (EIGH_FACTOR M^3) of the analyzed layers."""
        flop = sum(slices * (2 * n * m * m + EIGH_FACTOR * m ** 3)
                   for slices, n, m in self.grams if m >= min_evals)
        return Work(decompositions * flop, decompositions * len(self.grams))


def _dist_net(spec) -> _Net:
    kwargs = dict(spec.model_kwargs, **({"dropout": spec.dropout} if spec.dropout else {}))
    return _Net(spec.architecture, kwargs, spec.dataset, spec.n_train, spec.n_test)


def _fit(net: _Net, epochs: float, batch_size: int, *, extra_batch: int = 0, tracked: int = 0,
         check_every: int | None = None, n_train: int | None = None) -> Work:
    """``train.fit`` for ``epochs`` epochs: the steps, the evaluation after each epoch (train and
    test set, and ``tracked`` data measures on both), and the target checks inside an epoch."""
    n = n_train or net.n_train
    per_epoch = math.ceil(n / batch_size)
    work = net.train_steps(per_epoch * epochs, batch_size + extra_batch)
    work += net.forward(n + net.n_test) * ((1 + tracked) * epochs)
    if check_every:  # each check evaluates the whole train set
        work += net.forward(n) * (math.ceil(per_epoch / check_every) * min(NEAR_EPOCHS, epochs))
    return work


def _run(spec, fraction: float = 1.0) -> tuple[Work, Work]:
    """A ``train.RunSpec``'s run (and its pretraining): at its cap, and at ``fraction`` of it."""
    net = _dist_net(spec)
    check = spec.check_every if spec.target_train_loss is not None else None
    args = dict(tracked=sum(1 for t in spec.track if t == "normalized_cross_entropy"),
                check_every=check)

    def fit(f: float) -> Work:
        work = _fit(net, max(1.0, f * spec.max_epochs), spec.batch_size, **args)
        if spec.pretrain is not None:
            pre = TYPICAL["ch2-pretraining"] if f < 1 else 1.0
            work += _fit(net, max(1.0, pre * spec.pretrain.max_epochs), spec.batch_size)
        return work

    return fit(1.0), fit(fraction)


# --- the chapters ------------------------------------------------------------------------------

class _Parts:
    """Named parts of a chapter's work, at most and typical, and how many networks they train."""

    def __init__(self):
        self.most, self.typical, self.networks = {}, {}, 0

    def add(self, name: str, most: Work, typical: Work | None = None, networks: int = 0):
        self.most[name] = self.most.get(name, Work()) + most
        self.typical[name] = self.typical.get(name, Work()) + (most if typical is None else typical)
        self.networks += networks

    def runs(self, name: str, specs, fraction: float = 1.0):
        for spec in specs:
            self.add(name, *_run(spec, fraction), networks=1)


def _solve(n: float) -> Work:
    """A dense n x n solve (LU): 2/3 n^3."""
    return Work(2 / 3 * n ** 3, 1)


def _chapter1(cfg) -> _Parts:
    from . import data

    parts, base = _Parts(), cfg.run_spec()
    parts.runs("randomizations", [base.replace(randomization=k, seed=s)
                                  for k in data.RANDOMIZATIONS for s in cfg.seeds],
               TYPICAL["ch1-randomizations"])
    parts.runs("label corruption", [base.replace(randomization="random labels", p=p, seed=s)
                                    for s in cfg.seeds for p in cfg.p_grid],
               TYPICAL["ch1-label-corruption"])
    regular = dict(weight_decay=cfg.weight_decay, dropout=cfg.dropout, augment=cfg.augment)
    regimes = [regular, {}, dict(randomization="random labels"),
               dict(regular, randomization="random labels")]  # the table's four columns
    parts.runs("regularization table", [base.replace(architecture=m.architecture,
                                                     model_kwargs=m.kwargs, **r)
                                        for m in cfg.table_models for r in regimes],
               TYPICAL["ch1-regularization"])
    parts.runs("Rademacher fits", [base.replace(randomization="random signs",
                                                n_train=cfg.rademacher_n, seed=s)
                                   for s in range(cfg.rademacher_k)], TYPICAL["ch1-rademacher"])
    # the closed-form two-layer interpolant (an n x n solve) at expressivity_n and Exercise 4's
    # sizes, and the min-norm fit: solves of the Gram matrix, SGD of batch 10 on 10 outputs
    n_train = base.n_train or _DATA[base.dataset][2]
    sizes = [cfg.expressivity_n] + sorted({min(k, n_train) for k in (250, 1000, 4000)})
    closed = sum((_solve(n) for n in sizes), Work())
    closed += _solve(cfg.min_norm_n) + Work(2 * cfg.min_norm_n ** 2 * cfg.min_norm_features, 1)
    closed += Work(2 * 6 * 10 * 10 * cfg.min_norm_features * cfg.min_norm_steps, 2 * cfg.min_norm_steps)
    parts.add("closed-form constructions", closed)
    return parts


def _chapter2(cfg) -> _Parts:
    from .train import Pretrain

    parts, base = _Parts(), cfg.run_spec()
    specs = [base.replace(init_std=s) for s in cfg.init_stds]
    specs += [base.replace(init_std=cfg.pretrain_init_std,
                           pretrain=Pretrain(p=p, max_epochs=cfg.pretrain_epochs))
              for p in cfg.pretrain_ps]
    specs += [base.replace(init_std=cfg.pretrain_init_std, randomization="random labels")]
    specs += [base.replace(init_std=cfg.explorer_default_std, seed=s) for s in cfg.noise_seeds]
    parts.runs("runs to the target loss (init, pretraining, random labels, seeds)", specs,
               TYPICAL["ch2-runs"])
    return parts


def _chapter3(cfg) -> _Parts:
    parts = _Parts()
    net = _Net(cfg.architecture, cfg.model_kwargs, cfg.dataset, cfg.n_train, cfg.n_fresh)
    n, n_fresh, last = cfg.n_train, cfg.n_fresh, max(cfg.checkpoints)
    moments = lambda m: net.passes(m, GSNR_PASSES, math.ceil(m / 1024))  # chunks of 1024
    osgr = lambda pairs, m=cfg.osgr_n: net.passes(pairs * m, OSGR_PASSES, pairs)
    # the check against one backward pass per sample, and the OSGR draws at initialization
    parts.add("checks at initialization", net.passes(64, GSNR_PASSES + STEP_PASSES, 65)
              + moments(n_fresh) + osgr(10 * cfg.osgr_pairs) * 2)
    per_checkpoint = moments(n) + moments(n_fresh) + net.forward(2 * (n + n_fresh))
    for labels in ("true", "random"):
        for seed in cfg.seeds:
            work = net.train_steps(last, cfg.batch_size) + per_checkpoint * len(cfg.checkpoints)
            if labels == "true":  # OSGR at its checkpoints; the i.i.d. control on the first seed
                draws = len(cfg.osgr_checkpoints) * (2 if seed == cfg.seeds[0] else 1)
                work += osgr(cfg.osgr_pairs) * draws
            parts.add("trajectories (GSNR and OSGR through training)", work, networks=1)
    own = (net.train_steps(max(cfg.own_checkpoints), cfg.osgr_n)  # full-batch GD on its own D
           + (osgr(cfg.own_test_sets) + moments(n_fresh) + net.forward(cfg.osgr_n + n_fresh))
           * len(cfg.own_checkpoints))
    parts.add("networks on their own D", own * cfg.own_sets, networks=cfg.own_sets)
    for width in cfg.contrast_widths:
        mlp = _Net("mlp", {"hidden": [width]}, cfg.dataset, n, n_fresh)
        steps = max(cfg.contrast_checkpoints)
        data_run = (mlp.train_steps(steps, cfg.batch_size) + (mlp.forward(n)
                    + mlp.passes(n, GSNR_PASSES, math.ceil(n / 1024))) * len(cfg.contrast_checkpoints))
        toy = _toy_mlp(cfg.toy_d, width)
        steps = max(cfg.toy_checkpoints)
        toy_run = (Work(toy[1] * cfg.toy_n * steps, steps)
                   + Work(toy[0] * (1 + GSNR_PASSES) * cfg.toy_n, 2) * len(cfg.toy_checkpoints))
        # trained and frozen first layer (counted alike: a frozen layer saves one weight gradient)
        parts.add("two-layer contrasts (data and toy)", (data_run + toy_run) * (2 * len(cfg.seeds)),
                  networks=4 * len(cfg.seeds))
    parts.add("Exercise 1 (learning rates of the OSGR)", osgr(cfg.osgr_pairs) * 4 + moments(n))
    return parts


@functools.lru_cache(maxsize=64)
def _toy_mlp(d: int, width: int) -> tuple[float, float]:
    model = models.mlp(d, (width,), num_classes=1)
    mse = lambda out: F.mse_loss(out, torch.zeros_like(out))
    return forward_flop(model, 2) / 2, step_flop(model, 2, loss_fn=mse) / 2


def _chapter4(cfg) -> _Parts:
    parts = _Parts()
    distractors = round(cfg.batch_size * cfg.distractor_fraction / (1 - cfg.distractor_fraction))
    # ResNet-18 of the chapter is torchvision's with a CIFAR stem: helpers.models.resnet18 is the
    # same network (same layers and FLOPs) without torchvision
    net = _Net(cfg.architecture, cfg.model_kwargs, cfg.dataset, cfg.n_train, cfg.n_test)
    n, hess = cfg.n_train, cfg.hessian_samples
    # two-spirals toy: full-batch Adam on toy_n_train points (+ fresh distractors for the
    # poisoned run) for at most toy_steps, train (n) and test (2000) evaluated every 50 steps,
    # then the plane's 121 x 121 grid
    n_toy = cfg.toy_n_train
    toy = _Net("mlp", {"hidden": list(cfg.toy_hidden)}, ((2,), 2, n_toy, 2000))
    steps = cfg.toy_steps
    for batch in (n_toy, n_toy + cfg.toy_distractor_batch):
        parts.add("two-spirals toy", toy.train_steps(steps, batch) + toy.forward(n_toy + 2000) * (steps // 50)
                  + toy.forward(121 * 121), networks=1)
    # guess and check: every drawn network classifies gc_n_train points (one batched pass per
    # 10,000 draws); 2 x gc_seeds Adam runs of at most 2,000 full-batch steps, with distractors
    # (4 n) for half of them, each epoch evaluated on the n points and ~200 test points
    gc = _Net("mlp", {"hidden": list(cfg.gc_hidden)}, ((40,), 2, cfg.gc_n_train, 200))
    gc_work = Work(gc.fwd * cfg.gc_n_train * cfg.gc_samples, math.ceil(cfg.gc_samples / 10_000))
    for extra in (0, 4 * cfg.gc_n_train):
        gc_work += (gc.train_steps(2000, cfg.gc_n_train + extra) + gc.forward(cfg.gc_n_train + 200) * 2000) * cfg.gc_seeds
    parts.add("guess and check", gc_work, networks=2 * cfg.gc_seeds)
    parts.add("two-spirals toy", Work(sum(2 / 3 * cfg.toy_features ** 3 for _ in cfg.toy_bandwidths), 1))
    for beta in cfg.beta_grid:
        for seed in cfg.seeds:
            work = _fit(net, cfg.epochs, cfg.batch_size, extra_batch=distractors if beta else 0,
                        check_every=cfg.check_every)
            work += net.forward(n) * cfg.slice_points  # 1-D slice
            work += net.passes(hess, HVP_PASSES) * LANCZOS_ITERS  # top eigenvalue
            parts.add("poisoned minima (training, slice, top eigenvalue)", work, networks=1)
            if beta in (0.0, cfg.bad_beta):  # the two minima compared in full
                geometry = net.passes(hess, HVP_PASSES) * TRACE_ITERS
                geometry += net.forward(n) * (cfg.n_directions * BASIN_EVALS)
                if seed == cfg.seeds[0]:
                    geometry += net.forward(n) * cfg.grid_points ** 2  # 2-D slice
                parts.add("good and bad minima (trace, basin radii, 2-D slice)", geometry)
    # the minefield: one clean run, then a poisoned branch of fixed epochs from each checkpoint
    mine = _fit(net, cfg.epochs, cfg.batch_size, check_every=cfg.check_every)
    mine += _fit(net, cfg.minefield_poison_epochs, cfg.batch_size, extra_batch=distractors) * len(
        cfg.minefield_epochs)
    parts.add("minefield (clean run and poisoned branches)", mine,
              networks=1 + len(cfg.minefield_epochs))
    return parts


def _chapter5(cfg) -> _Parts:
    parts = _Parts()
    seen, settings_ = set(), cfg.zoo() + cfg.series()
    fraction = TYPICAL["ch5-networks"]
    for setting in settings_:
        spec = cfg.run_spec(setting)
        key = json.dumps(spec.to_dict(), sort_keys=True)
        if key in seen:  # zoo.analyze_networks trains each distinct point once
            continue
        seen.add(key)
        most, typical = _run(spec, fraction)
        # ESDs: analyze with its shuffled control (2), at init (1)
        spectra = _dist_net(spec).esd(3, cfg.min_evals)
        parts.add("zoo and architecture series (to the target, then ESDs)", most + spectra,
                  typical + spectra, networks=1)
    # Experiment 4b: the other batch sizes for as many steps as the base network took
    base = cfg.run_spec(cfg.base())
    net = _dist_net(base)
    base_steps = math.ceil(net.n_train / base.batch_size) * base.max_epochs
    for b in cfg.batch_sizes:
        if b == cfg.batch_size:
            continue
        epochs = max(1, round(base_steps / math.ceil(net.n_train / b)))
        work = lambda e: _fit(net, e, b) + net.esd(3, cfg.min_evals)
        parts.add("equal-steps batch-size runs", work(epochs), work(max(1, round(epochs * fraction))),
                  networks=1)
    return parts


def _chapter6(cfg) -> _Parts:
    parts = _Parts()
    s = cfg.settings()
    for point in cfg.points():
        spec = point["run"]
        most, typical = _run(spec, TYPICAL["ch6-zoo"])
        net, m = _dist_net(spec), s.measure_samples
        measures = net.forward(net.n_train) * 2  # normalized loss and the margin: the train set
        measures += net.passes(m, GSNR_PASSES, math.ceil(m / 1024))  # mean GSNR
        measures += net.passes(m, STEP_PASSES) + net.passes(m, HVP_PASSES) * LANCZOS_ITERS
        measures += net.forward(m) * (2 * PAC_BAYES_EVALS * s.sharpness_samples)  # two PAC-Bayes
        measures += net.passes(m, 2 * WORST_CASE_EVALS * (WORST_CASE_ASCENT * STEP_PASSES + 1),
                               2 * WORST_CASE_EVALS * WORST_CASE_ASCENT)  # two worst-case searches
        measures += net.forward(m) * (s.n_directions * BASIN_EVALS)  # basin radius
        measures += net.esd(1, s.min_evals)  # alpha-hat and log norm
        parts.add("zoo: training to the target", most, typical, networks=1)
        parts.add("zoo: the measures", measures)
    return parts


_CHAPTERS = {1: ("randomization_tests", _chapter1), 2: ("normalized_loss", _chapter2),
             3: ("gsnr_profile", _chapter3), 4: ("bad_minima", _chapter4),
             5: ("heavy_tails", _chapter5), 6: ("measure_zoo", _chapter6)}


# --- the estimate ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """The cost of one chapter at one scale (``estimate``). FLOP and steps are per part;
    ``flop``/``steps`` assume every run goes to its cap of epochs, the ``typical_`` ones that runs
    stop where the small runs stopped (module docstring)."""

    chapter: int
    scale: str
    networks: int                      # networks trained (a pretraining counts with its network)
    parts: dict = field(repr=False)    # part -> FLOP, at most
    typical_parts: dict = field(repr=False)  # part -> FLOP, typical
    steps: float = 0.0                 # sequential steps (training-step equivalents), at most
    typical_steps: float = 0.0

    @property
    def flop(self) -> float:
        return sum(self.parts.values())

    @property
    def typical_flop(self) -> float:
        return sum(self.typical_parts.values())

    def seconds(self, device: str | float = "T4", typical: bool = False) -> float:
        """Wall time on ``device`` ('T4', 'A100', 'H100': FLOP at UTILIZATION of the fp32 peak,
        plus STEP_SECONDS per step) or at a throughput in FLOP/s (a CPU: ``cpu_throughput()``)."""
        flop, steps = (self.typical_flop, self.typical_steps) if typical else (self.flop, self.steps)
        if isinstance(device, str):
            if device not in PEAK_FP32:
                raise ValueError(f"device must be one of {tuple(PEAK_FP32)} or a throughput in FLOP/s, "
                                 f"got {device!r}")
            return flop / (PEAK_FP32[device] * UTILIZATION) + steps * STEP_SECONDS
        if isinstance(device, bool) or not isinstance(device, (int, float)) or not device > 0:
            raise ValueError(f"device must be a device name or a positive throughput in FLOP/s, got {device!r}")
        return flop / device

    @property
    def hours(self) -> dict:
        """Hours on each GPU, at most."""
        return {d: self.seconds(d) / 3600 for d in PEAK_FP32}

    @property
    def typical_hours(self) -> dict:
        return {d: self.seconds(d, typical=True) / 3600 for d in PEAK_FP32}

    def summary(self) -> str:
        """One line: networks, FLOP, and time on a T4 and an H100, at most and typically."""
        most, typical = self.flop, self.typical_flop
        line = (f"{self.scale} scale: {self.networks} networks, at most {format_flop(most)}"
                + (f" (typically {format_flop(typical)})" if typical < 0.95 * most else "")
                + f"; at most {format_seconds(self.seconds('T4'))} on a T4, "
                f"{format_seconds(self.seconds('H100'))} on an H100")
        if typical < 0.95 * most:
            line += (f" (typically {format_seconds(self.seconds('T4', True))} and "
                     f"{format_seconds(self.seconds('H100', True))})")
        return line + f", at {UTILIZATION:.0%} of the fp32 peak"


def _check_chapter(chapter) -> int:
    if isinstance(chapter, bool) or chapter not in CHAPTERS:
        raise ValueError(f"chapter must be one of {CHAPTERS}, got {chapter!r}")
    return chapter


@functools.lru_cache(maxsize=64)
def _estimate(chapter: int, scale_name: str) -> Estimate:
    from . import scale as profiles

    getter, count = _CHAPTERS[chapter]
    with torch.random.fork_rng(devices=[]):
        parts = count(getattr(profiles, getter)(scale_name))
    return Estimate(chapter, scale_name, parts.networks,
                    {k: w.flop for k, w in parts.most.items()},
                    {k: w.flop for k, w in parts.typical.items()},
                    sum(w.steps for w in parts.most.values()),
                    sum(w.steps for w in parts.typical.values()))


def estimate(chapter: int, scale: str | None = None) -> Estimate:
    """The cost of ``chapter`` (1-6) at ``scale`` (default: ``$BOOK_SCALE`` or 'small')."""
    return _estimate(_check_chapter(chapter), settings.scale(scale))


def print_estimate(chapter: int, scale: str | None = None) -> Estimate:
    """Print the chapter's cost at ``scale`` (its setup cell does this) and return the estimate."""
    e = estimate(chapter, scale)
    print("estimated cost,", e.summary())
    return e


def format_flop(flop: float) -> str:
    """'3.2 TFLOP', '41 PFLOP', '0.12 EFLOP': decimal prefixes."""
    prefix, size = next(((p, v) for p, v in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9))
                         if flop >= v), ("M", 1e6))
    value = flop / size
    return f"{value:.2g} {prefix}FLOP" if value < 10 else f"{value:.0f} {prefix}FLOP"


def format_seconds(seconds: float) -> str:
    """'40 s', '12 min', '4.7 h'."""
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.2g} h" if seconds < 36000 else f"{seconds / 3600:.0f} h"


def cpu_throughput(size: int = 512, seconds: float = 0.5) -> float:
    """This CPU's float32 matmul throughput (FLOP/s) at torch's current thread count.

    Multiplies two ``size`` x ``size`` matrices (2 size^3 FLOP each) for about ``seconds``; the
    best of the timed batches. Small networks run below it, so CPU times from it are a floor.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(size, size, generator=g), torch.randn(size, size, generator=g)
    a @ b  # warm up
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * size ** 3 / (time.perf_counter() - start))
    return best


def markdown_table(scales=("tiny", "small", "paper", "paper-smoke"), cpu: float | None = None) -> str:
    """The README's table: chapter x scale -> FLOP and hours on a T4 and an H100 (at most)."""
    head = "| chapter | scale | networks | FLOP, at most (typical) | T4 | H100 |"
    rows = [head, "|---|---|---|---|---|---|"]
    if cpu:
        rows = [head[:-1] + " this CPU |", "|---|---|---|---|---|---|---|"]
    for chapter in CHAPTERS:
        for name in scales:
            e = estimate(chapter, name)
            flop = format_flop(e.flop) + (f" ({format_flop(e.typical_flop)})"
                                          if e.typical_flop < 0.95 * e.flop else "")
            row = (f"| {chapter} | `{name}` | {e.networks} | {flop} | "
                   f"{format_seconds(e.seconds('T4'))} | {format_seconds(e.seconds('H100'))} |")
            if cpu:
                row += f" {format_seconds(e.seconds(cpu, typical=True))} |"
            rows.append(row)
    return "\n".join(rows)


if __name__ == "__main__":  # python -m helpers.cost: the README's table
    torch.set_num_threads(settings.threads())
    print(markdown_table())
