"""Batches on a real Dask cluster: a scheduler and two workers started as separate processes on
127.0.0.1 (`dask scheduler`, `dask worker`), the way a user runs them on real machines. A sweep through
--cluster gives the local sweep's rows; a worker killed mid-batch costs nothing but time; a cluster
left without workers fails the batch clearly, and no CSV is written."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from batch_tasks import slow_square
from click.testing import CliRunner
from distributed import Client
from test_sweep import PRICE, TINY

from planner import batch
from planner.batch import BatchError, run_batch
from planner.cli import cli

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}  # workers import planner


class Cluster:
    """A scheduler and `workers` single-threaded worker processes (no nanny: a killed worker stays dead)."""

    def __init__(self, workers: int) -> None:
        with socket.socket() as s:  # a free port
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": ENV}
        self.scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                           "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet)
        self.workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                                          "--nthreads", "1", "--no-nanny", "--no-dashboard"], **quiet)
                        for _ in range(workers)]
        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=60)

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    started = Cluster(workers=2)
    yield started
    started.stop()


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of its own, for a test that kills its workers."""
    started = Cluster(workers=2)
    yield started
    started.stop()


def sweep_cli(tmp_path: Path, name: str, *options: str) -> pd.DataFrame:
    instance = tmp_path / "tiny.yaml"
    instance.write_text(yaml.safe_dump(TINY))
    csv = tmp_path / f"{name}.csv"
    # The break-even price 1.5 is off this grid: every point has one optimal plan, so rows compare exactly.
    result = CliRunner().invoke(cli, ["sweep", str(instance), "--vary", f"{PRICE}=0.25:2.75:0.5",
                                      "--vary", "inference.chat.min_units=0:4:2", "-o", str(csv), *options])
    assert result.exit_code == 0, result.output
    return pd.read_csv(csv, keep_default_na=False)


def test_a_sweep_through_the_cluster_matches_the_local_one_row_by_row(cluster, tmp_path):
    local = sweep_cli(tmp_path, "local", "--workers", "2")
    remote = sweep_cli(tmp_path, "remote", "--cluster", cluster.address)
    assert len(local) == 18 and local["accepted"].tolist().count("offer") == 6  # both regions are on the grid
    pd.testing.assert_frame_equal(remote, local)


def test_planner_cluster_in_the_environment_is_the_default(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("PLANNER_CLUSTER", cluster.address)
    with Client(cluster.address) as client:
        before = sum(client.run(_tasks_run).values())
        sweep_cli(tmp_path, "env")
        assert sum(client.run(_tasks_run).values()) - before == 18  # every point ran on the cluster


def _tasks_run(dask_worker) -> int:
    """Tasks this worker has executed."""
    return dask_worker.state.executed_count


def test_a_worker_killed_mid_batch_costs_only_time(own_cluster):
    killer = threading.Timer(1.0, own_cluster.workers[0].kill)
    killer.start()
    start = time.monotonic()
    assert run_batch(slow_square, range(16), cluster=own_cluster.address) == [x * x for x in range(16)]
    assert own_cluster.workers[0].poll() is not None  # it was killed before the batch ended
    assert time.monotonic() - start > 1.0


def test_a_cluster_without_workers_fails_the_batch_and_writes_nothing(own_cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "NO_WORKER_SECONDS", 2.0)
    for worker in own_cluster.workers:
        threading.Timer(1.0, worker.kill).start()
    with pytest.raises(BatchError, match=f"cluster {own_cluster.address}: no worker left for 2 s"):
        run_batch(slow_square, range(40), cluster=own_cluster.address)
    instance = tmp_path / "tiny.yaml"
    instance.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(cli, ["sweep", str(instance), "--vary", f"{PRICE}=0:3:0.5", "-o",
                                      str(tmp_path / "s.csv"), "--cluster", own_cluster.address])
    assert result.exit_code == 1, result.output
    assert "no worker left" in result.stderr and "nothing was written" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no CSV, no PNG, no temporary file


def test_metrics_through_the_cluster_match_the_local_ones(cluster, tmp_path):
    """`solve --metrics` sends its per-scenario solves (EVPI) to the cluster; the document is the local one's."""
    instance = Path(__file__).resolve().parents[1] / "instances" / "teach_scenarios.yaml"

    def metrics(*options: str) -> dict:
        result = CliRunner().invoke(cli, ["solve", str(instance), "--metrics", "--format", "json", *options])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        doc.pop("solve_seconds")
        return doc

    with Client(cluster.address) as client:
        before = sum(client.run(_tasks_run).values())
        remote = metrics("--cluster", cluster.address)
        assert sum(client.run(_tasks_run).values()) - before == 3  # one perfect-information solve per scenario
    local = metrics("--workers", "1")
    assert remote == local and remote["evpi"] == pytest.approx(8) and remote["vss"] == pytest.approx(24)
