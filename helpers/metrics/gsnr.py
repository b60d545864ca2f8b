"""Gradient signal-to-noise ratio (GSNR) and the one-step generalization ratio (OSGR), Chapter 3.

Liu, Jiang, Bai, Chen and Wang (ICLR 2020). For a parameter j and per-sample gradients g_ij:

    mean_j = (1/N) sum_i g_ij,      var_j = (1/N) sum_i (g_ij - mean_j)^2,      r_j = mean_j^2 / var_j.

**Variance convention.** ``var`` is the *population* variance of the N per-sample gradients
(divisor N, as BackPACK's ``Variance``): the exact variance of the empirical distribution of the
sample. The paper's rho_j^2 is the variance over the data distribution; the plug-in moments
estimate it, and the prediction R = sum_j mean_j^2 / sum_j (mean_j^2 + var_j / n) uses them as
they are. Taken over a pool of N samples, the prediction is exact (in expectation, as lr -> 0)
for train and test sets drawn from that pool with replacement, which is how ``osgr_measured``
draws them by default; disjoint draws without replacement need a finite-population correction
(``osgr_predicted(..., finite_pool=True)``), of relative size about n / N.
``GradientMoments.var_unbiased`` gives the N - 1 version.

``gradient_moments`` streams over the data in chunks and accumulates sum g and sum g^2 in float64,
so its memory is O(parameters) however many samples there are:

- ``nn.Linear`` layers use BackPACK's SumGradSquared identity: a sample's weight gradient is the
  outer product of its output gradient G_i and its input A_i, so sum_i g_i^2 = (G^2)^T (A^2), one
  matrix product per chunk, with no per-sample gradient ever formed;
- ``nn.Conv1d`` and ``nn.Conv2d`` layers (zero padding; any stride, dilation and groups) form
  each sample's weight gradient from hooks, as BackPACK's BatchGrad does: G_i U_i^T, with U_i
  the sample's unfolded input (im2col) and G_i its output gradient, one batched product per
  cache-sized block of samples; the bias gradient is G_i summed over positions;
- other parameters (BatchNorm, other padding modes, a module called twice or sharing a
  parameter, ...) get per-sample gradients from ``torch.func`` (functional_call + vmap + grad),
  a bounded number of samples at a time.

One forward and one backward pass per chunk serve both identities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn import functional as F

from ..safety import LossFn, check_mean_reduction, check_model, check_xy, eval_mode, model_device

_VMAP_BUDGET = 2 ** 24  # per-sample gradient entries held at once on the torch.func path (64 MB)
_CONV_BUDGET = 2 ** 20  # conv weight-gradient and unfolded-input entries at once: cache-sized


# --- the result ----------------------------------------------------------------------------

@dataclass(frozen=True)
class GradientMoments:
    """Per-parameter mean and population variance (divisor ``n``) of the per-sample gradients.

    ``mean`` and ``var`` map parameter names (as in ``model.named_parameters()``) to float64
    tensors shaped like the parameters; ``n`` is the number of samples they were taken over.
    """

    mean: dict[str, torch.Tensor]
    var: dict[str, torch.Tensor]
    n: int

    @property
    def names(self) -> list[str]:
        return list(self.mean)

    @property
    def num_parameters(self) -> int:
        return sum(m.numel() for m in self.mean.values())

    @property
    def var_unbiased(self) -> dict[str, torch.Tensor]:
        """The sample variance with divisor n - 1 (an unbiased estimate of the data's variance)."""
        return {k: v * (self.n / (self.n - 1)) for k, v in self.var.items()}

    def select(self, names: str | Iterable[str]) -> "GradientMoments":
        """The moments of some parameters only, e.g. ``m.select(['3.weight'])`` for one layer."""
        names = [names] if isinstance(names, str) else list(names)
        unknown = [k for k in names if k not in self.mean]
        if not names or unknown:
            raise ValueError(f"names must be a non-empty subset of {self.names}, got {names!r}")
        return GradientMoments({k: self.mean[k] for k in names}, {k: self.var[k] for k in names},
                               self.n)

    def flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All parameters' (mean, var) as two flat float64 vectors, in ``names`` order."""
        return (torch.cat([m.reshape(-1) for m in self.mean.values()]),
                torch.cat([v.reshape(-1) for v in self.var.values()]))


# --- checks and small utilities -------------------------------------------------------------

def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


# --- which parameters take an identity ---------------------------------------------------------

def _identity_rank(m: nn.Module) -> int | None:
    """The (batched) input rank at which ``m``'s gradients follow from its input and output
    gradient alone: 2 for ``nn.Linear``, 3 for ``nn.Conv1d``, 4 for ``nn.Conv2d``; else None.

    A convolution qualifies only with ``padding_mode='zeros'`` and the stock forward: other modes
    pad the input before the convolution, so the hook's input is not what the kernel slides over,
    and a subclass with its own forward may compute something else.
    """
    if isinstance(m, nn.Linear):
        return 2
    for base, rank in ((nn.Conv1d, 3), (nn.Conv2d, 4)):
        if isinstance(m, base):
            stock = type(m).forward is base.forward and type(m)._conv_forward is base._conv_forward
            return rank if stock and m.padding_mode == "zeros" else None
    return None


def _identity_layers(model: nn.Module, x1: torch.Tensor, trainable: dict) -> dict[nn.Module, dict]:
    """Linear, Conv1d and Conv2d modules called once per forward on batched inputs
    (``_identity_rank``), with their trainable parameters.

    A probe forward pass counts the calls and input ranks; a module called twice (shared), on
    inputs of another rank (a Linear on 3-D inputs, an unbatched convolution), or whose parameter
    is shared with another module, goes to the torch.func path.
    """
    calls: dict[nn.Module, list[int]] = {}
    candidates = [m for m in model.modules() if _identity_rank(m) is not None]
    count = lambda mod, inp, out: calls.setdefault(mod, []).append(inp[0].dim())
    _forward_with_hooks(model, x1, candidates, count)
    owners: dict[int, int] = {}
    for m in model.modules():
        for p in m.parameters(recurse=False):
            owners[id(p)] = owners.get(id(p), 0) + 1
    by_id = {id(p): k for k, p in trainable.items()}
    layers = {}
    for m in candidates:
        own = {role: by_id[id(p)] for role, p in m.named_parameters(recurse=False)
               if id(p) in by_id}
        unshared = all(owners[id(p)] == 1 for p in m.parameters(recurse=False))
        if own and calls.get(m) == [_identity_rank(m)] and unshared:
            layers[m] = own
    return layers


# --- the two ways to the per-chunk sums -------------------------------------------------------

def _identity_sums(model, loss_fn, xb, yb, layers: dict, trainable: dict) -> dict[str, tuple]:
    """Sums of g and g^2 over the chunk for the layers of ``_identity_layers``: one forward and
    one backward pass, with hooks that keep each layer's input and catch its output's gradient."""
    store: dict[nn.Module, list] = {m: [] for m in layers}
    convs = [m for m in layers if not isinstance(m, nn.Linear)]

    def on_linear(mod, inp, out):  # keep the input; catch the output's gradient when it comes
        store[mod].append(inp[0].detach())
        out.register_hook(lambda g_out: store[mod].append(g_out.detach()))

    def on_conv(mod, inp, out):
        # out + 0: autograd's gradient for the zero is the output's gradient (before any in-place
        # op that follows). Asked for it instead of the conv's parameters, the backward pass skips
        # the conv weight gradients, whose sum the per-sample products give anyway.
        zero = torch.zeros_like(out, requires_grad=True)
        store[mod] += [inp[0].detach(), zero]
        return out + zero

    hooks = [m.register_forward_hook(on_linear if isinstance(m, nn.Linear) else on_conv)
             for m in layers]
    names = [k for m, own in layers.items() if isinstance(m, nn.Linear) for k in own.values()]
    try:
        loss = loss_fn(model(xb), yb)
        grads = torch.autograd.grad(loss, [trainable[k] for k in names]
                                    + [store[m][1] for m in convs])
    finally:
        for h in hooks:
            h.remove()
    batch, sums = len(xb), {}
    mean_grads = dict(zip(names, grads))
    for m, own in layers.items():
        if isinstance(m, nn.Linear):
            a, g_out = store[m]
            sums.update(_linear_sums(a, g_out, own, mean_grads, batch))
    for m, g_out in zip(convs, grads[len(names):]):
        # mean loss: autograd gives (1/B) dl_i/dz_i; per sample, undo the 1/B
        sums.update(_conv_sums(m, store[m][0], g_out.detach() * batch, layers[m]))
    return sums


def _linear_sums(a, g_out, own: dict, mean_grads: dict, batch: int) -> dict[str, tuple]:
    """Sums of g and g^2 over the chunk for one Linear layer, from its input ``a`` (B, in) and
    output gradient ``g_out`` (B, out): BackPACK's SumGradSquared identity."""
    sums = {}
    g_out = g_out * batch  # mean loss: the hook sees (1/B) dl_i/dz_i; per sample, undo the 1/B
    if "weight" in own:
        g1 = mean_grads[own["weight"]].double() * batch
        g2 = (g_out.square().T @ a.square()).double()
        # float32 squares of gradients below ~1e-23 underflow to 0, which would turn a tiny
        # but non-zero gradient into "variance 0" (GSNR inf): redo those rows in float64
        rows = ((g2 == 0) & (g1 != 0)).any(1).nonzero().squeeze(1)
        if len(rows):
            g2[rows] = g_out[:, rows].double().square().T @ a.double().square()
        sums[own["weight"]] = (g1, g2)
    if "bias" in own:
        sums[own["bias"]] = (g_out.double().sum(0), g_out.double().square().sum(0))
    return sums


def _conv_sums(m, a, g_out, own: dict) -> dict[str, tuple]:
    """Sums of g and g^2 over the chunk for one convolution, from its input ``a`` (B, C, *in)
    and the per-sample output gradients ``g_out`` (B, O, *out).

    The weight gradients are formed sample by sample (``_conv_weight_grads``), as many samples
    at a time as ``_CONV_BUDGET`` numbers hold them and the unfolded input: the memory stays
    bounded (below ``_VMAP_BUDGET``), and a cache-sized block is faster to square and sum than
    a whole chunk's.
    """
    sums = {}
    if "bias" in own:  # a sample's bias gradient: its output gradient summed over positions
        g_b = g_out.flatten(2).sum(2).double()
        sums[own["bias"]] = (g_b.sum(0), g_b.square().sum(0))
    if "weight" in own:
        shape = m.weight.shape
        unfolded = shape[1] * m.groups * math.prod(shape[2:]) * g_out[0, 0].numel()
        step = max(1, _CONV_BUDGET // (shape.numel() + unfolded))
        g1 = g2 = 0.0
        for i in range(0, len(a), step):
            a_i, g_i = a[i:i + step], g_out[i:i + step]
            g = _conv_weight_grads(m, a_i, g_i).flatten(1)
            ones = g.new_ones(1, len(g))  # sums over samples as products: faster than sum(0)
            s1 = (ones @ g).double()
            s2 = (ones @ g.mul_(g)).double()  # squared in place: no second copy
            # as for Linear: float32 squares of tiny gradients underflow to 0, which would
            # make a non-zero gradient "variance 0"; then redo this part in float64
            if g.dtype != torch.float64 and ((s2 == 0) & (s1 != 0)).any():
                s2 = _conv_weight_grads(m, a_i.double(), g_i.double()).flatten(1).square().sum(0)
            g1, g2 = g1 + s1.reshape(-1), g2 + s2.reshape(-1)
        # (groups, in/groups * kernel, out/groups) -> the weight's (out, in/groups, *kernel)
        as_weight = lambda s: s.reshape(m.groups, -1, shape[0] // m.groups).transpose(1, 2) \
            .reshape(shape)
        sums[own["weight"]] = (as_weight(g1), as_weight(g2))
    return sums


def _conv_weight_grads(m, a: torch.Tensor, g_out: torch.Tensor) -> torch.Tensor:
    """Per-sample weight gradients of convolution ``m``, transposed within each group:
    (B, groups, in_channels / groups * kernel, out_channels / groups).

    Sample i's is U_i G_i^T, with U_i its unfolded input (in_channels * kernel x L, im2col) and
    G_i its output gradient (out_channels x L): one batched product over samples and groups, as
    BackPACK's BatchGrad for convolutions. (U G^T is faster here than G U^T.)
    """
    u = _unfold(a, m)  # (B, C * K, L)
    batch, groups, positions = len(a), m.groups, u.shape[-1]
    u = u.reshape(batch * groups, -1, positions)  # a group's input channels are adjacent rows
    g = g_out.reshape(batch * groups, -1, positions)  # and so are its output channels
    return torch.bmm(u, g.transpose(1, 2)).reshape(batch, groups, u.shape[1], g.shape[1])


def _unfold(a: torch.Tensor, m) -> torch.Tensor:
    """im2col for convolution ``m`` (zero padding, any stride and dilation, 1-D or 2-D):
    (B, C * prod(kernel), L) for input (B, C, *in), rows in the order of
    ``weight.reshape(out_channels, -1)``'s columns and L the output positions."""
    nd, k, s, d = a.dim() - 2, m.kernel_size, m.stride, m.dilation
    if isinstance(m.padding, str):  # 'valid', or 'same' (stride 1): any odd padding on the right
        total = [0 if m.padding == "valid" else d[j] * (k[j] - 1) for j in range(nd)]
        pad = [(t // 2, t - t // 2) for t in total]
    else:
        pad = [(p, p) for p in m.padding]
    if any(p for lr in pad for p in lr):
        a = F.pad(a, [p for lr in reversed(pad) for p in lr])
    for j in range(nd):  # the windows, as views: (B, C, *out, *span)
        a = a.unfold(2 + j, d[j] * (k[j] - 1) + 1, s[j])
    a = a[(..., *[slice(None, None, dj) for dj in d])]  # dilation: every d-th entry of a span
    out = a.shape[2:2 + nd]
    order = (0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))  # (B, C, *kernel, *out)
    return a.permute(order).reshape(len(a), -1, math.prod(out))


def _vmap_sums(model, loss_fn, xb, yb, names: list[str], trainable: dict) -> dict[str, tuple]:
    """Sums of g and g^2 over the chunk for ``names``, from per-sample gradients (torch.func)."""
    fixed = {k: p.detach() for k, p in model.named_parameters() if k not in names}
    fixed.update(dict(model.named_buffers()))
    free = {k: trainable[k].detach() for k in names}

    def sample_loss(params, x, t):
        out = functional_call(model, {**fixed, **params}, (x.unsqueeze(0),))
        return loss_fn(out, t.unsqueeze(0))

    per_sample_grad = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    step = max(1, _VMAP_BUDGET // max(1, sum(p.numel() for p in free.values())))
    sums = {k: [0.0, 0.0] for k in names}
    for i in range(0, len(xb), step):
        grads = per_sample_grad(free, xb[i:i + step], yb[i:i + step])
        for k, g in grads.items():
            g = g.double()
            sums[k][0] = sums[k][0] + g.sum(0)
            sums[k][1] = sums[k][1] + g.square().sum(0)
    return {k: tuple(v) for k, v in sums.items()}


# --- the public functions ---------------------------------------------------------------------

def gradient_moments(model: nn.Module, loss_fn: LossFn, X: torch.Tensor, y: torch.Tensor,
                     chunk_size: int = 1024) -> GradientMoments:
    """Mean and variance over (X, y) of each trainable parameter's per-sample gradient (Ch. 3).

    mean_j = (1/N) sum_i g_ij and var_j = (1/N) sum_i g_ij^2 - mean_j^2 (population variance,
    clamped at 0 against rounding), with g_i the gradient of ``loss_fn`` on sample i alone.
    ``loss_fn(output, target)`` must average over the batch, like ``F.cross_entropy``, and the
    samples must not interact in the forward pass (true in eval mode for the standard layers).
    ``chunk_size`` samples go through the network at a time. Frozen parameters
    (``requires_grad=False``) are left out. The model runs in eval mode on its own device; its
    modes, its ``.grad`` fields and the inputs are left as they were.
    """
    check_model(model)
    check_xy(X, y, min_samples=2, why="a variance needs two")
    chunk_size = _check_positive_int(chunk_size, "chunk_size")
    trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
    if not trainable:
        raise ValueError("model has no trainable parameters (all have requires_grad=False)")
    device = model_device(model)
    acc = device if device.type != "mps" else torch.device("cpu")  # mps has no float64
    s1 = {k: torch.zeros(p.shape, dtype=torch.float64, device=acc) for k, p in trainable.items()}
    s2 = {k: torch.zeros_like(v) for k, v in s1.items()}
    with eval_mode(model):
        with torch.no_grad():
            probe = model(X[:4].to(device))  # outputs on which to check the loss's reduction
        check_mean_reduction(loss_fn, probe, y[:4].to(device))
        layers = _identity_layers(model, X[:1].to(device), trainable)
        by_identity = {k for own in layers.values() for k in own.values()}
        others = [k for k in trainable if k not in by_identity]
        for i in range(0, len(X), chunk_size):
            xb, yb = X[i:i + chunk_size].to(device), y[i:i + chunk_size].to(device)
            sums = _identity_sums(model, loss_fn, xb, yb, layers, trainable) if layers else {}
            sums.update(_vmap_sums(model, loss_fn, xb, yb, others, trainable) if others else {})
            for k, (g1, g2) in sums.items():
                s1[k] += g1.to(acc)
                s2[k] += g2.to(acc)
    n = len(X)
    mean = {k: s / n for k, s in s1.items()}
    var = {k: (s2[k] / n - mean[k].square()).clamp_(min=0.0) for k in s1}
    return GradientMoments(mean, var, n)


def gsnr(moments: GradientMoments) -> dict[str, torch.Tensor]:
    """Each parameter's GSNR r_j = mean_j^2 / var_j (Liu et al. 2020; Ch. 3).

    Where var_j = 0: r_j = 0 if mean_j = 0 too (no sample moves the parameter: no signal), and
    r_j = inf if mean_j != 0 (every sample agrees exactly: signal without noise).
    """
    if not isinstance(moments, GradientMoments):
        raise TypeError(f"moments must be a GradientMoments, got {type(moments).__name__}")
    out = {}
    for k, m in moments.mean.items():
        signal, noise = m.square(), moments.var[k]
        r = signal / noise.where(noise > 0, torch.ones_like(noise))
        no_noise = torch.where(signal > 0, torch.full_like(r, math.inf), torch.zeros_like(r))
        out[k] = torch.where(noise > 0, r, no_noise)
    return out


def mean_gsnr(moments: GradientMoments) -> float:
    """The average of r_j over all parameters in ``moments`` (the paper's 'mean GSNR'; Ch. 3)."""
    values = torch.cat([r.reshape(-1) for r in gsnr(moments).values()])
    return float(values.mean())


def osgr_predicted(moments: GradientMoments, n: int, *, finite_pool: bool = False) -> float:
    """The OSGR that the GSNR predicts for train sets of size n (Liu et al. 2020; Ch. 3).

    R(Z, n) = 1 - (1/n) sum_j W_j / (r_j + 1/n),  W_j = E[g_Dj^2] / sum_k E[g_Dk^2],
    E[g_Dj^2] = mean_j^2 + var_j / n; equivalently sum_j mean_j^2 / sum_j (mean_j^2 + var_j / n).
    Valid as the learning rate goes to 0 and when train and test mean gradients share a law. It
    is exact in expectation for D and D' drawn independently, with replacement, from the samples
    the moments were taken over (``osgr_measured``'s default).

    ``finite_pool=True`` is the prediction for D and D' drawn *disjointly without replacement*
    from those N = ``moments.n`` samples (``osgr_measured(..., replace=False)``, no test pool).
    Then the two means are negatively correlated and the train mean varies less:
    E[g_Dj g_D'j] = mean_j^2 - var_j / (N - 1) and
    E[g_Dj^2] = mean_j^2 + (var_j / n) (N - n) / (N - 1), so
    R = sum_j (mean_j^2 - var_j / (N-1)) / sum_j (mean_j^2 + (var_j / n) (N-n) / (N-1)).
    """
    n = _check_positive_int(n, "n")
    if not isinstance(moments, GradientMoments):
        raise TypeError(f"moments must be a GradientMoments, got {type(moments).__name__}")
    mean, var = moments.flat()
    if finite_pool:
        N = moments.n
        if 2 * n > N:
            raise ValueError(f"n must be at most moments.n // 2 = {N // 2} for two disjoint "
                             f"draws from the pool, got {n}")
        total = (mean.square() + var * ((N - n) / (n * (N - 1)))).sum()
        if not total > 0:
            raise ValueError("every gradient moment is zero: a step decreases no loss and R "
                             "is undefined")
        return float((mean.square() - var / (N - 1)).sum() / total)
    expected_sq = mean.square() + var / n  # E[g_Dj^2] for a train set of n samples
    total = expected_sq.sum()
    if not total > 0:
        raise ValueError("every gradient moment is zero: a step decreases no loss and R is undefined")
    r = torch.cat([t.reshape(-1) for t in gsnr(moments).values()])
    return float(1.0 - (expected_sq / total / (r + 1.0 / n)).sum() / n)


# --- the one-step generalization ratio, measured ----------------------------------------------

@dataclass(frozen=True)
class OSGRMeasurement:
    """One-step loss decreases on M pairs of train set D and test set D' (Ch. 3).

    ``train_decrease[m] = L_D(theta) - L_D(theta - lr g_D)`` and ``test_decrease[m]`` the same on
    D', both float64 tensors of shape (pairs,); ``ratio`` is their ratio of means, the OSGR.
    """

    train_decrease: torch.Tensor
    test_decrease: torch.Tensor
    n: int
    lr: float

    @property
    def pairs(self) -> int:
        return len(self.train_decrease)

    @property
    def ratio(self) -> float:
        """R = E[Delta L_test] / E[Delta L_train], the expectations taken over the pairs."""
        return float(self.test_decrease.mean() / self.train_decrease.mean())

    def bootstrap(self, n_boot: int = 2000, seed: int = 0) -> torch.Tensor:
        """``ratio`` recomputed on ``n_boot`` resamples of the pairs (with replacement): its
        sampling distribution, a float64 tensor of shape (n_boot,). Needs at least 2 pairs."""
        n_boot = _check_positive_int(n_boot, "n_boot")
        if self.pairs < 2:
            raise ValueError(f"a bootstrap over pairs needs at least 2 pairs, got {self.pairs}")
        g = torch.Generator().manual_seed(seed)
        idx = torch.randint(self.pairs, (n_boot, self.pairs), generator=g)
        return self.test_decrease[idx].mean(1) / self.train_decrease[idx].mean(1)

    def interval(self, level: float = 0.9, n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
        """Percentile bootstrap interval of ``ratio`` over the pairs, at ``level`` (0 < level < 1)."""
        if not (isinstance(level, float) and 0 < level < 1):
            raise ValueError(f"level must be a float strictly between 0 and 1, got {level!r}")
        boot = self.bootstrap(n_boot, seed)
        lo, hi = torch.quantile(boot, torch.tensor([(1 - level) / 2, (1 + level) / 2],
                                                   dtype=boot.dtype))
        return float(lo), float(hi)

    def standard_error(self, n_boot: int = 2000, seed: int = 0) -> float:
        """The bootstrap standard error of ``ratio`` over the pairs."""
        return float(self.bootstrap(n_boot, seed).std())

    def to_dict(self) -> dict:
        return {"train_decrease": self.train_decrease.tolist(),
                "test_decrease": self.test_decrease.tolist(), "n": self.n, "lr": self.lr}

    @classmethod
    def from_dict(cls, d: dict) -> "OSGRMeasurement":
        as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)
        return cls(as_tensor(d["train_decrease"]), as_tensor(d["test_decrease"]), int(d["n"]),
                   float(d["lr"]))


def _draw_pairs(len_train: int, len_test: int | None, n: int, replace: bool,
                g: torch.Generator):
    """Index sets (D, D') of n samples each.

    With ``replace``: independent draws with replacement, from one pool or one from each.
    Without: disjoint draws from one pool, or a draw without replacement from each pool.
    """
    if replace:
        other = len_train if len_test is None else len_test
        return (torch.randint(len_train, (n,), generator=g),
                torch.randint(other, (n,), generator=g))
    if len_test is None:
        perm = torch.randperm(len_train, generator=g)
        return perm[:n], perm[n:2 * n]
    return torch.randperm(len_train, generator=g)[:n], torch.randperm(len_test, generator=g)[:n]


def _check_osgr_args(model, X, y, X_test, y_test, n, pairs, lr, replace) -> None:
    check_model(model)
    check_xy(X, y)
    n, pairs = _check_positive_int(n, "n"), _check_positive_int(pairs, "pairs")
    if not isinstance(replace, bool):
        raise TypeError(f"replace must be True or False, got {replace!r}")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together (or both left None)")
    if X_test is None and not replace and 2 * n > len(X):
        raise ValueError(f"n must be at most len(X) // 2 = {len(X) // 2} to draw disjoint D "
                         f"and D' from one pool without replacement, got {n}")
    if X_test is not None:
        check_xy(X_test, y_test, name="X_test")
        if not replace and n > min(len(X), len(X_test)):
            raise ValueError(f"n must be at most {min(len(X), len(X_test))} (the smaller pool) "
                             f"to draw without replacement, got {n}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")


def _activation_size(model: nn.Module, x1: torch.Tensor) -> int:
    """Numbers every leaf module outputs for one sample: what a forward pass keeps per sample."""
    sizes = []
    leaves = [m for m in model.modules() if not list(m.children())]
    size = lambda mod, inp, out: sizes.append(out.numel())
    _forward_with_hooks(model, x1, leaves, size)
    return sum(sizes)


def _forward_with_hooks(model: nn.Module, x: torch.Tensor, modules, hook) -> None:
    """Run ``model(x)`` once without gradients, with ``hook`` on ``modules`` (removed afterwards)."""
    hooks = [m.register_forward_hook(hook) for m in modules]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()


def _one_step_decreases(model, loss_fn, state: dict, free: dict, lr: float):
    """A function (D, D') -> (Delta L_D, Delta L_D') for one step on D, to be vmapped over pairs."""
    loss_at = lambda p, xs, ys: loss_fn(functional_call(model, {**state, **p}, (xs,)), ys)

    def decreases(x_train, y_train, x_test, y_test):
        g_train, loss_train = torch.func.grad_and_value(loss_at)(free, x_train, y_train)
        stepped = {k: v - lr * g_train[k] for k, v in free.items()}  # theta - lr * grad L_D
        return torch.stack([loss_train - loss_at(stepped, x_train, y_train),
                            loss_at(free, x_test, y_test) - loss_at(stepped, x_test, y_test)])
    return vmap(decreases)


def osgr_measured(model: nn.Module, loss_fn: LossFn, X: torch.Tensor, y: torch.Tensor, n: int,
                  X_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None, *,
                  pairs: int = 20, lr: float = 1e-4, seed: int = 0,
                  replace: bool = True, dtype: torch.dtype | None = None) -> OSGRMeasurement:
    """Measured OSGR, R(Z, n) = E[Delta L_test] / E[Delta L_train] (Liu et al. 2020; Ch. 3).

    For each of ``pairs`` pairs, draw a train set D of n samples and a test set D' of n samples,
    take one gradient-descent step theta' = theta - lr * grad L_D(theta), and record how much the
    loss fell on D and on D'. D comes from (X, y); D' from (X_test, y_test), or with ``X_test``
    None from (X, y) too. By default (``replace=True``) D and D' are independent draws with
    replacement, so that with ``X_test`` None E[Delta L_D'] / E[Delta L_D] is
    ``osgr_predicted(gradient_moments(model, loss_fn, X, y), n)`` as lr -> 0: the pool's
    empirical distribution plays the data distribution exactly. ``replace=False`` draws
    without replacement (disjoint D and D' from one pool), which is biased towards a lower
    ratio: compare it with ``osgr_predicted(..., finite_pool=True)``. The steps are functional
    (the model is not changed), in eval mode and in float64 (``dtype=None``; float32 on MPS): a
    small step moves the loss by only ~lr |g|^2. ``dtype=torch.float32`` is several times faster
    on a CPU; check on your model that the ratio moves by much less than its standard error.
    Pairs are vmapped, as many at a time as about 2^25 numbers allow.
    """
    _check_osgr_args(model, X, y, X_test, y_test, n, pairs, lr, replace)
    if dtype not in (None, torch.float32, torch.float64):
        raise ValueError(f"dtype must be None, torch.float32 or torch.float64, got {dtype!r}")
    device = model_device(model)
    if dtype is None:
        dtype = torch.float64 if device.type != "mps" else torch.float32
    cast = lambda t: t.to(device, dtype) if t.is_floating_point() else t.to(device)
    state = {k: cast(v.detach()) for k, v in [*model.named_parameters(), *model.named_buffers()]}
    free = {k: state[k] for k, p in model.named_parameters() if p.requires_grad}
    g = torch.Generator().manual_seed(seed)
    len_test = None if X_test is None else len(X_test)
    draws = [_draw_pairs(len(X), len_test, n, replace, g) for _ in range(pairs)]
    X_te, y_te = (X, y) if X_test is None else (X_test, y_test)
    out = []
    with eval_mode(model):
        per_sample = _activation_size(model, X[:1].to(device))
        per_pair = 3 * (sum(v.numel() for v in free.values()) + 2 * n * per_sample)  # numbers
        step = max(1, min(pairs, 2 ** 25 // per_pair))
        decreases = _one_step_decreases(model, loss_fn, state, free, float(lr))
        for i in range(0, pairs, step):
            i_train = torch.stack([d[0] for d in draws[i:i + step]])  # (pairs in chunk, n)
            i_test = torch.stack([d[1] for d in draws[i:i + step]])
            out.append(decreases(cast(X[i_train]), cast(y[i_train]),
                                 cast(X_te[i_test]), cast(y_te[i_test])))
    out = torch.cat(out).detach().to("cpu", torch.float64)
    return OSGRMeasurement(out[:, 0], out[:, 1], n, float(lr))


# --- training with checkpoints ----------------------------------------------------------------

def _check_train_args(model, X, y, at_steps, lr, batch_size) -> list[int]:
    """The sorted checkpoints, after checking train_and_record's arguments."""
    check_model(model)
    check_xy(X, y)
    at = sorted(set(at_steps))
    if not at or not all(isinstance(s, int) and s >= 0 for s in at):
        raise ValueError(f"at_steps must be non-negative integers, got {list(at_steps)!r}")
    if batch_size is not None:
        _check_positive_int(batch_size, "batch_size")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    return at


def _batches(n: int, batch_size: int | None, g: torch.Generator):
    """Endless index batches: the whole set every step (full batch), or shuffled epochs.

    A permutation is drawn only when the previous epoch is used up, so the draws from ``g``
    happen in the same order however far training goes.
    """
    while True:
        yield from ([slice(None)] if batch_size is None else
                    torch.randperm(n, generator=g).split(batch_size))


def train_and_record(model: nn.Module, loss_fn: LossFn, X: torch.Tensor, y: torch.Tensor,
                     record: Callable[[nn.Module], dict], at_steps: Iterable[int], *, lr: float,
                     batch_size: int | None = None, seed: int = 0) -> list[dict]:
    """Plain SGD (no momentum) on ``loss_fn``, calling ``record(model)`` after each step count in
    ``at_steps`` (0: before training); the GD dynamics that Ch. 3 follows. ``batch_size`` None is
    full-batch gradient descent. Frozen parameters (``requires_grad=False``) are not updated.
    ``record`` sees the model in train mode; afterwards every submodule's mode is restored, also
    when training diverges (FloatingPointError). Returns ``{"step": s, **record(model)}`` for
    each checkpoint s.
    """
    at = _check_train_args(model, X, y, at_steps, lr, batch_size)
    device, g = model_device(model), torch.Generator().manual_seed(seed)
    X, y = X.to(device), y.to(device)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    batches, step, records = _batches(len(X), batch_size, g), 0, []
    with eval_mode(model, training=True):
        try:
            for target in at:
                while step < target:
                    model.train()  # record() may have switched modes
                    idx = next(batches)
                    loss = loss_fn(model(X[idx]), y[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    step += 1
                if step and not torch.isfinite(loss):
                    raise FloatingPointError(f"training diverged (loss {float(loss.detach())}) by step "
                                             f"{step}; try a smaller lr (now {lr})")
                records.append({"step": step, **record(model)})
        finally:
            opt.zero_grad(set_to_none=True)  # no stale .grad left, diverged or not
    return records
