"""``python -m mlpbench.docs``: the measured numbers of README.md and docs/, from committed data.

Documentation that quotes a measurement by hand drifts from it: the same step time ends up
written four ways. So every measured number in README.md and docs/*.md sits in a generated
block, rendered here from ``results/reference/`` (the runs' parquet and the committed
pytest-benchmark JSON) exactly as the reports are, between two markers::

    <!-- generated: NAME (python -m mlpbench.docs) -->
    ...
    <!-- end: NAME -->

``python -m mlpbench.docs`` rewrites the blocks in place; ``--check`` only says which files
differ (exit 1), which is what ``tests/test_docs.py`` asserts never happens on a commit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mlpbench import budget_docs, results
from mlpbench.report import quality_section, scaling_section
from mlpbench.report.configs import curves_of
from mlpbench.report.costs import cost_summary
from mlpbench.report.describe import machines_text, revisions_text, short_machine
from mlpbench.report.document import read_inputs
from mlpbench.report.estimators import theory_directions
from mlpbench.report.figures import method_words, parse_options
from mlpbench.report.format import (
    format_cos,
    format_error,
    format_ratio,
    format_value,
    human_duration,
    markdown,
)
from mlpbench.report.published import PUBLICATIONS
from mlpbench.report.section import Inputs
from mlpbench.report.speed import engine_speedups, speed_summary
from mlpbench.theory import expected_cosine

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference"
DOCUMENTS = ("README.md", "docs/*.md")

BLOCK = re.compile(
    r"(?P<open><!-- generated: (?P<name>[a-z0-9-]+) \(python -m mlpbench\.docs\) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- end: (?P=name) -->)",
    re.DOTALL,
)


class Reference:
    """The committed reference results, each folder read once, when first asked for."""

    def __init__(self, folder: Path = REFERENCE) -> None:
        self.folder = folder
        self._inputs: dict[str, Inputs] = {}

    def inputs(self, sweep: str) -> Inputs:
        if sweep not in self._inputs:
            self._inputs[sweep] = read_inputs(self.folder / sweep, [])
        return self._inputs[sweep]

    def benchmark_file(self) -> Path:
        """The latest committed ``make bench`` output (pytest-benchmark JSON)."""
        files = sorted((self.folder / "benchmarks").glob("*/*.json"))
        if not files:
            raise FileNotFoundError(f"no benchmark JSON under {self.folder / 'benchmarks'}")
        return files[-1]

    def benchmark(self) -> dict[str, Any]:
        return json.loads(self.benchmark_file().read_text())


# ------------------------------------------------------------------------------ the blocks

ANSWER_ORDER = ("backprop", "numerical", "forward_gradient", "spsa", "es")


def is_variant(row: pd.Series) -> bool:
    """A variant of a method the front page leaves to the report: a scheme other than central
    differences and the complex step, MeZO beside SPSA, rank-shaped ES, the complex-step
    forward gradient."""
    options = parse_options(row["options"])
    return (row["scheme"] in ("forward", "backward", "richardson")
            or options.get("distribution") == "gaussian"
            or options.get("rank_shaping") == "true" or options.get("jvp") == "complex_step")


def answer_table(ref: Reference) -> str:
    """The front page's one table: each method's cost, result and gradient quality (estimators
    sweep), labelled as the report's figure labels them; its variants are left to the report."""
    inputs = ref.inputs("estimators")
    summary = inputs.summary
    passes = cost_summary(inputs.kept).set_index("method_label")["measured_forward_passes"]
    fidelity = curves_of(inputs.curves, inputs.ok_runs).groupby("config")["grad_cos"].mean()
    backprop = summary[summary["method"] == "backprop"].iloc[0]
    params = int(inputs.ok_runs["param_count"].iloc[0])
    rows = []
    for _, row in summary[~summary.apply(is_variant, axis=1)].iterrows():
        k = theory_directions(row["options"])
        rows.append({
            "order": (ANSWER_ORDER.index(row["method"]) if row["method"] in ANSWER_ORDER
                      else len(ANSWER_ORDER), row["method"], k or 0),
            "Method": method_words(row),
            "lr": format_value(float(row["lr"])),
            "Step, forward passes": f"{passes[row['method_label']]:.3g}",
            "Step vs backprop": format_ratio(row["grad_time_per_step_mean"]
                                             / backprop["grad_time_per_step_mean"]),
            "Test accuracy": f"{row['acc_mean']:.3f} ± {row['acc_std']:.3f}",
            "cos to backprop": ("1 (reference)" if row["method"] == "backprop"
                                else format_cos(fidelity.get(row["config"], math.nan))),
            "theory": "" if k is None else format_cos(expected_cosine(k, params)),
        })
    table = pd.DataFrame(sorted(rows, key=lambda r: r.pop("order")))
    first = inputs.ok_runs.iloc[0]
    caption = (f"*{first['dataset']} ({first['n_train']:,} train / {first['n_test']:,} test "
               f"digits), 784-50-10 sigmoid, {int(first['epochs'])} SGD steps of "
               f"{int(first['batch_size'])}, {backprop['n']} paired seeds (mean ± std), "
               f"{first['dtype']}; {short_machine(inputs.ok_runs)}. Step: gradient time per "
               "step over one forward pass of the same batch, both timed in the run's process. "
               "cos: mean over every step and seed of the cosine to backprop's gradient on the "
               "same batch; theory: the mean cosine expected of k random directions in P = "
               f"{params:,} dimensions ([formula](docs/methods.md#how-close-to-the-gradient)).*")
    return markdown(table) + "\n\n" + caption + "\n"


def seed_table_text(ref: Reference) -> str:
    """The post's question answered in numbers: paired agreement, and where its time went."""
    inputs = ref.inputs("seed_table")
    ok = inputs.ok_runs
    roles = ok[["attempt_id", "role", "engine_role"]]
    curves = curves_of(inputs.curves, ok).merge(roles, on="attempt_id")
    exact = curves[curves["role"].eq(results.ROLE_REFERENCE)]
    seed_kind = curves[curves["role"].eq(results.ROLE_SEED_KIND)
                       & curves["engine_role"].eq(results.ENGINE_ROLE_FAST)]
    paired = exact.merge(seed_kind, on=["seed", "epoch"], suffixes=("_bp", "_fd"))
    loss_gap = float((paired["loss_bp"] - paired["loss_fd"]).abs().max())
    acc_same = bool((paired["test_acc_bp"] == paired["test_acc_fd"]).all())
    speed = speed_summary(ok)
    pair = engine_speedups(speed).iloc[0]
    backprop = speed[speed["role"] == results.ROLE_REFERENCE].iloc[0]
    loop = speed[speed["engine_role"] == results.ENGINE_ROLE_SEED_LOOP].iloc[0]
    fast = speed[speed["engine_role"] == results.ENGINE_ROLE_FAST].iloc[0]
    post = PUBLICATIONS[0].figures.set_index("Method")
    bp_runs = ok[ok["role"] == results.ROLE_REFERENCE]
    seeds = bp_runs["seed"].nunique()
    spread = float(bp_runs["final_test_acc"].std())
    gap = abs(float(post.iloc[0]["Test accuracy"]) - float(post.iloc[1]["Test accuracy"]))
    return (
        f"Paired over {seeds} seeds, backprop and central differences train the same curve: "
        f"their losses differ by at most {format_error(loss_gap)} over {seeds} seeds x "
        f"{int(paired['epoch'].max())} epochs, and the test accuracy is "
        f"{'identical at every epoch' if acc_same else 'not always identical'}. The post's "
        f"accuracy gap ({post.iloc[0]['Test accuracy']} against {post.iloc[1]['Test accuracy']}) "
        f"is {gap / spread:.1f} seed-to-seed standard deviations here ({spread:.3f}): its two "
        "unseeded runs differed in weights and batches, not only in method.\n\n"
        f"The post's {post.iloc[1]['Elapsed']} came from its loop, not from the method: the "
        f"seed's own loop takes {human_duration(loop['grad_time_per_step_mean'])} per step "
        "in the reference sweep (its runs sharing the machine's cores), "
        f"{format_ratio(loop['grad_vs_backprop'])} backprop's gradient step "
        f"({human_duration(backprop['grad_time_per_step_mean'])}); the incremental engine "
        f"computes the same differences, each a difference of two full loss values, in "
        f"{human_duration(fast['grad_time_per_step_mean'])} "
        f"({format_ratio(fast['grad_vs_backprop'])} backprop, "
        f"{format_ratio(pair['grad_speedup'])} faster than the loop).\n"
    )


def depth_text(ref: Reference) -> str:
    """How the incremental engine's cost over backprop's grows with hidden layers."""
    latest = scaling_section.latest_depth(ref.inputs("seed_table").scaling)
    rows = latest[latest["batch_size"] == latest["batch_size"].max()]
    kinds = scaling_section.engine_kind(rows)
    by_depth = rows.assign(kind=kinds).pivot_table(index="hidden_layers", columns="kind",
                                                   values="seconds_per_step_median")
    ratios = by_depth[results.ENGINE_ROLE_FAST] / by_depth[results.ROLE_REFERENCE]
    (first, ratio), *rest = ratios.items()
    more = ", ".join(f"{format_ratio(r)} with {d}" for d, r in rest)
    return (f"On 784-50-...-50-10 (batch {int(rows['batch_size'].iloc[0])}; "
            "[depth](results/reference/seed_table/report/report.md#depth)), a step of the "
            f"incremental engine costs {format_ratio(ratio)} backprop's with {first} hidden "
            f"layer, {more}.\n")


def provenance(ref: Reference) -> str:
    """Where the reference numbers were measured: machine, data, revisions."""
    runs = pd.concat([ref.inputs(name).ok_runs for name in
                      ("seed_table", "h_scan", "estimators", "dlfs", "baydin2022")])
    data = runs.drop_duplicates(["dataset", "n_train", "n_test"])
    datasets = "; ".join(f"{r['dataset']} ({r['n_train']:,} train / {r['n_test']:,} test)"
                         for _, r in data.iterrows())
    bench = ref.benchmark()
    cpu = bench["machine_info"]["cpu"]
    return (f"*Where these numbers come from: {len(runs)} committed runs on {datasets}, "
            f"{len(runs['seed'].unique())} seeds at most per configuration; machine: "
            f"{machines_text(runs)}; code revision {revisions_text(runs)}. Benchmarks: one "
            f"`make bench` on {cpu.get('brand_raw')} ({cpu.get('count')} CPUs), revision "
            f"{bench['commit_info']['id'][:12]}, {bench['datetime'][:10]} "
            f"([all of it](docs/benchmarks.md#the-committed-measurements)).*\n")


BENCH_ROWS: tuple[tuple[str, str], ...] = (
    ("test_backprop_step", "backprop step, BLAS on two threads"),
    ("test_backprop_step_one_blas_thread", "backprop step, BLAS on one thread"),
    ("test_incremental_step", "central differences step, incremental engine"),
    ("test_complex_step_step", "complex-step step, incremental engine"),
    ("test_naive_step", "central differences step, the seed's loop"),
    ("test_seed_protocol_run_end_to_end", "`python -m mlpbench method=numerical epochs=100`"),
    ("test_forward_pass[784-50-10]", "one forward pass"),
    ("test_estimator[784-50-10-forward_gradient]", "forward gradient, 1 direction"),
    ("test_estimator[784-50-10-spsa]", "SPSA, 1 direction"),
    ("test_estimator[784-50-10-es 10 pairs]", "ES, 10 pairs"),
)


def benchmark_table(ref: Reference) -> str:
    """The seed's problem in the committed ``make bench``: medians and the asserted ratios."""
    bench = ref.benchmark()
    by_name = {b["name"]: b for b in bench["benchmarks"]}
    rows = [(label, human_duration(by_name[name]["stats"]["median"]),
             str(by_name[name]["stats"]["rounds"]))
            for name, label in BENCH_ROWS if name in by_name]
    table = pd.DataFrame(rows, columns=["784-50-10, batch 100, float64", "median", "rounds"])
    ratios = bench.get("speed_ratios", {})
    lines = [markdown(table), ""]
    for context, values in ratios.items():
        shown = ", ".join(f"{key.replace('_', ' ')} {format_ratio(value)}"
                          for key, value in values.items() if key != "backprop / backprop")
        lines.append(f"- {context}: {shown}")
    agree = {b["param"]: b["extra_info"]["max_rel_diff_to_naive"] for b in bench["benchmarks"]
             if "max_rel_diff_to_naive" in b.get("extra_info", {})}
    if agree:
        lines.append("- the two engines' agreement, max|g_inc - g_naive| / max|g_naive|: "
                     + ", ".join(f"{k} {format_error(v)}" for k, v in agree.items()))
    peak = by_name.get("test_seed_protocol_run_end_to_end", {}).get("extra_info", {})
    if "peak_rss_mb" in peak:
        lines.append(f"- the 100-epoch numerical run's peak memory: {peak['peak_rss_mb']:.0f} MB")
    cpu = bench["machine_info"]["cpu"]
    loads = [value for conditions in bench.get("timing_conditions", {}).values()
             for key, value in conditions.items() if key.startswith("load_1min")]
    load = (f", 1-minute load average {min(loads):.1f} to {max(loads):.1f} around the ratios"
            if loads else "")
    lines += ["", f"*One `make bench` on {cpu.get('brand_raw')} ({cpu.get('count')} CPUs), "
              f"revision {bench['commit_info']['id'][:12]}, {bench['datetime'][:10]}{load}: "
              f"[JSON](../{_relative(ref.benchmark_file())}).*"]
    return "\n".join(lines) + "\n"


def _relative(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def keys_table(ref: Reference) -> str:
    """Every key with its default and meaning, from the run schema and the methods' Configs
    (the declarations ``--help`` prints, formatted as it formats them), so the table cannot
    drift from the code."""
    from mlpbench import methods, optimizers
    from mlpbench.help import field_default, format_value
    from mlpbench.settings import DatasetConfig, leaves

    datasets = sorted(p.stem for p in (ROOT / "conf" / "dataset").glob("*.yaml"))
    rows = [("`method`", "backprop", ", ".join(methods.available())),
            ("`dataset`", "mnist", ", ".join(datasets)),
            ("`optimizer`", "sgd", ", ".join(optimizers.OPTIMIZERS))]
    rows += [(f"`dataset.{f.name}`", format_value(field_default(f)), f.metadata["help"])
             for f in dataclasses.fields(DatasetConfig) if f.name != "name"]
    rows += [(f"`{leaf.key}`", format_value(field_default(leaf.field)),
              leaf.field.metadata["help"])
             for leaf in leaves() if leaf.key not in ("method", "dataset", "optimizer")]
    for name, method in methods.available().items():
        rows += [(f"`method.{f.name}`", format_value(field_default(f)),
                  f"{name}: {f.metadata.get('help', '')}")
                 for f in dataclasses.fields(method.Config) if f.name != "name"]
    for name, schema in optimizers.OPTIMIZERS.items():
        rows += [(f"`optimizer.{f.name}`", format_value(field_default(f)),
                  f"{name}: {f.metadata.get('help', '')}")
                 for f in dataclasses.fields(schema) if f.name != "name"]
    rows = [(key, default, text.replace("|", "\\|")) for key, default, text in rows]
    table = pd.DataFrame(rows, columns=["key", "default", "meaning"])
    return markdown(table, text_columns=3) + "\n"


def quality_text(ref: Reference) -> str:
    """The gradient-quality study's headline: one activity tangent against one weight
    direction on the seed's network, and independent against orthogonal directions where k is
    a sizeable share of P, each with its theory (``results/reference/quality``)."""
    rows = quality_section.latest_quality(quality_section.read_quality(ref.folder / "quality", []))
    summary = quality_section.summarise(rows)
    gain = quality_section.activity_gain(summary)
    if gain is None:
        raise ValueError("results/reference/quality has no one-direction forward gradients")
    init = summary[summary["weights"] == "init"]
    small = init[init["total_params"] == init["total_params"].min()]
    half = small[small["directions"] == small["directions"].max()].set_index("estimator")
    biggest = init[init["total_params"] == init["total_params"].max()]
    large = biggest[biggest["directions"] == biggest["directions"].max()].set_index("estimator")
    lines = [
        f"- **Activity perturbation**: on {gain['network']} at its initial weights, one tangent "
        f"per example has a mean cosine of {gain['activations_cos']:.3f} to backprop's "
        f"gradient, one weight direction {gain['weights_cos']:.4f}: "
        f"{gain['factor']:.0f}x, at backprop's arithmetic per step.",
    ]
    pair = ("fg_weights", "fg_weights_orthogonal")
    if set(pair) <= set(half.index):
        independent, orthogonal = (half.loc[name] for name in pair)
        lines.append(
            f"- **Orthogonal directions**: on {independent['network']} (P = "
            f"{int(independent['total_params']):,}) with k = {int(independent['directions'])}, "
            f"the relative MSE is {orthogonal['mse']:.3f} (theory "
            f"{orthogonal['mse_theory']:.3f}) against {independent['mse']:.3f} for independent "
            f"Gaussian directions (theory {independent['mse_theory']:.3f}).")
    if set(pair) <= set(large.index):
        independent, orthogonal = (large.loc[name] for name in pair)
        lines.append(
            f"  At k = {int(independent['directions'])} on {independent['network']} the two "
            f"measure {independent['mse']:,.0f} ± {independent['mse_se']:,.0f} and "
            f"{orthogonal['mse']:,.0f} ± {orthogonal['mse_se']:,.0f}: theory's difference "
            f"there, {independent['mse_theory'] - orthogonal['mse_theory']:.2f}, is well "
            "inside their standard errors.")
    first = rows.iloc[0]
    lines += ["", f"*{first['dataset']}, batches of {int(first['batch_size'])} real digits; "
              f"mean over {rows['batch'].nunique()} batches of R estimates each; float64; "
              f"{short_machine(rows)}; [full table, per tensor and against k]"
              "(results/reference/quality/report/report.md).*", ""]
    return "\n".join(lines)


BLOCKS: dict[str, Callable[[Reference], str]] = {
    "keys": keys_table,
    "equal-budget": budget_docs.equal_budget_text,
    "fg-tuned": budget_docs.fg_tuned_text,
    "answer-table": answer_table,
    "quality": quality_text,
    "seed-table": seed_table_text,
    "depth": depth_text,
    "provenance": provenance,
    "benchmarks": benchmark_table,
}


# ------------------------------------------------------------------------------ rendering

def render_text(text: str, ref: Reference) -> str:
    """``text`` with every generated block's body rendered anew; unknown names are errors."""
    def body(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise KeyError(f"unknown generated block '{name}' (known: {', '.join(BLOCKS)})")
        return match["open"] + BLOCKS[name](ref) + match["close"]

    return BLOCK.sub(body, text)


def documents(root: Path = ROOT) -> list[Path]:
    """README.md and every page of docs/."""
    return [path for pattern in DOCUMENTS for path in sorted(root.glob(pattern))]


def stale(root: Path = ROOT, ref: Reference | None = None) -> list[Path]:
    """The documents whose generated blocks differ from what the committed data renders."""
    ref = ref or Reference(root / "results" / "reference")
    return [path for path in documents(root)
            if render_text(path.read_text(), ref) != path.read_text()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlpbench.docs",
        description="Render the measured numbers in README.md and docs/*.md from "
                    "results/reference/.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 naming every file that would change")
    args = parser.parse_args(argv)
    ref = Reference()
    changed = []
    for path in documents():
        text = path.read_text()
        rendered = render_text(text, ref)
        if rendered != text:
            changed.append(path)
            if not args.check:
                data = rendered.encode()
                results.write_atomic(path, lambda fh, data=data: fh.write(data), replace=True)
    for path in changed:
        verb = "differs from its data" if args.check else "rendered"
        print(f"{_relative(path)}: {verb}")
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
