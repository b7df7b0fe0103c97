"""``python -m mlpbench.report``: the blog post's table and curves, rebuilt from our parquet.

The report reads only parquet, through ``mlpbench.results`` (the runs, plus the optional
``scaling`` and ``gradcheck`` folders of the two studies), so every number in it can be traced
back to a committed row, and rendering needs neither the training stack nor Hydra. The
pipeline (``render``):

1. read the parquet once (``document.read_inputs``); a file that cannot be read as ours is left
   out, listed at the end of report.md, and makes the CLI exit with ``EXIT_BAD_FILES``;
2. select attempts: one per run_id, the latest ok one (``results.select_attempts``), the
   others counted as duplicates, not hidden; label each configuration and summarise it over
   its ok seeds (``configs``);
3. run the sections, in ``document.SECTIONS`` order; each is a pure function of the inputs
   returning a ``Section``: its markdown, its figures and the numbers behind them:

   - ``runs.table_section``: what was measured and "## Our results", with the runs excluded
     from the means (diverged or failed: listed, never averaged) and the duplicates;
   - ``estimators``: "## Estimators", every gradient method at equal epochs, with the cosine
     and relative error of its gradient to backprop's;
   - ``speed``: "## Speed", time per step and for the whole protocol, and the ratios;
   - ``costs``: "## Cost in forward passes", each method's step in forward passes, measured
     beside its theoretical count (left out for results from before the count);
   - ``memory``: "## Memory", the peak memory of one gradient computation per method beside
     one forward pass (left out for results from before the column);
   - ``published.heading_section``: "## The post's published figures", the post's own table,
     where runs of the post's experiment are among the results;
   - ``published.section``: "## Published experiments", a publication's figures beside ours
     where runs follow its protocol;
   - ``runs.figures_section``: "## Figures", loss and test accuracy curves, the paired seed;
   - ``scaling_section``: "## Scaling", time per step against network size (``python -m
     mlpbench.scaling``);
   - ``gradcheck_section``: "## Gradient error against h" (``python -m mlpbench.gradcheck``);

4. write every figure (matplotlib, Agg canvas, no display), then report.md, each atomically,
   and remove the figures an earlier render wrote that no section draws now.

The shared pieces: ``format`` (numbers to text), ``describe`` (the "what was measured"
sentences), ``figures`` (drawing helpers), ``configs`` (configuration keys, labels, summary).
The command line is ``__main__``.
"""

from mlpbench.report.document import ReportOutputs, render
from mlpbench.report.section import Section

__all__ = ["ReportOutputs", "Section", "render"]
