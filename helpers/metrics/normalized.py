"""The normalized cross-entropy of Liao, Miranda et al. (2018), Chapter 2.

A ReLU network whose only bias is in its first layer is positively homogeneous in each layer:
f(W; x) = rho * f(W~; x), with W~_k = W_k / ||W_k||_F and rho = prod_k ||W_k||_F, the first
layer's weight and bias normalized jointly by sqrt(||W_1||^2 + ||b_1||^2). The normalized loss
is the cross-entropy of f(W~; x), that is, of the logits divided by rho.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..safety import check_model, check_xy, eval_mode, model_device

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
# Modules that commute with a positive rescaling of their input (g(c x) = c g(x), c > 0).
HOMOGENEOUS = (nn.ReLU, nn.LeakyReLU, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
               nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Sequential)
NORMALIZATION = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    """The weight layers in forward order, after checking the model fits the definition."""
    check_model(model)
    layers = []
    for name, m in model.named_modules():
        if isinstance(m, NORMALIZATION):
            raise ValueError(f"{name} is a {type(m).__name__}: its output does not scale with its input, "
                             "so f(W; x) = rho f(W~; x) fails. Fold it into the preceding weights first.")
        if isinstance(m, WEIGHT_LAYERS):
            if m.bias is not None and layers:
                raise ValueError(f"{name} has a bias, but only the first layer may: a bias in a later "
                                 "layer breaks the positive homogeneity the normalization relies on")
            layers.append(m)
        elif not isinstance(m, HOMOGENEOUS) and next(m.children(), None) is None:
            raise ValueError(f"{name} is a {type(m).__name__}, which is not positively homogeneous "
                             "(g(c x) = c g(x) for c > 0); the normalized loss needs ReLU-type activations")
    if not layers:
        raise ValueError("model has no Linear or Conv layer to normalize")
    return layers


def layer_norms(model: nn.Module) -> list[float]:
    """||W_k||_F for every layer in forward order; the first layer's weight and bias jointly (Liao et al.)."""
    norms = []
    for i, layer in enumerate(_weight_layers(model)):
        sq = layer.weight.detach().double().pow(2).sum()
        if i == 0 and layer.bias is not None:
            sq = sq + layer.bias.detach().double().pow(2).sum()
        norms.append(math.sqrt(sq.item()))
    return norms


def layer_matrices(model: nn.Module) -> list[torch.Tensor]:
    """Each weight layer as a matrix (out, in * kernel), in float64; the first layer's bias as one more column."""
    matrices = []
    for i, layer in enumerate(_weight_layers(model)):
        w = layer.weight.detach().double().reshape(layer.weight.shape[0], -1)
        if i == 0 and layer.bias is not None:
            w = torch.cat([w, layer.bias.detach().double()[:, None]], dim=1)
        matrices.append(w)
    return matrices


def normalized_lipschitz_bound(model: nn.Module) -> float:
    """prod_k ||W_k||_2 / ||W_k||_F: how much the normalized network can stretch its input (Ch. 2).

    Unit Frobenius norms alone allow logits as large as ||[x; 1]||; each layer whose Frobenius
    norm is r times its spectral norm (r^2 its stable rank) shrinks that bound by r. For a
    convolution the reshaped kernel's spectral norm stands in for the operator norm.
    """
    bound = 1.0
    for w in layer_matrices(model):
        bound *= (torch.linalg.matrix_norm(w, ord=2) / torch.linalg.matrix_norm(w)).item()
    return bound


def network_scale(model: nn.Module) -> float:
    """rho = prod_k ||W_k||_F: the factor between the network and its normalized copy."""
    return math.prod(layer_norms(model))


@torch.no_grad()
def normalized_cross_entropy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 4096) -> float:
    """Cross-entropy of the normalized network, CE(f(W; x) / rho, y), averaged over (X, y) (Liao et al. 2018)."""
    check_model(model)
    check_xy(X, y)
    rho = _checked_scale(model)
    device = model_device(model)
    with eval_mode(model):
        batches = ((model(X[i:i + batch_size].to(device)), y[i:i + batch_size].to(device))
                   for i in range(0, len(X), batch_size))
        return _normalized_ce_of_batches(batches, rho)


@torch.no_grad()
def normalized_cross_entropy_of_outputs(model: nn.Module, outputs) -> float:
    """``normalized_cross_entropy`` from the (logits, labels) batches of one evaluation of
    ``model`` (``batched_loss_and_accuracy(..., keep_outputs=...)``): no second forward pass,
    and with the same batches the same number. ``train.fit`` tracks it this way."""
    check_model(model)
    return _normalized_ce_of_batches(outputs, _checked_scale(model))


def _checked_scale(model: nn.Module) -> float:
    rho = network_scale(model)
    if not rho > 0 or not math.isfinite(rho):
        raise ValueError(f"the product of the layer norms is {rho}: cannot normalize")
    return rho


def _normalized_ce_of_batches(batches, rho: float) -> float:
    # float64: for a large rho, the CE of the tiny logits / rho differs from log(classes)
    # only in digits that float32 would lose
    total, n = 0.0, 0
    for out, yb in batches:
        total += F.cross_entropy(out.double() / rho, yb, reduction="sum").item()
        n += len(yb)
    return total / n
