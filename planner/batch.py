"""The one parallel seam: every batch of independent solves (sweep points and grid cells, scenario
re-solves, evaluate's accept/reject pair) runs through `run_batch`, on a local process pool or on a
Dask cluster. No other module creates processes or talks to Dask.

Only picklable things travel: a module-level function (or a functools.partial of one) and plain data
such as instance dicts, never solver objects (highspy and OR-Tools objects cannot be pickled). Results
come back in input order, whichever worker finished first.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from planner.options import usable_cores

ENV_CLUSTER = "PLANNER_CLUSTER"  # a Dask scheduler address the CLI's --cluster defaults to
CONNECT_SECONDS = 3.0  # an unreachable scheduler is reported well within the promised 10 s
NO_WORKER_SECONDS = 30.0  # a cluster batch with no worker for this long fails instead of waiting forever
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class BatchError(RuntimeError):
    """A batch that could not complete (its workers died): no result of it is returned."""


class ClusterError(BatchError):
    """The cluster cannot be used at all: Dask is not installed or the scheduler cannot be reached."""


def run_batch(fn: Callable[[Any], Any], items: Iterable[Any], workers: int | None = None,
              cluster: str | None = None, progress: str | None = None) -> list:
    """[fn(item) for item in items], computed in parallel; results in input order.

    `cluster`: the address of a Dask scheduler (tcp://HOST:PORT) to send the batch to; otherwise
    `workers` local processes (spawned; default one per core; 1 runs the batch in this process).
    Each worker process gives HiGHS one thread, so the tasks fill the cores. `progress`: a label
    to show a progress bar under on stderr, or None for no bar. An exception raised by `fn` is
    raised here unchanged (the rest of the batch is cancelled); lost workers raise BatchError.
    """
    items = list(items)
    with _bar(len(items), progress) as advance:
        if cluster:
            return _on_dask(fn, items, cluster, advance)
        workers = max(1, min(workers or usable_cores(), len(items)))
        if workers == 1:
            return [_advancing(fn(item), advance) for item in items]
        return _on_pool(fn, items, workers, advance)


def _advancing(result: Any, advance: Callable[[], None]) -> Any:
    advance()
    return result


def _task(fn: Callable[[Any], Any], item: Any) -> Any:
    """What a worker runs: fn(item), after sizing HiGHS to one thread in this process (once)."""
    _one_highs_thread()
    return fn(item)


@functools.cache
def _one_highs_thread() -> None:
    from planner.solvers.highs import start_scheduler

    start_scheduler(1)


# ----- local processes ----------------------------------------------------------------------


# A -W option for the resource tracker: after a Ctrl-C the CLI exits at once (planner.cli.abort_on_interrupt),
# before the pool releases its semaphores; the tracker unlinks them all the same, and need not say so on the
# user's terminal ("There appear to be 5 leaked semaphore objects", after a sweep's Ctrl-C).
QUIET_TRACKER = "ignore::UserWarning:multiprocessing.resource_tracker"


def _on_pool(fn: Callable[[Any], Any], items: list, workers: int, advance: Callable[[], None]) -> list:
    results: list = [None] * len(items)
    if QUIET_TRACKER not in sys.warnoptions:  # before the pool starts the resource tracker, which takes them
        sys.warnoptions.append(QUIET_TRACKER)
    # Spawn, not fork: a forked child inherits HiGHS's thread pool from a parent that has already solved,
    # without its threads, and spins forever on its first solve.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(_task, fn, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            advance()
    except BrokenProcessPool:
        raise BatchError("a worker process died (killed, or out of memory); the batch is abandoned") from None
    finally:  # on an error or Ctrl-C, drop the queued items instead of computing them all first
        pool.shutdown(cancel_futures=True)
    return results


def _die_with_parent(parent: int) -> None:
    """Pool initializer: when the parent is killed (SIGKILL leaves it no time to stop its pool), the
    worker dies too instead of solving on for nobody; with the workers gone, the resource tracker
    (which reads until every holder of its pipe has exited) ends as well."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


# ----- Dask ---------------------------------------------------------------------------------


def _on_dask(fn: Callable[[Any], Any], items: list, address: str, advance: Callable[[], None]) -> list:
    """The batch on a Dask cluster. Dask re-runs the tasks of a lost worker on the others; a task
    that keeps killing workers, or a cluster left without workers, fails the whole batch."""
    client = _connect(address)
    futures = client.map(functools.partial(_task, fn), items, pure=False)
    try:
        results = []
        for i, future in enumerate(futures):  # in input order; the bar lags a little when later ones finish first
            results.append(_result(future, client, f"cluster {address}", f"{i} of {len(items)} items done"))
            advance()
        return results
    finally:
        client.cancel(futures)
        client.close()


def _result(future: Any, client: Any, where: str, done: str) -> Any:
    """The result of one Dask future, or BatchError if the cluster cannot deliver it."""
    from distributed.scheduler import KilledWorker

    no_worker_since = None
    while True:
        try:
            return future.result(timeout=1.0)
        except TimeoutError:
            pass
        except KilledWorker as err:
            raise BatchError(f"{where}: a task killed worker after worker ({err}), {done}; "
                             "the batch is abandoned") from None
        no_worker_since = None if client.nthreads() else (no_worker_since or time.monotonic())
        if no_worker_since is not None and time.monotonic() - no_worker_since > NO_WORKER_SECONDS:
            raise BatchError(f"{where}: no worker left for {NO_WORKER_SECONDS:.0f} s, {done}; the batch is abandoned")


def _connect(address: str) -> Any:
    """A Dask client of the scheduler at `address`, or a ClusterError naming it."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError(f"cluster {address}: Dask is not installed; pip install 'planner[cluster]'") from None
    try:  # a probe first: a Client that fails half-built blocks for seconds at exit and prints a traceback
        with ThreadPoolExecutor(1) as probe:  # its own event loop, whether or not the caller runs one
            probe.submit(asyncio.run, _handshake(address)).result()
        return Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except Exception as err:  # noqa: BLE001 - anything (refused, timeout, not Dask, a bad address) means unusable
        raise ClusterError(f"cluster {address}: cannot reach a Dask scheduler there "
                           f"({type(err).__name__}: {str(err)[:200]})") from None


async def _handshake(address: str) -> None:
    """Open and close one connection to the scheduler: Dask's handshake fails unless a Dask peer answers."""
    from distributed.comm import connect

    comm = await connect(address, timeout=CONNECT_SECONDS)
    await comm.close()


# ----- progress -----------------------------------------------------------------------------


@contextlib.contextmanager
def _bar(total: int, label: str | None) -> Iterator[Callable[[], None]]:
    """A transient progress bar on stderr (stdout stays for data); yields the function that advances it."""
    if label is None:
        yield lambda: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
