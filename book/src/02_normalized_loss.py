# %% [markdown]
# # 2. Normalized cross-entropy: a linear law between train and test
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/02_normalized_loss.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - explain why the cross-entropy of a network that has separated its training data keeps falling as the network's *scale* grows, and why that hides how well it generalizes;
# - compute the normalized cross-entropy of a ReLU network by dividing its logits by the product of its layers' Frobenius norms;
# - produce networks with equal training loss but different test loss, by changing only the initialization or by pretraining on corrupted labels;
# - fit and judge the linear relation between normalized train and test loss that Liao, Miranda et al. report.
# :::
#
# ## The question
#
# Chapter 1 trained networks to 100% training accuracy and found test accuracies anywhere from chance to the best the architecture can do.
# The training loss did not tell them apart.
# Liao, Miranda et al. {cite}`liao2018surprising` argue that it *can*, once one thing is removed from it: the scale of the network.
#
# :::{admonition} The paper's claim
# :class: note
# Two networks with the same architecture, hyperparameters and training error can have very different test losses.
# But after normalizing each layer by its Frobenius norm, the training cross-entropy becomes an almost perfect linear predictor of the test cross-entropy: on CIFAR-10, slope 0.9642, intercept 0.0844, $R^2 = 0.9999$, RMSE $6.98 \times 10^{-5}$.
# The unnormalized losses show no such relation.
# :::
#
# **Why scale gets in the way.**
# Write the logits of a ReLU network whose only bias sits in its first layer as $f(W; x)$.
# Every later layer is positively homogeneous, $\mathrm{ReLU}(c z) = c\,\mathrm{ReLU}(z)$ for $c > 0$, so the layer norms factor out:
#
# $$
# f(W; x) = \rho\, f(\tilde W; x), \qquad \tilde W_k = \frac{W_k}{\|W_k\|_F}, \qquad \rho = \prod_k \|W_k\|_F ,
# $$
#
# with the first layer's weight and bias divided jointly by $\sqrt{\|W_1\|_F^2 + \|b_1\|_F^2}$.
# The direction $\tilde W$ decides which class wins; $\rho$ only decides by how much.
# The cross-entropy of one example with normalized margin $m = \tilde f_y - \max_{j \ne y} \tilde f_j$ behaves like $\log(1 + e^{-\rho m})$:
# once every training example has $m > 0$, growing $\rho$ drives the training loss to zero, while on a misclassified test example ($m < 0$) the loss grows linearly in $\rho$.
# Gradient descent on separated data keeps growing $\rho$.
# So two networks with the same separation can have very different losses, and the raw test loss mixes how *wrong* a network is with how *confident* it is.
# The fix is to measure the loss of the normalized network,
#
# $$
# \tilde L(W) = \frac{1}{n} \sum_{i=1}^{n} \mathrm{CE}\big(f(\tilde W; x_i),\, y_i\big) = \frac{1}{n} \sum_{i=1}^{n} \mathrm{CE}\Big(\frac{f(W; x_i)}{\rho},\, y_i\Big).
# $$
#
# `helpers.metrics.normalized.normalized_cross_entropy` computes it and refuses networks the identity does not cover: BatchNorm (fold it into the weights first), activations that are not positively homogeneous (tanh, GELU, ...), and biases after the first layer.

# %% [markdown]
# ## Setup
#
# On Colab the first cell installs `helpers`; the scale profile (`small` by default: MNIST-1D on a CPU; `paper`: CIFAR-10 and Liao et al.'s network on a GPU) sets every size below, and the setup cell prints what it costs (`helpers.cost`: floating-point work counted from the networks and the grid, turned into hours on Colab's T4 and on an H100).
# The `paper` profile is Liao et al.'s protocol on 10,000 of CIFAR-10's 50,000 training images: on all of them it would not fit one Colab session.

# %%
import sys

# Colab: install helpers from the book's repository
if "google.colab" in sys.modules:
    repo = "git+https://github.com/why-deep-networks-generalize/book"
    %pip install --quiet "why-deep-networks-generalize @ {repo}"
    from google.colab import output
    output.enable_custom_widget_manager()  # ipywidgets 8 in Colab

# %%
import math
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from scipy.stats import ConstantInputWarning, spearmanr

from helpers import cost, data, plots, scale, settings, sweep, train, widgets
from helpers.metrics import normalized, rank
from helpers.report import Claim, choose, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.normalized_loss(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
LN_K = math.log(10)  # the loss of a network that outputs equal logits: chance
MARKERS = (("init", "o"), ("pretrain", "s"), ("random labels", "^"))
print(cfg.scale, "scale:",
      data.load_dataset(cfg.dataset, cfg.n_train, cfg.n_test),
      "| device:", train.pick_device())
cost.print_estimate(2, SCALE)

# %% [markdown]
# ## Runs that differ only in how they started
#
# Every run trains the same network with the same optimizer until its training cross-entropy falls to {glue:text}`ch2_target` nats, so all runs end at (nearly) the *same training loss*.
# The target is checked on the whole training set every {glue:text}`ch2_check_every` SGD steps once a run is close to it, not only at the end of an epoch, so that no run overshoots by one epoch's drop.
# They differ in one way:
# (a) the standard deviation $\sigma$ of the Gaussian initialization of every layer, {glue:text}`ch2_n_stds` values from {glue:text}`ch2_std_min` to {glue:text}`ch2_std_max`; or
# (b) a first phase of training on labels corrupted with probability $p$, followed by training on the true labels, as in the paper.
# One more run is trained on random labels only, and the default run is repeated with {glue:text}`ch2_n_noise_seeds` more seeds, to see how much of a difference in test loss is seed noise.
# Each run is a `train.RunSpec` that tracks the normalized loss on the training and the test set after every epoch.

# %%
base = cfg.run_spec()  # to the target train loss, tracking the normalized loss
runs = {("init", s): base.replace(init_std=s) for s in cfg.init_stds}
pretrain = lambda p: train.Pretrain(p=p, max_epochs=cfg.pretrain_epochs)
runs.update({("pretrain", p): base.replace(init_std=cfg.pretrain_init_std,
                                           pretrain=pretrain(p))
             for p in cfg.pretrain_ps})
runs[("random labels", 1.0)] = base.replace(init_std=cfg.pretrain_init_std,
                                            randomization="random labels")
default = base.replace(init_std=cfg.explorer_default_std)
runs.update({("seed", s): default.replace(seed=s) for s in cfg.noise_seeds})
records = sweep.run_sweep(train.run_record, runs.values(),
                          name="ch2-normalized", n_jobs=settings.sweep_jobs())
histories = {k: r.history for k, r in zip(runs, records)}


def final(h: train.History) -> dict:
    """The last epoch's raw and normalized losses and accuracies of one run."""
    m = h.metrics
    return {"train loss": h.train_loss[-1], "test loss": h.test_loss[-1],
            "norm. train loss": m["normalized_cross_entropy/train"][-1],
            "norm. test loss": m["normalized_cross_entropy/test"][-1],
            "test error": 1 - h.test_acc[-1], "epochs": h.epochs,
            "Lipschitz bound": m["normalized_lipschitz_bound"][-1],
            "reached target": h.stop_reason == "target_loss"}


everything = pd.DataFrame.from_dict({k: final(h) for k, h in histories.items()},
                                    orient="index")
everything = everything.rename_axis(["protocol", "value"])
# the default run's repeats: kept out of the fits
seeds = everything.loc[["seed"]]
table = everything.drop(index="seed", level=0)
table.drop(columns="Lipschitz bound").round(5)

# %% tags=remove-cell
glue("ch2_target", f"{cfg.target_train_loss:g}")
glue("ch2_check_every", cfg.check_every)
glue("ch2_n_noise_seeds", len(cfg.noise_seeds))
glue("ch2_n_stds", len(cfg.init_stds))
glue("ch2_std_min", f"{min(cfg.init_stds):g}")
glue("ch2_std_max", f"{max(cfg.init_stds):g}")
true_runs = table.drop(index="random labels", level=0)
train_spread = true_runs["train loss"].max() / true_runs["train loss"].min()
glue("ch2_n_reached", f"{int(table['reached target'].sum())} of {len(table)}")
glue("ch2_train_spread", f"{100 * (train_spread - 1):.1f}%")
glue("ch2_test_loss_range",
     f"{true_runs['test loss'].min():.2f} to "
     f"{true_runs['test loss'].max():.2f}")
glue("ch2_test_err_range",
     f"{100 * true_runs['test error'].min():.1f}% to "
     f"{100 * true_runs['test error'].max():.1f}%")

# %% [markdown]
# {glue:text}`ch2_n_reached` runs reached the target training loss within the epoch budget (the last column says which), and the largest final training loss of a true-label run is {glue:text}`ch2_train_spread` above the smallest.
# Among the runs on true labels, the test loss ranges from {glue:text}`ch2_test_loss_range` nats and the test error from {glue:text}`ch2_test_err_range`: equal training loss, unequal generalization, which is the paper's premise.

# %% [markdown]
# ## The linear law
#
# Now the paper's figure: test loss against training loss, first raw, then normalized, one point per run, with a least-squares line through the normalized points.
#
# :::{admonition} Predict, then check
# :class: predict
# Every run stops at the same training loss. Before you run the next cell: on the raw axes, will the points lie on a line, along a column, or in a cloud? And how many of the runs will sit far from the others?
# :::

# %%
def linear_fit(x, y) -> dict:
    """Least-squares line y = a x + b with its R^2 and RMSE."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    r2 = 1 - residual.var() / y.var() if y.var() > 0 else float("nan")
    return {"slope": slope, "intercept": intercept, "R^2": r2,
            "RMSE": np.sqrt(np.mean(residual ** 2))}


raw_fit = linear_fit(table["train loss"], table["test loss"])
norm_fit = linear_fit(table["norm. train loss"], table["norm. test loss"])
# the same fits without the random-label run, far out on the raw test axis
raw_fit_true = linear_fit(true_runs["train loss"], true_runs["test loss"])
norm_fit_true = linear_fit(true_runs["norm. train loss"],
                           true_runs["norm. test loss"])
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (x, y), fit, title in zip(axes,
                                  [("train loss", "test loss"),
                                   ("norm. train loss", "norm. test loss")],
                                  (raw_fit, norm_fit),
                                  ("unnormalized", "normalized")):
    for protocol, marker in MARKERS:
        rows = table.xs(protocol, level=0)
        ax.scatter(rows[x], rows[y], marker=marker, label=protocol)
    grid = np.linspace(table[x].min(), table[x].max(), 50)
    ax.plot(grid, fit["slope"] * grid + fit["intercept"], color="0.3", lw=1,
            label=f"fit, $R^2$ = {fit['R^2']:.4f}")
    ax.set(xlabel=f"{x} (nats)", ylabel=f"{y} (nats)", title=title)
    ax.legend(fontsize=8, loc="upper left")
axes[0].set(ylim=(0, None))  # raw test losses from 0: no difference magnified
axes[1].ticklabel_format(useOffset=False)
plt.tight_layout()
plt.show()
pd.DataFrame({"Liao et al. (CIFAR-10)": [0.9642, 0.0844, 0.9999, 6.98e-5],
              f"normalized ({SCALE})": list(norm_fit.values()),
              "normalized, true labels only": list(norm_fit_true.values()),
              f"unnormalized ({SCALE})": list(raw_fit.values()),
              "unnormalized, true labels only": list(raw_fit_true.values())},
             index=list(norm_fit)).round(6)

# %% tags=remove-cell
glue("ch2_r2_norm", f"{norm_fit['R^2']:.4f}")
glue("ch2_r2_raw", f"{raw_fit['R^2']:.3f}")
glue("ch2_r2_raw_true", f"{raw_fit_true['R^2']:.3f}")
glue("ch2_r2_norm_true", f"{norm_fit_true['R^2']:.4f}")
glue("ch2_slope", f"{norm_fit['slope']:.3f}")
glue("ch2_intercept", f"{norm_fit['intercept']:.3f}")
glue("ch2_rmse", f"{norm_fit['RMSE']:.1e}")
glue("ch2_norm_span",
     f"[{table['norm. train loss'].min():.4f}, "
     f"{table['norm. train loss'].max():.4f}]")

# %% [markdown]
# **What to notice.**
# The raw losses are no useful predictor: every run stops at nearly the same training loss, so the raw points spread along the test-loss axis, and the line through them ($R^2$ = {glue:text}`ch2_r2_raw`) owes most of its fit to the single random-label run, far out on the test-loss axis though its train loss lies among the others': without it, $R^2$ = {glue:text}`ch2_r2_raw_true` (normalized: {glue:text}`ch2_r2_norm_true`).
# The normalized points lie on a line with slope {glue:text}`ch2_slope`, intercept {glue:text}`ch2_intercept`, $R^2$ = {glue:text}`ch2_r2_norm` and RMSE {glue:text}`ch2_rmse`.
# Look at the axis, too: all normalized training losses lie in {glue:text}`ch2_norm_span`, just below $\ln 10 \approx 2.3026$.
# The normalized network's logits are tiny, so its loss sits near the loss of a uniform guess; the whole signal lives in the small *deficit* below $\ln 10$, and that deficit on the training set predicts the deficit on the test set.
# Why the logits are tiny, and what the line's two numbers mean, are the next two sections.

# %% [markdown]
# ## The law in deficit coordinates
#
# For small logits $u = f(W; x)/\rho$, the cross-entropy is close to its first-order expansion,
#
# $$
# \mathrm{CE}(u, y) = \log \sum_j e^{u_j} - u_y \approx \ln K + \bar u - u_y ,
# $$
#
# so the *deficit* $\delta = \ln K - \tilde L \approx \mathbb{E}[u_y - \bar u]$ is the mean normalized logit of the true class above the average logit.
# Write the paper's line as $\tilde L_{\text{test}} = a\, \tilde L_{\text{train}} + b$.
# In deficits it reads $\delta_{\text{test}} = a\, \delta_{\text{train}} + o$, with the offset $o = \ln K\,(1 - a) - b$: the line's test deficit at zero train deficit.
# A least-squares line passes through the mean point, so $o = \bar\delta_{\text{test}} - a\,\bar\delta_{\text{train}}$ exactly, a number no larger than the deficits themselves.
# So $b \approx \ln K\,(1 - a)$ holds for *any* such fit of losses that lie within a few thousandths of $\ln K$; it says nothing about train and test.
# What the fit measures is the slope $a$ and the offset $o$.
# For the paper's own numbers, $\ln 10 \times (1 - 0.9642)$ = {glue:text}`ch2_paper_forced` against the reported intercept 0.0844: an offset of {glue:text}`ch2_paper_offset` nats.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: does the line pass through the origin of the deficit plane, zero test deficit at zero train deficit? And which runs have the largest ratio of test deficit to train deficit: those with the lowest test error, or the highest?
# :::

# %%
deficits = pd.DataFrame({"train deficit": LN_K - table["norm. train loss"],
                         "test deficit": LN_K - table["norm. test loss"],
                         "test error": table["test error"]})
deficits["ratio"] = deficits["test deficit"] / deficits["train deficit"]
# the intercept a line through zero deficit would have, and the fitted line's offset
forced = LN_K * (1 - norm_fit["slope"])
x_d, y_d = deficits["train deficit"], deficits["test deficit"]
# equal to forced - intercept, exactly
offset = y_d.mean() - norm_fit["slope"] * x_d.mean()
# its standard error: the OLS intercept's, at zero train deficit
residual = y_d - (norm_fit["slope"] * x_d + offset)
scatter = np.sqrt((residual ** 2).sum() / (len(x_d) - 2))
spread_x = ((x_d - x_d.mean()) ** 2).sum()
offset_se = scatter * np.sqrt(1 / len(x_d) + x_d.mean() ** 2 / spread_x)
true_deficits = deficits.drop(index="random labels", level=0)
rho_ratio = spearmanr(true_deficits["ratio"],
                      true_deficits["test error"]).statistic
rho_deficit = spearmanr(true_deficits["test deficit"],
                        true_deficits["test error"]).statistic
fig, (ax_d, ax_r) = plt.subplots(1, 2, figsize=(10, 3.8))
for protocol, marker in MARKERS:
    rows = deficits.xs(protocol, level=0)
    ax_d.scatter(rows["train deficit"], rows["test deficit"], marker=marker,
                 label=protocol)
    ax_r.scatter(rows["ratio"], 100 * rows["test error"], marker=marker,
                 label=protocol)
span = np.geomspace(deficits["train deficit"].min(),
                   deficits["train deficit"].max())
ax_d.plot(span, norm_fit["slope"] * span + offset, color="0.3", lw=1,
          label=f"least squares: slope {norm_fit['slope']:.3f}, "
                f"offset {offset:+.1e}")
ax_d.set(xscale="log", yscale="log",
         xlabel=r"train deficit $\ln 10 - \tilde L$",
         ylabel="test deficit", title="deficits (nats)")
# label the decades only
ax_d.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
ax_r.set(xlabel="test deficit / train deficit", ylabel="test error (%)",
         title="the ratio and the test error")
ax_d.legend(fontsize=8, loc="upper left")
ax_r.legend(fontsize=8, loc="upper right")
fig.tight_layout()
plt.show()
print(f"intercept: fitted {norm_fit['intercept']:.4f}, "
      f"ln 10 (1 - slope) = {forced:.4f}; offset {offset:+.2e} "
      f"± {offset_se:.1e} nats")
deficits.round(5)

# %% tags=remove-cell
glue("ch2_paper_forced", f"{LN_K * (1 - 0.9642):.4f}")
glue("ch2_forced", f"{forced:.4f}")
glue("ch2_intercept4", f"{norm_fit['intercept']:.4f}")
glue("ch2_paper_offset", f"{LN_K * (1 - 0.9642) - 0.0844:+.4f}")
glue("ch2_offset", f"{offset:+.1e}")
glue("ch2_offset_se", f"{offset_se:.1e}")
glue("ch2_train_deficit_range", f"{x_d.min():.1e} to {x_d.max():.1e}")
glue("ch2_ratio_range", f"from {true_deficits['ratio'].min():.2f} to "
                        f"{true_deficits['ratio'].max():.2f}")
glue("ch2_ratio_random",
     f"{deficits.loc[('random labels', 1.0), 'ratio']:.2f}")
offset_clear = abs(offset) > 2 * offset_se
glue("ch2_origin_reading", choose(
    offset_clear, "The line does not pass through the origin of the deficit "
                  "plane (its offset is more than two standard errors from 0)",
    "Within two standard errors, the line passes through the origin of the "
    "deficit plane"))
glue("ch2_offset_consequence", choose(
    offset < 0, "a negative offset puts that ratio below the slope and makes "
                "it grow with the train deficit",
    "a positive offset puts that ratio above the slope and makes it fall as "
    "the train deficit grows"))
n_below = int((true_deficits["ratio"] < norm_fit["slope"]).sum())
glue("ch2_ratio_below", f"{n_below} of {len(true_deficits)}")
rho_ratio_x = spearmanr(true_deficits["ratio"],
                        true_deficits["train deficit"]).statistic
glue("ch2_rho_ratio_deficit", f"{rho_ratio_x:+.2f}")
# "better" only by a clear margin: with a dozen runs, Spearman's rho moves by ~0.1
ratio_better = abs(rho_ratio) - abs(rho_deficit) >= 0.1
glue("ch2_ratio_vs_deficit", choose(
    ratio_better,
    f"The ratio is also what tells the runs apart: across the true-label runs "
    f"its Spearman correlation with test error is {rho_ratio:.2f}, against "
    f"{rho_deficit:.2f} for the test deficit alone.",
    f"As a ranking of the true-label runs by test error, the ratio does about "
    f"as well as the test deficit alone: Spearman {rho_ratio:.2f} against "
    f"{rho_deficit:.2f}, a difference smaller than the 0.1 that a dozen runs "
    f"can resolve."))

# %% [markdown]
# **What to notice.**
# {glue:text}`ch2_origin_reading`: at zero train deficit it predicts a test deficit of {glue:text}`ch2_offset` nats (standard error {glue:text}`ch2_offset_se`), against train deficits {glue:text}`ch2_train_deficit_range`.
# On the line, the ratio of test to train deficit is the slope plus the offset divided by the train deficit, so {glue:text}`ch2_offset_consequence`; the runs' own ratios are {glue:text}`ch2_ratio_range` on true labels ({glue:text}`ch2_ratio_random` for the random-label network), {glue:text}`ch2_ratio_below` below the slope {glue:text}`ch2_slope`, with a Spearman correlation of {glue:text}`ch2_rho_ratio_deficit` between ratio and train deficit.
# {glue:text}`ch2_ratio_vs_deficit`
# The fitted intercept, {glue:text}`ch2_intercept4`, is close to $\ln 10\,(1 - a)$ = {glue:text}`ch2_forced`, but as the section's start showed, that is no evidence: it only restates that every loss lies near $\ln 10$.

# %% [markdown]
# ## Why the normalized logits are tiny, and where a run sits on the line
#
# A normalized fully connected layer has Frobenius norm 1, and so spectral norm at most 1, and ReLU does not lengthen a vector: the normalized MLP's logits are at most $\|[x; 1]\|$ long, which is {glue:text}`ch2_input_norm` on average here, far from small.
# What makes them small is that a layer's Frobenius norm is usually several times its spectral norm: with $r_k = \|W_k\|_F / \|W_k\|_2$ (so $r_k^2$ is the layer's stable rank), the normalized network stretches its input by at most $\prod_k 1 / r_k$, which `normalized.normalized_lipschitz_bound` computes.
# (For a convolution, the operator norm can exceed the kernel's Frobenius norm by up to the square root of the kernel's area, so at paper scale this product is a proxy, not a bound.)
# For the default network at initialization the three layers have $r_k$ = {glue:text}`ch2_init_ratios`, and the bound is {glue:text}`ch2_init_bound`.
# Each run tracks the bound after every epoch; in the default run it rises to {glue:text}`ch2_bound_peak` by epoch {glue:text}`ch2_bound_peak_epoch` as the layers concentrate on a few directions, and falls back to {glue:text}`ch2_bound_end` by the end.

# %%
dataset = train.run_data(default)
init_net = train.build_model(default, dataset)
frobenius_over_spectral = lambda w: (torch.linalg.matrix_norm(w)
                                    / torch.linalg.matrix_norm(w, ord=2)).item()
ratios = [frobenius_over_spectral(w)
          for w in normalized.layer_matrices(init_net)]
inputs = torch.cat([dataset.x_train.reshape(len(dataset.x_train), -1),
                    torch.ones(len(dataset.x_train), 1)], dim=1)
bound = table["Lipschitz bound"]
rho_bound = spearmanr(bound.drop(index="random labels", level=0),
                      true_deficits["train deficit"]).statistic
fig, ax = plt.subplots(figsize=(5.5, 3.8))
for protocol, marker in MARKERS:
    ax.scatter(bound.xs(protocol, level=0),
               deficits.xs(protocol, level=0)["train deficit"], marker=marker,
               label=protocol)
ax.set(xscale="log", yscale="log",
       xlabel=r"$\prod_k \|W_k\|_2 / \|W_k\|_F$ at the end",
       ylabel="train deficit (nats)",
       title=f"Spearman rho = {rho_bound:.2f} (true labels)")
ax.legend(fontsize=8, loc="lower right")
ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
ax.tick_params(axis="x", which="minor", labelsize=7)
plt.show()
print("r_k at initialization:", ", ".join(f"{r:.1f}" for r in ratios))

# %% tags=remove-cell
glue("ch2_input_norm", f"{inputs.norm(dim=1).mean():.1f}")
glue("ch2_init_ratios", ", ".join(f"{r:.1f}" for r in ratios))
glue("ch2_init_bound", f"{normalized.normalized_lipschitz_bound(init_net):.4f}")
glue("ch2_rho_bound", f"{rho_bound:.2f}")
glue("ch2_bound_range", f"{bound.min():.3f} to {bound.max():.3f}")
default_metrics = histories[("init", cfg.explorer_default_std)].metrics
default_bound = np.array(default_metrics["normalized_lipschitz_bound"])
glue("ch2_bound_peak", f"{default_bound.max():.3f}")
glue("ch2_bound_peak_epoch", int(np.argmax(default_bound)) + 1)
glue("ch2_bound_end", f"{default_bound[-1]:.3f}")
init_bounds = bound.xs("init", level=0)
glue("ch2_bound_small_std", f"{init_bounds.iloc[0]:.3f}")
glue("ch2_bound_large_std", f"{init_bounds.iloc[-1]:.3f}")

# %% [markdown]
# **What to notice.**
# At the end of training the bound ranges over {glue:text}`ch2_bound_range`, and across the true-label runs it ranks their train deficits with Spearman $\rho$ = {glue:text}`ch2_rho_bound`: a network whose layers have concentrated on fewer directions sits further from $\ln 10$, further out along the line.
# The initialization sets where a run ends up: from $\sigma$ = {glue:text}`ch2_std_min` the bound ends at {glue:text}`ch2_bound_small_std`, from $\sigma$ = {glue:text}`ch2_std_max` at {glue:text}`ch2_bound_large_std`, plausibly because a network started near zero builds its weights almost entirely from the few directions the data ask for, while a large random start stays close to its random, high-rank initial weights (this chapter does not test that reading).
# The bound is only an upper limit on the logits, and the deficit also depends on how the training labels line up with those directions, so the relation is a ranking, not an identity.

# %% [markdown]
# ## The law compares networks; it does not follow one
#
# Across runs, a larger test deficit came with a lower test error.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: as *one* network trains and its test accuracy rises, does its normalized test deficit rise with it?
# :::

# %%
h = histories[("init", cfg.explorer_default_std)]
epochs = np.arange(1, h.epochs + 1)
test_deficit = LN_K - np.array(h.metrics["normalized_cross_entropy/test"])
within = spearmanr(test_deficit, h.test_acc).statistic
across = spearmanr(true_deficits["test deficit"],
                   1 - true_deficits["test error"]).statistic
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(epochs, test_deficit, color=plots.TEST_COLOR, label="test deficit")
ax.set(yscale="log", xlabel="epoch", ylabel="test deficit (nats)",
       title=f"one run, σ = {cfg.explorer_default_std:g}")
twin = ax.twinx()
twin.plot(epochs, [100 * a for a in h.test_acc], color="0.3", ls="--",
          label="test accuracy")
twin.set(ylabel="test accuracy (%)", ylim=(0, 100))
twin.grid(False)
fig.legend(fontsize=8, loc="center right", bbox_to_anchor=(0.88, 0.45))
plt.show()
print(f"Spearman rho (test deficit, test accuracy): {within:+.2f} within "
      f"this run, {across:+.2f} across the runs")

# %% tags=remove-cell
glue("ch2_within", f"{within:+.2f}")
glue("ch2_across", f"{across:+.2f}")
glue("ch2_peak_epoch", int(epochs[np.argmax(test_deficit)]))
glue("ch2_deficit_peak", f"{test_deficit.max():.4f}")
glue("ch2_deficit_end", f"{test_deficit[-1]:.4f}")

# %% [markdown]
# **What to notice.**
# Within this run the test deficit peaks at {glue:text}`ch2_deficit_peak` in epoch {glue:text}`ch2_peak_epoch` and ends at {glue:text}`ch2_deficit_end`, while the test accuracy keeps rising: the rank correlation of deficit and accuracy is {glue:text}`ch2_within` within the run and {glue:text}`ch2_across` across the runs.
# The law is a statement about networks compared at the *same* training loss, not a clock for one network's training: as a network trains on, its normalized test deficit falls while its test accuracy rises, the opposite of the relation across networks.

# %% [markdown]
# ## Random labels sit at chance; is error monotone in the normalized loss?
#
# Liao et al. observe that networks trained on random labels have a normalized test loss of almost exactly $\ln 10$, and that the test classification error is a monotone function of the normalized test loss.

# %%
deficit = LN_K - table["norm. test loss"]
rho_error = spearmanr(table["norm. test loss"], table["test error"]).statistic
random_gap = abs(table.loc[("random labels", 1.0), "norm. test loss"] - LN_K)
fig, ax = plt.subplots(figsize=(5.5, 3.6))
ax.scatter(deficit, 100 * table["test error"])
ax.set(xscale="log", xlabel=r"$\ln 10$ - normalized test loss (nats)",
       ylabel="test error (%)", title=f"Spearman rho = {rho_error:.3f}")
plt.show()
print(f"random-label network: |normalized test loss - ln 10| = "
      f"{random_gap:.2e}; true-label runs: deficits "
      f"{deficit.drop(index='random labels', level=0).min():.2e} to "
      f"{deficit.drop(index='random labels', level=0).max():.2e}")

# %% tags=remove-cell
glue("ch2_random_gap", f"{random_gap:.1e}")
glue("ch2_rho_error", f"{rho_error:.3f}")
glue("ch2_min_deficit",
     f"{deficit.drop(index='random labels', level=0).min():.1e}")

# %% [markdown]
# **What to notice.**
# The network trained on random labels ends {glue:text}`ch2_random_gap` nats from $\ln 10$: it has learned nothing that transfers, and its normalized network guesses uniformly on test data.
# The smallest deficit of a network trained on true labels is {glue:text}`ch2_min_deficit`, so "near $\ln 10$" only means something *relative* to the other runs.
# Test error mostly falls as the deficit grows: Spearman's $\rho$ = {glue:text}`ch2_rho_error` between normalized test loss and test error, against the scorecard's threshold of 0.9 for a monotone relation.

# %% [markdown]
# ## The init-std explorer
#
# Move the slider to pick the initialization standard deviation $\sigma$ and see that run's learning curves: the raw cross-entropies (left), the normalized ones as their deficit below $\ln 10$ (middle), and the accuracies with the generalization gap shaded (right).
# Try this: compare the smallest and the largest $\sigma$.
# Their raw training losses end at nearly the same value, but their test errors and their normalized test losses differ; compare the normalized curves of the two ends of the slider.
# Do not read the middle panel's absolute level as a quality score across chapters: it depends on the architecture's depth and width through the norms.

# %%
def deficit_curve(h: train.History, split: str) -> np.ndarray:
    """ln 10 minus the normalized loss after every epoch.

    Clipped at 1e-7, for log axes.
    """
    values = LN_K - np.array(h.metrics[f"normalized_cross_entropy/{split}"])
    return np.clip(values, 1e-7, None)


# every frame of the explorer on the same axes, so that frames can be compared
framed = [histories[("init", s)] for s in cfg.init_stds]
raw_values = np.concatenate([h.train_loss + h.test_loss for h in framed])
norm_values = np.concatenate([deficit_curve(h, sp) for h in framed
                              for sp in ("train", "test")])
limits = {"epochs": (0, max(h.epochs for h in framed) + 1),
          "raw": (raw_values.min() / 1.5, raw_values.max() * 1.5),
          "normalized": (norm_values.min() / 1.5, norm_values.max() * 1.5)}


def curves_figure(h: train.History, title: str):
    """Raw CE, normalized-CE deficit and accuracy of one run, per epoch."""
    epochs = range(1, h.epochs + 1)
    fig, (ax_raw, ax_norm, ax_acc) = plt.subplots(1, 3, figsize=(11, 3.2))
    ax_raw.plot(epochs, h.train_loss, label="train", color=plots.TRAIN_COLOR)
    ax_raw.plot(epochs, h.test_loss, label="test", color=plots.TEST_COLOR)
    ax_raw.set(yscale="log", xlabel="epoch", ylabel="cross-entropy (nats)",
               title="raw")
    for split, color in (("train", plots.TRAIN_COLOR),
                         ("test", plots.TEST_COLOR)):
        ax_norm.plot(epochs, deficit_curve(h, split), color=color, label=split)
    ax_norm.set(yscale="log", xlabel="epoch",
                ylabel=r"$\ln 10 - \tilde L$ (nats)", title="normalized")
    plots.plot_accuracy(ax_acc, h, color=plots.TRAIN_COLOR, test=False)
    ax_acc.plot(epochs, [100 * a for a in h.test_acc], color=plots.TEST_COLOR,
                label="test")
    ax_acc.fill_between(epochs, [100 * a for a in h.test_acc],
                        [100 * a for a in h.train_acc], color="0.6", alpha=0.25)
    ax_acc.set_title(f"gap {100 * h.gap:.1f} pts")
    ax_raw.set(xlim=limits["epochs"], ylim=limits["raw"])
    ax_norm.set(xlim=limits["epochs"], ylim=limits["normalized"])
    ax_acc.set(xlim=limits["epochs"], ylim=(0, 101))
    for ax in (ax_raw, ax_norm, ax_acc):
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def train_fresh(std):
    fresh = train.run(base.replace(init_std=std, seed=1))
    return curves_figure(fresh.history, f"fresh run, sigma = {std:g}")


widgets.gap_explorer(cfg.init_stds,
                     lambda s: curves_figure(histories[("init", s)],
                                             f"init std sigma = {s:g}"),
                     symbol="σ", default=cfg.explorer_default_std,
                     train=train_fresh, fmt="{:g}",
                     notebook="02_normalized_loss",
                     caption="Init std <i>σ</i>: every weight starts as "
                             "N(0, σ²); each run trains to the same loss.")

# %% [markdown]
# ## Reproduction scorecard

# %%
# the seed noise of the test loss: the default run and its repeats
default_loss = table.loc[[("init", cfg.explorer_default_std)], "test loss"]
seed_losses = pd.concat([default_loss, seeds["test loss"]])
seed_range = seed_losses.max() - seed_losses.min()
run_range = true_runs["test loss"].max() - true_runs["test loss"].min()
# the null: every run is seed noise, normal draws; how large is span(runs) / span(seeds)?
null_draws = np.random.default_rng(0).standard_normal(
    (100_000, len(true_runs) + len(seed_losses)))
null_ratio = (np.ptp(null_draws[:, :len(true_runs)], axis=1)
              / np.ptp(null_draws[:, len(true_runs):], axis=1))
ratio_95 = np.quantile(null_ratio, 0.95)
p_seed_noise = float(np.mean(null_ratio >= run_range / seed_range))
# normalized against raw test loss, as rankers of test error: bootstrap over runs
boot_rng = np.random.default_rng(1)
rho_with_error = lambda t, col: spearmanr(t[col], t["test error"]).statistic
rank_gain = lambda t: (rho_with_error(t, "norm. test loss")
                       - rho_with_error(t, "test loss"))
gain = rank_gain(true_runs)
resample = lambda: boot_rng.integers(0, len(true_runs), len(true_runs))
# a resample of one repeated run has no rank correlation: counted, then left out
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConstantInputWarning)
    boot = np.array([rank_gain(true_runs.iloc[resample()])
                     for _ in range(2000)])
degenerate = int(np.isnan(boot).sum())
gain_low, gain_high = np.nanquantile(boot, [0.025, 0.975])
r2_of = lambda x, y: linear_fit(x, y)["R^2"]
null_r2 = rank.permutation_pass_rate(table["norm. train loss"],
                                     table["norm. test loss"],
                                     r2_of, lambda r2: r2 >= 0.95)
null_rho = rank.permutation_pass_rate(table["norm. test loss"],
                                      table["test error"],
                                      lambda x, y: spearmanr(x, y).statistic,
                                      lambda rho: rho >= 0.9)
smallest_true = deficit.drop(index="random labels", level=0).min()
random_deficit = LN_K - table.loc[("random labels", 1.0), "norm. test loss"]
norm_measured = (f"slope {norm_fit['slope']:.3f}, "
                 f"intercept {norm_fit['intercept']:.3f}, "
                 f"R^2 {norm_fit['R^2']:.4f}, RMSE {norm_fit['RMSE']:.1e}")
claims = [
    Claim(claim="Equal train loss, different test loss",
          paper="test loss varies widely",
          measured=f"train losses within {100 * (train_spread - 1):.1f}%; "
                   f"test losses span {run_range:.3f} nats over "
                   f"{len(true_runs)} runs, {seed_range:.3f} over "
                   f"{len(seed_losses)} seeds of one run "
                   f"({run_range / seed_range:.1f}x)",
          held=bool(train_spread <= 1.10
                    and run_range / seed_range >= ratio_95),
          test="held if the true-label runs end within 10% of one another's "
               f"train loss (the raw R^2 of {raw_fit_true['R^2']:.3f} says "
               "that jitter does not drive the test loss) and their test "
               "losses span more, relative to the seeds' span, than seed "
               f"noise would in 95% of draws ({ratio_95:.1f}x)",
          null=f"if every run were seed noise (normal draws, simulated), a "
               f"ratio this large would occur with probability "
               f"{p_seed_noise:.3f}"),
    Claim(claim="Normalized train loss predicts normalized test loss linearly "
                "(R^2 >= 0.95)",
          paper="slope 0.9642, intercept 0.0844, R^2 0.9999, RMSE 6.98e-5",
          measured=norm_measured, held=norm_fit["R^2"] >= 0.95,
          test=f"held if a least-squares line through the {len(table)} runs' "
               "(normalized train, normalized test) losses has R^2 >= 0.95; "
               "the intercept is not tested separately: for losses this close "
               f"to ln 10 it is near ln 10 (1 - slope) = {forced:.3f} whatever "
               "the data",
          null=f"the same losses paired at random pass with probability "
               f"{null_r2:.3f} (2,000 permutations)"),
    Claim(claim="The unnormalized losses show no such relation: the normalized "
                "test loss ranks test error better than the raw one",
          paper="no relation (raw losses)",
          measured=f"Spearman with test error, normalized minus raw: "
                   f"{gain:+.2f} (raw R^2 train vs test "
                   f"{raw_fit_true['R^2']:.3f})",
          held=bool(gain_low > 0),
          test="held if, over the true-label runs, the 95% bootstrap "
               "interval of the difference between the two rank correlations "
               "with test error lies above 0; a raw R^2 near 0 alone would "
               "follow from stopping every run at the same train loss",
          interval=f"95% bootstrap over runs: [{gain_low:+.2f}, "
                   f"{gain_high:+.2f}] ({degenerate} of {len(boot)} resamples "
                   "without a correlation left out)"),
    Claim(claim="Random-label nets have a normalized test loss at ln 10 "
                "(deficit 10x below every true-label run's)",
          paper="about 2.3026",
          measured=f"deficit {random_deficit:.1e}; smallest true-label "
                   f"{smallest_true:.1e}",
          held=bool(random_deficit * 10 <= smallest_true),
          test="held if the random-label network's test deficit ln 10 - L is "
               "at most a tenth of the smallest true-label deficit: every run "
               "here sits within a few thousandths of ln 10, so only the "
               "comparison can fail"),
    Claim(claim="Test error is monotone in the normalized loss "
                "(Spearman rho >= 0.9)",
          paper="monotone", measured=f"rho = {rho_error:.3f}",
          held=rho_error >= 0.9,
          test=f"held if Spearman's rho between normalized test loss and test "
               f"error over the {len(table)} runs is at least 0.9",
          null=f"a random pairing passes with probability {null_rho:.3f} "
               "(2,000 permutations)"),
]
scorecard(claims, SCALE, chapter=2)

# %% tags=remove-cell
ranks_test_error = bool(gain_low > 0) and rho_error >= 0.9
glue("ch2_summary_ranking", choose(
    ranks_test_error,
    f"here it also ranks their test errors (Spearman {rho_error:.2f}, and "
    "better than the raw test loss does)",
    f"here it does not rank their test errors reliably (Spearman "
    f"{rho_error:.2f} between normalized test loss and test error; its "
    f"advantage over the raw test loss {gain:+.2f}, 95% interval "
    f"[{gain_low:+.2f}, {gain_high:+.2f}])"))
glue("ch2_summary_ratio", choose(
    ratio_better,
    "the run-by-run ratio of test to train deficit ranks the networks by "
    "test error better than the test deficit alone",
    "the run-by-run ratio of test to train deficit ranks the networks by "
    "test error about as well as the test deficit alone"))

# %% [markdown]
# ## Summary
#
# Cross-entropy measures two things at once: how well a network separates the classes and how large its weights are.
# Training on separated data grows the weights without limit, so the raw loss of a trained network says little about its test loss.
# Dividing the logits by $\rho = \prod_k \|W_k\|_F$ removes the scale, and what is left, the normalized loss, lines up between train and test across networks that were started differently or pretrained on noise.
# The normalized losses all sit just below $\ln 10$; the linear law is a law about that small deficit, and it is scale-free by construction.
# It relates the normalized test loss to the normalized train loss across trained networks at equal training loss; {glue:text}`ch2_summary_ranking`.
# It is not a bound: it says nothing about one network on its own, and it does not follow one network through training, where deficit and test accuracy moved in opposite ways ({glue:text}`ch2_within` within the default run).
# The intercept is close to $\ln 10$ times one minus the slope for any such fit, so what the line measures is its slope and its small offset at zero train deficit ({glue:text}`ch2_offset` nats, standard error {glue:text}`ch2_offset_se`); {glue:text}`ch2_summary_ratio`.
# Chapter 3 looks at generalization *during* training, through the gradients.

# %% [markdown]
# ## Exercises
#
# 1. **How much does the law depend on reaching the same training loss?** Re-run the init-std sweep with `target_train_loss` ten times larger and ten times smaller, and compare the three fits, and the three slopes.
#
# :::{admonition} Solution
# :class: dropdown
# `for t in (10 * cfg.target_train_loss, cfg.target_train_loss / 10): sweep.run_sweep(train.run_record, [base.replace(init_std=s, target_train_loss=t) for s in cfg.init_stds], name="ch2-ex1")`, then `linear_fit` on the final normalized losses.
# What to look for: whether each family of runs, stopped at one train loss, still lies on a line in deficit coordinates, and whether its slope and its offset at zero train deficit move with the target (the intercept stays near $\ln 10\,(1 - a)$ in any case, for the reason the deficit section gives).
# Then fit one line through all three families together: if its $R^2$ drops, the law holds only between networks compared at the same training loss, which is how the paper states it.
# :::
#
# 2. **Scale invariance, by hand.** Take any trained network from this chapter, multiply its first layer (weight and bias) by 10 and its last layer by 0.5, and check that the raw logits grow by 5 while `normalized_cross_entropy` does not change.
#
# :::{admonition} Solution
# :class: dropdown
# Build the network with `helpers.models.build(cfg.architecture, (40,), init_std=cfg.pretrain_init_std, **cfg.model_kwargs)`, train it with `train.fit`, copy it with `copy.deepcopy`, and under `torch.no_grad()` do `net[1].weight.mul_(10); net[1].bias.mul_(10); net[-1].weight.mul_(0.5)`.
# `(scaled(x) / model(x))` is 5 everywhere, and the two normalized losses agree to float precision: ReLU is positively homogeneous, and the bias of the first layer scales together with its weight.
# :::
#
# 3. **Where the identity breaks.** Add a bias to the last layer (`bias=True`) and try `normalized_cross_entropy`. Then build the same network with `torch.nn.Tanh` in place of ReLU. Why are both refused?
#
# :::{admonition} Solution
# :class: dropdown
# A bias after the first layer adds a term that does not scale with the earlier layers' norms, so $f(W;x) \ne \rho f(\tilde W; x)$.
# tanh is not positively homogeneous: $\tanh(cz) \ne c \tanh(z)$.
# In both cases "divide the logits by $\rho$" is no longer the loss of a normalized network, and the function says so instead of returning a number.
# :::
#
# 4. **Is the test deficit just the test accuracy in disguise?** Plot the normalized test-loss deficit against test accuracy for the runs above, and find two runs whose order differs. What does the normalized loss see that accuracy does not?
#
# :::{admonition} Solution
# :class: dropdown
# Use `table` and sort by each column.
# Accuracy counts only the sign of each normalized margin; the normalized loss also weighs how large the margins are, on the correct and the wrong side.
# Two networks with equal accuracy can differ in how confidently they are wrong, and the normalized loss ranks them by that.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
