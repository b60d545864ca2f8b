# %% [markdown]
# # 1. Randomization tests: networks can fit anything
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/01_randomization_tests.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - run the randomization tests of Zhang et al. (random labels, partially corrupted labels, shuffled pixels, random pixels, Gaussian inputs) and read their learning curves;
# - explain why a network that fits random labels defeats capacity-based bounds such as Rademacher complexity;
# - measure how much longer random labels take to fit, and how test error grows with label noise;
# - build, with no training, a two-layer ReLU network with 2n + d weights that fits any n labels;
# - show that SGD started at zero on a linear model finds the minimum-norm interpolant.
# :::
#
# ## The question
#
# A multilayer perceptron with far more parameters than its few thousand training examples can reach 100% training accuracy and still classify most unseen examples correctly.
# Classical learning theory explains a small generalization gap by a small *hypothesis class*: its VC dimension, its Rademacher complexity, or the uniform stability of the learning algorithm.
# Zhang et al. {cite}`zhang2017understanding` asked a simple question of these explanations: how large is the class that a network trained by SGD actually explores?
#
# :::{admonition} The paper's claim
# :class: note
# "Deep neural networks easily fit random labels."
# State-of-the-art convolutional networks trained with SGD reach zero training error on CIFAR-10 when the labels are replaced by random ones (and about 95% top-1 training accuracy on ImageNet, approx.), with only a small constant factor more training time.
# Explicit regularization (weight decay, dropout, data augmentation) does not change this, and is neither necessary nor sufficient for generalization.
# :::
#
# The argument is an *ad absurdum* against any bound that depends only on the model class and the number of samples $n$.
# The empirical Rademacher complexity of a class $\mathcal{H}$ on a sample $x_1, \dots, x_n$ is
#
# $$
# \hat{\mathfrak{R}}_n(\mathcal{H}) = \mathbb{E}_{\sigma}\Big[\sup_{h \in \mathcal{H}} \frac{1}{n} \sum_{i=1}^n \sigma_i\, h(x_i)\Big],
# \qquad \sigma_i \in \{-1, +1\} \text{ uniform},
# $$
#
# which asks how well the class can correlate with *random* labels.
# If the network fits every random labelling, $\hat{\mathfrak{R}}_n \approx 1$, the largest value it can take, and a bound of the form
# "test error $\le$ train error $+\, 2\hat{\mathfrak{R}}_n + O(\sqrt{\log(1/\delta)/n})$" says nothing.
# Yet on the true labels the same network, with the same optimizer, generalizes.
# Whatever explains that must depend on the *data* and the *algorithm*, not only on the class.
#
# The tests replace parts of the data by noise:
#
# | test | what changes | what it removes |
# |---|---|---|
# | true labels | nothing | (the baseline) |
# | partially corrupted labels | each training label is replaced, with probability $p$, by a uniform draw over the $K$ classes | part of the relation between $x$ and $y$ |
# | random labels | the same with $p = 1$ | all of it |
# | shuffled pixels | one fixed random permutation of the input coordinates, applied to every example | spatial structure (but not the information) |
# | random pixels | a different random permutation for every example | spatial structure and most of the information |
# | Gaussian | every input replaced by Gaussian noise with the data's mean and variance | the inputs themselves |
#
# A uniform draw can land on the true class, so corruption at level $p$ changes about $p\,(K-1)/K$ of the labels.

# %% [markdown]
# ## Setup
#
# The first cell installs this book's `helpers` package, but only on Colab (locally, `make book` has installed it).
# The scale profile decides every size in this chapter: `small` (the default, MNIST-1D {cite}`greydanus2020scaling` on a CPU) or `paper` (CIFAR-10 on a GPU).
# The setup cell prints what the profile costs (`helpers.cost`: floating-point work counted from the networks and the grids, turned into hours on Colab's T4 and on an H100).
# The `paper` profile trains on {glue:text}`ch1_paper_n` of CIFAR-10's 50,000 training images and gives every run at most {glue:text}`ch1_paper_epochs` epochs, so that it fits one Colab session; Zhang et al. used every image and trained until each run fitted.

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
from scipy.stats import spearmanr

from helpers import (cost, data, interpolation, plots, scale, settings, sweep,
                     train, widgets)
from helpers.metrics import rank
from helpers.report import Claim, choose, fmt_pct, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.randomization_tests(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
dataset = data.load_dataset(cfg.dataset, n_train=cfg.n_train, n_test=cfg.n_test)
chance = 1 / dataset.num_classes
glue("ch1_scale", SCALE)
paper_cfg = scale.randomization_tests("paper")
glue("ch1_paper_n", f"{paper_cfg.n_train:,}")
glue("ch1_paper_epochs", paper_cfg.max_epochs)
print(cfg.scale, "scale:", dataset, "| device:", train.pick_device())
cost.print_estimate(1, SCALE)

# %% [markdown]
# Every run below is described by one `train.RunSpec`: the (randomized) data, the network and its seed, and SGD (momentum 0.9) until the training accuracy reaches 100% or `cfg.max_epochs` runs out.
# `train.run(spec)` trains it; the sweeps below call `train.run_record`, which keeps the history, through `sweep.run_sweep`, which caches each finished run on disk, so re-running a cell, or resuming after an interruption, trains nothing twice.

# %%
base = cfg.run_spec()  # vary it with base.replace(randomization=..., p=...)
print(base)

# %% [markdown]
# ## Experiment 1: every randomization is fitted
#
# We train the same network on the true data and on each of the four randomizations, with {glue:text}`ch1_n_seeds` seeds each (a seed fixes the initialization, the batch order and the randomization itself), and record the training accuracy after every epoch.
# The runs on true and on random labels also record, for every training example, the first epoch after which the network classifies it as labelled; the section after Experiment 2 reads those records.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: which of the five will the network fit fastest, the true labels or one of the four kinds of noise?
# :::

# %%
kinds = data.RANDOMIZATIONS
# these (first seed) also record when each example is learned
learned = {("true labels", cfg.seeds[0]), ("random labels", cfg.seeds[0])}
tracks = lambda k, s: ("first_correct_epoch",) if (k, s) in learned else ()
specs = {(k, s): base.replace(randomization=k, seed=s, track=tracks(k, s))
         for k in kinds for s in cfg.seeds}
runs = sweep.run_sweep(train.run_record, specs.values(),
                       name="ch1-randomizations", n_jobs=settings.sweep_jobs())
records = dict(zip(specs, runs))
histories = {key: r.history for key, r in records.items()}

fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.4))
for kind in kinds:  # the first seed's curves; the table below has all seeds
    h = histories[kind, cfg.seeds[0]]
    plots.plot_accuracy(ax_acc, h, label=kind, test=False)
    ax_loss.plot(range(1, h.epochs + 1), h.train_loss, label=kind)
ax_acc.set_title(f"training accuracy (seed {cfg.seeds[0]})")
ax_loss.set(title="training loss", xlabel="epoch",
            ylabel="cross-entropy (nats)", yscale="log")
ax_loss.legend(fontsize=8)
plt.show()


def epochs_to(h: train.History, accuracy: float) -> float:
    """The first epoch whose train accuracy reaches ``accuracy``.

    NaN if it never does.
    """
    return next((i + 1 for i, a in enumerate(h.train_acc) if a >= accuracy),
                np.nan)


per_run = pd.DataFrame([{"kind": k, "seed": s,
                         "epochs to 90%": epochs_to(h, 0.9),
                         "epochs to 100%": epochs_to(h, 1.0),
                         "train acc (%)": 100 * h.train_acc[-1],
                         "test acc (%)": 100 * h.test_acc[-1]}
                        for (k, s), h in histories.items()])
fits = (per_run.groupby("kind", sort=False).agg(["mean", "std"])
        .drop(columns="seed"))
fits.round(1)

# %% tags=remove-cell
mean_of = lambda kind, column: fits.loc[kind, (column, "mean")]
sd_of = lambda kind, column: fits.loc[kind, (column, "std")]
test_mean = lambda kind: f"{mean_of(kind, 'test acc (%)'):.1f}%"
glue("ch1_n_seeds", len(cfg.seeds))
# a kind never fitted within the cap (paper-smoke: two epochs) counts as slowest
epochs_text = lambda v: f"{v:.1f}" if np.isfinite(v) else "not reached"
fit_epochs = fits[("epochs to 100%", "mean")].fillna(np.inf)
glue("ch1_true_epochs", epochs_text(mean_of("true labels", "epochs to 100%")))
slowest, fastest = fit_epochs.idxmax(), fit_epochs.idxmin()
glue("ch1_slowest_kind", slowest)
glue("ch1_slowest_epochs", epochs_text(mean_of(slowest, "epochs to 100%")))
glue("ch1_fastest_kind", fastest)
glue("ch1_fastest_epochs", epochs_text(mean_of(fastest, "epochs to 100%")))
n_fitted = int((per_run["train acc (%)"] >= 100).sum())
glue("ch1_all_fitted_reading", choose(
    n_fitted == len(per_run),
    "Every run reaches 100% training accuracy, true data or noise.",
    f"{n_fitted} of {len(per_run)} runs reach 100% training accuracy within "
    "the epoch cap (the table's last columns say which kinds lag)."))
glue("ch1_test_true", test_mean("true labels"))
glue("ch1_test_random", test_mean("random labels"))
glue("ch1_test_random_pixels", test_mean("random pixels"))
glue("ch1_test_shuffled", test_mean("shuffled pixels"))
# shuffled pixels vs true labels: a difference against the seeds' spread
shuffle_diff = abs(mean_of("true labels", "test acc (%)")
                   - mean_of("shuffled pixels", "test acc (%)"))
seed_sd = max(sd_of("true labels", "test acc (%)"),
              sd_of("shuffled pixels", "test acc (%)"))
glue("ch1_shuffle_diff", f"{shuffle_diff:.1f}")
glue("ch1_shuffle_sd", f"{seed_sd:.1f}")
glue("ch1_shuffle_verdict", choose(bool(shuffle_diff <= 2 * seed_sd),
                                   "within twice that spread: seed noise",
                                   "more than twice that spread"))
# the last tenth: epochs from 90% to 100% train accuracy
tail = lambda kind: (mean_of(kind, "epochs to 100%")
                     - mean_of(kind, "epochs to 90%"))
glue("ch1_true_to90", epochs_text(mean_of("true labels", "epochs to 90%")))
glue("ch1_true_tail", epochs_text(tail("true labels")))
glue("ch1_gauss_to90", epochs_text(mean_of("gaussian", "epochs to 90%")))
glue("ch1_gauss_tail", epochs_text(tail("gaussian")))
# which kinds of noise beat the true labels to 100% (the paper: none of them, on CIFAR-10)
faster = [k for k in fit_epochs.index
          if k != "true labels" and fit_epochs[k] < fit_epochs["true labels"]]
gaussian_faster = "gaussian" in faster
faster_names = " and ".join(k.replace("gaussian", "Gaussian inputs")
                            for k in faster)
glue("ch1_faster_reading", choose(
    bool(faster),
    f"Unlike in the paper, {faster_names} "
    f"{'is' if len(faster) == 1 else 'are'} fitted faster than the true "
    "labels here.",
    "As in the paper, no kind of noise is fitted faster than the true labels "
    "here."))
glue("ch1_gaussian_reading", choose(
    gaussian_faster,
    "Here the same reading would explain why Gaussian inputs are fitted "
    "faster even than the true labels: the last examples of a real data set "
    "are the ones that contradict the pattern the network has learned "
    "(MNIST-1D's digits are noisy and some overlap), while independent "
    "Gaussian points in 40 dimensions are far apart and contradict nothing.",
    "Here Gaussian inputs are not fitted faster than the true labels, so the "
    "reading has nothing more to explain in this run."))
glue("ch1_faster_open", choose(
    bool(faster),
    "This chapter does not test that reading further, and why, unlike here, "
    "Zhang et al.'s networks fit CIFAR-10's true labels fastest of all, we "
    "do not know.",
    "This chapter does not test that reading further."))

# %% [markdown]
# **What to notice.**
# {glue:text}`ch1_all_fitted_reading`
# Averaged over seeds, the true labels needed {glue:text}`ch1_true_epochs` epochs; the slowest kind was {glue:text}`ch1_slowest_kind` ({glue:text}`ch1_slowest_epochs`), the fastest {glue:text}`ch1_fastest_kind` ({glue:text}`ch1_fastest_epochs`).
# The test accuracies tell the rest of the story: {glue:text}`ch1_test_true` on the true labels and {glue:text}`ch1_test_random` on random labels, where chance is 10%.
# Shuffled pixels cost an MLP nothing: a fixed permutation of the inputs is undone by permuting the columns of the first weight matrix, and the initialization is drawn independently for every weight, so the MLP sees the same problem; its test accuracy, {glue:text}`ch1_test_shuffled`, differs from the true labels' by {glue:text}`ch1_shuffle_diff` points, against a seed-to-seed standard deviation of {glue:text}`ch1_shuffle_sd`, {glue:text}`ch1_shuffle_verdict`.
# Random pixels keep the *histogram* of each example's values (only their order is lost), which is why a little signal survives ({glue:text}`ch1_test_random_pixels` test accuracy).
#
# {glue:text}`ch1_faster_reading`
# The table shows where the time goes: the true labels reach 90% in {glue:text}`ch1_true_to90` epochs and spend {glue:text}`ch1_true_tail` more on the last tenth, while Gaussian inputs reach 90% in {glue:text}`ch1_gauss_to90` and need {glue:text}`ch1_gauss_tail` more.
# Zhang et al. offer a reading for the random inputs that were fitted faster than random labels: random inputs are more separated from one another than natural images of one class, so an arbitrary labelling of them is easier to fit.
# {glue:text}`ch1_gaussian_reading`
# {glue:text}`ch1_faster_open`

# %% [markdown]
# ## Experiment 2: label corruption, time to fit and test error
#
# Now we corrupt a growing fraction $p$ of the training labels, with {glue:text}`ch1_n_seeds` seeds per level, and measure two things: how many epochs the network needs to reach 100% training accuracy, and its test error at that point.
# The paper (Fig. 1b and 1c) found that time to fit grows by a small factor from $p = 0$ to $p = 1$, and that test error rises steadily to chance.

# %%
tracked = lambda p, s: (("first_correct_epoch",)
                        if (p, s) == (cfg.explorer_default_p, cfg.seeds[0])
                        else ())
# p = 0 and p = 1 are Experiment 1's true- and random-label runs: reused
reused = {0.0: "true labels", 1.0: "random labels"}
p_seeds = [(p, s) for s in cfg.seeds for p in cfg.p_grid]
new = {(p, s): base.replace(randomization="random labels", p=p, seed=s,
                            track=tracked(p, s))
       for p, s in p_seeds if p not in reused}
new_runs = dict(zip(new, sweep.run_sweep(train.run_record, new.values(),
                                         name="ch1-label-corruption",
                                         n_jobs=settings.sweep_jobs())))
points = [new.get((p, s), specs.get((reused.get(p), s))) for p, s in p_seeds]
runs = [new_runs[p, s] if (p, s) in new else records[reused[p], s]
        for p, s in p_seeds]
corruption = pd.DataFrame([{"p": p, "seed": s,
                            "epochs": r.history.epochs,
                            "fitted": r.history.stop_reason == "target_acc",
                            "train_acc": r.history.train_acc[-1],
                            "test_error": 1 - r.history.test_acc[-1]}
                           for (p, s), r in zip(p_seeds, runs)])
# each seed's slowdown against its own p = 0 run
clean_epochs = corruption[corruption.p == 0.0].set_index("seed")["epochs"]
corruption["slowdown"] = (corruption["epochs"]
                          / corruption["seed"].map(clean_epochs))
by_p = corruption.groupby("p").agg(epochs=("epochs", "mean"),
                                   slowdown=("slowdown", "mean"),
                                   slowdown_min=("slowdown", "min"),
                                   slowdown_max=("slowdown", "max"),
                                   test_error=("test_error", "mean"),
                                   test_error_min=("test_error", "min"),
                                   test_error_max=("test_error", "max"),
                                   fitted=("fitted", "all"))

fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(9, 3.3))
ax_t.scatter(corruption["p"], corruption["slowdown"], color="0.6", s=14,
             label="one seed")
ax_t.plot(by_p.index, by_p["slowdown"], marker="o", label="mean")
ax_t.axhline(1, color="0.3", linestyle=":", linewidth=1)
ax_t.set(xlabel="label corruption p", ylabel="epochs to fit / epochs at p = 0",
         title="time to fit", ylim=(0, None))
ax_t.legend(fontsize=8, loc="lower right")
ax_e.scatter(corruption["p"], 100 * corruption["test_error"], color="0.6", s=14)
ax_e.plot(by_p.index, 100 * by_p["test_error"], marker="o",
          color=plots.TEST_COLOR, label="test error (mean)")
ax_e.axhline(100 * (1 - chance), color="0.3", linestyle=":", label="chance")
ax_e.set(xlabel="label corruption p", ylabel="test error (%)",
         title="test error at 100% train accuracy", ylim=(0, 100))
ax_e.legend(fontsize=8, loc="lower right")
plt.show()
by_p.round(3)

# %% tags=remove-cell
slowdown = by_p.loc[1.0, "slowdown"]
slowdown_range = (f"{by_p.loc[1.0, 'slowdown_min']:.2f} to "
                  f"{by_p.loc[1.0, 'slowdown_max']:.2f}")
test_acc_random = 1 - by_p.loc[1.0, "test_error"]
rho_error = spearmanr(by_p.index, by_p["test_error"]).statistic
glue("ch1_slowdown", f"{slowdown:.2f}")
glue("ch1_slowdown_range", slowdown_range)
glue("ch1_epochs_p0", f"{by_p.loc[0.0, 'epochs']:.1f}")
glue("ch1_epochs_p1", f"{by_p.loc[1.0, 'epochs']:.1f}")
glue("ch1_test_acc_p1", fmt_pct(test_acc_random))
glue("ch1_rho_error", f"{rho_error:.2f}")

# %% [markdown]
# **What to notice.**
# Fitting completely random labels took {glue:text}`ch1_epochs_p1` epochs on average against {glue:text}`ch1_epochs_p0` for the true labels: a slowdown of {glue:text}`ch1_slowdown` times ({glue:text}`ch1_slowdown_range` over the seeds, each against its own $p = 0$ run).
# Memorizing pure noise is not much harder than learning the real rule.
# Test error rises with $p$ (Spearman's $\rho$ = {glue:text}`ch1_rho_error` between $p$ and the mean test error), and at $p = 1$ the test accuracy is {glue:text}`ch1_test_acc_p1`, chance level.
# The network, the optimizer and the training accuracy are identical at every $p$; only the labels differ.
# Any explanation of generalization that ignores the labels cannot tell these runs apart.

# %% [markdown]
# ## When is each example learned?
#
# Arpit et al. {cite}`arpit2017closer` asked *which* examples a network fits first.
# The runs above recorded, for every training example, the first epoch after which the network classified it as labelled.
# At $p$ = {glue:text}`ch1_default_p`, a known set of labels was redrawn; we compare when the network first got the clean and the corrupted examples right, and, in Experiment 1, the true labels with fully random ones.
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: at $p$ = {glue:text}`ch1_default_p`, does the network learn the clean and the corrupted examples at the same pace?
# :::

# %%
noisy_index = p_seeds.index((cfg.explorer_default_p, cfg.seeds[0]))
noisy_spec, noisy_run = points[noisy_index], runs[noisy_index]
first = np.array(noisy_run.history.per_example["first_correct_epoch"])
corrupted = (train.run_data(noisy_spec).y_train
             != train.run_data(
                 noisy_spec.replace(randomization="true labels")).y_train)
corrupted = corrupted.numpy()
groups = {"clean examples": first[~corrupted],
          "corrupted examples": first[corrupted],
          "true labels (Exp. 1)": np.array(
              histories["true labels", cfg.seeds[0]]
              .per_example["first_correct_epoch"]),
          "random labels (Exp. 1)": np.array(
              histories["random labels", cfg.seeds[0]]
              .per_example["first_correct_epoch"])}
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for name, epochs in groups.items():
    grid = np.arange(0, max(1, epochs.max()) + 1)
    learned_share = [(epochs[epochs > 0] <= e).sum() / len(epochs)
                     for e in grid]
    ax.plot(grid, 100 * np.array(learned_share), label=name,
            linestyle="--" if "Exp. 1" in name else "-")
ax.set(xlabel="epoch", ylabel="learned by then (%)", ylim=(0, 101),
       title=f"first correct classification (p = {noisy_spec.p:g} run, seed "
             f"{noisy_spec.seed})")
ax.legend(fontsize=8, loc="lower right")
plt.show()
median_epoch = {k: float(np.median(v[v > 0])) for k, v in groups.items()}
pd.Series(median_epoch,
          name="median epoch of first correct classification").to_frame()

# %% tags=remove-cell
glue("ch1_default_p", f"{cfg.explorer_default_p:g}")
glue("ch1_median_clean", f"{median_epoch['clean examples']:.0f}")
glue("ch1_median_corrupted", f"{median_epoch['corrupted examples']:.0f}")
glue("ch1_median_true", f"{median_epoch['true labels (Exp. 1)']:.0f}")
glue("ch1_median_random", f"{median_epoch['random labels (Exp. 1)']:.0f}")
glue("ch1_corrupted_share", fmt_pct(corrupted.mean()))

# %% [markdown]
# **What to notice.**
# In the run at $p$ = {glue:text}`ch1_default_p` ({glue:text}`ch1_corrupted_share` of the training labels changed), half of the clean examples were classified as labelled by epoch {glue:text}`ch1_median_clean`, half of the corrupted ones only by epoch {glue:text}`ch1_median_corrupted`.
# The network learns what the examples share first and memorizes the exceptions afterwards, in the same run, with the same optimizer, on the same network.
# The two dashed curves say the same for whole data sets: half of the true labels are learned by epoch {glue:text}`ch1_median_true`, half of the random labels by epoch {glue:text}`ch1_median_random`.
# So "the network can fit random labels" does not mean it treats them like real ones: it fits them later, one by one.

# %% [markdown]
# ## The label-noise explorer
#
# Move the slider to choose the corruption level $p$ and see the learning curves of the run at that level: training and test accuracy (the shaded band is the generalization gap) and the cross-entropies.
# The figures come from the sweep above (its first seed), so the slider works on the website without a kernel.
# In a live kernel (Colab, Jupyter), the button trains a fresh network at the chosen $p$ with a new seed.
#
# Try this: before moving the slider, predict the gap at $p$ = {glue:text}`ch1_default_p`.
# Then look at the test loss: at every $p$ it ends above its lowest value while the training loss keeps falling, the signature of memorization; the rise ends at {glue:text}`ch1_loss_rise_p0` times its minimum at $p = 0$ and {glue:text}`ch1_loss_rise_p1` at $p = 1$, and {glue:text}`ch1_loss_rise_reading`.
# Do not conclude that the network "ignores" corrupted labels at small $p$: it fits every one of them, and the test accuracy still drops.

# %%
seed0 = {p: r.history for (p, s), r in zip(p_seeds, runs)
         if s == cfg.seeds[0]}


def train_fresh(p):
    fresh = base.replace(randomization="random labels", p=p,
                         seed=max(cfg.seeds) + 1)
    return plots.gap_figure(train.run(fresh).history,
                            f"fresh run, p = {p:.2f}", chance)


widgets.gap_explorer(cfg.p_grid,
                     lambda p: plots.gap_figure(
                         seed0[p], f"label corruption p = {p:.2f}", chance),
                     symbol="p", default=cfg.explorer_default_p,
                     train=train_fresh, notebook="01_randomization_tests",
                     caption="Label corruption <i>p</i>: the fraction of "
                             "training labels redrawn uniformly at random.")

# %% tags=remove-cell
loss_rise = {p: h.test_loss[-1] / min(h.test_loss) for p, h in seed0.items()}
glue("ch1_loss_rise_p0", f"{loss_rise[0.0]:.2f}")
glue("ch1_loss_rise_p1", f"{loss_rise[1.0]:.2f}")
rho_rise = spearmanr(list(loss_rise), list(loss_rise.values())).statistic
glue("ch1_loss_rise_reading", choose(
    rho_rise >= 0.9,
    f"it grows with p (Spearman's rho {rho_rise:.2f} over the "
    f"{len(loss_rise)} values of p, seed 0)",
    f"it does not grow steadily with p in between (Spearman's rho "
    f"{rho_rise:.2f} over the {len(loss_rise)} values of p, seed 0)"))

# %% [markdown]
# ## Experiment 3: explicit regularization is neither necessary nor sufficient
#
# Zhang et al.'s Table 1 trains each network with and without explicit regularization, and on random labels.
# We do the same for the networks of this scale's profile, and add the column the claim "not sufficient" needs: random labels *with* the regularizers on.
# "Regularized" means weight decay {glue:text}`ch1_wd` and dropout {glue:text}`ch1_dropout` on the hidden layers (plus random crops at paper scale).
# Regularization slows memorization, so the regularized random-label runs get a budget relative to the unregularized ones: {glue:text}`ch1_reg_budget` times the epochs the same network needed to fit random labels without regularization ({glue:text}`ch1_reg_budget_epochs` epochs), and we report the training accuracy they reach within it.

# %%
regularizers = dict(weight_decay=cfg.weight_decay, dropout=cfg.dropout,
                    augment=cfg.augment)
regimes = {"regularized": regularizers,
           "no regularization": {},
           "random labels": dict(randomization="random labels"),
           "random labels, regularized": dict(regularizers,
                                              randomization="random labels")}
# the longest runs first (regularized, then random labels), so that the two
# workers finish together; the regularized random labels afterwards: their
# epoch budget is a multiple of what the unregularized random labels needed
cells = [(m, regime)
         for regime in ("regularized", "random labels", "no regularization")
         for m in reversed(cfg.table_models)]
cell_spec = lambda m, regime, **more: base.replace(
    architecture=m.architecture, model_kwargs=m.kwargs, **regimes[regime],
    **more)
runs_t1 = dict(zip([(m.label, regime) for m, regime in cells],
                   sweep.run_sweep(train.run_record,
                                   [cell_spec(m, r) for m, r in cells],
                                   name="ch1-regularization",
                                   n_jobs=settings.sweep_jobs())))
budget = {m.label: min(cfg.max_epochs, round(
    cfg.regularized_random_budget
    * runs_t1[m.label, "random labels"].history.epochs))
    for m in cfg.table_models}
runs_t1 |= dict(zip(
    [(m.label, "random labels, regularized") for m in cfg.table_models],
    sweep.run_sweep(train.run_record,
                    [cell_spec(m, "random labels, regularized",
                               max_epochs=budget[m.label])
                     for m in cfg.table_models],
                    name="ch1-regularization", n_jobs=settings.sweep_jobs())))
rows = {}
for m in cfg.table_models:
    rows[m.label] = {"params": None}
    for regime in regimes:
        run = runs_t1[m.label, regime]
        h = run.history
        rows[m.label]["params"] = run.num_parameters
        rows[m.label][regime] = (f"{100 * h.train_acc[-1]:.1f} / "
                                 f"{100 * h.test_acc[-1]:.1f}")
        rows[m.label][f"_{regime}_test"] = h.test_acc[-1]
        rows[m.label][f"_{regime}_train"] = h.train_acc[-1]
table1 = pd.DataFrame(rows).T
table1[["params", *regimes]].rename_axis("train / test accuracy (%)")

# %% tags=remove-cell
glue("ch1_wd", f"{cfg.weight_decay:g}")
glue("ch1_reg_budget", f"{cfg.regularized_random_budget:g}")
glue("ch1_reg_budget_epochs", ", ".join(f"{label}: {e}"
                                        for label, e in budget.items()))
glue("ch1_dropout", f"{cfg.dropout:g}")
reg_gain = (table1["_regularized_test"]
            - table1["_no regularization_test"]).astype(float)
glue("ch1_reg_gain_max", f"{100 * reg_gain.max():.1f}")
glue("ch1_noreg_min",
     fmt_pct(table1["_no regularization_test"].astype(float).min()))
reg_random_train = table1["_random labels, regularized_train"].astype(float)
glue("ch1_reg_random_min", fmt_pct(reg_random_train.min()))
glue("ch1_reg_random_max", fmt_pct(reg_random_train.max()))

# %% [markdown]
# **What to notice.**
# Regularization helps a little (at most {glue:text}`ch1_reg_gain_max` points of test accuracy here), but every network generalizes far above chance without it (the worst reaches {glue:text}`ch1_noreg_min`).
# It is not *necessary*.
# With the same regularizers on, the networks still fit random labels to {glue:text}`ch1_reg_random_min` to {glue:text}`ch1_reg_random_max` training accuracy, far above the 10% of chance: regularization does not stop memorization, so it is not *sufficient* to explain why the true-label networks generalize.
# The point of the table is the comparison within each row, between the regimes of one network.

# %% [markdown]
# ## Experiment 4: the empirical Rademacher complexity, measured
#
# The Rademacher complexity of the introduction asks how well the class can match random signs $\sigma_i$.
# We can ask the network directly: label {glue:text}`ch1_rad_n` training inputs with fair coins, {glue:text}`ch1_rad_k` times, train the same network on each labelling, and read off $\frac{1}{n} \sum_i \sigma_i h(x_i) = 2\,\mathrm{acc} - 1$, where $h(x) = \pm 1$ is the trained network's prediction.
# For each labelling the supremum over the class is at least what SGD found, so $\mathbb{E}_\sigma[2\,\mathrm{acc}_\sigma - 1] \le \hat{\mathfrak{R}}_n$, and the mean over our {glue:text}`ch1_rad_k` labellings estimates that lower bound.

# %%
labellings = [base.replace(randomization="random signs",
                           n_train=cfg.rademacher_n, seed=s)
              for s in range(cfg.rademacher_k)]
sign_runs = sweep.run_sweep(train.run_record, labellings, name="ch1-rademacher",
                            n_jobs=settings.sweep_jobs())
correlations = np.array([2 * r.history.train_acc[-1] - 1 for r in sign_runs])
signs_fitted = sum(r.history.stop_reason == "target_acc" for r in sign_runs)
print(f"{signs_fitted} of {len(sign_runs)} random labellings of "
      f"n = {cfg.rademacher_n} points fitted; (1/n) sum sigma_i h(x_i) = "
      + ", ".join(f"{c:.3f}" for c in correlations)
      + f"; mean {correlations.mean():.3f}")

# %% tags=remove-cell
glue("ch1_rad_n", f"{cfg.rademacher_n:,}")
glue("ch1_rad_k", cfg.rademacher_k)
glue("ch1_rad_fitted", f"{signs_fitted} of {len(sign_runs)}")
glue("ch1_rad_mean", f"{correlations.mean():.3f}")

# %% [markdown]
# **What to notice.**
# {glue:text}`ch1_rad_fitted` labellings were fitted, and the measured correlation averages {glue:text}`ch1_rad_mean`: an estimate, from {glue:text}`ch1_rad_k` labellings, of a lower bound on the empirical Rademacher complexity of this network class, whose largest possible value is 1 (a network that learned nothing would score about 0, within $1/\sqrt{n}$).
# A bound of the form "test error $\le$ train error $+ 2\hat{\mathfrak{R}}_n + \dots$" then allows a test error of nearly 100%, whatever the labels: it cannot explain why the same network generalizes on the true ones.

# %% [markdown]
# ## Theory 1: finite-sample expressivity
#
# Why can a network fit random labels at all?
# Zhang et al. prove that depth two is enough, as soon as there are more weights than samples.
#
# :::{admonition} Theorem 1 (Zhang et al. 2017)
# :class: note
# There exists a two-layer neural network with ReLU activations and $2n + d$ weights that can represent any function on a sample of size $n$ in $d$ dimensions.
# :::
#
# The proof is a construction.
# Pick a vector $a \in \mathbb{R}^d$ so that the projections $z_i = \langle a, x_i\rangle$ are distinct (a random Gaussian $a$ works with probability one), and sort them.
# Choose biases that interleave them, $b_1 < z_1 < b_2 < z_2 < \dots < b_n < z_n$.
# The network is $f(x) = \sum_{j=1}^n w_j \max(\langle a, x\rangle - b_j, 0)$, and on the sample $f(x_i) = \sum_j A_{ij} w_j$ with
#
# $$
# A_{ij} = \max(z_i - b_j, 0),
# $$
#
# which is zero above the diagonal ($z_i < b_j$ when $j > i$) and positive on it.
# A lower-triangular matrix with a positive diagonal is invertible, so $w = A^{-1} y$ fits *any* labels $y$ exactly.
# The weights are $a$ ($d$), $b$ ($n$) and $w$ ($n$): $2n + d$ in all.
# `helpers.interpolation.two_layer_interpolant` builds it; no training is involved.

# %%
n = min(cfg.expressivity_n, len(dataset.y_train))
x_fit = dataset.x_train[:n]
y_random = torch.randint(0, dataset.num_classes, (n,),
                         generator=torch.Generator().manual_seed(0))
net = interpolation.two_layer_interpolant(x_fit, y_random.double(), seed=0)
outputs = net(x_fit)
max_error = (outputs - y_random).abs().max().item()
train_acc_construction = (outputs.round() == y_random).float().mean().item()
test_pred = net(dataset.x_test).round().clamp(0, dataset.num_classes - 1)
test_acc_construction = (test_pred == dataset.y_test).float().mean().item()
print(f"n = {n} random labels, d = {x_fit[0].numel()}, "
      f"weights = {net.num_weights} (2n + d = {2 * n + x_fit[0].numel()})")
print(f"max |f(x_i) - y_i| = {max_error:.2e}; "
      f"train accuracy {100 * train_acc_construction:.1f}%; "
      f"test accuracy {100 * test_acc_construction:.1f}%")

# %% tags=remove-cell
glue("ch1_expr_n", n)
glue("ch1_expr_err", f"{max_error:.1e}")
glue("ch1_expr_test", fmt_pct(test_acc_construction))

# %% [markdown]
# **What to notice.**
# The constructed network reproduces all {glue:text}`ch1_expr_n` random labels with a largest error of {glue:text}`ch1_expr_err` (in float64), and predicts unseen examples at chance ({glue:text}`ch1_expr_test`): it memorizes and nothing else.
# Expressivity is cheap.
# The question is never *whether* a network can memorize, but why SGD, on real data, finds a solution that does not.

# %% [markdown]
# ## Theory 2: SGD as an implicit regularizer in linear models
#
# Zhang et al.'s Section 5 looks at the simplest over-parameterized model, linear least squares with more features $d$ than samples $n$.
# Infinitely many $w$ interpolate, $Xw = y$.
# SGD's update is $w \leftarrow w - \eta\, x_i (x_i^\top w - y_i)$, a multiple of a data point, so an SGD run started at $w_0 = 0$ never leaves the span of the rows of $X$.
# The only interpolant in that span is the minimum-norm one,
#
# $$
# w^\star = X^\top (X X^\top)^{-1} y = X^{+} y ,
# $$
#
# so SGD from zero converges to $X^+ y$, with no regularizer in the loss.
# We check this on random ReLU features of MNIST-1D ($d$ features $\gg n$ samples) with one-hot targets, and contrast it with SGD started from a random $w_0$, which converges to a different interpolant.

# %%
g = torch.Generator().manual_seed(0)
d_in = dataset.x_train[0].numel()
projection = torch.randn(d_in, cfg.min_norm_features, generator=g,
                         dtype=torch.float64) / d_in ** 0.5
# (n, d) random ReLU features
features = lambda x: torch.relu(x.reshape(len(x), -1).double() @ projection)
X, Y = (features(dataset.x_train[:cfg.min_norm_n]),
        torch.nn.functional.one_hot(dataset.y_train[:cfg.min_norm_n]).double())
w_min_norm = interpolation.min_norm_solution(X, Y)
w_from_zero = interpolation.sgd_least_squares(X, Y, steps=cfg.min_norm_steps)
w0 = 0.05 * torch.randn(w_min_norm.shape, generator=g, dtype=torch.float64)
w_from_random = interpolation.sgd_least_squares(
    X, Y, steps=cfg.min_norm_steps, w0=w0)
test_acc = lambda w: ((features(dataset.x_test) @ w).argmax(1)
                      .eq(dataset.y_test).double().mean().item())
linear = pd.DataFrame({
    "start": ["w0 = 0", "w0 random"],
    "||w - X+y|| / ||X+y||": [
        ((w - w_min_norm).norm() / w_min_norm.norm()).item()
        for w in (w_from_zero, w_from_random)],
    "||w|| / ||X+y||": [(w.norm() / w_min_norm.norm()).item()
                        for w in (w_from_zero, w_from_random)],
    "max train residual": [(X @ w - Y).abs().max().item()
                           for w in (w_from_zero, w_from_random)],
    "test acc (%)": [100 * test_acc(w) for w in (w_from_zero, w_from_random)],
}).set_index("start")
print(f"n = {cfg.min_norm_n} samples, d = {cfg.min_norm_features} features, "
      f"{cfg.min_norm_steps} SGD steps of batch 10")
linear.round(5)

# %% tags=remove-cell
min_norm_distance = linear.iloc[0, 0]
glue("ch1_minnorm_dist", f"{min_norm_distance:.1e}")
glue("ch1_random_dist", f"{linear.iloc[1, 0]:.2f}")

# %% [markdown]
# **What to notice.**
# From zero, SGD lands {glue:text}`ch1_minnorm_dist` (relative distance) from the pseudo-inverse solution; from a random start it interpolates just as well but ends {glue:text}`ch1_random_dist` away, with a larger norm.
# The algorithm, not the loss, picked the solution.
# Zhang et al. add an empirical caution: on MNIST, preprocessing that *raised* the norm of the minimum-norm solution *lowered* its test error, so the minimum norm alone does not predict generalization.
# Later work adds a reason that this book takes seriously in the next chapters: the norms of a ReLU network can be made arbitrarily large or small without changing what it computes {cite}`dinh2017sharp`.

# %% [markdown]
# ## Reproduction scorecard
#
# Each row is one of the paper's claims, what this run measured, and whether the claim held at this scale.
# The verdicts are computed from the numbers above; each row states its test (the threshold and why it is the right one) and, where there is one, the result of the same test on a null.

# %%
fit_acc_random = corruption.loc[corruption.p == 1.0, "train_acc"].min()
no_reg = table1["_no regularization_test"].astype(float)
min_fit = min(h.train_acc[-1] for h in histories.values())
# the null of the rho row: the same test errors in a random order of p
rho_of = lambda x, y: spearmanr(x, y).statistic
p_null_rho = rank.permutation_pass_rate(by_p.index, by_p["test_error"], rho_of,
                                        lambda rho: rho >= 0.9)
chance_se = np.sqrt(chance * (1 - chance) / len(dataset.y_test))
over_seeds = lambda lo, hi: (f"over {len(cfg.seeds)} seeds: {lo} to {hi}"
                              if len(cfg.seeds) > 1 else None)
random_fits = corruption.loc[corruption.p == 1.0, "train_acc"]
p1_test = 1 - corruption.loc[corruption.p == 1.0, "test_error"]
claims = [
    Claim(claim="Random labels are fitted to 100% training accuracy",
          paper="100% (CIFAR-10, Inception; 99.3-100% for others)",
          measured=f"{100 * fit_acc_random:.1f}% "
                   f"(worst of {len(cfg.seeds)} seeds)",
          held=fit_acc_random >= 0.999,
          test="held if the worst seed at p = 1 reaches 99.9% training "
               "accuracy within the epoch cap; the cap is what could make "
               "it fail",
          interval=over_seeds(fmt_pct(random_fits.min()),
                              fmt_pct(random_fits.max()))),
    Claim(claim="Every randomization is fitted (>= 99% train accuracy)",
          paper="~100% for all tests (Fig. 1a)",
          measured=f"min {100 * min_fit:.1f}% over {len(histories)} runs",
          held=min_fit >= 0.99,
          test="held if all five kinds of data, every seed, reach 99% training "
               f"accuracy within {cfg.max_epochs} epochs"),
    Claim(claim="Random labels take only a small constant factor longer "
                "(<= 4x)",
          paper="about 1x-4x (approx.)",
          measured=f"{slowdown:.2f}x (epochs, p = 1 vs p = 0, mean over seeds)",
          held=bool(by_p["fitted"].all()) and 1 <= slowdown <= 4,
          test="held if every p is fitted within the cap and the mean, over "
               "seeds, of each seed's epochs at p = 1 over its epochs at p = 0 "
               "lies between 1 (longer at all) and 4, the top of the paper's "
               "range",
          interval=over_seeds(f"{by_p.loc[1.0, 'slowdown_min']:.2f}x",
                              f"{by_p.loc[1.0, 'slowdown_max']:.2f}x")),
    Claim(claim="Test error rises steadily with p (Spearman rho >= 0.9)",
          paper="monotone rise to chance (Fig. 1c)",
          measured=f"rho = {rho_error:.2f}",
          held=rho_error >= 0.9,
          test=f"held if Spearman's rho between p and the mean test error over "
               f"the {len(by_p)} levels is at least 0.9",
          null=f"the same errors in a random order of p pass with probability "
               f"{p_null_rho:.3f} (2,000 permutations)"),
    Claim(claim="At p = 1, test accuracy is chance (within 3 points of 10%)",
          paper="9.78-10.61%", measured=fmt_pct(test_acc_random),
          held=abs(test_acc_random - chance) <= 0.03,
          test=f"held if the mean test accuracy at p = 1 lies within 3 "
               f"points of chance; with {len(dataset.y_test):,} test "
               f"samples the binomial standard error at chance is "
               f"{100 * chance_se:.1f} points",
          interval=over_seeds(fmt_pct(p1_test.min()), fmt_pct(p1_test.max()))),
    Claim(claim="Regularization is not necessary (no-reg test accuracy within "
                "10 points of regularized, > 3x chance)",
          paper="e.g. 85.75% vs 89.05% (Inception)",
          measured=f"gain <= {100 * reg_gain.max():.1f} pts; "
                   f"worst no-reg {fmt_pct(no_reg.min())}",
          held=reg_gain.max() <= 0.10 and no_reg.min() > 3 * chance,
          test="held if regularization adds at most 10 points of test "
               "accuracy to every network and every unregularized one "
               "exceeds 3x chance"),
    Claim(claim="Regularization is not sufficient: regularized networks "
                "still fit random labels (>= 90% train accuracy)",
          paper="with weight decay and dropout on, random labels are still "
                "fitted",
          measured=f"{fmt_pct(reg_random_train.min())} to "
                   f"{fmt_pct(reg_random_train.max())} train accuracy on "
                   f"random labels",
          held=bool(reg_random_train.min() >= 0.90),
          test="held if every network, regularized, reaches 90% training "
               "accuracy on random labels within "
               f"{cfg.regularized_random_budget:g} times the epochs it "
               "needed without regularization: chance is 10%, so it has "
               "memorized nearly 9 in 10 of the labels it cannot have "
               "learned"),
    Claim(claim="The network fits random signs: empirical Rademacher "
                "complexity near 1 (>= 0.95)",
          paper="fitting random labels makes the Rademacher complexity trivial",
          measured=f"{signs_fitted} of {len(sign_runs)} labellings fitted; "
                   f"mean (1/n) sum sigma h = {correlations.mean():.3f}",
          held=bool(correlations.mean() >= 0.95),
          test=f"held if, over {len(sign_runs)} fair-coin labellings of "
               f"{cfg.rademacher_n:,} points, the mean of 2 acc - 1 is at "
               "least 0.95 (1 is the largest possible value; 0.95 means "
               "97.5% of the signs matched)",
          interval=(f"over {len(sign_runs)} labellings: "
                    f"{correlations.min():.3f} to {correlations.max():.3f}")),
    Claim(claim="2n + d weights fit any n labels (Theorem 1)",
          paper="exact, by construction",
          measured=f"n = {n}: max error {max_error:.1e}, "
                   f"{100 * train_acc_construction:.0f}% correct",
          held=train_acc_construction == 1.0 and max_error < 1e-3,
          test="held if the constructed network, in float64, reproduces every "
               "random label to within 1e-3; a badly conditioned triangular "
               "solve is what could make it fail"),
    Claim(claim="SGD from zero finds the minimum-norm solution "
                "(relative distance < 1%)",
          paper="exact in the limit (Sec. 5)",
          measured=f"relative distance {min_norm_distance:.1e}",
          held=min_norm_distance < 1e-2,
          test="held if SGD started at w = 0 ends within 1% (relative) of the "
               "pseudo-inverse solution X+y",
          null=f"SGD from a random start ends {linear.iloc[1, 0]:.2f} away: "
               "the same test fails there, as it should"),
]
scorecard(claims, SCALE, chapter=1)

# %% [markdown]
# ## Summary
#
# Networks trained by SGD fit random labels, shuffled and random pixels, and Gaussian noise, and the slowest of them needs only a small constant factor more epochs than real data ({glue:text}`ch1_slowdown` times for random labels).
# They fit random signs too, so the empirical Rademacher complexity of what SGD reaches is close to its largest value, and a bound built on it says nothing.
# So the class of functions a network can reach is large enough to memorize the training set, and complexity measures of the class alone cannot explain why the same network generalizes on real labels.
# Explicit regularization helps a little and explains none of this: with it, random labels are still memorized.
# What does differ is the order: the network learns what examples share first and memorizes the exceptions last.
# Two simple models show where to look instead: a depth-two ReLU net with $2n + d$ weights can represent any labelling, and in a linear model SGD picks, among all interpolants, the one of minimum norm.
# The next chapters look for quantities that *do* depend on the data and the algorithm: a scale-free loss (Chapter 2), the signal-to-noise ratio of the gradients (Chapter 3), the flatness and volume of the minimum (Chapter 4), and the spectra of the trained weights (Chapter 5).

# %% [markdown]
# ## Exercises
#
# 1. **Does the slowdown depend on the learning rate?** Re-run Experiment 2 with `lr` ten times smaller. Plot the slowdown factor against $p$ for both learning rates.
#
# :::{admonition} Solution
# :class: dropdown
# Pass a changed base to the same sweep: `slow = base.replace(lr=cfg.lr / 10)`, then `sweep.run_sweep(train.run_record, [slow.replace(randomization="random labels", p=p) for p in cfg.p_grid], name="ch1-ex1")`.
# What to look for: whether every run still reaches 100% within `cfg.max_epochs` at the smaller rate (raise the cap if not), and whether the *ratio* between $p = 1$ and $p = 0$ moves with the step size or stays put; compare it with the seed-to-seed range of Experiment 2 before calling two ratios different.
# :::
#
# 2. **Shuffled pixels and convolutions.** An MLP is indifferent to a fixed permutation of its inputs. Is a 1-D CNN? Train `architecture="cnn1d"` (`model_kwargs={}`) on true labels and on shuffled pixels, and compare test accuracies.
#
# :::{admonition} Solution
# :class: dropdown
# `sweep.run_sweep(train.run_record, [base.replace(architecture="cnn1d", model_kwargs={}, randomization=k) for k in ("true labels", "shuffled pixels")], name="ch1-ex2")`.
# What to look for: the CNN's small kernels and weight sharing assume that neighbouring coordinates belong together, which is true of MNIST-1D's signals and false after a shuffle.
# So compare three numbers: the CNN on true labels, the CNN on shuffled pixels, and the MLP of Experiment 1; if the shuffle costs the CNN much more than the seed spread, the permutation removed no information but the match between data and architecture.
# :::
#
# 3. **Where does the signal in random pixels come from?** Random pixels reached a test accuracy well above chance. Train a model on the *sorted* values of each example, `torch.sort(x, dim=1).values`, which keeps only the histogram.
#
# :::{admonition} Solution
# :class: dropdown
# Build `sorted_data = dataclasses.replace(dataset, x_train=dataset.x_train.sort(1).values, x_test=dataset.x_test.sort(1).values)`, a fresh `helpers.models.mlp(40, (256, 256))`, and call `train.fit(model, sorted_data, epochs=100, lr=cfg.lr, target_train_acc=1.0)`.
# What to look for: a per-example permutation keeps the multiset of an example's values, so if the sorted-values model reaches about the random-pixel run's test accuracy, that histogram is where the surviving signal lives, and "random pixels" is not pure noise on MNIST-1D, while Gaussian inputs are.
# :::
#
# 4. **How far does the construction scale?** Build `two_layer_interpolant` on $n$ = 250 and 1000 samples and on the whole training set and plot the largest training error against $n$. Why does it grow?
#
# :::{admonition} Solution
# :class: dropdown
# The cell below (hidden on the site) runs it: the largest error is {glue:text}`ch1_ex4_errors` for $n$ = {glue:text}`ch1_ex4_ns`; every label is still exact after rounding while it stays below 0.5.
# As $n$ grows, neighbouring projections $z_i$ get closer, the slopes $w_j$ (differences of label differences divided by gaps) get huge, and the sum $\sum_j w_j (z_i - b_j)$ cancels large terms: the triangular system is badly conditioned.
# The theorem is about exact arithmetic; floating point sets a practical limit.
# :::

# %% tags=hide-input
# Exercise 4, run: the construction on growing n (random labels, float64)
sizes = sorted({min(k, len(dataset.y_train)) for k in (250, 1000, 4000)})
ex4_errors = []
for size in sizes:
    labels = torch.randint(0, dataset.num_classes, (size,),
                           generator=torch.Generator().manual_seed(1))
    interpolant = interpolation.two_layer_interpolant(
        dataset.x_train[:size], labels.double(), seed=0)
    residual = interpolant(dataset.x_train[:size]) - labels
    ex4_errors.append(residual.abs().max().item())
glue("ch1_ex4_ns", ", ".join(f"{size:,}" for size in sizes))
glue("ch1_ex4_errors", ", ".join(f"{e:.1e}" for e in ex4_errors))
print(dict(zip(sizes, ex4_errors)))

# %% [markdown]
#
# 5. **What did the network learn about the corrupted examples?** Retrain the run of Experiment 2 at $p$ = {glue:text}`ch1_default_p` with `run = train.run(noisy_spec)` (it keeps the model, `run.model`, and the labels it was trained on, `run.data.y_train`). On the corrupted training examples, how often is the *original* label the network's second choice (its second-largest logit)? Compare with the chance rate of 1 in 9.
#
# :::{admonition} Solution
# :class: dropdown
# `clean = train.run_data(noisy_spec.replace(randomization="true labels"))`; `changed = run.data.y_train != clean.y_train`; then `second = run.model.eval()(run.data.x_train[changed]).topk(2, dim=1).indices[:, 1]` and `(second == clean.y_train[changed]).float().mean()`.
# What to look for: at 100% training accuracy the network predicts the given label on every corrupted example, so the original label can be at best its second choice; if it is that far more often than 1 in 9, the network kept the pattern while it memorized the exception, which is what the learning-order curves above suggest.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
