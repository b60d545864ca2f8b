"""Data sets and the randomization tests of Chapter 1 (Zhang et al. 2017).

Everything returns a :class:`Dataset` of float32 inputs and int64 labels as torch tensors.
MNIST-1D is generated offline and is the default; CIFAR-10 and MNIST are for paper scale and
need torchvision and a network connection.
"""
from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import settings

DATASETS = ("mnist1d", "cifar10", "mnist", "synthetic-cifar10")
RANDOMIZATIONS = ("true labels", "random labels", "shuffled pixels", "random pixels", "gaussian")
# ... and the labelling behind Rademacher complexity: every label a fair coin in {0, 1} (Ch. 1)
KINDS = RANDOMIZATIONS + ("random signs",)


@dataclass(frozen=True)
class Dataset:
    """A labelled train/test split. ``x_*`` is (n, *input_shape) float32, ``y_*`` is (n,) int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
                f"input_shape={self.input_shape}, classes={self.num_classes})")


def _check_probability(p: float, name: str = "p") -> float:
    if not isinstance(p, (int, float, np.floating)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


def make_mnist1d(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42) -> Dataset:
    """MNIST-1D (Greydanus 2020), generated offline with ``mnist1d.data.make_dataset``.

    ``seed`` picks the sample: two seeds give independent draws from the same distribution,
    which later chapters use as fresh test or distractor sets.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 20:
        raise ValueError(f"num_samples must be at least 20 (two per class), got {num_samples}")
    if not 0.0 < train_split < 1.0:
        raise ValueError(f"train_split must lie in (0, 1), got {train_split}")
    # a copy of the generated arrays: the caller may change its tensors in place
    return Dataset("mnist1d", *(torch.from_numpy(a.copy()) for a in _mnist1d_arrays(
        int(num_samples), float(train_split), int(seed))), 10)


@functools.lru_cache(maxsize=8)
def _mnist1d_arrays(num_samples: int, train_split: float, seed: int) -> tuple[np.ndarray, ...]:
    """x, y, x_test, y_test of one MNIST-1D draw, generated once: generating takes seconds (about
    3 s for 5,000 samples), and every run of a sweep loads the same draw. Kept per process, and
    on disk in the sweep cache (``BOOK_CACHE``), so that a sweep's worker processes and the
    later chapters of a build read the draw in milliseconds instead of generating it again."""
    from importlib.metadata import version

    # the generator's version is in the name: another version may draw other samples
    path = settings.cache_dir() / "data" / (
        f"mnist1d-{version('mnist1d')}-n{num_samples}-split{train_split!r}-seed{seed}.npz")
    arrays = _read_arrays(path)
    if arrays is None:
        arrays = _generate_mnist1d(num_samples, train_split, seed)
        _write_arrays(path, arrays)
    for a in arrays:
        a.setflags(write=False)  # the cached draw itself is never changed
    return arrays


_ARRAY_NAMES = ("x", "y", "x_test", "y_test")


def _generate_mnist1d(num_samples: int, train_split: float, seed: int) -> tuple[np.ndarray, ...]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    state = np.random.get_state()  # make_dataset reseeds numpy's global RNG; leave the caller's alone
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(state)
    return (np.asarray(raw["x"], dtype=np.float32), np.asarray(raw["y"], dtype=np.int64),
            np.asarray(raw["x_test"], dtype=np.float32), np.asarray(raw["y_test"], dtype=np.int64))


def _read_arrays(path) -> tuple[np.ndarray, ...] | None:
    """The arrays of a draw written by ``_write_arrays``, or None if absent or unreadable (a
    damaged file is generated again, never trusted)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[name] for name in _ARRAY_NAMES)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    x, y, x_test, y_test = arrays
    if not (x.dtype == x_test.dtype == np.float32 and y.dtype == y_test.dtype == np.int64
            and len(x) == len(y) and len(x_test) == len(y_test)):
        return None
    return arrays


def _write_arrays(path, arrays) -> None:
    """Write atomically (``sweep.write_atomic``): concurrent workers never read half a file. A
    cache that cannot be written (read-only) only costs the next process a regeneration."""
    from .sweep import write_atomic

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda f: np.savez(f, **dict(zip(_ARRAY_NAMES, arrays))), binary=True)
    except OSError:
        pass


def synthetic_like_cifar10(n_train: int = 256, n_test: int = 128, seed: int = 0) -> Dataset:
    """Random tensors shaped like CIFAR-10 (3x32x32, 10 classes): the paper profile's smoke mode."""
    for arg, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_train + n_test, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (n_train + n_test,), generator=g)
    return Dataset("synthetic-cifar10", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 10)


def _torchvision_dataset(name: str, root: str):
    try:
        import torchvision
    except Exception as err:  # ImportError, or the operator error of a mismatched wheel
        raise ImportError(
            f"load_dataset({name!r}) needs torchvision, which could not be imported ({err}). "
            "Paper scale is meant for Colab, which has it; locally run `pip install torchvision` "
            "matching your torch, or use the default data set 'mnist1d'.") from err
    cls = {"cifar10": torchvision.datasets.CIFAR10, "mnist": torchvision.datasets.MNIST}[name]
    try:
        train, test = cls(root, train=True, download=True), cls(root, train=False, download=True)
    except Exception as err:  # URLError, socket errors, ... depending on the platform
        raise ConnectionError(
            f"could not download {name!r} into {root!r} ({err}). Paper-scale data sets are "
            "downloaded on first use: connect to the network (Colab has it), or copy the data "
            "into that folder, or run at BOOK_SCALE=small, which needs no download.") from err
    return train, test


def _images_to_tensors(split) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.asarray(split.data), dtype=torch.float32) / 255.0
    x = x.permute(0, 3, 1, 2) if x.ndim == 4 else x.unsqueeze(1)  # to (n, channels, h, w)
    return x, torch.as_tensor(np.asarray(split.targets), dtype=torch.int64)


def load_dataset(name: str = "mnist1d", n_train: int | None = None, n_test: int | None = None,
                 seed: int = 42, root: str | None = None) -> Dataset:
    """Load a data set by name, optionally cut to ``n_train`` / ``n_test`` samples.

    Images are standardized per channel with training-set statistics, as in Zhang et al.
    """
    if name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}, got {name!r}")
    for arg, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{arg} must be a positive integer or None, got {value!r}")
    if name == "mnist1d":
        n_tr, n_te = n_train or 4000, n_test or 1000
        total = -(-(n_tr + n_te) // 10) * 10  # make_dataset draws num_samples // 10 per class
        full = make_mnist1d(num_samples=total, seed=seed)
        x, y = torch.cat([full.x_train, full.x_test]), torch.cat([full.y_train, full.y_test])
        data = Dataset("mnist1d", x[:n_tr], y[:n_tr], x[n_tr:n_tr + n_te], y[n_tr:n_tr + n_te], 10)
    elif name == "synthetic-cifar10":
        data = synthetic_like_cifar10(n_train or 256, n_test or 128, seed=seed)
    else:
        root = root or str(settings.data_dir())
        (x_tr, y_tr), (x_te, y_te) = map(_images_to_tensors, _torchvision_dataset(name, root))
        mean, std = x_tr.mean(dim=(0, 2, 3), keepdim=True), x_tr.std(dim=(0, 2, 3), keepdim=True)
        data = Dataset(name, (x_tr - mean) / std, y_tr, (x_te - mean) / std, y_te, 10)
    return replace(data, x_train=data.x_train[:n_train], y_train=data.y_train[:n_train],
                   x_test=data.x_test[:n_test], y_test=data.y_test[:n_test])


# --- the randomization tests (Zhang et al. 2017, Sec. 2) -----------------------------------

def corrupt_labels(y: torch.Tensor, p: float, num_classes: int, seed: int = 0) -> torch.Tensor:
    """Replace each label, with probability p, by a uniform draw over all ``num_classes`` classes.

    The draw may land on the true class, so about p * (K - 1) / K of the labels change.
    """
    p = _check_probability(p)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    g = torch.Generator().manual_seed(seed)
    replace_mask = torch.rand(len(y), generator=g) < p
    random_labels = torch.randint(0, num_classes, (len(y),), generator=g)
    return torch.where(replace_mask, random_labels, y)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(len(x), -1)


def shuffle_pixels(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Apply one fixed random permutation of the input coordinates to every sample."""
    perm = torch.randperm(_flat(x).shape[1], generator=torch.Generator().manual_seed(seed))
    return _flat(x)[:, perm].reshape(x.shape)


def random_pixels(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Apply a different random permutation of the input coordinates to each sample."""
    flat = _flat(x)
    g = torch.Generator().manual_seed(seed)
    perms = torch.argsort(torch.rand(flat.shape, generator=g), dim=1)  # one permutation per row
    return torch.gather(flat, 1, perms).reshape(x.shape)


def gaussian_inputs(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Replace every input by Gaussian noise with the data's mean and standard deviation."""
    g = torch.Generator().manual_seed(seed)
    return x.mean() + x.std() * torch.randn(x.shape, generator=g)


def randomize(data: Dataset, kind: str, p: float = 1.0, seed: int = 0) -> Dataset:
    """One of Zhang et al.'s randomization tests, applied to a data set.

    Labels are corrupted in the training set only (the test set keeps the true labels, so test
    accuracy measures generalization). Input randomizations change train and test alike, with the
    same permutation for 'shuffled pixels'. ``p`` is used by 'random labels' only (p = 1 is fully
    random; smaller p is partial corruption). 'random signs' replaces the task by a two-class one
    whose training labels are fair coins (the sigma_i of the empirical Rademacher complexity),
    and so are the test labels: nothing can be learned, only memorized.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    p = _check_probability(p)
    if kind == "true labels":
        return data
    if kind == "random signs":
        g = torch.Generator().manual_seed(seed)
        coins = lambda n: torch.randint(0, 2, (n,), generator=g)
        return replace(data, y_train=coins(len(data.y_train)), y_test=coins(len(data.y_test)),
                       num_classes=2)
    if kind == "random labels":
        return replace(data, y_train=corrupt_labels(data.y_train, p, data.num_classes, seed))
    if kind == "shuffled pixels":  # the same permutation for train and test: concatenate first
        both = shuffle_pixels(torch.cat([data.x_train, data.x_test]), seed)
    elif kind == "random pixels":
        both = random_pixels(torch.cat([data.x_train, data.x_test]), seed)
    else:
        both = gaussian_inputs(torch.cat([data.x_train, data.x_test]), seed)
    n = len(data.x_train)
    return replace(data, x_train=both[:n], x_test=both[n:])


def random_crop(x: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crops with zero padding, one offset per image: the augmentation of Zhang et al.'s Table 1."""
    if x.ndim != 4:
        raise ValueError(f"random_crop needs images shaped (n, c, h, w), got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding,) * 4)
    dy, dx = (torch.randint(0, 2 * padding + 1, (2, n), generator=generator, device="cpu"))
    rows = (torch.arange(h)[None, :] + dy[:, None]).to(x.device)  # (n, h)
    cols = (torch.arange(w)[None, :] + dx[:, None]).to(x.device)  # (n, w)
    idx = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


# --- the toy regression of Chapter 3 (Liu et al. 2020) --------------------------------------

def product_regression(n: int = 1000, d: int = 10, noise: float = 0.1,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Liu et al.'s toy regression: x ~ N(0, I_d), y = x_0 * x_1 + noise * N(0, 1).

    Returns ``(x, y)``: float32 tensors of shapes (n, d) and (n, 1). The target needs a product
    of two inputs, a feature that a network must learn: Chapter 3 trains a two-layer MLP on it with
    its first layer trained or frozen. Two seeds give independent samples.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(d, bool) or not isinstance(d, int) or d < 2:
        raise ValueError(f"d must be an integer >= 2 (the target uses x_0 and x_1), got {d!r}")
    if not (isinstance(noise, (int, float)) and noise >= 0 and np.isfinite(noise)):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = x[:, :1] * x[:, 1:2] + noise * torch.randn(n, 1, generator=g)
    return x, y


# --- the 2-D toy of Chapter 4 (Huang et al. 2019) --------------------------------------------

def two_spirals(n_train: int = 400, n_test: int = 2000, noise: float = 0.5, seed: int = 0) -> Dataset:
    """Huang et al.'s two spirals: t = sqrt(u) * 600 degrees, arm (-1.5 t cos t, 1.5 t sin t).

    Class 0 lies on the arm, class 1 on its mirror image through the origin, half the samples
    each, plus N(0, noise^2) on both coordinates (the paper: n = 400, noise 0.5). The arms reach
    a radius of about 16. Two seeds give independent draws (Ch. 4 uses one as its distractor set).
    """
    for arg, value in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2 or value % 2:
            raise ValueError(f"{arg} must be an even integer >= 2 (half per class), got {value!r}")
    if not (isinstance(noise, (int, float)) and noise >= 0 and np.isfinite(noise)):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    g = torch.Generator().manual_seed(seed)
    return Dataset("two-spirals", *spiral_sample(n_train, noise, g), *spiral_sample(n_test, noise, g), 2)


def spiral_sample(n: int, noise: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of ``two_spirals``'s distribution (half per class, shuffled), drawn with
    ``generator``: Chapter 4's poisoned toy draws fresh distractors this way at every step."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2 or n % 2:
        raise ValueError(f"n must be an even integer >= 2 (half per class), got {n!r}")
    t = torch.sqrt(torch.rand(n // 2, generator=generator)) * (600 / 360) * 2 * np.pi
    arm = torch.stack([-1.5 * t * torch.cos(t), 1.5 * t * torch.sin(t)], dim=1)
    x = torch.cat([arm, -arm]) + noise * torch.randn(n, 2, generator=generator)
    y = torch.cat([torch.zeros(n // 2, dtype=torch.int64), torch.ones(n // 2, dtype=torch.int64)])
    order = torch.randperm(n, generator=generator)
    return x[order], y[order]
