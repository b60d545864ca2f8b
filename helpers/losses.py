"""The anti-generalization (poisoned) loss of Chapter 4 (Huang et al. 2019).

L(theta) = (1 - beta) / |D_t| sum_{D_t} -log p(y|x)  +  beta / |D_d| sum_{D_d} -log(1 - p(y|x)),

with D_t the training set and D_d a *distractor* set drawn from the same distribution but
disjoint from train and test. The first term fits the training set; the second pushes the model
to be wrong on unseen data. ``distractor_loss`` wraps it for ``helpers.train.fit``.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .safety import check_xy


def _check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"beta must be a number in [0, 1], got {beta!r}")
    return float(beta)


def log_one_minus_p(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log(1 - p_y) per sample, as logsumexp over the other classes minus logsumexp over all (Ch. 4).

    Finite even where p_y rounds to 1 in floating point (1 - p_y would be exactly 0 there).
    """
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"logits must be (n, classes) with at least 2 classes, got {tuple(logits.shape)}")
    true_class = F.one_hot(y, logits.shape[1]).bool()
    others = logits.masked_fill(true_class, -math.inf)  # drop the true class from the sum
    return torch.logsumexp(others, dim=1) - torch.logsumexp(logits, dim=1)


def _check_logits_and_labels(logits, y, logits_name: str, y_name: str) -> None:
    """Shapes always (no device sync); label values where they can be read for free (on a CPU)."""
    for name, value in ((logits_name, logits), (y_name, y)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"{logits_name} must be (n, classes) with at least 2 classes, got {tuple(logits.shape)}")
    if y.ndim != 1 or y.dtype != torch.int64:
        raise ValueError(f"{y_name} must be a 1-D tensor of int64 class labels, got {y.dtype} of "
                         f"shape {tuple(y.shape)}")
    if len(y) != len(logits):
        raise ValueError(f"{logits_name} and {y_name} must hold the same number of samples, got "
                         f"{len(logits)} and {len(y)}")
    if y.device.type == "cpu" and len(y) and (int(y.min()) < 0 or int(y.max()) >= logits.shape[1]):
        raise ValueError(f"{y_name} holds labels from {int(y.min())} to {int(y.max())}, but "
                         f"{logits_name} has {logits.shape[1]} classes: labels must lie in "
                         f"[0, {logits.shape[1] - 1}]")


def anti_generalization_loss(logits_train: torch.Tensor, y_train: torch.Tensor,
                             logits_distractor: torch.Tensor, y_distractor: torch.Tensor,
                             beta: float) -> torch.Tensor:
    """Huang et al.'s poisoned loss: (1 - beta) CE(train) + beta mean -log(1 - p_y)(distractor).

    At beta = 0 it is the plain cross-entropy of the training batch. Chapter 4. Mismatched
    shapes are refused with errors naming the argument, and so are out-of-range labels on a CPU
    (on a GPU, reading them would cost a sync every step; torch's own check fires there).
    """
    beta = _check_beta(beta)
    _check_logits_and_labels(logits_train, y_train, "logits_train", "y_train")
    if beta > 0.0:  # at beta = 0 the distractors are not used
        _check_logits_and_labels(logits_distractor, y_distractor, "logits_distractor", "y_distractor")
    ce = F.cross_entropy(logits_train, y_train)
    if beta == 0.0:
        return ce
    anti = -log_one_minus_p(logits_distractor, y_distractor).mean()
    return (1.0 - beta) * ce + beta * anti


def distractor_loss(x_distractor: torch.Tensor, y_distractor: torch.Tensor, beta: float,
                    batch_size: int):
    """A ``loss_fn(model, xb, yb, generator=g)`` for ``helpers.train.fit``: the poisoned loss.

    Each call draws ``batch_size`` distractor samples with the fit's generator (so a seeded fit
    is reproducible) and evaluates ``anti_generalization_loss`` on them and on the batch.
    The distractor tensors are moved to the model's device once, on first use. At beta = 0 no
    distractors are drawn and the loss is the batch's cross-entropy: plain training.
    """
    beta = _check_beta(beta)
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    check_xy(x_distractor, y_distractor, name="x_distractor")
    on_device = {}

    def loss_fn(model, xb, yb, generator=None):
        if beta == 0.0:
            return F.cross_entropy(model(xb), yb)
        if xb.device not in on_device:
            on_device[xb.device] = (x_distractor.to(xb.device), y_distractor.to(xb.device))
        xd, yd = on_device[xb.device]
        idx = torch.randint(0, len(yd), (batch_size,), generator=generator).to(xb.device)
        logits = model(torch.cat([xb, xd[idx]]))  # one pass: batch-norm sees one mixed batch
        return anti_generalization_loss(logits[:len(xb)], yb, logits[len(xb):], yd[idx], beta)

    return loss_fn
