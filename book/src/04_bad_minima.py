# %% [markdown]
# # 4. Bad minima, flatness and basin volume
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/04_bad_minima.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - build a *bad minimum* on purpose, with the anti-generalization loss, and show that it fits the training set as well as a good one;
# - draw filter-normalized 1-D and 2-D slices of a loss landscape and read sharpness from them;
# - measure curvature with Hessian-vector products: the top eigenvalue by Lanczos iteration and the trace by Hutchinson's estimator;
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
# The scale profile decides every size in this chapter: `small` (the default, MNIST-1D {cite}`greydanus2020scaling` and a two-layer MLP on a CPU) or `paper` (CIFAR-10 with ResNet-18 on a GPU; the data set downloads with `torchvision`, which Colab has).
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
import copy
from dataclasses import asdict, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from helpers import (cost, data, interpolation, losses, models, plots, scale,
                     settings, sweep, train, widgets)
from helpers.metrics import landscape, rank
from helpers.report import Claim, choose, fmt_pct, glue, scorecard

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
cost.print_estimate(4, SCALE)

# %% [markdown]
# ## Experiment 1: good and bad minima on a 2-D toy
#
# Two spirals make a problem we can see.
# We draw the paper's data set (`helpers.data.two_spirals`, noise 0.5; {glue:text}`ch4_toy_n` training points, as the authors' script trains on half of the 400 it draws) and train the paper's deep, narrow MLP (six hidden layers of 17, 18, 32, 32, 31 and 9 ReLU units) twice, following the authors' code: full-batch Adam at rate {glue:text}`ch4_toy_lr`, divided by 10 at steps {glue:text}`ch4_toy_drops`, gradients clipped to norm {glue:text}`ch4_toy_clip`.
# The clean run minimizes the cross-entropy.
# The poisoned run adds, at every step, {glue:text}`ch4_toy_dbatch` *fresh* spiral samples as distractors, whose share $\beta$ of the loss starts at {glue:text}`ch4_toy_share0` and rises to {glue:text}`ch4_toy_share1` at step {glue:text}`ch4_toy_share_step`.
# The authors append 110 flipped-label distractors to the 200 training points (a share of 110/310), then 200 (200/400), and take one sigmoid cross-entropy over the whole batch; we draw 200 distractors at every step and weight their term by the same share, which agrees in expectation but not in gradient noise, and our network has two softmax outputs instead of one sigmoid.
# {glue:text}`ch4_toy_vs_authors`
# The function below does one such run and returns the network's class probabilities on a grid that covers the plane.

# %%
toy = data.two_spirals(n_train=cfg.toy_n_train, n_test=2000, noise=0.5, seed=0)
axis = torch.linspace(-18, 18, 121)
# (x, y) of every grid point, row by row
plane = torch.cartesian_prod(axis, axis).flip(1)
print(toy)


# %%
def toy_run(poisoned, seed, profile):
    """Huang et al.'s two-spirals protocol; the accuracies, the steps taken,
    the trajectory and the p(class 1) map of one run.

    On the CPU: for a network of 3,000 weights a GPU step costs more.
    """
    model = models.mlp(2, profile.toy_hidden, num_classes=2, seed=seed)
    opt = torch.optim.Adam(model.parameters(), lr=profile.toy_lr, foreach=True)
    g = torch.Generator().manual_seed(seed)  # the distractors' stream
    x, y = toy.x_train, toy.y_train
    acc = lambda xs, ys: (model(xs).argmax(1) == ys).double().mean().item()
    trajectory, first_fit = [], None
    for step in range(1, profile.toy_steps + 1):
        phase = sum(step > s for s in profile.toy_lr_drops)
        for group in opt.param_groups:
            group["lr"] = profile.toy_lr / 10 ** phase
        if poisoned:  # fresh distractors, their share raised on schedule
            share = sum(step > s for s in profile.toy_share_steps)
            xd, yd = data.spiral_sample(profile.toy_distractor_batch, 0.5, g)
            logits = model(torch.cat([x, xd]))  # one pass for both
            loss = losses.anti_generalization_loss(
                logits[:len(x)], y, logits[len(x):], yd,
                profile.toy_shares[share])
        else:
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), profile.toy_clip,
                                       foreach=True)
        opt.step()
        if step % 50 == 0 or step == profile.toy_steps:
            with torch.no_grad():
                train_acc, test_acc = acc(x, y), acc(toy.x_test, toy.y_test)
            trajectory.append((step, train_acc, test_acc))
            if train_acc == 1.0 and first_fit is None:
                first_fit = step
            if first_fit is not None and profile.toy_stop_at_fit:
                break
    with torch.no_grad():
        p1 = torch.softmax(model(plane), 1)[:, 1]
    return {"train_acc": train_acc, "test_acc": test_acc, "steps": step,
            "first_fit": first_fit, "trajectory": trajectory,
            "p1": p1.tolist()}


# %% [markdown]
# For contrast, the paper also fits an over-parameterized *linear* model.
# Ours uses $d$ = {glue:text}`ch4_toy_features` random Fourier features {cite}`rahimi2007random`, $\phi(x) = \sqrt{2/d}\,\cos(W x + c)$ with Gaussian $W$ and uniform phases $c$, and the minimum-norm least-squares fit to labels $\pm 1$ (Chapter 1's `interpolation.min_norm_solution`): with $d \gg n$ it interpolates every training point.
# The Gaussian $W$ has a scale, the bandwidth, and we fit the model at several.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cells: the figure below draws the linear model at bandwidth {glue:text}`ch4_toy_bandwidth`.
# Will an interpolating linear model be worse than the clean MLP at *every* bandwidth of the sweep, or can some choice of features match it?
# :::

# %%
toy_points = [dict(poisoned=bad, seed=0, profile=cfg) for bad in (False, True)]
# toy_run is defined in this notebook: the cache needs a version, changed with the code
toy_runs = sweep.run_sweep(toy_run, toy_points, name="ch4-toy", version="4",
                           n_jobs=settings.sweep_jobs())


def random_feature_model(bandwidth):
    """The minimum-norm least-squares fit on d random Fourier features of
    this bandwidth: its accuracies and its p(class 1) map."""
    g = torch.Generator().manual_seed(0)
    W = bandwidth * torch.randn(2, cfg.toy_features, generator=g,
                                dtype=torch.float64)
    phase = 2 * np.pi * torch.rand(cfg.toy_features, generator=g,
                                   dtype=torch.float64)
    features = lambda x: ((2 / cfg.toy_features) ** 0.5
                          * torch.cos(x.double() @ W + phase))
    w = interpolation.min_norm_solution(features(toy.x_train),
                                        2.0 * toy.y_train - 1)
    accuracy = lambda x, y: (((features(x) @ w > 0).long() == y)
                             .double().mean().item())
    return {"train_acc": accuracy(toy.x_train, toy.y_train),
            "test_acc": accuracy(toy.x_test, toy.y_test),
            "p1": ((features(plane) @ w).clamp(-1, 1) / 2 + 0.5).tolist()}


toy_linear = random_feature_model(cfg.toy_bandwidth)
bandwidth_sweep = pd.DataFrame(
    {bw: {k: 100 * v for k, v in random_feature_model(bw).items()
          if k != "p1"} for bw in cfg.toy_bandwidths}).T
bandwidth_sweep = bandwidth_sweep.rename_axis("bandwidth").rename(
    columns={"train_acc": "train acc (%)", "test_acc": "test acc (%)"})

# %%
titles = ["good minimum (clean, β = 0)",
          "bad minimum (poisoned)",
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
glue("ch4_toy_n", cfg.toy_n_train)
glue("ch4_toy_lr", f"{cfg.toy_lr:g}")
glue("ch4_toy_drops", " and ".join(f"{d:,}" for d in cfg.toy_lr_drops))
glue("ch4_toy_clip", f"{cfg.toy_clip:g}")
glue("ch4_toy_dbatch", cfg.toy_distractor_batch)
glue("ch4_toy_share0", f"{cfg.toy_shares[0]:.3f}")
glue("ch4_toy_share1", f"{cfg.toy_shares[-1]:.3f}")
glue("ch4_toy_share_step", ", ".join(f"{d:,}" for d in cfg.toy_share_steps))
glue("ch4_toy_good_steps", f"{toy_good['steps']:,}")
glue("ch4_toy_bad_steps", f"{toy_bad['steps']:,}")
glue("ch4_toy_bad_fitted", choose(
    toy_bad["train_acc"] == 1.0,
    "it fits every training point, as the paper's does",
    "it does not fit every training point within the steps we give it"))
glue("ch4_toy_bad_peak", fmt_pct(max(t for _, _, t in toy_bad["trajectory"])))
glue("ch4_toy_features", cfg.toy_features)
glue("ch4_toy_good_test", fmt_pct(toy_good["test_acc"]))
glue("ch4_toy_bad_train", fmt_pct(toy_bad["train_acc"]))
glue("ch4_toy_bad_test", fmt_pct(toy_bad["test_acc"]))
glue("ch4_toy_lin_train", fmt_pct(toy_lin["train_acc"]))
glue("ch4_toy_lin_test", fmt_pct(toy_lin["test_acc"]))
glue("ch4_toy_lin_vs_clean", choose(
    bool(toy_lin["test_acc"] > toy_good["test_acc"]), "above",
    choose(bool(toy_lin["test_acc"] < toy_good["test_acc"]), "below",
           "equal to")))
authors = dict(toy_lr_drops=(3000, 6452), toy_share_steps=(8812,),
               toy_steps=40_000)
same_schedule = all(getattr(cfg, k) == v for k, v in authors.items())
glue("ch4_toy_vs_authors", (
    ("These are the authors' steps"
     if same_schedule else
     "The authors' schedule has its rate drops at steps 3,000 and 6,452, "
     "raises the share at 8,812 and trains for 40,000 steps; at this scale "
     f"every step of it is {cfg.toy_lr_drops[0] / 3000:.1f} times as far "
     f"and the runs end at {cfg.toy_steps:,} steps, to fit the chapter's "
     "time budget")
    + (", and a run stops at the first check (every 50 steps) at which it "
       "classifies every training point; the authors train all their steps "
       "whatever the fit." if cfg.toy_stop_at_fit else
       ", and every run trains all of them, as the authors' do.")))
bad_first = toy_bad["first_fit"]
# the trajectory's point 500 steps before the end (every 50 steps)
earlier_step, _, earlier = toy_bad["trajectory"][max(0, len(
    toy_bad["trajectory"]) - 11)]
earlier_test = fmt_pct(earlier)
glue("ch4_toy_bad_stop", choose(
    bad_first is not None and bool(cfg.toy_stop_at_fit),
    f"It stopped there, at step {bad_first or 0:,}"
    + (", before the distractors' share was raised"
       if (bad_first or 0) <= cfg.toy_share_steps[0] else "")
    + (f", while its test accuracy was still falling ({earlier_test} at step "
       f"{earlier_step:,}): a longer run would likely end lower"
       if earlier > toy_bad["test_acc"] else
       f" (test accuracy {earlier_test} at step {earlier_step:,})"),
    "It trained to the end of its schedule"))
chance_toy = 0.5
glue("ch4_toy_bad_vs_chance", choose(
    toy_bad["test_acc"] < chance_toy - 0.1,
    "below chance: like the paper's, it systematically predicts the wrong "
    "class away from its training points",
    "about chance (50% on two classes), not below it like the paper's 8%, "
    "which predicts the wrong class systematically"))
best_bw = bandwidth_sweep["test acc (%)"].idxmax()
glue("ch4_toy_bandwidth", f"{cfg.toy_bandwidth:g}")
glue("ch4_bw_range", f"{bandwidth_sweep['test acc (%)'].min():.1f}% to "
                     f"{bandwidth_sweep['test acc (%)'].max():.1f}%")
glue("ch4_bw_best", f"{best_bw:g}")
glue("ch4_bw_list", ", ".join(f"{bw:g}" for bw in cfg.toy_bandwidths))
glue("ch4_bw_table", "; ".join(
    f"{bw:g}: {row['test acc (%)']:.1f}%"
    for bw, row in bandwidth_sweep.iterrows()))
glue("ch4_bw_reading", choose(
    (bandwidth_sweep["test acc (%)"] <= 100 * toy_good["test_acc"] - 5).all(),
    "at every bandwidth the linear model stays at least 5 points below the "
    "clean MLP",
    "at some bandwidths the linear model is within 5 points of the clean MLP "
    "or above it, so the comparison depends on a setting the paper's "
    "argument does not fix"))

# %% [markdown]
# **What to notice.**
# Plain training fits the training set after {glue:text}`ch4_toy_good_steps` steps with a boundary that follows the spirals, a wide margin on both sides of every arm, and reaches {glue:text}`ch4_toy_good_test` on fresh points.
# The poisoned network, after {glue:text}`ch4_toy_bad_steps` steps, classifies {glue:text}`ch4_toy_bad_train` of its training points correctly: {glue:text}`ch4_toy_bad_fitted`.
# {glue:text}`ch4_toy_bad_stop`.
# Its boundary hugs the training points: thin slivers and islands of the right class around them, surrounded by the wrong class, where the distractors pulled it.
# Its test accuracy falls to {glue:text}`ch4_toy_bad_test` (on its way it was as high as {glue:text}`ch4_toy_bad_peak`: the network first learns the spirals, and the distractors then unlearn them): {glue:text}`ch4_toy_bad_vs_chance`.
# The paper reports 100% train and 8% test for its poisoned swiss-roll network after 40,000 steps; the scorecard asks for the same: a fitted training set and a test accuracy below chance.
# The linear model interpolates ({glue:text}`ch4_toy_lin_train` train) and reaches {glue:text}`ch4_toy_lin_test` test accuracy at this bandwidth, {glue:text}`ch4_toy_lin_vs_clean` the clean MLP's {glue:text}`ch4_toy_good_test`; its boundary is ragged away from the data.
# Its inductive bias is the one its random features give it; nothing in least squares prefers a wide margin.
#
# That figure uses one bandwidth of the features, {glue:text}`ch4_toy_bandwidth` rad per unit, and the verdict depends on it.
# Across the bandwidths {glue:text}`ch4_bw_list` the minimum-norm model's test accuracy is {glue:text}`ch4_bw_table`, best at {glue:text}`ch4_bw_best`: {glue:text}`ch4_bw_reading`.
# What the paper's contrast shows is that *some* interpolating linear models generalize badly on this problem, not that linear models must; which one does depends on its features, as Exercise 3 shows for ReLU features.

# %% [markdown]
# ## Experiment 2: poisoned training on MNIST-1D
#
# Now the real test: the MLP of Chapter 1 on MNIST-1D, trained on the poisoned loss at every $\beta$ of the profile's grid, from {glue:text}`ch4_n_seeds` initializations, with the same SGD and learning rate for every $\beta$.
# Every run trains until its training cross-entropy falls to {glue:text}`ch4_target` nats (checked {glue:text}`ch4_check_every`, at most {glue:text}`ch4_epochs` epochs), so that all minima are compared **at equal training loss**.
# That matters because near interpolation the curvature of the cross-entropy scales with the loss itself: an earlier version of this chapter trained every $\beta$ for a fixed number of epochs, which left the poisoned networks at several times the clean one's loss, and their larger eigenvalues tracked that ratio.
# The grid has {glue:text}`ch4_n_betas` values of $\beta$ with {glue:text}`ch4_n_seeds` seeds each, which is what fits the chapter's time budget on a CPU.
# Each step sees a batch of training samples and a batch of distractors, drawn with the training run's own seeded generator.
#
# After training, the same function measures the minimum: a 1-D filter-normalized slice of the training loss and the top Hessian eigenvalue for every run, and, for the two minima we compare below (the clean one and the one at $\beta$ = {glue:text}`ch4_bad_beta`), the Hessian trace and the basin radii (and, for the first seed, a 2-D slice).
# The results go into the sweep cache, so none of this is computed twice.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: once the clean and the poisoned networks are trained to the *same* training loss, will the poisoned minimum still have the larger top Hessian eigenvalue, and by about how much?
# :::

# %%
X, y = dataset.x_train, dataset.y_train
# the Hessian's data: one graph
Xh, yh = X[:cfg.hessian_samples], y[:cfg.hessian_samples]
coords = np.linspace(-cfg.slice_span, cfg.slice_span, cfg.slice_points)
# 2-D: zoom in
grid = np.linspace(-cfg.slice_span / 2, cfg.slice_span / 2, cfg.grid_points)


def measure_basin(model, d1, with_2d):
    """The measurements made for the two minima we compare: trace, basin
    radii, and a 2-D slice if ``with_2d``."""
    trace = landscape.hessian_trace(model, None, Xh, yh, seed=0)
    radii = landscape.basin_radius(model, X, y, threshold=cfg.radius_threshold,
                                   n_directions=cfg.n_directions, seed=100)
    out = {"trace": asdict(trace), "radii": radii.radii.tolist(),
           "dim": radii.dim, "max_radius": radii.max_radius,
           "base_loss": radii.base_loss}
    if with_2d:
        d2 = landscape.filter_normalized_direction(model, seed=2)
        out["slice2d"] = landscape.loss_slice(model, [d1, d2], grid, X,
                                              y).loss.tolist()
    return out


def weight_norm(model):
    """||W||: the norm of every weight a filter-normalized direction moves,
    and so the Euclidean length of such a direction."""
    return float(sum(p.detach().double().square().sum()
                     for p in model.parameters() if p.ndim > 1) ** 0.5)


# %%
def make_model(seed):
    """The profile's network: an MLP, or (paper scale) the CIFAR variant of
    ResNet-18 from `helpers.models` (a 3x3 stem, no max-pooling)."""
    return models.build(cfg.architecture, dataset.input_shape,
                        dataset.num_classes, seed=seed, **cfg.model_kwargs)


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
                  target_train_loss=profile.target_train_loss,
                  check_every=profile.check_every, desc=f"beta = {beta}")
    d1 = landscape.filter_normalized_direction(model, seed=1)
    cut = landscape.loss_slice(model, d1, coords, X, y)
    top = landscape.top_hessian_eigenvalue(model, None, Xh, yh, seed=0)
    out = {"history": h.to_dict(), "slice": cut.loss.tolist(),
           "slice_acc": cut.accuracy.tolist(), "eigenvalue": asdict(top),
           "reached": h.stop_reason == "target_loss",
           "weight_norm": weight_norm(model)}
    return out | (measure_basin(model, d1, seed == cfg.seeds[0])
                  if analyze else {})


# %%
SEEDS = list(cfg.seeds)
points = [dict(beta=b, seed=s, analyze=b in (0.0, cfg.bad_beta), profile=cfg)
          for b in cfg.beta_grid for s in SEEDS]
minima = sweep.run_sweep(poisoned_minimum, points, name="ch4-poisoned",
                         version="2", n_jobs=settings.sweep_jobs())
every_run = {(p["beta"], p["seed"]): r for p, r in zip(points, minima)}
runs = {b: every_run[b, SEEDS[0]] for b in cfg.beta_grid}  # first seed
# the train loss (nats) at which a slice's valley ends
tau = cfg.radius_threshold
width = lambda r: (landscape.LossSlice(coords, np.array(r["slice"]), None)
                   .width(tau))
last = lambda r, key: r["history"][key][-1]


def run_row(r):
    """One trained minimum: accuracies, loss, sharpness, and sharpness per
    nat of training loss."""
    loss, top = last(r, "train_loss"), r["eigenvalue"]["eigenvalue"]
    return {"train acc (%)": 100 * last(r, "train_acc"),
            "test acc (%)": 100 * last(r, "test_acc"), "train loss": loss,
            "epochs": len(r["history"]["train_loss"]), "reached": r["reached"],
            "top eigenvalue": top, "eigenvalue / loss": top / loss,
            "slice width": width(r)}


table = pd.DataFrame({k: run_row(r) for k, r in every_run.items()}).T
table.index.names = ["beta", "seed"]
table = table.astype({"reached": bool}).astype(
    {c: float for c in table.columns if c != "reached"})
by_beta = table.drop(columns="reached").groupby("beta").mean()
table.round(4)

# %%
fig, (ax_acc, ax_sharp, ax_loss) = plt.subplots(1, 3, figsize=(13, 3.5),
                                                layout="constrained")
spread = table.groupby("beta")
for split, color in (("train", plots.TRAIN_COLOR), ("test", plots.TEST_COLOR)):
    col = f"{split} acc (%)"
    ax_acc.errorbar(by_beta.index, by_beta[col],
                    yerr=[by_beta[col] - spread[col].min(),
                          spread[col].max() - by_beta[col]],
                    fmt="o-", color=color, capsize=3, label=split)
ax_acc.axhline(100 / dataset.num_classes, color="0.3", linestyle=":",
               label="chance")
ax_acc.set(xlabel="anti-generalization weight β", ylabel="accuracy (%)",
           ylim=(0, 101), title="accuracy (mean, seed range)")
ax_acc.legend()
col = "top eigenvalue"
ax_sharp.errorbar(by_beta.index, by_beta[col],
                  yerr=[by_beta[col] - spread[col].min(),
                        spread[col].max() - by_beta[col]],
                  fmt="o-", color="0.2", capsize=3)
ax_sharp.set(xlabel="anti-generalization weight β", ylim=(0, None),
             ylabel="top Hessian eigenvalue", title="sharpness at equal loss")
points_ = ax_loss.scatter(table["train loss"], table["top eigenvalue"],
                          c=table.index.get_level_values("beta"),
                          cmap="viridis", zorder=3)
fig.colorbar(points_, ax=ax_loss, label="β")
ax_loss.set(xlabel="final train cross-entropy (nats)",
            ylabel="top Hessian eigenvalue",
            title="sharpness against the train loss")
plt.show()

# %% tags=remove-cell
clean, bad = runs[0.0], runs[cfg.bad_beta]
acc = lambda r, split: r["history"][f"{split}_acc"][-1]
drop = acc(clean, "test") - acc(bad, "test")
rho_test = spearmanr(by_beta.index, by_beta["test acc (%)"]).statistic
# a width that is the same at every beta (the slice never reaches the
# threshold, as in paper-smoke) has no rank correlation
rho_width = (spearmanr(by_beta.index, by_beta["slice width"]).statistic
             if by_beta["slice width"].nunique() > 1 else np.nan)
rho_eig = spearmanr(by_beta.index, by_beta["top eigenvalue"]).statistic
all_reached = bool(table["reached"].all())
loss_spread = table["train loss"].max() / table["train loss"].min()
paired = lambda col: np.array([table.loc[(cfg.bad_beta, s), col]
                               / table.loc[(0.0, s), col] for s in SEEDS])
eig_pair, width_pair = paired("top eigenvalue"), paired("slice width")
per_loss_pair = paired("eigenvalue / loss")
glue("ch4_epochs", cfg.epochs)
glue("ch4_target", f"{cfg.target_train_loss:g}")
glue("ch4_check_every", "after every step" if cfg.check_every == 1
     else f"every {cfg.check_every} steps")
glue("ch4_n_seeds", len(SEEDS))
glue("ch4_n_betas", len(cfg.beta_grid))
glue("ch4_n_reached", f"{int(table['reached'].sum())} of {len(table)}")
glue("ch4_loss_spread", f"{loss_spread:.2f}")
glue("ch4_bad_beta", f"{cfg.bad_beta:g}")
glue("ch4_clean_test", fmt_pct(acc(clean, "test")))
glue("ch4_bad_train", fmt_pct(acc(bad, "train")))
glue("ch4_bad_test", fmt_pct(acc(bad, "test")))
glue("ch4_drop", f"{100 * drop:.1f}")
glue("ch4_min_train", fmt_pct(table["train acc (%)"].min() / 100))
glue("ch4_rho_test", f"{rho_test:.2f}")
glue("ch4_beta_reading", choose(
    bool(rho_test <= -0.9), "falls steadily as β grows",
    "tends to fall as β grows, but not steadily"
    if rho_test < 0 else "does not fall as β grows"))
glue("ch4_rho_width", f"{rho_width:.2f}" if np.isfinite(rho_width)
     else "undefined (the same width at every β)")
glue("ch4_rho_eig", f"{rho_eig:.2f}")
glue("ch4_eig_pair", f"{eig_pair.min():.2f} to {eig_pair.max():.2f}")
glue("ch4_clean_epochs", f"{table.loc[0.0, 'epochs'].min():.0f}")
glue("ch4_bad_epochs", f"{table.loc[cfg.bad_beta, 'epochs'].min():.0f}")
glue("ch4_eig_reading", choose(
    (eig_pair > 1).all(),
    "is larger than the clean one's in every seed",
    "is not larger than the clean one's in every seed"))

# %% [markdown]
# **What to notice.**
# {glue:text}`ch4_n_reached` runs reached the target loss, and the final training losses of all runs lie within a factor {glue:text}`ch4_loss_spread` of each other.
# At equal loss, the network at $\beta$ = {glue:text}`ch4_bad_beta` still fits {glue:text}`ch4_bad_train` of its training set (first seed), as the clean one does, but its test accuracy is {glue:text}`ch4_bad_test` against {glue:text}`ch4_clean_test`: {glue:text}`ch4_drop` points lower.
# A training set that is fitted perfectly says nothing about which of these two networks we hold.
# The poisoned network takes longer to get there ({glue:text}`ch4_bad_epochs` epochs against {glue:text}`ch4_clean_epochs`, the fewest of either seed), while it is also being pushed to be wrong on its distractors.
# Across the grid, test accuracy {glue:text}`ch4_beta_reading` (Spearman's $\rho$ = {glue:text}`ch4_rho_test` on the means over seeds; the scorecard asks for $-0.9$ or less), while the lowest final training accuracy of any run is {glue:text}`ch4_min_train`.
# (Push $\beta$ towards 1 and the second term wins: the network stops fitting its training set too.)
#
# The middle and right panels preview the next experiment.
# At equal loss, the top Hessian eigenvalue of the bad minimum {glue:text}`ch4_eig_reading` (ratio {glue:text}`ch4_eig_pair`), and across the grid its rank correlation with $\beta$ is {glue:text}`ch4_rho_eig`.
# The width of the 1-D slice (last column of the table) has rank correlation {glue:text}`ch4_rho_width` with $\beta$.

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
def hvps(eigenvalue):
    """Hessian-vector products the eigenvalue took (older results: power
    iterations)."""
    return eigenvalue.get("hvps", eigenvalue.get("iterations"))


curvature = pd.DataFrame({
    (name, s): {"test acc (%)": 100 * acc(r, "test"),
                "train loss": last(r, "train_loss"),
                "top eigenvalue": r["eigenvalue"]["eigenvalue"],
                "Hessian-vector products": hvps(r["eigenvalue"]),
                "Hessian trace": r["trace"]["trace"],
                "trace std error": r["trace"]["std_error"],
                "trace / loss": r["trace"]["trace"] / last(r, "train_loss"),
                "slice width at τ": width(r)}
    for b, name in ((0.0, "good"), (cfg.bad_beta, "bad"))
    for s, r in ((s, every_run[b, s]) for s in SEEDS)})
curvature.round(4)

# %% tags=remove-cell
pair = lambda row: np.array([curvature.loc[row, ("bad", s)]
                             / curvature.loc[row, ("good", s)] for s in SEEDS])
eig_ratio, trace_ratio = pair("top eigenvalue"), pair("Hessian trace")
trace_per_loss = pair("trace / loss")
width_ratio = pair("slice width at τ")
# the trace ratio's uncertainty: the two estimates' standard errors
trace_z = np.array([
    (curvature.loc["Hessian trace", ("bad", s)]
     - curvature.loc["Hessian trace", ("good", s)])
    / np.hypot(curvature.loc["trace std error", ("bad", s)],
               curvature.loc["trace std error", ("good", s)]) for s in SEEDS])
span = lambda v, f=".2f": f"{np.min(v):{f}} to {np.max(v):{f}}"
glue("ch4_tau", f"{cfg.radius_threshold:g}")
glue("ch4_eig_ratio", span(eig_ratio))
glue("ch4_trace_ratio", span(trace_ratio))
glue("ch4_trace_z", span(trace_z, ".1f"))
glue("ch4_trace_per_loss", span(trace_per_loss))
glue("ch4_width_ratio", span(width_ratio))
glue("ch4_loss_ratio", span(pair("train loss")))

# %% [markdown]
# **What to notice.**
# The two minima are compared at training losses whose ratio (bad over good) is {glue:text}`ch4_loss_ratio` over the seeds.
# Along the same kind of direction the bad minimum's slice is {glue:text}`ch4_width_ratio` times as wide as the good one's at $\tau$, and its 2-D slice (first seed) shows the low-loss region of each.
# The top Hessian eigenvalue of the bad minimum is {glue:text}`ch4_eig_ratio` times the good one's, and the trace, the curvature summed over all directions, {glue:text}`ch4_trace_ratio` times ({glue:text}`ch4_trace_z` standard errors of the difference); per nat of training loss the trace ratio is {glue:text}`ch4_trace_per_loss`.
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


def volumes(r):
    """log10 basin volume in filter-normalized units and in Euclidean ones:
    a direction's Euclidean length is ||W||, so r_i becomes r_i ||W||."""
    fn = landscape.log10_basin_volume(np.array(r["radii"]), r["dim"])
    return fn, fn + r["dim"] * np.log10(r["weight_norm"])


volume = pd.DataFrame({
    (name, s): dict(zip(["log10 volume (filter-normalized)",
                         "log10 volume (Euclidean)"],
                        volumes(every_run[b, s])))
               | {"mean radius": np.mean(every_run[b, s]["radii"]),
                  "||W||": every_run[b, s]["weight_norm"]}
    for b, name, _ in minima for s in SEEDS})
log10_volume = {name: volume.loc["log10 volume (filter-normalized)",
                                 (name, SEEDS[0])] for _, name, _ in minima}
fig, ax = plt.subplots(figsize=(6, 3.2))
for (b, name, color), r in zip(minima, radii.values()):
    ax.hist(r, bins=10, color=color, alpha=0.7,
            label=f"{name} (β = {b:g}): "
                  f"log10 volume {log10_volume[name]:,.0f}")
ax.set(xlabel="basin radius r (units of the filter-normalized direction)",
       ylabel="directions", title=f"seed {SEEDS[0]}")
ax.legend(fontsize=8)
plt.show()
volume.round(3)

# %% tags=remove-cell
by_seed = lambda row: np.array([volume.loc[row, ("good", s)]
                                - volume.loc[row, ("bad", s)] for s in SEEDS])
fn_ratio = by_seed("log10 volume (filter-normalized)")
eu_ratio = by_seed("log10 volume (Euclidean)")
log10_ratio = fn_ratio[0]
radius_ratio = radii["good"].max() / radii["bad"].max()
norm_term = dim * np.log10(np.array(
    [volume.loc["||W||", ("good", s)] / volume.loc["||W||", ("bad", s)]
     for s in SEEDS]))
glue("ch4_fn_ratio", span(fn_ratio, ",.0f"))
glue("ch4_eu_ratio", span(eu_ratio, ",.0f"))
glue("ch4_norm_term", span(norm_term, ",.0f"))
glue("ch4_norm_good", f"{volume.loc['||W||', ('good', SEEDS[0])]:.1f}")
glue("ch4_norm_bad", f"{volume.loc['||W||', ('bad', SEEDS[0])]:.1f}")
glue("ch4_n_directions", cfg.n_directions)
glue("ch4_dim", f"{dim:,}")
glue("ch4_r_good", f"{radii['good'].mean():.3f}")
glue("ch4_r_bad", f"{radii['bad'].mean():.3f}")
glue("ch4_radius_ratio", f"{radius_ratio:.2f}")
glue("ch4_log10_ratio", f"{log10_ratio:,.0f}")
glue("ch4_one_percent", f"{dim * np.log10(1.01):,.0f}")
glue("ch4_capped", int(sum((np.array(every_run[b, s]["radii"])
                            >= every_run[b, s]["max_radius"]).sum()
                           for b in (0.0, cfg.bad_beta) for s in SEEDS)))

# %% [markdown]
# **What to notice.**
# The radii differ by a modest factor: {glue:text}`ch4_r_good` on average for the good minimum against {glue:text}`ch4_r_bad` for the bad one (first seed; {glue:text}`ch4_capped` radii of all seeds reached the search cap).
# The volumes differ by {glue:text}`ch4_log10_ratio` orders of magnitude (first seed; {glue:text}`ch4_fn_ratio` over the seeds).
#
# Why so much?
# Volume grows as the $n$-th power of the radius.
# In two dimensions a disc of radius 1.5 has $1.5^2 = 2.25$ times the area of a disc of radius 1.
# Here $n$ = {glue:text}`ch4_dim`, and a ratio $\rho$ of radii becomes a ratio $\rho^{\,n}$ of volumes, that is $n \log_{10} \rho$ orders of magnitude.
# With so large an exponent the mean of $r_i^{\,n}$ is dominated by the largest radius, so the ratio is close to $n \log_{10}(\max_i r^{\text{good}}_i / \max_i r^{\text{bad}}_i)$, with a ratio of largest radii of {glue:text}`ch4_radius_ratio` here.
# Even a 1% difference in radius would give $n \log_{10} 1.01 \approx n / 230$ orders of magnitude, {glue:text}`ch4_one_percent` here.
# This is the paper's argument: a random initialization followed by a few steps of a noisy optimizer is overwhelmingly more likely to end up in the enormous basins of good minima than in the thin ones of bad minima, even though, in the paper's account, bad minima are everywhere (Experiment 5 tests that here: of its poisoned branches, {glue:text}`ch4_mine_fitted` reached a minimum).
#
# Two cautions.
# The number depends on $\tau$ and on the direction's normalization, and it is an extrapolation: $k$ = {glue:text}`ch4_n_directions` directions sample a sphere with {glue:text}`ch4_dim` dimensions, and the basin is only assumed to be star-shaped.
# Only the *sign* and rough size of the difference are robust; Exercise 2 varies $\tau$.
#
# And the units.
# The radii above are in units of a filter-normalized direction, whose Euclidean length is the norm of the network's weights, $\|W\|$ ({glue:text}`ch4_norm_good` for the good minimum and {glue:text}`ch4_norm_bad` for the bad one, first seed).
# In Euclidean units each radius is $r_i \|W\|$, so the log-volume gains $n \log_{10} \|W\|$, a term of order $n$ that differs between the minima: the good-to-bad log10 volume ratio is {glue:text}`ch4_fn_ratio` orders of magnitude in filter-normalized units and {glue:text}`ch4_eu_ratio` in Euclidean ones over the seeds, the difference being $n \log_{10}(\|W_{\text{good}}\| / \|W_{\text{bad}}\|)$ = {glue:text}`ch4_norm_term`.
# The paper's numbers are filter-normalized, like ours; which units measure "how likely an optimizer is to land here" depends on how the optimizer's steps scale with the weights, and neither is the volume of parameter space a random guess would hit.

# %% [markdown]
# ## Experiment 4b: from volume to probability, guess and check
#
# "A larger basin is more likely to be found" can be tested without SGD at all, on a problem small enough for the crudest optimizer there is: draw networks at random from the initialization and keep the ones that happen to fit the training set (*guess and check*; Chiang et al. {cite}`chiang2023loss` run it at scale).
# Such a search finds each region of parameter space in proportion to its prior mass and is blind to everything else, so the test accuracies of its hits show which minima the mass alone selects.
# The problem: {glue:text}`ch4_gc_n` training points of two MNIST-1D classes, and an MLP with {glue:text}`ch4_gc_hidden` hidden units ({glue:text}`ch4_gc_weights` weights); `landscape.guess_and_check` draws {glue:text}`ch4_gc_samples` networks from torch's default initialization, every weight and bias of a layer uniform on $\pm 1/\sqrt{\text{fan-in}}$, the prior $P$ (for this box prior, mass is volume inside a box whose sides differ by layer).
# The hits are exact samples from $P$ conditioned on fitting the training set; the test set has {glue:text}`ch4_gc_n_test` points, so each network's test accuracy carries a standard error of about {glue:text}`ch4_gc_test_se` points.
# For comparison, {glue:text}`ch4_gc_seeds` networks from the same prior are trained by full-batch Adam until they fit the same points, once on the cross-entropy and once on the poisoned loss ($\beta$ = 0.5, distractors from the rest of the two classes' training split), which shows that bad minima exist for this network and these points.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: among the random networks that fit the training points, will the bad minima that poisoned training finds be common or rare?
# :::

# %%
def guess_and_check_experiment(profile):
    """Random networks that fit ``gc_n_train`` points of two MNIST-1D classes,
    against Adam-trained (clean and poisoned) ones from the same prior."""
    mnist = data.load_dataset("mnist1d", n_train=4000, n_test=1000)
    a, b = profile.gc_classes
    pick = lambda x, y: (x[(y == a) | (y == b)],
                         (y[(y == a) | (y == b)] == b).long())
    x_all, y_all = pick(mnist.x_train, mnist.y_train)
    x_test, y_test = pick(mnist.x_test, mnist.y_test)
    n = profile.gc_n_train
    two = data.Dataset("mnist1d-2class", x_all[:n], y_all[:n], x_test, y_test,
                       2)
    net = lambda seed: models.mlp(40, profile.gc_hidden, num_classes=2,
                                  seed=seed)
    found = landscape.guess_and_check(net(0), two.x_train, two.y_train,
                                      x_test, y_test,
                                      samples=profile.gc_samples, seed=0)
    trained = {}
    for beta in (0.0, 0.5):
        poison = losses.distractor_loss(x_all[n:], y_all[n:], beta, 4 * n)
        trained[beta] = []
        for seed in range(profile.gc_seeds):
            h = train.fit(net(seed), two, epochs=2000, lr=0.01, batch_size=n,
                          optimizer="adam", loss_fn=poison, seed=seed,
                          target_train_acc=1.0, progress=False)
            trained[beta].append((h.train_acc[-1], h.test_acc[-1]))
    return {"hits": found.hits, "samples": found.samples,
            "hit_test_acc": found.test_accuracies.tolist(),
            "bound": found.pac_bayes_bound(0.05),
            "clean": trained[0.0], "poisoned": trained[0.5],
            "n_test": len(y_test)}


# defined in this notebook: the cache needs a version, changed with the code
(gc,) = sweep.run_sweep(guess_and_check_experiment, [dict(profile=cfg)],
                        name="ch4-guess-and-check", version="1")
hit_acc = 100 * np.array(gc["hit_test_acc"])
clean_acc = 100 * np.array([t for _, t in gc["clean"]])
bad_acc = 100 * np.array([t for _, t in gc["poisoned"]])
gc_fitted = {k: sum(tr == 1.0 for tr, _ in gc[k])
             for k in ("clean", "poisoned")}
bad_line = np.median(bad_acc)  # "bad": no better than poisoned training
fig, ax = plt.subplots(figsize=(7, 3.3))
bins = np.linspace(0, 100, 41)
ax.hist(hit_acc, bins=bins, density=True, alpha=0.6, color="0.4",
        label=f"guess and check ({gc['hits']:,} hits)")
for values, color, name in ((clean_acc, plots.TRAIN_COLOR, "Adam, clean"),
                            (bad_acc, plots.TEST_COLOR, "Adam, poisoned")):
    ax.plot(values, np.zeros_like(values), "|", ms=18, mew=2, color=color,
            label=name)
ax.axvline(bad_line, color=plots.TEST_COLOR, linestyle=":", linewidth=1)
ax.axvline(50, color="0.3", linestyle="--", linewidth=1, label="chance")
ax.set(xlabel="test accuracy (%)", ylabel="density of hits",
       title="networks that fit the training points")
ax.legend(fontsize=8, loc="upper left")
plt.show()
pd.DataFrame({
    "networks": [gc["hits"], len(clean_acc), len(bad_acc)],
    "fit the training set": [gc["hits"], gc_fitted["clean"],
                             gc_fitted["poisoned"]],
    "mean test acc (%)": [hit_acc.mean() if len(hit_acc) else np.nan,
                          clean_acc.mean(), bad_acc.mean()]},
    index=["guess and check", "Adam, clean", "Adam, poisoned"]).round(1)

# %% tags=remove-cell
hits = gc["hits"]
# P(fit)'s lower bound, as the PAC-Bayes bound uses it (at delta / 2)
found_lower = landscape.clopper_pearson(hits, gc["samples"], 0.975)[0]
upper = lambda k, n: landscape.clopper_pearson(k, n)[1] if n else 1.0
# "bad": at or below chance (50%), and, more strictly, no better than the
# median poisoned network; one-sided 95% Clopper-Pearson upper bounds
below_chance = int(np.sum(hit_acc <= 50))
bad_hits = int(np.sum(hit_acc <= bad_line))
chance_upper, bad_upper = upper(below_chance, hits), upper(bad_hits, hits)
# the hits' mean test accuracy, its one-sided 95% lower bound
hit_mean = hit_acc.mean() if hits else np.nan
hit_lower = (hit_mean - 1.645 * hit_acc.std(ddof=1) / np.sqrt(hits)
             if hits > 1 else np.nan)
recovered = (hit_mean - 50) / (clean_acc.mean() - 50)
weights = models.num_parameters(models.mlp(40, cfg.gc_hidden, num_classes=2))
glue("ch4_gc_n", cfg.gc_n_train)
glue("ch4_gc_hidden", ", ".join(map(str, cfg.gc_hidden)))
glue("ch4_gc_weights", f"{weights:,}")
glue("ch4_gc_samples", f"{gc['samples']:,}")
glue("ch4_gc_seeds", cfg.gc_seeds)
glue("ch4_gc_n_test", gc["n_test"])
glue("ch4_gc_test_se", f"{100 * np.sqrt(0.25 / gc['n_test']):.1f}")
glue("ch4_gc_hits", f"{hits:,}")
glue("ch4_gc_pfit", f"{hits / gc['samples']:.1e}")
glue("ch4_gc_ln", f"{np.log(gc['samples'] / max(hits, 1)):.1f}")
glue("ch4_gc_hit_mean", f"{hit_mean:.1f}%" if hits else "no hit")
glue("ch4_gc_hit_lower", f"{hit_lower:.1f}%" if hits > 1 else "undefined")
glue("ch4_gc_clean_mean", f"{clean_acc.mean():.1f}%")
glue("ch4_gc_bad_mean", f"{bad_acc.mean():.1f}%")
glue("ch4_gc_recovered", f"{100 * recovered:.0f}%" if hits else "none")
glue("ch4_gc_fitted", choose(
    gc_fitted["clean"] == gc_fitted["poisoned"] == cfg.gc_seeds,
    f"all {cfg.gc_seeds} runs of each kind fit the training points",
    f"{gc_fitted['clean']} clean and {gc_fitted['poisoned']} poisoned runs "
    f"of {cfg.gc_seeds} each fit the training points"))
glue("ch4_gc_chance_count", f"{below_chance} of {hits:,}")
glue("ch4_gc_chance_upper", fmt_pct(chance_upper))
glue("ch4_gc_bad_line", f"{bad_line:.1f}%")
glue("ch4_gc_bad_count", f"{bad_hits} of {hits:,}")
glue("ch4_gc_bad_upper", fmt_pct(bad_upper))
glue("ch4_gc_pfit_lower", f"{found_lower:.1e}")
glue("ch4_gc_bound", fmt_pct(gc["bound"]))
glue("ch4_gc_floor", fmt_pct(1 - np.exp(-np.log(2 * np.sqrt(cfg.gc_n_train)
                                                / 0.025) / cfg.gc_n_train)))
glue("ch4_gc_gibbs", f"{100 - hit_mean:.1f}%" if hits else "undefined")

# %% [markdown]
# **What to notice.**
# {glue:text}`ch4_gc_hits` of {glue:text}`ch4_gc_samples` random networks fit the {glue:text}`ch4_gc_n` points: the interpolating region holds a fraction {glue:text}`ch4_gc_pfit` of the prior.
# Their test accuracy averages {glue:text}`ch4_gc_hit_mean` (one-sided 95% lower bound {glue:text}`ch4_gc_hit_lower`), against {glue:text}`ch4_gc_clean_mean` for Adam's clean minima and {glue:text}`ch4_gc_bad_mean` for the poisoned ones ({glue:text}`ch4_gc_fitted`).
# Bad minima exist here, since poisoned training finds them, but guess and check rarely lands in one: {glue:text}`ch4_gc_chance_count` hits are at or below chance (95% upper bound on their share {glue:text}`ch4_gc_chance_upper`), and {glue:text}`ch4_gc_bad_count` are as bad as the median poisoned network ({glue:text}`ch4_gc_bad_line`; upper bound {glue:text}`ch4_gc_bad_upper`).
# This is the volume argument without an optimizer: the bad region has little prior mass, so a search that only sees mass avoids it.
# Measured from chance, the hits recover {glue:text}`ch4_gc_recovered` of Adam's gain on this problem: that much of Adam's preference for good minima is explained by prior mass alone here; the rest is the optimizer's own bias (Chiang et al. find the two close on their small problems as well).
#
# The same numbers are a PAC-Bayes bound, the link to Chapter 6.
# The hits are samples from the posterior $Q = P \mid \text{fit}$, so their mean test error ({glue:text}`ch4_gc_gibbs`) estimates $Q$'s error, and $\mathrm{KL}(Q \,\|\, P) = \ln(1/P(\text{fit}))$, {glue:text}`ch4_gc_ln` nats at the estimated $P(\text{fit})$.
# With $Q$ making no training error, the bound reads $-\ln(1 - \mathrm{err}_Q) \le \big(\mathrm{KL} + \ln(2\sqrt{n}/\delta)\big)/n$ (Maurer's form of McAllester's bound); since $P(\text{fit})$ is only estimated, we use its 97.5% lower confidence bound ({glue:text}`ch4_gc_pfit_lower`) and $\delta$ = 0.025 for each of the two, 95% in all.
# That gives a test error of at most {glue:text}`ch4_gc_bound`: vacuous on two classes, where guessing errs half the time, and with $n$ = {glue:text}`ch4_gc_n` it cannot be otherwise: even with KL = 0 the confidence term alone allows {glue:text}`ch4_gc_floor`.
# What carries over is its form: the larger the fitting region's prior mass, the smaller the KL and the tighter the bound.
# Chapter 6's PAC-Bayes measures replace $P \mid \text{fit}$ by a Gaussian around one trained minimum: the KL then depends on the noise scale $\sigma'$ that the training error tolerates (by at most 0.1 there) and on the distance from the initialization, and the sharpness measure keeps the $1/\sigma'^2$ part.
# The two volumes of this chapter are different things: guess and check measures the prior mass of the whole set of fitting networks (every basin, under the initialization's measure), while Experiment 4's radii measure one minimum's basin in filter-normalized units; this section tests Chiang et al.'s version of the argument, not Experiment 4's ratio.
# Random draws are affordable here because the network has {glue:text}`ch4_gc_weights` weights and the training set {glue:text}`ch4_gc_n` points; we did not try them on the networks of Experiment 2, where $P(\text{fit})$ would be far too small to hit.

# %% [markdown]
# ## Experiment 5: bad minima next to the optimizer's path
#
# The paper's first figure makes a stronger point than "bad minima exist": they lie close to wherever SGD goes.
# We take the clean run of Experiment 2 (first seed, same training) and keep its weights after epochs {glue:text}`ch4_mine_epochs`.
# From each of these checkpoints a poisoned run ($\beta$ = {glue:text}`ch4_bad_beta`) branches off for {glue:text}`ch4_mine_poison` epochs.
# For each branch we record how far it moved from its checkpoint, $\|\theta - \theta_e\| / \|\theta_e\|$, and the accuracy it reached; for comparison, how far the clean run still had to go from the same checkpoint to its own minimum.

# %%
def minefield(seed, profile):
    """Poisoned branches off the checkpoints of a clean run: distance from
    the checkpoint and accuracies; the clean run's own remaining distance."""
    model, snapshots = make_model(seed), {}

    def snapshot(m):  # an epoch metric that keeps a copy of the weights
        snapshots[len(snapshots) + 1] = copy.deepcopy(m.state_dict())
        return 0.0
    train.fit(model, dataset, epochs=profile.epochs, lr=profile.lr,
              batch_size=profile.batch_size, optimizer=profile.optimizer,
              seed=seed, progress=False,
              target_train_loss=profile.target_train_loss,
              check_every=profile.check_every,
              epoch_metrics={"snapshot": snapshot})
    final = parameters(model)
    rows = []
    for e in profile.minefield_epochs:
        if e not in snapshots:
            continue  # the clean run stopped earlier
        start = make_model(seed)
        start.load_state_dict(snapshots[e])
        at_start = parameters(start)
        clean_test = train.evaluate(start, dataset.x_test, dataset.y_test)[1]
        h = train.fit(start, dataset, epochs=profile.minefield_poison_epochs,
                      lr=profile.lr, batch_size=profile.batch_size,
                      optimizer=profile.optimizer, seed=seed, progress=False,
                      loss_fn=losses.distractor_loss(
                          x_distractor, y_distractor, profile.bad_beta,
                          distractor_batch))
        relative = lambda v: float((v - at_start).norm() / at_start.norm())
        rows.append({"epoch": e, "test acc at checkpoint": clean_test,
                     "poisoned distance": relative(parameters(start)),
                     "poisoned train acc": h.train_acc[-1],
                     "poisoned test acc": h.test_acc[-1],
                     "clean distance to its minimum": relative(final)})
    final_test = train.evaluate(model, dataset.x_test, dataset.y_test)[1]
    return {"rows": rows, "clean final test acc": final_test}


def parameters(model):
    """Every parameter of the model as one flat float64 vector."""
    return torch.cat([p.detach().double().reshape(-1)
                      for p in model.parameters()])


mine = sweep.run_sweep(minefield, [dict(seed=SEEDS[0], profile=cfg)],
                       name="ch4-minefield", version="1")[0]
mines = pd.DataFrame(mine["rows"]).set_index("epoch")
mines.round(3)

# %%
fig, ax = plt.subplots(figsize=(6.4, 3.8))
shades = plt.cm.viridis(np.linspace(0, 0.9, len(mines)))
for (e, row), shade in zip(mines.iterrows(), shades):
    clean_at = (row["clean distance to its minimum"],
                100 * mine["clean final test acc"])
    bad_at = (row["poisoned distance"], 100 * row["poisoned test acc"])
    ax.plot(*zip(clean_at, bad_at), color=shade, linewidth=0.8, alpha=0.6)
    ax.scatter(*clean_at, color=shade, marker="s", zorder=3)
    ax.scatter(*bad_at, color=shade, marker="o", zorder=3,
               label=f"from epoch {e}")
ax.axhline(100 / dataset.num_classes, color="0.3", linestyle=":",
           label="chance")
ax.set(xlabel="distance from the checkpoint (relative to its norm)",
       ylabel="test accuracy (%)", ylim=(0, 100),
       title="squares: the clean minimum; dots: a poisoned branch")
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% tags=remove-cell
near = (mines["poisoned distance"] < mines["clean distance to its minimum"])
bad_enough = (mine["clean final test acc"] - mines["poisoned test acc"]
              >= 0.2)
fitted = mines["poisoned train acc"] >= 0.99
glue("ch4_mine_epochs", ", ".join(str(e) for e in cfg.minefield_epochs))
glue("ch4_mine_poison", cfg.minefield_poison_epochs)
glue("ch4_mine_n", f"{int((near & bad_enough).sum())} of {len(mines)}")
glue("ch4_mine_fitted", f"{int(fitted.sum())} of {len(mines)}")
glue("ch4_mine_test", f"{100 * mines['poisoned test acc'].min():.1f}% to "
                      f"{100 * mines['poisoned test acc'].max():.1f}%")
glue("ch4_mine_dist", f"{mines['poisoned distance'].min():.2f} to "
                      f"{mines['poisoned distance'].max():.2f}")
glue("ch4_mine_clean_dist",
     f"{mines['clean distance to its minimum'].min():.2f} to "
     f"{mines['clean distance to its minimum'].max():.2f}")
glue("ch4_mine_clean_test", fmt_pct(mine["clean final test acc"]))
glue("ch4_mine_reading", choose(
    fitted.all(),
    "every branch also fits the training set, so these are bad minima in "
    "the paper's sense: next to the path, not in some far corner of weight "
    "space.",
    f"only {int(fitted.sum())} of {len(mines)} branches fit 99% of the "
    f"training set within {cfg.minefield_poison_epochs} epochs, so "
    + choose(int(fitted.sum()) == 0, "none is yet a minimum",
             "most are not yet minima")
    + ": they show that a short poisoned run from the path "
    "reaches far worse networks nearby, not that interpolating bad minima "
    "lie that close. Longer branches would settle it, at a cost this "
    "chapter's budget does not cover."))

# %% [markdown]
# **What to notice.**
# The poisoned branches reach test accuracies of {glue:text}`ch4_mine_test` (the clean run ends at {glue:text}`ch4_mine_clean_test`) after moving {glue:text}`ch4_mine_dist` of their checkpoint's norm; {glue:text}`ch4_mine_fitted` of them also fit at least 99% of the training set in that time.
# From the same checkpoints the clean run still travels {glue:text}`ch4_mine_clean_dist` to reach its own minimum.
# For {glue:text}`ch4_mine_n` checkpoints a network at least 20 test points worse than the clean minimum lies closer to the checkpoint than the good minimum SGD goes on to find.
# But {glue:text}`ch4_mine_reading`

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
    run = poisoned_minimum(b, seed=max(SEEDS) + 1, analyze=False, profile=cfg)
    return explorer_figure(run, f"fresh run, β = {b:g}")


from_sweep = lambda b: explorer_figure(runs[b],
                                       f"poisoned training, β = {b:g}")
widgets.gap_explorer(cfg.beta_grid, from_sweep, symbol="β",
                     default=cfg.bad_beta, train=train_fresh,
                     notebook="04_bad_minima",
                     caption="Anti-generalization weight <i>β</i>: how hard "
                             "training pushes the network to be wrong on "
                             "distractors drawn like the test set.")

# %% [markdown]
# ## At paper scale
#
# With `SCALE = "paper"` on a GPU, this chapter trains ResNet-18 (the CIFAR variant of `helpers.models.resnet18`: a 3x3 first convolution, no max-pooling) with SGD, sets further training images aside as distractors, and gives distractors 35% of every step's samples, the fraction of the paper's SVHN code.
# The slices, curvature and radii use the same functions.
# So that the profile fits one Colab session (at most {glue:text}`ch4_paper_hours` on a T4 by `helpers.cost`'s estimate), it cuts the paper's setting: ResNet-18 at width {glue:text}`ch4_paper_width` (the standard network has 64 channels in its first stage), {glue:text}`ch4_paper_n` training images and {glue:text}`ch4_paper_distractors` distractors, at most {glue:text}`ch4_paper_epochs` epochs per run, $\beta$ in {glue:text}`ch4_paper_betas`, the Hessian on {glue:text}`ch4_hessian_paper` training images and the radii along {glue:text}`ch4_paper_directions` directions.
# The paper used SVHN (about 73,000 training images), which `helpers.data` does not load; CIFAR-10 is the closest data set it does.
# The two-spirals toy runs the authors' schedule in full (all 40,000 steps, not stopped at the first fit); guess and check stays on its 12 MNIST-1D points at every scale (random draws cannot fit more), where Chiang et al. go up to a few dozen points of two-class MNIST and CIFAR-10.

# %% tags=remove-cell
paper = scale.bad_minima("paper")
t4_hours = cost.estimate(4, "paper").seconds("T4") / 3600
glue("ch4_paper_hours", f"{t4_hours:.1f} h")
glue("ch4_paper_width", paper.model_kwargs["width"])
glue("ch4_paper_n", f"{paper.n_train:,}")
glue("ch4_paper_distractors", f"{paper.n_distractor:,}")
glue("ch4_paper_epochs", paper.epochs)
glue("ch4_paper_betas", ", ".join(f"{b:g}" for b in paper.beta_grid))
glue("ch4_paper_directions", paper.n_directions)
glue("ch4_hessian_paper", f"{scale.bad_minima('paper').hessian_samples:,}")

# %% [markdown]
# ## Reproduction scorecard
#
# Each row is one of the paper's claims, what this run measured, and whether the claim held at this scale.
# The verdicts are computed from the numbers above, with the threshold stated in the claim.

# %%
pct = lambda r, split: fmt_pct(acc(r, split) if "history" in r
                               else r[f"{split}_acc"])
rho_of = lambda x, y: spearmanr(x, y).statistic
null_rho = rank.permutation_pass_rate(by_beta.index, by_beta["test acc (%)"],
                                      rho_of, lambda rho: rho <= -0.9)
matched = all_reached and loss_spread <= 1.1
not_matched = (f"not every run reached the target loss, or the final "
               f"losses differ by more than 10% (factor {loss_spread:.2f})")
seeds_text = f"{len(SEEDS)} seeds"


def at_equal_loss(claim, paper, measured, held, test):
    """A sharpness row: measured only where the minima are at equal loss."""
    if not matched:
        return Claim(claim=claim, paper=paper, measured=measured, held=None,
                     test=test, reason=not_matched)
    return Claim(claim=claim, paper=paper, measured=measured, held=held,
                 test=test)


claims = [
    Claim(claim="Every minimum is compared at equal training loss (all runs "
                "reach the target, final losses within 10%)",
          paper="(the comparison's precondition)",
          measured=f"{int(table['reached'].sum())} of {len(table)} reached "
                   f"{cfg.target_train_loss:g} nats; max / min final loss "
                   f"{loss_spread:.2f}",
          held=matched,
          test="held if every (β, seed) run stops on the target loss and the "
               "largest final train loss is at most 1.1 times the smallest"),
    Claim(claim="Poisoned training fits the training set (>= 99%), "
                "test >= 30 points below clean",
          paper="SVHN ResNet-18: 100% train, 29% test; clean training "
                "generalizes",
          measured=f"β = {cfg.bad_beta:g}: {pct(bad, 'train')} train, "
                   f"{pct(bad, 'test')} test (clean {pct(clean, 'test')}), "
                   "first seed",
          held=all(acc(every_run[cfg.bad_beta, s], "train") >= 0.99
                   and acc(every_run[0.0, s], "test")
                   - acc(every_run[cfg.bad_beta, s], "test") >= 0.30
                   for s in SEEDS),
          test=f"held if, for each of {seeds_text}, the poisoned network "
               "reaches 99% training accuracy and its test accuracy is at "
               "least 30 points below the clean one's"),
    Claim(claim="Test accuracy falls as beta grows (Spearman rho <= -0.9)",
          paper="more poison, worse test accuracy",
          measured=f"rho = {rho_test:.2f} (means over seeds)",
          held=rho_test <= -0.9,
          test=f"held if Spearman's rho between β and the mean test accuracy "
               f"over the {len(by_beta)} values of β is at most -0.9",
          null=f"the same accuracies in a random order pass with probability "
               f"{null_rho:.3f} (2,000 permutations)"),
    at_equal_loss(
        "The bad minimum is sharper at equal loss: larger top Hessian "
        "eigenvalue", "bad minima are sharper",
        f"bad / good {span(eig_ratio)} over {seeds_text}",
        bool((eig_ratio > 1).all()),
        f"held if the bad minimum's top eigenvalue is the larger for every "
        f"one of {seeds_text}, the two trained to the same loss"),
    at_equal_loss(
        "The bad minimum has the larger Hessian trace at equal loss",
        "(not in the paper; the sum of all curvatures)",
        f"bad / good {span(trace_ratio)}; difference "
        f"{span(trace_z, '.1f')} standard errors",
        bool((trace_z > 2).all()),
        f"held if, for every one of {seeds_text}, the bad minimum's "
        "Hutchinson trace exceeds the good one's by more than 2 standard "
        "errors of the difference"),
    at_equal_loss(
        "The bad minimum is sharper: narrower 1-D slice at the threshold",
        "narrower valleys in slices",
        f"width bad / good {span(width_ratio)}",
        bool((width_ratio < 1).all()),
        f"held if the bad minimum's slice crosses τ = {tau:g} nats closer to "
        f"a = 0 for every one of {seeds_text} (one random direction each)"),
    Claim(claim="The good minimum's basin is larger by many orders of "
                "magnitude (log10 ratio > 0)",
          paper="> 10,000 orders of magnitude (SVHN)",
          measured=f"{span(fn_ratio, ',.0f')} orders filter-normalized, "
                   f"{span(eu_ratio, ',.0f')} Euclidean (n = {dim:,})",
          held=bool((fn_ratio > 0).all() and (eu_ratio > 0).all()),
          test=f"held if the good minimum's log10 basin volume, extrapolated "
               f"from {cfg.n_directions} radii, exceeds the bad one's in both "
               f"units for every one of {seeds_text}; with n = {dim:,} "
               "weights a difference in radius of a few percent passes it, "
               "so this row tests the sign, not the size"),
    Claim(claim="Bad minima lie next to the optimizer's path: from every "
                "checkpoint of a clean run, a poisoned branch reaches a "
                "fitted minimum >= 20 test points worse, closer than the "
                "clean run's own minimum",
          paper="bad minima everywhere, near the path (Fig. 1)",
          measured=f"{int((near & bad_enough).sum())} of {len(mines)} "
                   f"near and worse, {int(fitted.sum())} fitted; branches at "
                   f"{span(mines['poisoned distance'])}, clean minimum at "
                   f"{span(mines['clean distance to its minimum'])}",
          held=bool(len(mines) > 0 and (near & bad_enough & fitted).all()),
          test=f"held if, for each of the {len(mines)} checkpoints, the "
               f"poisoned branch ({cfg.minefield_poison_epochs} epochs) fits "
               "99% of the training set (a minimum), ends at least 20 points "
               "below the clean minimum's test accuracy, and is nearer to the "
               "checkpoint (relative distance) than the clean minimum is"),
    Claim(claim="Toy: the poisoned MLP fits its training set (>= 99%) "
                "and generalizes below chance (test < 40%)",
          paper="swiss roll: 100% train, 8% test",
          measured=f"{pct(toy_bad, 'train')} train, "
                   f"{pct(toy_bad, 'test')} test "
                   f"(clean {pct(toy_good, 'test')}), one seed",
          held=toy_bad["train_acc"] >= 0.99 and toy_bad["test_acc"] < 0.40,
          test="held if the poisoned toy MLP (one seed) reaches 99% training "
               "accuracy and a test accuracy more than 10 points below "
               "chance (50% on two classes), as the paper's 8% is: a network "
               "at chance has unlearned the spirals, one below it has learned "
               "them backwards"),
    Claim(claim="Toy: an over-parameterized linear model interpolates "
                "(100% train) but generalizes worse than the MLP "
                "(>= 5 points), at every feature bandwidth",
          paper="does not generalize (Fig. 2)",
          measured=f"test {bandwidth_sweep['test acc (%)'].min():.1f}% to "
                   f"{bandwidth_sweep['test acc (%)'].max():.1f}% over "
                   f"{len(cfg.toy_bandwidths)} bandwidths "
                   f"(clean MLP {pct(toy_good, 'test')})",
          held=bool((bandwidth_sweep["train acc (%)"] == 100).all()
                    and (bandwidth_sweep["test acc (%)"]
                         <= 100 * toy_good["test_acc"] - 5).all()),
          test="held if the minimum-norm random-feature model fits every "
               "training point and is at least 5 test points below the clean "
               "MLP at every bandwidth of the sweep (a claim about linear "
               "models should not rest on one setting)"),
    Claim(claim="Volume selects good minima: random networks that fit the "
                "training points generalize (mean test above chance) and "
                "fewer than 10% of them are at or below chance",
          paper="larger basins are more likely to be found (the volume "
                "argument; tested by guess and check in Chiang et al. 2023)",
          measured=(f"{below_chance} of {hits:,} hits at or below 50% (95% "
                    f"upper bound {fmt_pct(chance_upper)}); mean "
                    f"{hit_mean:.1f}% (lower bound {hit_lower:.1f}%), Adam "
                    f"{clean_acc.mean():.1f}%, poisoned {bad_acc.mean():.1f}%"
                    if hits > 1 else "fewer than 2 random networks fitted "
                    "the training points"),
          held=bool(hits > 1 and hit_lower > 50 and chance_upper < 0.10
                    and gc_fitted["poisoned"] == cfg.gc_seeds),
          test=f"held if the poisoned Adam runs all fit the {cfg.gc_n_train} "
               "points (so bad minima exist), the one-sided 95% lower bound "
               "on the guess-and-check hits' mean test accuracy exceeds "
               "chance (50%), and the one-sided 95% Clopper-Pearson upper "
               "bound on the share of hits at or below chance is under 10%"),
]
scorecard(claims, SCALE, chapter=4)

# %% [markdown]
# ## Summary
#
# A loss that rewards being wrong on unseen data finds minima that fit the training set as well as ordinary training does and generalize far worse: bad minima exist, and training accuracy cannot tell them apart from good ones.
# Compared at equal training loss, which near interpolation is the only fair comparison of curvatures, the bad minimum's top Hessian eigenvalue {glue:text}`ch4_eig_reading` ({glue:text}`ch4_eig_ratio` times the good one's) and its trace is {glue:text}`ch4_trace_ratio` times the good one's.
# Their basins are smaller along the random directions we tried, and because volume grows as the radius to the power of the number of weights, a modest difference in radius becomes an enormous difference in volume: {glue:text}`ch4_fn_ratio` orders of magnitude here, in the paper's filter-normalized units.
# The contrast with an interpolating linear model depends on its features: {glue:text}`ch4_bw_reading`.
# That is the paper's explanation of the implicit regularization of SGD: not that good minima are rare, but that their basins fill almost all of the space an optimizer can start from.
# It is a picture, not a proof; the volume is an extrapolation from {glue:text}`ch4_n_directions` directions, and sharpness depends on how the weights are scaled.
# On a problem small enough to search by random draws, the argument can be checked without an optimizer: of the random networks that fit the training points, {glue:text}`ch4_gc_chance_count` are at or below chance and {glue:text}`ch4_gc_bad_count` as bad as the median poisoned minimum, and they recover {glue:text}`ch4_gc_recovered` of Adam's gain over chance.
# Chapter 5 turns from the geometry of the loss to the spectra of the trained weights.

# %% [markdown]
# ## Exercises
#
# 1. **How much distraction is needed?** Re-run Experiment 2 at $\beta$ = {glue:text}`ch4_bad_beta` with a distractor set ten times smaller than the profile's. Does the test accuracy still fall as far?
#
# :::{admonition} Solution
# :class: dropdown
# Keep only the first tenth: `x_distractor, y_distractor = x_distractor[:cfg.n_distractor // 10], y_distractor[:cfg.n_distractor // 10]`, then call `poisoned_minimum(cfg.bad_beta, seed=0, analyze=False, profile=dict(profile, n_distractor=cfg.n_distractor // 10))` directly.
# What to look for: whether the test accuracy falls as far as with the full distractor set.
# If it falls less, the network has memorized the few distractors as exceptions, the way it memorizes random labels in Chapter 1, without spoiling its predictions elsewhere; the poison would then work because the distractors cover the input distribution the way test data does.
# :::
#
# 2. **Is the volume ratio robust to the threshold?** Recompute the basin radii of the good and the bad minimum at $\tau$ = 0.05, 0.5 and 1.0 nats, and plot the log10 volume ratio against $\tau$.
#
# :::{admonition} Solution
# :class: dropdown
# The radii need the trained weights: train the two models again with `make_model`, `losses.distractor_loss` and `train.fit` as in `poisoned_minimum` (same seed, same result), then call `landscape.basin_radius(model, X, y, threshold=tau, n_directions=cfg.n_directions, seed=100)` for each $\tau$ and take the difference of `log10_volume()`.
# What to look for: all radii should grow with $\tau$; check whether the ratio of the good to the bad radii stays above 1 at every $\tau$, which is what keeps the log10 volume ratio positive, and how much its size moves.
# :::
#
# 3. **Which features make a linear model generalize?** Replace the random Fourier features of Experiment 1 by random ReLU features, $\phi(x) = \max(0, W x + c)$ with Gaussian $W$ and $c$ of a few units, and compare the boundaries and test accuracies.
#
# :::{admonition} Solution
# :class: dropdown
# `features = lambda x: torch.relu(x.double() @ W + 8 * torch.randn(cfg.toy_features, generator=g, dtype=torch.float64))` (draw the offsets once, outside the lambda).
# What to look for: the minimum-norm interpolant of ReLU features is a continuous, piecewise-linear function; compare its boundary and test accuracy with the Fourier model's at each bandwidth of the sweep above.
# A linear model is not doomed to overfit; its generalization is set by its features, the way a network's is set by the minimum the optimizer finds.
# :::
#
# 4. **Sharpness is not scale-free.** Take the clean MNIST-1D network, multiply the first layer's weights and bias by 10 and divide the second layer's weights by 10. Check that the network computes the same function, then compare its top Hessian eigenvalue and its filter-normalized 1-D slice with the original's {cite}`dinh2017sharp`.
#
# :::{admonition} Solution
# :class: dropdown
# For an `mlp` the layers are `model[1]` and `model[3]`: `with torch.no_grad(): model[1].weight.mul_(10); model[1].bias.mul_(10); model[3].weight.div_(10)`.
# What to look for: the outputs should agree to float precision (a ReLU commutes with a positive scale).
# The curvature along the second layer's weights is multiplied by 100 and along the first layer's divided by 100 (the chain rule, twice), so expect the top eigenvalue to change by a large factor; measure it.
# The filter-normalized slice should not change at all: each direction is rescaled with its filter, so $\theta + a\,d$ is the rescaled copy of the original network's $\theta + a\,d$.
# This is why Li et al. normalize the directions, and why "sharp minima generalize badly" needs a scale-free notion of sharpness to be a statement about functions.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
