"""Published figures beside ours: the blog post's own table ("## The post's published
figures") and the experiments whose protocol our runs follow ("## Published experiments").

Every one is a ``Publication``, recognised by our runs' configuration (``Publication.matches``)
and shown only when the results hold such runs: a table printed for one protocol says nothing
about another (a report of Baydin et al.'s network carries theirs, not the post's). The post
has a heading of its own and its figures alone (``heading_section``), shown where its
experiment was run: backprop or plain finite differences on its network, lr, batches and 100
one-step epochs (``runs_the_post``). Any other is shown next to what our runs measured
(``section``). Figures are copied, never measured, and each is labelled with the data, hardware
and run count it came from; ours are labelled the same way, so a difference can be read for
what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlpbench import results
from mlpbench.report.describe import datasets_text, machines_text
from mlpbench.report.format import format_value, is_missing, markdown, plural
from mlpbench.report.section import Inputs, Section

FIGURES: tuple[str, ...] = ()


@dataclass(frozen=True)
class Publication:
    """One published experiment: its figures, what they came from, and how it is shown.

    ``matches`` recognises our runs of its protocol. With a ``heading`` it is a section of its
    own, its figures alone (the post's: nothing of ours is set beside them); otherwise ``ours``
    computes our figure of each of its quantities from the matching runs.
    """

    key: str
    title: str
    source: str  # data, hardware and run count of the published figures
    figures: pd.DataFrame  # columns: Quantity, Published; with a heading, its own table
    protocol: str = ""
    matches: Callable[[pd.Series], bool] | None = None
    ours: Callable[[pd.DataFrame], dict[str, str]] | None = None  # Quantity -> our figure
    heading: str | None = None  # its own "## " heading, before the other publications


def _value(row: pd.Series, key: str) -> object:
    value = row.get(key)
    return None if is_missing(value) else value


POST_QUESTION = "Can numerical differentiation replace backpropagation?"
"""The blog post's question: the title of a report of its experiment without a sweep record."""

POST_PROTOCOL: dict[str, Any] = {
    "hidden_size": 50, "batch_size": 100, "epochs": 100, "steps_per_epoch": 1,
    "dtype": "float64"}
"""The post's experiment besides its lr (0.1) and methods: one sigmoid layer of 50 units (the
seed's choices: ``SEED_NULL_COLUMNS`` null), 100 epochs of one 100-sample step, float64."""

POST_LR = 0.1
"""The post's learning rate: a run of its experiment trains at it (methods may default to their
own, SPSA at 0.03, under its protocol)."""


def follows_post_protocol(row: pd.Series) -> bool:
    """Whether a run trains the post's network on the post's batches and steps, whatever its
    method and lr (SPSA at its own lr in the estimators sweep is still the post's protocol)."""
    return (all(_value(row, column) is None for column in results.SEED_NULL_COLUMNS)
            and all(_value(row, key) == value for key, value in POST_PROTOCOL.items()))


def runs_the_post(row: pd.Series) -> bool:
    """Whether a run is one of the post's: its protocol and lr, and one of its methods, backprop
    (the reference) or plain finite differences (the seed's kind) on any engine."""
    return (follows_post_protocol(row) and _value(row, "lr") == POST_LR
            and _value(row, "role") in results.ROLES)


def asks_the_posts_question(runs: pd.DataFrame) -> bool:
    """Whether the runs are the post's experiment, so that its question can title them: every
    run one of its methods on its network, lr and batches, and at least one for its 100 steps
    (the seed's loop may be timed over fewer)."""
    if runs.empty:
        return False
    full_length = runs.assign(epochs=POST_PROTOCOL["epochs"])
    return (all(runs_the_post(row) for _, row in full_length.iterrows())
            and any(runs_the_post(row) for _, row in runs.iterrows()))


def _is_baydin(row: pd.Series) -> bool:
    return (_value(row, "hidden_sizes") == "1024-1024" and _value(row, "activation") == "relu"
            and int(row["batch_size"]) == 64 and _value(row, "lr_schedule") == "exp_decay")


def _is_dlfs(row: pd.Series) -> bool:
    return (_value(row, "init") == "normal" and _value(row, "sampling") == "with_replacement"
            and int(row["hidden_size"]) == 50 and _value(row, "hidden_sizes") is None
            and int(row["epochs"]) * int(row["steps_per_epoch"]) == 10_000)


def _mean(runs: pd.DataFrame, column: str) -> float | None:
    values = runs[column].dropna()
    return float(values.mean()) if len(values) else None


def _reference(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the exact gradient every other is measured against (``role``)."""
    return runs[runs["role"] == results.ROLE_REFERENCE]


def _compared(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the method a publication compares with the reference: every other one.

    Without a reference run nothing tells the methods apart (results written before the
    ``role`` column), so there is none.
    """
    reference = runs["role"] == results.ROLE_REFERENCE
    return runs[~reference] if reference.any() else runs.iloc[:0]


def _seed_kind(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the seed's kind of numerical gradient (``role``)."""
    return runs[runs["role"] == results.ROLE_SEED_KIND]


def _figure_text(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _baydin_ours(runs: pd.DataFrame) -> dict[str, str]:
    """R (time per step / one forward pass) of the compared method (f, forward gradient) and of
    the reference (b, backprop), their ratio, total time and accuracy."""
    sides = {"f": _compared(runs), "b": _reference(runs)}
    per_step = {k: _mean(side, "grad_time_per_step_s") for k, side in sides.items()}
    forward = {k: _mean(side, "forward_time_s") for k, side in sides.items()}
    r = {k: per_step[k] / forward[k] if per_step[k] and forward[k] else None for k in sides}
    elapsed = {k: _mean(side, "elapsed_s") for k, side in sides.items()}
    acc = {k: _mean(side, "final_test_acc") for k, side in sides.items()}
    both = r["f"] is not None and r["b"] is not None
    return {
        "R_f (forward gradient)": _figure_text(r["f"]),
        "R_b (backprop)": _figure_text(r["b"]),
        "R_f / R_b": _figure_text(r["f"] / r["b"] if both else None),
        "T_f / T_b (total time)": _figure_text(
            elapsed["f"] / elapsed["b"] if elapsed["f"] and elapsed["b"] else None),
        "test accuracy, forward gradient": _figure_text(acc["f"]),
        "test accuracy, backprop": _figure_text(acc["b"]),
    }


def _dlfs_ours(runs: pd.DataFrame) -> dict[str, str]:
    """The reference's accuracy (backprop), and the seed's kind's (numerical) with its time."""
    numerical = _seed_kind(runs)
    return {
        "final test accuracy, backprop": _figure_text(_mean(_reference(runs),
                                                            "final_test_acc")),
        "final test accuracy, numerical": _figure_text(_mean(numerical, "final_test_acc")),
        "training time, numerical": _seconds(_mean(numerical, "elapsed_s")),
    }


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} s"


PUBLICATIONS: tuple[Publication, ...] = (
    Publication(
        key="post",
        title="the blog post",
        heading="The post's published figures",
        source="unseeded, full MNIST (60,000 train / 10,000 test), one run each, on a different "
               "machine",
        figures=pd.DataFrame(
            [("backprop", 100, "3.1 s", "1.6676", "0.6783"),
             ("numerical (central, h=1e-04)", 100, "141 min 55.3 s", "1.5788", "0.6309")],
            columns=["Method", "Epochs", "Elapsed", "Loss", "Test accuracy"]),
        matches=runs_the_post,
    ),
    Publication(
        key="baydin2022",
        title="Baydin et al. 2022, \"Gradients without Backpropagation\" (arXiv 2202.08587), "
              "MNIST MLP",
        protocol="784-1024-1024-10 ReLU, batch 64, SGD at lr 2e-4 decaying as "
                 "lr·exp(-1e-4·t), forward gradient with one direction against backprop; R is "
                 "the time of a step divided by the time of one forward pass",
        source="full MNIST (60,000 train / 10,000 validation), 20,000 iterations, 5 runs, on "
               "the paper's own hardware and PyTorch implementation (their Figure 4, lr 2e-4)",
        figures=pd.DataFrame(
            [("R_f (forward gradient)", "2.607"), ("R_b (backprop)", "4.359"),
             ("R_f / R_b", "0.598"), ("T_f / T_b (total time)", "0.229"),
             ("test accuracy, forward gradient", "about 0.86 (validation)"),
             ("test accuracy, backprop", "about 0.83 (validation)")],
            columns=["Quantity", "Published"]),
        matches=_is_baydin,
        ours=_baydin_ours,
    ),
    Publication(
        key="dlfs",
        title="Saito 2016, \"Deep Learning from Scratch\", ch. 4 (train_neuralnet.py)",
        protocol="784-50-10 sigmoid, weights N(0, 0.01²), 100 digits drawn with replacement "
                 "per step, SGD at lr 0.1, 10,000 iterations",
        source="the book trains with backprop only: its numerical-gradient version of the same "
               "training (two_layer_net.numerical_gradient) is left unrun as too slow, and its "
               "repository prints train and test accuracy once per epoch when run, without "
               "published final figures; none are copied here",
        figures=pd.DataFrame(
            [("final test accuracy, backprop", "not published"),
             ("final test accuracy, numerical", "not run"),
             ("training time, numerical", "not run (too slow)")],
            columns=["Quantity", "Published"]),
        matches=_is_dlfs,
        ours=_dlfs_ours,
    ),
)


POST = next(pub for pub in PUBLICATIONS if pub.key == "post")
"""The blog post, whose table is shown only where its experiment was run."""


def publication_rows(pub: Publication, runs: pd.DataFrame) -> pd.DataFrame:
    """The publication's quantities with its figures and ours side by side; its figures alone
    when it has nothing of ours to compare (no ``ours``)."""
    table = pub.figures.copy()
    if pub.ours is not None:
        ours = pub.ours(runs)
        table["Ours"] = [ours.get(q, "n/a") for q in table["Quantity"]]
    return table


def matching(pub: Publication, runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of ``pub``'s protocol (none when it recognises none)."""
    if pub.matches is None or runs.empty:
        return runs.iloc[:0]
    return runs[[pub.matches(row) for _, row in runs.iterrows()]]


def heading_section(inputs: Inputs) -> Section:
    """Each publication with a heading of its own (the post's table), shown where the ok runs
    include its experiment: what its figures came from and why they are not comparable to ours,
    then the figures. Numbers: one table per publication key shown."""
    parts, numbers = [], {}
    for pub in PUBLICATIONS:
        if pub.heading is None or matching(pub, inputs.ok_runs).empty:
            continue
        table = publication_rows(pub, inputs.ok_runs)
        numbers[pub.key] = table
        parts += [
            f"## {pub.heading}",
            "",
            f"As printed in {pub.title}: {pub.source}. Shown for comparison only; its timings "
            "are not comparable to ours.",
            "",
            markdown(table),
            "",
        ]
    return Section("published_heading", "\n".join(parts), numbers=numbers)


def section(inputs: Inputs) -> Section:
    """One subsection per publication whose protocol our ok runs follow; empty otherwise.
    Numbers: one table per publication key."""
    runs = inputs.ok_runs
    parts, numbers = [], {}
    for pub in PUBLICATIONS:
        if pub.heading is not None:
            continue
        mine = matching(pub, runs)
        if mine.empty:
            continue
        table = publication_rows(pub, mine)
        numbers[pub.key] = table
        seeds = sorted({int(s) for s in mine["seed"]})
        per_method = ", ".join(f"{m} {plural(int(n), 'run')}"
                               for m, n in mine["method"].value_counts(sort=False).items())
        parts += [
            f"### {pub.title}",
            "",
            f"Protocol: {pub.protocol}.",
            "",
            f"Published: {pub.source}. Ours: {datasets_text(mine)}, "
            f"{int(mine['epochs'].iloc[0]) * int(mine['steps_per_epoch'].iloc[0]):,} steps, "
            f"{per_method} (seeds {', '.join(map(str, seeds))}), mean over seeds; "
            f"{machines_text(mine)}; lr {format_value(mine['lr'].iloc[0])}.",
            "",
            markdown(table),
            "",
        ]
    if not parts:
        return Section("published")
    text = "\n".join(["## Published experiments", "",
                      "Figures printed by the publications whose protocols these runs follow, "
                      "copied as printed, beside ours. Data, hardware and run counts differ "
                      "as stated, so only like quantities (ratios measured within one "
                      "process) are comparable.", "", *parts])
    return Section("published", text, numbers=numbers)
