"""``python -m mlpbench --help``: generated from the registry, the schema and conf/, so every
method, key, dataset and sweep is there with its default and meaning, and nothing else is."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from mlpbench import help as app_help
from mlpbench import methods
from mlpbench.__main__ import check_group_overrides
from mlpbench.errors import ConfigError
from mlpbench.settings import leaves

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


@pytest.fixture(scope="module")
def text() -> str:
    return app_help.text()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlpbench", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_prints_the_generated_help_and_hydra_help_stays_hydras(text):
    proc = cli("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == text + "\n"  # "$MLPBENCH_DATA" survives Hydra's $-substitution
    assert "$MLPBENCH_DATA" in proc.stdout
    hydra = cli("--hydra-help")
    assert hydra.returncode == 0 and hydra.stdout.startswith("Hydra (")
    assert "== Flags ==" in hydra.stdout and "mlpbench: trains" not in hydra.stdout


def test_first_lines_say_what_it_is_and_how_it_is_called(text):
    lines = text.splitlines()
    assert lines[0] == ("mlpbench: trains an MNIST MLP with one gradient method per run; "
                        "results go to parquet.")
    usage = "\n".join(lines[:8])
    for form in ("python -m mlpbench [key=value ...]", "--multirun key=a,b",
                 "--multirun +sweep=NAME"):
        assert form in usage
    assert "powered by Hydra" not in text


def test_every_line_fits_and_no_schema_is_offered(text):
    assert [line for line in text.splitlines() if len(line) >= 100] == []
    assert "_schema" not in text


def test_every_method_with_its_docstring_defaults_and_options(text):
    lines = text.splitlines()
    for name, method in methods.available().items():
        headline = (type(method).__doc__ or "").strip().splitlines()[0]
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
        assert f"{name}: {headline}".startswith(lines[start])
        assert lines[start + 1].startswith(
            f"    default lr={app_help.format_value(method.default_lr(method.Config()))}")
        end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
        block = lines[start + 2:end]
        options = [f for f in fields(method.Config) if f.name != "name"]
        keys = [line.split()[0] for line in block if line.startswith("    method.")]
        assert keys == [f"method.{f.name}={app_help.format_value(f.default)}" for f in options]
        for f in options:
            assert " ".join(f.metadata["help"].split()[:3]) in " ".join(" ".join(block).split())
    assert lines[lines.index("backprop: The exact gradient, every other method's reference.")
                 + 2] == "    (no options)"
    assert "    method.directions=1         directions averaged per step; two loss evaluations "\
           "each" in lines


def test_every_run_key_with_its_default(text):
    keys = [leaf.key for leaf in leaves() if leaf.key not in ("method", "dataset", "optimizer")]
    rows = [line.split()[0] for line in text.splitlines() if line.startswith("  ")
            and "=" in line.split()[0] and not line.startswith("  python")]
    run_rows = [r for r in rows if r.split("=")[0] in keys]
    assert [r.split("=")[0] for r in run_rows] == keys
    assert "epochs=100" in run_rows and "lr=null" in run_rows
    assert "model.hidden_sizes=null" in run_rows and "log_eps=1e-07" in run_rows


def test_datasets_are_the_files_and_download_is_explained(text):
    names = sorted(p.stem for p in (CONF / "dataset").glob("*.yaml"))
    assert names == ["fashion_mnist", "mnist", "mnist_subset"]
    for name in names:
        assert any(line.startswith(f"  {name}  ") for line in text.splitlines()), name
    assert "== Datasets: dataset=NAME (default mnist) ==" in text
    download = " ".join(text.split("dataset.download=BOOL", 1)[1].split("\n\n")[0].split())
    assert download.startswith("download (and checksum-verify) missing files; false:")
    assert "fashion_mnist true, mnist true, mnist_subset false" in download


def test_every_sweep_file_is_listed_with_its_methods(text):
    sweeps = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))
    listed = [line.split()[0] for line in text.split("== Sweeps")[1].split("\n\n")[0]
              .splitlines()[1:] if line.startswith("  ") and not line.startswith("   ")]
    assert listed == sweeps
    assert app_help.swept_methods(CONF / "sweep" / "estimators.yaml") == [
        "backprop", "numerical", "spsa", "forward_gradient", "es"]


def test_a_sweep_without_a_title_is_described_by_its_opening_comment(tmp_path):
    path = tmp_path / "scan.yaml"
    path.write_text("# @package _global_\n# Finite differences across h = 1e-1 .. 1e-10 (seed 0).\n"
                    "# More prose.\nhydra:\n  sweeper:\n    grids:\n      - method: numerical\n")
    assert app_help.sweep_title(path) == "Finite differences across h = 1e-1 .. 1e-10 (seed 0)."
    path.write_text("hydra:\n  sweeper:\n    title: A titled sweep\n")
    assert app_help.sweep_title(path) == "A titled sweep"
    assert app_help.swept_methods(path) == ["backprop"]  # the default method


@pytest.mark.parametrize(("comment", "headline"), [
    ("Baydin et al. 2022, \"Gradients: without\" (arXiv 1), their MLP: forward gradient.",
     "Baydin et al. 2022, \"Gradients: without\" (arXiv 1), their MLP"),
    ("Deep Learning from Scratch, ch. 4. The book's run.", "Deep Learning from Scratch, ch. 4."),
    ("No full stop at all", "No full stop at all"),
])
def test_a_comments_headline_ends_at_its_first_colon_or_sentence(comment, headline):
    assert app_help.first_clause(comment) == headline


def test_the_more_line_names_the_readme():
    assert app_help.more()[0].startswith("More: README.md")


@pytest.mark.parametrize("override", ["dataset=dataset_schema", "dataset=mnist,dataset_schema",
                                      "method=backprop_schema", "method=spsa,es_schema"])
def test_a_schema_is_not_a_choice_in_process(override):
    group = override.split("=")[0]
    with pytest.raises(ConfigError, match=f"^{group}: unknown '[a-z_]*_schema'; allowed: "):
        check_group_overrides([override])


@pytest.mark.slow
@pytest.mark.parametrize(("override", "line"), [
    ("dataset=dataset_schema", "mlpbench: error: dataset: unknown 'dataset_schema'; allowed: "
                               "fashion_mnist, mnist, mnist_subset"),
    ("method=backprop_schema", "mlpbench: error: method: unknown 'backprop_schema'; allowed: "
                               "backprop, es, forward_gradient, numerical, spsa"),
])
def test_a_schema_is_rejected_with_one_line(tmp_path, override, line):
    proc = cli(override, "epochs=1", f"results_dir={tmp_path / 'results'}")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [line]
    assert not (tmp_path / "results").exists()


def test_a_reader_that_stops_early_gets_no_traceback():
    """``python -m mlpbench --help | head -2``: the closed pipe ends the program quietly."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "mlpbench", "--help"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.close()  # before the program has written anything: its first write fails
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait(timeout=60) in (0, 141)
    assert "Traceback" not in stderr
