"""Known answers for the data sets and Zhang et al.'s randomizations."""
import sys
import types
import urllib.error

import numpy as np
import pytest
import torch

from helpers import data


@pytest.fixture(scope="module")
def mnist1d():
    return data.load_dataset("mnist1d", n_train=300, n_test=100)


def test_mnist1d_sizes_and_determinism(mnist1d):
    assert mnist1d.x_train.shape == (300, 40) and mnist1d.x_test.shape == (100, 40)
    assert mnist1d.y_train.dtype == torch.int64 and set(mnist1d.y_train.tolist()) <= set(range(10))
    again = data.load_dataset("mnist1d", n_train=300, n_test=100)
    assert torch.equal(again.x_train, mnist1d.x_train)
    other = data.load_dataset("mnist1d", n_train=300, n_test=100, seed=7)
    assert not torch.equal(other.x_train, mnist1d.x_train)  # a fresh draw from the same generator


def test_mnist1d_leaves_numpy_global_rng_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    data.make_mnist1d(num_samples=100)
    assert np.random.rand() == expected


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8, 1.0])
def test_label_corruption_changes_p_times_k_minus_1_over_k(p):
    n, k = 200_000, 10
    y = torch.randint(0, k, (n,), generator=torch.Generator().manual_seed(1))
    changed = (data.corrupt_labels(y, p, k, seed=2) != y).float().mean().item()
    expected = p * (k - 1) / k
    assert abs(changed - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-12


def test_random_labels_are_uniform_and_independent_of_truth():
    y = torch.zeros(100_000, dtype=torch.int64)  # all class 0
    counts = torch.bincount(data.corrupt_labels(y, 1.0, 10, seed=0), minlength=10).float() / len(y)
    assert torch.allclose(counts, torch.full((10,), 0.1), atol=0.005)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "0.5"])
def test_bad_p_raises_naming_p(p):
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        data.corrupt_labels(torch.zeros(5, dtype=torch.int64), p, 10)


def _identifiable(n=50, d=12):
    # x[i, j] = j + 100 i: the column index is recoverable from any entry
    return (torch.arange(d)[None, :] + 100 * torch.arange(n)[:, None]).float()


def test_shuffled_pixels_use_one_permutation_for_every_sample():
    x = _identifiable()
    perms = data.shuffle_pixels(x, seed=3).long() % 100  # (n, d) permutation seen by each row
    assert not torch.equal(perms[0], torch.arange(12))
    assert (perms == perms[0]).all()


def test_random_pixels_permute_each_sample_differently():
    x = _identifiable()
    out = data.random_pixels(x, seed=3)
    assert torch.equal(out.sort(1).values, x)  # each row is a permutation of itself
    perms = out.long() % 100
    assert len({tuple(p.tolist()) for p in perms}) == len(x)


def test_shuffle_applies_to_images_and_keeps_shape():
    x = torch.randn(4, 3, 8, 8)
    out = data.shuffle_pixels(x, seed=0)
    assert out.shape == x.shape and torch.equal(out.flatten().sort().values, x.flatten().sort().values)


def test_gaussian_inputs_match_mean_and_std():
    x = 3 + 2 * torch.rand(2000, 40)
    g = data.gaussian_inputs(x, seed=0)
    assert abs(g.mean() - x.mean()) < 0.02 and abs(g.std() - x.std()) < 0.02
    assert not torch.allclose(g, x)


def test_randomize_keeps_test_labels_and_shares_the_shuffle(mnist1d):
    r = data.randomize(mnist1d, "random labels", p=1.0, seed=0)
    assert torch.equal(r.y_test, mnist1d.y_test) and not torch.equal(r.y_train, mnist1d.y_train)
    s = data.randomize(mnist1d, "shuffled pixels", seed=0)
    # one permutation for train and test: the same as shuffling the two splits stacked together
    assert torch.equal(data.shuffle_pixels(torch.cat([mnist1d.x_train, mnist1d.x_test]), 0)[300:], s.x_test)
    with pytest.raises(ValueError, match="kind must be one of"):
        data.randomize(mnist1d, "random everything")


def test_unknown_dataset_and_bad_sizes_raise():
    with pytest.raises(ValueError, match="name must be one of .*'imagenet'"):
        data.load_dataset("imagenet")
    with pytest.raises(ValueError, match="n_train must be a positive integer"):
        data.load_dataset("mnist1d", n_train=0)


def test_paper_scale_without_torchvision_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import fails, as on this machine
    with pytest.raises(ImportError, match="needs torchvision.*Colab"):
        data.load_dataset("cifar10", root="/nonexistent")


def test_paper_scale_download_without_network_says_what_to_do(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(CIFAR10=offline, MNIST=offline))
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    with pytest.raises(ConnectionError, match="could not download 'cifar10'.*BOOK_SCALE=small"):
        data.load_dataset("cifar10", root=str(tmp_path))


def test_synthetic_cifar_shapes():
    d = data.load_dataset("synthetic-cifar10", n_train=16, n_test=8)
    assert d.x_train.shape == (16, 3, 32, 32) and d.input_shape == (3, 32, 32) and d.num_classes == 10


def test_random_crop_is_a_shifted_window():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    out = data.random_crop(x, padding=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for i in range(2):  # every non-zero value sits at its original position shifted by one offset
        padded = torch.nn.functional.pad(x[i, 0], (2, 2, 2, 2))
        assert any(torch.equal(out[i, 0], padded[dy:dy + 6, dx:dx + 6]) for dy in range(5) for dx in range(5))
    with pytest.raises(ValueError, match="random_crop needs images"):
        data.random_crop(torch.zeros(3, 40))


def test_random_signs_are_fair_coins_on_a_two_class_task():
    d = data.load_dataset("mnist1d", n_train=2000, n_test=500)
    signs = data.randomize(d, "random signs", seed=3)
    assert signs.num_classes == 2 and torch.equal(signs.x_train, d.x_train)
    assert set(signs.y_train.tolist()) == {0, 1} and set(signs.y_test.tolist()) == {0, 1}
    assert abs(signs.y_train.double().mean().item() - 0.5) < 0.05  # 2000 coins: sd 0.011
    assert torch.equal(data.randomize(d, "random signs", seed=3).y_train, signs.y_train)
    assert not torch.equal(data.randomize(d, "random signs", seed=4).y_train, signs.y_train)
    assert "random signs" not in data.RANDOMIZATIONS  # not one of Zhang et al.'s five tests


@pytest.mark.parametrize("kwargs,match", [
    ({"n_train": -5}, r"^n_train must be a positive integer, got -5$"),
    ({"n_train": 0}, r"^n_train must be a positive integer, got 0$"),
    ({"n_test": 2.5}, r"^n_test must be a positive integer, got 2.5$"),
    ({"n_train": True}, r"^n_train must be a positive integer, got True$"),
])
def test_synthetic_cifar_refuses_bad_sizes(kwargs, match):  # issue 18: -5 gave 118 samples
    with pytest.raises(ValueError, match=match):
        data.synthetic_like_cifar10(**kwargs)


def test_spiral_sample_is_two_spirals_distribution_drawn_with_a_given_generator():
    toy = data.two_spirals(n_train=40, n_test=2, noise=0.5, seed=3)
    x, y = data.spiral_sample(40, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(x, toy.x_train) and torch.equal(y, toy.y_train)
    with pytest.raises(ValueError, match="n must be an even"):
        data.spiral_sample(3, 0.5, torch.Generator())


def test_mnist1d_is_generated_once_per_process_and_each_caller_gets_its_own_tensors():
    a = data.load_dataset("mnist1d", n_train=300, n_test=100, seed=7)
    b = data.load_dataset("mnist1d", n_train=300, n_test=100, seed=7)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    a.x_train.add_(1.0)  # a caller changing its copy changes no one else's
    c = data.load_dataset("mnist1d", n_train=300, n_test=100, seed=7)
    assert torch.equal(b.x_train, c.x_train) and not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(c.x_train, data.load_dataset("mnist1d", n_train=300, n_test=100, seed=8).x_train)


def test_mnist1d_draw_is_kept_on_disk_and_a_damaged_file_is_generated_again(tmp_path, monkeypatch):
    """A second process (here: the per-process memo cleared) reads the draw from the cache with
    the same bits as a fresh generation; a truncated file is not trusted but regenerated."""
    import numpy as np

    monkeypatch.setenv("BOOK_CACHE", str(tmp_path))
    data._mnist1d_arrays.cache_clear()
    try:
        first = data._mnist1d_arrays(200, 0.8, 7)
        files = list((tmp_path / "data").glob("mnist1d-*-n200-split0.8-seed7.npz"))
        assert len(files) == 1
        data._mnist1d_arrays.cache_clear()
        again = data._mnist1d_arrays(200, 0.8, 7)  # from the file
        fresh = data._generate_mnist1d(200, 0.8, 7)
        for a, b, c in zip(first, again, fresh):
            assert a.dtype == b.dtype == c.dtype and np.array_equal(a, b) and np.array_equal(a, c)
        files[0].write_bytes(files[0].read_bytes()[:100])  # damaged
        data._mnist1d_arrays.cache_clear()
        repaired = data._mnist1d_arrays(200, 0.8, 7)
        assert all(np.array_equal(a, c) for a, c in zip(repaired, fresh))
        assert data._read_arrays(files[0]) is not None  # written again, whole
        assert not list((tmp_path / "data").glob("*.tmp"))
    finally:
        data._mnist1d_arrays.cache_clear()
