"""Chapter 6's model zoo: models trained to one stopping criterion, each measured every way.

``train_and_measure`` is one point of the zoo's sweep (``helpers.sweep.run_sweep``): build and
train the model, then take every measure in ``MEASURES`` on the trained network. ``zoo_table``
turns the sweep's results into one row per model. The ranking itself is in
``helpers.metrics.rank``.

Each measure is stored as its paper defines it; ``Measure.sign`` says which way it is claimed
to predict: +1 when a larger value should mean a larger generalization gap (a complexity, in
Jiang et al.'s terms), -1 when it should mean a smaller one (GSNR, basin radius). Ranking
``sign * value`` against the gap makes a positive Kendall tau mean "predicts as claimed".
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from . import models, train
from .data import randomize
from .metrics import esd, gsnr, landscape, norms, normalized


@dataclass(frozen=True)
class Measure:
    """One generalization measure of the zoo and the claim it comes with."""

    name: str         # column of zoo_table
    label: str        # short label for tables and plots
    source: str       # where it comes from: the book's chapter or the baseline's paper
    sign: int         # +1: larger should mean a larger gap; -1: larger should mean a smaller gap
    description: str  # how it is computed here


MEASURES = (
    Measure("normalized_train_loss", "normalized train loss", "Ch. 2 (Liao et al. 2018)", +1,
            "cross-entropy of the network with each layer divided by its Frobenius norm, on the train set"),
    Measure("mean_gsnr", "mean GSNR", "Ch. 3 (Liu et al. 2020)", -1,
            "mean over parameters of mean^2 / variance of the per-sample gradients, end of training"),
    Measure("hessian_top_eigenvalue", "top Hessian eigenvalue", "Ch. 4 (Keskar et al. 2017)", +1,
            "largest eigenvalue of the train loss's Hessian, by power iteration"),
    Measure("pac_bayes_sharpness", "PAC-Bayes sharpness", "Ch. 6 (Jiang et al. 2020)", +1,
            "1 / sigma'^2, sigma' the largest N(0, sigma^2) weight noise raising the train error by <= 0.1"),
    Measure("pac_bayes_mag_sharpness", "magnitude-aware PAC-Bayes sharpness", "Ch. 6 (Jiang et al. 2020)", +1,
            "as above with noise variance sigma^2 w_i^2 + 1e-3^2 per weight (noise relative to the weight)"),
    Measure("worst_case_sharpness", "worst-case sharpness", "Ch. 6 (Keskar et al. 2017; Jiang et al. 2020)", +1,
            "1 / alpha'^2, alpha' the largest box |u_i| <= alpha whose worst perturbation (gradient ascent) "
            "raises the train error by <= 0.1"),
    Measure("worst_case_mag_sharpness", "magnitude-aware worst-case sharpness", "Ch. 6 (after Jiang et al. 2020)", +1,
            "as above with the box |u_i| <= alpha (|w_i| + 1e-3), relative to each weight"),
    Measure("basin_radius", "basin radius", "Ch. 4 (Huang et al. 2019)", -1,
            "mean distance along filter-normalized random directions until the train loss exceeds a threshold"),
    Measure("alpha_hat", "weighted alpha α̂", "Ch. 5 (Martin & Mahoney 2019)", +1,
            "mean of alpha * log10 lambda_max over the layers with enough eigenvalues for a fit (Ch. 5)"),
    Measure("log_norm", "log Frobenius norm", "Ch. 5 (Martin & Mahoney 2019)", +1,
            "mean of log10 ||W||_F^2 over the same layers (weightwatcher's log_norm)"),
    Measure("num_parameters", "parameter count", "baseline (classical capacity)", +1,
            "number of trainable parameters"),
    Measure("distance_from_init", "distance from init", "baseline (Nagarajan & Kolter 2019)", +1,
            "||w - w_0||_2 over all parameters"),
    Measure("log_spectral_norm_product", "log spectral-norm product", "baseline (Bartlett et al. 2017)", +1,
            "sum over layers of log ||W_l||_2^2"),
    Measure("log_path_norm", "log path norm", "baseline (Neyshabur et al. 2015)", +1,
            "log of the sum over input-output paths of the product of the squared weights"),
)
MEASURE_NAMES = tuple(m.name for m in MEASURES)
HYPERPARAMETERS = ("depth", "width", "lr", "batch_size", "weight_decay")


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


def measure_model(model, init, x, y, *, measure_samples: int, sharpness_samples: int,
                  n_directions: int, radius_threshold: float, min_evals: int, seed: int = 0) -> tuple[dict, dict, dict]:
    """Every measure of ``MEASURES`` on a trained ``model`` (``init``: the same model untrained).

    The normalized loss uses the whole train set (x, y); the Hessian, GSNR and the perturbation
    measures use its first ``measure_samples`` samples. Returns (values, seconds, details).
    """
    xm, ym = x[:measure_samples], y[:measure_samples]
    steps = {
        "normalized_train_loss": lambda: normalized.normalized_cross_entropy(model, x, y),
        "mean_gsnr": lambda: gsnr.mean_gsnr(gsnr.gradient_moments(model, F.cross_entropy, xm, ym)),
        "hessian_top_eigenvalue": lambda: landscape.top_hessian_eigenvalue(model, None, xm, ym, seed=seed),
        "pac_bayes_sharpness": lambda: landscape.pac_bayes_sigma(model, xm, ym, n_samples=sharpness_samples, seed=seed),
        "pac_bayes_mag_sharpness": lambda: landscape.pac_bayes_sigma(
            model, xm, ym, n_samples=sharpness_samples, magnitude_aware=True, seed=seed),
        "worst_case_sharpness": lambda: landscape.worst_case_alpha(model, xm, ym, seed=seed),
        "worst_case_mag_sharpness": lambda: landscape.worst_case_alpha(model, xm, ym, magnitude_aware=True, seed=seed),
        "basin_radius": lambda: landscape.basin_radius(model, xm, ym, threshold=radius_threshold,
                                                      n_directions=n_directions, seed=seed),
        "alpha_hat": lambda: esd.summary(esd.analyze(model, min_evals=min_evals)),
        "num_parameters": lambda: models.num_parameters(model),
        "distance_from_init": lambda: norms.distance_from_init(model, init),
        "log_spectral_norm_product": lambda: norms.log_spectral_norm_product(model),
        "log_path_norm": lambda: norms.log_path_norm(model),
    }
    values, seconds, details = {}, {}, {}
    for name, step in steps.items():
        start = time.perf_counter()
        value, detail = _as_measure(name, step())
        seconds[name] = time.perf_counter() - start
        values.update(value)
        details.update(detail)
    return values, seconds, details


def _as_measure(name: str, out) -> tuple[dict, dict]:
    """A step's result as ({measure: value}, {detail: value}), by the type of result it is."""
    if isinstance(out, landscape.PowerIteration):
        return {name: out.eigenvalue}, {"hessian_converged": out.converged}
    if isinstance(out, landscape.PacBayesSigma):
        return {name: 1 / out.sigma ** 2}, {f"{name}_capped": out.capped}
    if isinstance(out, landscape.WorstCaseAlpha):
        return {name: 1 / out.alpha ** 2}, {f"{name}_capped": out.capped}
    if isinstance(out, landscape.BasinRadii):
        return {name: float(np.mean(out.radii))}, {"basin_radii_capped": int(np.sum(out.radii >= out.max_radius))}
    if isinstance(out, dict):  # esd.summary: one analysis, two measures
        return {"alpha_hat": out["alpha_hat"], "log_norm": out["log_norm"]}, {"esd_layers": out["num_layers"]}
    return {name: float(out)}, {}


def trained_model(*, dataset: str, n_train: int | None, n_test: int | None, architecture: str, depth: int,
                  width: int, lr: float, batch_size: int, weight_decay: float, max_epochs: int,
                  target_train_loss: float, label_noise: float = 0.0, seed: int = 0, data_seed: int = 42,
                  **measure_settings) -> tuple:
    """Train one zoo model as ``train_and_measure`` does and return ``(model, result)``.

    Takes a zoo point as it is (the measurement settings are accepted and ignored), so that
    ``trained_model(**point)`` rebuilds any model of the zoo, for example to try a new measure.
    ``label_noise`` > 0 redraws that fraction of the training labels at random (Ch. 1).
    """
    kwargs = model_kwargs(architecture, depth, width)
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must lie in [0, 1], got {label_noise!r}")
    noisy = {"randomization": "random labels", "p": label_noise} if label_noise > 0 else {}
    return train._train_model(
        dataset=dataset, n_train=n_train, n_test=n_test, architecture=architecture, model_kwargs=kwargs,
        lr=lr, batch_size=batch_size, max_epochs=max_epochs, weight_decay=weight_decay,
        target_train_acc=None, target_train_loss=target_train_loss, seed=seed, data_seed=data_seed, **noisy)


def train_and_measure(*, dataset: str, n_train: int | None, n_test: int | None, architecture: str,
                      depth: int, width: int, lr: float, batch_size: int, weight_decay: float,
                      max_epochs: int, target_train_loss: float, measure_samples: int,
                      sharpness_samples: int, n_directions: int, radius_threshold: float,
                      min_evals: int, label_noise: float = 0.0, seed: int = 0, data_seed: int = 42) -> dict:
    """One model of the zoo: train to ``target_train_loss`` (train cross-entropy), then measure it.

    SGD with momentum 0.9, constant ``lr``, at most ``max_epochs`` epochs. A model that does not
    reach the criterion is not measured (``reached`` False), as in Jiang et al. 2020, who
    compare only models trained to the same train loss. The measures that use data see the
    training set as trained on (with its noisy labels, if any). Returns a JSON-serializable
    dict with ``history``, ``num_parameters``, ``reached``, ``measures``, ``measure_seconds``
    and ``details``.
    """
    model, result = trained_model(
        dataset=dataset, n_train=n_train, n_test=n_test, architecture=architecture, depth=depth, width=width,
        lr=lr, batch_size=batch_size, weight_decay=weight_decay, max_epochs=max_epochs,
        target_train_loss=target_train_loss, label_noise=label_noise, seed=seed, data_seed=data_seed)
    result.update(reached=result["history"]["stop_reason"] == "target_loss", measures={},
                  measure_seconds={}, details={})
    if result["reached"]:
        clean = train._cached_dataset(dataset, n_train, n_test, data_seed)
        data = randomize(clean, "random labels", p=label_noise, seed=seed) if label_noise > 0 else clean
        device = next(model.parameters()).device
        init = models.build(architecture, data.input_shape, data.num_classes, seed=seed,
                            **model_kwargs(architecture, depth, width)).to(device)
        values, seconds, details = measure_model(
            model, init, data.x_train.to(device), data.y_train.to(device), measure_samples=measure_samples,
            sharpness_samples=sharpness_samples, n_directions=n_directions,
            radius_threshold=radius_threshold, min_evals=min_evals, seed=seed)
        result.update(measures=values, measure_seconds=seconds, details=details)
    return result


def zoo_table(points: list[dict], results: list[dict]) -> pd.DataFrame:
    """One row per model: its hyperparameters, training outcome, gap and every measure.

    ``gap`` is train accuracy minus test accuracy at the end of training (train accuracy on the
    labels trained on, noisy ones included). Models that did not
    reach the criterion keep their row (``reached`` False) with NaN measures; a measure that
    came out NaN or infinite on a model that did is an error, raised here rather than ranked.
    """
    if len(points) != len(results):
        raise ValueError(f"points and results must match, got {len(points)} and {len(results)}")
    rows = []
    for point, result in zip(points, results):
        h = result["history"]
        row = {k: point[k] for k in HYPERPARAMETERS}
        row.update(label_noise=point.get("label_noise", 0.0), seed=point.get("seed", 0))
        row.update(reached=result["reached"], stop_reason=h["stop_reason"], epochs=len(h["train_loss"]),
                   train_loss=h["train_loss"][-1] if h["train_loss"] else math.nan,
                   train_acc=h["train_acc"][-1] if h["train_acc"] else math.nan,
                   test_acc=h["test_acc"][-1] if h["test_acc"] else math.nan,
                   train_seconds=h["seconds"], measure_seconds=sum(result["measure_seconds"].values()))
        row["gap"] = row["train_acc"] - row["test_acc"]
        for name in MEASURE_NAMES:
            value = result["measures"].get(name, math.nan)
            if result["reached"] and not math.isfinite(value):
                raise ValueError(f"measure {name} is {value} on the model {row}: fix it before ranking")
            row[name] = value
        rows.append(row)
    return pd.DataFrame(rows)
