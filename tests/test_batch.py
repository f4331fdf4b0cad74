"""planner.batch on the local process pool: order, errors, a missing or unreachable cluster, and workers
that die with their parent (a sweep killed by its PID must not leave solvers running for nobody)."""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from batch_tasks import die_on_one, pid, refuse_three, slow_square, square

from planner.batch import BatchError, ClusterError, run_batch

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_input_order(workers):
    items = [5, 1, 4, 2, 3, 0]
    assert run_batch(slow_square if workers > 1 else square, items, workers=workers) == [25, 1, 16, 4, 9, 0]


def test_two_workers_are_two_processes_other_than_this_one():
    pids = run_batch(pid, range(6), workers=2)
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_one_worker_runs_in_this_process():
    assert run_batch(pid, range(2), workers=1) == [os.getpid()] * 2


def test_an_exception_in_a_task_is_raised_unchanged():
    with pytest.raises(ArithmeticError, match="no 3"):
        run_batch(refuse_three, range(6), workers=2)


def test_a_killed_local_worker_fails_the_batch_clearly():
    with pytest.raises(BatchError, match="a worker process died"):
        run_batch(die_on_one, range(4), workers=2)


def test_missing_dask_is_a_cluster_error_naming_the_address(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without the extra sees
    with pytest.raises(ClusterError, match=r"cluster tcp://10\.1\.2\.3:8786: Dask is not installed; "
                                           r"pip install 'planner\[cluster\]'"):
        run_batch(square, [1], cluster="tcp://10.1.2.3:8786")


@pytest.fixture
def not_dask() -> Iterator[str]:
    """The address of a TCP service that is not a Dask scheduler: it answers anything with HTTP errors."""
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 20)
                conn.close()

    threading.Thread(target=answer, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "not-a-scheme://x", "not_dask"])
def test_an_unreachable_scheduler_is_a_cluster_error_within_10_s(address, request, capfd):
    address = request.getfixturevalue(address) if address == "not_dask" else address
    start = time.monotonic()
    with pytest.raises(ClusterError, match=f"cluster {address}: cannot reach a Dask scheduler there"):
        run_batch(square, [1], cluster=address)
    assert time.monotonic() - start < 10
    gc.collect()  # a half-built Client would print a traceback here, from its __del__
    assert "Traceback" not in capfd.readouterr().err


def test_workers_and_resource_tracker_die_with_a_killed_parent():
    """SIGKILL gives the parent no chance to stop its pool: the workers must notice on their own."""
    script = textwrap.dedent("""
        from batch_tasks import slow_square
        from planner.batch import run_batch
        run_batch(slow_square, range(1000), workers=2)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    children: list[psutil.Process] = []
    try:
        children = _wait_for_children(parent.pid, count=3)  # two workers and the resource tracker
        parent.kill()
        parent.wait()
        _, alive = psutil.wait_procs(children, timeout=5)
        alive = [p for p in alive if _running(p)]  # a dead orphan may stay a zombie if nobody reaps it
        assert not alive, [p.cmdline() for p in alive]
    finally:  # never leave them running, even when the test fails
        parent.kill()
        for child in children:
            if _running(child):
                child.kill()


def _wait_for_children(pid: int, count: int, seconds: float = 30) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        children = psutil.Process(pid).children(recursive=True)
        if len(children) >= count:
            time.sleep(1.0)  # let the workers start their tasks
            return psutil.Process(pid).children(recursive=True)
        time.sleep(0.1)
    raise AssertionError(f"no {count} child processes within {seconds} s")


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_only_the_seam_creates_processes_or_talks_to_dask():
    """planner/batch.py is the one parallel seam: no other module of the package starts processes or imports Dask."""
    words = ("multiprocessing", "subprocess", "ProcessPoolExecutor", "os.fork", "os.spawn", "distributed", "dask")
    offenders = [f"{path.relative_to(ROOT)}: {word}" for path in sorted((ROOT / "planner").rglob("*.py"))
                 if path.name != "batch.py" for word in words if word in path.read_text(encoding="utf-8")]
    assert offenders == []
