"""Every generalization measure of the book on a network of your own, in one call.

``measure_all(model, X, y)`` takes each measure declared in ``helpers.zoo.MEASURES`` (the
normalized loss of Ch. 2, GSNR of Ch. 3, Hessian, basin and sharpness of Ch. 4 and 6, the
spectra of Ch. 5, the norm, margin and optimization baselines of Ch. 6) on ``model`` and the
train set (X, y), and returns one row per measure: its value, what a larger value claims, where
it comes from, how long it took, and whether it applied (``status``). A measure that does not
apply to this model or these arguments gets a row that says why, instead of an exception;
bad input raises before anything is computed. The defaults (``default_settings``) scale the
expensive measures' sample sizes to the data.

BatchNorm. The normalized loss is defined only for networks without normalization layers, and
the norm products and the path norm read the weight layers, whose scale a following BatchNorm
undoes; these measures are taken on ``helpers.models.fold_batchnorm(model)``, the same function
in eval mode with each BatchNorm folded into the layer before it, and their row says so. The
spectra (alpha-hat, log norm) are taken on the weights as they are, as weightwatcher and Martin
& Mahoney do. Every measure evaluates the model in eval mode (BatchNorm on its running
statistics, no dropout); the gradient measures say so in their row when the model has BatchNorm
or Dropout, since in train mode a BatchNorm mixes the samples of a batch and per-sample
gradients would be undefined.
"""
from __future__ import annotations

import copy
import functools
import math
import time
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .. import models
from ..safety import batched_loss_and_accuracy, check_model, check_xy, eval_mode, model_device
from . import esd, normalized

COLUMNS = ("measure", "label", "value", "direction", "source", "family", "seconds", "status", "details")

# measures taken on the BatchNorm-folded copy (the rest on the model as it is)
FOLDED = ("normalized_train_loss", "log_spectral_norm_product", "log_path_norm",
          "log_spectral_over_margin", "log_frobenius_over_margin")
NEEDS_INIT = ("distance_from_init",)
NEEDS_HISTORY = ("steps_to_loss_0.1", "steps_to_target")
GRADIENTS = {"mean_gsnr": "per-sample gradients", "hessian_top_eigenvalue": "Hessian-vector products",
             "worst_case_sharpness": "gradient ascent", "worst_case_mag_sharpness": "gradient ascent"}
SAMPLED = ("mean_gsnr", "hessian_top_eigenvalue", "pac_bayes_sharpness", "pac_bayes_mag_sharpness",
           "worst_case_sharpness", "worst_case_mag_sharpness", "basin_radius")
STOCHASTIC = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
              nn.AlphaDropout)


def default_settings(n_samples: int):
    """The ``zoo.MeasureSettings`` ``measure_all`` uses for a train set of ``n_samples``.

    - ``measure_samples`` = min(n, 500): the samples of the GSNR, the Hessian, the sharpness and
      the basin radius (Chapter 6's small zoo takes 500); every sample when there are fewer;
    - ``sharpness_samples`` = 8 weight perturbations per sigma (Ch. 6), ``n_directions`` = 10
      directions of the basin radius, ``radius_threshold`` = 0.1 nats (Huang et al.);
    - ``min_evals`` = min(50, the ESD default) eigenvalues for a layer's power-law fit.
    """
    from ..zoo import MeasureSettings  # zoo imports helpers.metrics: import it when called

    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    return MeasureSettings(measure_samples=min(n_samples, 500), sharpness_samples=8, n_directions=10,
                           radius_threshold=0.1, min_evals=50)


@dataclass
class _Data:
    x_train: torch.Tensor
    y_train: torch.Tensor


@dataclass
class BareRun:
    """What ``zoo.MeasureContext`` reads of a ``train.Run``, for a model that was not trained by
    ``train.run``: the model, its train set, a seed, the target train loss and the history (the
    last two may be None), and the untrained copy (``init``, may be None)."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    seed: int = 0
    target_train_loss: float | None = None
    history: object | None = None
    init: nn.Module | None = None
    data: _Data = field(init=False)
    spec: SimpleNamespace = field(init=False)

    def __post_init__(self):
        self.data = _Data(self.x, self.y)
        # steps_to_loss_0.1 reads max(0.1, target): without a target it is the steps to 0.1 itself
        target = 0.1 if self.target_train_loss is None else self.target_train_loss
        self.spec = SimpleNamespace(seed=self.seed, target_train_loss=target)

    def initial_model(self) -> nn.Module:
        if self.init is None:
            raise ValueError("init is None: this measure needs the untrained model (init=)")
        return self.init


def _direction(sign: int) -> str:
    return "larger predicts a larger gap" if sign > 0 else "larger predicts a smaller gap"


def _check_args(model, X, y, init, which, history, target_train_loss, settings, seed, errors):
    """Raise, naming the argument, on anything measure_all cannot take; return y as int64."""
    from .. import train, zoo

    check_model(model)
    check_xy(X, y, min_samples=2, why="the GSNR's variance needs two")
    if not X.is_floating_point():
        raise TypeError(f"X must be a floating-point tensor (the model's inputs), got {X.dtype}: "
                        "convert it with .float()")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex() or y.ndim != 1:
        raise TypeError(f"y must be a 1-D tensor of integer class labels, got {y.dtype} of shape "
                        f"{tuple(y.shape)}")
    if init is not None:
        check_model(init, "init")
        params, start = dict(model.named_parameters()), dict(init.named_parameters())
        if params.keys() != start.keys() or any(p.shape != start[k].shape for k, p in params.items()):
            raise ValueError("init must be the same network untrained: the same parameter names and "
                             "shapes as model")
    if which is not None:
        if isinstance(which, str):
            raise TypeError(f"which must be a list of measure names, got the string {which!r}")
        unknown = sorted(set(which) - set(zoo.MEASURE_NAMES))
        if unknown:
            raise ValueError(f"which must name measures of helpers.zoo.MEASURES {zoo.MEASURE_NAMES}, "
                             f"got {unknown}")
    if history is not None and not isinstance(history, train.History):
        raise TypeError(f"history must be a helpers.train.History (run.history) or None, got "
                        f"{type(history).__name__}")
    if target_train_loss is not None and (isinstance(target_train_loss, bool) or not isinstance(
            target_train_loss, (int, float)) or not (target_train_loss > 0 and math.isfinite(target_train_loss))):
        raise ValueError(f"target_train_loss must be a positive finite number (nats) or None, got "
                         f"{target_train_loss!r}")
    if settings is not None and not isinstance(settings, zoo.MeasureSettings):
        raise TypeError(f"settings must be a helpers.zoo.MeasureSettings or None, got {type(settings).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if errors not in ("raise", "record"):
        raise ValueError(f"errors must be 'raise' or 'record', got {errors!r}")
    return y.long()


def _check_outputs(model, X, y) -> None:
    """The model must take X's samples and give (n, classes >= 2) scores covering y's labels."""
    if hasattr(model, "check_input"):
        model.check_input(X, "X")
    device = model_device(model)
    try:
        with torch.no_grad(), eval_mode(model):
            out = model(X[:2].to(device))
    except Exception as e:  # the model's own error, with the argument it came from
        raise ValueError(f"model cannot take X's samples of shape {tuple(X.shape[1:])}: "
                         f"{type(e).__name__}: {e}") from e
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"model must output class scores of shape (n, classes >= 2), got "
                         f"{tuple(out.shape)} for 2 samples: the measures are defined for classifiers")
    low, high = int(y.min()), int(y.max())
    if low < 0 or high >= out.shape[1]:
        raise ValueError(f"y holds labels from {low} to {high}, but the model has {out.shape[1]} "
                         f"outputs: labels must lie in [0, {out.shape[1] - 1}]")


def _train_mode_batchnorm(model) -> str | None:
    for name, m in model.named_modules():
        if isinstance(m, models.BATCHNORMS) and m.training:
            return name or "the top module"
    return None


def _folded_model(model, input_shape):
    """(the model to take FOLDED measures on, None) or (None, why not); the note for the row."""
    has_bn = any(isinstance(m, models.BATCHNORMS) for m in model.modules())
    bn_in_train = _train_mode_batchnorm(model)
    if bn_in_train is not None:
        return None, (f"BatchNorm in train mode ({bn_in_train}): it normalizes by the batch, so the "
                      "network is no fixed function to fold; call model.eval() first")
    folded = models.fold_batchnorm(model) if has_bn else model
    for name, m in folded.named_modules():
        if isinstance(m, normalized.NORMALIZATION):
            return None, (f"{name} is a {type(m).__name__} that cannot be folded into a layer before it "
                          "(fold_batchnorm folds a BatchNorm only right after a Linear or Conv layer)")
    if getattr(folded, "input_shape", None) is None:  # the path norm's all-ones input
        folded = copy.deepcopy(folded) if folded is model else folded
        folded.input_shape = tuple(input_shape)
    return folded, ("computed on the folded network (BatchNorm folded into the layer before it)"
                    if has_bn else None)


def _known_failure(name: str, error: ValueError) -> str | None:
    """The reason for a row when a measure's own check refused the model, or None (a bug)."""
    text = str(error)
    if name in ("pac_bayes_sharpness", "pac_bayes_mag_sharpness", "worst_case_sharpness",
                "worst_case_mag_sharpness") and text.startswith("even "):
        return text
    if name in ("alpha_hat", "log_norm") and text.startswith("no layer was analyzed"):
        return text
    if name in ("log_spectral_norm_product", "log_spectral_over_margin", "log_frobenius_over_margin",
                "log_path_norm") and ("zero weights" in text or text.startswith("the path norm is")):
        return text
    return None


def measure_all(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, init: nn.Module | None = None,
                which=None, device=None, progress: bool = True, settings=None, history=None,
                target_train_loss: float | None = None, seed: int = 0,
                errors: str = "raise") -> pd.DataFrame:
    """Every measure of ``helpers.zoo.MEASURES`` on ``model`` and its train set (X, y), one row each.

    Columns: ``measure`` (the registry's name), ``label``, ``value`` (NaN where it does not
    apply), ``direction`` (what a larger value claims: "larger predicts a larger gap" for a
    complexity, "... a smaller gap" for GSNR and the basin radius), ``source`` (paper and
    chapter), ``family``, ``seconds``, ``status`` and ``details`` (how it ended: caps,
    convergence, a floored margin). ``status`` is ``ok``, ``ok: <note>`` (how it was taken,
    e.g. on the BatchNorm-folded network or in eval mode) or ``not applicable: <why>``:

    - "needs the untrained model (init=)" (distance from init);
    - "needs the training history (history=, a train.History)" and "needs the target train
      loss (target_train_loss=)" (the steps-to-loss measures), or the loss was never reached;
    - "BatchNorm in train mode" (the measures on the folded network; call ``model.eval()``), a
      normalization that cannot be folded, or the normalized loss's own conditions (a bias
      after the first layer, a non-homogeneous layer: Ch. 2);
    - the train loss above the basin's threshold (the basin radius needs a minimum);
    - no layer with ``min_evals`` eigenvalues (the spectra), the smallest perturbation already
      too large (the sharpness measures).

    ``init``: the same network untrained. ``which``: measure names (default: all, or
    ``settings.measures``). ``device``: where to compute (default: the model's; a model
    elsewhere is copied there, the model itself is not moved). ``settings``: a
    ``zoo.MeasureSettings`` (default ``default_settings(len(X))``); the sampled measures
    (GSNR, Hessian, sharpness, basin radius) use the first ``settings.measure_samples``
    samples of X, so shuffle a class-sorted X first. ``history`` and ``target_train_loss``:
    a ``train.History`` and its run's target, for the steps-to-loss measures. ``seed`` seeds
    the random directions and perturbations. ``errors``: 'raise' (default) lets an unexpected
    exception in a measure through, naming the measure; 'record' puts it in that row's status
    ("error: ...") with a warning, and goes on.

    Bad input raises before anything is computed: a TypeError or ValueError naming ``model``,
    ``X``, ``y``, ``init``, ``which`` or the other argument (tensors of as many samples, at
    least 2, finite, X floating, y integer labels in [0, classes), model outputs (n, classes)).
    The model's train/eval modes and weights are left as they were.
    """
    from .. import zoo

    y = _check_args(model, X, y, init, which, history, target_train_loss, settings, seed, errors)
    if device is not None:
        device = torch.device(device)
        if model_device(model) != device:
            model = copy.deepcopy(model).to(device)
        if init is not None and model_device(init) != device:
            init = copy.deepcopy(init).to(device)
    elif init is not None and model_device(init) != model_device(model):
        init = copy.deepcopy(init).to(model_device(model))
    _check_outputs(model, X, y)
    settings = settings if settings is not None else default_settings(len(X))
    names = tuple(which) if which is not None else settings.measures
    measures = [m for m in zoo.MEASURES if m.name in names]

    run = BareRun(model, X, y, seed=seed, target_train_loss=target_train_loss, history=history, init=init)
    context = zoo.MeasureContext(run, settings)
    folded, fold_note = _folded_model(model, X.shape[1:])
    folded_context = zoo.MeasureContext(BareRun(folded, X, y, seed=seed), settings) if folded is not None else None
    has_stochastic = any(isinstance(m, STOCHASTIC) for m in model.modules())
    bn_in_train = _train_mode_batchnorm(model)

    @functools.lru_cache(maxsize=None)
    def sampled_loss() -> float:
        return batched_loss_and_accuracy(model, context.xm, context.ym)[0]

    def not_applicable(m) -> str | None:
        """Why ``m`` does not apply, decided before computing it (None: it applies)."""
        if m.name in NEEDS_INIT and init is None:
            return "needs the untrained model (init=)"
        if m.name in NEEDS_HISTORY:
            if history is None:
                return "needs the training history (history=, a train.History)"
            if m.name == "steps_to_target" and target_train_loss is None:
                return "needs the target train loss (target_train_loss=)"
            target = run.spec.target_train_loss if m.name == "steps_to_target" else max(0.1, run.spec.target_train_loss)
            if not history.train_loss or min(history.train_loss) > target:
                lowest = min(history.train_loss) if history.train_loss else math.nan
                return f"the train cross-entropy never reached {target:g} (lowest {lowest:.4g})"
        if m.name in FOLDED:
            if folded is None:
                return fold_note
            if m.name == "normalized_train_loss":
                try:
                    normalized.layer_norms(folded)  # the definition's conditions, checked
                except ValueError as e:
                    what = "the folded network: " if fold_note else ""
                    return f"normalized loss undefined on {what}{e}"
        if m.name == "basin_radius" and not sampled_loss() < settings.radius_threshold:
            return (f"the train loss on the first {len(context.xm)} samples ({sampled_loss():.4g}) is not "
                    f"below the basin's threshold (radius_threshold = {settings.radius_threshold:g} nats): "
                    "the basin is measured around a minimum")
        if m.name in ("alpha_hat", "log_norm"):
            counts = [layer.num_evals for layer in esd.layer_matrices(model)]
            if not counts or max(counts) < settings.min_evals:
                return (f"no weight layer has min_evals = {settings.min_evals} eigenvalues (largest: "
                        f"{max(counts, default=0)}): too few for a power-law fit; pass settings with a "
                        "smaller min_evals")
        return None

    def note(m, detail: dict) -> str | None:
        notes = []
        if any(k.endswith("_capped") and v for k, v in detail.items()):
            notes.append("a bound: the search reached the end of its range (see details)")
        if detail.get("hessian_converged") is False:
            notes.append("Lanczos did not converge (see details)")
        if detail.get("margin_floored"):
            notes.append(f"the 10th-percentile margin is not positive, floored at {zoo.MARGIN_FLOOR:g}")
        if m.name in FOLDED and fold_note:
            notes.append(fold_note)
        if m.name in GRADIENTS and has_stochastic:
            notes.append(f"{GRADIENTS[m.name]} taken in eval mode (BatchNorm on its running statistics, "
                         "no dropout)")
        elif bn_in_train is not None and m.name not in FOLDED:
            notes.append("measured in eval mode (BatchNorm on its running statistics)")
        if m.name in ("alpha_hat", "log_norm") and any(isinstance(q, models.BATCHNORMS) for q in model.modules()):
            notes.append("weights as they are, BatchNorm not folded (as weightwatcher)")
        if m.name in SAMPLED and len(context.xm) < len(X):
            notes.append(f"on the first {len(context.xm)} of {len(X)} samples")
        return "; ".join(notes) or None

    rows = []
    bar = tqdm(measures, desc="measures", disable=not progress, leave=False)
    for m in bar:
        bar.set_postfix_str(m.name)
        row = {"measure": m.name, "label": m.label, "value": math.nan, "direction": _direction(m.sign),
               "source": m.source, "family": m.family, "seconds": math.nan, "details": {}}
        start = time.perf_counter()
        why = not_applicable(m)
        if why is None:
            try:
                out = m.compute(folded_context if m.name in FOLDED else context)
            except ValueError as e:
                why = _known_failure(m.name, e)
                if why is None:
                    if errors == "raise":
                        raise RuntimeError(f"measure {m.name} failed on this model: {e}") from e
                    warnings.warn(f"measure {m.name} failed: {type(e).__name__}: {e}", stacklevel=2)
                    why = f"error: {type(e).__name__}: {e}"
            except Exception as e:
                if errors == "raise":
                    raise RuntimeError(f"measure {m.name} failed on this model: {type(e).__name__}: {e}") from e
                warnings.warn(f"measure {m.name} failed: {type(e).__name__}: {e}", stacklevel=2)
                why = f"error: {type(e).__name__}: {e}"
            else:
                value, detail = out if isinstance(out, tuple) else (out, {})
                row.update(value=float(value), details=detail, seconds=time.perf_counter() - start)
                extra = note(m, detail)
                row["status"] = f"ok: {extra}" if extra else "ok"
        if why is not None:
            row["status"] = why if why.startswith("error: ") else f"not applicable: {why}"
        rows.append(row)
    bar.close()
    return pd.DataFrame(rows, columns=list(COLUMNS))
