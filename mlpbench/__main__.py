"""``python -m mlpbench``: a thin Hydra entry point over ``run.execute``.

Errors a user can cause (an unknown key, a value out of range, a bad data file, an unwritable
results_dir) end the program with one line on stderr and exit code 2, never a traceback.
Hydra is asked to re-raise (HYDRA_FULL_ERROR) so that this module can word those errors.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    InterpolationResolutionError,
    OmegaConfBaseException,
)

from mlpbench import methods
from mlpbench.config import NAME_MAX, register_configs, settings_from, unknown_key
from mlpbench.errors import EXIT_RUNS_LOST, EXIT_USAGE, ConfigError, MlpbenchError, RunsLost
from mlpbench.run import execute, summary_line

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
EXIT_INTERRUPTED = 130


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def app(cfg: DictConfig) -> dict[str, Any]:
    """One run: validate, train, write parquet, print one summary line.

    A user error is reported here and ends the process with SystemExit, which Hydra lets
    through untouched (it would otherwise print its own "Error executing job" line first).
    """
    try:
        settings = settings_from(cfg)
        # In a sweep the sweeper has found the data once (and warned once about a fallback).
        run = execute(settings, warn_fallback=HydraConfig.get().mode != RunMode.MULTIRUN)
    except (MlpbenchError, OmegaConfBaseException) as ex:  # e.g. an unset ${oc.env:VAR}
        fail(ex)
    print(summary_line(run, settings.results_dir), flush=True)
    return run


def one_line(ex: BaseException) -> str:
    """The user-facing wording of a configuration or input error."""
    if isinstance(ex, MlpbenchError):
        return str(ex)
    cause = ex.__cause__ if isinstance(ex.__cause__, OmegaConfBaseException) else None
    err = cause or ex
    if isinstance(err, ConfigKeyError | ConfigAttributeError) and getattr(err, "full_key", None):
        return unknown_key(err.full_key)
    if isinstance(err, OmegaConfBaseException):
        key = getattr(err, "full_key", None)
        message = str(err).splitlines()[0]
        if isinstance(err, InterpolationResolutionError) and "interpolation: " in message:
            reason = message.split("interpolation: ", 1)[1].strip("\"'")
            message = f"cannot resolve its value: {reason}"
        return f"{key}: {message}" if key else message
    missing = getattr(ex, "missing_cfg_file", None)
    options = getattr(ex, "options", None)
    if missing and "/" in missing and options:
        group, name = missing.rsplit("/", 1)
        shown = ", ".join(o for o in options if not o.endswith("_schema"))
        return f"{group}: unknown '{name}'; allowed: {shown}"
    lines = [ln.strip() for ln in str(ex).splitlines() if ln.strip()]
    return " ".join(lines)


GROUPS = ("method", "dataset")


def group_options(group: str) -> list[str]:
    """The names ``group=NAME`` accepts: the registered methods, or the dataset files."""
    if group == "method":
        return list(methods.available())
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def check_group_overrides(overrides: list[str]) -> None:
    """Reject what Hydra would turn into a traceback, before Hydra sees it.

    - ``method=0``-style values: a config group takes a name; Hydra's own parser tells whether
      the value is one (a number, bool, null, dict or list is not), and raises a bare ValueError
      otherwise.
    - keys longer than a file name: Hydra looks each key up as a config group folder, which
      fails with ENAMETOOLONG.
    """
    parser = OverridesParser.create()
    for text in overrides:
        if text.startswith("-"):
            continue
        try:
            override = parser.parse_override(text)
        except HydraException:
            continue  # Hydra reports malformed overrides itself
        group = override.key_or_group
        if len(group.encode()) > NAME_MAX:
            raise ConfigError(f"{group[:40]}...: unknown key ({len(group)} characters; "
                              f"no key is longer than {NAME_MAX})")
        if group not in GROUPS or override.is_sweep_override():
            continue
        if not isinstance(override.value(), str):
            options = group_options(group)
            value = override.get_value_element_as_str()
            raise ConfigError(f"{group}: unknown '{value}'; allowed: {', '.join(options)}")


def fail(ex: BaseException) -> NoReturn:
    """Print the one-line error and exit with the usage exit code."""
    print(f"mlpbench: error: {one_line(ex)}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM ends a run like Ctrl-C does, so cleanup (temporary files) still happens."""
    raise KeyboardInterrupt


def main() -> None:
    """Run the Hydra app, turning user errors into one line and exit code 2.

    An interrupt (SIGINT or SIGTERM) stops at once: finished runs are already on disk, the
    running one wrote nothing a reader takes for a result, and the same command resumes.
    """
    os.environ["HYDRA_FULL_ERROR"] = "1"
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # even where a parent shell set it to be ignored
    register_configs()
    try:
        check_group_overrides(sys.argv[1:])
        app()
    except RunsLost as ex:  # the sweep went on; these runs did not finish
        print(*ex.lines, sep="\n", file=sys.stderr, flush=True)
        sys.exit(EXIT_RUNS_LOST)
    except (MlpbenchError, HydraException, OmegaConfBaseException) as ex:
        fail(ex)
    except KeyboardInterrupt:
        print("mlpbench: interrupted; finished runs are kept, the same command resumes",
              file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
