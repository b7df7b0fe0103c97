"""Drawing helpers shared by the sections: DataFrames in, Figures out.

Figures are built on their own Agg canvas, with no state shared with pyplot and no display
needed, and turned into PNG bytes so that writing them can be atomic like every other output.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BAND = "min-max over seeds"
"""What the shaded band around a mean curve shows; named in every figure that draws one."""

LINE_STYLES: tuple[tuple[str, float], ...] = (("-", 3.2), ("--", 1.8), (":", 1.8), ("-.", 1.6))
"""(style, width) per configuration in turn: methods that train identically draw on top of each
other, and a wide solid line under dashed ones keeps every one of them visible."""


def colors(configs: Iterable[str]) -> dict[str, str]:
    """One fixed colour per configuration, so a method looks the same in every figure."""
    palette = [f"C{i}" for i in range(10)]
    return {c: palette[i % len(palette)] for i, c in enumerate(configs)}


def line_style(index: int) -> dict[str, Any]:
    """The ``LINE_STYLES`` entry of the ``index``-th configuration, as plot keywords."""
    style, width = LINE_STYLES[index % len(LINE_STYLES)]
    return {"ls": style, "lw": width}


def new_figure(width: float, height: float) -> Figure:
    """An empty figure on its own Agg canvas (inches, 110 dpi, constrained layout)."""
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, so writing it can be atomic like every other output."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
