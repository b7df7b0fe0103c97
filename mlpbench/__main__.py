"""``python -m mlpbench``: a thin Hydra entry point over ``run.execute``.

Errors a user can cause (an unknown key, a value out of range, a bad data file, an unwritable
results_dir) end the program with one line on stderr and exit code 2, never a traceback.
Hydra is asked to re-raise (HYDRA_FULL_ERROR) so that this module can word those errors.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from dataclasses import fields, is_dataclass
from typing import Any, NoReturn

import hydra
from hydra._internal.utils import get_args_parser
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob, Override, OverrideType
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    InterpolationResolutionError,
    OmegaConfBaseException,
)

from mlpbench import methods
from mlpbench.config import (
    CONF_DIR,
    NAME_MAX,
    default_choice,
    register_configs,
    settings_from,
    unknown_key,
)
from mlpbench.errors import EXIT_RUNS_LOST, EXIT_USAGE, ConfigError, MlpbenchError, RunsLost
from mlpbench.run import execute, summary_line

EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that stopped reading
MULTIRUN_FLAGS = ("-m", "hydra.mode=MULTIRUN")


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


def one_line(ex: BaseException, method: str | None = None) -> str:
    """The user-facing wording of a configuration or input error; ``method``, the method a
    single run chose, is named when a key is not one of its own."""
    if isinstance(ex, MlpbenchError):
        return str(ex)
    cause = ex.__cause__ if isinstance(ex.__cause__, OmegaConfBaseException) else None
    err = cause or ex
    if isinstance(err, ConfigKeyError | ConfigAttributeError) and getattr(err, "full_key", None):
        return unknown_key(err.full_key, method=method)
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


def parsed(overrides: list[str]) -> list[tuple[str, Override | None]]:
    """Each command-line word with its parsed override; None for a flag, a flag's value or
    what Hydra's parser rejects (Hydra reports malformed overrides itself)."""
    parser = OverridesParser.create()
    words: list[tuple[str, Override | None]] = []
    for text in overrides:
        override = None
        if not text.startswith("-"):
            with contextlib.suppress(HydraException):
                override = parser.parse_override(text)
        words.append((text, override))
    return words


def check_group_overrides(overrides: list[str]) -> None:
    """Reject what Hydra would turn into a traceback or silently misread, before Hydra sees it.

    - ``method=0``-style values: a config group takes a name; Hydra's own parser tells whether
      the value is one (a number, bool, null, dict or list is not), and raises a bare ValueError
      otherwise.
    - ``dataset=dataset_schema``: the schema is stored in the dataset group for the dataset
      files to extend, so Hydra would accept it and run full MNIST under a name nobody chose.
      Every name, in a sweep's values too, must be one the group offers.
    - keys longer than a file name: Hydra looks each key up as a config group folder, which
      fails with ENAMETOOLONG.
    """
    for _, override in parsed(overrides):
        if override is None:
            continue
        group = override.key_or_group
        if len(group.encode()) > NAME_MAX:
            raise ConfigError(f"{group[:40]}...: unknown key ({len(group)} characters; "
                              f"no key is longer than {NAME_MAX})")
        if group not in GROUPS or override.type != OverrideType.CHANGE:
            continue
        value = override.value()
        if isinstance(value, Glob):
            continue  # expanded over the group's own names by ``sweep_arguments``
        if override.is_sweep_override():
            names = list(override.sweep_iterator()) if override.is_discrete_sweep() else [value]
        else:
            names = [value]
        options = group_options(group)
        for name in names:
            if not isinstance(name, str) or name not in options:
                shown = name if isinstance(name, str) else override.get_value_element_as_str()
                raise ConfigError(f"{group}: unknown '{shown}'; allowed: {', '.join(options)}")


def hydra_key_known(key: str) -> bool:
    """Whether ``hydra.A.B`` can be a key of Hydra's own config (``hydra.conf.HydraConf``).

    Each part must be a field of the dataclass it is looked up in; below a free-form node (a
    dict such as ``hydra.job.env_set``, or a config group's node, ``hydra.launcher`` or
    ``hydra.sweeper``, whose schema is the option chosen) any key is Hydra's or the plugin's to
    judge, so it is let through.
    """
    from hydra.conf import HydraConf

    node: Any = OmegaConf.structured(HydraConf)
    for part in key.split(".")[1:]:
        kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
        if not is_dataclass(kind):
            return True
        if part not in {f.name for f in fields(kind)}:  # not ``in node``: False when MISSING
            return False
        node = node._get_node(part)
    return True


def check_hydra_overrides(arguments: list[str]) -> None:
    """Reject what Hydra accepts without effect: a ``hydra.`` key added with ``+`` or ``++``
    that Hydra's config does not have (``+hydra.foo=1`` is stored and never read, where a
    plain ``hydra.foo=1`` is refused), and ``--package``/``-p`` without ``--cfg`` or
    ``--info``, the only commands it applies to, where it takes the next word as its value
    (``--package +_self_=1e-9`` would run the defaults, the override swallowed)."""
    for text, override in parsed(arguments):
        if (override is not None and override.type in (OverrideType.ADD, OverrideType.FORCE_ADD)
                and override.key_or_group.startswith("hydra.")
                and not hydra_key_known(override.key_or_group)):
            raise ConfigError(f"{override.key_or_group}: unknown key of Hydra's config "
                              f"(python -m mlpbench --hydra-help lists its groups and flags); "
                              f"given as {text.split('=', 1)[0]}")
    with contextlib.suppress(SystemExit):  # a malformed flag: Hydra's parser reports it itself
        flags = get_args_parser().parse_known_args(arguments)[0]
        if flags.package is not None and flags.cfg is None and flags.info is None:
            raise ConfigError(f"--package: only with --cfg or --info, which it selects a part of "
                              f"the config for; here it would take '{flags.package}' as its "
                              f"value and do nothing")


def is_multirun(arguments: list[str]) -> bool:
    """Whether Hydra will sweep: ``--multirun`` (or an abbreviation argparse accepts), ``-m``,
    or ``hydra.mode=MULTIRUN``."""
    return any(a in MULTIRUN_FLAGS or (len(a) > 2 and "--multirun".startswith(a))
               for a in arguments)


def sweep_arguments(arguments: list[str]) -> list[str]:
    """The command line of a sweep, rewritten so that every job composes what it asked for.

    Hydra composes a sweep's master config from the plain overrides alone, with the method
    the command line or the defaults name outside the sweep: ``method=spsa,forward_gradient
    method.directions=10`` would be composed with backprop, which has no ``directions``, and
    fail before any job exists. So each plain ``method.KEY=V`` becomes the one-value sweep
    ``method.KEY=choice(V)``: sweep overrides stay out of the master config, and the sweeper
    gives each job ``method.KEY=V`` after its own ``method=`` (a grid's value, in a sweep file,
    is replaced by it as any command-line key replaces it). Whether every swept method has
    KEY is checked for the whole sweep before anything runs (``config.check_method_keys``).

    ``method=glob(...)`` and ``dataset=glob(...)`` become the choice of the matching names the
    group offers, without the schema Hydra would match too.
    """
    rewritten = []
    for text, override in parsed(arguments):
        if override is not None and override.type == OverrideType.CHANGE:
            key = override.key_or_group
            value = override.value()
            if key in GROUPS and isinstance(value, Glob):
                names = value.filter(group_options(key))
                if not names:
                    raise ConfigError(f"{key}: no name matches {text.split('=', 1)[1]}; "
                                      f"allowed: {', '.join(group_options(key))}")
                text = f"{key}=choice({','.join(names)})"
            elif (key.startswith("method.") and not override.is_sweep_override()
                  and text.split("=", 1)[1] != ""):
                text = f"{key}=choice({text.split('=', 1)[1]})"
        rewritten.append(text)
    return rewritten


def chosen_method(arguments: list[str]) -> str:
    """The method a single run composes: the last plain ``method=NAME``, else the default."""
    chosen = default_choice("method")
    for _, override in parsed(arguments):
        if (override is not None and override.key_or_group == "method"
                and override.type == OverrideType.CHANGE and not override.is_sweep_override()
                and isinstance(override.value(), str)):
            chosen = str(override.value())
    return chosen


def fail(ex: BaseException, method: str | None = None) -> NoReturn:
    """Print the one-line error and exit with the usage exit code."""
    print(f"mlpbench: error: {one_line(ex, method)}", file=sys.stderr, flush=True)
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
    arguments = sys.argv[1:]
    multirun = is_multirun(arguments)
    try:
        check_group_overrides(arguments)
        check_hydra_overrides(arguments)
        if multirun:
            sys.argv[1:] = sweep_arguments(arguments)
        app()
    except RunsLost as ex:  # the sweep went on; these runs did not finish
        print(*ex.lines, sep="\n", file=sys.stderr, flush=True)
        sys.exit(EXIT_RUNS_LOST)
    except (MlpbenchError, HydraException, OmegaConfBaseException) as ex:
        fail(ex, None if multirun else chosen_method(arguments))
    except KeyboardInterrupt:
        print("mlpbench: interrupted; finished runs are kept, the same command resumes",
              file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # `python -m mlpbench --help | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)


if __name__ == "__main__":
    main()
