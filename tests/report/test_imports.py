"""The report needs neither the training stack nor Hydra: importing all of it, in a fresh
interpreter, loads none of them."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = (
    "hydra", "omegaconf", "numba", "mlpbench.train", "mlpbench.run", "mlpbench.config",
    "mlpbench.methods", "mlpbench.studies", "mlpbench.data", "mlpbench.gradcheck",
    "mlpbench.scaling",
)

PROGRAM = """
import importlib, pkgutil, sys
import mlpbench.report
names = [info.name for info in pkgutil.walk_packages(mlpbench.report.__path__, "mlpbench.report.")]
for name in names:
    importlib.import_module(name)
print(",".join(names))
print(",".join(sorted(sys.modules)))
"""


def test_report_imports_no_training_stack() -> None:
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    walked, loaded = (line.split(",") for line in proc.stdout.splitlines())
    assert {"mlpbench.report.__main__", "mlpbench.report.document",
            "mlpbench.report.gradcheck_section"} <= set(walked)
    leaked = [name for name in loaded
              if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN)]
    assert leaked == []
