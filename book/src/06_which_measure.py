# %% [markdown]
# # 6. Which measure predicts generalization?
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/06_which_measure.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - build a model zoo on a grid of hyperparameters, trained to one stopping criterion, with a cached sweep that runs in parallel;
# - compute every measure of Chapters 2–5, Jiang et al.'s sharpness, margin and optimization measures and the norm-based baselines on each model of the zoo;
# - rank a measure against the generalization gap with Kendall's $\tau$, Jiang et al.'s granulated $\Psi$ and their conditional-independence score $K$, and put a bootstrap confidence interval on each;
# - read a measure's worst case over environments (Dziugaite et al.'s robust view) and check whether a ranking survives a change of seed;
# - build a scorecard row that a random ranking fails, and measure how often it does.
# :::
#
# ## The question
#
# Each of the last four chapters tested one paper's measure on the experiments that paper chose.
# Liao et al.'s normalized loss was set against test loss on networks trained from different starting points, Liu et al.'s GSNR against random labels, Huang et al.'s flatness against poisoned minima, Martin & Mahoney's $\hat\alpha$ against a zoo that varied one factor at a time.
# Each looked convincing in its own paper's experiments.
# This chapter puts them on common ground: one zoo of networks, every measure computed on every network, and one scale to compare them.
#
# The scale is the one Jiang et al. {cite}`jiang2020fantastic` built for their study of more than 40 measures on over 10,000 convolutional networks.
# A measure $\mu$ *predicts* generalization if ordering the models by $\mu$ orders them by their generalization gap $g$ (train accuracy minus test accuracy).
# Over a set $T$ of models, Kendall's rank correlation
#
# $$
# \tau(\mu, g) = \frac{1}{|T|(|T|-1)} \sum_{i \ne j \in T} \operatorname{sign}(\mu_i - \mu_j)\, \operatorname{sign}(g_i - g_j)
# $$
#
# is $+1$ when the two orderings agree on every pair, $-1$ when they are reversed, and about $0$ when they are unrelated; a tied pair counts as $0$.
#
# **Why one $\tau$ is not enough.**
# A zoo varies several hyperparameters at once, and a measure can rank the whole zoo well by tracking just one of them.
# The parameter count, for example, changes only with depth and width: if deeper networks happened to generalize worse, the parameter count would earn a large $\tau$ without saying anything about learning rates or batch sizes.
# Jiang et al. therefore also report a *granulated* score.
# For hyperparameter $i$, group the models that agree on every other hyperparameter; within each group only $i$ varies.
# $\psi_i$ is the mean of $\tau$ over those groups, and
#
# $$
# \Psi = \frac{1}{n} \sum_{i=1}^{n} \psi_i
# $$
#
# averages over the $n$ hyperparameters.
# $\psi_i$ asks: when I change only hyperparameter $i$, does the measure move the way the gap does?
# A measure that is constant within a group (the parameter count when only the learning rate varies) scores $\psi_i = 0$ there.
#
# **Why a correlation is not enough either.**
# A measure can follow the gap only because both follow a hyperparameter.
# Jiang et al.'s answer is a conditional-independence test.
# Over pairs of models $(i, j)$, let $V_\mu = \operatorname{sign}(\mu_i - \mu_j)$ and $V_g = \operatorname{sign}(g_i - g_j)$, and let $U_S$ be the values that the two models of the pair take for a set $S$ of hyperparameters.
# The normalized conditional mutual information
#
# $$
# \hat I(V_\mu, V_g \mid U_S) = \frac{I(V_\mu, V_g \mid U_S)}{H(V_g \mid U_S)}, \qquad
# K(\mu) = \min_{|S| \le 2} \hat I(V_\mu, V_g \mid U_S)
# $$
#
# is 1 when the measure's ordering of a pair tells everything about the gap's ordering that the hyperparameters in $S$ do not already tell, and 0 when some choice of at most two hyperparameters makes the two orderings independent.
# A small $K$ says that the measure *could* be a mere proxy of those hyperparameters; when the minimizing set is empty, it says that the measure's and the gap's orderings are nearly independent to begin with.
# $K$ measures dependence, not its direction: a measure that orders every pair backwards also has $K = 1$, so it is always read beside $\Psi$.
#
# :::{admonition} Jiang et al.'s findings
# :class: note
# Jiang et al. trained more than 10,000 convolutional networks; their main analysis ranks 2,187 CIFAR-10 networks, every combination of three values of seven hyperparameters, each trained to cross-entropy 0.01, with SVHN as a second data set. Measures based on *sharpness*, that is, on how much random or worst-case weight perturbations raise the training error, had the best granulated scores, the PAC-Bayesian and magnitude-aware perturbation measures in particular.
# A measure of gradient noise also did well.
# Many norm-based measures failed, the spectral-norm measures most clearly: their correlation with the gap was weak or negative.
# :::
#
# **Orientation.**
# Every measure below is oriented so that a positive $\tau$ means "predicts as claimed".
# A *complexity* such as a norm or a sharpness is claimed to grow with the gap and enters as it is.
# The GSNR (Chapter 3) and the basin radius (Chapter 4) are claimed to *shrink* as the gap grows, and enter with a minus sign.


# %% [markdown]
# ## Setup
#
# On Colab the first cell installs `helpers`.
# The scale profile sets every size below: `small` (the default) trains a zoo of MLPs on MNIST-1D {cite}`greydanus2020scaling` on a CPU, in a few minutes on two cores; `paper` trains Zhang et al.'s small AlexNet-style network, at several depths and widths, on CIFAR-10 on a GPU.
# The setup cell prints what the profile costs (`helpers.cost`: floating-point work counted from the networks, the grid and the measures, turned into hours on Colab's T4 and on an H100). To fit one Colab session, the `paper` profile cuts Jiang et al.'s protocol (the whole training set) to 10,000 CIFAR-10 training images, depths 2 and 3 (of 2, 3 and 4), at most 60 epochs per model (a model that misses the target by then is left out) and the measures on 500 samples (of 2,000); both seeds and every other hyperparameter value are kept.

# %%
import sys

# Colab: install helpers from the book's repository
if "google.colab" in sys.modules:
    repo = "git+https://github.com/why-deep-networks-generalize/book"
    %pip install --quiet "why-deep-networks-generalize @ {repo}"

# %%
import time

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from joblib import Parallel, delayed

from helpers import cost, plots, scale, settings, sweep, train, zoo
from helpers.metrics import rank
from helpers.report import Claim, choose, fmt_pct, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.measure_zoo(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
points = cfg.points()
DEVICE = train.pick_device()
HYPERPARAMETERS = list(zoo.HYPERPARAMETERS)
NAMES = [m.name for m in zoo.MEASURES]
labels = {m.name: m.label for m in zoo.MEASURES}
signs = {m.name: m.sign for m in zoo.MEASURES}
pretty = {"depth": "depth", "width": "width", "lr": "learning rate",
          "batch_size": "batch size", "weight_decay": "weight decay"}
print(f"{cfg.scale} scale: {cfg.dataset}, {cfg.architecture}, "
      f"{len(cfg.grid())} configurations x {len(cfg.seeds)} seeds = "
      f"{len(points)} models | device: {DEVICE}")
cost.print_estimate(6, SCALE)

# %% [markdown]
# ## Experiment 1: the zoo
#
# The zoo is the full grid of five hyperparameters: the depth (hidden layers), the width (units per hidden layer), the learning rate, the batch size and the weight decay.
# Every configuration is trained {glue:text}`ch6_n_seeds` times, once per seed (the seed sets the initialization and the batch order), with SGD (momentum 0.9, constant learning rate) until its training cross-entropy falls to {glue:text}`ch6_target`, the criterion of Jiang et al.: the models then fit their training set equally well, and what differs between them is how they got there.
# A model still above the target after {glue:text}`ch6_max_epochs` epochs is left out, as in Jiang et al., and with it the other seeds of its configuration, so that every configuration in the ranking is an average over the same seeds.
# Only the first layer has a bias, so that the normalized loss of Chapter 2 is defined for every model.
#
# Two seeds per configuration are what let the ranking separate a measure's signal from seed luck, and they cost twice the training.
# To fit them in this chapter's six-minute budget on two CPU cores, the `small` zoo is smaller than the one-seed zoo of earlier editions of this chapter (4,000 training samples, depths 2 to 4): it trains on {glue:text}`ch6_n_train` samples and its depths are {glue:text}`ch6_depths`.

# %%
grid = pd.DataFrame({"depth": [cfg.depths], "width": [cfg.widths],
                     "learning rate": [cfg.lrs],
                     "batch size": [cfg.batch_sizes],
                     "weight decay": [cfg.weight_decays],
                     "seed": [cfg.seeds]},
                    index=["values"]).T
grid["count"] = grid["values"].map(len)
grid

# %% tags=remove-cell
glue("ch6_target", f"{cfg.target_train_loss:g}")
glue("ch6_max_epochs", cfg.max_epochs)
glue("ch6_n_seeds", len(cfg.seeds))
glue("ch6_n_train", f"{cfg.n_train:,}" if cfg.n_train else "all the")
glue("ch6_depths", " and ".join(map(str, cfg.depths)))

# %% [markdown]
# Each model is one call to `zoo.train_and_measure`, a point of a `sweep.run_sweep`: trained once, then cached on disk, so that a second run of this notebook (or a run interrupted halfway) trains nothing it already has.
# The points are independent and seeded, and every point runs with the same single torch thread, so `n_jobs=-1` trains them in parallel, one per CPU core, with results bit-identical to a serial run.
# On a GPU the models train one at a time on the device.
# To spread a bigger zoo over a cluster, wrap the same call in `joblib.parallel_config(backend="dask")` (see the README).

# %%
start = time.perf_counter()
# CPU: one model per core; GPU: one at a time on the device
N_JOBS = settings.sweep_jobs()
results = sweep.run_sweep(zoo.train_and_measure, points, "measure-zoo",
                          n_jobs=N_JOBS)
print(f"zoo ready in {time.perf_counter() - start:.0f} s "
      "(cached models load instantly)")
table = zoo.zoo_table(points, results)
reached = table[table["reached"]]
# a configuration counts only if every seed of it reached the target
complete = (reached.groupby(HYPERPARAMETERS)["seed"].transform("nunique")
            == len(cfg.seeds))
models = reached[complete].reset_index(drop=True)
if len(models) < 2 * len(cfg.seeds):
    raise RuntimeError(f"only {len(models)} models of complete configurations "
                       "reached the target: nothing to rank. "
                       "Raise max_epochs or the target loss in the profile.")
# one row per configuration: the gap and every measure averaged over seeds
configs = (models.groupby(HYPERPARAMETERS, as_index=False)
           [["gap", "train_acc", "test_acc", "epochs", *NAMES]].mean())


def varies_alone(h: str) -> bool:
    """Whether two configurations differ in h only: else h has no ψ."""
    others = [o for o in HYPERPARAMETERS if o != h]
    return bool((configs.groupby(others)[h].nunique() > 1).any())


varied = [h for h in HYPERPARAMETERS if varies_alone(h)]
left_out = table[~table["reached"]]
print(f"{int(table['reached'].sum())} of {len(table)} models reached the "
      f"target; {len(configs)} of {len(cfg.grid())} configurations did with "
      f"every seed")
print("hyperparameters varied among them:", varied)
left_out[HYPERPARAMETERS + ["seed", "stop_reason", "epochs", "train_loss"]]

# %% tags=remove-cell
glue("ch6_num_models", len(models))
glue("ch6_num_configs", len(configs))
glue("ch6_num_grid", len(cfg.grid()))
glue("ch6_num_left_out", len(table) - len(models))
glue("ch6_epoch_range", f"{models['epochs'].min()} to {models['epochs'].max()}")
glue("ch6_min_train_acc", fmt_pct(models["train_acc"].min()))
glue("ch6_test_range", f"{fmt_pct(models['test_acc'].min())} to "
     f"{fmt_pct(models['test_acc'].max())}")

# %% [markdown]
# {glue:text}`ch6_num_configs` of the {glue:text}`ch6_num_grid` configurations reached the target with every seed ({glue:text}`ch6_num_models` models); {glue:text}`ch6_num_left_out` models are left out (the table above lists those that missed the target; their other seeds go with them).
# Training to the same loss takes very different times: the epochs range over {glue:text}`ch6_epoch_range`.
# Every model fits its training set (train accuracy at least {glue:text}`ch6_min_train_acc`), and test accuracy ranges from {glue:text}`ch6_test_range`, so the gap is almost the test error.
# The panels below show how the gap depends on each hyperparameter on its own: each dot is one model, the red line the mean.

# %%
fig, axes = plt.subplots(1, len(HYPERPARAMETERS), figsize=(13, 2.8),
                         sharey=True)
for ax, h in zip(axes, HYPERPARAMETERS):
    sns.stripplot(data=models, x=h, y="gap", hue="seed", ax=ax, size=4,
                  jitter=0.2, palette="deep", legend=ax is axes[-1])
    sns.pointplot(data=models, x=h, y="gap", ax=ax, color="C3",
                  errorbar=None, markers="_", linestyles="-")
    ax.set_title(pretty[h])
    ax.set_xlabel("")
axes[0].set_ylabel("gap (train − test accuracy, fraction)")
fig.suptitle("The zoo: the gap of each model, by each hyperparameter "
             "(colour: the seed; red: the mean)", y=1.04)
plt.show()

# %% [markdown]
# **How much of a gap is noise?**
# The two seeds of one configuration share every hyperparameter, so the difference between their gaps is chance alone: the floor under every difference the ranking has to explain.
# The cell below sets it beside the effect of each hyperparameter, the mean change of the seed-averaged gap between configurations that differ in that hyperparameter only.

# %%
def mean_abs_difference(gaps: pd.Series) -> float:
    """Mean |g_a - g_b| over the pairs of models in one configuration."""
    g = gaps.to_numpy()
    pairs = np.abs(g[:, None] - g[None, :])[np.triu_indices(len(g), 1)]
    return float(pairs.mean())


def gap_effect(h: str) -> float:
    """Mean |change of the seed-averaged gap| between configurations that
    differ only in h, at neighbouring values of h."""
    others = [o for o in varied if o != h]
    pivot = (configs.pivot_table(index=others, columns=h, values="gap")
             if others else configs.groupby(h)["gap"].mean().to_frame().T)
    return float(pivot.diff(axis=1).abs().stack().mean())


seed_noise = float(models.groupby(HYPERPARAMETERS)["gap"]
                   .apply(mean_abs_difference).mean())
effects = pd.Series({pretty[h]: gap_effect(h) for h in varied})
# a configuration's gap is a mean of its seeds: its own noise is smaller
mean_noise = seed_noise / np.sqrt(len(cfg.seeds))
weak = [h for h, e in effects.items() if e < mean_noise]
(100 * effects).round(2).to_frame("effect on the gap (points)")

# %% tags=remove-cell
glue("ch6_seed_noise", f"{100 * seed_noise:.2f}")
glue("ch6_mean_noise", f"{100 * mean_noise:.2f}")
glue("ch6_effects", ", ".join(f"{100 * e:.2f} ({h})"
                             for h, e in effects.items()))
glue("ch6_weak", choose(
    bool(weak),
    f"Along the {' and the '.join(weak)}, the change is smaller than that, "
    "so "
    + ("that ψ column ranks" if len(weak) == 1 else "those ψ columns rank")
    + " mostly noise.",
    "Every hyperparameter moves the gap by more than that."))

# %% [markdown]
# Two seeds of the same configuration differ in their gap by {glue:text}`ch6_seed_noise` points on average.
# Changing one hyperparameter alone changes the seed-averaged gap by {glue:text}`ch6_effects` points (a mean absolute change, which noise alone makes positive).
# A configuration's gap is the mean of its seeds, so its own seed noise is smaller, about {glue:text}`ch6_mean_noise` points (the difference between two seeds divided by the square root of their number).
# {glue:text}`ch6_weak`
# This is why the ranking below is computed on the configurations, each the average of its seeds: averaging halves the variance of the seed noise in every comparison.

# %% [markdown]
# ## Experiment 2: nineteen measures on every model
#
# After training, `zoo.measure_model` takes every measure on the trained network.
# Those of Chapters 2–5 come from the same `helpers.metrics` functions those chapters use.
# The PAC-Bayesian sharpness is Jiang et al.'s `pacbayes.flatness` {cite}`dziugaite2017computing,neyshabur2017exploring`: the largest $\sigma'$ such that adding Gaussian noise $\mathcal{N}(0, \sigma'^2)$ to every weight raises the training error by at most 0.1 on average, reported as $1/\sigma'^2$ (`landscape.pac_bayes_sigma` finds $\sigma'$ by bisection on $\log\sigma$, reusing the same noise draws at every $\sigma$); the magnitude-aware version scales each weight's noise with the weight.
# The worst-case sharpness is their `sharpness-orig` and `sharpness.mag`, after Keskar et al. {cite}`keskar2017large`: the largest $\alpha'$ such that the *worst* perturbation in the box $|u_i| \le \alpha'$ raises the training error by at most 0.1, reported as $1/\alpha'^2$; `landscape.worst_case_alpha` looks for the worst perturbation with ten steps of projected gradient ascent on the training loss. Its magnitude-aware version here uses the box $|u_i| \le \alpha' (|w_i| + 10^{-3})$, relative to each weight (Jiang et al.'s box $\alpha' |w_i| + 10^{-3}$ does not shrink to nothing as $\alpha' \to 0$; on the sharpest MLPs of an earlier version of this zoo, the $\pm 10^{-3}$ part alone raised the training error by 13 to 57 points, a check this page does not repeat).
# The "basin radius" is the *mean* distance to the edge of the basin along random filter-normalized directions (Chapter 4), not Huang et al.'s basin volume, which is a high power of the radii.
# Jiang et al.'s margin measures use the output margin $\gamma$, the 10th percentile over the training set of the true class's logit minus the largest other logit: $1/\gamma^2$, and the products of the layers' squared spectral or Frobenius norms divided by $\gamma^2$ {cite}`bartlett2017spectrally`.
# Their optimization measures count the SGD steps until the training cross-entropy first reads 0.1, and until it reaches the target (both checked at the end of each epoch, so rounded up to an epoch).
# The baselines are the parameter count, the distance from initialization {cite}`nagarajan2019generalization`, the product of the layers' squared spectral norms {cite}`bartlett2017spectrally` and the path norm {cite}`neyshabur2015norm` (`helpers.metrics.norms`).
# The last column is the mean time per model on this machine.
# Several measures are searches that can stop short: the Lanczos iteration for the top Hessian eigenvalue can run out of iterations, and the bisections can find that even the largest $\sigma$, box or radius they try is tolerated (then the value is a bound, and tied models rank as ties); the line printed first counts how often that happened.

# %%
details = pd.DataFrame([r.details for r in results if r.reached])
print(f"Hessian eigenvalue (Lanczos) converged on "
      f"{int(details['hessian_converged'].sum())} of {len(details)} models; "
      f"PAC-Bayes σ' at the search cap: "
      f"{int(details['pac_bayes_sharpness_capped'].sum())} (isotropic), "
      f"{int(details['pac_bayes_mag_sharpness_capped'].sum())} "
      f"(magnitude-aware); worst-case α' at the cap: "
      f"{int(details['worst_case_sharpness_capped'].sum())} and "
      f"{int(details['worst_case_mag_sharpness_capped'].sum())}; "
      f"basin radii at the search cap: "
      f"{int(details['basin_radii_capped'].sum())} of "
      f"{cfg.n_directions * len(details)}; margin not positive (floored): "
      f"{int(details['margin_floored'].sum())}")
measure_seconds = pd.DataFrame([r.measure_seconds for r in results
                                if r.reached])
measures = pd.DataFrame([
    {"measure": m.label, "family": m.family, "source": m.source,
     "claimed direction": ("larger, larger gap" if m.sign > 0
                           else "larger, smaller gap"),
     "computed as": m.description,
     "seconds per model": measure_seconds[m.name].mean()}
    for m in zoo.MEASURES])
measures.style.format({"seconds per model": "{:.2f}"}).hide(axis="index")

# %% [markdown]
# Each panel plots one measure against the gap, one dot per configuration (the mean of its seeds), coloured by depth.
# A measure that predicts as claimed makes a cloud that rises to the right (or falls, for the two measures claimed to shrink with the gap: GSNR and basin radius).
# The title gives Kendall's $\tau$ of the oriented measure over the configurations.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the ranking below: of the nineteen measures, where will the parameter count land by $\Psi$, and where the magnitude-aware PAC-Bayes sharpness?
# Chapter 1 showed networks with more parameters than samples generalizing; Jiang et al. found the PAC-Bayesian measures near the top.
# Write down a rank for each (1 is best) and compare after Experiment 3.
# :::

# %%
ncols = 4
fig, axes = plt.subplots(int(np.ceil(len(zoo.MEASURES) / ncols)), ncols,
                         figsize=(13, 11))
for ax, m in zip(axes.flat, zoo.MEASURES):
    for (depth, group), color in zip(
            configs.groupby("depth"),
            sns.color_palette("viridis", configs["depth"].nunique())):
        ax.scatter(group[m.name], group["gap"], s=14, color=color,
                   label=f"depth {depth}")
    constant = configs[m.name].nunique() < 2  # orders no pair: no tau
    tau = (None if constant else
           rank.kendall_tau(m.sign * configs[m.name], configs["gap"]))
    ax.set_title(f"{m.label}\n" + ("constant: no τ" if constant
                                     else f"τ = {tau:+.2f}"), fontsize=9)
    ax.set_xscale(m.axis)
    # log axes: label the decades only
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.tick_params(labelsize=7)
for ax in axes[:, 0]:
    ax.set_ylabel("gap (fraction)")
for ax in axes.flat[len(zoo.MEASURES):]:
    ax.set_visible(False)
axes.flat[0].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Experiment 3: the ranking
#
# `rank.rank_measures` computes, for every measure, Kendall's $\tau$ over the configurations, $\psi_i$ for each hyperparameter and their mean $\Psi$; `rank.conditional_independence_all` computes $K$, the minimum of $\hat I$ over every set of at most two hyperparameters.
# Both rank the {glue:text}`ch6_num_configs` configurations, each the mean of its seeds.
# The confidence intervals come from {glue:text}`ch6_n_boot` bootstrap resamples of the configurations, every statistic recomputed on each resample (the same resamples for every measure); they are 95% percentile intervals.
# With groups of two configurations behind each $\psi_i$, they are wide: read differences between measures in the light of them.
# An interval of $[+1.00, +1.00]$ means only that every resample agreed, not that there is no uncertainty: a few groups decide a $\psi_i$.

# %%
ranking = rank.rank_measures(configs, signs, "gap", varied, n_boot=cfg.n_boot,
                             seed=0)
independence = rank.conditional_independence_all(
    configs, signs, "gap", varied, n_boot=cfg.n_boot, seed=0
).set_index("measure")
statistics = ["tau", *varied, "Psi"]
value = ranking.pivot(index="measure", columns="statistic",
                      values="value")[statistics]
value["K"] = independence["value"]
order = value.sort_values("Psi", ascending=False).index
value = value.loc[order]
rank_of = {m: i + 1 for i, m in enumerate(order)}
k_order = value.sort_values("K", ascending=False).index
k_rank_of = {m: i + 1 for i, m in enumerate(k_order)}


def interval_text(v, lo, hi) -> str:
    return f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]"


with_ci = ranking.assign(text=[interval_text(*r) for r in zip(
    ranking["value"], ranking["low"], ranking["high"])])
ranking_table = with_ci.pivot(index="measure", columns="statistic",
                              values="text").loc[order, statistics]
ranking_table["K"] = [f"{independence.loc[m, 'value']:.2f} "
                      f"[{independence.loc[m, 'low']:.2f}, "
                      f"{independence.loc[m, 'high']:.2f}]"
                      for m in order]
# a constant measure has no K and no minimizing set
ranking_table["K given"] = [
    "—" if independence.loc[m, "conditioning"] is None else
    ", ".join(pretty[h] for h in independence.loc[m, "conditioning"])
    or "nothing" for m in order]
ranking_table.index = [labels[m] for m in ranking_table.index]
ranking_table.columns = ["τ (all)", *[f"ψ {pretty[h]}" for h in varied],
                         "Ψ", "K", "K's minimizing set"]
ranking_table

# %% tags=remove-cell
glue("ch6_n_boot", cfg.n_boot)
ci = ranking.set_index(["measure", "statistic"])
ci_psi = ci.xs("Psi", level="statistic")
sharpness = zoo.family("sharpness")
norm_based = zoo.family("norm")
best, second = order[0], order[1]
sharp_best = min(sharpness, key=rank_of.get)


def psi_text(m: str) -> str:
    """'Ψ = +0.31 [+0.10, +0.50], rank 2 of 19' for the prose."""
    row = ci_psi.loc[m]
    return (f"Ψ = {interval_text(row['value'], row['low'], row['high'])}, "
            f"rank {rank_of[m]} of {len(order)}")


def k_text(m: str) -> str:
    row = independence.loc[m]
    return (f"K = {row['value']:.2f} [{row['low']:.2f}, {row['high']:.2f}], "
            f"rank {k_rank_of[m]} of {len(order)}")


glue("ch6_best", f"the {labels[best]} ({psi_text(best)})")
glue("ch6_second", f"the {labels[second]} ({psi_text(second)})")
glue("ch6_params_reveal", psi_text("num_parameters"))
glue("ch6_pacbayes_reveal", psi_text("pac_bayes_mag_sharpness"))
glue("ch6_sharp_best", f"the {labels[sharp_best]}")
glue("ch6_sharp_ranks", ", ".join(f"{rank_of[m]} ({labels[m]})" for m in
                                  sorted(sharpness, key=rank_of.get)))
glue("ch6_norm_ranks", ", ".join(str(rank_of[m]) for m in
                                 sorted(norm_based, key=rank_of.get)))
glue("ch6_n_measures", len(order))
glue("ch6_n_norm", len(norm_based))

# %% [markdown]
# The heat map shows the same numbers without the intervals, the measures sorted by $\Psi$: blue cells are hyperparameters along which the measure moves with the gap, red cells those along which it moves against it, and the last column is $K$ (0 to 1, no sign).
# The interval plot beside it shows $\Psi$, the overall $\tau$ and $K$ with their 95% intervals.

# %%
fig, (ax_heat, ax_ci) = plt.subplots(1, 2, figsize=(13, 6.4),
                                     gridspec_kw={"width_ratios": [1.6, 1]})
shown = value.rename(index=labels, columns={"tau": "τ", "Psi": "Ψ", **pretty})
sns.heatmap(shown, ax=ax_heat, cmap="RdBu", center=0, vmin=-1, vmax=1,
            annot=True, fmt="+.2f", annot_kws={"fontsize": 8},
            cbar_kws={"label": "Kendall τ / ψ / K"}, mask=~np.isfinite(shown))
ax_heat.set_xlabel("")
ax_heat.set_ylabel("")
ax_heat.set_xticklabels(ax_heat.get_xticklabels(), rotation=30, ha="right")
intervals = {"Psi": ci_psi, "tau": ci.xs("tau", level="statistic"),
             "K": independence}
for offset, (stat, color, name) in enumerate((("Psi", "C0", "Ψ"),
                                               ("tau", "C1", "τ"),
                                               ("K", "C2", "K"))):
    rows = intervals[stat].loc[order]
    y = np.arange(len(order)) + 0.5 + (offset - 1) * 0.25
    # a percentile interval need not contain the point estimate:
    # draw it as a segment
    ax_ci.hlines(y, rows["low"], rows["high"], color=color, lw=1.5)
    ax_ci.plot(rows["value"], y, "o", color=color, label=name, markersize=4)
ax_ci.axvline(0, color="grey", lw=0.8)
ax_ci.set_ylim(len(order), 0)
ax_ci.set_yticks(np.arange(len(order)) + 0.5, [labels[m] for m in order],
                 fontsize=8)
ax_ci.set_xlabel("value with 95% bootstrap interval")
ax_ci.legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Check your prediction.**
# The parameter count scored {glue:text}`ch6_params_reveal`; the magnitude-aware PAC-Bayes sharpness scored {glue:text}`ch6_pacbayes_reveal`.
# The parameter count does not change when only the learning rate, the batch size or the weight decay does, so its $\psi$ is exactly 0 along those three, and its $\Psi$ is decided by depth and width alone.
#
# **$\Psi$ and $K$ side by side.**
# The best granulated score belongs to {glue:text}`ch6_best`, followed by {glue:text}`ch6_second`.
# By $K$ the order is {glue:text}`ch6_k_top`.
# $K$ has no sign, so it is compared with the size of $\Psi$: Kendall's $\tau$ between the orderings of the {glue:text}`ch6_n_measures` measures by $|\Psi|$ and by $K$ is {glue:text}`ch6_k_vs_psi`.
# {glue:text}`ch6_k_reading`
# The column "K's minimizing set" names the hyperparameters that explain the most of a measure's agreement with the gap: for the parameter count, depth and width fix the measure itself, so given them nothing is left and $K = 0$ exactly.

# %% tags=remove-cell
top_k = list(k_order[:3])
glue("ch6_k_top", "; ".join(f"the {labels[m]} ({k_text(m)})" for m in top_k))


def tau_or_none(a: pd.Series, b: pd.Series):
    """Kendall's τ between two orderings of the measures, None where either
    is constant (then no pair is ordered)."""
    both = pd.concat([a, b], axis=1).dropna()
    varies = both.nunique().min() > 1
    if not varies:
        return None
    return rank.kendall_tau(both.iloc[:, 0], both.iloc[:, 1])


def tau_text(tau) -> str:
    return ("undefined (one of the orderings is constant)" if tau is None
            else f"{tau:+.2f}")


glue("ch6_k_vs_psi", tau_text(tau_or_none(value["Psi"].abs(), value["K"])))
third = k_order[2]
empty_min = [labels[m] for m in order
             if independence.loc[m, "conditioning"] == ()]
glue("ch6_k_reading", choose(
    bool(set(top_k[:2]) == set(order[:2])),
    "The two measures at the top by Ψ are also the two at the top by K.",
    "The two orderings disagree at the top: the two measures with the "
    "largest Ψ are not the two with the largest K.")
    + f" The third by K is the {labels[third]}, whose Ψ is "
    f"{value.loc[third, 'Psi']:+.2f}: K says that its ordering of the pairs "
    "carries information about the gap's, not in which direction. "
    + (f"For {len(empty_min)} measures ({', '.join(empty_min)}) the "
       "minimizing set is empty: conditioning on hyperparameters does not "
       "lower their K, which is then simply how much their orderings share "
       "with the gap's." if empty_min else ""))

# %% [markdown]
# ## Experiment 4: the worst case and the seeds
#
# **The robust view.**
# $\Psi$ is an average, and an average can hide a measure that fails badly in some corner of the zoo.
# Dziugaite et al. {cite}`dziugaite2020search` propose to look at the whole distribution of a measure's performance over *environments* and above all at its worst case.
# Here an environment is a group of models in which only one hyperparameter changes: the two configurations that differ in it, with both seeds of each, four models in all.
# `rank.robust_summary` computes Kendall's $\tau$ in every environment (pairs of seeds of one configuration included, so seed noise counts against the measure), and reports the worst environment and the 10th percentile over all of them.
# Environments in which the measure or the gap is constant are skipped and counted.

# %%
# a reference: the configuration's own mean gap, the best any measure of a
# configuration can do (it loses only to the seed noise inside a configuration)
models["oracle"] = models.groupby(HYPERPARAMETERS)["gap"].transform("mean")
robust = rank.robust_summary(models, {**signs, "oracle": 1}, "gap",
                             varied).set_index("measure")
taus = pd.concat([rank.environment_taus(models, m, "gap", varied, sign=signs[m])
                  .assign(measure=labels[m]) for m in order], ignore_index=True)
fig, ax = plt.subplots(figsize=(13, 4.6))
sns.stripplot(data=taus.dropna(subset=["tau"]).replace(
                  {"hyperparameter": pretty}), x="measure", y="tau",
              hue="hyperparameter", ax=ax, size=3, jitter=0.3, alpha=0.7,
              order=[labels[m] for m in order],
              hue_order=[pretty[h] for h in varied], palette="deep")
ax.plot(range(len(order)), robust.loc[order, "quantile_tau"], "k_", ms=18,
        mew=2, label="10th percentile")
ax.plot(range(len(order)), value["Psi"], "rD", ms=5,
        label="Ψ (over configurations)")
ax.axhline(0, color="grey", lw=0.8)
ax.set_xticks(range(len(order)), [labels[m] for m in order], rotation=40,
              ha="right", fontsize=8)
ax.set_xlabel("")
ax.set_ylabel("τ in one environment")
ax.legend(fontsize=7, ncol=3, loc="lower left")
ax.set_title("Each dot: one environment (the models that differ in one "
             "hyperparameter); sorted by Ψ")
plt.show()
robust.loc[[*order, "oracle"], ["quantile_tau", "worst", "worst_environment",
                               "mean", "n_environments", "n_skipped"]].rename(
    index={**labels, "oracle": "reference: the configuration's mean gap"},
    columns={"quantile_tau": "10th percentile of τ",
                           "worst": "worst τ", "mean": "mean τ"}).round(2)

# %% tags=remove-cell
glue("ch6_robust_best", f"{robust.loc[best, 'quantile_tau']:+.2f}")
glue("ch6_robust_worst_best", f"{robust.loc[best, 'worst']:+.2f}")
glue("ch6_robust_worst_env", str(robust.loc[best, "worst_environment"]))
glue("ch6_oracle_quantile", f"{robust.loc['oracle', 'quantile_tau']:+.2f}")
glue("ch6_oracle_worst", f"{robust.loc['oracle', 'worst']:+.2f}")
robust = robust.drop("oracle")
top_quantile = robust["quantile_tau"].max()
robust_top = [labels[m] for m in order
              if robust.loc[m, "quantile_tau"] == top_quantile]
glue("ch6_robust_top", f"{top_quantile:+.2f}, reached by "
     + (f"the {robust_top[0]} alone" if len(robust_top) == 1 else
        f"{len(robust_top)} measures ({', '.join(robust_top)})"))
n_negative_worst = int((robust["worst"] < 0).sum())
glue("ch6_robust_negative", f"{n_negative_worst} of {len(robust)}")

# %% [markdown]
# The best measure by $\Psi$ has a 10th percentile of {glue:text}`ch6_robust_best` and a worst environment at {glue:text}`ch6_robust_worst_best` ({glue:text}`ch6_robust_worst_env`).
# The largest 10th percentile is {glue:text}`ch6_robust_top`.
# {glue:text}`ch6_robust_negative` measures have at least one environment in which they order the models against the gap.
# With four models per environment a single $\tau$ takes one of a few values, and a third of each environment's pairs are two seeds of one configuration, which no measure of the configuration can order: so the worst case is crude.
# The last row of the table is a reference that shows how crude: the configuration's own mean gap, used as a measure, has a 10th percentile of {glue:text}`ch6_oracle_quantile` and a worst case of {glue:text}`ch6_oracle_worst`.
# (Dziugaite et al. average over seeds within an environment instead; with two seeds, that leaves a single pair per environment.)
#
# **Does the ranking survive a change of seed?**
# The ranking above averages the seeds.
# Ranking each seed's {glue:text}`ch6_n_per_seed` models on their own gives one $\Psi$ per measure and seed; if the ordering of the measures were a property of the measures, the two seeds would order them alike.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: will the two seeds put the same measure on top?
# And will their orderings of all the measures agree closely (Kendall's $\tau$ between them near 1) or only loosely?
# :::

# %%
per_seed = pd.DataFrame({
    seed: rank.rank_measures(models[models["seed"] == seed], signs, "gap",
                             varied, n_boot=1).query("statistic == 'Psi'")
    .set_index("measure")["value"] for seed in cfg.seeds})
per_seed = per_seed.loc[order]
seed_a, seed_b = cfg.seeds[:2]
seed_tau = tau_or_none(per_seed[seed_a], per_seed[seed_b])
moves = (per_seed[seed_a] - per_seed[seed_b]).abs()
fig, ax = plt.subplots(figsize=(5.2, 5))
ax.scatter(per_seed[seed_a], per_seed[seed_b], s=16)
for m in order[:3]:
    ax.annotate(labels[m], (per_seed.loc[m, seed_a], per_seed.loc[m, seed_b]),
                fontsize=7, xytext=(3, -8), textcoords="offset points")
ax.plot([-1, 1], [-1, 1], color="grey", lw=0.8)
ax.set_xlabel(f"Ψ, seed {seed_a} only")
ax.set_ylabel(f"Ψ, seed {seed_b} only")
ax.set_title("Each dot a measure: τ between the orderings = "
             + tau_text(seed_tau))
plt.show()
# three decimals: the top two can tie at two
per_seed.rename(index=labels).round(3)

# %% tags=remove-cell
glue("ch6_n_per_seed", len(configs))
glue("ch6_seed_tau", tau_text(seed_tau))
top_a, top_b = per_seed[seed_a].idxmax(), per_seed[seed_b].idxmax()
glue("ch6_seed_top", choose(
    bool(top_a == top_b),
    f"Both seeds put the {labels[top_a]} on top (Ψ "
    f"{per_seed.loc[top_a, seed_a]:+.3f} and "
    f"{per_seed.loc[top_a, seed_b]:+.3f}).",
    f"Seed {seed_a} puts the {labels[top_a]} on top, seed {seed_b} the "
    f"{labels[top_b]}."))
glue("ch6_seed_move", f"the {labels[moves.idxmax()]} "
     f"({per_seed.loc[moves.idxmax(), seed_a]:+.2f} and "
     f"{per_seed.loc[moves.idxmax(), seed_b]:+.2f})")

# %% [markdown]
# {glue:text}`ch6_seed_top`
# Kendall's $\tau$ between the two seeds' orderings of the measures is {glue:text}`ch6_seed_tau`.
# The measure whose $\Psi$ moves most between the seeds is {glue:text}`ch6_seed_move`.

# %% [markdown]
# ## What the ranking says
#
# **Sharpness and the norms.**
# Of Jiang et al.'s favourites, the four sharpness measures, the best here by $\Psi$ is {glue:text}`ch6_sharp_best`; the four rank {glue:text}`ch6_sharp_ranks`.
# The {glue:text}`ch6_n_norm` norm-based measures (the distance from initialization, the spectral-norm product, the path norm, the mean log Frobenius norm of Chapter 5 and the two norm-over-margin ratios) rank {glue:text}`ch6_norm_ranks` of {glue:text}`ch6_n_measures`.
# Along the training knobs, the learning rate and the batch size, the norm-based measures' mean $\psi$ is {glue:text}`ch6_norm_knob_psi`, against {glue:text}`ch6_sharp_knob_psi` for the sharpness measures.
# In this zoo the mean gap is {glue:text}`ch6_knob_gaps`.
#
# A larger learning rate and a smaller batch make SGD take larger and noisier steps, which carry the weights further from their initialization and usually make them larger.
# A norm reads that as *more* complexity; so wherever those two knobs *shrink* the gap, as Keskar et al. {cite}`keskar2017large` and Jiang et al. report (the line above says whether they do here), a norm ranks the models backwards along them.
# This chapter does not test that account (it would need the weights' norms along training, not only at the end); it is the reading Jiang et al. give, and the table is consistent or not with it column by column.
# Scaling the noise to each weight, as the magnitude-aware sharpness does, and as the filter-normalized directions of the basin radius do, is expected to matter across widths: a wider layer is initialized with smaller weights (variance proportional to 1 / fan-in), so isotropic noise of a given $\sigma$ is relatively larger there (an expectation from the initialization, not measured on the trained weights here).
# The width column of the isotropic and the magnitude-aware rows shows what relative noise changes in this zoo: $\psi$ for width is {glue:text}`ch6_width_psi`.
# Relative noise is also nearly blind to rescaling a ReLU layer by $c$ and the next by $1/c$, which changes neither the function nor the gap but changes isotropic sharpness at will {cite}`dinh2017sharp`.
#
# **The other chapters' measures.**
# The gradient signal-to-noise ratio of Chapter 3 (oriented so that more signal predicts a smaller gap) scores {glue:text}`ch6_gsnr`.
# The top Hessian eigenvalue of Chapter 4 scores {glue:text}`ch6_hessian`, and Martin & Mahoney's $\hat\alpha$ of Chapter 5 scores {glue:text}`ch6_alpha`.
# Chapter 2's normalized train loss scores {glue:text}`ch6_normalized`, with {glue:text}`ch6_normalized_psi`.
# Liao et al.'s result is a linear relation between the normalized train and test *losses* of networks of one architecture, not a predictor of the accuracy gap across a zoo.
# Every model here has been trained to the same train cross-entropy, so what is left of the normalized train loss is a small difference between nearly equal numbers: its values span {glue:text}`ch6_normalized_span`, and its mean is {glue:text}`ch6_normalized_by_depth`.
#
# **Optimization and margins.**
# The number of SGD steps to the target scores {glue:text}`ch6_steps_target`, and the steps to cross-entropy 0.1 score {glue:text}`ch6_steps_01`.
# Over all configurations their $\tau$ is {glue:text}`ch6_steps_tau`, and their $\psi$ for the batch size is {glue:text}`ch6_steps_batch`: an epoch has $n/B$ steps, so a larger batch takes fewer steps per epoch by construction, and the count of steps mixes how long a model trained with how many steps an epoch has.
# These measures cost nothing (the training loop counts them). {glue:text}`ch6_steps_reading`
# The margin $1/\gamma^2$ scores {glue:text}`ch6_margin`.
#
# **Where this zoo agrees with Jiang et al., and where it cannot.**
# Their main zoo had 2,187 convolutional networks on CIFAR-10, seven hyperparameters with three values each, and 729 groups behind every $\psi_i$; this one has {glue:text}`ch6_zoo_size`.
# Three differences matter for reading the table.
# First, every model here fits its training set while its test accuracy ranges from {glue:text}`ch6_test_range`, so changing one hyperparameter moves the gap by a few points only ({glue:text}`ch6_effects` points, Experiment 1), against a seed noise of about {glue:text}`ch6_mean_noise` points in a configuration's mean.
# Second, {glue:text}`ch6_architecture_sentence`
# Third, Jiang et al. compute some measures as full bounds, with constants and the number of samples; here every measure is the quantity the bound grows with, which does not change a rank correlation on one data set.

# %% tags=remove-cell
knobs = [h for h in ("lr", "batch_size") if h in varied]
glue("ch6_norm_knob_psi",
     f"{value.loc[norm_based, knobs].to_numpy().mean():+.2f}"
     if knobs else "not measured (neither knob varies)")
glue("ch6_bound_norms_knobs", "; ".join(
    f"{labels[m]}: "
    + ", ".join(f"ψ {value.loc[m, h]:+.2f} along {pretty[h]}" for h in knobs)
    for m in ("log_spectral_norm_product", "log_path_norm"))
    if knobs else "neither the learning rate nor the batch size varies here")
glue("ch6_sharp_knob_psi",
     f"{value.loc[sharpness, knobs].to_numpy().mean():+.2f}"
     if knobs else "not measured")
gap_by = {h: configs.groupby(h)["gap"].mean() for h in knobs}
glue("ch6_knob_gaps", ", and ".join(
    " and ".join(f"{100 * g:.1f} points at {pretty[h]} {v:g}"
                 for v, g in gap_by[h].items()) for h in knobs)
    if knobs else
    "the same at every learning rate and batch size (neither varies)")
glue("ch6_width_psi", (
    f"{value.loc['pac_bayes_sharpness', 'width']:+.2f} (isotropic) and "
    f"{value.loc['pac_bayes_mag_sharpness', 'width']:+.2f} (magnitude-aware) "
    f"for the PAC-Bayes sharpness, "
    f"{value.loc['worst_case_sharpness', 'width']:+.2f} and "
    f"{value.loc['worst_case_mag_sharpness', 'width']:+.2f} for the worst-case "
    "sharpness") if "width" in varied
    else "not measured (the width does not vary)")
for key, m in (("gsnr", "mean_gsnr"), ("hessian", "hessian_top_eigenvalue"),
               ("alpha", "alpha_hat"), ("normalized", "normalized_train_loss"),
               ("steps_target", "steps_to_target"),
               ("steps_01", "steps_to_loss_0.1"), ("margin", "inverse_margin")):
    glue(f"ch6_{key}", f"{psi_text(m)}; {k_text(m)}")
glue("ch6_normalized_psi", "ψ = " + ", ".join(
    f"{value.loc['normalized_train_loss', h]:+.2f} ({pretty[h]})"
    for h in varied))
glue("ch6_normalized_by_depth", " and ".join(
    f"{v:.4f} at depth {d}" for d, v in
    configs.groupby("depth")["normalized_train_loss"].mean().items()))
span = configs["normalized_train_loss"]
ci_tau = ci.xs("tau", level="statistic")
steps = ["steps_to_target", "steps_to_loss_0.1"]
glue("ch6_steps_tau", " and ".join(
    interval_text(*ci_tau.loc[m, ["value", "low", "high"]]) for m in steps))
glue("ch6_steps_batch", " and ".join(
    f"{value.loc[m, 'batch_size']:+.2f}" for m in steps)
    if "batch_size" in varied
    else "not measured (the batch size does not vary)")
both_above = [labels[m] for m in steps if ci_psi.loc[m, "low"] > 0
              and ci_tau.loc[m, "low"] > 0]
glue("ch6_steps_reading", choose(
    bool(both_above),
    f"For the {' and the '.join(both_above)}, the intervals of both Ψ and the "
    "overall τ lie above 0: here a configuration that took more steps to fit "
    "its training set tends to generalize worse.",
    "No step count has both its Ψ and its overall τ clear of 0, so this zoo "
    "does not show that a configuration that took more steps to fit "
    "generalizes worse; a positive Ψ alone comes from the hyperparameters "
    "along which it is positive."))
glue("ch6_normalized_span", f"{span.min():.4f} to {span.max():.4f} "
     f"(ln 10 = {np.log(10):.4f})")
kind = "MLPs" if cfg.architecture == "mlp" else "convolutional networks"
samples = f"{cfg.n_train:,}" if cfg.n_train else "all the"
glue("ch6_zoo_size", f"{len(configs)} configurations of {kind} with "
     f"{len(cfg.seeds)} seeds each, trained on {samples} {cfg.dataset} "
     f"samples, {len(varied)} hyperparameters with two values each, and "
     f"{len(configs) // 2} groups behind every ψ")
glue("ch6_architecture_sentence", choose(
     cfg.architecture == "mlp",
     "the MLPs have no convolutions, batch normalization or dropout, so some "
     "of Jiang et al.'s hyperparameters have no counterpart here, and the "
     "spectral norm of a dense layer is the operator norm exactly (for a "
     "convolution the reshaped kernel only approximates it).",
     "these networks have no batch normalization, dropout or residual "
     "connections, so some of Jiang et al.'s hyperparameters have no "
     "counterpart here, and the spectral norm of a convolution is "
     "approximated by that of its reshaped kernel, as Jiang et al. do."))

# %% [markdown]
# ## What a practitioner should take away
#
# - **Check a measure along each hyperparameter separately, and then conditionally.** The overall $\tau$ is dominated by whichever hyperparameter moves the gap most; the granulated $\psi_i$ say whether the measure also works when you turn the knob *you* care about, and $K$ whether it says anything once the hyperparameters are known.
# - **Perturbation-based flatness is simple to compute.** The PAC-Bayesian sharpness needs only forward passes on training data with noisy weights, no second derivatives and no test set: {glue:text}`ch6_pacbayes_seconds` s per model here, against {glue:text}`ch6_worst_case_seconds` s for the worst-case version, which needs gradients (the measure table compares every cost).
# - **Do not trust a norm because it enters a bound.** The spectral-norm product and the path norm appear in generalization bounds, but a bound can be loose by orders of magnitude and still move the wrong way when a hyperparameter changes ({glue:text}`ch6_bound_norms_knobs`); as predictors of the gap they must be tested like any other measure.
# - **Train more than one seed.** Two seeds of one configuration differ in their gap by {glue:text}`ch6_seed_noise` points here, and the two seeds' orderings of the measures agree with $\tau$ = {glue:text}`ch6_seed_tau`: a one-seed zoo ranks some of its luck.
# - **Report intervals, and the null.** With tens of configurations a difference of 0.1 in $\Psi$ is within the noise; the paired intervals of the scorecard below are the honest test of "this measure ranks above that one", and the permutation null says how often such a row would hold by chance.

# %% tags=remove-cell
glue("ch6_pacbayes_seconds",
     f"{measure_seconds['pac_bayes_sharpness'].mean():.1f}")
# a wall time: the one kind of glued value that varies from run to run
glue("ch6_worst_case_seconds",
     f"{measure_seconds['worst_case_sharpness'].mean():.1f}")

# %% [markdown]
# ## Reproduction scorecard
#
# Each row is one of Jiang et al.'s findings, the test that decides it here, what this zoo measured, and whether the finding held.
# A row that would hold for a zoo whose measures say nothing tests nothing, so every row is also run on a null: the measures' values are shuffled across the configurations by one permutation (`rank.permute_measures`), which keeps each measure's values and their relations to one another but cuts their tie to the models, and the whole row, its bootstrap included, is recomputed on {glue:text}`ch6_null_permutations` such zoos.
# The column "null" says how often the row held there.
# The rows compare measures by *paired* bootstrap differences (`rank.paired_differences`: both $\Psi$ recomputed on the same resamples), because two measures ranked on one zoo share its luck.

# %%
NULL_BOOT = cfg.null_boot
TOP = int(np.ceil(len(NAMES) / 4))  # "among the best": the top quarter by Ψ


def scorecard_tests(t: pd.DataFrame, n_boot: int) -> dict:
    """Every row's verdict on a table t of configurations, and what it read."""
    rk = rank.rank_measures(t, signs, "gap", varied, n_boot=n_boot, seed=0)
    psi = rk[rk["statistic"] == "Psi"].set_index("measure")
    tau = rk[rk["statistic"] == "tau"].set_index("measure")
    psi_rank = psi["value"].rank(ascending=False, method="min")
    sharp_psi = psi.loc[sharpness, "value"].dropna()
    out = {"psi": psi, "diffs": None, "best_sharp": None}
    if len(sharp_psi):  # a sharpness measure that ranks something
        out["best_sharp"] = sharp_psi.idxmax()
        out["diffs"] = rank.paired_differences(
            t, signs, "gap", varied,
            [(out["best_sharp"], m) for m in [*norm_based, "num_parameters"]],
            n_boot=n_boot, seed=0).set_index("b")
    lows = (out["diffs"]["low"] if out["diffs"] is not None
            else pd.Series(np.nan, index=[*norm_based, "num_parameters"]))
    k = rank.conditional_independence_all(t, signs, "gap", varied, n_boot=1,
                                          seed=0).set_index("measure")["value"]
    out.update(
        sharpness_above_norms=bool((lows[norm_based] > 0).all()),
        sharpness_above_params=bool(lows["num_parameters"] > 0),
        pac_bayes_mag=bool(psi.loc["pac_bayes_mag_sharpness", "low"] > 0
                           and psi_rank["pac_bayes_mag_sharpness"] <= TOP),
        spectral_negative=bool(
            psi.loc["log_spectral_norm_product", "high"] < 0),
        steps=bool(psi.loc["steps_to_loss_0.1", "low"] > 0
                   and tau.loc["steps_to_loss_0.1", "low"] > 0),
        k_max=float(k.max()), k_sharp=float(k[sharpness].max()),
        k_sharp_argmax=(k[sharpness].idxmax()
                        if k[sharpness].notna().any() else None))
    return out


start = time.perf_counter()
observed = scorecard_tests(configs, cfg.n_boot)
# one permuted zoo per task, spread over the cores like the sweeps
null = Parallel(n_jobs=N_JOBS)(
    delayed(scorecard_tests)(rank.permute_measures(configs, NAMES, seed=i),
                             NULL_BOOT) for i in range(cfg.null_permutations))
# K's row is a permutation test: the best sharpness measure's K against the
# 95th percentile of the largest K of any measure in the permuted zoos
k_threshold = float(np.quantile([n["k_max"] for n in null], 0.95))
for result in [observed, *null]:
    result["k_sharpness"] = bool(result["k_sharp"] > k_threshold)
ROWS = ["sharpness_above_norms", "pac_bayes_mag", "k_sharpness",
        "spectral_negative", "sharpness_above_params", "steps"]
null_rate = {row: float(np.mean([n[row] for n in null])) for row in ROWS}
print(f"null: {cfg.null_permutations} permuted zoos in "
      f"{time.perf_counter() - start:.0f} s; every row holds in at most 10% of "
      f"them: {max(null_rate.values()) <= 0.10}")
pd.Series(null_rate, name="fraction of permuted zoos in which the row holds")

# %%
def null_text(row: str) -> str:
    hits = int(round(null_rate[row] * cfg.null_permutations))
    return (f"held in {hits} of {cfg.null_permutations} zoos with the measures "
            f"permuted across configurations ({100 * null_rate[row]:.0f}%)")


def diff_text(m: str) -> str:
    d = observed["diffs"].loc[m]
    return f"{labels[m]}: {interval_text(d['value'], d['low'], d['high'])}"


best_sharp = observed["best_sharp"]
diff_all = ("; ".join(diff_text(m) for m in norm_based)
            if best_sharp else "no sharpness measure ranks anything")
claims = [
    Claim(claim="Sharpness beats the norms: the best sharpness measure's Ψ "
                "exceeds every norm-based measure's (paired 95% interval of "
                "the difference above 0 for all of them)",
          paper="sharpness and PAC-Bayes measures rank best; norm-based "
                "measures perform poorly",
          measured=(f"best sharpness measure: {labels[best_sharp]}; Ψ minus "
                    f"each norm-based measure's: {diff_all}")
          if best_sharp else diff_all,
          held=observed["sharpness_above_norms"],
          test=f"held if the lower end of the paired bootstrap interval of "
               f"Ψ(best sharpness) − Ψ(norm) is above 0 for all "
               f"{len(norm_based)} norm-based measures; the best of the four "
               "sharpness measures is chosen in the run, and again in each "
               "permuted zoo",
          interval=diff_all, null=null_text("sharpness_above_norms")),
    Claim(claim=f"The magnitude-aware PAC-Bayes sharpness is among the best "
                f"measures: Ψ > 0 (95% interval above 0) and in the top "
                f"quarter by Ψ (rank <= {TOP} of {len(NAMES)})",
          paper="pacbayes.mag.flatness is among the best measures",
          measured=psi_text("pac_bayes_mag_sharpness"),
          held=observed["pac_bayes_mag"],
          test=f"held if the lower end of the 95% bootstrap interval of its Ψ "
               f"is above 0 and it ranks among the top {TOP} by Ψ",
          interval=psi_text("pac_bayes_mag_sharpness"),
          null=null_text("pac_bayes_mag")),
    Claim(claim="A sharpness measure's relation to the gap survives "
                "conditioning on the hyperparameters: its K is larger than "
                "chance gives any measure",
          paper="Jiang et al. propose K to test whether a measure's relation "
                "to the gap survives conditioning on the hyperparameters; "
                "sharpness measures rank best",
          measured=(f"largest K of a sharpness measure: "
                    f"{labels[observed['k_sharp_argmax']]}, K = "
                    f"{observed['k_sharp']:.2f}; 95th percentile of the "
                    f"largest K of any measure in the permuted zoos: "
                    f"{k_threshold:.2f}")
          if observed["k_sharp_argmax"] else "no sharpness measure has a K",
          held=observed["k_sharpness"],
          test="held if the best of the four sharpness measures by K exceeds "
               "the 95th percentile of the largest K over all measures in the "
               "permuted zoos (a permutation test at level 5%; the threshold "
               "comes from the same permutations, so the null rate below is "
               "at most 5% by construction)",
          null=null_text("k_sharpness")),
    Claim(claim="The spectral-norm product correlates *negatively* with the "
                "gap (Ψ < 0, 95% interval below 0)",
          paper="spectral-norm measures fail, often with a negative "
                "correlation",
          measured=psi_text("log_spectral_norm_product"),
          held=observed["spectral_negative"],
          test="held if the upper end of the 95% bootstrap interval of its Ψ "
               "is below 0; 'fails' alone (an interval that includes 0) would "
               "hold for a measure of pure noise, so the row tests the "
               "negative sign",
          interval=psi_text("log_spectral_norm_product"),
          null=null_text("spectral_negative")),
    Claim(claim="The parameter count ranks below the best sharpness measure "
                "(paired 95% interval of the Ψ difference above 0)",
          paper="the number of parameters does not predict generalization "
                "(Zhang et al. 2017; Jiang et al. 2020)",
          measured=(f"{psi_text('num_parameters')}; Ψ({labels[best_sharp]}) "
                    f"− Ψ(parameter count) = "
                    + interval_text(*observed["diffs"].loc[
                        "num_parameters", ["value", "low", "high"]]))
          if best_sharp else psi_text("num_parameters"),
          held=observed["sharpness_above_params"],
          test="held if the lower end of the paired interval is above 0: the "
               "claim that a measure fails is tested against one that works, "
               "since a measure of pure noise also 'fails'",
          null=null_text("sharpness_above_params")),
    Claim(claim="An optimization measure predicts the gap: more SGD steps to "
                "reach cross-entropy 0.1, a larger gap (Ψ and the overall τ "
                "both > 0, 95% intervals above 0)",
          paper="Jiang et al. include optimization-based measures (steps to "
                "reach a training loss) among their candidates",
          measured=f"{psi_text('steps_to_loss_0.1')}; overall τ = "
                   + interval_text(*ci.loc[("steps_to_loss_0.1", "tau"),
                                           ["value", "low", "high"]]),
          held=observed["steps"],
          test="held if the lower ends of the 95% bootstrap intervals of both "
               "its Ψ and its overall τ are above 0: a step count that rises "
               "with the gap along some hyperparameters and falls along "
               "another (the batch size sets the steps per epoch) does not "
               "predict it",
          interval=psi_text("steps_to_loss_0.1"), null=null_text("steps")),
]
scorecard(claims, SCALE, chapter=6)

# %% tags=remove-cell
glue("ch6_null_permutations", cfg.null_permutations)

# %% [markdown]
# ## Summary
#
# One zoo, nineteen measures, {glue:text}`ch6_n_seeds` seeds, three scores.
# Kendall's $\tau$ over the configurations, the granulated $\psi_i$ along each hyperparameter and Jiang et al.'s conditional-independence score $K$ put the measures of the five papers, Jiang et al.'s own and the classical baselines side by side, each with a bootstrap interval.
# The best granulated score belongs to {glue:text}`ch6_best`.
# The ranking is a property of the zoo as much as of the measures: the same code, pointed at a different grid or data set with the `paper` profile, can and should be expected to reorder the middle of the table, and the intervals, the worst cases and the seed-to-seed comparison say how far to trust each position.
# What carries over from Jiang et al.'s much larger study is the method: train to a common criterion, vary one thing at a time, rank rather than fit, condition on the hyperparameters, and report the uncertainty and the null.

# %% [markdown]
# ## Exercises
#
# 1. **One $\tau$ can hide a confound.** Compute Kendall's $\tau$ of the parameter count against the gap separately within each depth (`configs[configs.depth == d]`), and then within each width. Compare them with the overall $\tau$ and with $\psi$ for width and depth in the table. Why can these numbers differ so much, when all of them ask whether more parameters mean a larger gap?
#
# :::{admonition} Solution
# :class: dropdown
# `for d, g in configs.groupby("depth"): print(d, rank.kendall_tau(g.num_parameters, g.gap))`, and the same with `"width"`.
# Within one depth the parameter count varies only with the width, but each pair of configurations compared there may also differ in the learning rate, the batch size and the weight decay, which the parameter count cannot see and which can move the gap more than the width does (Experiment 1 prints how much each hyperparameter moves it).
# $\psi$ for width compares only configurations that differ in width *alone*, so nothing else moves their gaps.
# The overall $\tau$ also counts the pairs with equal depth and width as ties (0): count them (`configs.groupby(["depth", "width"]).size()`) to see how much of the difference they explain.
# Jiang et al.'s lesson is that a correlation over a zoo mixes every hyperparameter's effect; the granulated score isolates one at a time, and $K$ asks what is left once any two are known.
# :::
#
# 2. **How much noise is "sharp"?** Jiang et al. tolerate an increase of 0.1 in the training error. Rebuild the models with the smallest and the largest gap with `train.run(point["run"])`, and compute `landscape.pac_bayes_sigma(model, X, y, max_deviation=d, magnitude_aware=True)` for `d` in 0.02, 0.05, 0.1 and 0.2 on the first `cfg.measure_samples` training samples. Does the order of the two models depend on `d`?
#
# :::{admonition} Solution
# :class: dropdown
# ```python
# from helpers import data
# from helpers.metrics import landscape
# dataset = data.load_dataset(cfg.dataset, n_train=cfg.n_train, n_test=cfg.n_test)
# X, y = dataset.x_train[:cfg.measure_samples], dataset.y_train[:cfg.measure_samples]
# for i in (table.gap[table.reached].idxmin(), table.gap[table.reached].idxmax()):
#     model = train.run(points[i]["run"]).model
#     print(table.gap[i], [landscape.pac_bayes_sigma(model, X, y, max_deviation=d, magnitude_aware=True).sigma
#                          for d in (0.02, 0.05, 0.1, 0.2)])
# ```
# Look first at whether $\sigma'$ grows with the tolerated deviation for both models, as it should if more noise is needed to do more damage.
# Then look at whether their order is the same at every `d`: a measure whose ranking flips with an arbitrary threshold is fragile, and the threshold is one of the choices a study like this must fix in advance.
# :::
#
# 3. **Your own measure.** Jiang et al. also divide the path norm by the squared margin. Declare it as a `zoo.Measure` (its `compute` receives a `zoo.MeasureContext`, whose `margin` is the 10th-percentile margin and whose `model` is the trained network), take it on every model of complete configurations, average it over the seeds and rank it with `rank.rank_measures` and `rank.conditional_independence_all`. Where does it land, and does dividing by the margin help the path norm?
#
# :::{admonition} Solution
# :class: dropdown
# ```python
# import math
# from helpers.metrics import norms
#
# path_over_margin = zoo.Measure(
#     name="log_path_over_margin", label="log path norm / margin²", source="Jiang et al. 2020",
#     sign=+1, family="norm", axis="linear", description="log path norm - 2 log margin",
#     compute=lambda c: norms.log_path_norm(c.model) - 2 * math.log(max(c.margin, zoo.MARGIN_FLOOR)))
# keep = table.index[table.reached]
# values = [zoo.measure_model(train.run(points[i]["run"]), cfg.settings(), [path_over_margin])[0]
#           ["log_path_over_margin"] for i in keep]
# mine = table.loc[keep].assign(log_path_over_margin=values)
# mine = mine.groupby(HYPERPARAMETERS, as_index=False)[["gap", "log_path_over_margin"]].mean()
# print(rank.rank_measures(mine, {"log_path_over_margin": 1}, "gap", varied))
# print(rank.conditional_independence_all(mine, {"log_path_over_margin": 1}, "gap", varied))
# ```
# This retrains every model (about as long as the zoo took). Compare its $\psi$ row and its $K$ with the path norm's. Dividing by the margin is meant to remove the effect of the output's scale (multiplying the last layer by $c$ multiplies both the path norm and the margin by $c$; `tests/test_zoo.py` checks this for the spectral and Frobenius ratios); whether what remains predicts the gap better is what the row shows.
# :::
#
# 4. **Label noise as a sixth hyperparameter.** Jiang et al. kept their labels clean. Add label noise as a sixth axis, `points_noisy = [cfg.point(seed=s, label_noise=q, **h) for s in cfg.seeds for h in cfg.grid() for q in (0.0, 0.1)]`, train it with `sweep.run_sweep(zoo.train_and_measure, points_noisy, "measure-zoo", n_jobs=settings.sweep_jobs())` (the clean half is already cached: its points are the zoo's own), and rank with `varied + ["label_noise"]`. What happens to the number of models that reach the target, to the gaps, and to the ranking?
#
# :::{admonition} Solution
# :class: dropdown
# What to look for: to reach cross-entropy 0.01 on noisy labels a network must memorize the corrupted ones (Chapter 1), so count how many more epochs the noisy models take and how many hit `max_epochs` and drop out (raise it in the points if too many do).
# Compare the gaps of the clean and noisy models: the noisy ones' train accuracy counts the memorized wrong labels, so expect their gap to grow, and check by how much.
# Then compare each measure's $\psi$ for label noise with its $\psi$ for the other five hyperparameters: a measure can track memorization and still fail on the learning rate or the batch size, and a single overall $\tau$ on such a zoo would not show it.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
