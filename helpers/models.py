"""The networks the chapters train: MLPs, a 1-D CNN for MNIST-1D, and a small image CNN.

Every builder takes a ``seed`` (the same seed gives the same weights on any device) and an
optional ``init_std``: weights drawn from N(0, init_std^2) and biases set to zero, as in the
initialization experiments of Liao et al.; ``None`` keeps PyTorch's default initialization.
``bias`` is True (every layer), False (none) or "first" (only the first layer, as Liao et al.'s
networks, whose normalized loss needs every later layer to be bias-free).
"""
from __future__ import annotations

import math

import torch
from torch import nn

ARCHITECTURES = ("mlp", "cnn1d", "convnet", "liao_cnn")


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
    builders = {"mlp": mlp, "cnn1d": cnn1d, "convnet": convnet, "liao_cnn": liao_cnn}
    if architecture not in builders:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return builders[architecture](input_shape, num_classes=num_classes, seed=seed, **kwargs)


def num_parameters(model: nn.Module) -> int:
    """The number of trainable parameters (the 'params' column of Zhang et al.'s Table 1)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
