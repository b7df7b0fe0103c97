"""Fetch the standard MNIST and Fashion-MNIST IDX files, verified against pinned SHA-256 sums.

Downloads go through ``pooch.retrieve``: it streams into a temporary file in the cache directory,
checks the hash and only then moves the file to its final name, deleting it on a mismatch, so a
half-written or tampered file never sits in the cache under the name the loader looks for.

Two failures are kept apart because they call for opposite reactions:

* no mirror answered (offline, DNS, refused, timeout, HTTP error): ``DownloadUnavailable``; the
  MNIST loader may fall back to the embedded subset;
* a mirror answered with other bytes than pinned: a plain ``DataError``, never a fallback, since
  it means a corrupted transfer or a changed file that a human should look at.

Each file has two pins. ``gz_sha256`` is of the ``.gz`` file as the mirrors serve it and is what
the download checks. ``idx_sha256`` is of the decompressed IDX bytes, which is what the loader
checks on every read: it holds however a copy was (re)compressed. Debian's
``dataset-fashion-mnist`` package, for one, ships the same IDX bytes recompressed, so its ``.gz``
files have other SHA-256 sums than the ones published.

Sources of the pins (each cross-checked against independent public listings):

* MNIST ``.gz``: TensorFlow Datasets ``url_checksums/mnist.txt`` (tensorflow/datasets),
  torchvision-ruby's ``datasets/mnist.rb``, Guild AI's and tensorflow-haskell's MNIST resources;
  they agree, and match the file sizes LeCun published (9,912,422 / 28,881 / 1,648,877 / 4,542).
* MNIST IDX: several independent projects that pin the decompressed files.
* Fashion-MNIST ``.gz``: TFDS ``url_checksums/fashion_mnist.txt`` and torchvision-ruby's
  ``datasets/fashion_mnist.rb`` (both list the same four values), plus other public pins.
* Fashion-MNIST IDX: computed from Debian's ``dataset-fashion-mnist`` (0.0~git20200523) and equal
  to the values several independent projects pin for the files decompressed from the originals.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pooch
import requests

from mlpbench.errors import DataError

# (connect, read) seconds: enough for a working mirror, short enough that an offline machine
# falls back within seconds rather than minutes.
TIMEOUT: tuple[float, float] = (5.0, 20.0)

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST_MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)


class DownloadUnavailable(DataError):
    """No mirror could be reached: a network condition, not a problem with any file."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RemoteFile:
    """One IDX file of a dataset and its two pinned SHA-256 sums (see the module docstring)."""

    name: str
    gz_sha256: str
    idx_sha256: str

    @property
    def gz_name(self) -> str:
        """The name the mirrors serve it under, and that downloads are cached as."""
        return f"{self.name}.gz"


# Keyed by the Dataset field each file fills.
MNIST_FILES: Mapping[str, RemoteFile] = {
    "x_train": RemoteFile(
        "train-images-idx3-ubyte",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    "y_train": RemoteFile(
        "train-labels-idx1-ubyte",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    "x_test": RemoteFile(
        "t10k-images-idx3-ubyte",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    "y_test": RemoteFile(
        "t10k-labels-idx1-ubyte",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}

FASHION_MNIST_FILES: Mapping[str, RemoteFile] = {
    "x_train": RemoteFile(
        "train-images-idx3-ubyte",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    ),
    "y_train": RemoteFile(
        "train-labels-idx1-ubyte",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    ),
    "x_test": RemoteFile(
        "t10k-images-idx3-ubyte",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    ),
    "y_test": RemoteFile(
        "t10k-labels-idx1-ubyte",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
}


def _interactive() -> bool:
    """Whether a person watches stderr: only then are a progress bar and pooch's notes useful."""
    return sys.stderr is not None and sys.stderr.isatty()


@contextmanager
def _pooch_logging(enabled: bool) -> Iterator[None]:
    """Mute pooch's INFO lines unless interactive, so a script's stderr holds only our messages."""
    logger = pooch.get_logger()
    level = logger.level
    if not enabled:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def file_url(mirror: str, filename: str) -> str:
    """The URL of ``filename`` on ``mirror``, whether or not the mirror ends with a slash."""
    return f"{mirror.rstrip('/')}/{filename}"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def short_reason(exc: requests.RequestException) -> str:
    """A few words for why a request failed; requests' own messages run to several hundred chars."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "transfer cut short"
    errno_text = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    if errno_text:
        return errno_text.group(1).strip().rstrip(".")
    return type(exc).__name__


def fetch(
    file: RemoteFile,
    directory: str | Path,
    mirrors: Sequence[str],
    *,
    timeout: tuple[float, float] = TIMEOUT,
) -> Path:
    """Download ``file.gz_name`` into ``directory`` from the first mirror that serves it.

    Mirrors are tried in order; one that cannot be reached or answers with an HTTP error is
    skipped. Raises ``DownloadUnavailable`` when none serves it, and ``DataError`` as soon as one
    serves bytes whose SHA-256 is not the pinned one (nothing is kept in ``directory`` then).
    """
    directory = Path(directory)
    target = directory / file.gz_name
    interactive = _interactive()
    failures: list[str] = []
    for mirror in mirrors:
        url = file_url(mirror, file.gz_name)
        downloader = pooch.HTTPDownloader(progressbar=interactive, timeout=timeout)
        try:
            with _pooch_logging(interactive):
                fetched = pooch.retrieve(
                    url,
                    known_hash=f"sha256:{file.gz_sha256}",
                    fname=file.gz_name,
                    path=directory,
                    downloader=downloader,
                )
            return Path(fetched)
        # RequestException first: a few of its subclasses are also ValueErrors.
        except requests.RequestException as exc:
            failures.append(f"{_host(url)}: {short_reason(exc)}")
        except ValueError:
            raise DataError(
                f"{target}: the copy from {url} does not match the pinned SHA-256 "
                f"{file.gz_sha256} and was deleted; expected the original {file.gz_name}"
            ) from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DataError(
                f"{directory}: cannot write the download there ({reason}); "
                "set MLPBENCH_DATA or data_dir to a writable directory"
            ) from None
    reason = "; ".join(failures) if failures else "no mirrors configured"
    raise DownloadUnavailable(f"{file.gz_name}: no mirror could be reached ({reason})", reason)

