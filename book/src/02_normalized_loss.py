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
# On Colab the first cell installs `helpers`; the scale profile (`small` by default: MNIST-1D on a CPU; `paper`: CIFAR-10 and Liao et al.'s network on a GPU) sets every size below.

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

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from helpers import data, plots, scale, settings, sweep, train, widgets
from helpers.metrics import rank
from helpers.report import Claim, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.normalized_loss(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
LN_K = math.log(10)  # the loss of a network that outputs equal logits: chance
print(cfg.scale, "scale:",
      data.load_dataset(cfg.dataset, cfg.n_train, cfg.n_test),
      "| device:", train.pick_device())

# %% [markdown]
# ## Runs that differ only in how they started
#
# Every run trains the same network with the same optimizer until its training cross-entropy falls to {glue:text}`ch2_target` nats, so all runs end at (nearly) the *same training loss*.
# They differ in one way:
# (a) the standard deviation $\sigma$ of the Gaussian initialization of every layer, {glue:text}`ch2_n_stds` values from {glue:text}`ch2_std_min` to {glue:text}`ch2_std_max`; or
# (b) a first phase of training on labels corrupted with probability $p$, followed by training on the true labels, as in the paper.
# One more run is trained on random labels only.
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
records = sweep.run_sweep(train.run_record, runs.values(),
                          name="ch2-normalized", n_jobs=-1)
histories = {k: r.history for k, r in zip(runs, records)}


def final(h: train.History) -> dict:
    """The last epoch's raw and normalized losses and accuracies of one run."""
    m = h.metrics
    return {"train loss": h.train_loss[-1], "test loss": h.test_loss[-1],
            "norm. train loss": m["normalized_cross_entropy/train"][-1],
            "norm. test loss": m["normalized_cross_entropy/test"][-1],
            "test error": 1 - h.test_acc[-1], "epochs": h.epochs,
            "reached target": h.stop_reason == "target_loss"}


table = pd.DataFrame.from_dict({k: final(h) for k, h in histories.items()},
                               orient="index")
table = table.rename_axis(["protocol", "value"])
table.round(5)

# %% tags=remove-cell
glue("ch2_target", f"{cfg.target_train_loss:g}")
glue("ch2_n_stds", len(cfg.init_stds))
glue("ch2_std_min", f"{min(cfg.init_stds):g}")
glue("ch2_std_max", f"{max(cfg.init_stds):g}")
true_runs = table.drop(index="random labels", level=0)
glue("ch2_n_reached", f"{int(table['reached target'].sum())} of {len(table)}")
glue("ch2_test_loss_range",
     f"{true_runs['test loss'].min():.2f} to "
     f"{true_runs['test loss'].max():.2f}")
glue("ch2_test_err_range",
     f"{100 * true_runs['test error'].min():.1f}% to "
     f"{100 * true_runs['test error'].max():.1f}%")

# %% [markdown]
# {glue:text}`ch2_n_reached` runs reached the target training loss within the epoch budget (the last column says which).
# Among the runs on true labels, the test loss ranges from {glue:text}`ch2_test_loss_range` nats and the test error from {glue:text}`ch2_test_err_range`: equal training loss, unequal generalization, which is the paper's premise.

# %% [markdown]
# ## The linear law
#
# Now the paper's figure: test loss against training loss, first raw, then normalized, one point per run, with a least-squares line through the normalized points.

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
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (x, y), fit, title in zip(axes,
                                  [("train loss", "test loss"),
                                   ("norm. train loss", "norm. test loss")],
                                  (raw_fit, norm_fit),
                                  ("unnormalized", "normalized")):
    for protocol, marker in (("init", "o"), ("pretrain", "s"),
                             ("random labels", "^")):
        rows = table.xs(protocol, level=0)
        ax.scatter(rows[x], rows[y], marker=marker, label=protocol)
    grid = np.linspace(table[x].min(), table[x].max(), 50)
    ax.plot(grid, fit["slope"] * grid + fit["intercept"], color="0.3", lw=1,
            label=f"fit, $R^2$ = {fit['R^2']:.4f}")
    ax.set(xlabel=f"{x} (nats)", ylabel=f"{y} (nats)", title=title)
    ax.legend(fontsize=8)
axes[1].ticklabel_format(useOffset=False)
plt.tight_layout()
plt.show()
pd.DataFrame({"Liao et al. (CIFAR-10)": [0.9642, 0.0844, 0.9999, 6.98e-5],
              f"normalized ({SCALE})": list(norm_fit.values()),
              f"unnormalized ({SCALE})": list(raw_fit.values())},
             index=list(norm_fit)).round(6)

# %% tags=remove-cell
glue("ch2_r2_norm", f"{norm_fit['R^2']:.4f}")
glue("ch2_r2_raw", f"{raw_fit['R^2']:.3f}")
glue("ch2_slope", f"{norm_fit['slope']:.3f}")
glue("ch2_intercept", f"{norm_fit['intercept']:.3f}")
glue("ch2_rmse", f"{norm_fit['RMSE']:.1e}")
glue("ch2_norm_span",
     f"{table['norm. train loss'].min():.4f} to "
     f"{table['norm. train loss'].max():.4f}")

# %% [markdown]
# **What to notice.**
# The raw losses are no useful predictor: every run stops at nearly the same training loss, so the raw points spread along the test-loss axis, and the line through them ($R^2$ = {glue:text}`ch2_r2_raw`) owes most of its fit to the single random-label run, far out on both axes.
# The normalized points lie on a line with slope {glue:text}`ch2_slope`, intercept {glue:text}`ch2_intercept`, $R^2$ = {glue:text}`ch2_r2_norm` and RMSE {glue:text}`ch2_rmse`.
# Look at the axis, too: all normalized training losses lie between {glue:text}`ch2_norm_span`, just below $\ln 10 \approx 2.3026$.
# A normalized network has unit-norm layers, so its logits are small and its loss sits near the loss of a uniform guess; the whole signal lives in the small *deficit* below $\ln 10$, and that deficit on the training set predicts the deficit on the test set.

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
        curve = LN_K - np.array(h.metrics[f"normalized_cross_entropy/{split}"])
        ax_norm.plot(epochs, np.clip(curve, 1e-7, None), color=color,
                     label=split)
    ax_norm.set(yscale="log", xlabel="epoch",
                ylabel=r"$\ln 10 - \tilde L$ (nats)", title="normalized")
    plots.plot_accuracy(ax_acc, h, color=plots.TRAIN_COLOR, test=False)
    ax_acc.plot(epochs, [100 * a for a in h.test_acc], color=plots.TEST_COLOR,
                label="test")
    ax_acc.fill_between(epochs, [100 * a for a in h.test_acc],
                        [100 * a for a in h.train_acc], color="0.6", alpha=0.25)
    ax_acc.set_title(f"gap {100 * h.gap:.1f} pts")
    for ax in (ax_raw, ax_norm, ax_acc):
        ax.legend(fontsize=8)
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
                     caption="Init std <i>σ</i>: every weight starts as "
                             "N(0, σ²); each run trains to the same loss.")

# %% [markdown]
# ## Reproduction scorecard

# %%
spread = true_runs["test loss"].max() / true_runs["test loss"].min()
r2_of = lambda x, y: linear_fit(x, y)["R^2"]
null_r2 = rank.permutation_pass_rate(table["norm. train loss"],
                                     table["norm. test loss"],
                                     r2_of, lambda r2: r2 >= 0.95)
null_rho = rank.permutation_pass_rate(table["norm. test loss"],
                                      table["test error"],
                                      lambda x, y: spearmanr(x, y).statistic,
                                      lambda rho: rho >= 0.9)
norm_measured = (f"slope {norm_fit['slope']:.3f}, "
                 f"intercept {norm_fit['intercept']:.3f}, "
                 f"R^2 {norm_fit['R^2']:.4f}, RMSE {norm_fit['RMSE']:.1e}")
claims = [
    Claim(claim="Equal train loss, different test loss "
                "(max/min test loss >= 1.5)",
          paper="test loss varies widely",
          measured=f"{spread:.2f}x over {len(true_runs)} runs",
          held=spread >= 1.5,
          test="held if, among the true-label runs stopped at the same "
               "train loss, the largest test loss is at least 1.5 times the "
               "smallest"),
    Claim(claim="Normalized train loss predicts normalized test loss linearly "
                "(R^2 >= 0.95)",
          paper="slope 0.9642, intercept 0.0844, R^2 0.9999, RMSE 6.98e-5",
          measured=norm_measured, held=norm_fit["R^2"] >= 0.95,
          test=f"held if a least-squares line through the {len(table)} runs' "
               "(normalized train, normalized test) losses has R^2 >= 0.95",
          null=f"the same losses paired at random pass with probability "
               f"{null_r2:.3f} (2,000 permutations)"),
    Claim(claim="The unnormalized losses show no such relation "
                "(raw R^2 at least 0.2 below)",
          paper="no relation",
          measured=f"raw R^2 {raw_fit['R^2']:.3f} vs {norm_fit['R^2']:.4f}",
          held=raw_fit["R^2"] <= norm_fit["R^2"] - 0.2,
          test="held if the same line through the raw losses has an R^2 at "
               "least 0.2 below the normalized one"),
    Claim(claim="Random-label nets have normalized loss near ln 10 "
                "(within 0.05)",
          paper="about 2.3026", measured=f"|L - ln 10| = {random_gap:.1e}",
          held=random_gap <= 0.05,
          test="held if the random-label network's normalized test loss is "
               "within 0.05 nats of ln 10, the loss of equal logits"),
    Claim(claim="Test error is monotone in the normalized loss "
                "(Spearman rho >= 0.9)",
          paper="monotone", measured=f"rho = {rho_error:.3f}",
          held=rho_error >= 0.9,
          test=f"held if Spearman's rho between normalized test loss and "
               f"test error over the {len(table)} runs is at least 0.9",
          null=f"a random pairing passes with probability {null_rho:.3f} "
               "(2,000 permutations)"),
]
scorecard(claims, SCALE, chapter=2)

# %% [markdown]
# ## Summary
#
# Cross-entropy measures two things at once: how well a network separates the classes and how large its weights are.
# Training on separated data grows the weights without limit, so the raw loss of a trained network says little about its test loss.
# Dividing the logits by $\rho = \prod_k \|W_k\|_F$ removes the scale, and what is left, the normalized loss, lines up between train and test across networks that were started differently or pretrained on noise.
# The normalized losses all sit just below $\ln 10$; the linear law is a law about that small deficit, and it is scale-free by construction.
# It explains differences *between* trained networks at equal training loss, but it is not a bound: it says nothing about one network on its own, and its slope and intercept have to be measured.
# Chapter 3 looks at generalization *during* training, through the gradients.

# %% [markdown]
# ## Exercises
#
# 1. **How much does the law depend on reaching the same training loss?** Re-run the init-std sweep with `target_train_loss` ten times larger and ten times smaller, and compare the three fits.
#
# :::{admonition} Solution
# :class: dropdown
# `for t in (10 * cfg.target_train_loss, cfg.target_train_loss / 10): sweep.run_sweep(train.run_record, [base.replace(init_std=s, target_train_loss=t) for s in cfg.init_stds], name="ch2-ex1")`, then `linear_fit` on the final normalized losses.
# The normalized points move along the line as training goes on (the deficit grows for train and test together), so the fit stays good; what breaks it is mixing runs stopped at very different points, which the raw loss would hide.
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
