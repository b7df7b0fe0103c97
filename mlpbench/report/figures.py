"""Drawing helpers shared by the sections: DataFrames in, Figures out.

Figures are built on their own Agg canvas, with no state shared with pyplot and no display
needed, and turned into PNG bytes so that writing them can be atomic like every other output.

A figure of many configurations is cut into panels (``panels``) of at most ``MAX_SERIES``
lines, one family of methods each, with the reference (backprop) drawn in every panel, because
seventeen lines in one axes cannot be told apart without the table. Within a panel every line
has its own colour, line style and marker, and a legend label that states values in words
("SPSA, 10 Gaussian directions, noise table, h = 1e-03, lr 0.1"), not config keys.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from mlpbench import results
from mlpbench.report.format import format_h, format_value, is_missing, plural

BAND = "min-max over seeds"
"""What the shaded band around a mean curve shows; named in every figure that draws one."""

MAX_SERIES = 8
"""Lines per panel at most, the reference included: beyond about eight, colours and dashes
stop being told apart at a glance."""

REFERENCE_STYLES: tuple[dict[str, Any], ...] = (
    {"color": "black", "ls": "-", "lw": 3.0, "zorder": 2},
    {"color": "0.55", "ls": (0, (6, 2)), "lw": 3.0, "zorder": 2},
    {"color": "0.3", "ls": (0, (2, 1, 2, 4)), "lw": 3.0, "zorder": 2},
)
"""The reference (backprop) in every panel: a wide black solid line drawn first, so methods
that train identically to it show on top of it rather than hiding it; a second or third
reference (backprop under two dtypes, say) in grey with dashes no other line uses."""

SERIES_COLORS: tuple[str, ...] = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9")
"""The other lines' colours in turn (tab10 without its grey, too close to the black
reference); nine, more than a panel holds."""

SERIES_DASHES: tuple[Any, ...] = (
    "--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (9, 2.5)), (0, (1, 1)),
    (0, (4, 1.5, 4, 1.5, 1, 1.5)), (0, (2, 2.5)), "-",
)
"""The other lines' dash patterns in turn: all distinct, and the solid one last, so that it is
used only in a panel without the solid reference."""

SERIES_MARKERS: tuple[str, ...] = ("o", "s", "^", "v", "D", "P", "X", "*", "h")
"""One marker shape per line, a few per curve: curves that coincide (finite differences on top
of backprop) still show every line's marks."""

MARKS_PER_CURVE = 6
"""Markers drawn along a curve of many points; each line's are offset from the others'."""

SCHEME_WORDS: dict[str, str] = {
    "central": "central differences", "forward": "forward differences",
    "backward": "backward differences", "richardson": "Richardson extrapolation",
    "complex_step": "complex step",
}
"""A finite-difference scheme in words."""

ENGINE_WORDS: dict[str, str] = {"incremental": "incremental engine",
                                "naive": "naive loop (the seed's)"}
"""A finite-difference engine in words; any other reads "<name> engine"."""

METHOD_WORDS: dict[str, str] = {"backprop": "backprop", "numerical": "finite differences",
                                "spsa": "SPSA", "forward_gradient": "forward gradient",
                                "es": "ES"}
"""A method's short name at the head of a legend label."""

FAMILY_TITLES: dict[str, str] = {
    "numerical": "finite differences over every parameter",
    "spsa": "SPSA / MeZO: two loss evaluations per random direction",
    "forward_gradient": "forward gradients: one forward-mode pass per random direction",
    "es": "evolution strategies: antithetic pairs of random directions",
}
"""A panel's title when it holds one family of methods (one ``method``); families are shown in
this order (exact to least exact, then by cost), any other method after them."""

OPTION_WORDS: dict[tuple[str, str], str] = {
    ("noise", "table"): "noise table", ("noise", "fresh"): "fresh noise",
    ("jvp", "dual"): "dual-number JVP", ("jvp", "complex_step"): "complex-step JVP",
    ("rank_shaping", "true"): "rank-shaped", ("rank_shaping", "false"): "raw losses",
    ("perturb", "activations"): "activity perturbation", ("orthogonal", "true"): "orthogonal",
}
"""A method option's value in words; options not listed read "<key> <value>"."""


def colors(configs: Iterable[str]) -> dict[str, str]:
    """A colour per configuration, in display order.

    The figures read the order of this mapping; each panel then gives its own lines distinct
    colours (``panel_styles``), since a colour fixed per configuration repeats within a panel
    as soon as there are more configurations than colours.
    """
    palette = [f"C{i}" for i in range(10)]
    return {c: palette[i % len(palette)] for i, c in enumerate(configs)}


def new_figure(width: float, height: float) -> Figure:
    """An empty figure on its own Agg canvas (inches, 110 dpi, constrained layout)."""
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, so writing it can be atomic like every other output.

    Cropped to what was drawn (``bbox_inches="tight"``), so no title or legend is cut at the
    figure's edge; without the Software entry, so the bytes depend on the drawing alone, not
    on the matplotlib version that wrote them.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1,
                metadata={"Software": None})
    return buffer.getvalue()


def wrap(text: str, width_in: float, fontsize: float = 10) -> str:
    """``text`` with each of its lines wrapped to fit ``width_in`` inches at ``fontsize`` pt
    (about 0.55 em per character), so a long title breaks between words instead of running
    off the figure."""
    chars = max(20, int(width_in * 72 / (fontsize * 0.55)))
    return "\n".join(textwrap.fill(line, chars) if line else line for line in text.split("\n"))


# ---------------------------------------------------------------------------------------------
# Legend labels in words.


def parse_options(options: Any) -> dict[str, str]:
    """A method's ``options`` ("directions=10, distribution=gaussian") as a dict; {} for none."""
    if is_missing(options) or not options:
        return {}
    pairs = (part.split("=", 1) for part in str(options).split(",") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


def _options_words(options: dict[str, str]) -> list[str]:
    """The options in words: "10 Gaussian directions", "100 pairs", "noise table"."""
    words = []
    rest = dict(options)
    if "directions" in rest:
        count = int(rest.pop("directions"))
        kind = rest.pop("distribution", "")
        kind = {"gaussian": "Gaussian", "rademacher": "Rademacher"}.get(kind, kind)
        if rest.get("perturb") == "activations":  # a tangent per example, not one direction
            words.append(f"{count} tangent{'s' if count != 1 else ''} per example")
        else:
            words.append(f"{count} {kind} direction{'s' if count != 1 else ''}"
                         .replace("  ", " "))
    if "population" in rest:
        words.append(plural(int(rest.pop("population")), "pair"))
    for key, value in rest.items():
        words.append(OPTION_WORDS.get((key, value), f"{key.replace('_', ' ')} {value}"))
    return words


def method_words(row: pd.Series | dict[str, Any]) -> str:
    """The method of a configuration in words: "central differences, h = 1e-04, incremental
    engine", "SPSA, 10 Gaussian directions, noise table, h = 1e-03", "backprop"."""
    method = str(row["method"])
    scheme, engine, h = row.get("scheme"), row.get("engine"), row.get("h")
    if not is_missing(scheme):
        parts = [SCHEME_WORDS.get(str(scheme), str(scheme))]
    else:
        parts = [METHOD_WORDS.get(method, method)]
    parts += _options_words(parse_options(row.get("options")))
    if not is_missing(h):
        parts.append(f"h = {format_h(float(h))}")
    if not is_missing(engine):
        parts.append(ENGINE_WORDS.get(str(engine), f"{engine} engine"))
    return ", ".join(parts)


def _protocol_suffix(row: pd.Series | dict[str, Any]) -> str:
    """The protocol keys that tell this configuration from another of the same method (the
    bracket of its ``config``, "[dtype=float32]"), as "dtype float32"; "" when none."""
    config, label = str(row["config"]), str(row.get("method_label", ""))
    if not label or not config.startswith(f"{label} [") or not config.endswith("]"):
        return ""
    inner = config[len(label) + 2:-1]
    return ", ".join(part.strip().replace("_", " ").replace("=", " ")
                     for part in inner.split(","))


def _flag(value: Any) -> bool:
    """A boolean column's value, missing read as False (a column absent from some rows is NaN
    there, and NaN is truthy)."""
    return not is_missing(value) and bool(value)


def series_labels(rows: pd.DataFrame) -> dict[str, str]:
    """A legend label per configuration of ``rows`` (one row each): the method in words, its
    learning rate when the rows' rates differ, its protocol keys when they tell it apart, its
    seed count when it differs from the most common one, and a short run's length.

    ``rows`` needs ``config`` and the method keys; ``lr``, ``n``, ``epochs`` and ``short``
    (run shorter than its protocol) are used when present. Labels that would still coincide
    get their ``config`` appended, so a legend never shows one label twice.
    """
    lr_varies = "lr" in rows and rows["lr"].nunique() > 1
    common_n = int(rows["n"].mode().max()) if "n" in rows and not rows.empty else None
    labels: dict[str, str] = {}
    for _, row in rows.iterrows():
        parts = [method_words(row)]
        if row.get("role") == results.ROLE_REFERENCE:
            parts[0] += " (reference)"
        if lr_varies:
            parts.append(f"lr {format_value(float(row['lr']))}")
        suffix = _protocol_suffix(row)
        if suffix:
            parts.append(suffix)
        if common_n is not None and int(row["n"]) != common_n:
            parts.append("1 seed" if int(row["n"]) == 1 else f"mean of {int(row['n'])} seeds")
        if _flag(row.get("short")):
            parts.append(f"ran only {plural(int(row['epochs']), 'epoch')} (full-length time "
                         "extrapolated in the Speed table)")
        labels[str(row["config"])] = ", ".join(parts)
    counts = pd.Series(list(labels.values())).value_counts()
    return {config: f"{label} [{config}]" if counts[label] > 1 else label
            for config, label in labels.items()}


# ---------------------------------------------------------------------------------------------
# Panels: which configurations share an axes, and how each line looks.


@dataclass(frozen=True)
class Series:
    """One line of a panel: its configuration, legend label and plot keywords."""

    config: str
    label: str
    style: dict[str, Any]
    reference: bool = False
    short: bool = False
    phase: float = 0.0
    """Where along the curve this line's markers start, as a fraction of their spacing, so
    that coinciding lines put their markers side by side instead of on top of each other."""


@dataclass(frozen=True)
class Panel:
    """One axes' worth of lines: the reference first (when there is one), then the others."""

    title: str
    series: tuple[Series, ...]


def panel_styles(count: int, reference: bool) -> list[dict[str, Any]]:
    """Plot keywords for the ``count`` non-reference lines of a panel: colour, dash and marker
    all distinct within the panel, the solid dash kept for the reference when there is one,
    widths falling slightly so that coinciding curves stay visible under each other."""
    dashes = SERIES_DASHES[:-1] if reference else ("-", *SERIES_DASHES[:-1])
    if count > min(len(SERIES_COLORS), len(dashes), len(SERIES_MARKERS)):
        raise ValueError(f"{count} lines in one panel: more than the styles that tell them apart")
    return [{"color": SERIES_COLORS[i], "ls": dashes[i], "lw": max(2.2 - 0.15 * i, 1.2),
             "marker": SERIES_MARKERS[i], "ms": 4.5, "zorder": 3 + i} for i in range(count)]


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    """``items`` cut into the fewest runs of at most ``size``, as even as possible."""
    parts = math.ceil(len(items) / size)
    base, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + base + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out


def _groups(rows: pd.DataFrame, room: int) -> list[tuple[str, pd.DataFrame]]:
    """The non-reference rows in panels of at most ``room``: all in one when they fit, else one
    panel per method family, a family too big split by scheme, then into even parts (by h,
    the display order)."""
    if len(rows) <= room:
        return [("", rows)]
    groups: list[tuple[str, pd.DataFrame]] = []
    order = list(FAMILY_TITLES)
    families = sorted(rows.groupby("method", sort=False),
                      key=lambda item: order.index(item[0]) if item[0] in order else len(order))
    for method, family in families:
        title = FAMILY_TITLES.get(str(method), METHOD_WORDS.get(str(method), str(method)))
        if len(family) <= room:
            groups.append((title, family))
            continue
        schemes = family["scheme"].fillna("") if "scheme" in family else pd.Series(
            "", index=family.index)
        for scheme, part in family.groupby(schemes, sort=False):
            name = f"{title}: {SCHEME_WORDS.get(str(scheme), str(scheme))}" if scheme else title
            pieces = _chunks(list(part.index), room)
            for number, piece in enumerate(pieces, 1):
                chunk = part.loc[piece]
                groups.append((_chunk_title(name, chunk, number, len(pieces)), chunk))
    return groups


def _chunk_title(name: str, chunk: pd.DataFrame, number: int, parts: int) -> str:
    """A part of a split family: named by its h range when h varies, else "part i of n"."""
    if parts == 1:
        return name
    hs = chunk["h"].dropna() if "h" in chunk else pd.Series(dtype=float)
    if hs.nunique() > 1:
        return f"{name}, h = {format_h(float(hs.min()))} to {format_h(float(hs.max()))}"
    return f"{name} (part {number} of {parts})"


def panels(rows: pd.DataFrame, limit: int = MAX_SERIES) -> list[Panel]:
    """The panels that draw the configurations of ``rows`` (one row each, in display order).

    The reference (``role``) is drawn in every panel; the others share one panel when they fit
    in ``limit`` lines with it, else go one family per panel (``_groups``). ``rows`` needs
    ``config``, ``method``, ``scheme``, ``h``, ``role`` and what ``series_labels`` reads.
    """
    if rows.empty:
        return []
    labels = series_labels(rows)
    is_reference = rows["role"].eq(results.ROLE_REFERENCE) if "role" in rows else pd.Series(
        False, index=rows.index)
    references = rows[is_reference]
    others = rows[~is_reference]
    room = max(limit - len(references), 1)
    reference_series = tuple(
        Series(str(c), labels[str(c)], dict(REFERENCE_STYLES[i % len(REFERENCE_STYLES)]),
               reference=True)
        for i, c in enumerate(references["config"]))
    out = []
    for title, group in _groups(others, room):
        styles = panel_styles(len(group), reference=not references.empty)
        series = tuple(
            Series(str(row["config"]), labels[str(row["config"])], style,
                   short=_flag(row.get("short")), phase=i / len(group))
            for i, ((_, row), style) in enumerate(zip(group.iterrows(), styles, strict=True)))
        out.append(Panel(title, reference_series + series))
    if others.empty:
        out.append(Panel("", reference_series))
    return out


def plot_series(ax: Axes, x: Any, y: Any, series: Series, *, label: bool = True) -> None:
    """One line of ``series``: a few offset markers along a long curve, a marker on every
    point of a short run (two epochs would otherwise be an invisible stub)."""
    style = dict(series.style)
    points = len(x)
    if series.short:
        style.update(marker=style.get("marker") or "o", ms=7, markevery=None)
    elif style.get("marker"):
        every = max(points // MARKS_PER_CURVE, 1)
        style["markevery"] = (int(series.phase * every), every)
    ax.plot(x, y, label=series.label if label else None, **style)


def plot_band(ax: Axes, x: Any, low: Any, high: Any, series: Series) -> None:
    """The ``BAND`` around a mean curve, in the line's colour, light enough to read through."""
    ax.fill_between(x, low, high, color=series.style["color"],
                    alpha=0.12 if series.reference else 0.18, lw=0,
                    zorder=series.style.get("zorder", 2) - 1)


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` panels: one column for one, two columns otherwise (rows
    of a split family side by side), three for three or for odd counts from five."""
    if count <= 1:
        return 1, 1
    columns = 3 if count == 3 or (count >= 5 and count % 2) else 2
    return math.ceil(count / columns), columns


def curve_note(rows: pd.DataFrame, panel_list: Sequence[Panel], unit: str = "panel") -> str:
    """The title line that says what a curve is: "line: mean over seeds (3 seeds unless the
    legend says otherwise); shaded band: min-max over seeds", or "one seed per configuration"
    when no configuration has more, and that the reference is in every panel when there are
    several (``unit``: what the figure calls one). ``rows`` are those of ``panels`` (``n`` per
    configuration)."""
    common = int(rows["n"].mode().max())
    if int(rows["n"].max()) == 1:
        text = "line: one seed per configuration"
    else:
        text = (f"line: mean over seeds ({plural(common, 'seed')} unless the legend says "
                f"otherwise); shaded band: {BAND}")
    reference = next((s.label for p in panel_list for s in p.series if s.reference), None)
    if len(panel_list) > 1 and reference is not None:
        text += f"; {reference.split(' (reference)')[0]}, the reference, in every {unit}"
    return text


def log_ticks(ax: Axes) -> None:
    """Plain x tick labels at 1, 2 and 5 per decade ("20", "0.05") when the log x axis spans
    two decades or less, none between: the default then labels minor ticks in crowded
    scientific notation. Wider ranges keep the default powers of ten. Call after plotting."""
    low, high = ax.get_xlim()
    if low <= 0 or math.log10(high / low) > 2:
        return
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def epoch_text(runs: pd.DataFrame) -> str:
    """What one epoch is in the runs, with values: "one epoch = 1 SGD step of 100 samples"."""
    pairs = sorted({(int(s), int(b)) for s, b in zip(runs["steps_per_epoch"],
                                                     runs["batch_size"], strict=True)})
    texts = [f"{plural(s, 'SGD step')} of {b} samples" for s, b in pairs]
    return "one epoch = " + " or ".join(texts)
