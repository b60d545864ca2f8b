"""Model zoos: Chapter 6's models trained to one criterion and measured every way, Chapter 5's spectra.

A zoo model is a ``train.RunSpec`` (built by ``zoo_run`` from its hyperparameters); a sweep point
is ``{"run": spec, "settings": MeasureSettings(...)}``, and ``train_and_measure`` trains the spec
with ``train.run`` and takes every measure of ``MEASURES`` on the result. ``zoo_table`` turns
the sweep's results into one row per model. The ranking itself is in ``helpers.metrics.rank``.

**A measure is one declaration.** Each ``Measure`` carries its name, label, source, claimed
direction, family, axis scale and compute function; the chapter's tables, panels, ranking and
prose pick it up from ``MEASURES``. ``Measure.sign`` says which way it is claimed to predict:
+1 when a larger value should mean a larger generalization gap (a complexity, in Jiang et al.'s
terms), -1 when it should mean a smaller one (GSNR, basin radius). Ranking ``sign * value``
against the gap makes a positive Kendall tau mean "predicts as claimed".
"""
from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from . import models, train
from .metrics import esd, gsnr, landscape, norms, normalized
from .safety import model_device

FAMILIES = ("loss", "gradient noise", "flatness", "sharpness", "spectral", "norm", "margin",
            "capacity", "optimization")
HYPERPARAMETERS = ("depth", "width", "lr", "batch_size", "weight_decay")


@dataclass(frozen=True, kw_only=True)
class MeasureSettings:
    """How the measures of one zoo are taken (the profile's choices, part of every sweep point)."""

    measure_samples: int      # train samples for the Hessian, GSNR and perturbation measures
    sharpness_samples: int    # weight perturbations averaged per sigma (PAC-Bayes sharpness)
    n_directions: int         # random directions of the basin radius
    radius_threshold: float   # train cross-entropy (nats) that bounds the basin
    min_evals: int            # layers with fewer eigenvalues get no alpha (Ch. 5)
    # the measures taken, by name: part of the sweep key, so a newly declared measure is computed
    measures: tuple[str, ...] = field(default_factory=lambda: MEASURE_NAMES)

    def __post_init__(self):
        for name, low in (("measure_samples", 2), ("sharpness_samples", 1), ("n_directions", 1),
                          ("min_evals", 2)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                why = " (a variance needs two)" if name == "measure_samples" else ""
                raise ValueError(f"{name} must be an integer >= {low}{why}, got {value!r}")
        threshold = self.radius_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not (
                threshold > 0 and math.isfinite(threshold)):
            raise ValueError(f"radius_threshold must be a positive finite number (nats), got {threshold!r}")
        if isinstance(self.measures, str):
            raise TypeError(f"measures must be a tuple of names, got the string {self.measures!r}")
        object.__setattr__(self, "measures", tuple(self.measures))
        unknown = set(self.measures) - set(MEASURE_NAMES)
        if unknown:
            raise ValueError(f"measures must be names from zoo.MEASURES {MEASURE_NAMES}, got {sorted(unknown)}")

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> "MeasureSettings":
        return cls(**d)


@dataclass
class MeasureContext:
    """What a measure's compute function sees: the trained model, its data and the settings."""

    run: train.Run
    settings: MeasureSettings

    @property
    def model(self) -> nn.Module:
        return self.run.model

    @property
    def seed(self) -> int:
        return self.run.spec.seed

    @functools.cached_property
    def x(self) -> torch.Tensor:  # the whole train set, as trained on (noisy labels included)
        return self.run.data.x_train.to(model_device(self.model))

    @functools.cached_property
    def y(self) -> torch.Tensor:
        return self.run.data.y_train.to(self.x.device)

    @property
    def xm(self) -> torch.Tensor:  # the first measure_samples of them: Hessian, GSNR, perturbations
        return self.x[:self.settings.measure_samples]

    @property
    def ym(self) -> torch.Tensor:
        return self.y[:self.settings.measure_samples]

    @functools.cached_property
    def init(self) -> nn.Module:
        return self.run.initial_model()

    @functools.cached_property
    def margin(self) -> float:  # Jiang et al.'s output margin: the 10th percentile on the train set
        return norms.output_margin(self.model, self.x, self.y, quantile=0.1)

    @functools.cached_property
    def esd_summary(self) -> dict:  # one ESD analysis serves alpha_hat and log_norm
        return esd.summary(esd.analyze(self.model, min_evals=self.settings.min_evals, controls=False))


@dataclass(frozen=True, kw_only=True)
class Measure:
    """One generalization measure of the zoo, the claim it comes with, and how to compute it."""

    name: str          # column of zoo_table
    label: str         # short label for tables and plots
    source: str        # where it comes from: the book's chapter or the baseline's paper
    sign: int          # +1: larger should mean a larger gap; -1: larger should mean a smaller gap
    family: str        # one of FAMILIES
    axis: str          # 'log' or 'linear': how its panel's x axis is drawn
    description: str   # how it is computed here
    compute: Callable[[MeasureContext], float | tuple] = field(repr=False)  # value or (value, details)

    def __post_init__(self):
        if self.sign not in (-1, 1):
            raise ValueError(f"sign must be +1 or -1, got {self.sign!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        if self.axis not in ("log", "linear"):
            raise ValueError(f"axis must be 'log' or 'linear', got {self.axis!r}")


# --- how each measure's result becomes (value, details) ---------------------------------------

def _eigenvalue(out: landscape.PowerIteration):
    return out.eigenvalue, {"hessian_converged": out.converged}


def _inverse_square(name: str, scale: float, capped: bool):
    return 1 / scale ** 2, {f"{name}_capped": capped}


def _pac_bayes(c: MeasureContext, name: str, magnitude_aware: bool):
    out = landscape.pac_bayes_sigma(c.model, c.xm, c.ym, n_samples=c.settings.sharpness_samples,
                                    magnitude_aware=magnitude_aware, seed=c.seed)
    return _inverse_square(name, out.sigma, out.capped)


def _worst_case(c: MeasureContext, name: str, magnitude_aware: bool):
    out = landscape.worst_case_alpha(c.model, c.xm, c.ym, magnitude_aware=magnitude_aware, seed=c.seed)
    return _inverse_square(name, out.alpha, out.capped)


def _basin_radius(c: MeasureContext):
    out = landscape.basin_radius(c.model, c.xm, c.ym, threshold=c.settings.radius_threshold,
                                 n_directions=c.settings.n_directions, seed=c.seed)
    return float(np.mean(out.radii)), {"basin_radii_capped": int(np.sum(out.radii >= out.max_radius))}


def _steps_to(c: MeasureContext, target: float):
    """SGD steps until the train cross-entropy first read <= ``target`` (checked at the end of
    each epoch, so the count is rounded up to an epoch)."""
    h = c.run.history
    for loss, steps in zip(h.train_loss, h.steps):
        if loss <= target:
            return steps
    raise ValueError(f"the train cross-entropy never reached {target} (lowest {min(h.train_loss):.4g}): "
                     "this measure is defined only for models trained past it")


MARGIN_FLOOR = 1e-6  # the margin used where the 10th percentile is not positive


def _positive_margin(c: MeasureContext) -> float:
    """The 10th-percentile margin, floored at ``MARGIN_FLOOR``.

    It is positive for every model trained to a small train loss (it classifies more than 90% of
    its train set correctly); under a loose target (the tests, ``paper-smoke``) it need not be,
    and the floor then gives such a model the largest complexity, tied with the others below
    it: the order a worse margin should have, without a log of a negative number.
    """
    return max(c.margin, MARGIN_FLOOR)


def _margin_measure(c: MeasureContext, value: float):
    return value, {"margin_floored": bool(c.margin < MARGIN_FLOOR)}


def _over_margin(c: MeasureContext, log_norm_product: float):
    """log(prod of squared norms / margin^2): Jiang et al.'s norm-over-margin measures."""
    return _margin_measure(c, log_norm_product - 2 * math.log(_positive_margin(c)))


def _alpha_hat(c: MeasureContext):
    return c.esd_summary["alpha_hat"], {"esd_layers": c.esd_summary["num_layers"]}


MEASURES = (
    Measure(name="normalized_train_loss", label="normalized train loss", source="Ch. 2 (Liao et al. 2018)",
            sign=+1, family="loss", axis="linear",
            description="cross-entropy of the network with each layer divided by its Frobenius norm, on the train set",
            compute=lambda c: normalized.normalized_cross_entropy(c.model, c.x, c.y)),
    Measure(name="mean_gsnr", label="mean GSNR", source="Ch. 3 (Liu et al. 2020)", sign=-1,
            family="gradient noise", axis="log",
            description="mean over parameters of mean^2 / variance of the per-sample gradients, end of training",
            compute=lambda c: gsnr.mean_gsnr(gsnr.gradient_moments(c.model, F.cross_entropy, c.xm, c.ym))),
    Measure(name="hessian_top_eigenvalue", label="top Hessian eigenvalue", source="Ch. 4 (Keskar et al. 2017)",
            sign=+1, family="flatness", axis="log",
            description="largest eigenvalue of the train loss's Hessian, by Lanczos iteration",
            compute=lambda c: _eigenvalue(landscape.top_hessian_eigenvalue(c.model, None, c.xm, c.ym, seed=c.seed))),
    Measure(name="pac_bayes_sharpness", label="PAC-Bayes sharpness", source="Ch. 6 (Jiang et al. 2020)",
            sign=+1, family="sharpness", axis="log",
            description="1 / sigma'^2, sigma' the largest N(0, sigma^2) weight noise raising the train error by <= 0.1",
            compute=lambda c: _pac_bayes(c, "pac_bayes_sharpness", magnitude_aware=False)),
    Measure(name="pac_bayes_mag_sharpness", label="magnitude-aware PAC-Bayes sharpness",
            source="Ch. 6 (Jiang et al. 2020)", sign=+1, family="sharpness", axis="log",
            description="as above with noise variance sigma^2 w_i^2 + 1e-3^2 per weight (noise relative to the weight)",
            compute=lambda c: _pac_bayes(c, "pac_bayes_mag_sharpness", magnitude_aware=True)),
    Measure(name="worst_case_sharpness", label="worst-case sharpness",
            source="Ch. 6 (Keskar et al. 2017; Jiang et al. 2020)", sign=+1, family="sharpness", axis="linear",
            description="1 / alpha'^2, alpha' the largest box |u_i| <= alpha whose worst perturbation "
                        "(gradient ascent) raises the train error by <= 0.1",
            compute=lambda c: _worst_case(c, "worst_case_sharpness", magnitude_aware=False)),
    Measure(name="worst_case_mag_sharpness", label="magnitude-aware worst-case sharpness",
            source="Ch. 6 (after Jiang et al. 2020)", sign=+1, family="sharpness", axis="linear",
            description="as above with the box |u_i| <= alpha (|w_i| + 1e-3), relative to each weight",
            compute=lambda c: _worst_case(c, "worst_case_mag_sharpness", magnitude_aware=True)),
    Measure(name="basin_radius", label="mean basin radius", source="Ch. 4 (Huang et al. 2019)", sign=-1,
            family="flatness", axis="linear",
            description="mean distance along filter-normalized random directions until the train loss exceeds a threshold",
            compute=_basin_radius),
    Measure(name="alpha_hat", label="weighted alpha α̂", source="Ch. 5 (Martin & Mahoney 2019)", sign=+1,
            family="spectral", axis="linear",
            description="mean of alpha * log10 lambda_max over the layers with enough eigenvalues for a fit (Ch. 5)",
            compute=_alpha_hat),
    Measure(name="log_norm", label="mean log Frobenius norm", source="Ch. 5 (Martin & Mahoney 2019)", sign=+1,
            family="norm", axis="linear",
            description="mean of log10 ||W||_F^2 over the same layers (weightwatcher's log_norm; "
                        "from the same ESD analysis as alpha-hat)",
            compute=lambda c: c.esd_summary["log_norm"]),
    Measure(name="num_parameters", label="parameter count", source="baseline (classical capacity)", sign=+1,
            family="capacity", axis="log", description="number of trainable parameters",
            compute=lambda c: models.num_parameters(c.model)),
    Measure(name="distance_from_init", label="distance from init", source="baseline (Nagarajan & Kolter 2019)",
            sign=+1, family="norm", axis="linear", description="||w - w_0||_2 over all parameters",
            compute=lambda c: norms.distance_from_init(c.model, c.init)),
    Measure(name="log_spectral_norm_product", label="log spectral-norm product",
            source="baseline (Bartlett et al. 2017)", sign=+1, family="norm", axis="linear",
            description="sum over layers of log ||W_l||_2^2",
            compute=lambda c: norms.log_spectral_norm_product(c.model)),
    Measure(name="log_path_norm", label="log path norm", source="baseline (Neyshabur et al. 2015)", sign=+1,
            family="norm", axis="linear",
            description="log of the sum over input-output paths of the product of the squared weights",
            compute=lambda c: norms.log_path_norm(c.model)),
    Measure(name="inverse_margin", label="1 / margin²", source="Jiang et al. 2020", sign=+1,
            family="margin", axis="log",
            description="1 / gamma^2, gamma the 10th percentile over the train set of the true class's "
                        "logit minus the largest other logit",
            compute=lambda c: _margin_measure(c, 1 / _positive_margin(c) ** 2)),
    Measure(name="log_spectral_over_margin", label="log spectral product / margin²",
            source="Jiang et al. 2020 (after Bartlett et al. 2017)", sign=+1, family="norm", axis="linear",
            description="log of prod_l ||W_l||_2^2 / gamma^2 (gamma as in 1 / margin²)",
            compute=lambda c: _over_margin(c, norms.log_spectral_norm_product(c.model))),
    Measure(name="log_frobenius_over_margin", label="log Frobenius product / margin²",
            source="Jiang et al. 2020", sign=+1, family="norm", axis="linear",
            description="log of prod_l ||W_l||_F^2 / gamma^2 (gamma as in 1 / margin²)",
            compute=lambda c: _over_margin(c, norms.log_frobenius_norm_product(c.model))),
    Measure(name="steps_to_loss_0.1", label="steps to cross-entropy 0.1", source="Jiang et al. 2020",
            sign=+1, family="optimization", axis="log",
            description="SGD steps until the train cross-entropy first reads <= 0.1 (checked each epoch; "
                        "under a target looser than 0.1, as in the tests, the steps to the target)",
            compute=lambda c: _steps_to(c, max(0.1, c.run.spec.target_train_loss))),
    Measure(name="steps_to_target", label="steps to the target loss", source="Jiang et al. 2020",
            sign=+1, family="optimization", axis="log",
            description="SGD steps until the train cross-entropy reaches the zoo's target (0.01 at small "
                        "and paper scale; checked each epoch)",
            compute=lambda c: _steps_to(c, c.run.spec.target_train_loss)),
)
MEASURE_NAMES = tuple(m.name for m in MEASURES)


def family(name: str, measures=MEASURES) -> list[str]:
    """The names of the measures of one family, in declaration order."""
    if name not in FAMILIES:
        raise ValueError(f"name must be one of {FAMILIES}, got {name!r}")
    return [m.name for m in measures if m.family == name]


# --- the zoo's models -----------------------------------------------------------------------

def model_kwargs(architecture: str, depth: int, width: int) -> dict:
    """The builder's arguments of a zoo model: ``depth`` hidden layers (or conv blocks) of ``width``.

    Only the first layer has a bias, so that the normalized loss of Ch. 2 is defined.
    """
    if not (isinstance(depth, int) and depth >= 1 and isinstance(width, int) and width >= 1):
        raise ValueError(f"depth and width must be positive integers, got {depth!r}, {width!r}")
    if architecture == "mlp":
        return {"hidden": [width] * depth, "bias": "first"}
    if architecture == "convnet":
        return {"channels": [width] * depth, "hidden": [4 * width], "bias": "first"}
    raise ValueError(f"architecture must be 'mlp' or 'convnet' for the zoo, got {architecture!r}")


def zoo_run(*, dataset: str, n_train: int | None, n_test: int | None, architecture: str, depth: int,
            width: int, lr: float, batch_size: int, weight_decay: float, max_epochs: int,
            target_train_loss: float, label_noise: float = 0.0, seed: int = 0) -> train.RunSpec:
    """The run of one zoo model: SGD (momentum 0.9, constant ``lr``) until the train cross-entropy
    reaches ``target_train_loss``, at most ``max_epochs`` epochs (Jiang et al. 2020).

    ``label_noise`` > 0 redraws that fraction of the training labels at random (Ch. 1).
    """
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must lie in [0, 1], got {label_noise!r}")
    noisy = {"randomization": "random labels", "p": label_noise} if label_noise > 0 else {}
    return train.RunSpec(dataset=dataset, n_train=n_train, n_test=n_test, architecture=architecture,
                         model_kwargs=model_kwargs(architecture, depth, width), lr=lr, batch_size=batch_size,
                         weight_decay=weight_decay, max_epochs=max_epochs, target_train_acc=None,
                         target_train_loss=target_train_loss, seed=seed, **noisy)


def hyperparameters(spec: train.RunSpec) -> dict:
    """A zoo model's hyperparameters read back from its spec (the inverse of ``zoo_run``)."""
    layers = spec.model_kwargs.get("hidden" if spec.architecture == "mlp" else "channels", [])
    label_noise = spec.p if spec.randomization == "random labels" else 0.0
    return {"depth": len(layers), "width": layers[0] if layers else 0, "lr": spec.lr,
            "batch_size": spec.batch_size, "weight_decay": spec.weight_decay,
            "label_noise": label_noise, "seed": spec.seed}


def measure_model(run: train.Run, settings: MeasureSettings, measures=MEASURES) -> tuple[dict, dict, dict]:
    """Every measure of ``measures`` on a finished ``run``; returns (values, seconds, details).

    The normalized loss uses the whole train set as trained on; the Hessian, GSNR and the
    perturbation measures use its first ``settings.measure_samples`` samples.
    """
    context = MeasureContext(run, settings)
    values, seconds, details = {}, {}, {}
    for m in measures:
        start = time.perf_counter()
        out = m.compute(context)
        seconds[m.name] = time.perf_counter() - start
        value, detail = out if isinstance(out, tuple) else (out, {})
        values[m.name] = float(value)
        details.update(detail)
    return values, seconds, details


@dataclass
class MeasuredModel(train.RunRecord):
    """A zoo model as the sweep caches it: its run record, whether it reached the target, and
    the measures (empty when it did not), with their seconds and details."""

    reached: bool = False
    measures: dict = field(default_factory=dict)          # measure name -> value
    measure_seconds: dict = field(default_factory=dict)   # measure name -> seconds
    details: dict = field(default_factory=dict)           # how the measures ended (caps, convergence)

    def to_dict(self) -> dict:
        return dict(super().to_dict(), reached=self.reached, measures=self.measures,
                    measure_seconds=self.measure_seconds, details=self.details)

    @classmethod
    def from_dict(cls, d: dict) -> "MeasuredModel":
        base = train.RunRecord.from_dict(d)
        return cls(base.history, base.num_parameters, base.pretrain_history, reached=d["reached"],
                   measures=d["measures"], measure_seconds=d["measure_seconds"], details=d["details"])


def train_and_measure(*, run: train.RunSpec, settings: MeasureSettings, measures=None) -> MeasuredModel:
    """One model of the zoo: train ``run``, then take the measures ``settings.measures`` on it.

    ``measures`` (``Measure`` objects) replaces them, for a measure of your own outside a sweep:
    a sweep's cache key holds the settings, not the objects.

    A model that does not reach its target train loss is not measured (``reached`` False), as in
    Jiang et al. 2020, who compare only models trained to the same train loss.
    """
    if not isinstance(run, train.RunSpec):
        raise TypeError(f"run must be a helpers.train.RunSpec, got {type(run).__name__}")
    if not isinstance(settings, MeasureSettings):
        raise TypeError(f"settings must be a helpers.zoo.MeasureSettings, got {type(settings).__name__}")
    if measures is None:
        measures = [m for m in MEASURES if m.name in settings.measures]
    finished = train.run(run)
    record = finished.record()
    result = MeasuredModel(record.history, record.num_parameters, record.pretrain_history,
                           reached=finished.history.stop_reason == "target_loss")
    if result.reached:
        result.measures, result.measure_seconds, result.details = measure_model(
            finished, settings, measures)
    return result


@dataclass
class Spectra(train.RunRecord):
    """A Chapter 5 model as the sweep caches it: its run record, whether it reached its target
    train loss, and its weights' spectra after training and at initialization (all empty when
    training diverged)."""

    esd: list = field(default_factory=list)             # one record per analyzed layer (esd.analyze)
    esd_summary: dict = field(default_factory=dict)     # alpha-hat and the other model-level means
    eigenvalues: dict = field(default_factory=dict)     # layer name -> its ESD
    esd_init: list = field(default_factory=list)        # esd.analyze of it untrained (no controls)
    reached: bool = False                               # stopped at its target train loss

    def to_dict(self) -> dict:
        return dict(super().to_dict(), esd=self.esd, esd_summary=self.esd_summary,
                    eigenvalues=self.eigenvalues, esd_init=self.esd_init, reached=self.reached)

    @classmethod
    def from_dict(cls, d: dict) -> "Spectra":
        base = train.RunRecord.from_dict(d)
        return cls(base.history, base.num_parameters, base.pretrain_history, esd=d["esd"],
                   esd_summary=d["esd_summary"], eigenvalues=d["eigenvalues"],
                   esd_init=d.get("esd_init", []), reached=d.get("reached", False))


def train_and_analyze(*, run: train.RunSpec, min_evals: int) -> Spectra:
    """One network of Chapter 5: train ``run``, then analyze the spectra of its weights, trained
    and as initialized (phases and shuffled controls included, ``esd.analyze``).

    The ESD analysis (``helpers.metrics.esd``) uses the weights only; layers with fewer than
    ``min_evals`` eigenvalues are skipped. ``reached`` says whether the run stopped at its target
    train loss (always False for a run without one).
    """
    finished = train.run(run)
    record = finished.record()
    result = Spectra(record.history, record.num_parameters, record.pretrain_history,
                     reached=finished.history.stop_reason == "target_loss")
    if not finished.history.diverged:
        layers, eigenvalues = esd.analyze_with_eigenvalues(finished.model, min_evals=min_evals)
        result.esd, result.esd_summary = layers.to_dict("records"), esd.summary(layers)
        result.eigenvalues = {k: v.tolist() for k, v in eigenvalues.items()}
        # an untrained layer's entries are iid already: its shuffled control would be the same
        init = esd.analyze(finished.initial_model(), min_evals=min_evals, controls=False)
        result.esd_init = init.to_dict("records")
    return result


def _cost(point: dict) -> int:
    """A network's weights, from its spec's widths: a proxy of its training time."""
    kwargs, spec = point["run"].model_kwargs, point["run"]
    widths = list(kwargs.get("channels", [])) + list(kwargs.get("hidden", []))
    return sum(a * b for a, b in zip(widths, widths[1:])) + spec.max_epochs


def analyze_networks(points: list[dict], name: str, version: str = "", n_jobs: int = 1) -> list[Spectra]:
    """``train_and_analyze`` at every point (Chapter 5), each distinct point once, the largest
    networks first (so that a parallel sweep ends together); results in the order of ``points``."""
    from . import sweep

    keys = [json.dumps({k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in p.items()},
                       sort_keys=True) for p in points]
    distinct = sorted(dict(zip(keys, points)).items(), key=lambda kv: -_cost(kv[1]))
    results = sweep.run_sweep(train_and_analyze, [p for _, p in distinct], name=name,
                              version=version, n_jobs=n_jobs)
    by_key = {k: r for (k, _), r in zip(distinct, results)}
    return [by_key[k] for k in keys]


def zoo_table(points: list[dict], results: list[MeasuredModel], measures=MEASURES) -> pd.DataFrame:
    """One row per model: its hyperparameters, training outcome, gap and every measure.

    ``gap`` is train accuracy minus test accuracy at the end of training (train accuracy on the
    labels trained on, noisy ones included). Models that did not reach the criterion keep their
    row (``reached`` False) with NaN measures; a measure that came out NaN or infinite on a
    model that did is an error, raised here rather than ranked.
    """
    if len(points) != len(results):
        raise ValueError(f"points and results must match, got {len(points)} and {len(results)}")
    rows = []
    for point, result in zip(points, results):
        h = result.history
        last = lambda values: values[-1] if values else math.nan
        row = hyperparameters(point["run"])
        row.update(reached=result.reached, stop_reason=h.stop_reason, epochs=h.epochs,
                   train_loss=last(h.train_loss), train_acc=last(h.train_acc),
                   test_acc=last(h.test_acc), train_seconds=h.seconds,
                   measure_seconds=sum(result.measure_seconds.values()))
        row["gap"] = row["train_acc"] - row["test_acc"]
        for m in measures:
            value = result.measures.get(m.name, math.nan)
            if result.reached and not math.isfinite(value):
                raise ValueError(f"measure {m.name} is {value} on the model {row}: fix it before ranking")
            row[m.name] = value
        rows.append(row)
    return pd.DataFrame(rows)
