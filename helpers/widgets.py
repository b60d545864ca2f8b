"""The gap explorer: a slider over a precomputed sweep that works on the static website.

The slider and a ``widgets.Stack`` of pre-rendered PNGs are joined by ``widgets.jslink``, so
moving the slider changes the figure in the browser with no kernel. In a live kernel an optional
button trains a fresh model at the chosen value and shows its figure below.
"""
from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure

from .plots import figure_png


def _rendered(render: Callable, value, name: str):
    """``render(value)``, checked to be a matplotlib figure; errors name the function and value."""
    try:
        fig = render(value)
    except (KeyError, IndexError) as err:  # a lookup in a precomputed sweep that lacks the value
        raise ValueError(f"{name} has no figure for the grid value {value!r} ({type(err).__name__}: "
                         f"{err}): every value of the slider needs one in the sweep") from err
    if not isinstance(fig, Figure):
        raise TypeError(f"{name}({value!r}) must return a matplotlib Figure, got "
                        f"{type(fig).__name__} (did it forget to return the figure?)")
    return fig


def gap_explorer(values: Sequence[float], render: Callable, *, symbol: str, default: float,
                 train: Callable | None = None, fmt: str = "{:.2f}", caption: str = "") -> widgets.VBox:
    """A slider over ``values`` (one per paper symbol: p, sigma_init, beta) and the figure at each.

    ``render(value)`` returns a matplotlib figure (from the cached sweep); each one is rendered
    to PNG once and closed. ``train(value)``, if given, returns a figure from a fresh run and is
    offered behind a button, which needs a live kernel. ``default`` must be one of ``values``.
    A ``render`` that returns no figure, or fails to find a value (KeyError, IndexError), is
    reported with the value at fault.
    """
    values = list(values)
    if not values:
        raise ValueError("values must not be empty")
    if default not in values:
        raise ValueError(f"default must be one of values {values}, got {default!r}")
    if not callable(render):
        raise TypeError(f"render must be a function value -> matplotlib figure, got {type(render).__name__}")
    start = values.index(default)
    images = [widgets.Image(value=figure_png(_rendered(render, v, "render")), format="png") for v in values]
    stack = widgets.Stack(images, selected_index=start)
    labels = [fmt.format(v) + (" (default)" if i == start else "") for i, v in enumerate(values)]
    slider = widgets.SelectionSlider(options=list(zip(labels, values)), index=start,
                                     description=f"{symbol} =", continuous_update=True,
                                     layout=widgets.Layout(width="480px"),
                                     style={"description_width": "initial"})
    widgets.jslink((slider, "index"), (stack, "selected_index"))  # runs in the browser, no kernel
    children = [slider, stack]
    if caption:
        children.insert(0, widgets.HTML(f"<p style='margin:0'>{caption}</p>"))
    if train is not None:
        button = widgets.Button(description=f"Train a fresh model at this {symbol} (live kernel)",
                                layout=widgets.Layout(width="480px"))
        output = widgets.Output()

        def on_click(_):
            with output:
                output.clear_output(wait=True)
                fig = _rendered(train, slider.value, "train")
                display(widgets.Image(value=figure_png(fig), format="png"))

        button.on_click(on_click)
        children += [button, output]
    return widgets.VBox(children)
