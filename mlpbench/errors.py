"""Errors a user can cause, each rendered as one line by the CLI.

Anything raised as an ``MlpbenchError`` is reported as ``mlpbench: error: <message>`` with a
non-zero exit code and no traceback; its message must name the key or file at fault and
what would have been accepted.
"""

from __future__ import annotations


class MlpbenchError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class ConfigError(MlpbenchError):
    """A configuration value outside what the harness accepts."""


class DataError(MlpbenchError):
    """A data file that is missing, unreadable, truncated or fails its checksum."""


class ResultsError(MlpbenchError):
    """The results directory cannot be written, or a results file cannot be read."""


class WriteError(ResultsError):
    """A file the harness keeps for itself (a claim, its owner file, a sweep's metadata) could
    not be written: a full disk, a file where a folder must be, a read-only mount.

    The message names the exact path and the operating system's reason with its errno, e.g.
    "cannot write results/.claims/abc.owner: No space left on device (errno 28)", since the
    user has to free or fix that one place; the OSError's own traceback would add nothing.
    """

    def __init__(self, path: object, error: OSError) -> None:
        reason = error.strerror or type(error).__name__
        errno = f" (errno {error.errno})" if error.errno else ""
        super().__init__(f"cannot write {path}: {reason}{errno}")
        self.path, self.error = path, error

    def __reduce__(self) -> tuple[type[WriteError], tuple[object, OSError]]:
        """Rebuilt from its path and error, so that it crosses a sweep's process pool intact
        (the default would call ``WriteError(message)``)."""
        return type(self), (self.path, self.error)


class RunLost(Exception):
    """A sweep job whose process died before returning: killed, out of memory, crashed hard.

    Defined here, in a module loaded once per process, so that it pickles between the pool's
    processes as one class.
    """


class RunsLost(MlpbenchError):
    """Runs of a sweep that did not finish (a crash, a killed process); the others did."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


EXIT_USAGE = 2
"""The exit code of every command line on a user error (``MlpbenchError`` or bad flags): one
line on stderr, no traceback, as argparse does for a bad flag."""

EXIT_RUNS_LOST = 1
"""The exit code of a sweep in which some runs were lost: one line per lost run on stderr."""
