"""The incremental finite-difference engine: the naive loop's losses, without its redundant work.

Moving one parameter by h changes little of the forward pass. Moving W1[i, j] changes only
hidden unit j's pre-activation, by h * x[b, i], and only for the samples whose pixel i is not 0;
moving W2[j, k] changes only logit k, by h * z[b, j]. The engine evaluates every perturbed
per-sample loss -sum_c t_c log(p_c + log_eps) from the unperturbed activations plus that change,
so it computes the same finite differences of the same training loss as ``engine=naive`` (to
rounding), at a cost proportional to what actually changes:

- the sigmoid of the moved pre-activation is 1 / (1 + exp(-a) * exp(-h x)), where exp(-a) is
  computed once per (sample, unit) and exp(-h x) once per distinct pixel value;
- a sample's perturbed losses depend on pixel i only through its value, so they are computed
  once per distinct nonzero value of that sample and added to every pixel holding that value;
- the changed exponentials exp(o_k + d - m) are exp(o_k - m) * exp(d) with |d| tiny; exp(d) is
  evaluated by its power series to full precision when |d| <= 1e-3 (the omitted terms are below
  1.4e-21 relative, far under rounding) and by the library exp otherwise.

Nothing is a Taylor expansion of the loss in h: every perturbed loss is computed in full from
the perturbed logits, and every real-step gradient entry is a difference of two such losses (or
of one and the unperturbed loss) divided by h or 2h, as in the naive loop; the complex step
takes the imaginary part of one, with nothing subtracted.

The seed's network (one sigmoid hidden layer) has compiled numba kernels; every other network
has a NumPy engine. The modules:

- ``driver``: ``incremental_gradient`` (the unperturbed forward pass, then the kernels) and
  ``warm_up`` (compiles them);
- ``real``: the kernels of the central, forward and backward differences;
- ``complex_step``: the kernels of the complex step, with the real ones' structure;
- ``grouping``: each sample's distinct pixel values and the pixels holding them;
- ``log``: glibc's log, written out so that the kernels' loops over it vectorise;
- ``common``: numba's decorators, the constants, the kernels' grouped arguments, the series;
- ``deep``: ``deep_incremental_gradient``, the NumPy engine for any depth and activation.

Importing this package loads none of them, and so not numba: import the module you need.
"""
