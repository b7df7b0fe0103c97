"""Faults injected for real: killed processes, cut files, two copies of one sweep, bad values.

Each test reproduces one way of losing or doubling work and asserts what a user is promised:
nothing committed is lost, nothing is computed twice, every failure is one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from mlpbench import report, results
from mlpbench.methods import backprop
from mlpbench.run import execute
from mlpbench.settings import RunConfig
from tests.run_settings import run_settings

REPO = Path(__file__).resolve().parents[1]
TINY = ["dataset=mnist_subset", "model.hidden_size=4", "batch_size=40", "progress=false"]
SLOW = [*TINY, "method=numerical", "method.engine=naive", "epochs=3"]  # about 2 s a run


def settings(results_dir: Path, **changes) -> RunConfig:
    base = dict(
        method=backprop.Config(), dataset="mnist_subset", download=False, hidden_size=4,
        epochs=3, steps_per_epoch=1, batch_size=20, lr=0.1, h=1e-4, seed=0, dtype="float64",
        log_eps=1e-7, data_dir=None, results_dir=results_dir, progress=False,
    )
    return run_settings(**{**base, **changes})


def start(*args: str, log: Path, new_session: bool = False) -> subprocess.Popen:
    """``python -m mlpbench ARGS`` in the background, stdout and stderr into ``log``."""
    handle = log.open("w")
    env = {**os.environ, "MLPBENCH_DATA": str(log.parent / "no-data-here")}
    return subprocess.Popen([sys.executable, "-m", "mlpbench", *args], cwd=REPO, env=env,
                            stdout=handle, stderr=subprocess.STDOUT, text=True,
                            start_new_session=new_session)


def run(*args: str, tmp_path: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLPBENCH_DATA": str(tmp_path / "no-data-here")}
    return subprocess.run([sys.executable, "-m", "mlpbench", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def owners(results_dir: Path) -> dict[str, int]:
    """run_id -> pid of the process holding (or last holding) its claim."""
    found = {}
    for path in (results_dir / ".claims").glob("*.owner"):
        text = path.read_text()
        if text.startswith("pid "):
            found[path.stem] = int(text.split()[1])
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(
        f"/proc/{pid}/status").read_text().lower()


# ---------------------------------------------------------------------------------------------
# 1. A committed run whose files no longer read back whole is redone, and reported meanwhile.


def test_a_cut_curves_file_is_left_out_reported_and_redone(tmp_path):
    out = tmp_path / "results"
    for seed in (0, 1):
        execute(settings(out, seed=seed))
    victim = sorted((out / "curves").glob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])

    outputs = report.render(out, tmp_path / "report")
    text = outputs.report_md.read_text()
    assert "Every run finished with status ok" not in text
    assert "1 run left out" in text and outputs.numbers["runs"]["left_out"] == 1
    assert {p.name for p, _ in outputs.bad_files} == {victim.name}  # curves and runs file
    assert int(outputs.numbers["runs"]["summary"]["n"].iloc[0]) == 1

    said: list[str] = []
    redone = [execute(settings(out, seed=seed), say=said.append) for seed in (0, 1)]
    assert sum("skipped" in row for row in redone) == 1  # the intact run is not redone
    assert len(said) == 1 and "not a whole result" in said[0] and victim.stem in said[0]
    assert sorted(p.parent.name for p in (out / results.DEBRIS).rglob("*.parquet")) == [
        "curves", "runs"]
    outputs = report.render(out, tmp_path / "report")
    assert outputs.bad_files == [] and outputs.numbers["runs"]["left_out"] == 0
    assert "Every run finished with status ok" in outputs.report_md.read_text()
    assert int(outputs.numbers["runs"]["summary"]["n"].iloc[0]) == 2


def test_a_runs_row_with_too_few_curve_rows_is_not_committed(tmp_path):
    out = tmp_path / "results"
    execute(settings(out, epochs=3))
    curves_file = next((out / "curves").glob("*.parquet"))
    table = pd.read_parquet(curves_file)
    table.iloc[:2].to_parquet(curves_file)  # readable, but one epoch short
    run_id = table["run_id"].iloc[0]
    scan = results.scan_attempts(out, run_id)
    assert scan.committed == [] and "2 rows for 3 epochs" in scan.broken[0][1]
    assert "skipped" not in execute(settings(out, epochs=3))
    assert len(results.attempts_of(out, run_id)) == 1


# ---------------------------------------------------------------------------------------------
# 6. A write killed between its two files leaves debris that no reader sees after the next start.

KILL_BETWEEN_FILES = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import pyarrow.parquet as pq
    from mlpbench.run import execute
    sys.path.insert(0, {tests!r})
    from test_faults import settings

    real = pq.write_table
    def second_kills(table, where, **kwargs):
        real(table, where, **kwargs)
        if "/runs/" in str(getattr(where, "name", "")):
            os.kill(os.getpid(), signal.SIGKILL)  # the runs file is half-way to its place
    pq.write_table = second_kills
    execute(settings(Path({out!r})))
""")


@pytest.mark.slow
def test_sigkill_between_the_two_files_leaves_debris_the_next_run_moves_aside(tmp_path):
    out = tmp_path / "results"
    script = KILL_BETWEEN_FILES.format(tests=str(REPO / "tests"), out=str(out))
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    orphan = list((out / "curves").glob("*.parquet"))
    temporaries = list((out / "runs").glob(".*.tmp-*"))
    assert len(orphan) == 1 and len(temporaries) == 1
    assert [p for p in (out / "runs").iterdir() if not p.name.startswith(".")] == []
    assert len(pd.read_parquet(out / "curves")) == 3  # what a plain reader would see

    said: list[str] = []
    execute(settings(out, seed=1), say=said.append)  # any run starting in the folder
    assert len(said) == 1 and "moved 2 file(s) left by an interrupted write" in said[0]
    assert pd.read_parquet(out / "curves")["seed"].unique().tolist() == [1]
    assert sorted(p.name for p in (out / results.DEBRIS).rglob("*")
                  if p.is_file()) == sorted([orphan[0].name, temporaries[0].name.lstrip(".")])
    again = execute(settings(out, seed=0))  # the killed run is not committed: it runs
    assert "skipped" not in again and len(pd.read_parquet(out / "runs")) == 2


def test_debris_of_a_run_being_written_is_left_alone(tmp_path):
    out = tmp_path / "results"
    execute(settings(out))
    committed = next((out / "curves").glob("*.parquet"))
    orphan = committed.with_name(committed.name.replace(committed.name[17:32], "20990101T000000"))
    orphan.write_bytes(committed.read_bytes())
    with results.claim(out, results.run_id_of(orphan)) as mine:
        assert mine
        assert results.clear_debris(out, "0" * 16, print) == []  # claimed: a write under way
    assert results.clear_debris(out, "0" * 16, print) == [orphan]


# ---------------------------------------------------------------------------------------------
# 2. A killed run costs only itself; a killed pool worker costs nothing.


@pytest.mark.slow
def test_a_run_killed_mid_sweep_is_one_line_and_the_others_finish(tmp_path):
    out = tmp_path / "results"
    sweep = ["--multirun", f"results_dir={out}", *SLOW, "seed=0,1,2,3",
             "hydra.launcher.n_jobs=2"]
    proc = start(*sweep, log=tmp_path / "log")
    wait_for(lambda: owners(out))
    run_id, pid = next(iter(owners(out).items()))
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=300)
    err = (tmp_path / "log").read_text()
    lost = [line for line in err.splitlines() if line.startswith("mlpbench: lost run")]
    assert proc.returncode == 1, err
    assert len(lost) == 1 and "killed by SIGKILL" in lost[0], err
    assert "Traceback" not in err
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == 3 and run_id not in set(runs["run_id"])
    resumed = run(*sweep, tmp_path=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("skipped") == 3
    assert sorted(pd.read_parquet(out / "runs")["seed"]) == [0, 1, 2, 3]


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


@pytest.mark.slow
def test_a_killed_pool_worker_restarts_its_runs_and_the_sweep_equals_a_clean_one(tmp_path):
    sweep = ["--multirun", *SLOW, "seed=0,1,2,3", "hydra.launcher.n_jobs=2"]
    clean = run(*sweep, f"results_dir={tmp_path / 'clean'}", tmp_path=tmp_path)
    assert clean.returncode == 0, clean.stderr
    out = tmp_path / "killed"
    proc = start(*sweep, f"results_dir={out}", log=tmp_path / "log")
    wait_for(lambda: owners(out))
    workers = [pid for pid in children(proc.pid) if children(pid)]  # a worker with a run
    os.kill(workers[0], signal.SIGKILL)
    proc.wait(timeout=300)
    err = (tmp_path / "log").read_text()
    assert proc.returncode == 0, err
    assert "a pool worker died" in err and "Traceback" not in err
    columns = ["run_id", "seed", "epoch", "loss", "test_acc", "loss_evals", "status"]
    want, got = (pd.read_parquet(folder / "curves")[columns].sort_values(["seed", "epoch"])
                 .reset_index(drop=True) for folder in (tmp_path / "clean", out))
    pd.testing.assert_frame_equal(got, want)
    assert len(pd.read_parquet(out / "runs")) == 4


def test_lost_runs_say_why_and_what_runs_them_again():
    from hydra.core.utils import JobReturn, JobStatus

    from hydra_plugins.mlpbench_sweeper.grids_sweeper import lost_line
    from hydra_plugins.mlpbench_sweeper.local_launcher import exit_text
    from mlpbench.errors import RunLost

    killed = JobReturn(overrides=["seed=3"], status=JobStatus.FAILED,
                       _return_value=RunLost(f"its process {exit_text(-signal.SIGKILL)}"))
    assert lost_line(killed) == (
        "mlpbench: lost run seed=3: its process was killed by SIGKILL (out of memory, or killed "
        "by a user); nothing was written, the same command runs it again")
    raised = JobReturn(overrides=["seed=4"], status=JobStatus.FAILED,
                       _return_value=MemoryError("cannot allocate"))
    assert lost_line(raised) == ("mlpbench: lost run seed=4: MemoryError: cannot allocate; "
                                 "recorded as failed, retry_failed=true runs it again")
    assert exit_text(2) == "exited with code 2 before returning its result"


# ---------------------------------------------------------------------------------------------
# 8. One claim per run: two copies of a sweep compute each run once, even if one dies.


def test_a_claimed_run_is_skipped_with_one_line_and_a_dead_claim_is_taken_over(tmp_path):
    out = tmp_path / "results"
    config = settings(out)
    first = execute(config)
    run_id = first["run_id"]
    with results.claim(out, run_id) as mine:
        assert mine
        busy = execute(settings(out, force=True))
        assert busy["busy"] and busy["skipped"].startswith(f"being computed by pid {os.getpid()}")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from mlpbench import results; "
         f"c = results.claim(Path({str(out)!r}), {run_id!r}); c.__enter__(); "
         "print('held', flush=True); time.sleep(600)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert execute(settings(out, force=True))["busy"]
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    taken_over = execute(settings(out, force=True))
    assert "busy" not in taken_over and taken_over["status"] == "ok"


@pytest.mark.slow
def test_two_copies_of_a_sixteen_run_sweep_compute_sixteen_runs(tmp_path):
    out = tmp_path / "results"
    sweep = ["--multirun", f"results_dir={out}", *TINY, "method=backprop", "epochs=3",
             "seed=range(0,16)", "hydra.launcher.n_jobs=2"]
    procs = [start(*sweep, log=tmp_path / f"log{i}") for i in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, (tmp_path / "log0").read_text()
    on_disk = pd.read_parquet(out / "runs")
    assert len(on_disk) == 16 and on_disk["run_id"].nunique() == 16
    outputs = report.render(out, tmp_path / "report")
    assert int(outputs.numbers["runs"]["summary"]["n"].iloc[0]) == 16
    assert outputs.numbers["runs"]["duplicates"] == 0
    assert len(list((out / ".sweeps").iterdir())) == 2  # a sweep folder per copy


@pytest.mark.slow
def test_a_copy_killed_mid_run_leaves_its_claimed_run_to_the_other(tmp_path):
    out = tmp_path / "results"
    # runs long enough to be under way when the second copy has started (a few seconds)
    sweep = ["--multirun", f"results_dir={out}", *TINY, "method=numerical",
             "method.engine=naive", "epochs=8", "seed=0,1,2,3", "hydra.launcher.n_jobs=2"]
    doomed = start(*sweep, log=tmp_path / "doomed", new_session=True)
    wait_for(lambda: owners(out))
    survivor = start(*sweep, log=tmp_path / "survivor")
    wait_for(lambda: "being computed by" in (tmp_path / "survivor").read_text())
    claimed_by_doomed = {run_id for run_id, pid in owners(out).items() if alive(pid)}
    os.killpg(doomed.pid, signal.SIGKILL)  # the copy's main process, pool and runs at once
    doomed.wait(timeout=30)
    assert survivor.wait(timeout=300) == 0, (tmp_path / "survivor").read_text()
    runs = pd.read_parquet(out / "runs")
    assert sorted(runs["seed"]) == [0, 1, 2, 3] and runs["run_id"].nunique() == 4
    assert claimed_by_doomed <= set(runs["run_id"])
    assert "waiting for" in (tmp_path / "survivor").read_text()


# ---------------------------------------------------------------------------------------------
# 3, 4, 5. Values checked before any work, in sweeps too.


@pytest.mark.slow
@pytest.mark.parametrize(("args", "key"), [
    (["hydra.launcher.n_jobs=0"], "hydra.launcher.n_jobs"),
    (["results_dir=/dev/null/results"], "results_dir"),
    (["seed=0,9223372036854775808"], "seed"),
    (["+epoch=3"], "epoch"),
], ids=["n_jobs=0", "unwritable", "seed", "+epoch"])
def test_a_bad_sweep_is_one_line_exit_2_and_no_rows(tmp_path, args, key):
    out = tmp_path / "results"
    proc = run("--multirun", f"results_dir={out}", *TINY, "epochs=2", *args, tmp_path=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"mlpbench: error: {key}"), lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (out / "runs").exists() or not list((out / "runs").iterdir())


# ---------------------------------------------------------------------------------------------
# 5 (BLAS). One run id, one bitwise result, however it was launched.


@pytest.mark.slow
def test_backprop_is_bitwise_the_same_alone_and_in_pools_of_one_and_two(tmp_path):
    """The seed's shapes (784-50-10, batch 100), where OpenBLAS would split products over
    threads: a single run, ``n_jobs=1`` and ``n_jobs=2`` give the same bits."""
    args = ["dataset=mnist_subset", "method=backprop", "epochs=40", "progress=false"]
    launches = {
        "alone": ["seed=0"],
        "one": ["--multirun", "seed=0,1", "hydra.launcher.n_jobs=1"],
        "two": ["--multirun", "seed=0,1", "hydra.launcher.n_jobs=2"],
    }
    losses = {}
    for name, extra in launches.items():
        proc = run(*extra, *args, f"results_dir={tmp_path / name}", tmp_path=tmp_path)
        assert proc.returncode == 0, proc.stderr
        curves = pd.read_parquet(tmp_path / name / "curves").query("seed == 0")
        losses[name] = curves.sort_values("epoch")[["run_id", "loss", "test_acc"]]
    for name in ("one", "two"):
        pd.testing.assert_frame_equal(losses[name].reset_index(drop=True),
                                      losses["alone"].reset_index(drop=True), check_exact=True)


# ---------------------------------------------------------------------------------------------
# 7. The offline fallback is announced once per sweep, naming every folder searched.


@pytest.mark.slow
def test_the_offline_fallback_warning_is_printed_once_per_sweep(tmp_path):
    data_dir = tmp_path / "empty-data"
    proc = run("--multirun", f"results_dir={tmp_path / 'results'}", "dataset=mnist",
               f"data_dir={data_dir}", "dataset.download=false", "model.hidden_size=4",
               "epochs=2", "batch_size=20", "progress=false", "seed=0,1,2",
               "hydra.launcher.n_jobs=2", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "full MNIST" in line]
    assert len(warnings) == 1, proc.stderr
    assert f"not in {data_dir / 'mnist'} or {data_dir} and" in warnings[0]
    assert set(pd.read_parquet(tmp_path / "results" / "runs")["dataset"]) == {"mnist_subset"}
