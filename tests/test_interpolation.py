"""Closed-form answers for Theorem 1 (finite-sample expressivity) and the min-norm solution."""
import pytest
import torch

from helpers import interpolation


def test_two_layer_construction_fits_random_labels_exactly():
    g = torch.Generator().manual_seed(0)
    n, d = 300, 20
    x, y = torch.randn(n, d, generator=g), torch.randint(0, 10, (n,), generator=g).double()
    net = interpolation.two_layer_interpolant(x, y, seed=1)
    assert net.num_weights == 2 * n + d
    assert torch.allclose(net(x), y, atol=1e-6)
    # the hidden-layer matrix on the (sorted) sample is lower triangular with a positive diagonal
    z = torch.sort(x.double() @ net.a).values
    A = torch.relu(z[:, None] - net.b[None, :])
    assert torch.equal(A, torch.tril(A)) and (torch.diagonal(A) > 0).all()


def test_two_layer_construction_fits_real_valued_and_multi_output_targets():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(50, 3, generator=g), torch.randn(50, 4, generator=g)
    net = interpolation.two_layer_interpolant(x, y)
    assert net(x).shape == (50, 4) and torch.allclose(net(x), y.double(), atol=1e-8)


def test_two_layer_construction_rejects_duplicates_and_length_mismatch():
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match="repeated samples"):
        interpolation.two_layer_interpolant(torch.cat([x, x[:1]]), torch.arange(11.0))
    with pytest.raises(ValueError, match="same number of samples"):
        interpolation.two_layer_interpolant(x, torch.arange(9.0))


def test_sgd_from_zero_converges_to_the_pseudo_inverse_solution():
    g = torch.Generator().manual_seed(0)
    n, d = 20, 200  # over-parameterized
    X, y = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    w_pinv = interpolation.min_norm_solution(X, y)
    assert torch.allclose(w_pinv, X.T @ torch.linalg.solve(X @ X.T, y))  # the closed form X^T (X X^T)^-1 y
    w_sgd = interpolation.sgd_least_squares(X, y, steps=5000, batch_size=5)
    assert (w_sgd - w_pinv).norm() / w_pinv.norm() < 1e-6
    # from a random start SGD interpolates too, but not at the minimum-norm point
    w_rand = interpolation.sgd_least_squares(X, y, steps=5000, batch_size=5, w0=torch.randn(d, generator=g))
    assert torch.allclose(X @ w_rand, y, atol=1e-6) and w_rand.norm() > 1.5 * w_pinv.norm()


# --- issue 18: bad arguments and divergence are refused, not returned as NaN or zeros -----------

@pytest.mark.parametrize("kwargs,error,match", [
    ({"batch_size": 0}, ValueError, r"^batch_size must be a positive integer, got 0$"),
    ({"steps": -1}, ValueError, r"^steps must be a positive integer, got -1$"),
    ({"lr": 10.0}, FloatingPointError, r"^SGD diverged by step \d+ .* with lr=10; the stable default"),
    ({"lr": float("nan")}, ValueError, r"^lr must be a positive finite number or None, got nan"),
    ({"w0": torch.zeros(3)}, ValueError, r"^w0 must be a tensor of shape \(50,\), got \(3,\)"),
])
def test_sgd_least_squares_refuses_bad_arguments(kwargs, error, match):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 50, generator=g), torch.randn(20, generator=g)
    with pytest.raises(error, match=match):
        interpolation.sgd_least_squares(x, y, **{"steps": 500, **kwargs})


def test_min_norm_solution_and_sgd_refuse_mismatched_or_nan_data():
    x, y = torch.randn(20, 50), torch.randn(19)
    with pytest.raises(ValueError, match=r"^x and y must hold the same number of samples, got 20 and 19$"):
        interpolation.min_norm_solution(x, y)
    with pytest.raises(ValueError, match=r"^x and y must hold the same number"):
        interpolation.sgd_least_squares(x, y)
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"^x contains NaN or inf"):
        interpolation.min_norm_solution(x, torch.randn(20))
