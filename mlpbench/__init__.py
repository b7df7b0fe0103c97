"""mlpbench: measure whether numerical differentiation can replace backpropagation."""

__version__ = "0.1.0"
