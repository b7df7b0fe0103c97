"""Everything mlpbench writes and reads back: the formats (``schemas``), the atomic writers,
readers and attempt selection (``store``), and the environment columns (``environment``).

Training and the studies write through this package; the report reads through it alone, so
rendering a report needs neither the training stack nor Hydra.
"""

from mlpbench.results.claims import claim, clear_debris, holder
from mlpbench.results.environment import environment
from mlpbench.results.schemas import (
    CONFIG_FIELDS,
    CURVES_SCHEMA,
    ENVIRONMENT_FIELDS,
    GRADCHECK_SCHEMA,
    GRADCHECK_WEIGHTS,
    LATER_COLUMNS,
    RUNS_SCHEMA,
    SCALING_SCHEMA,
)
from mlpbench.results.store import (
    DEBRIS,
    Attempts,
    AttemptScan,
    attempts_of,
    ensure_writable,
    find_debris,
    new_attempt_id,
    quarantine,
    read_measurements,
    read_results,
    read_table,
    result_files,
    run_id_for,
    run_id_of,
    scan_attempts,
    select_attempts,
    write_atomic,
    write_measurements,
    write_run,
    write_table,
)

__all__ = [
    "CONFIG_FIELDS",
    "CURVES_SCHEMA",
    "DEBRIS",
    "ENVIRONMENT_FIELDS",
    "GRADCHECK_SCHEMA",
    "GRADCHECK_WEIGHTS",
    "LATER_COLUMNS",
    "RUNS_SCHEMA",
    "SCALING_SCHEMA",
    "AttemptScan",
    "Attempts",
    "attempts_of",
    "claim",
    "clear_debris",
    "ensure_writable",
    "environment",
    "find_debris",
    "holder",
    "new_attempt_id",
    "quarantine",
    "read_measurements",
    "read_results",
    "read_table",
    "result_files",
    "run_id_for",
    "run_id_of",
    "scan_attempts",
    "select_attempts",
    "write_atomic",
    "write_measurements",
    "write_run",
    "write_table",
]
