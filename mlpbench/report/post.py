"""The blog post's own published figures, for comparison with ours ("## The post's published
figures"). Copied, not measured: they need no input and are always shown."""

from __future__ import annotations

import pandas as pd

from mlpbench.report.format import markdown
from mlpbench.report.section import Inputs, Section

FIGURES: tuple[str, ...] = ()

POST_TABLE = pd.DataFrame(
    [
        ("backprop", 100, "3.1 s", "1.6676", "0.6783"),
        ("numerical (central, h=1e-04)", 100, "141 min 55.3 s", "1.5788", "0.6309"),
    ],
    columns=["Method", "Epochs", "Elapsed", "Loss", "Test accuracy"],
)
"""The blog post's own figures, copied verbatim: unseeded, full MNIST, one run each."""


def section(inputs: Inputs) -> Section:
    """The post's table and why its timings cannot be compared with ours."""
    lines = [
        "## The post's published figures",
        "",
        "As printed in the blog post: unseeded, full MNIST (60,000 train / 10,000 test), one run "
        "each, on a different machine. Shown for comparison only; its timings are not "
        "comparable to ours.",
        "",
        markdown(POST_TABLE),
        "",
    ]
    return Section("post", "\n".join(lines), numbers={"table": POST_TABLE})
