# %% [markdown]
# # 5. Heavy-tailed spectra and weighted alpha
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/05_heavy_tails.ipynb)
#
# :::{admonition} Learning objectives
# After this chapter you can
# - compute the empirical spectral density (ESD) of a layer's weight matrix and compare it with the Marchenko–Pastur law of a random matrix;
# - fit a power law to the tail of an ESD by maximum likelihood, with $x_{\min}$ chosen by the Kolmogorov–Smirnov distance, and read its exponent $\alpha$;
# - compute Martin & Mahoney's weighted alpha $\hat\alpha$ and the log norms of a network from its weights, with no training or test data;
# - test, on a zoo of trained networks, whether $\hat\alpha$ tracks test accuracy, and how the batch size changes the tails;
# - check a fast analyzer against the reference implementation, `weightwatcher`.
# :::
#
# ## The question
#
# Chapters 1–4 judged a trained network with data: its loss on the training set, on fresh samples, or along directions of the loss landscape.
# Martin & Mahoney {cite}`martin2020heavy` ask for less.
# Given only the trained weights of a family of networks, with no training data, no test data and no knowledge of how they were trained, can one tell which network generalizes better?
#
# :::{admonition} The paper's claim
# :class: note
# The weight matrices of well-trained networks have *heavy-tailed* spectra: the eigenvalues of $W^\top W$ follow a power law $\rho(\lambda) \sim \lambda^{-\alpha}$ in their tail.
# Over about 7,500 layer matrices of 50 ImageNet-pretrained models (VGG, ResNet, DenseNet and others), most fitted exponents lie between 2 and 4.
# A single number per model, the weighted average $\hat\alpha$ of the layers' exponents, tracks the models' top-1 accuracy within each architecture series, close to linearly for VGG: smaller $\hat\alpha$, better model.
# No training or test data are needed to compute it.
# :::
#
# **The empirical spectral density.**
# For a layer with weight matrix $W \in \mathbb{R}^{N \times M}$ (transposed if needed so that $N \ge M$), the correlation matrix $X = W^\top W$ has $M$ eigenvalues $\lambda_1, \dots, \lambda_M \ge 0$, the squared singular values of $W$.
# Their distribution is the layer's ESD.
# A convolution with weight of shape (out, in, $k_h$, $k_w$) gives $k_h k_w$ matrices $W[:, :, i, j]$, and their eigenvalues are pooled into one ESD for the layer.
#
# **Random matrices: Marchenko–Pastur.**
# If the entries of $W$ are independent with mean zero and variance $\sigma^2$, then as $N, M \to \infty$ with $M/N$ fixed the ESD converges to the Marchenko–Pastur density {cite}`marchenko1967distribution`
#
# $$
# \rho_{\mathrm{MP}}(\lambda) = \frac{\sqrt{(\lambda_+ - \lambda)(\lambda - \lambda_-)}}{2\pi \sigma^2 M \lambda},
# \qquad \lambda_\pm = N \sigma^2 \Big(1 \pm \sqrt{M/N}\Big)^2 ,
# $$
#
# a compact bulk with nothing beyond the edge $\lambda_+$ (up to fluctuations that shrink like $N^{-2/3}$).
# At initialization a layer *is* such a random matrix.
#
# **Heavy tails.**
# Martin & Mahoney {cite}`martin2021implicit` found that training changes this picture: the ESD of a trained layer grows a tail far beyond $\lambda_+$, well described by a power law
#
# $$
# \rho(\lambda) \propto \lambda^{-\alpha}, \qquad \lambda \ge x_{\min} .
# $$
#
# Given the $n$ eigenvalues $\lambda_i \ge x_{\min}$, the maximum-likelihood exponent of a continuous power law and its standard error are
#
# $$
# \alpha = 1 + n \Big( \sum_{\lambda_i \ge x_{\min}} \ln \frac{\lambda_i}{x_{\min}} \Big)^{-1},
# \qquad \sigma_\alpha = \frac{\alpha - 1}{\sqrt{n}} ,
# $$
#
# and $x_{\min}$ is the eigenvalue that minimizes the Kolmogorov–Smirnov distance $D = \max_{\lambda \ge x_{\min}} |F_{\mathrm{emp}}(\lambda) - F_{\alpha}(\lambda)|$ between the tail and the fitted law {cite}`clauset2009power`.
# Smaller $\alpha$ means a heavier tail: a few strong directions carry much of the layer's norm.
# WeightWatcher, the authors' tool, reads $\alpha < 2$ as over-trained and $\alpha > 6$ as under-trained (close to random).
#
# **From layers to a model.**
# The paper weights each layer's exponent by the log of its largest eigenvalue and averages over the $L$ layers:
#
# $$
# \hat\alpha = \frac{1}{L} \sum_{l=1}^{L} \alpha_l \log_{10} \lambda_{\max, l} .
# $$
#
# We set it beside simpler norms of the same spectra: the log norm $\frac{1}{L}\sum_l \log_{10} \sum_i \lambda_{l,i} = \frac{1}{L}\sum_l \log_{10} \|W_l\|_F^2$, the log spectral norm $\frac{1}{L}\sum_l \log_{10} \lambda_{\max,l}$ and the stable rank $\sum_i \lambda_i / \lambda_{\max}$.
#
# `helpers.metrics.esd` computes all of these.
# It follows the conventions of weightwatcher 0.7.7, which the tests check layer by layer (alpha, $x_{\min}$, $\lambda_{\max}$, weighted alpha and the norms agree to rounding), including weightwatcher's `conv2d_norm`, which halves a Conv2d layer's eigenvalues (it leaves $\alpha$ unchanged and lowers $\log_{10}\lambda_{\max}$ by 0.30), and eigenvalues below $10^{-5}$ are treated as zeros and left out of the fit.
# There is one addition: Conv1d layers are analyzed (weightwatcher skips them).
# It is faster because it takes the eigenvalues of the small Gram matrix $W^\top W$ in float64, batched over a convolution's slices, instead of an SVD per slice, and because it vectorizes the KS distances of the candidate $x_{\min}$, using exact lower bounds to skip most of them.

# %% [markdown]
# ## Setup
#
# On Colab the first cell installs `helpers`.
# The scale profile sets every size below: `small` (the default) trains a zoo of MLPs on MNIST-1D {cite}`greydanus2020scaling` on a CPU; `paper` trains Zhang et al.'s small AlexNet-style network on CIFAR-10 on a GPU.

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
from scipy.stats import spearmanr

from helpers import data, models, plots, scale, settings, sweep, train, zoo
from helpers.metrics import esd, rank
from helpers.report import Claim, fmt_pct, glue, scorecard

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise; or "paper"
cfg = scale.heavy_tails(SCALE)
# one torch thread, as in every sweep: same numbers
settings.use_fixed_threads()
plots.set_theme()
dataset = data.load_dataset(cfg.dataset, n_train=cfg.n_train, n_test=cfg.n_test)
print(cfg.scale, "scale:", dataset, f"| zoo of {len(cfg.zoo())} models |",
      "device:", train.pick_device())

# %% [markdown]
# Each network of this chapter is one `train.RunSpec`, trained and analyzed by `zoo.train_and_analyze` and cached by `sweep.run_sweep`.
# It builds the network with a seed, trains it with SGD (momentum 0.9) for a fixed {glue:text}`ch5_epochs` epochs, and then analyzes the spectra of its weights with `esd.analyze`, which sees the weights and nothing else.
# Layers with fewer than {glue:text}`ch5_min_evals` eigenvalues are skipped, so every ESD below has at least that many.

# %%
base_setting = cfg.zoo()[0]
print(base_setting)
print(cfg.point(base_setting))  # the run (a train.RunSpec) and the ESD settings

# %% tags=remove-cell
glue("ch5_epochs", cfg.max_epochs)
glue("ch5_min_evals", cfg.min_evals)

# %% [markdown]
# ## Experiment 1: from Marchenko–Pastur to a heavy tail
#
# We take one hidden layer of the base network, a {glue:text}`ch5_layer_shape` matrix, and look at its ESD twice: at initialization and after training.
# Each panel shows the histogram on log-log axes, the Marchenko–Pastur density of a random matrix with the same shape and the same Frobenius norm ($\sigma^2 = \sum_i \lambda_i / NM$), its edge $\lambda_+$, and the power law fitted to the tail from $x_{\min}$ (drawn as its share of the whole density).

# %%
base = sweep.run_sweep(zoo.train_and_analyze, [cfg.point(base_setting)],
                       name="ch5-zoo")[0]
# the base network untrained, as its run built it
init_model = train.build_model(cfg.point(base_setting)["run"], dataset)
layer = base.esd[-1]  # the last analyzed layer of the trained base network
spectra = {"at initialization":
               esd.layer_eigenvalues(init_model, cfg.min_evals),
           "after training": base.eigenvalues}
spectra = {k: np.asarray(v[layer["name"]]) for k, v in spectra.items()}
n, m, nm = layer["N"], layer["M"], layer["N"] * layer["M"] * layer["slices"]
fits = {k: esd.power_law_fit(v[v > esd.EVALS_THRESH])
        for k, v in spectra.items()}
# same-norm MP
edges = {k: esd.mp_bounds(n, m, v.sum() / nm)[1] for k, v in spectra.items()}
# the two fits
pd.DataFrame([vars(f) for f in fits.values()], index=list(fits)).round(4)

# %%
def esd_panel(ax, evals, fit, title):
    """An ESD on log-log axes, the same-norm Marchenko-Pastur density and the
    fitted tail."""
    # same-norm random W
    sigma2, evals = evals.sum() / nm, evals[evals > esd.EVALS_THRESH]
    lo, hi = esd.mp_bounds(n, m, sigma2)
    bins = np.geomspace(evals.min(), evals.max() * 1.001, 40)
    ax.hist(evals, bins=bins, density=True, alpha=0.45, label="ESD")
    grid = np.geomspace(max(bins[0], lo), hi, 300)
    ax.plot(grid, esd.mp_density(grid, n, m, sigma2), color="0.25",
            label="Marchenko–Pastur")
    ax.axvline(hi, color="0.25", ls=":", label=r"MP edge $\lambda_+$")
    tail = np.geomspace(fit.xmin, evals.max(), 50)
    ax.plot(tail, fit.pdf(tail), color=plots.TEST_COLOR, lw=2,
            label=f"power law, α = {fit.alpha:.2f}")
    ax.axvline(fit.xmin, color=plots.TEST_COLOR, ls="--", lw=1,
               label=r"$x_{\min}$")
    ax.set(xscale="log", yscale="log",
           xlabel=r"eigenvalue $\lambda$ of $W^\top W$",
           ylabel="density", title=title)
    ax.legend(fontsize=7, loc="lower left")


fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, (title, evals) in zip(axes, spectra.items()):
    esd_panel(ax, evals, fits[title], f"layer {layer['name']} {title}")
plt.show()

# %% tags=remove-cell
init_evals, trained_evals = (spectra["at initialization"],
                             spectra["after training"])
mp_ks = np.abs(esd.mp_cdf(init_evals, n, m, init_evals.sum() / nm)
               - (np.arange(len(init_evals)) + 0.5) / len(init_evals)).max()
edge_ratio = {k: spectra[k].max() / edges[k] for k in spectra}
beyond_edge = (trained_evals > edges["after training"]).mean()
glue("ch5_layer_shape", f"{n} × {m}")
glue("ch5_mp_ks", f"{mp_ks:.3f}")
glue("ch5_edge_init", f"{edge_ratio['at initialization']:.2f}")
glue("ch5_edge_trained", f"{edge_ratio['after training']:.1f}")
glue("ch5_beyond_edge", fmt_pct(beyond_edge))
glue("ch5_alpha_init", f"{fits['at initialization'].alpha:.1f}")
glue("ch5_alpha_trained", f"{fits['after training'].alpha:.2f}")
glue("ch5_sigma_trained", f"{fits['after training'].sigma:.2f}")
glue("ch5_tail_trained", fits["after training"].num_tail)

# %% [markdown]
# **What to notice.**
# At initialization the ESD is the Marchenko–Pastur law: the largest Kolmogorov–Smirnov gap between the eigenvalues and the MP distribution is {glue:text}`ch5_mp_ks`, and the largest eigenvalue sits at {glue:text}`ch5_edge_init` times the edge $\lambda_+$.
# A power law can still be fitted to the last eigenvalues before the edge (here $\alpha$ = {glue:text}`ch5_alpha_init`), but nothing lies beyond the bulk: a fitted exponent means something only together with a tail past $\lambda_+$.
# After training, the same layer has eigenvalues far beyond the edge of a random matrix of the same norm: the largest is {glue:text}`ch5_edge_trained` times $\lambda_+$, and {glue:text}`ch5_beyond_edge` of the eigenvalues lie beyond it.
# The tail from $x_{\min}$ ({glue:text}`ch5_tail_trained` eigenvalues) follows a power law with $\alpha$ = {glue:text}`ch5_alpha_trained` ± {glue:text}`ch5_sigma_trained`.
# Training has put strong correlations into a few directions of $W$, and left the rest of the spectrum as a bulk.

# %% [markdown]
# ## Experiment 2: a zoo of networks, judged without data
#
# The paper's experiment compares many networks: does $\hat\alpha$ rank them as their test accuracy does?
# Our zoo is the base network plus variations of one factor at a time: width, batch size, learning rate, weight decay and label noise (a fraction $p$ of the training labels redrawn at random), {glue:text}`ch5_n_models` networks in all.
# For each one we compute $\hat\alpha$ and the norms from the weights, then look up the test accuracy that training recorded.

# %%
settings_zoo = cfg.zoo()
runs = sweep.run_sweep(zoo.train_and_analyze,
                       [cfg.point(z) for z in settings_zoo],
                       name="ch5-zoo", n_jobs=settings.sweep_jobs())
table = pd.DataFrame([dict(z, test_acc=r.history.test_acc[-1], **r.esd_summary)
                      for z, r in zip(settings_zoo, runs)
                      if r.esd_summary])  # none if diverged
metrics = {"alpha_hat": r"weighted alpha $\hat\alpha$",
           "alpha": r"mean $\alpha$",
           "log_norm": "log norm", "log_spectral_norm": "log spectral norm",
           "stable_rank": "stable rank"}
rho = {k: spearmanr(table[k], table["test_acc"]).statistic for k in metrics}

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
for ax, key in zip(axes, ("alpha_hat", "log_norm")):
    for varied, group in table.groupby("varied", sort=False):
        ax.scatter(group[key], 100 * group["test_acc"], label=varied, s=30)
    ax.set(xlabel=metrics[key], ylabel="test accuracy (%)",
           title=f"Spearman ρ = {rho[key]:.2f}")
axes[0].legend(title="varied", fontsize=8)
plt.show()
print(f"{len(table)} of {len(runs)} models analyzed; "
      f"{len(runs) - len(table)} diverged")
(pd.Series(rho, name="Spearman ρ with test accuracy").rename(metrics)
 .round(2).to_frame())

# %% tags=remove-cell
glue("ch5_n_models", len(settings_zoo))
glue("ch5_rho_alpha_hat", f"{rho['alpha_hat']:.2f}")
glue("ch5_rho_alpha", f"{rho['alpha']:.2f}")
glue("ch5_rho_log_norm", f"{rho['log_norm']:.2f}")
glue("ch5_rho_spectral", f"{rho['log_spectral_norm']:.2f}")
zoo_verdict = (
    "that sign, strong enough to pass the scorecard's threshold of -0.5"
    if rho["alpha_hat"] <= -0.5
    else "the opposite sign" if rho["alpha_hat"] >= 0
    else "that sign, but weaker than the scorecard's threshold of -0.5")
glue("ch5_zoo_verdict", zoo_verdict)
glue("ch5_acc_range",
     f"{fmt_pct(table.test_acc.min())} to {fmt_pct(table.test_acc.max())}")
wd = table[table.varied == "weight_decay"].sort_values("weight_decay")
glue("ch5_wd_alpha_hat", f"{wd.alpha_hat.iloc[-1]:.2f}")
glue("ch5_wd_spectral", f"{wd.log_spectral_norm.iloc[-1]:.2f}")
glue("ch5_base_alpha_hat", f"{table.alpha_hat.iloc[0]:.2f}")
glue("ch5_base_spectral", f"{table.log_spectral_norm.iloc[0]:.2f}")
glue("ch5_wd_acc", fmt_pct(wd.test_acc.iloc[-1]))
glue("ch5_base_acc", fmt_pct(table.test_acc.iloc[0]))

# %% [markdown]
# **What to notice.**
# The zoo's test accuracies span {glue:text}`ch5_acc_range`.
# Over the whole zoo, Spearman's rank correlation between $\hat\alpha$ and test accuracy is {glue:text}`ch5_rho_alpha_hat`; for the plain mean of the layers' $\alpha$ it is {glue:text}`ch5_rho_alpha`.
# The paper predicts a negative sign (smaller $\hat\alpha$, better network); here we got {glue:text}`ch5_zoo_verdict`.
# The log norm, which needs no power-law fit, gives {glue:text}`ch5_rho_log_norm`, and the log spectral norm {glue:text}`ch5_rho_spectral`.
# Look at where the points fall by colour.
# Weight decay shrinks the weights, and with them $\lambda_{\max}$: the strongest weight decay gives $\hat\alpha$ = {glue:text}`ch5_wd_alpha_hat` (log spectral norm {glue:text}`ch5_wd_spectral`, test accuracy {glue:text}`ch5_wd_acc`) against {glue:text}`ch5_base_alpha_hat` ({glue:text}`ch5_base_spectral`, {glue:text}`ch5_base_acc`) for the base network.
# The factor $\log_{10}\lambda_{\max}$ in $\hat\alpha$ makes it partly a norm, and norms move with regularization and scale for reasons unrelated to accuracy.
# The paper compares networks within an architecture *series*, trained to convergence by their authors; our zoo varies how one small network was trained, which is a different and harder test.

# %% [markdown]
# ## Experiment 3: where do the layers' exponents fall?
#
# The paper's second observation is about single layers: across thousands of them, most fitted $\alpha$ lie between 2 and 4.
# Here are the exponents of every analyzed layer in the zoo.

# %%
layers = pd.DataFrame([dict(l, **z) for z, r in zip(settings_zoo, runs)
                       for l in r.esd])
in_range = layers["alpha"].between(2, 4)
fig, ax = plt.subplots(figsize=(6, 3.3))
ax.hist(layers["alpha"],
        bins=np.arange(1, max(7, layers["alpha"].max()) + 0.25, 0.25))
ax.axvspan(2, 4, color="0.6", alpha=0.25, label=r"$2 \leq \alpha \leq 4$")
ax.set(xlabel=r"fitted exponent $\alpha$ of one layer", ylabel="layers",
       title=f"{len(layers)} layers")
ax.legend()
plt.show()
layers.groupby("name")["alpha"].describe().round(2)

# %% tags=remove-cell
share_2_4 = in_range.mean()
glue("ch5_n_layers", len(layers))
glue("ch5_share_2_4", fmt_pct(share_2_4))
glue("ch5_share_below_2", fmt_pct((layers["alpha"] < 2).mean()))
glue("ch5_share_above_6", fmt_pct((layers["alpha"] > 6).mean()))
glue("ch5_n_train", f"{len(dataset.y_train):,}")
glue("ch5_range_verdict",
     "these small networks already have exponents in the paper's range"
     if share_2_4 > 0.5
     else "fewer than half of these layers reach the paper's range")

# %% [markdown]
# **What to notice.**
# Of the {glue:text}`ch5_n_layers` layers, {glue:text}`ch5_share_2_4` have $2 \le \alpha \le 4$, {glue:text}`ch5_share_below_2` are below 2 (weightwatcher's "over-trained" side) and {glue:text}`ch5_share_above_6` above 6 (its "under-trained" side).
# Trained for {glue:text}`ch5_epochs` epochs on {glue:text}`ch5_n_train` examples, {glue:text}`ch5_range_verdict`.

# %% [markdown]
# ## Experiment 4: smaller batches, heavier tails
#
# Martin & Mahoney {cite}`martin2021implicit` trained the same network with batch sizes from large to small and found that smaller batches give heavier-tailed layers, which they read as stronger implicit self-regularization.
# The zoo holds this experiment: the base network and its batch-size variations, all other settings equal, each trained for the same number of *epochs*.
# At equal epochs a smaller batch also means more SGD steps, so we run the same batch sizes a second time with the epochs scaled to give every run the base network's number of steps.

# %%
batch = (table[table.varied.isin(["base", "batch_size"])]
         .sort_values("batch_size"))
def equal_steps_point(b):
    """The base model at batch size ``b`` with as many SGD steps as the base
    model."""
    point = cfg.point(dict(base_setting, batch_size=b))
    # epochs scale with the batch
    epochs = max(1, cfg.max_epochs * b // cfg.batch_size)
    return dict(point, run=point["run"].replace(max_epochs=epochs))


steps_points = [equal_steps_point(b) for b in batch["batch_size"]]
equal_steps = sweep.run_sweep(zoo.train_and_analyze, steps_points,
                              name="ch5-zoo", n_jobs=settings.sweep_jobs())
batch["alpha (equal steps)"] = [r.esd_summary["alpha"] for r in equal_steps]
fig, ax = plt.subplots(figsize=(6, 3.3))
ax.plot(batch["batch_size"], batch["alpha"], marker="s", color="k",
        label="equal epochs")
ax.plot(batch["batch_size"], batch["alpha (equal steps)"], marker="^",
        color="0.55", label="equal steps")
ax.set_xscale("log", base=2)
ax.set_xticks(batch["batch_size"], labels=batch["batch_size"])
ax.minorticks_off()
ax.set(xlabel="batch size (log scale)", ylabel=r"mean fitted exponent $\alpha$")
ax.legend(fontsize=8)
plt.show()
rho_batch = spearmanr(batch["batch_size"], batch["alpha"]).statistic
rho_steps = spearmanr(batch["batch_size"],
                      batch["alpha (equal steps)"]).statistic
batch[["batch_size", "alpha", "alpha (equal steps)", "test_acc"]].round(3)

# %% tags=remove-cell
glue("ch5_rho_batch", f"{rho_batch:.2f}")
glue("ch5_rho_steps", f"{rho_steps:.2f}")
glue("ch5_alpha_small_batch", f"{batch.alpha.iloc[0]:.2f}")
glue("ch5_alpha_large_batch", f"{batch.alpha.iloc[-1]:.2f}")
glue("ch5_small_batch", int(batch.batch_size.iloc[0]))
glue("ch5_large_batch", int(batch.batch_size.iloc[-1]))
glue("ch5_batch_verdict",
     "the ordering the paper reports" if rho_batch >= 0.8 else
     "not the clean ordering the paper reports")
glue("ch5_steps_range", f"{batch['alpha (equal steps)'].min():.2f} to "
     f"{batch['alpha (equal steps)'].max():.2f}")
if rho_batch >= 0.8 and abs(rho_steps) < 0.5:
    steps_verdict = ("most of the batch-size effect here comes from how many "
                     "steps SGD took")
elif rho_steps >= 0.8:
    steps_verdict = ("the ordering survives at equal steps: here the batch "
                     "size itself matters")
else:
    steps_verdict = "neither protocol gives a clean ordering here"
glue("ch5_steps_verdict", steps_verdict)

# %% [markdown]
# **What to notice.**
# At equal epochs, the mean exponent goes from {glue:text}`ch5_alpha_small_batch` at batch size {glue:text}`ch5_small_batch` to {glue:text}`ch5_alpha_large_batch` at {glue:text}`ch5_large_batch` (Spearman's $\rho$ between batch size and mean $\alpha$: {glue:text}`ch5_rho_batch`).
# This is {glue:text}`ch5_batch_verdict`.
# At equal steps the mean exponents range from {glue:text}`ch5_steps_range`, with $\rho$ = {glue:text}`ch5_rho_steps`.
# In short, {glue:text}`ch5_steps_verdict`.
# Heavy tails grow with training (Exercise 3 follows them epoch by epoch), and at equal epochs a small batch takes more steps.

# %% [markdown]
# ## Experiment 5: the paper's experiment on pretrained ImageNet models
#
# The paper's main figure sets $\hat\alpha$ of torchvision's pretrained VGG and ResNet models against their ImageNet top-1 accuracy.
# This needs `torchvision` and a network connection to download the weights (on Colab it works as is; the first run downloads a few GB).
# `esd.pretrained_summary` reads the top-1 accuracy from the weights' metadata, so the accuracy, too, comes without touching any data.
# Where torchvision or the network is missing, the section says so and the scorecard marks its row as skipped.

# %%
try:
    if not cfg.pretrained:
        raise RuntimeError(f"the {cfg.scale} profile lists no pretrained "
                           "models")
    points = [{"name": name} for name in cfg.pretrained]
    summaries = sweep.run_sweep(esd.pretrained_summary, points,
                                name="ch5-pretrained")
    pretrained = pd.DataFrame(summaries)
    pretrained["series"] = pretrained["model"].str.extract(r"^([a-z]+)",
                                                           expand=False)
    skipped = None
except RuntimeError as err:
    pretrained, skipped = None, str(err)
    print(f"skipped: {err}")

# %%
if pretrained is not None:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for series, group in pretrained.groupby("series"):
        ax.scatter(group["alpha_hat"], group["top1"], label=series)
        for _, row in group.iterrows():
            ax.annotate(row["model"], (row["alpha_hat"], row["top1"]),
                        fontsize=7)
    ax.set(xlabel=r"weighted alpha $\hat\alpha$", ylabel="ImageNet top-1 (%)")
    ax.legend()
    plt.show()
    rho_series = pd.Series({s: spearmanr(g["alpha_hat"], g["top1"]).statistic
                            for s, g in pretrained.groupby("series")})
    display(pretrained.round(3),
            rho_series.rename("Spearman ρ (α-hat, top-1)").to_frame())

# %% tags=remove-cell
glue("ch5_pretrained_status", "skipped: " + skipped if skipped else
     f"ran on {len(pretrained)} models")

# %% [markdown]
# **What to notice.**
# This run of the section: {glue:text}`ch5_pretrained_status`.
# When it runs, compare the ranking within each series: the paper reports that $\hat\alpha$ falls as top-1 rises within VGG and within ResNet, close to linearly for VGG, but makes no claim across series.

# %% [markdown]
# ## How fast is the analyzer?
#
# `benchmarks/bench_esd.py` times `esd.analyze` against `weightwatcher.WeightWatcher(model).analyze()` on the same models in one run: an MLP 784-2048-2048-2048-10 and a network with the convolution shapes of ResNet-18, with random weights.
# It was run when this chapter was last revised, not when the book builds, on the development machine: a 2-core Intel Xeon (AVX-512) with little else running (load average about 1), three repeats each, once with one thread and once with both threads for both libraries.
# With both threads (torch's default on this machine), weightwatcher took 2.78 ± 0.09 s on the MLP and `esd.analyze` 0.82 ± 0.15 s, 3.4 times faster; on the ResNet-18 shapes, 1.60 ± 0.01 s against 0.49 ± 0.02 s, 3.3 times faster.
# With one thread: 4.47 ± 0.06 s against 1.04 ± 0.03 s on the MLP (4.3 times), and 1.44 ± 0.00 s against 0.55 ± 0.00 s on the ResNet-18 shapes (2.6 times).
# Where the time goes (one thread): weightwatcher spends 4.37 s (MLP) and 0.95 s (ResNet-18) in its SVDs and 0.06 s and 0.45 s in its power-law fits; `esd` spends 1.01 s and 0.52 s in the eigenvalues and 0.005 s and 0.028 s in the fits.
# The fits are 12 to 16 times faster.
# The eigenvalues are 4.3 times faster for the 2048 × 2048 matrices but only 1.8 times for the 512 × 512 slices of ResNet-18: there almost all of a symmetric eigensolver's time is the reduction to tridiagonal form (84 of 88 ms for nine 512 × 512 Gram matrices), memory-bound work that gains little over an SVD.
# So the threefold speed-up this book aimed for holds with both threads on both models, but not for the ResNet-18 shapes on one thread.
# The fitted exponents of the two analyzers agree to rounding on every layer.
# Computing the eigenvalues in float32 would be faster (7.0 and 3.8 times weightwatcher's speed on one thread), and it changes $\alpha$ by at most $10^{-4}$ on layers with $\alpha < 10$, but by 0.02 to 0.04 on the near-random 512 × 512 layers, whose $\alpha$ reaches 120; so float64 stays the default.

# %% [markdown]
# ## Reproduction scorecard
#
# Each row is one of the paper's claims, what this run measured, and whether the claim held at this scale.
# The verdicts are computed from the numbers above, with the threshold stated in the claim.

# %%
init_fit, trained_fit = fits["at initialization"], fits["after training"]
edge_init, edge_trained = (edge_ratio["at initialization"],
                           edge_ratio["after training"])
measured = {
    "mp": f"D = {mp_ks:.3f}; λ_max / λ+ = {edge_init:.2f}",
    "tail": f"λ_max / λ+ = {edge_trained:.1f}; α = {trained_fit.alpha:.2f} "
            f"(init {init_fit.alpha:.1f})",
    "zoo": f"ρ = {rho['alpha_hat']:.2f} "
           f"(log norm: ρ = {rho['log_norm']:.2f}; {len(table)} models)",
    "pretrained": f"skipped ({skipped})" if skipped else
                  ", ".join(f"{s}: ρ = {v:.2f}"
                            for s, v in rho_series.items())}
rho_of = lambda x, y: spearmanr(x, y).statistic
null_zoo = rank.permutation_pass_rate(table["alpha_hat"], table["test_acc"],
                                      rho_of, lambda r: r <= -0.5)
null_batch = rank.permutation_pass_rate(batch["batch_size"], batch["alpha"],
                                        rho_of, lambda r: r >= 0.8)
pretrained_test = ("held if Spearman's rho between α-hat and top-1 accuracy "
                   "is at most -0.8 within every architecture series")
claims = [
    Claim(claim="A random layer's ESD is Marchenko–Pastur "
                "(KS D < 0.05, λ_max within 10% of λ+)",
          paper="random-like phase: MP bulk, no tail", measured=measured["mp"],
          held=mp_ks < 0.05 and abs(edge_init - 1) <= 0.10,
          test="held if the untrained layer's eigenvalues are within a "
               "Kolmogorov-Smirnov distance of 0.05 of the Marchenko-Pastur "
               "law of the same shape and norm, and its largest is within "
               "10% of the edge"),
    Claim(claim="Training grows a heavy tail "
                "(λ_max >= 2 λ+ of a same-norm random matrix, α < 6)",
          paper="trained layers: power-law tails beyond the MP bulk",
          measured=measured["tail"],
          held=edge_trained >= 2 and trained_fit.alpha < 6,
          test="held if the trained layer's largest eigenvalue is at least "
               "twice the edge of a random matrix of the same shape and "
               "norm, and its fitted α is below 6 (weightwatcher's bound for "
               "an under-trained layer)"),
    Claim(claim="Smaller α-hat, higher test accuracy "
                "(Spearman ρ <= -0.5 over the zoo)",
          paper="near-linear within VGG and ResNet series",
          measured=measured["zoo"],
          held=rho["alpha_hat"] <= -0.5,
          test=f"held if Spearman's rho between α-hat and test accuracy over "
               f"the {len(table)} zoo models is at most -0.5",
          null=f"the same values paired at random pass with probability "
               f"{null_zoo:.3f} (2,000 permutations)"),
    Claim(claim="Most layers have 2 <= α <= 4 (more than half)",
          paper="most of ~7,500 ImageNet layers",
          measured=f"{fmt_pct(share_2_4)} of {len(layers)} layers",
          held=share_2_4 > 0.5,
          test="held if more than half of the analyzed layers of the zoo have "
               "a fitted α between 2 and 4"),
    Claim(claim="Smaller batches, heavier tails at equal epochs "
                "(ρ(batch size, mean α) >= 0.8)",
          paper="smaller batch, smaller α (Martin & Mahoney 2021)",
          measured=f"ρ = {rho_batch:.2f} (equal steps: {rho_steps:.2f}; "
                   f"{len(batch)} batch sizes)",
          held=rho_batch >= 0.8,
          test=f"held if Spearman's rho between batch size and mean α over "
               f"the {len(batch)} batch sizes is at least 0.8",
          null=f"a random order of the same α passes with probability "
               f"{null_batch:.3f}"),
    Claim(claim="α-hat tracks top-1 of pretrained models within a series "
                "(ρ <= -0.8 in each)",
          paper="VGG and ResNet series, ImageNet",
          measured=measured["pretrained"],
          held=None if skipped else bool((rho_series <= -0.8).all()),
          test=pretrained_test, reason=skipped),
]
scorecard(claims, SCALE, chapter=5)

# %% [markdown]
# ## Summary
#
# The spectrum of a weight matrix says something about training without any data.
# A random layer's eigenvalues fill a Marchenko–Pastur bulk with a sharp edge; training pushes some of them far beyond it, into a tail that a power law describes well.
# {glue:text}`ch5_share_2_4` of the exponents we fitted lie between 2 and 4, the range the paper found in ImageNet models.
# At equal epochs, smaller batches gave heavier tails, as Martin & Mahoney report (Spearman's $\rho$ = {glue:text}`ch5_rho_batch`); at equal steps $\rho$ was {glue:text}`ch5_rho_steps`: {glue:text}`ch5_steps_verdict`.
# Whether one number per model, $\hat\alpha$, ranks networks by test accuracy depends on which networks are compared: across a zoo that varies *how* one small network was trained, its rank correlation with test accuracy was {glue:text}`ch5_rho_alpha_hat` (log norm: {glue:text}`ch5_rho_log_norm`), and the $\log\lambda_{\max}$ factor makes it move with weight decay as a norm does.
# The paper's evidence is within architecture series of pretrained models; Experiment 5 runs that comparison where torchvision is available.
# Chapter 6 puts $\hat\alpha$ on one scale with the measures of the earlier chapters.

# %% [markdown]
# ## Exercises
#
# 1. **Within one factor.** The paper compares models of one series. Compute Spearman's $\rho$ between $\hat\alpha$ and test accuracy separately for the models that vary the width, the learning rate, the weight decay and the label noise (each group with the base model). Where does $\hat\alpha$ rank correctly?
#
# :::{admonition} Solution
# :class: dropdown
# `for f in ["width", "lr", "weight_decay", "p"]: g = table[table.varied.isin(["base", f])]; print(f, spearmanr(g.alpha_hat, g.test_acc).statistic)`.
# With 3 to 5 models per group the values are coarse, but they differ in sign between factors: read the scatter plot of Experiment 2 by colour.
# In the run shown on this page, label noise is the instructive case: the noisier runs generalize worse while their first analyzed layer gets a *larger* $\alpha$, the paper's ordering; weight decay lowers $\hat\alpha$ a lot, through $\lambda_{\max}$, while test accuracy drops a few points, the opposite ordering.
# :::
#
# 2. **Take the norm out.** Split $\hat\alpha$ into its two factors: plot test accuracy against the mean $\alpha$ and against the mean $\log_{10}\lambda_{\max}$ (the columns `alpha` and `log_spectral_norm` of `table`). Which factor carries the correlation?
#
# :::{admonition} Solution
# :class: dropdown
# `for k in ("alpha", "log_spectral_norm"): plt.scatter(table[k], table.test_acc)`; the Spearman values are in the table of Experiment 2.
# In the run shown on this page the unweighted mean $\alpha$ correlates more strongly (and negatively) with test accuracy than $\hat\alpha$, while the log spectral norm correlates *positively*: the runs with larger steps or smaller batches have both heavier tails and larger norms, and the product $\alpha \log_{10}\lambda_{\max}$ mixes the two trends.
# Martin & Mahoney introduced the weighting to compare models of different depths and sizes within a series; in a zoo where the norms move against accuracy, it imports that opposite trend.
# :::
#
# 3. **Watch the tail grow.** Train the base network for 1, 3, 10, 30 and 60 epochs (`dict(zoo_point(base_setting), max_epochs=e)`), and plot the mean $\alpha$, $\hat\alpha$ and the test accuracy against the number of epochs.
#
# :::{admonition} Solution
# :class: dropdown
# `point = cfg.point(base_setting)`, `points = [dict(point, run=point["run"].replace(max_epochs=e)) for e in (1, 3, 10, 30, 60)]`, `runs = sweep.run_sweep(zoo.train_and_analyze, points, name="ch5-ex3")`, then read `r.esd_summary["alpha"]`, `r.esd_summary["alpha_hat"]` and `r.history.test_acc[-1]` from each run.
# The mean $\alpha$ falls steadily, from a near-random value after one epoch into the 2–4 range, while the test accuracy climbs, the paper's reading of $\alpha$.
# $\hat\alpha$ does not follow: $\lambda_{\max}$ grows during training, and its logarithm outweighs the falling $\alpha$, so $\hat\alpha$ rises as the network improves.
# :::
#
# 4. **A random matrix with $M < N$.** Draw a $1024 \times 256$ Gaussian matrix, compute its ESD with `esd.esd`, and plot it against `esd.mp_density` on linear axes. Where is the lower edge $\lambda_-$, and what does a power-law fit to it return?
#
# :::{admonition} Solution
# :class: dropdown
# `w = torch.randn(1024, 256, dtype=torch.float64); ev = esd.esd(w)`; `esd.mp_bounds(1024, 256)` gives $\lambda_\pm = 1024 (1 \pm 1/2)^2$, that is 256 and 2304, and the eigenvalues fill exactly that interval.
# `esd.power_law_fit(ev)` still returns a number, a large $\alpha$ from the few eigenvalues just below the upper edge: a fitted exponent means something only when there *is* a tail, which is why weightwatcher flags $\alpha > 6$.
# :::
#
# 5. **Precision.** Run `esd.analyze` on the trained base network with `dtype=torch.float32` and with the default float64, and compare the `alpha` columns. Then do the same on a freshly initialized network.
#
# :::{admonition} Solution
# :class: dropdown
# Retrain the base network with `models.build(...)` and `train.fit(...)` (or take any trained model) and compare `esd.analyze(model, dtype=torch.float32)["alpha"]` with the float64 result.
# On the trained layers, with $\alpha$ between 2 and 4, the two agree to about $10^{-6}$: the tail eigenvalues are large and float32 resolves them well.
# On the freshly initialized network they agree to about $10^{-4}$: near-random layers have a large $\alpha$ and a tiny sum $\sum \ln(\lambda_i / x_{\min})$, so small relative errors in the eigenvalues move $\alpha$ more; with $\alpha$ near 100 (the random layers of the benchmark's ResNet-18 shapes) the difference reaches a few hundredths.
# :::
#
# ## References
#
# ```{bibliography}
# :filter: docname in docnames
# ```
