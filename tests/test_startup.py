"""A command that computes no gradient loads no compiled engine: numba is imported only when an
incremental estimator is built, not by the registry, ``--help`` or the report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["mlpbench", "--help"], ["mlpbench.report", "--help"]])
def test_no_numba_module_is_imported(command):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", *command], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = re.findall(r"\|\s+([\w.]+)$", proc.stderr, re.M)
    assert "mlpbench" in imported or "mlpbench.report" in imported
    assert [m for m in imported if m.split(".")[0] in ("numba", "llvmlite")] == []
