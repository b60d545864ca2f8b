# %% [markdown]
# # 3. Gradient signal-to-noise ratio: does a step on the training set help the test set?
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/03_gsnr.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - define the gradient signal-to-noise ratio (GSNR) of a parameter and compute it for every parameter of a network in one streaming pass;
# - define the one-step generalization ratio (OSGR), measure it, and derive its prediction from the GSNR;
# - state the two assumptions behind that prediction and show, on a training run, where the second one breaks;
# - compare the GSNR of networks trained on true and on random labels;
# - reproduce the paper's contrast between a network that learns its features and one whose features are frozen.
# :::
#
# ## The question
#
# Chapter 1 showed that a network can memorize random labels, so the size of its hypothesis class cannot explain why it generalizes on real ones.
# Whatever explains it must depend on the data and on the training algorithm.
# Liu et al. {cite}`liu2020understanding` look at the smallest piece of the algorithm there is, one step of gradient descent, and ask how much of the decrease it brings to the training loss carries over to unseen data.
#
# :::{admonition} The paper's claim
# :class: note
# "Larger GSNR during training process leads to better generalization performance."
# And: "different from that of shallow models (e.g. logistic regression, support vector machines), the gradient descent optimization dynamics of DNNs naturally produces large GSNR during training, which is probably the key to DNNs' remarkable generalization ability."
# :::
#
# Let $g_i(\theta)$ be the gradient of the loss on sample $i$ alone, and $g_{ij}$ its $j$-th coordinate.
# Over the data distribution $\mathcal{Z}$, each parameter $\theta_j$ has a mean gradient and a variance,
#
# $$
# \tilde g_j = \mathbb{E}_{i}\big[g_{ij}\big], \qquad
# \rho_j^2 = \mathrm{Var}_{i}\big[g_{ij}\big], \qquad
# r_j = \frac{\tilde g_j^2}{\rho_j^2} ,
# $$
#
# and $r_j$ is its **gradient signal-to-noise ratio**.
# A large $r_j$ means that most samples push $\theta_j$ the same way; a small one, that they disagree and the mean is a small residue of large, conflicting pushes.
#
# The **one-step generalization ratio** compares the loss decreases that one step of gradient descent, $\theta \leftarrow \theta - \lambda\, g_D(\theta)$ with $g_D$ the mean gradient over a training set $D$ of $n$ samples, brings about on $D$ and on an independent test set $D'$ of the same size:
#
# $$
# R(\mathcal{Z}, n) = \frac{\mathbb{E}_{D, D' \sim \mathcal{Z}^n}\big[\Delta L[D']\big]}{\mathbb{E}_{D \sim \mathcal{Z}^n}\big[\Delta L[D]\big]} .
# $$
#
# $R = 1$ means the step helps unseen data exactly as much as the training data; $R = 0$ means it helps only the training data.
# To first order in $\lambda$, $\Delta L[D] \approx \lambda\, g_D \cdot g_D$ and $\Delta L[D'] \approx \lambda\, g_{D'} \cdot g_D$.
# If $g_D$ and $g_{D'}$ are independent means of $n$ per-sample gradients drawn from one distribution, $\mathbb{E}[g_{D'} \cdot g_D] = \sum_j \tilde g_j^2$ and $\mathbb{E}[g_D \cdot g_D] = \sum_j (\tilde g_j^2 + \rho_j^2 / n)$, which gives the paper's link between the two quantities:
#
# $$
# R(\mathcal{Z}, n) = 1 - \frac{1}{n} \sum_j \frac{W_j}{r_j + 1/n}
# = \frac{\sum_j \tilde g_j^2}{\sum_j \big(\tilde g_j^2 + \rho_j^2 / n\big)},
# \qquad W_j = \frac{\mathbb{E}[g_{Dj}^2]}{\sum_k \mathbb{E}[g_{Dk}^2]} .
# $$
#
# Every parameter with $r_j \gg 1/n$ contributes a step that generalizes; every parameter with $r_j \ll 1/n$ contributes a step that only fits the training set.
#
# The same ratio sets how fast the **generalization gap** grows.
# Training on a set of $N$ samples, each step lowers the training loss by some $\Delta L_{\text{train}}$ and, if the training set is a fair draw, the test loss by $R(\mathcal{Z}, N)\, \Delta L_{\text{train}}$, so the gap between them grows by $(1 - R)\, \Delta L_{\text{train}}$:
#
# $$
# L_{\text{test}}(T) - L_{\text{train}}(T) \approx \big(L_{\text{test}}(0) - L_{\text{train}}(0)\big) + \sum_{t < T} \big(1 - R_t(\mathcal{Z}, N)\big)\, \Delta L_{\text{train}, t} .
# $$
#
# A large GSNR keeps $R$ near 1 and the gap small: this is the sense in which the paper says that larger GSNR leads to better generalization.
#
# :::{admonition} The two assumptions
# :class: warning
# 1. **A small learning rate.**
#    The link keeps the first-order term of $\Delta L$ only.
#    A large step adds curvature terms that differ between $D$ and $D'$.
# 2. **Train and test mean gradients drawn from one distribution.**
#    This holds at initialization, and as long as the network has not yet specialized to its training set.
#    It breaks later: once the network has fitted the samples it trains on, their gradients shrink and point elsewhere than those of unseen samples, so $g_D$ is no longer a draw from the distribution of $g_{D'}$.
# :::

# %% [markdown]
# ## Setup
#
# The first cell installs this book's `helpers` package, but only on Colab.
# The scale profile decides every size in this chapter: `small` (the default, MNIST-1D {cite}`greydanus2020scaling` on a CPU) or `paper` (CIFAR-10 with a small convolutional network, on a GPU).
# The setup cell prints what the profile costs (`helpers.cost`: floating-point work counted from the networks and the checkpoints, turned into hours on Colab's T4 and on an H100); the `paper` profile (10,000 CIFAR-10 training images, as before) fits one Colab session as it is, so nothing was cut for it.
# The training set is `n_train` samples; the data set's held-out split, `n_fresh` further draws from the same distribution that no network ever trains on, supplies the test sets $D'$.

# %%
import sys

# Colab: install helpers from the book's repository
if "google.colab" in sys.modules:
    repo = "git+https://github.com/why-deep-networks-generalize/book"
    %pip install --quiet "why-deep-networks-generalize @ {repo}"
    from google.colab import output
    output.enable_custom_widget_manager()  # ipywidgets 8 in Colab

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import norm, pearsonr
from torch.nn import functional as F

from helpers import cost, data, models, plots, scale, settings, sweep, train
from helpers.metrics import gsnr, rank
from helpers.report import Claim, choose, glue, scorecard

# %%
SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.gsnr_profile(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
device = train.pick_device()
dataset = data.load_dataset(cfg.dataset, n_train=cfg.n_train,
                            n_test=cfg.n_fresh, seed=cfg.data_seed)
X, y = dataset.x_train, dataset.y_train  # the training set
# fresh draws, never trained on
X_fresh, y_fresh = dataset.x_test, dataset.y_test
ce = F.cross_entropy
glue("ch3_scale", SCALE)
print(cfg.scale, "scale:", dataset, "| device:", device)
cost.print_estimate(3, SCALE)

# %%
SEEDS = list(cfg.seeds)  # every trajectory is trained once per seed


def new_model(seed=cfg.seed):
    """The network of Experiments 1 and 2, initialized with ``seed``."""
    return models.build(cfg.architecture, dataset.input_shape,
                        dataset.num_classes, seed=seed,
                        **cfg.model_kwargs).to(device)


def finite(table):
    """Refuse NaN or inf (from a diverged run, say): nothing is plotted or
    quoted from them."""
    if not np.isfinite(table.to_numpy(dtype=float)).all():
        raise ValueError("a measurement is NaN or inf; nothing is plotted "
                         "from it")
    return table

# %% [markdown]
# ## Computing the moments of every parameter's gradient
#
# The GSNR needs, for every parameter, the mean and the variance of its gradient over $N$ samples.
# The obvious way, one backward pass per sample, is slow; storing all per-sample gradients costs $N$ times the size of the network.
# `gsnr.gradient_moments` does neither.
# For a linear layer $z = W a + b$, the gradient of sample $i$'s loss with respect to $W$ is the outer product $\delta_i a_i^\top$ of its output gradient and its input, so
#
# $$
# \sum_i g_i^{W} = \Delta^\top A, \qquad \sum_i \big(g_i^{W}\big)^{\odot 2} = \big(\Delta^{\odot 2}\big)^\top A^{\odot 2},
# $$
#
# where the rows of $A$ and $\Delta$ are the inputs and output gradients of a chunk of samples: one more matrix product per layer than an ordinary backward pass.
# This is BackPACK's SumGradSquared identity {cite}`dangel2020backpack`.
# Hooks catch $a_i$ on the forward pass and $\delta_i$ on the backward pass (multiplied by the chunk size, since the loss is a mean).
# Convolutions get the same treatment through their unfolded inputs (the patches each output position sees), which turns a convolution into a batched matrix product per sample; other layers (normalization, say) get per-sample gradients from `torch.func` (`vmap` over `grad`), a bounded number at a time.
# The sums are accumulated in float64 over chunks, so memory does not grow with $N$.
# The variance is the population variance, with divisor $N$, the same convention on both sides of the link above.
#
# A check on a few samples against the slow way, one backward pass per sample:

# %%
check_model = new_model()
fast = gsnr.gradient_moments(check_model, ce, X[:64], y[:64], chunk_size=16)
rows = []
for i in range(64):  # the slow way: one backward pass per sample
    loss = ce(check_model(X[i:i + 1].to(device)), y[i:i + 1].to(device))
    grads = torch.autograd.grad(loss, list(check_model.parameters()))
    rows.append(torch.cat([g.reshape(-1).double() for g in grads]))
rows = torch.stack(rows)  # (64 samples, parameters)
mean, var = fast.flat()
rel_err = max(((mean - rows.mean(0)).norm() / rows.mean(0).norm()).item(),
              ((var - rows.var(0, correction=0)).norm() / var.norm()).item())
print(f"{fast.num_parameters:,} parameters; "
      f"largest relative difference {rel_err:.1e}")

# %% tags=remove-cell
glue("ch3_check_err", f"{rel_err:.0e}")
glue("ch3_num_params", f"{fast.num_parameters:,}")

# %% [markdown]
# The streamed moments agree with the per-sample loop to {glue:text}`ch3_check_err` (relative), float32 rounding.
#
# :::{admonition} How fast, and how much memory
# :class: tip
# `benchmarks/bench_gsnr.py` times `gradient_moments` against the alternatives on 4,000 MNIST-1D samples.
# These figures are that script's output (its header records the run), made on 2 CPU cores with one torch thread and some load from other work; they are not numbers this notebook computes, so rerun the script for your machine.
# - MLP 40-256-256-10 (78,858 parameters, every layer linear): 49 times faster than a loop of one backward pass per sample, 110 times faster than a plain `vmap` of per-sample gradients, and 1.5 times the cost of one ordinary mini-batch gradient over the same samples.
# - The 1-D CNN of `helpers.models` (13,706 parameters, three convolutions through their unfolded inputs): 10 times faster than the loop, 3.3 times faster than the plain `vmap`, 1.5 times the ordinary gradient (before the convolution identity it was 4.6 times, no faster than `vmap`).
# - Peak memory during the call: 10 to 29 MiB more for the MLP and 28 to 52 MiB for the CNN, from 1,000 to 64,000 samples, where storing the per-sample gradients of 16,000 samples of the MLP would take 4.8 GB.
# - Agreement with BackPACK's `Variance` on the same models: about 1e-7 relative in float32, 2e-15 in float64.
# :::

# %% [markdown]
# ## How to draw $D$ and $D'$ without bias
#
# The link is an identity between expectations, so the measurement has to draw $D$ and $D'$ the way the derivation assumes: independently, each sample from the same distribution.
# With a finite pool of $N$ samples standing in for $\mathcal{Z}$, that means drawing **with replacement**: then the pool's empirical distribution *is* the distribution, its mean and variance (divisor $N$) are exactly $\tilde g_j$ and $\rho_j^2$, and the formula above holds in expectation as $\lambda \to 0$.
#
# The natural-looking alternative, two disjoint sets drawn without replacement from one pool, is biased.
# Sampling without replacement makes the two means negatively correlated and the train mean a little less noisy (the finite-population correction):
#
# $$
# \mathbb{E}\big[g_{Dj}\, g_{D'j}\big] = \tilde g_j^2 - \frac{\rho_j^2}{N - 1}, \qquad
# \mathbb{E}\big[g_{Dj}^2\big] = \tilde g_j^2 + \frac{\rho_j^2}{n}\,\frac{N - n}{N - 1},
# $$
#
# so disjoint draws measure $\sum_j (\tilde g_j^2 - \rho_j^2/(N-1)) \big/ \sum_j (\tilde g_j^2 + \tfrac{\rho_j^2}{n}\tfrac{N-n}{N-1})$.
# With $a = \sum_j \tilde g_j^2$ and $v = \sum_j \rho_j^2 / n$, this minus the prediction $a / (a + v)$ is $-v\,(a + n v) \big/ \big((N - 1)(a + v)(a + v\frac{N-n}{N-1})\big)$: negative for every GSNR, and relatively larger when the GSNR is small.
# `gsnr.osgr_measured` draws with replacement by default; `replace=False` gives the disjoint draws, and `gsnr.osgr_predicted(..., finite_pool=True)` their prediction.
# An earlier version of this chapter drew disjoint sets and called its control "unbiased by construction"; it was not.
# On the initial network, over the fresh pool, with many pairs:

# %%
init_model = new_model()
fresh_moments = gsnr.gradient_moments(init_model, ce, X_fresh, y_fresh)
many = dict(pairs=10 * cfg.osgr_pairs, lr=cfg.osgr_lr, dtype=torch.float32)
draws = {"with replacement": gsnr.osgr_measured(
             init_model, ce, X_fresh, y_fresh, cfg.osgr_n, **many),
         "disjoint, without replacement": gsnr.osgr_measured(
             init_model, ce, X_fresh, y_fresh, cfg.osgr_n, replace=False,
             **many)}
plain = gsnr.osgr_predicted(fresh_moments, cfg.osgr_n)
corrected = gsnr.osgr_predicted(fresh_moments, cfg.osgr_n, finite_pool=True)
draw_table = pd.DataFrame(
    {"measured R": {k: m.ratio for k, m in draws.items()},
     "SE": {k: m.standard_error() for k, m in draws.items()},
     "z vs prediction": {k: (m.ratio - plain) / m.standard_error()
                         for k, m in draws.items()},
     "z vs corrected": {k: (m.ratio - corrected) / m.standard_error()
                        for k, m in draws.items()}})
print(f"prediction {plain:.4f}; finite-pool prediction {corrected:.4f}")
draw_table.round(4)

# %% tags=remove-cell
z_plain = draw_table["z vs prediction"]
glue("ch3_draw_pairs", f"{10 * cfg.osgr_pairs:,}")
glue("ch3_draw_z_resampled", f"{z_plain['with replacement']:+.1f}")
glue("ch3_draw_z_disjoint",
     f"{z_plain['disjoint, without replacement']:+.1f}")
glue("ch3_draw_z_corrected", f"{draw_table['z vs corrected'].iloc[1]:+.1f}")
glue("ch3_draw_bias", f"{plain - corrected:.4f}")

# %% [markdown]
# With {glue:text}`ch3_draw_pairs` pairs, the resampled measurement lies {glue:text}`ch3_draw_z_resampled` standard errors from the prediction; the disjoint one {glue:text}`ch3_draw_z_disjoint`, and {glue:text}`ch3_draw_z_corrected` from its corrected prediction.
# The bias, {glue:text}`ch3_draw_bias` here, is small next to the effects this chapter studies, but it is systematic, and a control has to be free of it.
# (The standard errors come from a bootstrap over the pairs, `OSGRMeasurement.standard_error`; every OSGR below carries one.
# The measurements run in float32, which `tests/test_gsnr.py` checks moves the ratio by less than 0.2 standard errors.)

# %% [markdown]
# ## Experiment 1: measured and predicted OSGR through training
#
# We train the network of the profile ({glue:text}`ch3_num_params` parameters) with plain SGD, no momentum, on the training set, once for each of {glue:text}`ch3_n_seeds` seeds (the seed sets the initialization and the batch order).
# At every checkpoint we compute the mean GSNR and the **predicted** OSGR, $\sum_j \tilde g_j^2 / \sum_j (\tilde g_j^2 + \rho_j^2/n)$, from the gradient moments over the training set.
# At a subset of the checkpoints we also take the **measured** OSGR, in a protocol close to the paper's: draw $M$ training sets $D$ of $n$ samples from the training set and $M$ test sets $D'$ of $n$ fresh samples, take one step of learning rate {glue:text}`ch3_osgr_lr` on each $D$ (on a copy of the network), and divide the mean loss decrease on the $D'$ by the mean decrease on the $D$.
# New draws at every checkpoint, so the errors of the points of a curve are independent.
#
# On the first seed we add the **i.i.d. control**: $D$ and $D'$ both drawn with replacement from the fresh samples, and the prediction from the moments over the fresh samples.
# Nothing in it depends on the training set, so assumption 2 holds at every checkpoint, and the control checks the measurement itself: its offset from its prediction should be zero within the error bars, from the first step to the last.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cells: the network will be trained until its training loss is a few hundredths of a nat, while the loss on fresh samples climbs back up.
# Late in training, will the measured OSGR (paper's protocol) follow the prediction, fall below it, or rise above it?
# And will the i.i.d. control?
# :::

# %%
OSGR_AT = set(cfg.osgr_checkpoints)
if not OSGR_AT <= set(cfg.checkpoints):
    raise ValueError("osgr_checkpoints must be among the checkpoints")
fast = dict(pairs=cfg.osgr_pairs, lr=cfg.osgr_lr, dtype=torch.float32)
n = cfg.osgr_n
WEIGHTS = [k for k, _ in new_model().named_parameters()
           if k.endswith("weight")]
y_random = data.corrupt_labels(y, 1.0, dataset.num_classes, seed=cfg.seed)
# the random-label network's distribution: fresh inputs, fresh random labels
y_fresh_random = data.corrupt_labels(y_fresh, 1.0, dataset.num_classes,
                                     seed=cfg.seed + 1)


def trajectory(seed, labels, profile):
    """Experiments 1 and 2 for one seed: GSNR at every checkpoint; on true
    labels also the OSGR (measured at cfg.osgr_checkpoints; the i.i.d.
    control on the first seed). `profile` is there for the cache key."""
    yt, yf = (y, y_fresh) if labels == "true" else (y_random, y_fresh_random)
    steps = iter(sorted(set(cfg.checkpoints)))

    def record(model):
        step = next(steps)
        on_train = gsnr.gradient_moments(model, ce, X, yt)
        on_fresh = gsnr.gradient_moments(model, ce, X_fresh, yf)
        train_loss, train_acc = train.evaluate(model, X, yt)
        row = {"mean GSNR": gsnr.mean_gsnr(on_train),
               "mean GSNR (fresh)": gsnr.mean_gsnr(on_fresh),
               "train loss": train_loss, "train acc": train_acc,
               "test loss": train.evaluate(model, X_fresh, yf)[0]}
        if labels == "random":
            return row
        row.update({
            "predicted": gsnr.osgr_predicted(on_train, n),
            # R for the whole training set: the gap's growth rate
            "R(N) train moments": gsnr.osgr_predicted(on_train, len(X)),
            "R(N) fresh moments": gsnr.osgr_predicted(on_fresh, len(X))})
        row.update({f"GSNR {k}": gsnr.mean_gsnr(on_train.select(k))
                    for k in WEIGHTS})
        if step in OSGR_AT:
            draw = 100_000 * seed + step  # new draws at every checkpoint
            row["measured"] = gsnr.osgr_measured(
                model, ce, X, yt, n, X_fresh, yf, seed=draw, **fast).to_dict()
            if seed == SEEDS[0]:
                row["predicted (iid)"] = gsnr.osgr_predicted(on_fresh, n)
                row["measured (iid)"] = gsnr.osgr_measured(
                    model, ce, X_fresh, yf, n, seed=draw, **fast).to_dict()
        return row
    records = gsnr.train_and_record(
        new_model(seed), ce, X, yt, record, cfg.checkpoints, lr=cfg.lr,
        batch_size=cfg.batch_size, seed=seed)
    return {"records": records}


# the profile is part of every point, so another scale is another cache entry
points = [dict(seed=s, labels=lab, profile=cfg.to_dict())
          for lab in ("true", "random") for s in SEEDS]
# trajectory is defined in this notebook: its cache needs a version
results = sweep.run_sweep(trajectory, points, name="ch3-trajectories",
                          version="1", n_jobs=settings.sweep_jobs())
tables = {(p["labels"], p["seed"]): pd.DataFrame(r["records"])
          for p, r in zip(points, results)}

# %%
def family_z(k, level=0.01):
    """The |z| that k independent standard normals all stay within with
    probability 1 - level (Bonferroni): the bound for a whole curve."""
    return float(norm.ppf(1 - level / (2 * k)))


def osgr_rows(table, column, predicted):
    """One row per checkpoint where `column` was measured: ratio, its
    bootstrap SE and 90% interval, and the prediction."""
    rows = []
    for _, row in table.dropna(subset=[column]).iterrows():
        m = gsnr.OSGRMeasurement.from_dict(row[column])
        boot = m.bootstrap(10_000).numpy()  # many: the SE decides verdicts
        lo, hi = np.quantile(boot, [0.05, 0.95])
        rows.append({"step": int(row.step), "measured": m.ratio,
                     "SE": boot.std(), "low": lo, "high": hi,
                     "predicted": row[predicted],
                     "train loss": row["train loss"],
                     "test loss": row["test loss"],
                     "boot": boot[:2000]})
    out = pd.DataFrame(rows)
    out["z"] = (out["measured"] - out["predicted"]) / out["SE"]
    return out


osgr = {s: osgr_rows(tables["true", s], "measured", "predicted")
        for s in SEEDS}
control = osgr_rows(tables["true", SEEDS[0]], "measured (iid)",
                    "predicted (iid)")
for s in SEEDS:
    finite(osgr[s].drop(columns="boot"))
finite(control.drop(columns="boot"))
osgr[SEEDS[0]].drop(columns="boot").set_index("step").round(4)

# %%
fig, (ax_t, ax_s, ax_l) = plt.subplots(1, 3, figsize=(12, 4),
                                       layout="constrained")
first = osgr[SEEDS[0]]
for s in SEEDS:
    o, kw = osgr[s], dict(alpha=1.0 if s == SEEDS[0] else 0.35)
    ax_t.plot(o.step.clip(lower=1), o["predicted"], "-", color="C0", **kw)
    ax_t.plot(o.step.clip(lower=1), o["measured"], "s--", color="C1",
              markersize=3, **kw)
    ax_t.fill_between(o.step.clip(lower=1), o["low"], o["high"],
                      color="C1", alpha=0.15 if s == SEEDS[0] else 0.06)
ax_t.plot([], [], "-", color="C0", label="predicted (training moments)")
ax_t.plot([], [], "s--", color="C1", label="measured (D train, D' fresh)")
ax_t.errorbar(control.step.clip(lower=1), control["measured"],
              yerr=2 * control["SE"], fmt=".", color="0.3", capsize=2,
              label="i.i.d. control, measured +- 2 SE")
ax_t.plot(control.step.clip(lower=1), control["predicted"], ":",
          color="0.3", label="i.i.d. control, predicted")
ax_t.axvline(cfg.early_steps, color="0.6", linewidth=1)
ax_t.set(xscale="log", xlabel="SGD step (step 0 drawn at 1)",
         ylabel="OSGR R", title="OSGR through training")
ax_t.legend(fontsize=8)
colours = np.log10(first.step.clip(lower=1))
points_ = ax_s.scatter(first["predicted"], first["measured"], c=colours,
                       cmap="viridis", zorder=3)
ax_s.errorbar(first["predicted"], first["measured"], yerr=2 * first["SE"],
              fmt="none", ecolor="0.6", zorder=2)
ax_s.axline((0, 0), slope=1, color="0.5", linewidth=1)
ax_s.set(xlabel="predicted R", ylabel="measured R (+- 2 SE)",
         title=f"seed {SEEDS[0]}: measured vs predicted")
bar = fig.colorbar(points_, ax=ax_s, location="top", shrink=0.6, pad=0.02)
bar.set_label("log10 SGD step", fontsize=8)
for s in SEEDS:
    t = tables["true", s]
    kw = dict(alpha=1.0 if s == SEEDS[0] else 0.35)
    ax_l.plot(t.step.clip(lower=1), t["train loss"], color="C2", **kw)
    ax_l.plot(t.step.clip(lower=1), t["test loss"], color="C3", **kw)
ax_l.plot([], [], color="C2", label="training set")
ax_l.plot([], [], color="C3", label="fresh samples")
ax_l.set(xscale="log", xlabel="SGD step (step 0 drawn at 1)",
         ylabel="cross-entropy (nats)", title="loss (all seeds)")
ax_l.legend()
plt.show()

# %%
def correlation(o, early_only):
    """Pearson r of measured vs predicted, and a 90% interval from
    resampling the pairs at every checkpoint (the measurement's noise)."""
    o = o[o.step <= cfg.early_steps] if early_only else o
    r = pearsonr(o["measured"], o["predicted"]).statistic
    boot = np.stack(o["boot"].to_list()).T  # (n_boot, points)
    a = boot - boot.mean(1, keepdims=True)
    b = (o["predicted"] - o["predicted"].mean()).to_numpy()
    rs = (a @ b) / np.sqrt((a ** 2).sum(1) * (b ** 2).sum())
    return r, *np.quantile(rs, [0.05, 0.95])


def fit_row(o):
    r_e, low_e, _ = correlation(o, True)
    r_w, _, high_w = correlation(o, False)
    return {"r early": r_e, "r early, 90% low": low_e, "r whole run": r_w,
            "r whole run, 90% high": high_w,
            "early |z| max": o[o.step <= cfg.early_steps]["z"].abs().max()}


fits = pd.DataFrame({s: fit_row(osgr[s]) for s in SEEDS}).T
fits = fits.rename_axis("seed")
fits.round(3)

# %% tags=remove-cell
early_of = lambda o: o[o.step <= cfg.early_steps]
late_of = lambda o: o[o.step > cfg.early_steps]
r_early = fits["r early"]
r_all = fits["r whole run"]
n_early = len(early_of(first))
early_z_max = fits["early |z| max"].max()
late_first = late_of(first)
late_all = pd.concat([late_of(osgr[s]).assign(seed=s) for s in SEEDS],
                     ignore_index=True)
worst_late = late_all.loc[late_all["z"].abs().idxmax()]
# the first late checkpoint where the fresh loss is 2x the train loss
overfit = first[first["test loss"] > 2 * first["train loss"]]
agree_at = overfit.iloc[0] if len(overfit) else first.iloc[-1]
ctrl_offset = control["measured"] - control["predicted"]
ctrl_mean = ctrl_offset.mean()
ctrl_mean_se = np.sqrt((control["SE"] ** 2).sum()) / len(control)
ctrl_z = (ctrl_offset / control["SE"]).abs()
glue("ch3_osgr_lr", f"{cfg.osgr_lr:g}")
glue("ch3_osgr_n", cfg.osgr_n)
glue("ch3_osgr_pairs", cfg.osgr_pairs)
glue("ch3_n_seeds", len(SEEDS))
glue("ch3_early_steps", cfg.early_steps)
glue("ch3_n_osgr_checkpoints", n_early)
glue("ch3_r_early_range", f"{r_early.min():.2f} to {r_early.max():.2f}")
glue("ch3_r_early_low", f"{fits['r early, 90% low'].min():.2f}")
glue("ch3_r_all_range", f"{r_all.min():.2f} to {r_all.max():.2f}")
glue("ch3_early_z_max", f"{early_z_max:.1f}")
glue("ch3_se_init", f"{first['SE'].iloc[0]:.3f}")
glue("ch3_se_range", f"{first['SE'].min():.3f} to {first['SE'].max():.3f}")
glue("ch3_worst_step", int(worst_late.step))
glue("ch3_worst_seed", int(worst_late.seed))
glue("ch3_worst_z", f"{worst_late['z']:+.1f}")
glue("ch3_worst_measured", f"{worst_late['measured']:.2f}")
glue("ch3_worst_low", f"{worst_late['low']:.2f}")
glue("ch3_worst_high", f"{worst_late['high']:.2f}")
glue("ch3_worst_predicted", f"{worst_late['predicted']:.2f}")
glue("ch3_worst_train_loss", f"{worst_late['train loss']:.3f}")
glue("ch3_worst_test_loss", f"{worst_late['test loss']:.2f}")
glue("ch3_agree_step", int(agree_at.step))
later = bool(int(worst_late.step) > int(agree_at.step))
glue("ch3_worst_when", choose(later, "comes later",
                              "comes no later than that"))
glue("ch3_worst_when_summary", choose(
    later, f"comes after the training and fresh losses have begun to part "
           f"(step {int(worst_late.step)} against {int(agree_at.step)}), "
           "not at the same moment",
    f"comes by the time the training and fresh losses part (step "
    f"{int(worst_late.step)} against {int(agree_at.step)})"))
glue("ch3_agree_train_loss", f"{agree_at['train loss']:.2f}")
glue("ch3_agree_test_loss", f"{agree_at['test loss']:.2f}")
glue("ch3_agree_measured", f"{agree_at['measured']:.2f}")
glue("ch3_agree_predicted", f"{agree_at['predicted']:.2f}")
glue("ch3_agree_z", f"{agree_at['z']:+.1f}")
glue("ch3_agree_reading", choose(abs(agree_at["z"]) <= 3,
                                 "still agree within 3 standard errors",
                                 "already differ by more than 3 standard "
                                 "errors"))
glue("ch3_ctrl_mean", f"{ctrl_mean:+.4f}")
glue("ch3_ctrl_mean_se", f"{ctrl_mean_se:.4f}")
glue("ch3_ctrl_z_max", f"{ctrl_z.max():.2f}")
glue("ch3_ctrl_worst_step", int(control.step.iloc[int(ctrl_z.argmax())]))
glue("ch3_ctrl_z_sd", f"{(ctrl_offset / control['SE']).std():.2f}")
z_family = family_z(len(control))
glue("ch3_z_family", f"{z_family:.2f}")
glue("ch3_ctrl_reading", choose(
    ctrl_z.max() <= z_family,
    f"within the family-wise bound of {z_family:.2f} standard errors that "
    f"the scorecard allows for {len(control)} checkpoints (a 1% chance of "
    "any exceedance if the error bars are right).",
    f"beyond the family-wise bound of {z_family:.2f} standard errors that "
    f"the scorecard allows for {len(control)} checkpoints, so the control's "
    "row fails."))
glue("ch3_n_control", len(control))
# the paper protocol's late checkpoints (all seeds) against the control's largest departure
n_beyond = int((late_all["z"].abs() > ctrl_z.max()).sum())
glue("ch3_late_vs_control", choose(
    n_beyond == len(late_all),
    f"Every one of the paper protocol's {len(late_all)} late departures (all "
    "seeds, after the grey line) is larger than anything the control shows: "
    "they are a property of the trained network, not of the procedure.",
    choose(n_beyond == 0,
           f"None of the paper protocol's {len(late_all)} late departures (all "
           "seeds, after the grey line) is larger than the control's largest: "
           "at this scale they cannot be told apart from the procedure's own "
           "scatter.",
           f"{n_beyond} of the paper protocol's {len(late_all)} late "
           "departures (all seeds, after the grey line) are larger than the "
           "control's "
           "largest; the others are within the procedure's own scatter, so "
           "the late departure is a property of the trained network only "
           "where it is that large.")))
late_two = pd.concat([osgr[s].tail(2) for s in SEEDS])
late_diff = late_two["measured"] - late_two["predicted"]
glue("ch3_late_diff_range", f"{late_diff.min():+.2f} to {late_diff.max():+.2f}")
glue("ch3_late_z_range",
     f"{late_two['z'].min():+.1f} to {late_two['z'].max():+.1f}")
glue("ch3_late_reading", choose(
    (late_diff > 0).all(),
    "the fresh mean gradient has a larger component along the step than the "
    "training mean gradient itself, and the measured OSGR exceeds the "
    "prediction",
    "the two differ, in a direction that depends on the seed and checkpoint"))
glue("ch3_R0", f"{first['predicted'].iloc[0]:.2f}")
glue("ch3_R_min", f"{first['predicted'].min():.2f}")

# %% [markdown]
# **What to notice.**
# Here $n$ = {glue:text}`ch3_osgr_n` and each measurement averages $M$ = {glue:text}`ch3_osgr_pairs` pairs; its bootstrap standard error is {glue:text}`ch3_se_init` at initialization and {glue:text}`ch3_se_range` over the run (the bands are 90% intervals).
# The predicted OSGR starts at {glue:text}`ch3_R0` and falls as low as {glue:text}`ch3_R_min`: the mean gradient shrinks while the per-sample gradients keep disagreeing.
# Over early training (the {glue:text}`ch3_n_osgr_checkpoints` measured checkpoints up to step {glue:text}`ch3_early_steps`, left of the grey line) the measured OSGR follows the prediction: Pearson $r$ = {glue:text}`ch3_r_early_range` over the seeds (the lowest 90% bootstrap bound is {glue:text}`ch3_r_early_low`), and no early point is more than {glue:text}`ch3_early_z_max` standard errors from its prediction.
# Over the whole run $r$ is only {glue:text}`ch3_r_all_range`.
#
# Does the departure begin when the network starts to overfit?
# At step {glue:text}`ch3_agree_step`, the first checkpoint at which the fresh-sample loss ({glue:text}`ch3_agree_test_loss` nats) is more than twice the training loss ({glue:text}`ch3_agree_train_loss`), measured and predicted OSGR {glue:text}`ch3_agree_reading` ({glue:text}`ch3_agree_measured` against {glue:text}`ch3_agree_predicted`, {glue:text}`ch3_agree_z` standard errors).
# The clearest departure {glue:text}`ch3_worst_when`: the largest in standard errors, over all seeds, is at step {glue:text}`ch3_worst_step` (seed {glue:text}`ch3_worst_seed`), where the measured OSGR is {glue:text}`ch3_worst_measured` (90% interval {glue:text}`ch3_worst_low` to {glue:text}`ch3_worst_high`, {glue:text}`ch3_worst_z` standard errors) against a predicted {glue:text}`ch3_worst_predicted`, with the training loss at {glue:text}`ch3_worst_train_loss` nats and the fresh-sample loss at {glue:text}`ch3_worst_test_loss`.
# What breaks the link is a training set so well fitted that its mean gradient no longer resembles the mean gradient of unseen samples, and that can come after the gap has opened (Experiment 1b below shows the mechanism directly).
#
# The i.i.d. control shows no systematic offset: over its {glue:text}`ch3_n_control` checkpoints the mean offset from its prediction is {glue:text}`ch3_ctrl_mean` (standard error {glue:text}`ch3_ctrl_mean_se`).
# Its largest single departure is {glue:text}`ch3_ctrl_z_max` standard errors, at step {glue:text}`ch3_ctrl_worst_step`; {glue:text}`ch3_ctrl_reading`
# The z-values of its checkpoints have a standard deviation of {glue:text}`ch3_ctrl_z_sd` (1 if the error bars are exactly right), so the error bars may be slightly narrow; read a 2-3 standard-error departure at a single checkpoint as weak evidence.
# {glue:text}`ch3_late_vs_control`

# %% [markdown]
# ### The gap the OSGR predicts
#
# The introduction turned the OSGR into a prediction of the generalization gap: summed over steps, $(1 - R_t(\mathcal{Z}, N))\, \Delta L_{\text{train},t}$ should add up to the growth of $L_{\text{test}} - L_{\text{train}}$.
# With mini-batches the argument is the same, because a mini-batch gradient averages to the training set's, so $R$ is taken for the whole training set, $N$ = {glue:text}`ch3_n_train` samples.
# We evaluate $R(\mathcal{Z}, N)$ at each checkpoint from the gradient moments, once over the training set (what a practitioner has) and once over the fresh samples (the distribution), and sum between checkpoints with the trapezoidal rule.

# %%
def accumulated_gap(t, column):
    """Sum of (1 - R) * (drop of the training loss) between checkpoints, R
    averaged over the two ends; and the measured growth of the gap."""
    drop = -t["train loss"].diff()
    r_mid = (t[column] + t[column].shift()) / 2
    predicted = ((1 - r_mid) * drop).fillna(0.0).cumsum()
    gap = t["test loss"] - t["train loss"]
    return predicted, gap - gap.iloc[0]


def frozen_gap(t, column):
    """The null: the same sum with R held at its value at initialization,
    which ignores everything the GSNR does during training."""
    return (1 - t[column].iloc[0]) * (t["train loss"].iloc[0]
                                      - t["train loss"])


fig, ax = plt.subplots(figsize=(7, 4))
for s in SEEDS:
    t, kw = tables["true", s], dict(alpha=1.0 if s == SEEDS[0] else 0.35)
    steps = t.step.clip(lower=1)
    ax.plot(steps, accumulated_gap(t, "R(N) fresh moments")[1], "-",
            color="k", linewidth=2, **kw)
    ax.plot(steps, accumulated_gap(t, "R(N) fresh moments")[0], "--",
            color="C4", **kw)
    ax.plot(steps, accumulated_gap(t, "R(N) train moments")[0], "-.",
            color="C0", **kw)
    ax.plot(steps, frozen_gap(t, "R(N) fresh moments"), ":", color="C3",
            **kw)
ax.plot([], [], "k-", linewidth=2, label="measured growth of the gap")
ax.plot([], [], "--", color="C4", label="sum of (1 - R) dL, fresh moments")
ax.plot([], [], "-.", color="C0", label="sum of (1 - R) dL, training moments")
ax.plot([], [], ":", color="C3", label="null: R frozen at initialization")
ax.axvline(cfg.early_steps, color="0.6", linewidth=1)
ax.set(xscale="log", xlabel="SGD step (step 0 drawn at 1)",
       ylabel="growth of test - train loss (nats)",
       title="the generalization gap (all seeds)")
ax.legend(fontsize=8, loc="upper left")
plt.show()

# %% tags=remove-cell
def gap_at(t, step, column):
    predicted, measured = accumulated_gap(t, column)
    i = int(np.flatnonzero(t.step.to_numpy() <= step)[-1])
    return predicted.iloc[i], measured.iloc[i]


gap_early = pd.DataFrame(
    {s: dict(zip(["predicted", "measured"],
                 gap_at(tables["true", s], cfg.early_steps,
                        "R(N) fresh moments"))) for s in SEEDS}).T
gap_early["ratio"] = gap_early["predicted"] / gap_early["measured"]
at_early = lambda t: int(np.flatnonzero(t.step.to_numpy()
                                        <= cfg.early_steps)[-1])
gap_early["null"] = [frozen_gap(t, "R(N) fresh moments").iloc[at_early(t)]
                     for t in (tables["true", s] for s in SEEDS)]
gap_early["null ratio"] = gap_early["null"] / gap_early["measured"]
# closer in log ratio than the null, seed by seed
gap_beats_null = bool((np.abs(np.log(gap_early["ratio"]))
                       < np.abs(np.log(gap_early["null ratio"]))).all())
gap_end = pd.DataFrame(
    {s: dict(zip(["predicted", "measured"],
                 gap_at(tables["true", s], cfg.checkpoints[-1],
                        "R(N) fresh moments"))) for s in SEEDS}).T
gap_end_train = pd.DataFrame(
    {s: dict(zip(["predicted", "measured"],
                 gap_at(tables["true", s], cfg.checkpoints[-1],
                        "R(N) train moments"))) for s in SEEDS}).T
glue("ch3_n_train", f"{len(X):,}")
span = lambda v, f=".2f": f"{v.min():{f}} to {v.max():{f}}"
glue("ch3_gap_early_pred", span(gap_early["predicted"], ".3f"))
glue("ch3_gap_early_meas", span(gap_early["measured"], ".3f"))
glue("ch3_gap_early_ratio", span(gap_early["ratio"]))
glue("ch3_gap_null_ratio", span(gap_early["null ratio"]))
glue("ch3_gap_path_reading", choose(
    gap_beats_null, "predicted the early gap better than a frozen R",
    "predicted the early gap no better than a frozen R"))
glue("ch3_gap_null_reading", choose(
    gap_beats_null,
    "tracking the GSNR brings the sum closer to the measured gap than "
    "freezing R at its initial value, in every seed",
    "freezing R at its initial value does as well or better, so over early "
    "training the GSNR's changes add nothing to the prediction of the gap"))
glue("ch3_gap_end_pred", span(gap_end["predicted"]))
glue("ch3_gap_end_train_pred", span(gap_end_train["predicted"]))
glue("ch3_gap_end_meas", span(gap_end["measured"]))
glue("ch3_last_step", int(cfg.checkpoints[-1]))

# %% [markdown]
# **What to notice.**
# Up to step {glue:text}`ch3_early_steps` the sum predicts a gap of {glue:text}`ch3_gap_early_pred` nats (fresh-sample moments, over the seeds) where the measured gap grew by {glue:text}`ch3_gap_early_meas`: predicted over measured {glue:text}`ch3_gap_early_ratio`, the right order of magnitude, not an accurate forecast.
# The null, the same sum with $R$ frozen at its value at initialization, gives {glue:text}`ch3_gap_null_ratio`: {glue:text}`ch3_gap_null_reading`.
# (The measured training-loss drops also contain what the first-order argument leaves out, the mini-batch noise and the curvature of each step, so part of the mismatch is the linearization, not assumption 2.)
# By step {glue:text}`ch3_last_step` the measured gap has grown by {glue:text}`ch3_gap_end_meas` nats, and the sum predicts {glue:text}`ch3_gap_end_pred` nats of it with the fresh-sample moments and {glue:text}`ch3_gap_end_train_pred` nats with the training-set moments.
# The link is a first-order statement about a network that has not specialized to its training set: here it gets the order of magnitude of the gap's early growth, and by construction it cannot see the overfitting that follows.

# %% [markdown]
# ### Experiment 1b: assumption 2, broken on purpose
#
# In the paper's protocol every $D$ is drawn from a training set of {glue:text}`ch3_n_train` samples, of which one network has fitted all, so a single $D$ of {glue:text}`ch3_osgr_n` is only a small part of what shaped the network.
# The assumption can be made to break cleanly: train {glue:text}`ch3_own_sets` networks from the same initialization, each with full-batch gradient descent on its *own* training set $D_k$ of {glue:text}`ch3_osgr_n` samples, and measure each one's OSGR on exactly that set, with {glue:text}`ch3_own_test_sets` fresh test sets $D'$ each.
# Now $\theta$ is a function of the very $D$ that the step is computed on, which is the situation of a network trained on its training set, in miniature.
# The prediction is the one the paper would make: from each network's gradient moments over the fresh samples (the distribution), as if $D$ were a new draw.

# %%
def own_set_run(k, profile):
    """A network trained on its own D_k of n samples: its one-step decreases
    on D_k and on fresh D', and the prediction from fresh moments."""
    g = torch.Generator().manual_seed(10_000 + k)
    own = torch.randperm(len(X), generator=g)[:n]
    Xk, yk = X[own], y[own]
    steps = iter(cfg.own_checkpoints)

    def record(model):
        step = next(steps)
        m = gsnr.osgr_measured(model, ce, Xk, yk, n, X_fresh, y_fresh,
                               pairs=cfg.own_test_sets, lr=cfg.osgr_lr,
                               replace=False, seed=100 * k + step,
                               dtype=torch.float32)
        moments = gsnr.gradient_moments(model, ce, X_fresh, y_fresh)
        return {"train decrease": float(m.train_decrease.mean()),
                "test decrease": float(m.test_decrease.mean()),
                "predicted": gsnr.osgr_predicted(moments, n),
                "train loss": train.evaluate(model, Xk, yk)[0],
                "test loss": train.evaluate(model, X_fresh, y_fresh)[0]}
    return {"records": gsnr.train_and_record(
        new_model(), ce, Xk, yk, record, cfg.own_checkpoints, lr=cfg.lr,
        seed=k)}


own_points = [dict(k=k, profile=cfg.to_dict()) for k in range(cfg.own_sets)]
own = sweep.run_sweep(own_set_run, own_points, name="ch3-own-sets",
                      version="1", n_jobs=settings.sweep_jobs())
own = pd.concat([pd.DataFrame(r["records"]).assign(network=k)
                 for k, r in enumerate(own)])
finite(own)
boot_rng = np.random.default_rng(0)


def own_summary(at):
    """R over the networks (ratio of mean decreases) with a bootstrap over
    networks, and the mean prediction."""
    d = at.set_index("network")
    picks = boot_rng.integers(len(d), size=(2000, len(d)))
    boot = (d["test decrease"].to_numpy()[picks].mean(1)
            / d["train decrease"].to_numpy()[picks].mean(1))
    measured = d["test decrease"].mean() / d["train decrease"].mean()
    return pd.Series({"measured": measured, "SE": boot.std(),
                      "predicted": d["predicted"].mean(),
                      "train loss": d["train loss"].mean(),
                      "test loss": d["test loss"].mean()})


own_table = pd.DataFrame({step: own_summary(at)
                          for step, at in own.groupby("step")}).T
own_table["z"] = ((own_table["measured"] - own_table["predicted"])
                  / own_table["SE"])
own_table.round(4)

# %%
fig, (ax_r, ax_l) = plt.subplots(1, 2, figsize=(10, 3.4),
                                 layout="constrained")
steps = own_table.index.to_series().clip(lower=1)
ax_r.errorbar(steps, own_table["measured"], yerr=2 * own_table["SE"],
              fmt="s--", capsize=2, label="measured on its own D (+- 2 SE)")
ax_r.plot(steps, own_table["predicted"], "o-",
          label="predicted (fresh moments)")
ax_r.axhline(0, color="0.6", linewidth=1)
# linear in [-1, 1] (the early split), logarithmic beyond (the late fall)
ax_r.set_yscale("symlog", linthresh=1, linscale=2)
ax_r.set_yticks([-10, -3, -1, -0.5, 0, 0.2, 0.4, 0.6])
ax_r.set_yticklabels(["-10", "-3", "-1", "-0.5", "0", "0.2", "0.4", "0.6"])
ax_r.set(xscale="log", xlabel="GD step on D (step 0 drawn at 1)",
         ylabel="OSGR R", title=f"{cfg.own_sets} networks, each on its own D")
ax_r.legend(fontsize=7)
ax_l.plot(steps, own_table["train loss"], label="its D")
ax_l.plot(steps, own_table["test loss"], label="fresh samples")
ax_l.set(xscale="log", xlabel="GD step on D",
         ylabel="cross-entropy (nats)", title="mean loss")
ax_l.legend()
plt.show()

# %% tags=remove-cell
own_first, own_last = own_table.iloc[0], own_table.iloc[-1]
own_split = own_table[own_table["z"].abs() > 3]
own_split_step = int(own_split.index[0]) if len(own_split) else None
glue("ch3_own_sets", cfg.own_sets)
glue("ch3_own_loss0", f"{own_first['train loss']:.2f}")
glue("ch3_own_test_sets", cfg.own_test_sets)
glue("ch3_own_z0", f"{own_first['z']:+.1f}")
glue("ch3_own_last_step", int(own_table.index[-1]))
glue("ch3_own_last_measured", f"{own_last['measured']:.2f}")
glue("ch3_own_last_se", f"{own_last['SE']:.2f}")
glue("ch3_own_last_predicted", f"{own_last['predicted']:.2f}")
glue("ch3_own_last_train_loss", f"{own_last['train loss']:.3f}")
glue("ch3_own_split_step",
     "no checkpoint" if own_split_step is None else f"step {own_split_step}")
glue("ch3_own_split_train_loss",
     "-" if own_split_step is None
     else f"{own_table.loc[own_split_step, 'train loss']:.2f}")

# %% [markdown]
# **What to notice.**
# At initialization measured and predicted agree ({glue:text}`ch3_own_z0` standard errors apart): nothing has yet tied $\theta$ to $D$.
# The first checkpoint at which they are more than 3 standard errors apart is {glue:text}`ch3_own_split_step`, at a mean training loss of {glue:text}`ch3_own_split_train_loss` nats ({glue:text}`ch3_own_loss0` at initialization): with {glue:text}`ch3_osgr_n` samples and {glue:text}`ch3_num_params` parameters, a few full-batch steps are enough to tie the network to its set.
# By step {glue:text}`ch3_own_last_step` the networks have nearly fitted their sets (training loss {glue:text}`ch3_own_last_train_loss`), and a step on $D$ helps unseen data by a ratio of {glue:text}`ch3_own_last_measured` (standard error {glue:text}`ch3_own_last_se`) where the moments predict {glue:text}`ch3_own_last_predicted`.
# The gradient of a set the network has fitted is small and points at the few samples it still gets wrong; it is not a draw from the distribution of gradients of unseen sets.
# That is assumption 2 failing, seen directly, and it is why moments and OSGR measured on a training set late in training describe the training set.

# %% [markdown]
# ## Experiment 2: GSNR on true and on random labels
#
# The same network, from the same initializations, trained the same way on labels drawn uniformly at random (one draw of the labels, shared by the seeds).
# At each checkpoint we average $r_j$ over all parameters.
# We take the moments two ways: over the training set with its labels (what a practitioner can compute), and over the fresh samples, an estimate of the paper's definition, which is over the data distribution.
# For the random-label network the fresh samples get fresh random labels: that is its data distribution.
# (These runs were trained in the same sweep as Experiment 1.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
for ax, where in zip(axes, ["training set", "fresh samples"]):
    column = "mean GSNR" if where == "training set" else "mean GSNR (fresh)"
    for s in SEEDS:
        kw = dict(alpha=1.0 if s == SEEDS[0] else 0.35)
        for labels, colour in (("true", "C0"), ("random", "C1")):
            t = tables[labels, s]
            ax.plot(t.step.clip(lower=1), t[column], "o-", color=colour,
                    markersize=3, **kw)
    ax.set(xscale="log", yscale="log", xlabel="SGD step (step 0 at 1)",
           title=f"moments over the {where}")
for labels, colour in (("true", "C0"), ("random", "C1")):
    axes[0].plot([], [], "o-", color=colour, label=f"{labels} labels")
axes[0].set_ylabel("mean GSNR, all parameters")
axes[0].legend()
plt.show()

# %% tags=remove-cell
def label_ratios(column):
    """true / random mean GSNR, one row per seed, one column per checkpoint."""
    return np.stack([(tables["true", s][column]
                      / tables["random", s][column]).to_numpy()
                     for s in SEEDS])


ratio_labels = label_ratios("mean GSNR")
ratio_fresh = label_ratios("mean GSNR (fresh)")
is_early = (tables["true", SEEDS[0]].step <= cfg.early_steps).to_numpy()
ratio_early = ratio_labels[:, is_early]
first_seed = ratio_labels[0]
crossed = np.flatnonzero(first_seed <= 1)
first_above = int(crossed[0]) if len(crossed) else len(first_seed) - 1
worst = int(np.argmin(first_seed))
t_random = tables["random", SEEDS[0]]
steps_all = tables["true", SEEDS[0]].step
glue("ch3_label_early_min", f"{ratio_early.min():.1f}")
glue("ch3_label_early_max", f"{ratio_early.max():.1f}")
glue("ch3_label_below", f"{int((ratio_labels > 1).all(0).sum())}")
glue("ch3_n_checkpoints", len(steps_all))
glue("ch3_label_cross_step", int(steps_all.iloc[first_above]))
glue("ch3_label_cross_acc",
     f"{100 * t_random['train acc'].iloc[first_above]:.0f}%")
glue("ch3_label_worst_step", int(steps_all.iloc[worst]))
glue("ch3_label_worst_factor", f"{1 / first_seed.min():.1f}")
glue("ch3_fresh_below", f"{int((ratio_fresh > 1).all(0).sum())}")
glue("ch3_fresh_worst_factor", f"{1 / ratio_fresh.min():.1f}")
glue("ch3_random_fresh_loss", f"{t_random['test loss'].iloc[worst]:.2f}")

# %% [markdown]
# **What to notice.**
# Over early training (up to step {glue:text}`ch3_early_steps`) the random-label network's GSNR is {glue:text}`ch3_label_early_min` to {glue:text}`ch3_label_early_max` times lower than the true-label one, over all seeds.
# With random labels the samples of a class pull the weights in unrelated directions, so their gradients cancel in the mean and add up in the variance.
# But not at every checkpoint: the true-label GSNR is higher for every seed at {glue:text}`ch3_label_below` of the {glue:text}`ch3_n_checkpoints` checkpoints.
# On the first seed, from step {glue:text}`ch3_label_cross_step` on, when the random-label network has begun to memorize (training accuracy {glue:text}`ch3_label_cross_acc` on its labels), its training-set GSNR climbs past the true-label one, to {glue:text}`ch3_label_worst_factor` times it at step {glue:text}`ch3_label_worst_step`.
# Moments over a training set that the network is memorizing describe the memorization, not the data distribution: this is the same failure of assumption 2 as in Experiment 1b.
# The fresh-sample estimate does not rescue the claim either: it is higher on true labels for every seed at {glue:text}`ch3_fresh_below` checkpoints, and at worst {glue:text}`ch3_fresh_worst_factor` times *lower*.
# A memorizing network is overconfident on unseen samples (at step {glue:text}`ch3_label_worst_step`, a loss of {glue:text}`ch3_random_fresh_loss` nats on fresh random labels, where a uniform guess has $\ln 10 \approx 2.30$), and the gradients that would undo overconfidence agree from sample to sample.
# The paper's statement, "GSNR stays low on random labels", holds here until the random-label network starts to memorize its labels.

# %% [markdown]
# ### Does the GSNR of a deep network rise?
#
# The paper's second claim is about the dynamics: in a deep network the GSNR *rises* early in training, where in a shallow model it can only decay.
# A single checkpoint above an earlier minimum could be noise, so we measure a **sustained rise**: the mean GSNR over {glue:text}`ch3_rise_window` consecutive checkpoints, divided by the lowest GSNR before them, at its largest over the windows that lie within early training.
# The random-label runs are the null: a network that learns no feature of the labels should not pass a test of feature learning.
# A curve that only falls scores below 1; one noisy uptick is diluted by the checkpoints around it.
# We also report how the GSNR compares with its value at initialization, which a rise from a dip need not recover.

# %%
def sustained_rise(steps, values, until=None, window=cfg.rise_window):
    """The largest mean of `window` consecutive values over the lowest value
    before them, the whole window at steps <= until (below 1 for a curve
    that only falls)."""
    steps, values = np.asarray(steps), np.asarray(values, dtype=float)
    until = steps.max() if until is None else until
    lowest = np.minimum.accumulate(values)
    starts = [i for i in range(len(values) - window)
              if steps[i + window] <= until]
    return float(max(values[i + 1:i + 1 + window].mean() / lowest[i]
                     for i in starts))


random_rise = pd.DataFrame(
    {s: {"sustained rise": sustained_rise(t.step, t["mean GSNR"],
                                          cfg.early_steps),
         "sustained rise (fresh)": sustained_rise(
             t.step, t["mean GSNR (fresh)"], cfg.early_steps)}
     for s, t in ((s, tables["random", s]) for s in SEEDS)}).T
rise = pd.DataFrame(
    {s: {"sustained rise": sustained_rise(t.step, t["mean GSNR"],
                                          cfg.early_steps),
         "sustained rise (fresh)": sustained_rise(
             t.step, t["mean GSNR (fresh)"], cfg.early_steps),
         "GSNR(early end) / GSNR(0)":
             t["mean GSNR"][t.step <= cfg.early_steps].iloc[-1]
             / t["mean GSNR"].iloc[0]}
     for s, t in ((s, tables["true", s]) for s in SEEDS)}).T
pd.concat({"true labels": rise, "random labels": random_rise}).rename_axis(
    ["labels", "seed"]).round(3)

# %%
fig, ax = plt.subplots(figsize=(6.4, 3.4))
t = tables["true", SEEDS[0]]
for k in WEIGHTS:
    ax.plot(t.step.clip(lower=1), t[f"GSNR {k}"], "o-", markersize=3,
            label=f"layer {k}")
ax.axvline(cfg.early_steps, color="0.6", linewidth=1)
ax.set(xscale="log", yscale="log", xlabel="SGD step (step 0 drawn at 1)",
       ylabel="mean GSNR of the weights",
       title=f"per layer, seed {SEEDS[0]}")
ax.legend(fontsize=7)
plt.show()

# %% tags=remove-cell
per_layer_rise = {k: sustained_rise(t.step, t[f"GSNR {k}"], cfg.early_steps)
                  for k in WEIGHTS}
top_layer = max(per_layer_rise, key=per_layer_rise.get)
glue("ch3_rise_window", cfg.rise_window)
glue("ch3_rise_reading", choose((rise["sustained rise"] > 1).all(),
                                "first falls and then rises again, in every "
                                "seed",
                                "does not rise again in every seed"))
glue("ch3_rise_range", f"{rise['sustained rise'].min():.2f} to "
                       f"{rise['sustained rise'].max():.2f}")
glue("ch3_rise_fresh_range", f"{rise['sustained rise (fresh)'].min():.2f} "
                             f"to {rise['sustained rise (fresh)'].max():.2f}")
glue("ch3_random_rise_range",
     f"{random_rise['sustained rise'].min():.2f} to "
     f"{random_rise['sustained rise'].max():.2f}")
glue("ch3_random_rise_fresh_range",
     f"{random_rise['sustained rise (fresh)'].min():.2f} to "
     f"{random_rise['sustained rise (fresh)'].max():.2f}")
separated = lambda c: rise[c].min() > random_rise[c].max()
glue("ch3_rise_null_reading", choose(
    separated("sustained rise"),
    "with the training-set moments every true-label rise exceeds every "
    "random-label one"
    + choose(separated("sustained rise (fresh)"),
             ", and with the fresh-sample moments too.",
             ", but with the fresh-sample moments they overlap, so a rise "
             "out of the early dip is not by itself a sign of learned "
             "features."),
    "the true- and random-label rises overlap even with the training-set "
    "moments, so a rise out of the early dip is not by itself a sign of "
    "learned features."))
glue("ch3_vs_init_range",
     f"{rise['GSNR(early end) / GSNR(0)'].min():.2f} to "
     f"{rise['GSNR(early end) / GSNR(0)'].max():.2f}")
glue("ch3_top_layer", top_layer)
glue("ch3_top_layer_rise", f"{per_layer_rise[top_layer]:.2f}")
glue("ch3_layer_rises", ", ".join(f"{k} {v:.2f}"
                                  for k, v in per_layer_rise.items()))

# %% [markdown]
# **What to notice.**
# On the true labels the mean GSNR {glue:text}`ch3_rise_reading`: the sustained rise within the first {glue:text}`ch3_early_steps` steps is {glue:text}`ch3_rise_range` over the seeds with the training-set moments, {glue:text}`ch3_rise_fresh_range` with the moments over fresh samples.
# On random labels the same statistic is {glue:text}`ch3_random_rise_range` (training-set moments) and {glue:text}`ch3_random_rise_fresh_range` (fresh samples): {glue:text}`ch3_rise_null_reading`
# And it is a rise out of a dip: at step {glue:text}`ch3_early_steps` the GSNR is {glue:text}`ch3_vs_init_range` times its value at initialization.
# Per layer (first seed; sustained rises {glue:text}`ch3_layer_rises`) the largest rise is in {glue:text}`ch3_top_layer`, {glue:text}`ch3_top_layer_rise`.

# %% [markdown]
# ## Why a linear model's GSNR tends to zero
#
# Take a linear model on fixed features, $f(x) = w^\top \phi(x)$, trained by full-batch gradient descent on the squared error, with residuals $e_i = w^\top \phi_i - y_i$.
# Sample $i$'s gradient is $g_i = e_i \phi_i$.
# Write $w^\ast$ for the least-squares solution, $e_i^\ast$ for its residuals and $\delta_t = w_t - w^\ast$.
# Then $e_i = e_i^\ast + \phi_i^\top \delta_t$, the mean gradient is $\tilde g = H \delta_t$ with $H = \frac1N \sum_i \phi_i \phi_i^\top$ (the residuals at the optimum are orthogonal to the features), and gradient descent contracts $\delta$: $\delta_{t+1} = (I - \lambda H)\, \delta_t$.
# So the signal $\tilde g_j^2 = (H \delta_t)_j^2$ decays geometrically to 0, while the variance tends to $\operatorname{Var}_i(e_i^\ast \phi_{ij})$, which is positive whenever the labels are not an exact linear function of the features.
# The GSNR of every weight tends to 0, because the features never change: the only moving part is $\delta_t$, and it only shrinks.
# This is a statement about the limit, not about every step: the variance also has a term linear in $\delta_t$, and one coordinate's $(H\delta_t)_j^2$ can grow while another component of $\delta$ decays, so the ratio can rise for a while.
# Nor does the derivation cover cross-entropy or mini-batches; the frozen networks of Experiments 3 and 4 test the claim empirically, with cross-entropy and SGD on MNIST-1D and with the squared error and full-batch descent on the toy.
#
# In a network whose lower layers train, the features $\phi$ themselves move.
# If they move towards directions that the samples of a class share, the products $e_i \phi_{ij}$ of the top layer agree more from sample to sample, and its GSNR can rise: this is the paper's mechanism.

# %% [markdown]
# ## Experiment 3: learned features versus frozen features
#
# The test is a two-layer MLP trained twice from the same initialization: once normally, once with its first layer frozen (`requires_grad_(False)`), which turns it into a linear model on random ReLU features.
# We follow the mean GSNR of the *second* layer's weights, at two widths (wide networks move their features less) and for {glue:text}`ch3_n_seeds` seeds.
#
# :::{admonition} Predict, then check
# :class: predict
# The argument above says the trained network's output-layer GSNR can rise out of its early dip and the frozen one's cannot.
# At the *last* checkpoint, which of the two will have the larger output-layer GSNR, and which the lower training loss?
# If "larger GSNR, better generalization" were a statement about the final network, what would you expect?
# :::

# %%
def second_layer_run(model, loss_fn, X, y, frozen, steps, **train_kw):
    """Mean GSNR of the output layer's weights through training; first layer
    trained/frozen."""
    model = model.to(device)
    # model[0] flattens; model[1] is the first Linear
    model[1].requires_grad_(not frozen)
    out = f"{len(model) - 1}.weight"

    def record(m):
        with torch.no_grad():
            loss = float(loss_fn(m(X.to(device)), y.to(device)))
        moments = gsnr.gradient_moments(m, loss_fn, X, y).select(out)
        return {"gsnr": gsnr.mean_gsnr(moments), "loss": loss}
    return finite(pd.DataFrame(gsnr.train_and_record(
        model, loss_fn, X, y, record, steps, **train_kw)))


X_toy, y_toy = data.product_regression(cfg.toy_n, cfg.toy_d, cfg.toy_noise,
                                       seed=cfg.seed)


def contrast_run(task, width, frozen, seed, profile):
    """Experiment 3 (task 'data') or 4 ('toy') for one width, seed and
    first-layer setting."""
    if task == "data":
        model = models.mlp(dataset.input_shape, (width,),
                           dataset.num_classes, seed=seed)
        run = second_layer_run(model, ce, X, y, frozen,
                               cfg.contrast_checkpoints, lr=cfg.lr,
                               batch_size=cfg.batch_size, seed=seed)
    else:
        model = models.mlp(cfg.toy_d, (width,), num_classes=1, seed=seed)
        run = second_layer_run(model, F.mse_loss, X_toy, y_toy, frozen,
                               cfg.toy_checkpoints, lr=cfg.toy_lr)
    return {"records": run.to_dict("records")}


contrast_points = [dict(task=task, width=w, frozen=f, seed=s,
                        profile=cfg.to_dict())
                   for task in ("data", "toy") for w in cfg.contrast_widths
                   for f in (False, True) for s in SEEDS]
contrast_results = sweep.run_sweep(contrast_run, contrast_points,
                                   name="ch3-contrast", version="1",
                                   n_jobs=settings.sweep_jobs())
runs = {(p["task"], p["width"], p["frozen"], p["seed"]):
        pd.DataFrame(r["records"])
        for p, r in zip(contrast_points, contrast_results)}
narrow, wide = min(cfg.contrast_widths), max(cfg.contrast_widths)

# %%
def plot_contrast(task, title, ylabel):
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    for i, w in enumerate(cfg.contrast_widths):
        for frozen in (False, True):
            style = dict(linestyle="--" if frozen else "-",
                         color=f"C{2 * i + frozen}")
            label = (f"{w} hidden, first layer "
                     f"{'frozen' if frozen else 'trained'}")
            for s in SEEDS:
                r = runs[task, w, frozen, s]
                alpha = 1.0 if s == SEEDS[0] else 0.35
                axes[0].plot(r.step.clip(lower=1), r.gsnr, alpha=alpha,
                             label=label if s == SEEDS[0] else None, **style)
                axes[1].plot(r.step.clip(lower=1), r.loss, alpha=alpha,
                             **style)
    axes[0].set(xscale="log", yscale="log", xlabel="step (step 0 at 1)",
                ylabel="mean GSNR, output layer", title=title)
    axes[1].set(xscale="log", xlabel="step", ylabel=ylabel,
                title="training loss")
    axes[0].legend(fontsize=8, loc="lower left")
    plt.show()


def contrast_summary(task):
    """Sustained rise and final output-layer GSNR, per width, setting and
    seed."""
    rows = []
    for w in cfg.contrast_widths:
        for frozen in (False, True):
            for s in SEEDS:
                r = runs[task, w, frozen, s]
                rows.append({"width": w, "first layer":
                             "frozen" if frozen else "trained", "seed": s,
                             "sustained rise": sustained_rise(r.step, r.gsnr),
                             "final GSNR": r.gsnr.iloc[-1],
                             "final loss": r.loss.iloc[-1]})
    return pd.DataFrame(rows)


plot_contrast("data", f"{cfg.dataset}: two-layer MLPs",
              "cross-entropy (nats)")
data_summary = contrast_summary("data")
data_summary.groupby(["width", "first layer"]).agg(["min", "max"]).drop(
    columns="seed").round(5)

# %% tags=remove-cell
def describe(summary, prefix):
    """Glue the ranges over seeds of one task's contrast."""
    for w, size in ((narrow, "narrow"), (wide, "wide")):
        for setting in ("trained", "frozen"):
            part = summary[(summary.width == w)
                           & (summary["first layer"] == setting)]
            suffix = "" if setting == "trained" else "_frozen"
            lo, hi = part["sustained rise"].min(), part["sustained rise"].max()
            glue(f"{prefix}_rise_{size}{suffix}", f"{lo:.2f} to {hi:.2f}")
            glue(f"{prefix}_final_{size}{suffix}",
                 f"{part['final GSNR'].median():.1e}")
            glue(f"{prefix}_loss_{size}{suffix}",
                 f"{part['final loss'].median():.3f}")
        trained = summary[(summary.width == w)
                          & (summary["first layer"] == "trained")]
        frozen = summary[(summary.width == w)
                         & (summary["first layer"] == "frozen")]
        ratio = (trained["final GSNR"].to_numpy()
                 / frozen["final GSNR"].to_numpy())
        glue(f"{prefix}_final_ratio_{size}",
             f"{ratio.min():.2f} to {ratio.max():.2f}")


glue("ch3_narrow", narrow)
glue("ch3_wide", wide)
describe(data_summary, "ch3")


def final_ratios(summary):
    """Final output-layer GSNR, trained over frozen, per width and seed."""
    pick = lambda setting: summary[summary["first layer"] == setting] \
        .sort_values(["width", "seed"])["final GSNR"].to_numpy()
    return pick("trained") / pick("frozen")


data_final = final_ratios(data_summary)
def final_word(summary, width):
    """'lower', 'higher' or 'lower or higher, by seed': the trained network's
    final output-layer GSNR against its frozen twin's at one width."""
    part = summary[summary.width == width].sort_values("seed")
    trained = part[part["first layer"] == "trained"]["final GSNR"].to_numpy()
    frozen = part[part["first layer"] == "frozen"]["final GSNR"].to_numpy()
    if (trained < frozen).all():
        return "lower"
    return "higher" if (trained > frozen).all() else "lower or higher, by seed"


for prefix, summary in (("ch3", data_summary),):
    glue(f"{prefix}_final_word_narrow", final_word(summary, narrow))
    glue(f"{prefix}_final_word_wide", final_word(summary, wide))

# %% [markdown]
# **What to notice.**
# With {glue:text}`ch3_narrow` hidden units and the first layer trained, the output layer's GSNR rises after its initial fall (sustained rise {glue:text}`ch3_rise_narrow` over the seeds); with the first layer frozen, {glue:text}`ch3_rise_narrow_frozen`.
# At {glue:text}`ch3_wide` hidden units: {glue:text}`ch3_rise_wide` trained against {glue:text}`ch3_rise_wide_frozen` frozen.
# The loss panel shows what the first layer buys: at the last checkpoint the trained networks reach {glue:text}`ch3_loss_narrow` and {glue:text}`ch3_loss_wide` nats (medians over seeds, {glue:text}`ch3_narrow` and {glue:text}`ch3_wide` hidden units), the frozen ones {glue:text}`ch3_loss_narrow_frozen` and {glue:text}`ch3_loss_wide_frozen`.
#
# The check: at the last checkpoint the trained network's output-layer GSNR is {glue:text}`ch3_final_ratio_narrow` times the frozen one's at {glue:text}`ch3_narrow` hidden units and {glue:text}`ch3_final_ratio_wide` times at {glue:text}`ch3_wide` (over seeds; medians {glue:text}`ch3_final_narrow` trained, {glue:text}`ch3_final_narrow_frozen` frozen, at {glue:text}`ch3_narrow`).
# So with the first layer trained the network ends with the {glue:text}`ch3_final_word_narrow` output-layer GSNR at {glue:text}`ch3_narrow` hidden units and the {glue:text}`ch3_final_word_wide` at {glue:text}`ch3_wide`, although it fits better at both.
# Where it ends lower, it has fitted more of the signal, so less of its mean gradient is left while the per-sample disagreement remains; a final GSNR does not rank these networks by how well they fit or generalize.
# The rise is a statement about the path, not the end point: "larger GSNR, better generalization" is a claim about the GSNR *during* training, through the sum of $(1-R)\,\Delta L$ above (which, in Experiment 1, {glue:text}`ch3_gap_path_reading`), not a number to read off a trained network.

# %% [markdown]
# ## Experiment 4: the toy regression $y = x_0 x_1 + \varepsilon$
#
# The paper's cleanest version of the contrast is a regression task in which the target needs a feature the inputs do not contain: $x \sim \mathcal{N}(0, I_d)$ with $d$ = {glue:text}`ch3_toy_d`, and $y = x_0 x_1 + \varepsilon$, $\varepsilon \sim \mathcal{N}(0, \sigma^2)$ with $\sigma$ = {glue:text}`ch3_toy_noise`.
# Only two of the $d$ inputs matter, and only through their product.
# We train the same two-layer MLPs with full-batch gradient descent on the mean squared error, learning rate {glue:text}`ch3_toy_lr`, on {glue:text}`ch3_toy_n` samples, from {glue:text}`ch3_n_seeds` initializations (these runs were trained in Experiment 3's sweep).

# %%
plot_contrast("toy", "y = x0 * x1 + noise: two-layer MLPs",
              "mean squared error")
toy_summary = contrast_summary("toy")
toy_summary.groupby(["width", "first layer"]).agg(["min", "max"]).drop(
    columns="seed").round(5)

# %% tags=remove-cell
glue("ch3_toy_d", cfg.toy_d)
glue("ch3_toy_noise", f"{cfg.toy_noise:g}")
glue("ch3_toy_lr", f"{cfg.toy_lr:g}")
glue("ch3_toy_n", f"{cfg.toy_n:,}")
describe(toy_summary, "ch3_toy")
toy_final = final_ratios(toy_summary)
glue("ch3_toy_final_word_narrow", final_word(toy_summary, narrow))
glue("ch3_toy_final_word_wide", final_word(toy_summary, wide))

# %% [markdown]
# **What to notice.**
# With {glue:text}`ch3_narrow` hidden units, the trained network's output-layer GSNR rises out of its dip (sustained rise {glue:text}`ch3_toy_rise_narrow` over the seeds) while its loss leaves the plateau of the random features and drops as it finds $x_0 x_1$ (median {glue:text}`ch3_toy_loss_narrow` at the end, against {glue:text}`ch3_toy_loss_narrow_frozen` for the frozen network); the frozen network scores {glue:text}`ch3_toy_rise_narrow_frozen`.
# At {glue:text}`ch3_wide` hidden units: {glue:text}`ch3_toy_rise_wide` trained, {glue:text}`ch3_toy_rise_wide_frozen` frozen, and the losses {glue:text}`ch3_toy_loss_wide` against {glue:text}`ch3_toy_loss_wide_frozen`.
# A wide network with the standard initialization moves its features little relative to their size (it is closer to the "lazy" regime), so whatever it learns shows in the loss more than in the GSNR; Exercise 3 varies the width and the initialization.
# At the end, the trained network's output-layer GSNR is {glue:text}`ch3_toy_final_ratio_narrow` times the frozen one's at {glue:text}`ch3_narrow` hidden units ({glue:text}`ch3_toy_final_word_narrow`) and {glue:text}`ch3_toy_final_ratio_wide` times at {glue:text}`ch3_wide` ({glue:text}`ch3_toy_final_word_wide`), while the trained networks fit far better: as in Experiment 3, the rise is a property of the path, not of the end point.

# %% [markdown]
# ## Why the prediction fails late in training
#
# The derivation treats $g_D$, the mean gradient over the training set, as one more mean of $n$ per-sample gradients drawn from $\mathcal{Z}$, independent of the parameters.
# At initialization that is true: the network has never seen $D$.
# But training makes $\theta$ a function of the training set.
# To first order the measured ratio is $\mathbb{E}[g_{D'} \cdot g_D] / \mathbb{E}[g_D \cdot g_D]$, and the prediction replaces the numerator by $\sum_j \tilde g_j^2$, the squared norm of the *training* mean gradient; the two agree only if fresh samples have, on average, the same gradient as training samples.
# Once the network has fitted its training samples, their losses and gradients are small and concentrated on the few samples not yet fitted, while fresh samples, whose loss has begun to rise, have large gradients.
# In Experiment 1, at the last two measured checkpoints, measured minus predicted OSGR is {glue:text}`ch3_late_diff_range` over the seeds ({glue:text}`ch3_late_z_range` standard errors): {glue:text}`ch3_late_reading`; in Experiment 1b, where the step is computed on the very set the network was fitted to, the measured OSGR falls below the prediction instead.
# Either way, moments over a fitted training set describe that training set, not $\mathcal{Z}$.
# The i.i.d. control, whose sets are always fresh, has no systematic offset; and the largest departure {glue:text}`ch3_worst_when_summary`.
# Liu et al. report the departure too, and a correlation between the two curves that nevertheless stays high late in training; over our whole runs it is {glue:text}`ch3_r_all_range`.

# %% [markdown]
# ## At paper scale
#
# With `SCALE = "paper"` (a GPU; CIFAR-10 downloads on first use), Experiments 1 and 2 train Zhang et al.'s small AlexNet-style convolutional network on a subset of CIFAR-10, with held-out test images as the fresh samples.
# Its convolutions and fully connected layers both take the identities of `gradient_moments` (per-sample products from the unfolded inputs for the convolutions).
# The contrasts use two-layer MLPs on the flattened images, and the toy regression uses the paper's learning rate of 0.001 with proportionally more steps.
# The sizes are in `helpers.scale.gsnr_profile("paper")`.
# This profile has been run only as `paper-smoke` (`BOOK_SCALE=paper-smoke`: random CIFAR-shaped tensors and a few steps), which checks that the code path works, not what it finds.

# %% [markdown]
# ## Reproduction scorecard
#
# Each row is one of the paper's claims (or, once, a check of our own measurement), what this run measured, and whether the claim held at this scale.
# The verdicts are computed from the numbers above, over all {glue:text}`ch3_n_seeds` seeds unless a row says otherwise (the i.i.d. control runs on the first seed; Experiment 1b's row is over its own networks), and each row states its test.

# %%
pearson_of = lambda a, b: pearsonr(a, b).statistic
early_first = early_of(first)
null_early = rank.permutation_pass_rate(
    early_first["predicted"], early_first["measured"], pearson_of,
    lambda r: r >= 0.9)
null_all = rank.permutation_pass_rate(first["predicted"], first["measured"],
                                      pearson_of, lambda r: r >= 0.9)
seeds_text = f"{len(SEEDS)} seeds"
early_z = np.concatenate([early_of(osgr[s])["z"].to_numpy() for s in SEEDS])
every = ("held if, for every seed, the true-label GSNR exceeds the "
         "random-label GSNR at every one of")
RISE = (f"sustained rise (the largest mean of {cfg.rise_window} "
        "consecutive checkpoints over the lowest value before them; below 1 "
        "for a curve that only falls) is at least 1.2, a rise of a fifth "
        "held over several checkpoints (this chapter's choice)")
own_end = own_table.iloc[-1]
glued_split = ("no checkpoint" if own_split_step is None
               else f"step {own_split_step}")
claims = [
    Claim(claim=f"Measured and predicted OSGR correlate over early training "
                f"(r >= 0.9, steps <= {cfg.early_steps})",
          paper="r about 0.91-0.97 (approx.)",
          measured=f"r = {r_early.min():.2f} to {r_early.max():.2f} "
                   f"({n_early} checkpoints per seed)",
          held=bool((r_early >= 0.9).all()),
          test=f"held if Pearson's r over the early checkpoints is at least "
               f"0.9, the low end of the paper's range, for each of "
               f"{seeds_text}",
          interval=f"lowest 90% bootstrap bound over the seeds "
                   f"{fits['r early, 90% low'].min():.2f} (pairs resampled)",
          null=f"seed {SEEDS[0]}'s values paired at random pass with "
               f"probability {null_early:.3f} (2,000 permutations)"),
    Claim(claim="They agree early in training, within the measurement's "
                "error",
          paper="agree early (approx.)",
          measured=f"largest |measured - predicted| = {early_z_max:.1f} SE "
                   f"over {len(early_z)} early points",
          held=bool(np.abs(early_z).max() <= family_z(len(early_z))),
          test=f"held if every early checkpoint of every seed is within "
               f"{family_z(len(early_z)):.2f} bootstrap standard errors of "
               f"its prediction: the family-wise bound for {len(early_z)} "
               "points, which exact agreement exceeds with probability 1%"),
    Claim(claim="They stay strongly correlated over the whole run (r >= 0.9)",
          paper="r about 0.91-0.97",
          measured=f"r = {r_all.min():.2f} to {r_all.max():.2f} "
                   f"({len(first)} checkpoints per seed)",
          held=bool((r_all >= 0.9).all()),
          test=f"held if Pearson's r over every checkpoint is at least 0.9 "
               f"for each of {seeds_text}",
          interval=f"highest 90% bootstrap bound "
                   f"{fits['r whole run, 90% high'].max():.2f}",
          null=f"a random pairing passes with probability {null_all:.3f}"),
    Claim(claim="Our check: the OSGR measurement is unbiased (the i.i.d. "
                "control sits on its prediction)",
          paper="(the link, under its assumptions)",
          measured=f"mean offset {ctrl_mean:+.4f} (SE {ctrl_mean_se:.4f}); "
                   f"largest |z| {ctrl_z.max():.2f} over {len(control)} "
                   "checkpoints",
          held=bool(abs(ctrl_mean) <= 2 * ctrl_mean_se
                    and ctrl_z.max() <= z_family),
          test="held if the mean offset over the checkpoints is within 2 of "
               f"its standard errors and no checkpoint is beyond "
               f"{z_family:.2f} (the family-wise 1% bound for "
               f"{len(control)} independent checkpoints)",
          null=f"disjoint draws at initialization: "
               f"{z_plain['disjoint, without replacement']:+.1f} SE from the "
               "prediction"),
    Claim(claim="Summing (1 - R) dL_train, with R tracked through "
                "training, predicts the growth of the gap over early "
                f"training (steps <= {cfg.early_steps}) better than a frozen R",
          paper="the OSGR sets the gap's growth (their derivation)",
          measured=f"predicted / measured {span(gap_early['ratio'])}",
          held=gap_beats_null,
          test=f"held if, for each of {seeds_text}, the sum with "
               "fresh-sample moments is closer (in log ratio) to the "
               "measured growth of test - train loss than the same sum with "
               "R frozen at its initial value",
          null=f"R frozen at initialization: "
               f"{span(gap_early['null ratio'])} of the measured growth"),
    Claim(claim="Networks trained on their own D: before training ties "
                "them to D, measured and predicted OSGR agree",
          paper="assumption 2 holds at initialization",
          measured=f"z = {own_first['z']:+.1f} at step 0; first |z| > 3 at "
                   f"{glued_split}; "
                   f"{own_end['measured']:.2f} vs {own_end['predicted']:.2f} "
                   f"at step {int(own_table.index[-1])}",
          held=bool(abs(own_first["z"]) <= 3),
          test=f"held if, over {cfg.own_sets} networks, measured and "
               "predicted are within 3 standard errors (bootstrap over the "
               "networks) at step 0, where the networks have not yet seen "
               "their sets"),
    Claim(claim="GSNR (training-set moments) is lower on random labels at "
                "every checkpoint",
          paper="stays low on random labels",
          measured=f"true / random: min {ratio_labels.min():.2f}, "
                   f"median {np.median(ratio_labels):.1f}",
          held=bool((ratio_labels > 1).all()),
          test=f"{every} the {ratio_labels.shape[1]} checkpoints"),
    Claim(claim=f"... at every checkpoint of early training "
                f"(steps <= {cfg.early_steps})",
          paper="stays low on random labels",
          measured=f"true / random: min {ratio_early.min():.1f}",
          held=bool((ratio_early > 1).all()),
          test=f"{every} the {ratio_early.shape[1]} early checkpoints"),
    Claim(claim="GSNR (fresh-sample moments) is lower on random labels at "
                "every checkpoint",
          paper="stays low on random labels",
          measured=f"true / random: min {ratio_fresh.min():.2f}, "
                   f"median {np.median(ratio_fresh):.1f}",
          held=bool((ratio_fresh > 1).all()),
          test=f"{every} the {ratio_fresh.shape[1]} checkpoints, moments "
               "over fresh samples"),
    Claim(claim=f"The deep MLP's mean GSNR rises early in training "
                f"(sustained rise >= 1.2, steps <= {cfg.early_steps}), more "
                "than on random labels",
          paper="rises early in training",
          measured=f"sustained rise {span(rise['sustained rise'])}; GSNR at "
                   f"step {cfg.early_steps} / at init "
                   f"{span(rise['GSNR(early end) / GSNR(0)'])}",
          held=bool((rise["sustained rise"] >= 1.2).all()
                    and separated("sustained rise")),
          test=f"held if every seed's {RISE}, and above every random-label "
               "seed's",
          null=f"random labels: {span(random_rise['sustained rise'])}"),
]

# %%
def contrast_claims(summary, w, where):
    """Rise with the first layer trained, none frozen; one width, all seeds."""
    part = summary[summary.width == w]
    trained = part[part["first layer"] == "trained"]["sustained rise"]
    frozen = part[part["first layer"] == "frozen"]["sustained rise"]
    rises = Claim(claim=f"{where}, {w} hidden, first layer trained: the "
                        "output-layer GSNR rises (sustained rise >= 1.2, "
                        "above every frozen twin)",
                  paper="rises early in training",
                  measured=f"{trained.min():.2f} to {trained.max():.2f} "
                           f"(frozen up to {frozen.max():.2f})",
                  held=bool(trained.min() >= 1.2
                            and trained.min() > frozen.max()),
                  test=f"held if every seed's {RISE}, and above the largest "
                       "frozen value (the frozen twin is the null: a model "
                       "that cannot learn features)")
    falls = Claim(claim=f"{where}, {w} hidden, first layer frozen: it only "
                        "falls (sustained rise <= 1.05)",
                  paper="only falls",
                  measured=f"{frozen.min():.2f} to {frozen.max():.2f}",
                  held=bool(frozen.max() <= 1.05),
                  test="held if no seed's frozen network has a sustained "
                       "rise above 1.05 (a 5% allowance for the estimate's "
                       "noise, this chapter's choice)")
    return [rises, falls]


for summary, where in ((data_summary, cfg.dataset),
                       (toy_summary, "toy y = x0 x1")):
    for w in cfg.contrast_widths:
        claims += contrast_claims(summary, w, where)
scorecard(claims, SCALE, chapter=3)

# %% [markdown]
# ## Summary
#
# The GSNR of a parameter compares how much the samples agree on its gradient with how much they disagree.
# Liu et al. turn it into a statement about generalization: to first order, a gradient step on $n$ samples lowers the loss of unseen data by a fraction $R = \sum_j \tilde g_j^2 / \sum_j (\tilde g_j^2 + \rho_j^2/n)$ of what it does on the training data, and the gap grows by the rest.
# Measured without bias (train and test sets drawn with replacement, error bars from a bootstrap over the pairs, {glue:text}`ch3_n_seeds` seeds), that fraction tracks the prediction while the network's training set still looks like a sample of the distribution.
# It departs once the training set is so well fitted that its gradients no longer look like those of unseen data, which in our runs comes after the training and fresh losses have begun to part; networks trained on their own small sets show the same failure cleanly, and summing $(1-R)\,\Delta L$ gets the order of magnitude of the gap's early growth and misses most of its later growth.
# Random labels keep the GSNR low while the network is near chance; once it memorizes them, the GSNR measured on its training set says little.
# And a network that learns its features can raise the GSNR of the layer above them out of its early dip, which a linear model on frozen features cannot, at least when it is narrow enough to move its features; but the trained network does not always end with the larger GSNR, so the claim is about the path of training, not a property to read off the final network.
# The next chapter turns from the steps of training to the place where training ends: the flatness and the volume of the minimum.

# %% [markdown]
# ## Exercises
#
# 1. **Assumption 1: the learning rate.** Re-measure the OSGR of the initial network with `lr` of the one-step measurement at 1e-4, 1e-2, 1e-1 and 1, and compare with the prediction.
#
# :::{admonition} Solution
# :class: dropdown
# The cell below (hidden on the site) runs it: `gsnr.osgr_measured(init_model, ce, X, y, n, X_fresh, y_fresh, lr=lr, ...)` for each `lr`, against `gsnr.osgr_predicted(gsnr.gradient_moments(init_model, ce, X, y), n)`.
# Measured: {glue:text}`ch3_ex1_table` (prediction {glue:text}`ch3_ex1_predicted`, standard error about {glue:text}`ch3_ex1_se`).
# To second order, $\Delta L[D] = \lambda\, g_D \cdot g_D - \tfrac{\lambda^2}{2}\, g_D^\top H_D\, g_D$ and $\Delta L[D'] = \lambda\, g_{D'} \cdot g_D - \tfrac{\lambda^2}{2}\, g_D^\top H_{D'}\, g_D$, with $H_D$ and $H_{D'}$ the Hessians of the two sets' losses.
# Two things lower $R$ as $\lambda$ grows: the curvature terms differ between the sets, as the assumption box says, and even with $H_D = H_{D'}$ a shared curvature term takes the same amount from both decreases, which is relatively more of the test decrease, whose first-order part is the smaller one.
# What to look for in the numbers: whether $R$ stays on the prediction while $\lambda$ is small, and at which $\lambda$ the second-order terms take over.
# :::

# %% tags=hide-input
lrs = (1e-4, 1e-2, 1e-1, 1.0)
ex1 = {lr: gsnr.osgr_measured(init_model, ce, X, y, n, X_fresh, y_fresh,
                              pairs=cfg.osgr_pairs, lr=lr, seed=cfg.seed,
                              dtype=torch.float32) for lr in lrs}
ex1_predicted = gsnr.osgr_predicted(
    gsnr.gradient_moments(init_model, ce, X, y), n)
glue("ch3_ex1_table", "; ".join(f"lr {lr:g}: R = {m.ratio:.3f}"
                                for lr, m in ex1.items()))
glue("ch3_ex1_predicted", f"{ex1_predicted:.3f}")
glue("ch3_ex1_se", f"{ex1[lrs[0]].standard_error():.3f}")

# %% [markdown]
# 2. **OSGR as a function of n.** At one checkpoint, plot the predicted $R(n)$ for $n$ from 10 to 2,000 and measure it at a few values of $n$.
#
# :::{admonition} Solution
# :class: dropdown
# With `mom = gsnr.gradient_moments(m, ce, X, y)`, the curve is `[gsnr.osgr_predicted(mom, n) for n in ns]`; measure with `gsnr.osgr_measured(m, ce, X, y, n, X_fresh, y_fresh)` for `n` in (25, 100, 400, 1600), and draw `m.interval()` as error bars.
# What to look for: the formula says $R(n)$ rises towards 1 as $n$ grows, because the noise term $\rho_j^2 / n$ shrinks; parameters with $r_j \gg 1/n$ already generalize at small $n$, those with $r_j \ll 1/n$ need $n \gtrsim 1/r_j$.
# Check whether the measured points follow the curve within their intervals.
# :::
#
# 3. **Width and initialization in the toy regression.** Repeat Experiment 4 at widths 16, 64 and 1024, and with `init_std=0.05` (small weights) at width 256.
#
# :::{admonition} Solution
# :class: dropdown
# Call `second_layer_run(models.mlp(cfg.toy_d, (w,), num_classes=1, seed=0, init_std=s), F.mse_loss, X_toy, y_toy, frozen, cfg.toy_checkpoints, lr=cfg.toy_lr)` for each setting, trained and frozen, and `sustained_rise(r.step, r.gsnr)` on each.
# What to look for: whether the rise grows as the network moves away from the lazy regime (narrow widths, small initializations), where the first layer has to travel far to find $x_0$ and $x_1$, and whether at large widths the trained network's GSNR curve approaches its frozen twin's.
# If it does, the GSNR rise is a signature of feature learning, not of depth or width as such.
# :::
#
# 4. **Partial label noise.** Train the network of Experiment 2 with a fraction $p$ = 0, 0.25, 0.5, 0.75, 1 of corrupted labels, and plot the mean GSNR at step `cfg.early_steps` against $p$, next to the test accuracy.
#
# :::{admonition} Solution
# :class: dropdown
# Use `data.corrupt_labels(y, p, 10, seed=0)` as labels in `gsnr.train_and_record` with `[cfg.early_steps]` as checkpoints, and `train.evaluate(model, X_fresh, y_fresh)` for the test accuracy.
# What to look for: each corrupted label adds a gradient that the other samples of its class do not share, which should raise the variance and cancel part of the mean, so the mean GSNR should fall with $p$ as the test accuracy does.
# Measure it before the networks memorize: Experiment 2 showed that the training-set GSNR of a memorizing network says little.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
