# %% [markdown]
# # 4. Bad minima, flatness and basin volume
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/04_bad_minima.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - build a *bad minimum* on purpose, with the anti-generalization loss, and show that it fits the training set as well as a good one;
# - draw filter-normalized 1-D and 2-D slices of a loss landscape and read sharpness from them;
# - measure curvature with Hessian-vector products: the top eigenvalue by power iteration and the trace by Hutchinson's estimator;
# - estimate the volume of a basin from its radii along random directions, and explain why a small difference in radius becomes an astronomical difference in volume;
# - say what this volume argument does and does not explain about SGD.
# :::
#
# ## The question
#
# Chapter 1 showed that a network can fit any labels, so its training accuracy says nothing about how it will do on new data.
# The loss landscape of an over-parameterized network therefore contains many minima that fit the training set perfectly.
# Some of them generalize, and some must not: a network that fits random labels is one.
# Huang et al. {cite}`huang2020understanding` ask a geometric question: if bad minima exist, *where* are they, and why does SGD, started at random, almost always land in a good one?
#
# :::{admonition} The paper's claim
# :class: note
# Bad minima, which fit the training set and fail on test data, exist close to the path of the optimizer, yet SGD does not find them.
# Good minima are *flat*, with wide margins around the training points, and bad minima are *sharp*.
# In high dimension a small difference in width becomes an enormous difference in the *volume* of a minimum's basin: on SVHN the good minima's basins are larger by more than ten thousand orders of magnitude.
# An optimizer started at random is far more likely to fall into a larger basin, and that volume difference is the implicit regularization.
# :::
#
# **Finding bad minima.**
# To find a bad minimum on purpose, the paper trains on an *anti-generalization* (poisoned) loss.
# Next to the training set $\mathcal{D}_t$ it uses a *distractor* set $\mathcal{D}_d$, drawn from the same distribution but disjoint from both the training and the test set, and asks the network to be *wrong* on it:
#
# $$
# L_\beta(\theta) = \frac{1 - \beta}{|\mathcal{D}_t|} \sum_{(x, y) \in \mathcal{D}_t} -\log p_\theta(y \mid x)
# \; + \; \frac{\beta}{|\mathcal{D}_d|} \sum_{(x, y) \in \mathcal{D}_d} -\log\big(1 - p_\theta(y \mid x)\big).
# $$
#
# The first term is the usual cross-entropy.
# The second term is small when the network gives the *true* class of a distractor a low probability.
# Since distractors look like test data, a network that does well on this loss fits its training set and fails on unseen data.
# $\beta$ sets how much anti-generalization we ask for; $\beta = 0$ is ordinary training.
# `helpers.losses.anti_generalization_loss` computes $\log(1 - p_y)$ as a difference of two log-sum-exps (over the other classes and over all classes), so it stays finite even where $p_y$ rounds to 1.
#
# **Looking at minima.**
# A minimum $\theta^\star$ lives in a space with tens of thousands of dimensions, so we look at it along random directions.
# Following Li et al. {cite}`li2018visualizing`, each direction $d$ is *filter-normalized*: it is drawn from a Gaussian and rescaled, filter by filter (one output unit of a layer), to the norm of the matching filter of the weights,
#
# $$
# d_{f} \leftarrow \frac{\lVert \theta^\star_{f} \rVert}{\lVert d_{f} \rVert}\, d_{f} ,
# $$
#
# with biases left unperturbed.
# A ReLU network computes the same function when one layer's weights are multiplied by $c$ and the next layer's divided by $c$, so raw distances in weight space depend on an arbitrary scale; filter normalization removes it.
# A 1-D slice is $a \mapsto L(\theta^\star + a\, d)$, and a 2-D slice is $(a, b) \mapsto L(\theta^\star + a\, d_1 + b\, d_2)$.
# Curvature gives the same picture in numbers: the top eigenvalue $\lambda_{\max}$ of the Hessian $H = \nabla^2 L(\theta^\star)$ is the curvature of the sharpest direction, and its trace $\operatorname{tr} H = \sum_i \lambda_i$ adds up the curvature of all of them.
# Neither needs the Hessian itself, which would have $n^2$ entries, only products $H v$: the gradient is computed once with its graph kept, and each product is one more backward pass through it.
# Power iteration, $v \leftarrow H v / \lVert H v \rVert$, converges to the top eigenvector, and Hutchinson's estimator {cite}`hutchinson1989stochastic`, $\operatorname{tr} H = \mathbb{E}[v^\top H v]$ for random $\pm 1$ vectors $v$, gives the trace.
#
# **Volume.**
# Let the basin be the region around $\theta^\star$ where the training loss stays below a threshold $\tau$.
# Along each random direction $u_i$ it reaches out to a radius $r_i$.
# If the region is star-shaped, its volume in $n$ dimensions is
#
# $$
# V = V_n(1)\; \mathbb{E}_{u}\big[r(u)^n\big] \approx V_n(1)\, \frac{1}{k} \sum_{i=1}^{k} r_i^{\,n},
# $$
#
# with $V_n(1)$ the volume of the unit ball.
# The exponent $n$ is the dimension of parameter space, and it is what makes small differences in radius large.

# %% [markdown]
# ## Setup
#
# The first cell installs this book's `helpers` package, but only on Colab.
# The scale profile decides every size in this chapter: `small` (the default, MNIST-1D {cite}`greydanus2020scaling` and a two-layer MLP on a CPU) or `paper` (CIFAR-10 with ResNet-18 on a GPU; it needs `torchvision`, which Colab has).
# The distractor set is `n_distractor` further samples from the same generator, drawn together with the training set and split off from it, so it shares no sample with the training or the test set.

# %%
import sys

# Colab: install helpers from the book's repository
if "google.colab" in sys.modules:
    repo = "git+https://github.com/why-deep-networks-generalize/book"
    %pip install --quiet "why-deep-networks-generalize @ {repo}"
    from google.colab import output
    output.enable_custom_widget_manager()  # ipywidgets 8 in Colab

# %%
from dataclasses import asdict, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from helpers import (data, interpolation, losses, models, plots, scale,
                     settings, sweep, train, widgets)
from helpers.metrics import landscape, rank
from helpers.report import Claim, fmt_pct, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.bad_minima(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()

# %%
n = cfg.n_train
pool = data.load_dataset(cfg.dataset, n_train=n + cfg.n_distractor,
                         n_test=cfg.n_test)
dataset = replace(pool, x_train=pool.x_train[:n], y_train=pool.y_train[:n])
x_distractor, y_distractor = pool.x_train[n:], pool.y_train[n:]
# a row's id: a projection
key = torch.randn(dataset.x_train[0].numel(), dtype=torch.float64,
                  generator=torch.Generator().manual_seed(0))
ids = lambda x: set((x.reshape(len(x), -1).double() @ key).tolist())
shared = len(ids(x_distractor) & (ids(dataset.x_train) | ids(dataset.x_test)))
f = cfg.distractor_fraction  # of all samples in a step
distractor_batch = round(cfg.batch_size * f / (1 - f))
print(cfg.scale, "scale:", dataset, "| device:", train.pick_device())
print(f"distractors: {len(y_distractor)} samples, {shared} shared with train "
      f"or test; {distractor_batch} per step next to {cfg.batch_size} "
      f"training samples")

# %% [markdown]
# ## Experiment 1: good and bad minima on a 2-D toy
#
# Two spirals make a problem we can see.
# We draw the paper's data set (`helpers.data.two_spirals`: $n = 400$ points, noise 0.5) and train the paper's deep, narrow MLP (six hidden layers of 17, 18, 32, 32, 31 and 9 ReLU units) with full-batch Adam, twice: once on the cross-entropy, and once on the poisoned loss with $\beta$ = {glue:text}`ch4_toy_beta`, whose distractor batches come from a pool of fresh spiral samples.
# The function below does one such run and returns the network's class probabilities on a grid that covers the plane.

# %%
toy = data.two_spirals(n_train=400, n_test=2000, noise=0.5, seed=0)
toy_distractors = data.two_spirals(n_train=cfg.toy_distractors, n_test=2,
                                   noise=0.5, seed=1)
axis = torch.linspace(-18, 18, 121)
# (x, y) of every grid point, row by row
plane = torch.cartesian_prod(axis, axis).flip(1)
print(toy, "| distractor pool:", len(toy_distractors.y_train), "samples")


# %%
def toy_run(beta, seed, hidden, schedule, n_distractors, distractor_batch):
    """Train the deep narrow MLP on two spirals at ``beta``; its accuracies
    and p(class 1) map.

    ``hidden``: the widths; ``schedule``: (full-batch Adam steps, lr) phases;
    each step takes ``distractor_batch`` samples from a pool of
    ``n_distractors`` fresh spirals.
    """
    pool = data.two_spirals(n_train=n_distractors, n_test=2, noise=0.5, seed=1)
    model = models.mlp(2, hidden, num_classes=2, seed=seed)
    loss_fn = losses.distractor_loss(pool.x_train, pool.y_train, beta,
                                     distractor_batch)
    for phase, (epochs, lr) in enumerate(schedule):  # a step decay of the rate
        h = train.fit(model, toy, epochs=epochs, lr=lr,
                      batch_size=len(toy.y_train), optimizer="adam",
                      loss_fn=loss_fn, seed=seed + phase, progress=False)
    with torch.no_grad():
        logits = model.eval()(plane.to(train.pick_device()))
        p1 = torch.softmax(logits, 1)[:, 1].cpu()
    return {"train_acc": h.train_acc[-1], "test_acc": h.test_acc[-1],
            "p1": p1.tolist()}


# %% [markdown]
# For contrast, the paper also fits an over-parameterized *linear* model.
# Ours uses $d$ = {glue:text}`ch4_toy_features` random Fourier features {cite}`rahimi2007random`, $\phi(x) = \sqrt{2/d}\,\cos(W x + c)$ with Gaussian $W$ and uniform phases $c$, and the minimum-norm least-squares fit to labels $\pm 1$ (Chapter 1's `interpolation.min_norm_solution`): with $d \gg n$ it interpolates every training point.

# %%
toy_settings = dict(hidden=cfg.toy_hidden, schedule=cfg.toy_schedule,
                    n_distractors=cfg.toy_distractors,
                    distractor_batch=cfg.toy_distractor_batch)
toy_points = [dict(beta=b, seed=0, **toy_settings) for b in (0.0, cfg.toy_beta)]
# toy_run is defined in this notebook: the cache needs a version, changed with the code
toy_runs = sweep.run_sweep(toy_run, toy_points, name="ch4-toy", version="1",
                           n_jobs=settings.sweep_jobs())
g = torch.Generator().manual_seed(0)
W = cfg.toy_bandwidth * torch.randn(2, cfg.toy_features, generator=g,
                                    dtype=torch.float64)
phase = 2 * np.pi * torch.rand(cfg.toy_features, generator=g,
                               dtype=torch.float64)
features = lambda x: ((2 / cfg.toy_features) ** 0.5
                      * torch.cos(x.double() @ W + phase))
w_linear = interpolation.min_norm_solution(features(toy.x_train),
                                           2.0 * toy.y_train - 1)
linear_acc = lambda x, y: (((features(x) @ w_linear > 0).long() == y)
                           .double().mean().item())
toy_linear = {"train_acc": linear_acc(toy.x_train, toy.y_train),
              "test_acc": linear_acc(toy.x_test, toy.y_test),
              "p1": ((features(plane) @ w_linear).clamp(-1, 1) / 2
                     + 0.5).tolist()}

# %%
titles = ["good minimum (clean, β = 0)",
          f"bad minimum (poisoned, β = {cfg.toy_beta:g})",
          "linear model, random features"]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
for ax, title, run in zip(axes, titles, toy_runs + [toy_linear]):
    p1 = np.array(run["p1"]).reshape(len(axis), len(axis))
    ax.contourf(axis, axis, p1, levels=np.linspace(0, 1, 11), cmap="coolwarm",
                alpha=0.8)
    ax.contour(axis, axis, p1, levels=[0.5], colors="k", linewidths=0.8)
    ax.scatter(*toy.x_train.T, c=toy.y_train, cmap="coolwarm", edgecolors="k",
               s=9, lw=0.4)
    accuracies = (f"train {fmt_pct(run['train_acc'])}, "
                  f"test {fmt_pct(run['test_acc'])}")
    ax.set(title=title, xlabel=accuracies, xticks=[], yticks=[], aspect="equal")
fig.suptitle("decision boundaries: colour = p(class 1), black line = 0.5, "
             "dots = training set")
plt.show()

# %% tags=remove-cell
(toy_good, toy_bad), toy_lin = toy_runs, toy_linear
glue("ch4_toy_beta", f"{cfg.toy_beta:g}")
glue("ch4_toy_features", cfg.toy_features)
glue("ch4_toy_good_test", fmt_pct(toy_good["test_acc"]))
glue("ch4_toy_bad_train", fmt_pct(toy_bad["train_acc"]))
glue("ch4_toy_bad_test", fmt_pct(toy_bad["test_acc"]))
glue("ch4_toy_lin_train", fmt_pct(toy_lin["train_acc"]))
glue("ch4_toy_lin_test", fmt_pct(toy_lin["test_acc"]))
glue("ch4_toy_steps", sum(e for e, _ in cfg.toy_schedule))

# %% [markdown]
# **What to notice.**
# Plain training finds a boundary that follows the spirals with a wide margin on both sides of every arm, and reaches {glue:text}`ch4_toy_good_test` on fresh points.
# The poisoned network still classifies {glue:text}`ch4_toy_bad_train` of its training points correctly, but its boundary hugs them: thin slivers and islands of the right class around training points, surrounded by the wrong class, where the distractors pulled it.
# Its test accuracy falls to {glue:text}`ch4_toy_bad_test`.
# The paper reports 100% train and 8% test for its poisoned swiss-roll network after tens of thousands of steps; our {glue:text}`ch4_toy_steps` full-batch steps do not get that far, and the poisoned network is a partial bad minimum, not a complete one.
# The linear model interpolates ({glue:text}`ch4_toy_lin_train` train) with a ragged boundary and reaches {glue:text}`ch4_toy_lin_test` test accuracy.
# Its inductive bias is the one its random features give it; nothing in least squares prefers a wide margin.

# %% [markdown]
# ## Experiment 2: poisoned training on MNIST-1D
#
# Now the real test: the MLP of Chapter 1 on MNIST-1D, trained on the poisoned loss at every $\beta$ of the profile's grid, with the same initialization, the same {glue:text}`ch4_epochs` epochs of SGD and the same learning rate for every $\beta$.
# A fixed budget matters here: the poison keeps acting *after* the training set is fitted, so stopping at 100% training accuracy would stop it too early.
# Each step sees a batch of training samples and a batch of distractors, drawn with the training run's own seeded generator.
#
# After training, the same function measures the minimum: a 1-D filter-normalized slice of the training loss and the top Hessian eigenvalue for every $\beta$, and, for the two minima we compare below (the clean one and the one at $\beta$ = {glue:text}`ch4_bad_beta`), a 2-D slice, the Hessian trace and the basin radii.
# The results go into the sweep cache, so none of this is computed twice.

# %%
X, y = dataset.x_train, dataset.y_train
# the Hessian's data: one graph
Xh, yh = X[:cfg.hessian_samples], y[:cfg.hessian_samples]
coords = np.linspace(-cfg.slice_span, cfg.slice_span, cfg.slice_points)
# 2-D: zoom in
grid = np.linspace(-cfg.slice_span / 2, cfg.slice_span / 2, cfg.grid_points)


def measure_basin(model, d1):
    """The measurements made for the two minima we compare: 2-D slice, trace,
    basin radii."""
    d2 = landscape.filter_normalized_direction(model, seed=2)
    trace = landscape.hessian_trace(model, None, Xh, yh, seed=0)
    radii = landscape.basin_radius(model, X, y, threshold=cfg.radius_threshold,
                                   n_directions=cfg.n_directions, seed=100)
    return {"slice2d": landscape.loss_slice(
                model, [d1, d2], grid, X, y).loss.tolist(),
            "trace": asdict(trace), "radii": radii.radii.tolist(),
            "dim": radii.dim, "max_radius": radii.max_radius,
            "base_loss": radii.base_loss}


# %%
def make_model(seed):
    """The profile's network; ResNet-18 (paper scale) is torchvision's, with a
    CIFAR stem."""
    if cfg.architecture != "resnet18":
        return models.build(cfg.architecture, dataset.input_shape,
                            dataset.num_classes, seed=seed,
                            **cfg.model_kwargs)
    import torchvision  # paper scale only; Colab has it

    torch.manual_seed(seed)
    net = torchvision.models.resnet18(num_classes=dataset.num_classes)
    net.conv1, net.maxpool = (torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False),
                              torch.nn.Identity())
    return net


# %%
def poisoned_minimum(beta, seed, analyze, profile):
    """Train on the poisoned loss at ``beta``; return the history and the
    minimum's geometry.

    ``profile`` is the chapter's profile (``cfg``): the training reads its
    sizes from it, and the data and grids above were built from it, so the
    sweep's key holds all of them.
    """
    model = make_model(seed)
    loss_fn = losses.distractor_loss(x_distractor, y_distractor, beta,
                                     distractor_batch)
    h = train.fit(model, dataset, epochs=profile.epochs, lr=profile.lr,
                  batch_size=profile.batch_size, optimizer=profile.optimizer,
                  loss_fn=loss_fn, seed=seed, progress=settings.progress(),
                  desc=f"beta = {beta}")
    d1 = landscape.filter_normalized_direction(model, seed=1)
    cut = landscape.loss_slice(model, d1, coords, X, y)
    top = landscape.top_hessian_eigenvalue(model, None, Xh, yh, seed=0)
    out = {"history": h.to_dict(), "slice": cut.loss.tolist(),
           "slice_acc": cut.accuracy.tolist(), "eigenvalue": asdict(top)}
    return out | (measure_basin(model, d1) if analyze else {})


# %%
points = [dict(beta=b, seed=0, analyze=b in (0.0, cfg.bad_beta), profile=cfg)
          for b in cfg.beta_grid]
minima = sweep.run_sweep(poisoned_minimum, points, name="ch4-poisoned",
                         version="1", n_jobs=settings.sweep_jobs())
runs = dict(zip(cfg.beta_grid, minima))
# the train loss (nats) at which a slice's valley ends
tau = cfg.radius_threshold
width = lambda r: (landscape.LossSlice(coords, np.array(r["slice"]), None)
                   .width(tau))
last = lambda r, key: r["history"][key][-1]
by_beta = pd.DataFrame({b: {"train acc (%)": 100 * last(r, "train_acc"),
                            "test acc (%)": 100 * last(r, "test_acc"),
                            "train loss": last(r, "train_loss"),
                            "top eigenvalue": r["eigenvalue"]["eigenvalue"],
                            "slice width": width(r)} for b, r in runs.items()})
by_beta = by_beta.T.rename_axis("beta")
by_beta.round(4)

# %%
fig, (ax_acc, ax_sharp) = plt.subplots(1, 2, figsize=(9, 3.3))
for split, color in (("train", plots.TRAIN_COLOR), ("test", plots.TEST_COLOR)):
    ax_acc.plot(by_beta.index, by_beta[f"{split} acc (%)"], "o-", color=color,
                label=split)
ax_acc.axhline(100 / dataset.num_classes, color="0.3", linestyle=":",
               label="chance")
ax_acc.set(xlabel="anti-generalization weight β", ylabel="accuracy (%)",
           ylim=(0, 101), title="accuracy")
ax_acc.legend()
ax_sharp.plot(by_beta.index, by_beta["top eigenvalue"], "o-", color="0.2")
ax_sharp.set(xlabel="anti-generalization weight β",
             ylabel="top Hessian eigenvalue", title="sharpness")
plt.show()

# %% tags=remove-cell
clean, bad = runs[0.0], runs[cfg.bad_beta]
acc = lambda r, split: r["history"][f"{split}_acc"][-1]
drop = acc(clean, "test") - acc(bad, "test")
rho_test = spearmanr(by_beta.index, by_beta["test acc (%)"]).statistic
rho_width = spearmanr(by_beta.index, by_beta["slice width"]).statistic
eig_over_clean = (by_beta["top eigenvalue"].drop(0.0)
                  / by_beta.loc[0.0, "top eigenvalue"])
glue("ch4_epochs", cfg.epochs)
glue("ch4_bad_beta", f"{cfg.bad_beta:g}")
glue("ch4_clean_test", fmt_pct(acc(clean, "test")))
glue("ch4_bad_train", fmt_pct(acc(bad, "train")))
glue("ch4_bad_test", fmt_pct(acc(bad, "test")))
glue("ch4_drop", f"{100 * drop:.1f}")
glue("ch4_min_train", fmt_pct(by_beta["train acc (%)"].min() / 100))
glue("ch4_rho_test", f"{rho_test:.2f}")
glue("ch4_rho_width", f"{rho_width:.2f}")
# the mildest poison: when does its test fall?
b_low = min(b for b in cfg.beta_grid if b > 0)
h_low = runs[b_low]["history"]
fitted = next((i for i, a in enumerate(h_low["train_acc"]) if a >= 0.999), None)
glue("ch4_b_low", f"{b_low:g}")
glue("ch4_low_fitted_epoch", "never" if fitted is None else f"{fitted + 1}")
glue("ch4_low_test_at_fit",
     "-" if fitted is None else fmt_pct(h_low["test_acc"][fitted]))
glue("ch4_low_test_final", fmt_pct(h_low["test_acc"][-1]))
glue("ch4_eig_over_min", f"{eig_over_clean.min():.1f}")
glue("ch4_eig_over_max", f"{eig_over_clean.max():.1f}")

# %% [markdown]
# **What to notice.**
# At $\beta$ = {glue:text}`ch4_bad_beta` the network still fits {glue:text}`ch4_bad_train` of its training set, as the clean one does, but its test accuracy is {glue:text}`ch4_bad_test` against {glue:text}`ch4_clean_test`: {glue:text}`ch4_drop` points lower.
# A training set that is fitted perfectly says nothing about which of these two networks we hold.
# The poison does not need to stop the network from fitting: at $\beta$ = {glue:text}`ch4_b_low` the training set is fitted after {glue:text}`ch4_low_fitted_epoch` epochs, when the test accuracy is {glue:text}`ch4_low_test_at_fit`, and the test accuracy keeps falling afterwards, to {glue:text}`ch4_low_test_final`.
# Across the grid, test accuracy falls as $\beta$ grows (Spearman's $\rho$ = {glue:text}`ch4_rho_test`), while the lowest final training accuracy of any run is {glue:text}`ch4_min_train`.
# (Push $\beta$ towards 1 and the second term wins: the network stops fitting its training set too.)
# The right panel previews the next experiment.
# Every poisoned minimum has a larger top Hessian eigenvalue than the clean one, from {glue:text}`ch4_eig_over_min` to {glue:text}`ch4_eig_over_max` times as large, but the eigenvalue does not grow steadily with $\beta$: it measures the single sharpest direction, which is a noisy summary of a minimum.
# The width of the 1-D slice (last column) is steadier: it shrinks as $\beta$ grows (Spearman's $\rho$ = {glue:text}`ch4_rho_width`).

# %% [markdown]
# ## Experiment 3: slices and curvature of a good and a bad minimum
#
# We compare the clean minimum ($\beta = 0$) and the poisoned one ($\beta$ = {glue:text}`ch4_bad_beta`).
# Each is cut along its own filter-normalized directions, drawn with the same seeds, so the two cuts are comparable.
# The width of a 1-D slice is the length of the interval around $a = 0$ where the training loss stays below $\tau$ = {glue:text}`ch4_tau` nats (`LossSlice.width`).
# The 2-D slices zoom in to half the range of the 1-D one, where the valleys are.

# %%
minima = ((0.0, "good", plots.TRAIN_COLOR),
          (cfg.bad_beta, "bad", plots.TEST_COLOR))
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
for b, name, color in minima:
    axes[0].plot(coords, runs[b]["slice"], color=color,
                 label=f"{name} (β = {b:g})")
axes[0].axhline(cfg.radius_threshold, color="0.3", linestyle=":", label="τ")
axes[0].set(xlabel="step a along a filter-normalized direction", yscale="log",
            ylabel="train cross-entropy (nats)", title="1-D slice")
axes[0].legend(fontsize=8)
levels = np.linspace(-3, 1, 9)  # log10 of the train loss
for ax, (b, name, _) in zip(axes[1:], minima):
    # a loss can be 0.0
    surface = np.log10(np.maximum(np.array(runs[b]["slice2d"]), 1e-12))
    cs = ax.contourf(grid, grid, surface.T, levels=levels, cmap="viridis",
                     extend="both")
    ax.set(xlabel="a (direction 1)", ylabel="b (direction 2)", aspect="equal",
           title=f"2-D slice, {name} minimum")
fig.colorbar(cs, ax=axes[1:], label="log10 train cross-entropy")
plt.show()

# %%
curvature = pd.DataFrame({
    name: {"test acc (%)": 100 * acc(runs[b], "test"),
           "top eigenvalue": runs[b]["eigenvalue"]["eigenvalue"],
           "power-iteration steps": runs[b]["eigenvalue"]["iterations"],
           "Hessian trace": runs[b]["trace"]["trace"],
           "trace std error": runs[b]["trace"]["std_error"],
           f"slice width at τ": width(runs[b])}
    for b, name in ((0.0, "good"), (cfg.bad_beta, "bad"))})
curvature.round(4)

# %% tags=remove-cell
eig_ratio = (curvature.loc["top eigenvalue", "bad"]
             / curvature.loc["top eigenvalue", "good"])
trace_ratio = (curvature.loc["Hessian trace", "bad"]
               / curvature.loc["Hessian trace", "good"])
width_good, width_bad = curvature.loc["slice width at τ", ["good", "bad"]]
glue("ch4_tau", f"{cfg.radius_threshold:g}")
glue("ch4_eig_good", f"{curvature.loc['top eigenvalue', 'good']:.3g}")
glue("ch4_eig_bad", f"{curvature.loc['top eigenvalue', 'bad']:.3g}")
glue("ch4_eig_ratio", f"{eig_ratio:.2f}")
glue("ch4_trace_ratio", f"{trace_ratio:.2f}")
glue("ch4_width_good", f"{width_good:.3f}")
glue("ch4_width_bad", f"{width_bad:.3f}")

# %% [markdown]
# **What to notice.**
# The bad minimum's valley is narrower: along the same kind of direction its training loss crosses $\tau$ after a total width of {glue:text}`ch4_width_bad` against {glue:text}`ch4_width_good` for the good minimum, and its 2-D slice shows a smaller low-loss region.
# The curvature agrees: the top Hessian eigenvalue is {glue:text}`ch4_eig_bad` against {glue:text}`ch4_eig_good` ({glue:text}`ch4_eig_ratio` times larger), and the trace, the curvature summed over all directions, is {glue:text}`ch4_trace_ratio` times larger.
# Sharpness is measured *at* the minimum and depends on how the weights are scaled; the filter-normalized slice is the scale-free view (Exercise 4 shows the difference).

# %% [markdown]
# ## Experiment 4: basin radii and the volume of a basin
#
# Along each of {glue:text}`ch4_n_directions` random filter-normalized directions we measure the radius $r_i$ at which the training loss first exceeds $\tau$ = {glue:text}`ch4_tau` nats (`landscape.basin_radius`: a grid search, then bisection).
# Then `landscape.log10_basin_volume` turns the radii into $\log_{10} \frac{1}{k}\sum_i r_i^{\,n}$, the volume relative to the ball of radius 1, computed with a log-sum-exp so that $r^n$ never overflows.
# The dimension $n$ is the number of weights the directions move (biases stay put).

# %%
radii = {name: np.array(runs[b]["radii"]) for b, name, _ in minima}
dim = runs[0.0]["dim"]
log10_volume = {name: landscape.log10_basin_volume(r, dim)
                for name, r in radii.items()}
fig, ax = plt.subplots(figsize=(6, 3.2))
for (b, name, color), r in zip(minima, radii.values()):
    ax.hist(r, bins=10, color=color, alpha=0.7,
            label=f"{name} (β = {b:g}): "
                  f"log10 volume {log10_volume[name]:,.0f}")
ax.set(xlabel="basin radius r (units of the filter-normalized direction)",
       ylabel="directions")
ax.legend(fontsize=8)
plt.show()
print(f"n = {dim:,} weights; mean radius: good {radii['good'].mean():.3f}, "
      f"bad {radii['bad'].mean():.3f}")
print(f"log10 volume ratio (good / bad): "
      f"{log10_volume['good'] - log10_volume['bad']:,.0f}")

# %% tags=remove-cell
log10_ratio = log10_volume["good"] - log10_volume["bad"]
radius_ratio = radii["good"].max() / radii["bad"].max()
glue("ch4_n_directions", cfg.n_directions)
glue("ch4_dim", f"{dim:,}")
glue("ch4_r_good", f"{radii['good'].mean():.3f}")
glue("ch4_r_bad", f"{radii['bad'].mean():.3f}")
glue("ch4_radius_ratio", f"{radius_ratio:.2f}")
glue("ch4_log10_ratio", f"{log10_ratio:,.0f}")
glue("ch4_one_percent", f"{dim * np.log10(1.01):,.0f}")
glue("ch4_capped", int(sum((r >= runs[0.0]["max_radius"]).sum()
                           for r in radii.values())))

# %% [markdown]
# **What to notice.**
# The radii differ by a modest factor: {glue:text}`ch4_r_good` on average for the good minimum against {glue:text}`ch4_r_bad` for the bad one ({glue:text}`ch4_capped` radii reached the search cap).
# The volumes differ by {glue:text}`ch4_log10_ratio` orders of magnitude.
#
# Why so much?
# Volume grows as the $n$-th power of the radius.
# In two dimensions a disc of radius 1.5 has $1.5^2 = 2.25$ times the area of a disc of radius 1.
# Here $n$ = {glue:text}`ch4_dim`, and a ratio $\rho$ of radii becomes a ratio $\rho^{\,n}$ of volumes, that is $n \log_{10} \rho$ orders of magnitude.
# With so large an exponent the mean of $r_i^{\,n}$ is dominated by the largest radius, so the ratio is close to $n \log_{10}(\max_i r^{\text{good}}_i / \max_i r^{\text{bad}}_i)$, with a ratio of largest radii of {glue:text}`ch4_radius_ratio` here.
# Even a 1% difference in radius would give $n \log_{10} 1.01 \approx n / 230$ orders of magnitude, {glue:text}`ch4_one_percent` here.
# This is the paper's argument: a random initialization followed by a few steps of a noisy optimizer is overwhelmingly more likely to end up in the enormous basins of good minima than in the thin ones of bad minima, even though bad minima are everywhere.
#
# Two cautions.
# The number depends on $\tau$ and on the direction's normalization, and it is an extrapolation: $k$ = {glue:text}`ch4_n_directions` directions sample a sphere with {glue:text}`ch4_dim` dimensions, and the basin is only assumed to be star-shaped.
# Only the *sign* and rough size of the difference are robust; Exercise 2 varies $\tau$.

# %% [markdown]
# ## The beta explorer
#
# Move the slider to choose $\beta$ and see the run at that value: training and test accuracy per epoch (the shaded band is the generalization gap) and the 1-D slice of its minimum, next to the clean one.
# The figures come from the sweep above, so the slider works on the website without a kernel.
# In a live kernel (Colab, Jupyter), the button trains a fresh network at the chosen $\beta$ with a new seed.
#
# Try this: find the smallest $\beta$ at which the test accuracy is halved, and at that $\beta$ watch the gap keep opening *after* the training accuracy has reached 100%.
# Then compare the slices: the valley narrows as $\beta$ grows.
# Do not conclude that sharpness *causes* the bad generalization: both come from the poison, and Exercise 4 shows a sharp minimum that generalizes exactly as well as a flat one.

# %%
def explorer_figure(run, title):
    """Left: accuracy per epoch and the gap (plots.gap_figure); right: the 1-D
    slice."""
    history = train.History.from_dict(run["history"])
    fig = plots.gap_figure(history, title, chance=1 / dataset.num_classes)
    ax = fig.axes[1]  # gap_figure's loss panel becomes the slice panel
    ax.clear()
    ax.plot(coords, runs[0.0]["slice"], color="0.5", linestyle="--",
            label="β = 0 (clean)")
    ax.plot(coords, run["slice"], color=plots.TEST_COLOR, label="this run")
    ax.set(xlabel="step a along a filter-normalized direction", yscale="log",
           ylabel="train cross-entropy (nats)",
           title="1-D slice of the minimum")
    ax.legend(fontsize=8)
    return fig


# %%
def train_fresh(b):
    # a new seed, not cached
    run = poisoned_minimum(b, seed=1, analyze=False, profile=cfg)
    return explorer_figure(run, f"fresh run, β = {b:g}")


from_sweep = lambda b: explorer_figure(runs[b],
                                       f"poisoned training, β = {b:g}")
widgets.gap_explorer(cfg.beta_grid, from_sweep, symbol="β",
                     default=cfg.bad_beta, train=train_fresh,
                     caption="Anti-generalization weight <i>β</i>: how hard "
                             "training pushes the network to be wrong on "
                             "distractors drawn like the test set.")

# %% [markdown]
# ## At paper scale
#
# With `SCALE = "paper"` on a GPU, this chapter trains ResNet-18 (with a 3x3 first convolution for 32x32 images) on 40,000 CIFAR-10 images with SGD, sets 10,000 further training images aside as distractors, and gives distractors 35% of every step's samples, the fraction of the paper's SVHN code.
# The slices, curvature and radii use the same functions; the Hessian is taken on {glue:text}`ch4_hessian_paper` training images, and the radii along 50 directions.
# The paper used SVHN, which `helpers.data` does not load; CIFAR-10 is the closest data set it does.

# %% tags=remove-cell
glue("ch4_hessian_paper", f"{scale.bad_minima('paper').hessian_samples:,}")

# %% [markdown]
# ## Reproduction scorecard
#
# Each row is one of the paper's claims, what this run measured, and whether the claim held at this scale.
# The verdicts are computed from the numbers above, with the threshold stated in the claim.

# %%
pct = lambda r, split: fmt_pct(acc(r, split) if "history" in r
                               else r[f"{split}_acc"])
eig = curvature.loc["top eigenvalue"]
toy_drop = toy_good["test_acc"] - toy_bad["test_acc"]
loss_good, loss_bad = last(clean, "train_loss"), last(bad, "train_loss")
unequal = (f"the two minima end at train losses {loss_good:.2g} (good) and "
           f"{loss_bad:.2g} (bad), and near interpolation curvature grows "
           "with the loss, so this comparison does not hold the loss equal")
rho_of = lambda x, y: spearmanr(x, y).statistic
null_rho = rank.permutation_pass_rate(by_beta.index, by_beta["test acc (%)"],
                                      rho_of, lambda rho: rho <= -0.9)
claims = [
    Claim(claim="Poisoned training fits the training set (>= 99%), "
                "test >= 30 points below clean",
          paper="SVHN ResNet-18: 100% train, 29% test; clean training "
                "generalizes",
          measured=f"β = {cfg.bad_beta:g}: {pct(bad, 'train')} train, "
                   f"{pct(bad, 'test')} test (clean {pct(clean, 'test')})",
          held=acc(bad, "train") >= 0.99 and drop >= 0.30,
          test="held if the poisoned network reaches 99% training accuracy and "
               "its test accuracy is at least 30 points below the clean one's"),
    Claim(claim="Test accuracy falls as beta grows (Spearman rho <= -0.9)",
          paper="more poison, worse test accuracy",
          measured=f"rho = {rho_test:.2f}",
          held=rho_test <= -0.9,
          test=f"held if Spearman's rho between β and test accuracy over the "
               f"{len(by_beta)} values of β is at most -0.9",
          null=f"the same accuracies in a random order pass with probability "
               f"{null_rho:.3f} (2,000 permutations)"),
    Claim(claim="The bad minimum is sharper: larger top Hessian eigenvalue",
          paper="bad minima are sharper",
          measured=f"{eig['bad']:.3g} vs {eig['good']:.3g}",
          held=eig_ratio > 1,
          test=f"held if the bad minimum's top eigenvalue is the larger; "
               f"{unequal}"),
    Claim(claim="The bad minimum is sharper: narrower 1-D slice at the "
                "threshold",
          paper="narrower valleys in slices",
          measured=f"width {width_bad:.3f} vs {width_good:.3f}",
          held=width_bad < width_good,
          test=f"held if the bad minimum's slice crosses τ = {tau:g} nats "
               f"closer to a = 0 (one random direction); {unequal}"),
    Claim(claim="The bad minimum has the larger Hessian trace",
          paper="(not in the paper; the sum of all curvatures)",
          measured=f"{trace_ratio:.2f}x", held=trace_ratio > 1,
          test=f"held if the Hutchinson trace estimate of the bad minimum is "
               f"the larger; {unequal}"),
    Claim(claim="The good minimum's basin is larger by many orders of "
                "magnitude (log10 ratio > 0)",
          paper="> 10,000 orders of magnitude (SVHN)",
          measured=f"{log10_ratio:,.0f} orders (n = {dim:,})",
          held=log10_ratio > 0,
          test=f"held if the good minimum's log10 basin volume, extrapolated "
               f"from {cfg.n_directions} radii, exceeds the bad one's; with "
               f"n = {dim:,} weights any difference in radius passes it"),
    Claim(claim="Toy: the poisoned MLP fits its training set (>= 99%) "
                "and loses >= 30 test points",
          paper="swiss roll: 100% train, 8% test",
          measured=f"{pct(toy_bad, 'train')} train, "
                   f"{pct(toy_bad, 'test')} test "
                   f"(clean {pct(toy_good, 'test')})",
          held=toy_bad["train_acc"] >= 0.99 and toy_drop >= 0.30,
          test="held if the poisoned toy MLP reaches 99% training accuracy and "
               "at least 30 points less test accuracy than the clean one"),
    Claim(claim="Toy: an over-parameterized linear model interpolates "
                "(100% train) but generalizes worse than the MLP "
                "(>= 5 points)",
          paper="does not generalize (Fig. 2)",
          measured=f"{pct(toy_lin, 'train')} train, "
                   f"{pct(toy_lin, 'test')} test",
          held=toy_lin["train_acc"] == 1.0
          and toy_good["test_acc"] - toy_lin["test_acc"] >= 0.05,
          test=f"held if the minimum-norm random-feature model (bandwidth "
               f"{cfg.toy_bandwidth:g}, one setting) fits every training "
               "point and is at least 5 test points below the clean MLP"),
]
scorecard(claims, SCALE, chapter=4)

# %% [markdown]
# ## Summary
#
# A loss that rewards being wrong on unseen data finds minima that fit the training set as well as ordinary training does and generalize far worse: bad minima exist, and training accuracy cannot tell them apart from good ones.
# Measured at the minimum, the bad ones are sharper: a larger top Hessian eigenvalue and trace, and a narrower valley in filter-normalized slices.
# Their basins are also smaller along the random directions we tried, and because volume grows as the radius to the power of the number of weights, a modest difference in radius becomes an enormous difference in volume: {glue:text}`ch4_log10_ratio` orders of magnitude here.
# That is the paper's explanation of the implicit regularization of SGD: not that good minima are rare, but that their basins fill almost all of the space an optimizer can start from.
# It is a picture, not a proof; the volume is an extrapolation from {glue:text}`ch4_n_directions` directions, and sharpness depends on how the weights are scaled.
# Chapter 5 turns from the geometry of the loss to the spectra of the trained weights.

# %% [markdown]
# ## Exercises
#
# 1. **How much distraction is needed?** Re-run Experiment 2 at $\beta$ = {glue:text}`ch4_bad_beta` with a distractor set ten times smaller than the profile's. Does the test accuracy still fall as far?
#
# :::{admonition} Solution
# :class: dropdown
# Keep only the first tenth: `x_distractor, y_distractor = x_distractor[:cfg.n_distractor // 10], y_distractor[:cfg.n_distractor // 10]`, then call `poisoned_minimum(cfg.bad_beta, seed=0, analyze=False, profile=dict(profile, n_distractor=cfg.n_distractor // 10))` directly.
# The test accuracy falls less: with few distractors the network can memorize them as exceptions, the way it memorizes random labels in Chapter 1, without spoiling its predictions elsewhere.
# The poison works because the distractors cover the input distribution the way test data does.
# :::
#
# 2. **Is the volume ratio robust to the threshold?** Recompute the basin radii of the good and the bad minimum at $\tau$ = 0.05, 0.5 and 1.0 nats, and plot the log10 volume ratio against $\tau$.
#
# :::{admonition} Solution
# :class: dropdown
# The radii need the trained weights: train the two models again with `make_model`, `losses.distractor_loss` and `train.fit` as in `poisoned_minimum` (same seed, same result), then call `landscape.basin_radius(model, X, y, threshold=tau, n_directions=cfg.n_directions, seed=100)` for each $\tau$ and take the difference of `log10_volume()`.
# All radii grow with $\tau$, and the ratio of the good to the bad radii stays above 1, so the log10 volume ratio stays positive and in the thousands: its size changes with $\tau$, its sign does not.
# :::
#
# 3. **Which features make a linear model generalize?** Replace the random Fourier features of Experiment 1 by random ReLU features, $\phi(x) = \max(0, W x + c)$ with Gaussian $W$ and $c$ of a few units, and compare the boundaries and test accuracies.
#
# :::{admonition} Solution
# :class: dropdown
# `features = lambda x: torch.relu(x.double() @ W + 8 * torch.randn(cfg.toy_features, generator=g, dtype=torch.float64))` (draw the offsets once, outside the lambda).
# The minimum-norm interpolant of ReLU features is a smooth, piecewise-linear function, and on two spirals it generalizes far better than the Fourier one.
# A linear model is not doomed to overfit; its generalization is set by its features, the way a network's is set by the minimum the optimizer finds.
# :::
#
# 4. **Sharpness is not scale-free.** Take the clean MNIST-1D network, multiply the first layer's weights and bias by 10 and divide the second layer's weights by 10. Check that the network computes the same function, then compare its top Hessian eigenvalue and its filter-normalized 1-D slice with the original's {cite}`dinh2017sharp`.
#
# :::{admonition} Solution
# :class: dropdown
# For an `mlp` the layers are `model[1]` and `model[3]`: `with torch.no_grad(): model[1].weight.mul_(10); model[1].bias.mul_(10); model[3].weight.div_(10)`.
# The outputs agree to float precision (a ReLU commutes with a positive scale), but the top eigenvalue grows by more than an order of magnitude: the curvature along the second layer's weights is multiplied by 100, and along the first layer's divided by 100.
# The filter-normalized slice does not change at all: each direction is rescaled with its filter, so $\theta + a\,d$ is the rescaled copy of the original network's $\theta + a\,d$.
# This is why Li et al. normalize the directions, and why "sharp minima generalize badly" needs a scale-free notion of sharpness to be a statement about functions.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
