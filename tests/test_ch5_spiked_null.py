"""esd.spiked_null (Chapter 5's null for "2 <= alpha <= 4"): a Marchenko-Pastur bulk that carries
the ESD's own spikes."""
import numpy as np
import pytest
import torch

from helpers.metrics import esd

N, M = 512, 256


def spiked(seed, k=4):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(N, M, generator=g, dtype=torch.float64)
    u = torch.linalg.qr(torch.randn(N, k, generator=g, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(M, k, generator=g, dtype=torch.float64))[0]
    return w + 3 * (N * M) ** 0.25 * u @ v.T


@pytest.mark.parametrize("seed", range(3))
def test_spiked_null_keeps_the_spikes_on_an_mp_bulk(seed):
    d = esd.diagnose_matrix(spiked(seed), controls=False)
    evals = esd.esd(spiked(seed))
    null = esd.spiked_null(evals, N, M, d.mp.sigma2, d.num_spikes, seed=seed + 10)
    k = d.num_spikes
    assert k >= 4 and null.size == M and np.all(np.diff(null) >= 0)
    np.testing.assert_array_equal(null[-k:], evals[-k:])
    bulk = null[:-k]  # Gaussian of the fitted variance: inside the MP edges, up to fluctuations
    lo, hi = esd.mp_bounds(N, M, d.mp.sigma2)
    assert 0.9 * lo <= bulk.min() and bulk.max() <= 1.05 * hi
    # a bulk+spikes matrix is its own null: the surrogate's phase and alpha are close to its own
    fit = esd.power_law_fit(null)
    assert esd.diagnose(null, N, M).phase == "bulk+spikes"
    assert abs(fit.alpha - d.power_law.alpha) < 1.0


def test_spiked_null_is_seeded_and_checks_its_arguments():
    evals = esd.esd(spiked(0))
    a = esd.spiked_null(evals, N, M, 1.0, 3, seed=1)
    np.testing.assert_array_equal(a, esd.spiked_null(evals, N, M, 1.0, 3, seed=1))
    assert not np.array_equal(a, esd.spiked_null(evals, N, M, 1.0, 3, seed=2))
    with pytest.raises(ValueError, match="num_spikes"):
        esd.spiked_null(evals, N, M, 1.0, M + 1)
    with pytest.raises(ValueError, match="eigenvalues must be"):
        esd.spiked_null(evals[:-1], N, M, 1.0, 3)
    with pytest.raises(ValueError, match="sigma2"):
        esd.spiked_null(evals, N, M, -1.0, 3)
