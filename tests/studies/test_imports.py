"""The studies use the SGD loop without the run pipeline: importing them, in a fresh interpreter,
loads neither ``run``, ``config`` nor Hydra."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("hydra", "omegaconf", "mlpbench.run", "mlpbench.config", "mlpbench.__main__")

PROGRAM = """
import sys
import mlpbench.gradcheck, mlpbench.scaling, mlpbench.quality
import mlpbench.studies.gradcheck_study, mlpbench.studies.scaling_study
import mlpbench.studies.quality_study
print(",".join(sorted(sys.modules)))
"""


def test_studies_import_the_loop_but_not_the_run_pipeline() -> None:
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.strip().split(",")
    assert "mlpbench.train" in loaded and "mlpbench.methods.numerical" in loaded
    leaked = [name for name in loaded
              if any(name == bad or name.startswith(f"{bad}.") for bad in FORBIDDEN)]
    assert leaked == []
