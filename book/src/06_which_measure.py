# %% [markdown]
# # 6. Which measure predicts generalization?
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/06_which_measure.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - build a model zoo on a grid of hyperparameters, trained to one stopping criterion, with a cached sweep that runs in parallel;
# - compute every measure of Chapters 2–5, Jiang et al.'s sharpness measures and four norm-based baselines on each model of the zoo;
# - rank a measure against the generalization gap with Kendall's $\tau$ and with Jiang et al.'s granulated $\psi$, and put a bootstrap confidence interval on each;
# - say which measures this zoo supports, where that agrees with the large study of Jiang et al., and why a single correlation can mislead.
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

from helpers import plots, scale, settings, sweep, train, zoo
from helpers.metrics import rank
from helpers.report import Claim, fmt_pct, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.measure_zoo(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
points = cfg.points()
DEVICE = train.pick_device()
print(f"{cfg.scale} scale: {cfg.dataset}, {cfg.architecture}, "
      f"zoo of {len(points)} models | device: {DEVICE}")

# %% [markdown]
# ## Experiment 1: the zoo
#
# The zoo is the full grid of five hyperparameters: the depth (hidden layers), the width (units per hidden layer), the learning rate, the batch size and the weight decay.
# Every model is trained with SGD (momentum 0.9, constant learning rate) from the same seed until its training cross-entropy falls to {glue:text}`ch6_target`, the criterion of Jiang et al.: the models then fit their training set equally well, and what differs between them is how they got there.
# A model still above the target after {glue:text}`ch6_max_epochs` epochs is left out, as in Jiang et al.
# Only the first layer has a bias, so that the normalized loss of Chapter 2 is defined for every model.

# %%
grid = pd.DataFrame({"depth": [cfg.depths], "width": [cfg.widths],
                     "learning rate": [cfg.lrs],
                     "batch size": [cfg.batch_sizes],
                     "weight decay": [cfg.weight_decays]},
                    index=["values"]).T
grid["count"] = grid["values"].map(len)
grid

# %% tags=remove-cell
glue("ch6_target", f"{cfg.target_train_loss:g}")
glue("ch6_max_epochs", cfg.max_epochs)

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
reached = table[table["reached"]].reset_index(drop=True)
left_out = table[~table["reached"]]
print(f"{len(reached)} of {len(table)} models reached the target; "
      f"left out: {len(left_out)}")
# a fixed one has no ψ
varied = [h for h in zoo.HYPERPARAMETERS if reached[h].nunique() > 1]
print("hyperparameters varied among them:", varied)
left_out[list(zoo.HYPERPARAMETERS) + ["stop_reason", "epochs", "train_loss"]]

# %% [markdown]
# Training to the same loss takes very different times: the epochs range over {glue:text}`ch6_epoch_range`.
# Every model fits its training set (train accuracy at least {glue:text}`ch6_min_train_acc`), and test accuracy ranges from {glue:text}`ch6_test_range`, so the gap is almost the test error.
# The panels below show how the gap depends on each hyperparameter on its own, each dot one model.

# %%
if len(reached) < 2:
    raise RuntimeError(f"only {len(reached)} models reached the target: "
                       "nothing to rank. "
                       "Raise max_epochs or the target loss in the profile.")
fig, axes = plt.subplots(1, len(zoo.HYPERPARAMETERS), figsize=(13, 2.8),
                         sharey=True)
for ax, h in zip(axes, zoo.HYPERPARAMETERS):
    sns.stripplot(data=reached, x=h, y="gap", ax=ax, color="C0", size=4,
                  jitter=0.2)
    sns.pointplot(data=reached, x=h, y="gap", ax=ax, color="C3",
                  errorbar=None, markers="_", linestyles="-")
    ax.set_title(h.replace("_", " "))
    ax.set_xlabel("")
axes[0].set_ylabel("generalization gap (train − test accuracy)")
fig.suptitle("The zoo: the gap of each model, by each hyperparameter "
             "(red: the mean)", y=1.04)
plt.show()

# %% tags=remove-cell
glue("ch6_epoch_range",
     f"{reached['epochs'].min()} to {reached['epochs'].max()}")
glue("ch6_min_train_acc", fmt_pct(reached["train_acc"].min()))
glue("ch6_test_range",
     f"{fmt_pct(reached['test_acc'].min())} to "
     f"{fmt_pct(reached['test_acc'].max())}")

# %% [markdown]
# **How much of a gap is noise?**
# Every model above has seed 0.
# Retraining the {glue:text}`ch6_noise_configs` models of the first depth and width with other seeds (the same hyperparameters, another initialization and batch order) shows how far the gap moves by chance alone, which is the floor under every difference the ranking below has to explain.

# %%
noise_points = cfg.noise_points()
noise_results = sweep.run_sweep(zoo.train_and_measure, noise_points,
                                "measure-zoo", n_jobs=N_JOBS)
# the seed-0 models of the same configurations, already in the zoo
twins = cfg.noise_twins()
repeats = zoo.zoo_table([points[i] for i in twins] + noise_points,
                        [results[i] for i in twins] + noise_results)
repeats = repeats[repeats["reached"]]
pretty = {"depth": "depth", "width": "width", "lr": "learning rate",
          "batch_size": "batch size", "weight_decay": "weight decay"}


def mean_abs_difference(gaps: pd.Series) -> float:
    """Mean |g_a - g_b| over the pairs of models in one group (NaN for a
    group of one)."""
    g = gaps.to_numpy()
    pairs = np.abs(g[:, None] - g[None, :])[np.triu_indices(len(g), 1)]
    return float(pairs.mean()) if len(pairs) else np.nan


def gap_effect(h: str) -> float:
    """Mean |change of the gap| between models that differ only in h, at
    neighbouring values of h."""
    others = [o for o in varied if o != h]
    pivot = (reached.pivot_table(index=others, columns=h, values="gap")
             if others else reached.groupby(h)["gap"].mean().to_frame().T)
    return float(pivot.diff(axis=1).abs().stack().mean())


seed_noise = (repeats.groupby(list(zoo.HYPERPARAMETERS))["gap"]
              .apply(mean_abs_difference).dropna())
effects = {h: gap_effect(h) for h in varied}
if len(seed_noise) == 0:
    noise_sentence = ("No configuration reached the target with more than "
                      "one seed, so the seed noise is not measured here.")
else:
    noise = float(seed_noise.mean())
    weak = [pretty[h] for h in varied if effects[h] < 2 * noise]
    noise_sentence = (
        f"Two seeds of the same configuration differ in their gap by "
        f"{100 * noise:.2f} points on average ({len(seed_noise)} "
        f"configurations, {repeats['seed'].nunique()} seeds); changing one "
        f"hyperparameter alone changes it by "
        + ", ".join(f"{100 * effects[h]:.2f} ({pretty[h]})" for h in varied)
        + ". "
        + (f"Along the {' and the '.join(weak)}, the differences a measure "
           f"must rank are less than twice the seed noise ({200 * noise:.2f} "
           "points), "
           + ("so that ψ column ranks" if len(weak) == 1
              else "so those ψ columns rank")
           + " noise nearly as much as signal." if weak else
           "Every hyperparameter moves the gap by at least twice the seed "
           "noise."))
glue("ch6_noise_configs", len(twins))
glue("ch6_noise_sentence", noise_sentence)
print(noise_sentence)

# %% [markdown]
# {glue:text}`ch6_noise_sentence`

# %% [markdown]
# ## Experiment 2: fourteen measures on every model
#
# After training, `zoo.measure_model` takes every measure on the trained network.
# Those of Chapters 2–5 come from the same `helpers.metrics` functions those chapters use.
# The PAC-Bayesian sharpness is Jiang et al.'s `pacbayes.flatness` {cite}`dziugaite2017computing,neyshabur2017exploring`: the largest $\sigma'$ such that adding Gaussian noise $\mathcal{N}(0, \sigma'^2)$ to every weight raises the training error by at most 0.1 on average, reported as $1/\sigma'^2$ (`landscape.pac_bayes_sigma` finds $\sigma'$ by bisection on $\log\sigma$, reusing the same noise draws at every $\sigma$); the magnitude-aware version scales each weight's noise with the weight.
# The worst-case sharpness is their `sharpness-orig` and `sharpness.mag`, after Keskar et al. {cite}`keskar2017large`: the largest $\alpha'$ such that the *worst* perturbation in the box $|u_i| \le \alpha'$ raises the training error by at most 0.1, reported as $1/\alpha'^2$; `landscape.worst_case_alpha` looks for the worst perturbation with ten steps of projected gradient ascent on the training loss. Its magnitude-aware version here uses the box $|u_i| \le \alpha' (|w_i| + 10^{-3})$, relative to each weight (a box $\alpha' |w_i| + 10^{-3}$ would not shrink to nothing: on the sharpest models of this zoo, trained with the smaller learning rate and the larger batch, the worst perturbation within $\pm 10^{-3}$ on every weight alone raised the training error by 13 to 57 points when this measure was written, a check on an earlier run that this page does not repeat, so $\alpha'$ would not exist).
# Four baselines complete the list: the parameter count, the distance from initialization {cite}`nagarajan2019generalization`, the product of the layers' squared spectral norms {cite}`bartlett2017spectrally` and the path norm {cite}`neyshabur2015norm` (`helpers.metrics.norms`).
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
      f"{cfg.n_directions * len(details)}")
measure_seconds = pd.DataFrame([r.measure_seconds for r in results
                                if r.reached])
measures = pd.DataFrame([
    {"measure": m.label, "source": m.source,
     "claimed direction": ("larger, larger gap" if m.sign > 0
                           else "larger, smaller gap"),
     "computed as": m.description,
     "seconds per model": measure_seconds[m.name].mean()}
    for m in zoo.MEASURES])
measures.style.format({"seconds per model": "{:.2f}"}).hide(axis="index")

# %% [markdown]
# Each panel plots one measure against the gap, one dot per model, coloured by depth.
# A measure that predicts as claimed makes a cloud that rises to the right (or falls, for the two measures claimed to shrink with the gap: GSNR and basin radius).
# The title gives Kendall's $\tau$ of the oriented measure.

# %%
signs = {m.name: m.sign for m in zoo.MEASURES}
ncols = 4
fig, axes = plt.subplots(int(np.ceil(len(zoo.MEASURES) / ncols)), ncols,
                         figsize=(13, 9))
for ax, m in zip(axes.flat, zoo.MEASURES):
    for (depth, group), color in zip(
            reached.groupby("depth"),
            sns.color_palette("viridis", reached["depth"].nunique())):
        ax.scatter(group[m.name], group["gap"], s=14, color=color,
                   label=f"depth {depth}")
    constant = reached[m.name].nunique() < 2  # orders no pair: no tau
    tau = (None if constant else
           rank.kendall_tau(m.sign * reached[m.name], reached["gap"]))
    ax.set_title(f"{m.label}\n" + ("constant: no τ" if constant
                                     else f"τ = {tau:+.2f}"), fontsize=9)
    ax.set_xscale(m.axis)
    # log axes: label the decades only
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.tick_params(labelsize=7)
for ax in axes[:, 0]:
    ax.set_ylabel("gap")
for ax in axes.flat[len(zoo.MEASURES):]:
    ax.set_visible(False)
axes.flat[0].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Experiment 3: the ranking
#
# `rank.rank_measures` computes, for every measure, Kendall's $\tau$ over the zoo, $\psi_i$ for each of the five hyperparameters and their mean $\Psi$.
# The confidence intervals come from {glue:text}`ch6_n_boot` bootstrap resamples of the models, every statistic recomputed on each resample; they are 95% percentile intervals.
# With {glue:text}`ch6_num_reached` models, and groups of two or three models behind each $\psi_i$, they are wide: read differences between measures in the light of them.

# %%
ranking = rank.rank_measures(reached, signs, "gap", varied, n_boot=cfg.n_boot,
                             seed=cfg.seed)
labels = {m.name: m.label for m in zoo.MEASURES}
statistics = ["tau", *varied, "Psi"]
value = ranking.pivot(index="measure", columns="statistic",
                      values="value")[statistics]
order = value.sort_values("Psi", ascending=False).index
value = value.loc[order]
with_ci = ranking.assign(text=[
    f"{v:+.2f} [{lo:+.2f}, {hi:+.2f}]"
    for v, lo, hi in zip(ranking["value"], ranking["low"], ranking["high"])])
ranking_table = with_ci.pivot(index="measure", columns="statistic",
                              values="text").loc[order, statistics]
ranking_table.index = [labels[m] for m in ranking_table.index]
ranking_table.columns = ["τ (all models)",
                         *[f"ψ {h.replace('_', ' ')}" for h in varied], "Ψ"]
ranking_table

# %% tags=remove-cell
glue("ch6_n_boot", cfg.n_boot)
glue("ch6_num_reached", len(reached))

# %% [markdown]
# The heat map shows the same numbers without the intervals, the measures sorted by $\Psi$: blue cells are hyperparameters along which the measure moves with the gap, red cells those along which it moves against it.
# The interval plot beside it shows $\Psi$ and the overall $\tau$ with their 95% intervals.
# A blank cell would be a statistic with no group to compute it from.

# %%
fig, (ax_heat, ax_ci) = plt.subplots(1, 2, figsize=(13, 5.2),
                                     gridspec_kw={"width_ratios": [1.6, 1]})
shown = value.rename(index=labels, columns={"tau": "τ", "Psi": "Ψ"})
sns.heatmap(shown, ax=ax_heat, cmap="RdBu", center=0, vmin=-1, vmax=1,
            annot=True, fmt="+.2f", annot_kws={"fontsize": 8},
            cbar_kws={"label": "Kendall τ / ψ"}, mask=~np.isfinite(shown))
ax_heat.set_xlabel("")
ax_heat.set_ylabel("")
ax_heat.set_xticklabels([t.get_text().replace("_", " ")
                         for t in ax_heat.get_xticklabels()],
                        rotation=30, ha="right")
ci = ranking.set_index(["measure", "statistic"])
for offset, (stat, color, name) in enumerate((("Psi", "C0", "Ψ"),
                                               ("tau", "C1", "τ"))):
    rows = ci.xs(stat, level="statistic").loc[order]
    y = np.arange(len(order)) + 0.5 + (offset - 0.5) * 0.25
    # a percentile interval need not contain the point estimate:
    # draw it as a segment
    ax_ci.hlines(y, rows["low"], rows["high"], color=color, lw=1.5)
    ax_ci.plot(rows["value"], y, "o", color=color, label=name, markersize=4)
ax_ci.axvline(0, color="grey", lw=0.8)
ax_ci.set_ylim(len(order), 0)
ax_ci.set_yticks(np.arange(len(order)) + 0.5, [labels[m] for m in order],
                 fontsize=8)
ax_ci.set_xlabel("value with 95% bootstrap interval")
ax_ci.legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What the ranking says
#
# The numbers first; the cell below (click to show its code) writes these sentences from the ranking.
#
# {glue:text}`ch6_best_sentence`
# {glue:text}`ch6_pacbayes_sentence`
# {glue:text}`ch6_gsnr_sentence`
# {glue:text}`ch6_hessian_sentence`
# {glue:text}`ch6_norm_sentence`
# {glue:text}`ch6_params_sentence`
# {glue:text}`ch6_normalized_sentence`
# {glue:text}`ch6_split_sentence`

# %% tags=hide-input
psi = value["Psi"]
rank_of = {m: i + 1 for i, m in enumerate(order)}
ci_psi = ci.xs("Psi", level="statistic")
# Jiang et al.'s PAC-Bayes and worst-case measures
sharpness = zoo.family("sharpness")
norm_based = zoo.family("norm")
# how the models were trained, at fixed architecture
knobs = [h for h in ("lr", "batch_size") if h in varied]
best = order[0]


def stats(m: str) -> str:
    """'Ψ = +0.31 [+0.10, +0.50], rank 2 of 12' for the prose."""
    row = ci_psi.loc[m]
    return (f"Ψ = {row['value']:+.2f} "
            f"[{row['low']:+.2f}, {row['high']:+.2f}], "
            f"rank {rank_of[m]} of {len(order)}")


def describe(m: str) -> str:
    return f"the {labels[m]} ({stats(m)})"


def excludes_zero(m: str) -> bool:
    return bool(ci_psi.loc[m, "low"] > 0 or ci_psi.loc[m, "high"] < 0)


def psi_list(m: str, hs) -> str:
    """'ψ = -0.88 for depth and +0.92 for width' over the
    hyperparameters hs."""
    return "ψ = " + " and ".join(f"{value.loc[m, h]:+.2f} for {pretty[h]}"
                                 for h in hs)


sharp_best = min(sharpness, key=rank_of.get)
architecture = [h for h in ("depth", "width") if h in varied]
hessian_worst = value.loc["hessian_top_eigenvalue", varied].idxmin()
sentences = {
    "best": f"The best granulated score belongs to {describe(best)}; "
            + ("its interval excludes zero" if excludes_zero(best)
               else "even its interval includes zero")
            + (f". The {labels[order[1]]} is level with it "
               f"(Ψ = {psi[order[1]]:+.2f}), and the intervals of the two "
               "overlap: this zoo cannot tell them apart."
               if abs(psi[order[1]] - psi[best]) < 0.05 else "."),
    "pacbayes": f"Of Jiang et al.'s favourites, the four sharpness measures, "
                f"the best here is {describe(sharp_best)}; the others rank "
                + ", ".join(f"{rank_of[m]} ({labels[m]})"
                            for m in sorted(sharpness, key=rank_of.get)
                            if m != sharp_best) + ".",
    "gsnr": f"For the gradient signal-to-noise ratio of Chapter 3 (oriented "
            f"so that more signal predicts a smaller gap) the ranking gives "
            f"{describe('mean_gsnr')}"
            + (", clear of zero." if excludes_zero("mean_gsnr")
               else ", an interval that still includes zero."),
    "norm": "The norm-based measures rank "
            + ", ".join(str(rank_of[m])
                        for m in sorted(norm_based, key=rank_of.get))
            + f" of {len(order)}"
            + (f"; along the training knobs "
               f"({' and '.join(pretty[h] for h in knobs)}) their mean ψ is "
               f"{value.loc[norm_based, knobs].to_numpy().mean():+.2f}, "
               f"against {value.loc[sharpness, knobs].to_numpy().mean():+.2f}"
               f" for the {len(sharpness)} sharpness measures."
               if knobs else "."),
    "params": f"The parameter count has an overall τ of "
              f"{value.loc['num_parameters', 'tau']:+.2f}"
              + (f" and {psi_list('num_parameters', architecture)}"
                 if architecture else "")
              + f"; it does not change when only the learning rate, the "
              f"batch size or the weight decay does, so its ψ for those is "
              f"exactly 0 and its Ψ is {psi['num_parameters']:+.2f}.",
    "hessian": f"The classical sharpness of Chapter 4, the top Hessian "
               f"eigenvalue, scores {stats('hessian_top_eigenvalue')}; its "
               f"worst column is the {pretty[hessian_worst]} (ψ = "
               f"{value.loc['hessian_top_eigenvalue', hessian_worst]:+.2f})"
               + (": the top eigenvalue depends on how a function is "
                  "parametrized, not only on the function (Dinh et al. 2017 "
                  "rescale a ReLU network to make it as sharp as they like "
                  "without changing what it computes), and the architecture "
                  "changes the parametrization."
                  if hessian_worst in ("depth", "width") else "."),
    "normalized": f"Chapter 2's normalized train loss scores "
                  f"{stats('normalized_train_loss')}"
                  + (f", with {psi_list('normalized_train_loss', ['depth'])}."
                     if "depth" in varied else "."),
}
consistent = [labels[m] for m in order if (value.loc[m, varied] > 0).all()]
sentences["split"] = (
    "No measure has a positive ψ for every hyperparameter." if not consistent
    else f"Only the {' and the '.join(consistent)} "
         f"{'has' if len(consistent) == 1 else 'have'} a positive ψ "
         "for every hyperparameter.")
gap_by = {h: reached.groupby(h)["gap"].mean() for h in knobs}
sentences["knob"] = ("In this zoo the mean gap is " + ", and ".join(
    " and ".join(f"{100 * g:.1f} points at {pretty[h]} {v:g}"
                 for v, g in gap_by[h].items())
    for h in knobs) + "."
    if knobs else
    "The learning rate and the batch size do not vary in this zoo.")
against = [pretty[h] for h in varied
           if value.loc["normalized_train_loss", h] < 0]
spread_nl = reached["normalized_train_loss"]
sentences["normalized_detail"] = (
    f"In this zoo its values span only {spread_nl.min():.4f} to "
    f"{spread_nl.max():.4f} (ln 10 = {np.log(10):.4f}), and its ψ is "
    f"negative along {len(against)} of the {len(varied)} hyperparameters "
    f"varied ({', '.join(against) if against else 'none'})"
    + (": here it ranks the models the wrong way round not only across "
       "depths but also within one architecture."
       if set(against) & {"learning rate", "batch size", "weight decay"}
       else "."))
for name, text in sentences.items():
    glue(f"ch6_{name}_sentence", text)
    print(text)

# %% [markdown]
# **Why the norms fail here.**
# {glue:text}`ch6_knob_sentence`
# A larger learning rate and a smaller batch make SGD take larger and noisier steps, which carry the weights further from their initialization and usually make them larger.
# A norm reads that as *more* complexity; so wherever those two knobs *shrink* the gap, as Keskar et al. {cite}`keskar2017large` and Jiang et al. report (the numbers just above say whether they do in this zoo), a norm ranks the models backwards along them.
# The perturbation measures read the same runs the other way: larger, noisier steps settle in minima where the training error survives larger weight noise, which is Keskar et al.'s {cite}`keskar2017large` account of the batch-size effect and the intuition behind the PAC-Bayesian bounds {cite}`dziugaite2017computing`.
# Scaling the noise to each weight, as the magnitude-aware versions do and as the filter-normalized directions of the basin radius do, matters across widths: a wider layer is initialized with smaller weights (variance proportional to 1 / fan-in), so isotropic noise of a given $\sigma$ is relatively larger there and makes a wider network look sharper, whatever its gap.
# Compare the isotropic and the magnitude-aware rows in the width column: relative noise changes the width's ψ, and the table says by how much, and whether it changes its sign, for the PAC-Bayes and for the worst-case version.
# Relative noise is also nearly blind to rescaling a ReLU layer by $c$ and the next by $1/c$, which changes neither the function nor the gap but changes isotropic sharpness at will {cite}`dinh2017sharp`.
#
# **What the normalized loss does and does not claim.**
# Liao et al.'s result (Chapter 2) is a linear relation between the normalized train and test *losses* of networks of one architecture.
# Used as a predictor of the accuracy gap across a zoo, the normalized train loss has two handicaps here.
# Across depths the comparison is not like for like: the logits are divided by the product of all the layers' norms, one factor per layer, so a deeper network's normalized outputs sit closer to zero and its normalized loss closer to $\ln 10$, whatever its gap.
# And every model has been trained to the same train cross-entropy, so what is left of the normalized train loss is a small difference between nearly equal numbers.
# {glue:text}`ch6_normalized_detail_sentence`
#
# **Where this zoo agrees with Jiang et al., and where it cannot.**
# Their main zoo had 2,187 convolutional networks on CIFAR-10, seven hyperparameters with three values each, and 729 groups behind every $\psi_i$; {glue:text}`ch6_zoo_sentence`
# Three differences matter for reading the table.
# First, every model here fits its training set while its test accuracy ranges from {glue:text}`ch6_test_range`, so changing one hyperparameter moves the gap by a few points only, some of these changes no larger than the seed-to-seed noise measured in Experiment 1.
# Second, {glue:text}`ch6_architecture_sentence`
# Third, Jiang et al. state several measures with extra normalizations (by the margin, by the number of samples, as a full bound); our baselines are the plain norms.
# Where the two studies agree, the agreement holds across two very different zoos, which is evidence no single paper's experiment can give.
# Where they disagree, the table says which hyperparameter is responsible: a negative $\psi$ names it.
#
# **Correlation is not causation, and Jiang et al. test that too.**
# A measure can rank models well because it and the gap both follow a hyperparameter, without having anything to do with *why* the gap is what it is.
# The granulated $\psi_i$ guard against the crudest form of this, one hyperparameter driving both; Jiang et al. go further with a conditional-independence test, which needs a larger zoo than a CPU trains in minutes.

# %% [markdown]
# ## What a practitioner should take away
#
# - **Check a measure along each hyperparameter separately.** The overall $\tau$ is dominated by whichever hyperparameter moves the gap most; the granulated $\psi_i$ say whether the measure also works when you turn the knob *you* care about.
# - **Perturbation-based flatness is simple to compute.** The PAC-Bayesian sharpness needs only forward passes on training data with noisy weights, no second derivatives and no test set: {glue:text}`ch6_pacbayes_seconds` s per model here (the measure table compares its cost with the others'). On this zoo, {glue:text}`ch6_takeaway_flatness` (they took {glue:text}`ch6_worst_case_seconds` s per model).
# - **Do not trust a norm because it enters a bound.** The spectral-norm product and the path norm appear in generalization bounds, but a bound can be loose by orders of magnitude and still move the wrong way when the learning rate or the batch size changes; as predictors of the gap they must be tested like any other measure.
# - **Count parameters at your peril.** Every model here fits its training set; within that regime, {glue:text}`ch6_takeaway_params`.
# - **Report intervals.** With tens of models, a difference of 0.1 in $\tau$ is within the noise; the bootstrap intervals are the honest summary, and a larger zoo (the `paper` profile, or more seeds) is the way to narrow them. An interval of $[+1.00, +1.00]$ means only that every resample agreed, not that there is no uncertainty: with two models per group, a few groups decide a $\psi_i$.

# %% tags=remove-cell
glue("ch6_pacbayes_seconds",
     f"{measure_seconds['pac_bayes_sharpness'].mean():.1f}")
# full grid: models / values
group_counts = sorted({len(reached) // reached[h].nunique() for h in varied})
kind = "MLPs" if cfg.architecture == "mlp" else "convolutional networks"
samples = f"{cfg.n_train:,}" if cfg.n_train else "all the"
glue("ch6_zoo_sentence",
     f"this zoo has {len(reached)} {kind} trained on {samples} "
     f"{cfg.dataset} training samples, about "
     f"{' or '.join(map(str, group_counts))} groups behind each ψ, and its "
     "intervals are wide.")
glue("ch6_architecture_sentence",
     "the MLPs have no convolutions, batch normalization or dropout, so some "
     "of Jiang et al.'s hyperparameters have no counterpart here, and the "
     "spectral norm of a dense layer is the operator norm exactly (for a "
     "convolution the reshaped kernel only approximates it)."
     if cfg.architecture == "mlp" else
     "these networks have no batch normalization, dropout or residual "
     "connections, so some of Jiang et al.'s hyperparameters have no "
     "counterpart here, and the spectral norm of a convolution is "
     "approximated by that of its reshaped kernel, as Jiang et al. do.")
glue("ch6_takeaway_flatness",
     f"the magnitude-aware PAC-Bayes sharpness ranked "
     f"{rank_of['pac_bayes_mag_sharpness']} of {len(order)} and the "
     f"isotropic one {rank_of['pac_bayes_sharpness']}; the worst-case "
     f"versions, which need gradients, ranked "
     f"{rank_of['worst_case_mag_sharpness']} (magnitude-aware) and "
     f"{rank_of['worst_case_sharpness']}")
# a wall time: the one kind of glued value that varies from run to run
glue("ch6_worst_case_seconds",
     f"{measure_seconds['worst_case_sharpness'].mean():.1f}")
params_tau = value.loc["num_parameters", "tau"]
glue("ch6_takeaway_params",
     f"more parameters went with a smaller gap (τ = {params_tau:+.2f}), as "
     "Chapter 1 leads one to expect"
     if params_tau < 0 else
     f"more parameters went with a larger gap (τ = {params_tau:+.2f}), but "
     f"Ψ = {psi['num_parameters']:+.2f} says how little of that survives "
     "once depth and width are looked at apart")

# %% [markdown]
# ## Reproduction scorecard
#
# Each row is one of Jiang et al.'s findings, what this zoo measured, and whether the finding held here.
# The verdicts are computed from the ranking above, with the threshold stated in the claim.

# %%
from math import comb

third = int(np.ceil(len(order) / 3))
norm_ranks = sorted(rank_of[m] for m in norm_based)
# under a random ranking of the measures: how often would rows 1 and 4 pass?
n_measures, n_sharp = len(order), len(sharpness)
null_top_third = 1 - comb(n_measures - n_sharp, third) / comb(n_measures, third)
null_norms_below = n_sharp / (n_sharp + len(norm_based))
claims = [
    Claim(claim=f"A sharpness measure (PAC-Bayes or worst-case) ranks in the "
                f"top third by Ψ (rank <= {third})",
          paper="sharpness / PAC-Bayes measures rank best",
          measured=f"rank {rank_of[sharp_best]} ({labels[sharp_best]})",
          held=rank_of[sharp_best] <= third,
          test=f"held if the best of the {n_sharp} sharpness measures is "
               f"among the top {third} of {n_measures} by Ψ",
          null=f"a random ranking passes with probability {null_top_third:.2f} "
               f"(1 - C({n_measures - n_sharp}, {third}) / "
               f"C({n_measures}, {third})): "
               "this row tests little"),
    Claim(claim="Gradient noise predicts the gap (here the GSNR of Ch. 3, a "
                "proxy: Ψ > 0, interval above 0)",
          paper="gradient-noise measures do well", measured=stats("mean_gsnr"),
          held=bool(ci_psi.loc["mean_gsnr", "low"] > 0),
          test="held if the lower end of the 95% bootstrap interval of the "
               "GSNR's Ψ is above 0", interval=stats("mean_gsnr")),
    Claim(claim="The spectral-norm product fails "
                "(Ψ <= 0 or its interval includes 0)",
          paper="spectral norm fails, often negative",
          measured=stats("log_spectral_norm_product"),
          held=bool(ci_psi.loc["log_spectral_norm_product", "low"] <= 0),
          test="held if the lower end of the 95% bootstrap interval of its Ψ "
               "is at or below 0; a measure of pure noise passes it too",
          interval=stats("log_spectral_norm_product")),
    Claim(claim="Norm-based measures rank below sharpness "
                "(every one below the best sharpness measure)",
          paper="norm-based measures perform poorly",
          measured=f"norm-based ranks {norm_ranks}; "
                   f"best sharpness rank {rank_of[sharp_best]}",
          held=all(rank_of[m] > rank_of[sharp_best] for m in norm_based),
          test=f"held if all {len(norm_based)} norm-based measures rank "
               "below the best sharpness measure by Ψ",
          null=f"a random ranking passes with probability "
               f"{null_norms_below:.2f} "
               f"({n_sharp} / {n_sharp + len(norm_based)}: the best of these "
               f"{n_sharp + len(norm_based)} must be a sharpness measure)"),
    Claim(claim="The parameter count does not predict the gap (Ψ <= 0.1)",
          paper="number of parameters fails (Zhang et al. 2017)",
          measured=stats("num_parameters"),
          held=bool(psi["num_parameters"] <= 0.1),
          test="held if the parameter count's Ψ is at most 0.1; its ψ is "
               "exactly 0 for every hyperparameter that does not change the "
               "architecture",
          interval=stats("num_parameters")),
]
scorecard(claims, SCALE, chapter=6)

# %% [markdown]
# ## Summary
#
# One zoo, fourteen measures, one scale.
# Kendall's $\tau$ over the whole zoo, and the granulated $\psi_i$ along each hyperparameter, put the measures of the five papers and four classical baselines side by side, each with a bootstrap interval.
# {glue:text}`ch6_best_sentence`
# The ranking is a property of the zoo as much as of the measures: the same code, pointed at a different grid or data set with the `paper` profile, can and should be expected to reorder the middle of the table, and the intervals say how far to trust each position.
# What carries over from Jiang et al.'s much larger study is the method: train to a common criterion, vary one thing at a time, rank rather than fit, and report the uncertainty.

# %% [markdown]
# ## Exercises
#
# 1. **One $\tau$ can hide a confound.** Compute Kendall's $\tau$ of the parameter count against the gap separately within each depth (`reached[reached.depth == d]`), and then within each width. Compare them with the overall $\tau$ and with $\psi$ for width and depth in the table. Why can these numbers differ so much, when all of them ask whether more parameters mean a larger gap?
#
# :::{admonition} Solution
# :class: dropdown
# `for d, g in reached.groupby("depth"): print(d, rank.kendall_tau(g.num_parameters, g.gap))`, and the same with `"width"`.
# Within one depth the parameter count varies only with the width, but each pair of models compared there may also differ in the learning rate, the batch size and the weight decay, which the parameter count cannot see and which can move the gap more than the width does (Experiment 1 prints how much each hyperparameter moves it).
# $\psi$ for width compares only models that differ in width *alone*, so nothing else moves their gaps; that is why it can be far larger in size than the within-depth $\tau$.
# The overall $\tau$ also counts the pairs with equal depth and width as ties (0); in the small zoo those are 7 of each model's 47 partners, so the ties explain only a small part of the difference.
# The lesson is Jiang et al.'s: a correlation over a zoo mixes every hyperparameter's effect, and only the granulated score isolates one.
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
# for i in (reached.gap.idxmin(), reached.gap.idxmax()):
#     point = points[table.index[table.reached][i]]
#     model = train.run(point["run"]).model
#     print(reached.gap[i], [landscape.pac_bayes_sigma(model, X, y, max_deviation=d, magnitude_aware=True).sigma
#                            for d in (0.02, 0.05, 0.1, 0.2)])
# ```
# $\sigma'$ grows with the tolerated deviation for both models, since more noise is needed to do more damage.
# Whether their order is the same at every `d` is what to look for: a measure whose ranking flips with an arbitrary threshold is fragile, and the threshold is one of the choices a study like this must fix in advance.
# :::
#
# 3. **Your own measure.** Add a measure of your own to the ranking: the *margin* (the 10th percentile over training samples of the logit of the true class minus the largest other logit) divided by the square root of the product of the squared spectral norms, the normalization of Bartlett et al. {cite}`bartlett2017spectrally`. Compute it on every reached model, orient it (a larger normalized margin should mean a smaller gap) and rank it with `rank.rank_measures`. Where does it land?
#
# :::{admonition} Solution
# :class: dropdown
# ```python
# import math, torch
# from helpers import train
# from helpers.metrics import norms
#
# def normalized_margin(c):  # c: a zoo.MeasureContext (the run, its data, the settings)
#     with torch.no_grad():  # in chunks: at paper scale the train set is 50,000 images
#         logits = torch.cat([c.model.eval()(x) for x in c.x.split(4096)])
#     true = logits.gather(1, c.y[:, None])[:, 0]
#     other = logits.scatter(1, c.y[:, None], float("-inf")).max(1).values
#     spectral = norms.log_spectral_norm_product(c.model)
#     return torch.quantile(true - other, 0.1).item() / math.exp(spectral / 2)
#
# margin = zoo.Measure(name="normalized_margin", label="normalized margin", source="Bartlett et al. 2017",
#                      sign=-1, family="margin", axis="linear", description="10th-percentile margin / spectral product",
#                      compute=normalized_margin)
# reached["normalized_margin"] = [zoo.measure_model(train.run(points[i]["run"]), cfg.settings(), [margin])[0]["normalized_margin"]
#                                 for i in table.index[table.reached]]
# rank.rank_measures(reached, {"normalized_margin": -1}, "gap", varied)
# ```
# This retrains every model (about as long as the zoo took). Dividing by the spectral product removes the trivial effect of the weights' scale on the margin; whether what remains predicts the gap better than the plain spectral product is what its $\psi$ row shows.
# :::
#
# 4. **Label noise as a sixth hyperparameter.** Jiang et al. kept their labels clean. Add label noise as a sixth axis, `points_noisy = [cfg.point(label_noise=q, **h) for h in cfg.grid() for q in (0.0, 0.1)]`, train it with `sweep.run_sweep(zoo.train_and_measure, points_noisy, "measure-zoo", n_jobs=settings.sweep_jobs())` (the clean half is already cached: its points are the zoo's own), and rank with `varied + ["label_noise"]`. What happens to the number of models that reach the target, to the gaps, and to the ranking?
#
# :::{admonition} Solution
# :class: dropdown
# To reach cross-entropy 0.01 on noisy labels a network must memorize the corrupted ones (Chapter 1), which takes many more epochs; some models hit `max_epochs` and drop out, so raise it in the points if too many do.
# The gap now has a dominant cause: the noisy models' train accuracy counts the memorized wrong labels while their test accuracy falls, so the label-noise column of the ranking measures which quantities detect memorization.
# Compare each measure's $\psi$ for label noise with its $\psi$ for the other five hyperparameters: a measure can track memorization well and still fail on the learning rate or the batch size, which is why a single overall $\tau$ on such a zoo would flatter it.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
