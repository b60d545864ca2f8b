"""The promises every metric makes, kept in one place (used by ``helpers.metrics`` and ``losses``).

A metric leaves the model's train/eval mode as it found it, runs on the model's own device,
and rejects bad input with an error that names the argument. ``batched_loss_and_accuracy``
is the one loop that evaluates a model (or a model with substituted weights) on a data set.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator, Mapping

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --- the model: mode, device, type -------------------------------------------------------------

@contextlib.contextmanager
def eval_mode(model: nn.Module, training: bool = False) -> Iterator[nn.Module]:
    """Run the block with ``model.train(training)``, then give every submodule its own mode back.

    Each submodule's flag is recorded, not only the top one's: a Dropout that was in eval mode
    inside a model in train mode comes back in eval mode. Restored after an exception too.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.train(training)  # eval: no dropout, BatchNorm on its running statistics
    try:
        yield model
    finally:
        for module, was_training in modes:
            module.training = was_training


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or first buffer): where its inputs must go."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    raise ValueError(f"model has neither parameters nor buffers, so it has no device "
                     f"({type(model).__name__})")


def check_model(model, name: str = "model") -> None:
    """TypeError naming ``name`` unless ``model`` is a torch.nn.Module."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")


# --- the data ----------------------------------------------------------------------------------

def check_xy(X, y, *, name: str = "X", min_samples: int = 1, why: str = "") -> None:
    """Check that (X, y) are tensors of as many samples, at least ``min_samples``, all finite.

    ``name`` is X's argument name; y's is the same with its first letter replaced by 'y'
    (``X_test`` -> ``y_test``). ``why`` says why ``min_samples`` are needed. A NaN or inf in a
    floating X or y is refused here, because every metric would silently return NaN.
    """
    y_name = "y" + name[1:] if name[:1] in "xX" else "y"
    for arg, value in ((name, X), (y_name, y)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{arg} must be a torch.Tensor, got {type(value).__name__} "
                            "(wrap arrays in torch.as_tensor: the metrics take tensors)")
        if value.ndim == 0:
            raise ValueError(f"{arg} must have a sample dimension (dim 0), got a 0-d tensor")
    if len(X) != len(y):
        raise ValueError(f"{name} and {y_name} must hold the same number of samples, "
                         f"got {len(X)} and {len(y)}")
    if len(X) < min_samples:
        reason = f" ({why})" if why else ""
        noun = "sample" if min_samples == 1 else "samples"
        raise ValueError(f"{name} must hold at least {min_samples} {noun}{reason}, got {len(X)}")
    for arg, value in ((name, X), (y_name, y)):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f"{arg} contains NaN or inf ({bad} of {value.numel()} entries): "
                             "every loss and gradient on it would be NaN")


def check_mean_reduction(loss_fn: LossFn, out: torch.Tensor, y: torch.Tensor) -> None:
    """ValueError unless ``loss_fn(out, y)`` is the mean of its single-sample losses.

    Batched sums rescale a batch's loss by its size, so a sum (or any other) reduction would
    give wrong numbers silently. Checked on the first 4 samples of ``out`` (model outputs).
    """
    k = min(4, len(out))
    with torch.no_grad():
        batch = float(loss_fn(out[:k], y[:k]))
        single = sum(float(loss_fn(out[i:i + 1], y[i:i + 1])) for i in range(k)) / k
    if not math.isclose(batch, single, rel_tol=1e-4, abs_tol=1e-7):
        raise ValueError("loss_fn must return the mean of the per-sample losses over the batch "
                         f"(reduction='mean'); on {k} samples it gave {batch:.6g} but the mean of "
                         f"their single-sample losses is {single:.6g}")


# --- evaluation --------------------------------------------------------------------------------

@torch.no_grad()
def batched_loss_and_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                              loss_fn: LossFn | None = None, *, batch_size: int = 4096,
                              params: Mapping[str, torch.Tensor] | None = None,
                              keep_outputs: list | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on (X, y), in eval mode, ``batch_size`` rows at a time.

    ``loss_fn`` None: the cross-entropy, summed per batch (reduction='sum') and divided by n.
    A given ``loss_fn`` must be a batch mean (checked on the first batch); each batch's value
    is multiplied by its size. With ``params`` (name -> tensor), the model is evaluated as
    ``functional_call(model, params, x)``: substituted weights, the model itself untouched.
    Accuracy is argmax(out) == y for 2-D class scores with 2+ columns, else NaN. The batches
    go to the model's device; its modes are restored. With ``keep_outputs`` (a list), every
    batch's (outputs, labels) is appended to it, for measures of the same forward passes.
    """
    check_model(model)
    check_xy(X, y)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    device, loss_sum, correct = model_device(model), 0.0, 0
    with eval_mode(model):
        for i in range(0, len(X), batch_size):
            xb, yb = X[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            out = model(xb) if params is None else functional_call(model, params, (xb,))
            if keep_outputs is not None:
                keep_outputs.append((out, yb))
            if loss_fn is None:
                loss_sum += float(F.cross_entropy(out, yb, reduction="sum"))
            else:
                if i == 0:
                    check_mean_reduction(loss_fn, out, yb)
                loss_sum += float(loss_fn(out, yb)) * len(xb)
            is_class_score = out.ndim == 2 and out.shape[1] > 1
            if is_class_score:
                correct += int((out.argmax(1) == yb).sum())
    return loss_sum / len(X), (correct / len(X) if is_class_score else math.nan)
