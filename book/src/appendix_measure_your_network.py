# %% [markdown]
# # Appendix: Measure your own network
#
# [![Open In Colab](images/colab-badge.svg)](https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/appendix_measure_your_network.ipynb)
#
# The six chapters computed their measures on networks that `helpers` built and trained.
# This page does what a reader would do with a network of their own: a CIFAR-style ResNet-18 with BatchNorm and residual connections, trained briefly, then every measure of the book in one call,
#
# ```python
# from helpers.metrics import measure_all
# table = measure_all(model, X_train, y_train, init=untrained_copy, history=history)
# ```
#
# which returns a `pandas.DataFrame` with one row per measure: its value, what a larger value claims, the paper and chapter it comes from, how long it took, and a `status` that says whether it applied to this network and, if not, why.
# Nothing here is specific to the ResNet: replace the model and the data in the next cells with your own.
#
# :::{admonition} What this page shows
# - how to call `measure_all` on a network you trained yourself, and what each column of its table means;
# - why some measures do not apply to a given network, and how the table says so instead of raising;
# - what BatchNorm folding is, and a check that the folded network computes the same function;
# - which measures run in eval mode, and what each one costs.
# :::

# %% [markdown]
# ## Setup
#
# On Colab the first cell installs `helpers`.
# The scale sets the sizes: `tiny` and `small` use a narrow ResNet (few channels per layer) on a few hundred synthetic CIFAR-shaped images, so that the page runs in about a minute on one CPU core; `paper` uses the standard width on a GPU.
# Set `USE_CIFAR10 = True` to train on the real CIFAR-10 instead: that needs `torchvision` and the network (Colab has both), and downloads about 170 MB into `$BOOK_DATA`.

# %%
import sys

# Colab: install helpers from the book's repository
if "google.colab" in sys.modules:
    repo = "git+https://github.com/why-deep-networks-generalize/book"
    %pip install --quiet "why-deep-networks-generalize @ {repo}"

# %%
import copy
import dataclasses
import time

import pandas as pd
import torch
import torch.nn.functional as F

from helpers import data, models, plots, scale, settings, train
from helpers.metrics import all_measures, measure_all
from helpers.report import Table, fmt_pct, glue

USE_CIFAR10 = False  # True: the real CIFAR-10 (needs torchvision and the network)

SCALE = scale.current()  # 'small' unless $BOOK_SCALE says otherwise
# sizes per scale: the ResNet's width (channels of its first stage), the data, the training
# and the samples of the sampled measures (GSNR, Hessian, sharpness, basin radius)
SIZES = {
    "tiny":        dict(width=2, n_train=64, n_test=64, epochs=8, batch_size=16, lr=0.01,
                        measure_samples=8, sharpness_samples=2),
    "small":       dict(width=4, n_train=256, n_test=256, epochs=10, batch_size=32, lr=0.01,
                        measure_samples=16, sharpness_samples=4),
    "paper":       dict(width=64, n_train=10_000, n_test=2_000, epochs=15, batch_size=128, lr=0.001,
                        measure_samples=500, sharpness_samples=8),
    # the paper's code path on CIFAR-shaped noise, a couple of steps
    "paper-smoke": dict(width=4, n_train=64, n_test=64, epochs=1, batch_size=32, lr=0.01,
                        measure_samples=16, sharpness_samples=1),
}[SCALE]
SEED = 0
TARGET_TRAIN_LOSS = 0.05  # nats: training stops here (or after the epochs above)
settings.use_fixed_threads()  # one torch thread, as in every chapter: same seed, same numbers
plots.set_theme()
DEVICE = train.pick_device()
PROGRESS = settings.progress()  # progress bars, off in the website build ($BOOK_PROGRESS=0)

# %% [markdown]
# ## The data
#
# Offline, the images are synthetic and shaped like CIFAR-10 (3 channels of 32 x 32 pixels, 10 classes): each class has a smooth random colour pattern, and each image is its class's pattern under Gaussian pixel noise, so that there is something to learn and a test set to fail on.
# At `paper-smoke` scale the images are pure noise with random labels (`helpers.data`'s `synthetic-cifar10`, which the paper profiles use to test their code path), and the network trains for a couple of steps only.
# Each channel is standardized with the training set's statistics, as `helpers.data` does for CIFAR-10.

# %%
def cifar_shaped(n_train, n_test, noise=1.5, seed=0):
    """CIFAR-shaped images: a smooth random pattern per class (4x4, upsampled) plus pixel noise."""
    g = torch.Generator().manual_seed(seed)
    patterns = F.interpolate(torch.randn(10, 3, 4, 4, generator=g), size=(32, 32), mode="bilinear",
                             align_corners=False)
    y = torch.randint(0, 10, (n_train + n_test,), generator=g)
    x = patterns[y] + noise * torch.randn(n_train + n_test, 3, 32, 32, generator=g)
    mean = x[:n_train].mean(dim=(0, 2, 3), keepdim=True)
    std = x[:n_train].std(dim=(0, 2, 3), keepdim=True)
    x = (x - mean) / std
    return data.Dataset("synthetic CIFAR-shaped classes", x[:n_train], y[:n_train],
                        x[n_train:], y[n_train:], 10)


if USE_CIFAR10:
    dataset = data.load_dataset("cifar10", n_train=SIZES["n_train"], n_test=SIZES["n_test"])
elif SCALE == "paper-smoke":
    dataset = data.load_dataset("synthetic-cifar10", n_train=SIZES["n_train"], n_test=SIZES["n_test"])
else:
    dataset = cifar_shaped(SIZES["n_train"], SIZES["n_test"], seed=SEED)
X, y = dataset.x_train, dataset.y_train

model = models.resnet18(input_shape=dataset.input_shape, num_classes=dataset.num_classes,
                        width=SIZES["width"], seed=SEED)
init = copy.deepcopy(model)  # the untrained network, for the distance from initialization
n_batchnorm = sum(isinstance(m, models.BATCHNORMS) for m in model.modules())
print(f"{SCALE} scale: ResNet-18 of width {SIZES['width']} ({models.num_parameters(model):,} "
      f"parameters, {n_batchnorm} BatchNorm layers) on {len(X)} train and {len(dataset.x_test)} "
      f"test images ({dataset.name}) | device: {DEVICE}")

# %% tags=remove-cell
glue("app_width", SIZES["width"])
glue("app_params", f"{models.num_parameters(model):,}")
glue("app_params_full", f"{models.num_parameters(models.resnet18()):,}")
glue("app_n_batchnorm", n_batchnorm)
glue("app_n_train", len(X))
glue("app_n_test", len(dataset.x_test))

# %% [markdown]
# The network is `helpers.models.resnet18`, the CIFAR variant of He et al.'s ResNet-18 (a 3 x 3 stem, no max-pooling, four stages of two residual blocks, global average pooling, one linear layer), written without torchvision.
# Its `width` is the number of channels of the first stage; the standard width 64 has {glue:text}`app_params_full` parameters.
# At this scale the width is {glue:text}`app_width`: {glue:text}`app_params` parameters and {glue:text}`app_n_batchnorm` BatchNorm layers, trained on {glue:text}`app_n_train` images and tested on {glue:text}`app_n_test`.
#
# ## Train it briefly
#
# `helpers.train.fit` trains any classifier in place (here Adam on the cross-entropy) and returns its `History`: the train and test loss and accuracy after every epoch and the step count.
# Your own training loop works just as well; `measure_all` needs only the trained model, and the history only for the two optimization measures (steps to a train loss).

# %%
start = time.perf_counter()
history = train.fit(model, dataset, epochs=SIZES["epochs"], lr=SIZES["lr"], optimizer="adam",
                    batch_size=SIZES["batch_size"], target_train_loss=TARGET_TRAIN_LOSS,
                    seed=SEED, device=DEVICE, progress=PROGRESS, desc="ResNet-18")
train_seconds = time.perf_counter() - start
model.eval()  # BatchNorm on its running statistics from here on
pd.DataFrame({"train loss": history.train_loss, "train accuracy": history.train_acc,
              "test accuracy": history.test_acc},
             index=pd.RangeIndex(1, len(history.train_loss) + 1, name="epoch")).round(3)

# %% tags=remove-cell
n_epochs = len(history.train_loss)
glue("app_epochs", f"{n_epochs} epoch" + ("s" if n_epochs != 1 else ""))
glue("app_train_seconds", f"{train_seconds:.1f}")
glue("app_train_loss", f"{history.train_loss[-1]:.3g}")
glue("app_train_acc", fmt_pct(history.train_acc[-1]))
glue("app_test_acc", fmt_pct(history.test_acc[-1]))
glue("app_target", f"{TARGET_TRAIN_LOSS:g}")

# %% [markdown]
# After {glue:text}`app_epochs` ({glue:text}`app_train_seconds` s) the train cross-entropy is {glue:text}`app_train_loss` nats (the run stops early if it reaches {glue:text}`app_target`); the network classifies {glue:text}`app_train_acc` of its training images and {glue:text}`app_test_acc` of the test images correctly.
# The last cell put the model in eval mode (`model.eval()`): every measure is taken on the trained network as it would be used, with each BatchNorm normalizing by the running statistics it collected in training.
#
# ## BatchNorm, folded
#
# Some measures are defined only for networks without normalization layers.
# Liao et al.'s normalized loss (Chapter 2) divides the logits by the product of the layers' norms, which is only meaningful when the network is a product of plain weight layers; the norm products and the path norm of Chapter 6 read the weight matrices, whose scale a BatchNorm right after them cancels.
# In eval mode, though, a BatchNorm is a fixed affine map per channel $c$:
#
# $$
# \mathrm{BN}(z)_c = \gamma_c \frac{z_c - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c = s_c\,(z_c - \mu_c) + \beta_c, \qquad s_c = \frac{\gamma_c}{\sqrt{\sigma_c^2 + \epsilon}},
# $$
#
# with $\mu_c$ and $\sigma_c^2$ its running mean and variance.
# When it follows a layer $z = Wx + b$ (a linear layer, or a convolution, with one row of $W$ per output channel), the two compose into one layer of the same kind,
#
# $$
# \mathrm{BN}(Wx + b) = W'x + b', \qquad W'_c = s_c\, W_c, \qquad b'_c = s_c\,(b_c - \mu_c) + \beta_c .
# $$
#
# `helpers.models.fold_batchnorm(model)` returns a copy of the network with every such pair folded in this way, and the BatchNorm replaced by the identity; the model itself is untouched.
# It is the same function, up to floating-point rounding, and the next cell checks it on the test images.

# %%
folded = models.fold_batchnorm(model)
with torch.no_grad():
    x_test = dataset.x_test.to(DEVICE)
    original_logits, folded_logits = model(x_test), folded(x_test)
max_difference = (folded_logits - original_logits).abs().max().item()
largest_logit = original_logits.abs().max().item()
left = sum(isinstance(m, models.BATCHNORMS) for m in folded.modules())
print(f"BatchNorm layers: {n_batchnorm} in the model, {left} in the folded copy")
print(f"largest |logit| {largest_logit:.3g}; largest |folded - original| {max_difference:.2g}")

# %% tags=remove-cell
glue("app_fold_diff", f"{max_difference:.1e}")
glue("app_fold_rel", f"{max_difference / largest_logit:.1e}")
glue("app_largest_logit", f"{largest_logit:.3g}")
glue("app_bn_left", left)
glue("app_fold_ok", "agree" if max_difference <= 1e-5 * max(1.0, largest_logit) else "do not agree")

# %% [markdown]
# On the {glue:text}`app_n_test` test images the folded network's logits differ from the original's by at most {glue:text}`app_fold_diff` (the largest logit is {glue:text}`app_largest_logit` in absolute value: a relative difference of {glue:text}`app_fold_rel`), and {glue:text}`app_bn_left` BatchNorm layers are left in the copy; the two {glue:text}`app_fold_ok` to within $10^{-5}$ (relative to the largest logit, when it exceeds 1).
# Folding is possible only in eval mode: in train mode a BatchNorm normalizes each batch by that batch's own mean and variance, so the network is not one fixed function of its input, and `fold_batchnorm` refuses it with an error that says to call `model.eval()`.
# A BatchNorm that does not directly follow a linear or convolutional layer (after a ReLU, or at the input) has nothing to fold into and is left in place.
#
# `measure_all` folds the network itself for the measures that need it, and says so in their rows.
# The two spectral measures of Chapter 5 ($\hat\alpha$ and the log norm) are taken on the weights as they are, as Martin & Mahoney and weightwatcher do.
#
# ## Every measure in one call
#
# :::{admonition} Predict, then check
# :class: predict
# Before you run the next cell: which of the book's measures do you expect *not* to apply to this trained ResNet, and why?
# Think of the normalized loss of Chapter 2 (which requires a bias in the first layer only), the basin radius of Chapter 4 (which is measured around a minimum), and the optimization measures (steps to reach a train loss).
# :::

# %%
measure_settings = dataclasses.replace(all_measures.default_settings(len(X)),
                                       measure_samples=min(len(X), SIZES["measure_samples"]),
                                       sharpness_samples=SIZES["sharpness_samples"])
start = time.perf_counter()
table = measure_all(model, X, y, init=init, history=history, target_train_loss=TARGET_TRAIN_LOSS,
                    settings=measure_settings, seed=SEED, progress=PROGRESS)
measure_seconds = time.perf_counter() - start
shown = table[["label", "value", "status"]].copy()
shown["value"] = shown["value"].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
Table(shown.set_index("label"))

# %% tags=remove-cell
applies = table["status"].str.startswith("ok")
glue("app_n_measures", len(table))
glue("app_n_ok", int(applies.sum()))
glue("app_n_na", int((~applies).sum()))
glue("app_measure_seconds", f"{measure_seconds:.1f}")
glue("app_measure_samples", measure_settings.measure_samples)
glue("app_sharpness_samples", measure_settings.sharpness_samples)
defaults = all_measures.default_settings(10**9)  # the caps, for any large training set
glue("app_default_samples", defaults.measure_samples)
glue("app_default_perturbations", defaults.sharpness_samples)

# %% [markdown]
# One call computed {glue:text}`app_n_ok` of the {glue:text}`app_n_measures` measures in {glue:text}`app_measure_seconds` s; the other {glue:text}`app_n_na` got a row that says why they do not apply.
# Each `value` is on the training set, as in the chapters: a measure of generalization is computed from what the network and its training data alone can tell.
# The sampled measures (GSNR, the top Hessian eigenvalue, the sharpness measures and the basin radius) use the first {glue:text}`app_measure_samples` training images, and the PAC-Bayes sharpness averages {glue:text}`app_sharpness_samples` random perturbations per step of its search; `all_measures.default_settings(len(X))` gives the defaults (at most {glue:text}`app_default_samples` samples, {glue:text}`app_default_perturbations` perturbations), and `settings=` overrides them, as here, to fit a page that runs in a minute.
# Shuffle a class-sorted training set first: the first samples must be a fair sample.
#
# ## What each number claims
#
# A measure is a claim about generalization: that across networks, ordering them by the measure orders them by their generalization gap.
# The `direction` column says which way: for a complexity (a norm, a sharpness, the parameter count) a larger value claims a larger gap; for the GSNR of Chapter 3 and the basin radius of Chapter 4, a larger value claims a *smaller* gap.
# The `source` column names the paper and the chapter that tests the claim.
# One number on one network is not evidence for or against the claim; Chapter 6 ranks them across a zoo of networks.

# %%
Table(table[["label", "direction", "source", "family"]].set_index("label"))

# %% tags=remove-cell
glue("app_n_smaller", int((table["direction"] == "larger predicts a smaller gap").sum()))
glue("app_smaller_list", " and ".join(table.loc[table["direction"] == "larger predicts a smaller gap", "label"]))

# %% [markdown]
# {glue:text}`app_n_smaller` measures claim the opposite direction to the rest: {glue:text}`app_smaller_list`.
#
# ## Which measures do not apply, and why
#
# `measure_all` never stops at the first measure that does not apply.
# Each inapplicable measure gets a row with no value and a `status` that begins "not applicable:" and gives the reason; a measure that applied gets `ok`, or `ok:` with a note on how it was taken.

# %%
Table(table.loc[~applies, ["label", "status"]].set_index("label"))

# %% tags=remove-cell
na_normalized = table.set_index("measure").loc["normalized_train_loss", "status"]
glue("app_normalized_status", na_normalized)

# %% [markdown]
# The reasons come in three kinds.
#
# - **The network's form.** The normalized loss of Chapter 2 is defined for networks whose only bias is in the first layer: its status here reads "{glue:text}`app_normalized_status`". Folding gives each convolution a bias (the $b'$ above), so a BatchNorm network never meets that condition after folding; a BatchNorm-free network with biases only in its first layer (Chapter 2's MLPs) does.
# - **The training state.** The basin radius is the distance to the edge of a minimum's basin, so it applies only if the train loss on its samples is below its threshold; the steps-to-loss measures apply only if training reached that loss. All three depend on how long you trained.
# - **Missing arguments.** The distance from initialization needs the untrained network (`init=`), and the steps-to-loss measures need the training history (`history=`) and, for the run's own target, `target_train_loss=`. This page passed all three; leave one out and its measures say so.
#
# A BatchNorm in train mode is a fourth reason: the folded measures need `model.eval()` first. The next cell puts the model back in train mode, as a training loop leaves it, and asks for two measures.

# %%
model.train()  # as a network is left after a training loop: BatchNorm in train mode
train_mode = measure_all(model, X, y, which=["log_path_norm", "num_parameters"],
                         settings=measure_settings, progress=False)
model.eval()
Table(train_mode[["label", "status"]].set_index("label"))

# %% tags=remove-cell
glue("app_train_mode_status", train_mode.set_index("measure").loc["log_path_norm", "status"])

# %% [markdown]
# The path norm's row reads "{glue:text}`app_train_mode_status`"; the parameter count, which needs no fixed function, is still computed.
#
# ## Which measures run in eval mode
#
# All of them.
# `measure_all` evaluates the model in eval mode, whatever mode it was in, and restores the mode afterwards: BatchNorm uses its running statistics and dropout is off.
# For the measures built on gradients this is not a convenience but a requirement.
# The GSNR of Chapter 3 needs one gradient per sample; in train mode a BatchNorm mixes the samples of a batch, so a sample's gradient would depend on the others in its batch and would not be defined.
# The Hessian's top eigenvalue (Hessian-vector products) and the worst-case sharpness (gradient ascent on the weights) likewise need a fixed function of the weights.
# Their rows say "taken in eval mode" when the model has BatchNorm or dropout, as here.
#
# ## How long each took
#
# The `seconds` column is each measure's wall time; the table is sorted by it.

# %%
timing = table.loc[applies, ["label", "seconds"]].sort_values("seconds", ascending=False)
timing["share of the total"] = (timing["seconds"] / timing["seconds"].sum()).map(fmt_pct)
timing["seconds"] = timing["seconds"].map(lambda s: f"{s:.3g}")
Table(timing.set_index("label"))

# %% tags=remove-cell
seconds = table.loc[applies].set_index("label")["seconds"]
sampled = table["measure"].isin(all_measures.SAMPLED) & applies
glue("app_slowest", seconds.idxmax())
glue("app_slowest_seconds", f"{seconds.max():.2g}")
glue("app_sampled_share", fmt_pct(table.loc[sampled, "seconds"].sum() / seconds.sum()))
glue("app_n_fast", int((seconds < 0.1).sum()))

# %% [markdown]
# The slowest measure was the {glue:text}`app_slowest` ({glue:text}`app_slowest_seconds` s), and the sampled measures (the GSNR, the Hessian, the four sharpness measures and the basin radius) took {glue:text}`app_sampled_share` of the time: each is many forward and backward passes over its samples, so its cost grows with the number of samples, the size of the network and the image size.
# {glue:text}`app_n_fast` measures took under a tenth of a second each: the norms, the spectra and the margins read the weights or need one forward pass.
# To measure a large network quickly, start with the cheap ones (`which=[...]`), and pass a `settings` with fewer `measure_samples` for the others.
#
# ## Your own network
#
# `measure_all(model, X, y)` accepts any `torch.nn.Module` classifier whose output is one score per class, with `X` a floating-point tensor of inputs and `y` integer labels.
# Bad input (shapes that do not match, an empty set, NaN, labels beyond the number of outputs) raises an error naming the argument before anything is computed.
# It runs on the model's device (`device=` to choose another), leaves the model's weights and modes as they were, and with `progress=True` shows a progress bar.
# Pass `errors="record"` to collect an unexpected failure of one measure in its row, with a warning, instead of stopping.
#
# ## Exercises
#
# 1. **Train longer.** Double the epochs in `SIZES` and run the page again. Which rows change from "not applicable" to `ok`?
#
# :::{admonition} What to look for
# :class: dropdown
# The basin radius and the steps-to-loss measures depend on how low the train loss went: once it is below the basin's threshold on the sampled images, and once the run reaches its target, they apply. The rows that depend only on the network's form (the normalized loss) do not change.
# :::
#
# 2. **Leave out an argument.** Call `measure_all(model, X, y)` without `init` and `history`. Which rows change, and what do their statuses ask for?
#
# :::{admonition} What to look for
# :class: dropdown
# The distance from initialization asks for `init=`, and the two steps-to-loss measures for `history=`; every other row is as before. A missing argument never raises: it only removes the measures that need it.
# :::
#
# 3. **A network without BatchNorm.** Build `models.mlp(dataset.input_shape, hidden=(256, 256), bias="first")` (an MLP with a bias in its first layer only, as in Chapter 2), train it and measure it. Does the normalized loss apply now?
#
# :::{admonition} What to look for
# :class: dropdown
# With no BatchNorm there is nothing to fold, and with a bias in the first layer only the network meets the normalized loss's condition, so its row is `ok`. The folded measures' statuses no longer mention folding.
# :::
