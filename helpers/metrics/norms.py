"""Norm-based complexity measures: the baselines of Chapter 6 (Jiang et al. 2020).

- ``distance_from_init``: ||w - w_0||_2 over all parameters (Nagarajan & Kolter 2019);
- ``log_spectral_norm_product``: log prod_l ||W_l||_2^2 (Bartlett et al. 2017; Neyshabur et al. 2018);
- ``log_frobenius_norm_product``: log prod_l ||W_l||_F^2;
- ``log_path_norm``: log of the squared l2 path norm, sum over input-output paths of the
  product of the squared weights on the path (Neyshabur et al. 2015);
- ``output_margin``: a low quantile over training samples of the logit of the true class minus
  the largest other logit (Jiang et al. take the 10th percentile), the scale the norm-over-margin
  measures divide by (Bartlett et al. 2017).

All but ``output_margin`` use the weights only, no data; each leaves the model as it was.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..safety import check_model, check_xy, eval_mode, model_device

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    check_model(model)
    layers = [m for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
    if not layers:
        raise ValueError("model has no Linear or Conv layer")
    return layers


@torch.no_grad()
def distance_from_init(model: nn.Module, init: nn.Module) -> float:
    """||w - w_0||_2, the Euclidean distance over every trainable parameter from ``init``'s values.

    ``init`` is the same architecture at initialization (rebuild it from the same seed).
    """
    check_model(model)
    check_model(init, "init")
    params, start = dict(model.named_parameters()), dict(init.named_parameters())
    if params.keys() != start.keys() or any(p.shape != start[n].shape for n, p in params.items()):
        raise ValueError("init must have the same parameters (names and shapes) as model")
    total = sum(float((p.detach().double() - start[n].detach().double().to(p.device)).square().sum())
                for n, p in params.items() if p.requires_grad)
    return math.sqrt(total)


@torch.no_grad()
def log_spectral_norm_product(model: nn.Module) -> float:
    """sum_l log ||W_l||_2^2, the log of the product of the squared spectral norms.

    A convolution's kernel (out, in, k...) is reshaped to an (out, in * k...) matrix, as Jiang et
    al. do; that matrix's spectral norm is not the convolution operator's, only a proxy for it.
    """
    total = 0.0
    for layer in _weight_layers(model):
        w = layer.weight.detach().double().reshape(len(layer.weight), -1)
        sigma = float(torch.linalg.matrix_norm(w, ord=2))
        if not sigma > 0:
            raise ValueError(f"a {type(layer).__name__} layer has zero weights: the log is -inf")
        total += 2 * math.log(sigma)
    return total


@torch.no_grad()
def log_frobenius_norm_product(model: nn.Module) -> float:
    """sum_l log ||W_l||_F^2, the log of the product of the squared Frobenius norms (Jiang et al.'s
    ``prod.of.fro``); a convolution's kernel counts all its entries."""
    total = 0.0
    for layer in _weight_layers(model):
        squared = float(layer.weight.detach().double().square().sum())
        if not squared > 0:
            raise ValueError(f"a {type(layer).__name__} layer has zero weights: the log is -inf")
        total += math.log(squared)
    return total


@torch.no_grad()
def output_margin(model: nn.Module, X: torch.Tensor, y: torch.Tensor, quantile: float = 0.1,
                  batch_size: int = 4096) -> float:
    """The ``quantile`` of the margins f(x)_y - max_{j != y} f(x)_j over the samples (X, y).

    Jiang et al. 2020 take the 10th percentile rather than the minimum, which a single
    mislabelled or hard sample would decide. Evaluated in eval mode, ``batch_size`` rows at a time.
    """
    check_model(model)
    check_xy(X, y)
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0 <= quantile <= 1:
        raise ValueError(f"quantile must be a number in [0, 1], got {quantile!r}")
    device, margins = model_device(model), []
    with eval_mode(model):
        for i in range(0, len(X), batch_size):
            out = model(X[i:i + batch_size].to(device)).double()
            yb = y[i:i + batch_size].to(device)
            if out.ndim != 2 or out.shape[1] < 2:
                raise ValueError(f"model must output (n, classes) scores with 2+ classes, got shape "
                                 f"{tuple(out.shape)}")
            true = out.gather(1, yb[:, None])[:, 0]
            other = out.scatter(1, yb[:, None], float("-inf")).max(1).values
            margins.append((true - other).cpu())
    return float(torch.quantile(torch.cat(margins), quantile))


@torch.no_grad()
def log_path_norm(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> float:
    """log of the squared l2 path norm, log sum_i f_{w^2}(1)_i (Neyshabur et al. 2015; Jiang et al.).

    f_{w^2} is the network with every parameter squared (biases too, so that paths starting at
    a bias count), evaluated in eval mode on an all-ones input. For a ReLU network every
    activation of f_{w^2}(1) is non-negative, so the ReLUs pass everything and the sum runs
    over all paths: for f(x) = W_2 relu(W_1 x) it is 1^T (W_2 * W_2)(W_1 * W_1) 1. Max-pooling
    keeps one path per window, so for pooled networks this is a lower bound of the full sum.
    ``input_shape`` defaults to the model's own ``input_shape`` attribute (helpers.models).
    """
    _weight_layers(model)
    input_shape = input_shape if input_shape is not None else getattr(model, "input_shape", None)
    if input_shape is None:
        raise ValueError("input_shape is required for a model without an input_shape attribute")
    squared = copy.deepcopy(model).double().eval()
    for p in squared.parameters():
        p.square_()
    device = model_device(squared)
    total = float(squared(torch.ones(1, *input_shape, dtype=torch.float64, device=device)).sum())
    if not total > 0 or not math.isfinite(total):
        raise ValueError(f"the path norm is {total}: cannot take its log")
    return math.log(total)
