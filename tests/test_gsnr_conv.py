"""gradient_moments on convolutions: the Conv1d/Conv2d identity (im2col + hooks) against a
per-sample loop in float64, the cases that must fall back to torch.func, and BackPACK."""
import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from helpers import data, models
from helpers.metrics import gsnr
# the reference: one backward pass per sample, and exact two-pass moments
from test_gsnr import assert_close, per_sample_gradients, two_pass


def assert_matches_loop(model, X, y, chunk_size=7, loss_fn=F.cross_entropy):
    mean, var = two_pass(per_sample_gradients(model, loss_fn, X, y))
    m = gsnr.gradient_moments(model, loss_fn, X, y, chunk_size=chunk_size)
    assert_close(m.mean, mean)
    assert_close(m.var, var, atol=1e-13)
    return m


def identity_modules(model, X):
    """The modules that gradient_moments sends down an identity (not torch.func)."""
    trainable = {k: p for k, p in model.named_parameters() if p.requires_grad}
    return set(gsnr._identity_layers(model, X[:1], trainable))


def conv_net(conv, flat_input):
    """conv -> tanh -> flatten -> linear, in float64 (the width found by a dry run)."""
    with torch.no_grad():
        width = conv(flat_input[:1]).numel()
    return nn.Sequential(conv, nn.Tanh(), nn.Flatten(), nn.Linear(width, 3)).double()


def data_1d(n=23, channels=4, length=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, channels, length, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=g))


def data_2d(n=19, channels=4, size=(9, 8), seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, channels, *size, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=g))


# --- the identity equals the loop ------------------------------------------------------------

CONV1D = {
    "plain": dict(kernel_size=3),
    "stride 2, padding 2": dict(kernel_size=5, stride=2, padding=2),
    "dilation 2, padding 3, no bias": dict(kernel_size=4, dilation=2, padding=3, bias=False),
    "same, even kernel": dict(kernel_size=4, padding="same"),
    "same, dilated": dict(kernel_size=3, padding="same", dilation=3),
    "valid": dict(kernel_size=2, padding="valid"),
    "groups 2": dict(kernel_size=3, groups=2, padding=1, stride=3),
    "depthwise": dict(kernel_size=3, groups=4),
}


SAME_EVEN = "ignore:Using padding='same' with even kernel"  # torch's note that it copies


@pytest.mark.filterwarnings(SAME_EVEN)
@pytest.mark.parametrize("name", list(CONV1D))
@pytest.mark.parametrize("chunk_size", [1, 7, 100])
def test_conv1d_equals_loop(name, chunk_size):
    torch.manual_seed(0)
    X, y = data_1d()
    model = conv_net(nn.Conv1d(4, 8, **CONV1D[name]).double(), X)
    assert model[0] in identity_modules(model, X)
    assert_matches_loop(model, X, y, chunk_size)


CONV2D = {
    "plain": dict(kernel_size=3),
    "rectangular kernel, stride (2, 1)": dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0)),
    "dilation (2, 1), no bias": dict(kernel_size=3, dilation=(2, 1), padding=2, bias=False),
    "same, even kernel": dict(kernel_size=(2, 4), padding="same"),
    "groups 2, stride 2": dict(kernel_size=3, groups=2, stride=2, padding=1),
}


@pytest.mark.filterwarnings(SAME_EVEN)
@pytest.mark.parametrize("name", list(CONV2D))
@pytest.mark.parametrize("chunk_size", [1, 6, 100])
def test_conv2d_equals_loop(name, chunk_size):
    torch.manual_seed(1)
    X, y = data_2d()
    model = conv_net(nn.Conv2d(4, 6, **CONV2D[name]).double(), X)
    assert model[0] in identity_modules(model, X)
    assert_matches_loop(model, X, y, chunk_size)


def test_blocks_of_one_sample_equal_the_loop(monkeypatch):
    """With a budget of one number, every sample's weight gradient is formed on its own."""
    monkeypatch.setattr(gsnr, "_CONV_BUDGET", 1)
    torch.manual_seed(2)
    X, y = data_2d(n=9)
    model = conv_net(nn.Conv2d(4, 6, 3, padding=1, groups=2).double(), X)
    assert_matches_loop(model, X, y, chunk_size=4)


def test_frozen_conv_layers():
    """A frozen conv (weight and bias), and one with only its bias trainable, between trained
    ones: the frozen parameters are left out, the gradients still flow through them."""
    torch.manual_seed(3)
    X, y = data_1d()
    model = nn.Sequential(nn.Conv1d(4, 6, 3), nn.ReLU(), nn.Conv1d(6, 6, 3, stride=2), nn.ReLU(),
                          nn.Conv1d(6, 5, 3, padding=1), nn.ReLU(inplace=True), nn.Flatten(),
                          nn.Linear(5 * 7, 3)).double()
    model[2].requires_grad_(False)
    model[4].weight.requires_grad_(False)
    m = assert_matches_loop(model, X, y)
    assert m.names == ["0.weight", "0.bias", "4.bias", "7.weight", "7.bias"]
    assert identity_modules(model, X) == {model[0], model[4], model[7]}


def test_conv1d_conv2d_linear_and_batchnorm_in_one_model():
    """Every path at once: Conv2d and Conv1d and Linear identities, BatchNorm by torch.func."""
    torch.manual_seed(4)
    X, y = data_2d(n=21, size=(6, 6))
    model = nn.Sequential(nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
                          nn.Flatten(2), nn.Conv1d(5, 4, 5, stride=2), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 16, 6), nn.Tanh(),
                          nn.Linear(6, 3)).double()
    model.train()
    model(X)  # running statistics for eval mode
    model.eval()
    assert identity_modules(model, X) == {model[0], model[4], model[7], model[9]}
    assert_matches_loop(model, X, y, chunk_size=8)


def test_shared_conv_goes_to_torch_func_and_is_right():
    """A conv called twice per forward: the identity does not hold, torch.func takes it."""
    torch.manual_seed(5)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 3, padding=1)
            self.head = nn.Linear(4 * 17, 3)

        def forward(self, x):
            return self.head(torch.tanh(self.conv(torch.tanh(self.conv(x)))).flatten(1))

    X, y = data_1d()
    model = Twice().double()
    assert identity_modules(model, X) == {model.head}
    assert_matches_loop(model, X, y)


def test_tied_conv_weights_go_to_torch_func():
    """Two modules holding one weight tensor: neither takes the identity for it."""
    torch.manual_seed(6)
    X, y = data_1d()
    a, b = nn.Conv1d(4, 4, 3, padding=1), nn.Conv1d(4, 4, 3, padding=1)
    b.weight = a.weight
    model = nn.Sequential(a, nn.Tanh(), b, nn.Tanh(), nn.Flatten(), nn.Linear(4 * 17, 3)).double()
    assert identity_modules(model, X) == {model[5]}
    assert_matches_loop(model, X, y)


@pytest.mark.parametrize("mode", ["reflect", "circular", "replicate"])
def test_other_padding_modes_go_to_torch_func(mode):
    torch.manual_seed(7)
    X, y = data_2d(n=11)
    model = conv_net(nn.Conv2d(4, 5, 3, padding=1, padding_mode=mode).double(), X)
    assert model[0] not in identity_modules(model, X)
    assert_matches_loop(model, X, y)


def test_conv_subclass_with_its_own_forward_goes_to_torch_func():
    class Scaled(nn.Conv1d):
        def forward(self, x):
            return 2.0 * super().forward(x)

    torch.manual_seed(8)
    X, y = data_1d()
    model = conv_net(Scaled(4, 5, 3).double(), X)
    assert model[0] not in identity_modules(model, X)
    assert_matches_loop(model, X, y)


# --- the book's models -----------------------------------------------------------------------

def test_cnn1d_equals_loop():
    ds = data.load_dataset("mnist1d", n_train=40, n_test=10, seed=0)
    model = models.cnn1d(40, (8, 8, 8), seed=0).double()
    X, y = ds.x_train.double(), ds.y_train
    assert len(identity_modules(model, X)) == 4  # three Conv1d and the Linear head
    assert_matches_loop(model, X, y, chunk_size=16)


def test_convnet_equals_loop_on_cifar_shaped_inputs():
    g = torch.Generator().manual_seed(9)
    X = torch.randn(6, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (6,), generator=g)
    model = models.convnet(input_shape=(3, 32, 32), seed=0).double()
    assert len(identity_modules(model, X)) == 5  # two Conv2d, three Linear
    assert_matches_loop(model, X, y, chunk_size=4)


def test_float32_cnn1d_matches_float64():
    """Products and block sums in float32, chunk sums in float64: float32 rounding only."""
    ds = data.load_dataset("mnist1d", n_train=300, n_test=10, seed=1)
    model = models.cnn1d(40, (8, 8, 8), seed=1)
    m32 = gsnr.gradient_moments(model, F.cross_entropy, ds.x_train, ds.y_train, chunk_size=128)
    m64 = gsnr.gradient_moments(copy.deepcopy(model).double(), F.cross_entropy,
                                ds.x_train.double(), ds.y_train)
    for k in m64.mean:
        assert (m32.mean[k] - m64.mean[k]).norm() <= 1e-5 * m64.mean[k].norm(), k
        assert (m32.var[k] - m64.var[k]).norm() <= 1e-5 * m64.var[k].norm(), k


def test_conv_gsnr_survives_float32_squares_underflowing():
    """At a loss scaled by 1e-25 the float32 per-sample gradients (~1e-26) are representable,
    their squares are not: the GSNR must come out as for the unscaled loss, not inf."""
    torch.manual_seed(10)
    model = nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv1d(4, 4, 3),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10, 3))
    X, y = torch.randn(64, 2, 12), torch.randint(0, 3, (64,))
    plain = gsnr.gsnr(gsnr.gradient_moments(model, F.cross_entropy, X, y))
    tiny_loss = lambda out, t: 1e-25 * F.cross_entropy(out, t)
    tiny = gsnr.gsnr(gsnr.gradient_moments(model, tiny_loss, X, y))
    for k in plain:
        assert torch.isfinite(tiny[k]).all(), k
        assert torch.allclose(tiny[k], plain[k], rtol=1e-3), k


def test_hooks_grads_and_outputs_are_left_alone():
    torch.manual_seed(11)
    X, y = data_2d(n=10)
    model = conv_net(nn.Conv2d(4, 5, 3).double(), X)
    before = model(X).detach()
    gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=3)
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(model(X).detach(), before)


# --- BackPACK ----------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Full backward hook is firing")  # BackPACK's, on the first layer
def test_agrees_with_backpack_on_a_conv_net():
    import backpack  # pinned (--no-deps, requirements-nodeps.txt): missing fails, never skips
    from backpack.extensions import SumGradSquared, Variance

    torch.manual_seed(12)
    X, y = data_2d(n=30, size=(8, 8))
    model = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(6, 4, 3, dilation=2, padding=2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 16, 3)).double()
    ours = gsnr.gradient_moments(model, F.cross_entropy, X, y, chunk_size=8)
    ext = backpack.extend(copy.deepcopy(model))
    loss = backpack.extend(nn.CrossEntropyLoss(reduction="sum"))  # per-sample gradients as they are
    with backpack.backpack(Variance(), SumGradSquared()):
        loss(ext(X), y).backward()
    for name, p in ext.named_parameters():
        torch.testing.assert_close(ours.var[name], p.variance, rtol=1e-9, atol=1e-15)
        second_moment = ours.var[name] + ours.mean[name].square()
        torch.testing.assert_close(second_moment, p.sum_grad_squared / len(X), rtol=1e-9,
                                   atol=1e-15)
