"""The gap explorer: a slider over a precomputed sweep that works on the static website.

The slider and a ``widgets.Stack`` of pre-rendered PNGs are joined by ``widgets.jslink``, so
moving the slider changes the figure in the browser with no kernel. In a live kernel an optional
button trains a fresh model at the chosen value and shows its figure below.

On the static website that button would be dead (no kernel answers it), so it carries the CSS
class ``needs-kernel`` and comes with a note of class ``kernel-note`` that says training needs a
live kernel and links to the chapter's Colab launch. The note is hidden by an inline style, so
Jupyter and Colab show the button and not the note; the site's stylesheet
(``book/_js/explorer.css``) reverses both.
"""
from __future__ import annotations

from typing import Callable, Sequence

import ipywidgets as widgets
from IPython.display import display
from matplotlib.figure import Figure

from .plots import figure_png

COLAB = "https://colab.research.google.com/github/why-deep-networks-generalize/book/blob/main/book/{notebook}.ipynb"


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
                 train: Callable | None = None, fmt: str = "{:.2f}", caption: str = "",
                 notebook: str | None = None) -> widgets.VBox:
    """A slider over ``values`` (one per paper symbol: p, sigma_init, beta) and the figure at each.

    ``render(value)`` returns a matplotlib figure (from the cached sweep); each one is rendered
    to PNG once and closed. ``train(value)``, if given, returns a figure from a fresh run and is
    offered behind a button, which needs a live kernel; ``notebook`` (the chapter's file name
    without ``.ipynb``) is where the static site's note links to, in Colab.
    ``default`` must be one of ``values``.
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
    if train is not None and not callable(train):
        raise TypeError(f"train must be a function value -> matplotlib figure, got {type(train).__name__}")
    if notebook is not None and (not isinstance(notebook, str) or not notebook or "/" in notebook
                                 or notebook.endswith(".ipynb")):
        raise ValueError(f"notebook must be a chapter's file name without '.ipynb', such as "
                         f"'01_randomization_tests', got {notebook!r}")
    if train is not None:
        button = widgets.Button(description=f"Train a fresh model at this {symbol} (live kernel)",
                                layout=widgets.Layout(width="480px"))
        output = widgets.Output()
        where = (f'<a href="{COLAB.format(notebook=notebook)}">open this chapter in Colab</a>'
                 if notebook else "open this chapter in Colab (the badge at the top of the page)")
        note = widgets.HTML(f'<p class="kernel-note" style="display:none; margin:0">Training a fresh '
                            f'model at the chosen {symbol} needs a live kernel: {where}.</p>')
        button.add_class("needs-kernel")
        output.add_class("needs-kernel")

        def on_click(_):
            with output:
                output.clear_output(wait=True)
                fig = _rendered(train, slider.value, "train")
                display(widgets.Image(value=figure_png(fig), format="png"))

        button.on_click(on_click)
        children += [note, button, output]
    return widgets.VBox(children)
