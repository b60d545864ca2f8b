"""Quoting measured numbers: ``glue`` for the prose and ``scorecard`` for the reproduction table."""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` so the prose can quote it ({glue:text}`name`).

    Uses MyST-NB's ``glue`` when it is installed (the website build); in Colab or plain Jupyter,
    where it is not, there is nothing to quote into and the call does nothing.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    myst_glue(name, value, display=display)


@dataclass(frozen=True)
class Claim:
    """One row of a reproduction scorecard: what the paper says, what we measured, did it hold."""

    claim: str
    paper: str
    measured: str
    held: bool


def scorecard(claims: list[Claim], scale: str) -> pd.DataFrame:
    """The reproduction scorecard: one row per claim, with the verdict computed from the run."""
    rows = [{"claim": c.claim, "paper": c.paper, f"measured ({scale} scale)": c.measured,
             "held?": "yes" if bool(c.held) else "no"} for c in claims]
    return pd.DataFrame(rows).set_index("claim")


def fmt_pct(x: float, digits: int = 1) -> str:
    """A fraction as a percentage string; refuses NaN so that nothing is reported from it."""
    if not math.isfinite(x):
        raise ValueError(f"cannot report a non-finite value ({x})")
    return f"{100 * x:.{digits}f}%"
