"""``python -m mlpbench --help``: the app's help, generated from what it describes.

Hydra prints ``hydra.help.template``; conf/config.yaml sets it to ``${mlpbench.help:}``, a
resolver (registered by ``mlpbench.config``) that returns ``template()``. Every method, key,
default and meaning shown here is read from where it is declared: the registry and each
method's ``Config`` fields with their ``setting`` help, the run schema in ``settings``, the
files of conf/dataset/ and conf/sweep/. A method, a setting or a sweep added there appears in
the help without anyone editing it, and a changed default cannot be shown stale.

Nothing here computes a gradient (the method modules, which the registry imports, load no
compiled engine), so ``--help`` stays fast.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

import yaml

from mlpbench import methods, optimizers
from mlpbench.config import CONF_DIR, default_choice
from mlpbench.settings import DatasetConfig, leaves

ROOT = CONF_DIR.parent
WIDTH = 99
"""The longest help line: under 100 characters, for an 100-column terminal."""
KEY_COLUMN = 32
"""Where the meaning of a key starts; a longer ``key=default`` puts it on the next line."""
SWEEP_LINES = 2
"""The most lines a sweep's description takes (a file's comment can run to a paragraph)."""


def format_value(value: Any) -> str:
    """A default as a command line would give it: null, true/false, [64,32], 1e-07."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def field_default(f: Field) -> Any:
    """A dataclass field's default, also when it is given by a factory."""
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def entries(rows: list[tuple[str, str]], indent: int = 2, most: int = KEY_COLUMN,
            column: int | None = None) -> list[str]:
    """``key  meaning`` rows, the meaning wrapped in a column of its own: at ``column``, else
    two spaces after the longest key, at most at ``most``."""
    if column is None:
        column = max(indent + max((len(k) for k, _ in rows), default=0) + 2, 16)
        column = min(column, most)
    lines = []
    for key, meaning in rows:
        wrapped = wrap(meaning, WIDTH - column) or [""]
        head = " " * indent + key
        if len(head) + 2 > column:
            lines.append(head)
        else:
            wrapped[0] = head.ljust(column) + wrapped[0]
            lines.append(wrapped.pop(0).rstrip())
        lines += [" " * column + w for w in wrapped]
    return lines


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, never broken inside a word: "--hydra-help",
    "checksum-verified" and "784-64-32-10" are read (and copied) whole."""
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)


def paragraph(text: str) -> list[str]:
    """``text`` wrapped to the help's width."""
    return wrap(text, WIDTH)


def leading_comment(path: Path) -> str:
    """The comment block a YAML file opens with, as one line (``@package`` directives left
    out): what conf/dataset/ and conf/sweep/ files say they are."""
    words = []
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if not body.startswith("@package"):
            words.append(body)
    return " ".join(w for w in words if w)


def first_clause(text: str) -> str:
    """``text`` up to its first full stop or colon outside brackets and quotes: the headline
    of a sweep file's comment (whose first line alone often stops mid-sentence). "et al. 2022",
    "ch. 4" and "1e-1 .. 1e-10" do not end it."""
    depth, quoted = 0, False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(depth - 1, 0)
        elif depth == 0 and not quoted and char in ".:":
            rest = text[i + 1:]
            if char == ":" and rest.startswith(" "):
                return text[:i]
            if char == "." and text[i - 1:i] != "." and (
                    not rest or re.match(r"\s+[A-Z]", rest)):
                return text[:i + 1]
    return text


def usage() -> list[str]:
    """What mlpbench is and how it is called."""
    return [
        "mlpbench: trains an MNIST MLP with one gradient method per run; results go to parquet.",
        "",
        "Usage:",
        *entries([
            ("python -m mlpbench [key=value ...]", "one run (defaults below)"),
            ("python -m mlpbench --multirun key=a,b [key=value ...]",
             "one run per combination of values"),
            ("python -m mlpbench --multirun +sweep=NAME [key=value ...]",
             "a sweep file (Sweeps, below)"),
        ], indent=2, most=62),
        *paragraph("In a sweep, a key given one value applies to every run; a method.KEY must be "
                   "a key of every method swept. A run already in results_dir is skipped, so the "
                   "same command resumes a stopped sweep."),
    ]


def method_section() -> list[str]:
    """Every registered method: its docstring's first line, its defaults and its options."""
    default = default_choice("method")
    lines = [f"== Methods: method=NAME (default {default}); options: method.KEY=VALUE =="]
    options = {name: [(f"method.{f.name}={format_value(field_default(f))}", f.metadata["help"])
                      for f in fields(method.Config) if "help" in f.metadata]
               for name, method in methods.available().items()}
    column = min(6 + max(len(key) for rows in options.values() for key, _ in rows), KEY_COLUMN)
    for name, method in methods.available().items():
        doc = (type(method).__doc__ or "").strip().splitlines()
        summary = doc[0].strip() if doc else ""
        cfg = method.Config()
        steps = f"lr={format_value(method.default_lr(cfg))}"
        if method.USES_H:
            steps += f", h={format_value(method.default_h(cfg))}"
        rows = options[name]
        lines += paragraph(f"{name}: {summary}")
        lines.append(f"    default {steps}" + (" (at the option defaults below)" if rows else ""))
        lines += entries(rows, indent=4, column=column) if rows else ["    (no options)"]
    return lines


def run_section() -> list[str]:
    """The run schema's keys with their defaults and declared meanings."""
    rows = [(f"{leaf.key}={format_value(field_default(leaf.field))}",
             leaf.field.metadata["help"])
            for leaf in leaves() if leaf.key not in ("method", "dataset", "optimizer")]
    return ["== Run keys: KEY=VALUE (the default shown) ==", *entries(rows)]


def optimizer_section() -> list[str]:
    """Every optimizer of ``mlpbench.optimizers``: its docstring's first line and its keys."""
    default = default_choice("optimizer")
    lines = [f"== Optimizers: optimizer=NAME (default {default}); options: "
             "optimizer.KEY=VALUE =="]
    for name, schema in optimizers.OPTIMIZERS.items():
        doc = (schema.__doc__ or "").strip().splitlines()
        lines += paragraph(f"{name}: {doc[0].strip() if doc else ''}")
        rows = [(f"optimizer.{f.name}={format_value(field_default(f))}", f.metadata["help"])
                for f in fields(schema) if "help" in f.metadata]
        lines += entries(rows, indent=4)
    return lines


def dataset_section() -> list[str]:
    """The datasets of conf/dataset/ with what their files say, and ``dataset.download``."""
    default = default_choice("dataset")
    files = sorted(p for p in (CONF_DIR / "dataset").glob("*.yaml")
                   if not p.stem.endswith("_schema"))
    rows = [(p.stem, leading_comment(p)) for p in files]
    download = next(f for f in fields(DatasetConfig) if f.name == "download")
    own = ", ".join(f"{p.stem} {format_value(yaml.safe_load(p.read_text()).get('download'))}"
                    for p in files)
    rows.append(("dataset.download=BOOL",
                 f"{download.metadata['help']}; false: only what is already in data_dir or the "
                 f"cache (each dataset sets its own: {own})"))
    rows += [(f"dataset.{f.name}={format_value(field_default(f))}", f.metadata["help"])
             for f in fields(DatasetConfig) if f.name in ("validation", "validation_seed")]
    return [f"== Datasets: dataset=NAME (default {default}) ==", *entries(rows)]


def sweep_title(path: Path) -> str:
    """A sweep file's ``hydra.sweeper.title`` when it has one, else the headline of its
    opening comment."""
    config = yaml.safe_load(path.read_text()) or {}
    sweeper = (config.get("hydra") or {}).get("sweeper") or {}
    title = sweeper.get("title")
    return str(title) if title else first_clause(leading_comment(path))


def swept_methods(path: Path) -> list[str]:
    """The methods a sweep file's grids (and shared params) run, in the order they appear."""
    config = yaml.safe_load(path.read_text()) or {}
    sweeper = (config.get("hydra") or {}).get("sweeper") or {}
    shared = sweeper.get("params") or {}
    found: list[str] = []
    for grid in sweeper.get("grids") or [{}]:
        value = {**shared, **(grid or {})}.get("method", default_choice("method"))
        found += [m.strip() for m in str(value).split(",") if m.strip() not in found]
    return found


def sweep_section() -> list[str]:
    """The sweep files of conf/sweep/, each with its headline and the methods it runs."""
    rows = []
    for path in sorted((CONF_DIR / "sweep").glob("*.yaml")):
        text = f"{sweep_title(path)} [{', '.join(swept_methods(path))}]"
        if len(wrap(text, WIDTH - KEY_COLUMN)) > SWEEP_LINES:
            text = textwrap.shorten(text, (WIDTH - KEY_COLUMN) * SWEEP_LINES - 8,
                                    placeholder=" ...", break_on_hyphens=False)
        rows.append((path.stem, text))
    return ["== Sweeps: --multirun +sweep=NAME (conf/sweep/NAME.yaml) ==", *entries(rows)]


def more() -> list[str]:
    """Where to read on."""
    where = "README.md" + (", docs/" if (ROOT / "docs").is_dir() else "")
    return paragraph(
        f"More: {where} (the protocol, every method, the results columns, sweeps); "
        "python -m mlpbench.report --help (the report); --cfg job prints the composed config "
        "without running; --hydra-help: Hydra's own flags.")


def text() -> str:
    """The whole help, sections separated by blank lines."""
    sections = [usage(), method_section(), optimizer_section(), run_section(), dataset_section(),
                sweep_section(), more()]
    return "\n\n".join("\n".join(s) for s in sections)


def template() -> str:
    """``text()`` as Hydra's help template: Hydra substitutes ``$NAME`` in it (string.Template),
    so a literal ``$`` (``$MLPBENCH_DATA``) is doubled."""
    return text().replace("$", "$$")
