"""Studies: measurements outside training runs, each a thin command line over plain functions.

- ``gradcheck_study``: the gradient error of every finite-difference scheme against backprop as
  a function of the step h (``python -m mlpbench.gradcheck``);
- ``scaling_study``: per-step gradient time over hidden sizes, depths and batch sizes
  (``python -m mlpbench.scaling``).

They use the model, the methods and the SGD loop (``train``), never the run pipeline
(``run``) or Hydra, and write one parquet file per invocation through ``results``.
"""
