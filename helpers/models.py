"""The networks the chapters train: MLPs, a 1-D CNN for MNIST-1D, small image CNNs and a
CIFAR-style ResNet-18 (``resnet18``); ``fold_batchnorm`` folds eval-mode BatchNorm into the layer
before it.

Every builder takes a ``seed`` (the same seed gives the same weights on any device) and an
optional ``init_std``: weights drawn from N(0, init_std^2) and biases set to zero, as in the
initialization experiments of Liao et al.; ``None`` keeps PyTorch's default initialization.
``bias`` is True (every layer), False (none) or "first" (only the first layer, as Liao et al.'s
networks, whose normalized loss needs every later layer to be bias-free).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

ARCHITECTURES = ("mlp", "cnn1d", "convnet", "liao_cnn", "resnet18")


class Classifier(nn.Sequential):
    """An ``nn.Sequential`` that remembers the input shape it expects (without the batch)."""

    def __init__(self, input_shape: tuple[int, ...], *layers: nn.Module):
        super().__init__(*layers)
        self.input_shape = tuple(input_shape)

    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise a ValueError naming ``name`` if ``x`` is not a batch of this model's inputs."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{name} has samples of shape {tuple(x.shape[1:])}, but the model "
                             f"expects {self.input_shape} (batch dimension first)")


def _init_(model: nn.Module, init_std: float | None) -> None:
    if init_std is None:
        return
    if not init_std > 0 or not math.isfinite(init_std):
        raise ValueError(f"init_std must be a positive finite number or None, got {init_std!r}")
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.normal_(m.weight, std=init_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _build(seed: int, init_std: float | None, make) -> Classifier:
    with torch.random.fork_rng(devices=[]):  # seeded init that leaves the global RNG untouched
        torch.default_generator.manual_seed(seed)  # the CPU's only: the model is built there
        model = make()
        _init_(model, init_std)
    return model


def _bias_rule(bias):
    """A function layer_index -> bool from ``bias`` = True | False | 'first'."""
    if bias not in (True, False, "first"):
        raise ValueError(f"bias must be True, False or 'first', got {bias!r}")
    return lambda i: bias is True or (bias == "first" and i == 0)


def _check_num_classes(num_classes) -> int:
    """The number of outputs: a positive integer (1 for a regression, as Chapter 3's toy)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer (the number of outputs; 1 for a "
                         f"regression), got {num_classes!r}")
    return num_classes


def _check_widths(widths, name: str) -> tuple[int, ...]:
    widths = tuple(widths)
    if not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"{name} must be a sequence of positive integers, got {widths!r}")
    return widths


def mlp(input_shape, hidden=(256, 256), num_classes: int = 10, init_std: float | None = None,
        bias: bool | str = True, dropout: float = 0.0, seed: int = 0) -> Classifier:
    """Flatten -> [Linear -> ReLU (-> Dropout)] x len(hidden) -> Linear."""
    _check_num_classes(num_classes)
    input_shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    hidden, has_bias = _check_widths(hidden, "hidden"), _bias_rule(bias)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")

    def make():
        layers, width = [nn.Flatten()], math.prod(input_shape)
        for i, h in enumerate(hidden):
            layers += [nn.Linear(width, h, bias=has_bias(i)), nn.ReLU()]
            layers += [nn.Dropout(dropout)] if dropout > 0 else []
            width = h
        return Classifier(input_shape, *layers, nn.Linear(width, num_classes, bias=has_bias(len(hidden))))

    return _build(seed, init_std, make)


def cnn1d(input_shape=(40,), channels=(32, 32, 32), num_classes: int = 10, kernel_size: int = 5,
          init_std: float | None = None, bias: bool | str = True, dropout: float = 0.0, seed: int = 0) -> Classifier:
    """A 1-D CNN for sequences (MNIST-1D): strided Conv1d + ReLU blocks, then one Linear layer."""
    _check_num_classes(num_classes)
    input_shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    channels, has_bias = _check_widths(channels, "channels"), _bias_rule(bias)
    length = input_shape[-1]

    def make():
        layers = [nn.Unflatten(1, (1, length))] if len(input_shape) == 1 else []
        c_in = 1 if len(input_shape) == 1 else input_shape[0]
        for i, c in enumerate(channels):
            stride = 1 if i == 0 else 2  # halve the length after the first block
            layers += [nn.Conv1d(c_in, c, kernel_size, stride=stride, padding=kernel_size // 2,
                                 bias=has_bias(i)), nn.ReLU()]
            layers += [nn.Dropout(dropout)] if dropout > 0 else []
            c_in = c
        with torch.no_grad():
            n_flat = nn.Sequential(*layers)(torch.zeros(1, *input_shape)).numel()
        return Classifier(input_shape, *layers, nn.Flatten(),
                          nn.Linear(n_flat, num_classes, bias=has_bias(len(channels))))

    return _build(seed, init_std, make)


def convnet(input_shape=(3, 32, 32), channels=(64, 64), hidden=(384, 192), num_classes: int = 10,
            init_std: float | None = None, bias: bool | str = True, dropout: float = 0.0, seed: int = 0) -> Classifier:
    """Zhang et al.'s small AlexNet-style net: [Conv5x5 -> ReLU -> MaxPool3/2] x 2, then an MLP head."""
    _check_num_classes(num_classes)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}")
    channels, hidden = _check_widths(channels, "channels"), _check_widths(hidden, "hidden")
    has_bias = _bias_rule(bias)

    def make():
        layers, c_in = [], input_shape[0]
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(c_in, c, 5, padding=2, bias=has_bias(i)), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1)]
            c_in = c
        layers.append(nn.Flatten())
        with torch.no_grad():
            width = nn.Sequential(*layers)(torch.zeros(1, *input_shape)).shape[1]
        for i, h in enumerate(hidden, start=len(channels)):
            layers += [nn.Linear(width, h, bias=has_bias(i)), nn.ReLU()]
            layers += [nn.Dropout(dropout)] if dropout > 0 else []
            width = h
        return Classifier(input_shape, *layers,
                          nn.Linear(width, num_classes, bias=has_bias(len(channels) + len(hidden))))

    return _build(seed, init_std, make)


def liao_cnn(input_shape=(3, 32, 32), filters: int = 34, kernel_size: int = 5, num_classes: int = 10,
             init_std: float | None = None, seed: int = 0) -> Classifier:
    """Liao et al.'s CIFAR-10 net: 2 conv layers (34 filters 5x5, no pooling, ReLU), 1 linear layer.

    Only the first layer has a bias, so the network is positively homogeneous in every later
    layer's weights: the condition for the normalized cross-entropy of Chapter 2.
    """
    _check_num_classes(num_classes)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}")

    def make():
        convs = [nn.Conv2d(input_shape[0], filters, kernel_size, bias=True), nn.ReLU(),
                 nn.Conv2d(filters, filters, kernel_size, bias=False), nn.ReLU(), nn.Flatten()]
        with torch.no_grad():
            width = nn.Sequential(*convs)(torch.zeros(1, *input_shape)).shape[1]
        return Classifier(input_shape, *convs, nn.Linear(width, num_classes, bias=False))

    return _build(seed, init_std, make)


def build(architecture: str, input_shape, num_classes: int = 10, seed: int = 0, **kwargs) -> Classifier:
    """Build a model by name (one of ``ARCHITECTURES``); ``kwargs`` go to that builder."""
    builders = {"mlp": mlp, "cnn1d": cnn1d, "convnet": convnet, "liao_cnn": liao_cnn, "resnet18": resnet18}
    if architecture not in builders:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return builders[architecture](input_shape, num_classes=num_classes, seed=seed, **kwargs)


def num_parameters(model: nn.Module) -> int:
    """The number of trainable parameters (the 'params' column of Zhang et al.'s Table 1)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- a CIFAR-style ResNet-18 (He et al. 2016), without torchvision -----------------------------

class BasicBlock(nn.Module):
    """He et al.'s basic residual block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    conv1 (3x3, ``stride``) and conv2 (3x3) have no bias, each followed by a BatchNorm2d; the
    shortcut is the identity, or a 1x1 convolution (``stride``) and a BatchNorm2d where the
    shape changes. ``batchnorm_pairs`` names the (layer, BatchNorm) attributes that
    ``fold_batchnorm`` folds (the shortcut's pair is an ``nn.Sequential``, folded as such).
    """

    batchnorm_pairs = (("conv1", "bn1"), ("conv2", "bn2"))

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet18(input_shape=(3, 32, 32), num_classes: int = 10, width: int = 64,
             init_std: float | None = None, seed: int = 0) -> Classifier:
    """ResNet-18 for 32x32 images, the CIFAR variant (He et al. 2016; Kuang Liu's pytorch-cifar).

    A 3x3 stride-1 stem (conv, BatchNorm, ReLU; no max-pooling), four stages of two
    ``BasicBlock`` each with ``width``, 2 ``width``, 4 ``width``, 8 ``width`` channels (the
    last three halve the resolution), global average pooling and one Linear layer. ``width`` =
    64 is the standard network (11.2 M parameters for 10 classes); a small ``width`` gives a
    tiny one for tests. It is a ``Classifier`` (an ``nn.Sequential``: stem, stages, head), so
    ``fold_batchnorm`` folds every BatchNorm and the training loop checks its inputs.
    ``init_std`` re-draws only the convolution and Linear weights; BatchNorm starts at
    weight 1, bias 0. Unlike torchvision's ``resnet18`` (an ImageNet stem: 7x7 stride 2 and a
    max-pool), nothing here needs torchvision.
    """
    _check_num_classes(num_classes)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {input_shape!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer (channels of the first stage), got {width!r}")

    def make():
        layers = [nn.Conv2d(input_shape[0], width, 3, stride=1, padding=1, bias=False),
                  nn.BatchNorm2d(width), nn.ReLU()]
        c_in = width
        for stage, stride in enumerate((1, 2, 2, 2)):
            c_out = width * 2 ** stage
            layers.append(nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)))
            c_in = c_out
        return Classifier(input_shape, *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(c_in, num_classes))

    return _build(seed, init_std, make)


# --- BatchNorm folding ------------------------------------------------------------------------

FOLDABLE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def _batchnorm_pairs(module: nn.Module) -> list[tuple[nn.Module, str, nn.Module, nn.Module]]:
    """(parent, name of the BatchNorm in parent, layer, BatchNorm) for each foldable pair directly
    under ``module``: consecutive children of an ``nn.Sequential``, and the pairs a module
    declares in ``batchnorm_pairs`` (attribute names, as ``BasicBlock``)."""
    pairs = []
    if isinstance(module, nn.Sequential):
        children = list(module.named_children())
        for (_, layer), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(layer, FOLDABLE_LAYERS) and isinstance(bn, BATCHNORMS):
                pairs.append((module, bn_name, layer, bn))
    for layer_name, bn_name in getattr(module, "batchnorm_pairs", ()):
        layer, bn = getattr(module, layer_name), getattr(module, bn_name)
        if isinstance(layer, FOLDABLE_LAYERS) and isinstance(bn, BATCHNORMS):
            pairs.append((module, bn_name, layer, bn))
    return pairs


@torch.no_grad()
def _fold_into(layer: nn.Module, bn: nn.Module, name: str) -> None:
    """layer <- bn o layer, in place: W' = s W (per output unit), b' = s (b - mu) + beta,
    s = gamma / sqrt(var + eps), computed in float64."""
    out = layer.weight.shape[0]
    if bn.num_features != out:
        raise ValueError(f"{name} has {bn.num_features} features, but the layer before it has {out} "
                         "outputs: it does not normalize that layer's output")
    var, mean = bn.running_var.double(), bn.running_mean.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    w = layer.weight.double() * scale.reshape(-1, *[1] * (layer.weight.ndim - 1))
    b = layer.bias.double() if layer.bias is not None else torch.zeros_like(var)
    b = (b - mean) * scale + beta
    layer.weight.copy_(w.to(layer.weight.dtype))
    if layer.bias is None:
        layer.bias = nn.Parameter(b.to(layer.weight.dtype), requires_grad=layer.weight.requires_grad)
    else:
        layer.bias.copy_(b.to(layer.bias.dtype))


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every BatchNorm folded into the Linear or Conv layer before it.

    In eval mode a BatchNorm is an affine map per channel, y = s (x - mu) + beta with
    s = gamma / sqrt(running_var + eps), so bn(layer(x)) is the layer with weight s W (each
    output unit's row scaled) and bias s (b - mu) + beta. Each BatchNorm1d / BatchNorm2d that
    directly follows a Linear, Conv1d or Conv2d (the next child of an ``nn.Sequential``, or a
    pair a module declares in ``batchnorm_pairs`` such as ``BasicBlock``'s) is folded so and
    replaced by ``nn.Identity``; the folded layer gains a bias if it had none. Outputs agree with
    the model's in eval mode to float32 rounding (about 1e-6 relative). A BatchNorm anywhere else
    (the first layer, after a ReLU or a residual sum) is left in place; the copy keeps the
    model's train/eval flags. The model itself is not modified.

    Raises a ValueError naming the module for a BatchNorm in train mode (its output depends on
    the batch, so it is no fixed affine map: call ``model.eval()`` first) or one without running
    statistics (``track_running_stats=False``, which normalizes by the batch even in eval mode).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for name, m in model.named_modules():
        if isinstance(m, BATCHNORMS):
            if m.training:
                raise ValueError(f"model's {name or 'top module'} is a {type(m).__name__} in train mode: it "
                                 "normalizes by the batch's statistics, so it cannot be folded; call "
                                 "model.eval() first (folding uses the running statistics)")
            if m.running_mean is None or m.running_var is None:
                raise ValueError(f"model's {name} is a {type(m).__name__} without running statistics "
                                 "(track_running_stats=False): it normalizes by the batch even in eval "
                                 "mode, so it cannot be folded")
    folded = copy.deepcopy(model)
    names, done = {m: n for n, m in folded.named_modules()}, set()
    for module in list(folded.modules()):
        for parent, bn_name, layer, bn in _batchnorm_pairs(module):
            if id(bn) not in done:  # a pair a Sequential also declares is folded once
                _fold_into(layer, bn, names[bn])
                setattr(parent, bn_name, nn.Identity())
                done.add(id(bn))
    return folded
