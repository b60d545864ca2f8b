"""Norm-based complexity measures: the baselines of Chapter 6 (Jiang et al. 2020).

- ``distance_from_init``: ||w - w_0||_2 over all parameters (Nagarajan & Kolter 2019);
- ``log_spectral_norm_product``: log prod_l ||W_l||_2^2 (Bartlett et al. 2017; Neyshabur et al. 2018);
- ``log_path_norm``: log of the squared l2 path norm, sum over input-output paths of the
  product of the squared weights on the path (Neyshabur et al. 2015).

Each uses the weights only, no data, and leaves the model as it was.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ..safety import check_model, model_device

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
