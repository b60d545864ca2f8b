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
# A multilayer perceptron with half a million parameters, trained on a few thousand examples, can reach 100% training accuracy and still classify most unseen examples correctly.
# Classical learning theory explains a small generalization gap by a small *hypothesis class*: its VC dimension, its Rademacher complexity, or the uniform stability of the learning algorithm.
# Zhang et al. {cite}`zhang2017understanding` asked a simple question of these explanations: how large is the class that a network trained by SGD actually explores?
#
# :::{admonition} The paper's claim
# :class: note
# "Deep neural networks easily fit random labels."
# State-of-the-art convolutional networks trained with SGD reach zero training error on CIFAR-10 and ImageNet when the labels are replaced by random ones, with only a small constant factor more training time.
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

from helpers import (data, interpolation, plots, scale, settings, sweep, train,
                     widgets)
from helpers.metrics import rank
from helpers.report import Claim, fmt_pct, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.randomization_tests(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
dataset = data.load_dataset(cfg.dataset, n_train=cfg.n_train, n_test=cfg.n_test)
chance = 1 / dataset.num_classes
glue("ch1_scale", SCALE)
print(cfg.scale, "scale:", dataset, "| device:", train.pick_device())

# %% [markdown]
# Every run below is described by one `train.RunSpec`: the (randomized) data, the network and its seed, and SGD (momentum 0.9) until the training accuracy reaches 100% or `cfg.max_epochs` runs out.
# `train.run(spec)` trains it; the sweeps below call `train.run_record`, which keeps the history, through `sweep.run_sweep`, which caches each finished run on disk, so re-running a cell, or resuming after an interruption, trains nothing twice.

# %%
base = cfg.run_spec()  # vary it with base.replace(randomization=..., p=...)
print(base)

# %% [markdown]
# ## Experiment 1: every randomization is fitted
#
# We train the same network, from the same initialization, on the true data and on each of the four randomizations, and record the training accuracy after every epoch.

# %%
kinds = data.RANDOMIZATIONS
specs = [base.replace(randomization=k) for k in kinds]
runs = sweep.run_sweep(train.run_record, specs, name="ch1-randomizations",
                       n_jobs=-1)
histories = {k: r.history for k, r in zip(kinds, runs)}

fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.4))
for kind, h in histories.items():
    plots.plot_accuracy(ax_acc, h, label=kind, test=False)
    ax_loss.plot(range(1, h.epochs + 1), h.train_loss, label=kind)
ax_acc.set_title("training accuracy")
ax_loss.set(title="training loss", xlabel="epoch",
            ylabel="cross-entropy (nats)", yscale="log")
ax_loss.legend(fontsize=8)
plt.show()

fitted_epochs = lambda h: h.epochs if h.stop_reason == "target_acc" else np.nan
fits = pd.DataFrame({k: {"epochs to 100% train": fitted_epochs(h),
                         "train acc (%)": 100 * h.train_acc[-1],
                         "test acc (%)": 100 * h.test_acc[-1]}
                     for k, h in histories.items()}).T
fits.round(1)

# %% [markdown]
# **What to notice.**
# Every curve reaches 100% training accuracy, true data or noise.
# The slowest of the five needed {glue:text}`ch1_slowest_epochs` epochs against {glue:text}`ch1_true_epochs` for the true labels.
# The test accuracies tell the rest of the story: {glue:text}`ch1_test_true` on the true labels and {glue:text}`ch1_test_random` on random labels, where chance is 10%.
# Shuffled pixels cost an MLP nothing: a fixed permutation of the inputs is undone by permuting the rows of the first weight matrix, so the MLP sees the same problem.
# Random pixels keep the *histogram* of each example's values (only their order is lost), which is why a little signal survives ({glue:text}`ch1_test_random_pixels` test accuracy).

# %% tags=remove-cell
glue("ch1_true_epochs", histories["true labels"].epochs)
glue("ch1_slowest_epochs", max(h.epochs for h in histories.values()))
glue("ch1_test_true", fmt_pct(histories["true labels"].test_acc[-1]))
glue("ch1_test_random", fmt_pct(histories["random labels"].test_acc[-1]))
glue("ch1_test_random_pixels", fmt_pct(histories["random pixels"].test_acc[-1]))

# %% [markdown]
# ## Experiment 2: label corruption, time to fit and test error
#
# Now we corrupt a growing fraction $p$ of the training labels, with {glue:text}`ch1_n_seeds` seeds per level, and measure two things: how many epochs the network needs to reach 100% training accuracy, and its test error at that point.
# The paper (Fig. 1b and 1c) found that time to fit grows by a small factor from $p = 0$ to $p = 1$, and that test error rises steadily to chance.

# %%
points = [base.replace(randomization="random labels", p=p, seed=s)
          for s in cfg.seeds for p in cfg.p_grid]
runs = sweep.run_sweep(train.run_record, points, name="ch1-label-corruption",
                       n_jobs=-1)
corruption = pd.DataFrame([{"p": pt.p, "seed": pt.seed,
                            "epochs": r.history.epochs,
                            "fitted": r.history.stop_reason == "target_acc",
                            "train_acc": r.history.train_acc[-1],
                            "test_error": 1 - r.history.test_acc[-1]}
                           for pt, r in zip(points, runs)])
by_p = corruption.groupby("p").agg(epochs=("epochs", "mean"),
                                   epochs_std=("epochs", "std"),
                                   test_error=("test_error", "mean"),
                                   fitted=("fitted", "all"))
by_p["slowdown"] = by_p["epochs"] / by_p.loc[0.0, "epochs"]

fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(9, 3.3))
ax_t.errorbar(by_p.index, by_p["slowdown"],
              yerr=by_p["epochs_std"].fillna(0) / by_p.loc[0.0, "epochs"],
              marker="o", capsize=3)
ax_t.set(xlabel="label corruption p",
         ylabel="epochs to fit / epochs at p = 0", title="time to fit")
ax_e.plot(by_p.index, 100 * by_p["test_error"], marker="o",
          color=plots.TEST_COLOR, label="test error")
ax_e.axhline(100 * (1 - chance), color="0.3", linestyle=":", label="chance")
ax_e.set(xlabel="label corruption p", ylabel="test error (%)",
         title="test error at 100% train accuracy", ylim=(0, 100))
ax_e.legend()
plt.show()
by_p.round(3)

# %% tags=remove-cell
slowdown = by_p.loc[1.0, "slowdown"]
test_acc_random = 1 - by_p.loc[1.0, "test_error"]
rho_error = spearmanr(by_p.index, by_p["test_error"]).statistic
glue("ch1_n_seeds", len(cfg.seeds))
glue("ch1_slowdown", f"{slowdown:.2f}")
glue("ch1_epochs_p0", f"{by_p.loc[0.0, 'epochs']:.1f}")
glue("ch1_epochs_p1", f"{by_p.loc[1.0, 'epochs']:.1f}")
glue("ch1_test_acc_p1", fmt_pct(test_acc_random))
glue("ch1_rho_error", f"{rho_error:.2f}")

# %% [markdown]
# **What to notice.**
# Fitting completely random labels took {glue:text}`ch1_epochs_p1` epochs on average against {glue:text}`ch1_epochs_p0` for the true labels: a slowdown of {glue:text}`ch1_slowdown` times.
# Memorizing pure noise is not much harder than learning the real rule.
# Test error rises with $p$ (Spearman's $\rho$ = {glue:text}`ch1_rho_error` between $p$ and test error), and at $p = 1$ the test accuracy is {glue:text}`ch1_test_acc_p1`, chance level.
# The network, the optimizer and the training accuracy are identical at every $p$; only the labels differ.
# Any explanation of generalization that ignores the labels cannot tell these runs apart.

# %% [markdown]
# ## The label-noise explorer
#
# Move the slider to choose the corruption level $p$ and see the learning curves of the run at that level: training and test accuracy (the shaded band is the generalization gap) and the cross-entropies.
# The figures come from the sweep above, so the slider works on the website without a kernel.
# In a live kernel (Colab, Jupyter), the button trains a fresh network at the chosen $p$ with a new seed.
#
# Try this: before moving the slider, predict the gap at $p = 0.5$.
# Then look at the test loss: at high $p$ it *rises* while the training loss falls, the signature of memorization.
# Do not conclude that the network "ignores" corrupted labels at small $p$: it fits every one of them, and the test accuracy still drops.

# %%
seed0 = {pt.p: r.history for pt, r in zip(points, runs)
         if pt.seed == cfg.seeds[0]}


def train_fresh(p):
    fresh = base.replace(randomization="random labels", p=p,
                         seed=max(cfg.seeds) + 1)
    return plots.gap_figure(train.run(fresh).history,
                            f"fresh run, p = {p:.2f}", chance)


widgets.gap_explorer(cfg.p_grid,
                     lambda p: plots.gap_figure(
                         seed0[p], f"label corruption p = {p:.2f}", chance),
                     symbol="p", default=cfg.explorer_default_p,
                     train=train_fresh,
                     caption="Label corruption <i>p</i>: the fraction of "
                             "training labels redrawn uniformly at random.")

# %% [markdown]
# ## Experiment 3: explicit regularization is neither necessary nor sufficient
#
# Zhang et al.'s Table 1 trains each network with and without explicit regularization, and on random labels.
# We do the same for the networks of this scale's profile.
# "Regularized" means weight decay {glue:text}`ch1_wd` and dropout {glue:text}`ch1_dropout` on the hidden layers (plus random crops at paper scale).

# %%
regimes = {"regularized": dict(weight_decay=cfg.weight_decay,
                               dropout=cfg.dropout, augment=cfg.augment),
           "no regularization": {},
           "random labels": dict(randomization="random labels")}
points_t1 = [base.replace(architecture=m.architecture,
                          model_kwargs=m.kwargs, **kw)
             for m in cfg.table_models for kw in regimes.values()]
runs_t1 = iter(sweep.run_sweep(train.run_record, points_t1,
                               name="ch1-regularization", n_jobs=-1))
rows = {}
for m in cfg.table_models:
    rows[m.label] = {"params": None}
    for regime in regimes:
        run = next(runs_t1)
        h = run.history
        rows[m.label]["params"] = run.num_parameters
        rows[m.label][regime] = (f"{100 * h.train_acc[-1]:.1f} / "
                                 f"{100 * h.test_acc[-1]:.1f}")
        rows[m.label][f"_{regime}_test"] = h.test_acc[-1]
table1 = pd.DataFrame(rows).T
table1[["params", *regimes]].rename_axis("train / test accuracy (%)")

# %% tags=remove-cell
glue("ch1_wd", f"{cfg.weight_decay:g}")
glue("ch1_dropout", f"{cfg.dropout:g}")
reg_gain = (table1["_regularized_test"]
            - table1["_no regularization_test"]).astype(float)
glue("ch1_reg_gain_max", f"{100 * reg_gain.max():.1f}")
glue("ch1_noreg_min",
     fmt_pct(table1["_no regularization_test"].astype(float).min()))

# %% [markdown]
# **What to notice.**
# Regularization helps a little (at most {glue:text}`ch1_reg_gain_max` points of test accuracy here), but every network generalizes far above chance without it (the worst reaches {glue:text}`ch1_noreg_min`).
# It is not *necessary*.
# And the same networks still memorize random labels, which makes it not *sufficient* to explain why the true-label networks generalize.
# On MNIST-1D, MLPs stay well below the accuracy a 1-D CNN reaches; the ranking between architectures is real, but the point of the table is the comparison within each row.

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
# Zhang et al. add a caution that this book takes seriously in the next chapters: the minimum norm is not the whole story either, since norms can be made arbitrarily large or small without changing what a ReLU network computes.

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
claims = [
    Claim(claim="Random labels are fitted to 100% training accuracy",
          paper="100% (CIFAR-10, Inception; 99.3-100% for others)",
          measured=f"{100 * fit_acc_random:.1f}% "
                   f"(worst of {len(cfg.seeds)} seeds)",
          held=fit_acc_random >= 0.999,
          test="held if the worst seed at p = 1 reaches 99.9% training "
               "accuracy within the epoch cap; the cap is what could make "
               "it fail"),
    Claim(claim="Every randomization is fitted (>= 99% train accuracy)",
          paper="~100% for all tests (Fig. 1a)",
          measured=f"min {100 * min_fit:.1f}%",
          held=min_fit >= 0.99,
          test="held if all five kinds of data reach 99% training accuracy "
               f"within {cfg.max_epochs} epochs"),
    Claim(claim="Random labels take only a small constant factor longer "
                "(<= 4x)",
          paper="about 1x-4x (approx.)",
          measured=f"{slowdown:.2f}x (epochs, p = 1 vs p = 0)",
          held=bool(by_p["fitted"].all()) and slowdown <= 4,
          test="held if every p is fitted within the cap and the mean epochs "
               "to fit at p = 1 are at most 4 times those at p = 0, the top "
               "of the paper's range"),
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
          test=f"held if the mean test accuracy at p = 1 lies within 3 points "
               f"of chance; with {len(dataset.y_test):,} test samples the "
               f"binomial standard error at chance is {100 * chance_se:.1f} "
               f"points"),
    Claim(claim="Regularization is not necessary (no-reg test accuracy within "
                "10 points of regularized, > 3x chance)",
          paper="e.g. 85.75% vs 89.05% (Inception)",
          measured=f"gain <= {100 * reg_gain.max():.1f} pts; "
                   f"worst no-reg {fmt_pct(no_reg.min())}",
          held=reg_gain.max() <= 0.10 and no_reg.min() > 3 * chance,
          test="held if regularization adds at most 10 points of test "
               "accuracy to every network and every unregularized one "
               "exceeds 3x chance"),
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
# Networks trained by SGD fit random labels, shuffled and random pixels, and Gaussian noise, and they need at most a small constant factor more epochs than on real data ({glue:text}`ch1_slowdown` times for random labels).
# So the class of functions a network can reach is large enough to memorize the training set, and complexity measures of the class alone cannot explain why the same network generalizes on real labels.
# Explicit regularization helps a little and explains none of this.
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
# Every run takes more epochs, but the *ratio* between $p = 1$ and $p = 0$ stays a small constant: the slowdown is a property of the data, not of the step size.
# :::
#
# 2. **Shuffled pixels and convolutions.** An MLP is indifferent to a fixed permutation of its inputs. Is a 1-D CNN? Train `architecture="cnn1d"` (`model_kwargs={}`) on true labels and on shuffled pixels, and compare test accuracies.
#
# :::{admonition} Solution
# :class: dropdown
# `sweep.run_sweep(train.run_record, [base.replace(architecture="cnn1d", model_kwargs={}, randomization=k) for k in ("true labels", "shuffled pixels")], name="ch1-ex2")`.
# The CNN beats the MLP on the true signals, because its small kernels and weight sharing match the local structure of MNIST-1D.
# Shuffling destroys that locality, and the CNN's test accuracy falls to about the MLP's level, or below it, while it still fits the training set.
# The permutation removes no information; it removes the match between data and architecture.
# :::
#
# 3. **Where does the signal in random pixels come from?** Random pixels reached a test accuracy well above chance. Train a model on the *sorted* values of each example, `torch.sort(x, dim=1).values`, which keeps only the histogram.
#
# :::{admonition} Solution
# :class: dropdown
# Build `sorted_data = dataclasses.replace(dataset, x_train=dataset.x_train.sort(1).values, x_test=dataset.x_test.sort(1).values)`, a fresh `helpers.models.mlp(40, (256, 256))`, and call `train.fit(model, sorted_data, epochs=100, lr=cfg.lr, target_train_acc=1.0)`.
# Its test accuracy is close to the random-pixel run's: a per-example permutation leaves the multiset of values, and the digits' templates differ in their value distributions.
# "Random pixels" is therefore not pure noise on MNIST-1D; Gaussian inputs are.
# :::
#
# 4. **How far does the construction scale?** Build `two_layer_interpolant` on $n$ = 250, 1000, 4000 samples and plot the largest training error against $n$. Why does it grow?
#
# :::{admonition} Solution
# :class: dropdown
# The error grows with $n$ (it stays far below 0.5, so the labels are still exact after rounding).
# As $n$ grows, neighbouring projections $z_i$ get closer, the slopes $w_j$ (differences of label differences divided by gaps) get huge, and the sum $\sum_j w_j (z_i - b_j)$ cancels large terms: the triangular system is badly conditioned.
# The theorem is about exact arithmetic; floating point sets a practical limit.
# :::
#
# 5. **Partial corruption, per example.** At $p = 0.5$, split the test accuracy of Experiment 2's network by whether a *training* example's label was corrupted. Then compute the training accuracy of the network on the *original* labels of the corrupted examples.
#
# :::{admonition} Solution
# :class: dropdown
# Recompute the corrupted labels with `data.corrupt_labels(dataset.y_train, 0.5, 10, seed=0)` (the seed of the run), retrain with `run = train.run(base.replace(randomization="random labels", p=0.5))`, which keeps the model (`run.model`) and the labels it was trained on (`run.data.y_train`), and evaluate `model(dataset.x_train[changed])` against both label sets.
# The network predicts the *corrupted* label on almost every corrupted training example (it memorized them) and so scores near chance on their original labels, while on test examples it stays well above chance.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
