"""Where a sweep's cells run: in this process, in a local process pool, or on a Ray cluster.

Each backend takes the cells' tasks and calls ``on_done`` with each outcome as it arrives; what
a cell computes does not depend on the backend.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from types import ModuleType

from lmc_rl.config.errors import UserError
from lmc_rl.learners.allocator import keep_freed_memory
from lmc_rl.sweep.cells import CellOutcome, CellTask, one_line_error, run_cell

OnDone = Callable[[CellOutcome], None]
RAY_INSTALL_HINT = "pip install 'lmc-rl[ray]'"


def run_in_process(tasks: Sequence[CellTask], on_done: OnDone) -> None:
    """One cell after the other in this process (``--workers 1``)."""
    for task in tasks:
        for outcome in run_cell(task):
            on_done(outcome)


def run_in_process_pool(tasks: Sequence[CellTask], workers: int, on_done: OnDone) -> None:
    """``workers`` spawned processes, one cell at a time each (with one torch thread: see
    ``CellTask.isolated``)."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=keep_freed_memory
    )
    try:
        futures = {pool.submit(run_cell, task): task for task in tasks}
        for future in as_completed(futures):
            try:
                outcomes = future.result()
            except Exception as err:  # the worker process died (killed, out of memory)
                outcomes = _lost(futures[future], err)
            for outcome in outcomes:
                on_done(outcome)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def import_ray() -> ModuleType:
    """Ray is an optional extra, imported only when asked for."""
    try:
        import ray
    except ImportError:
        raise UserError(f"--backend ray: Ray is not installed; {RAY_INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None) -> Iterator[ModuleType]:
    """Ray, connected as ``ray.init()`` does by default (None: the cluster running on this node,
    else a new local one), to the cluster at ``address`` ("auto": a running one only), or to a
    local instance started here ("local", with ``num_cpus``); disconnected afterwards if this
    call connected. Raises UserError if Ray is missing or no cluster answers."""
    ray = import_ray()
    if ray.is_initialized():  # a notebook's own session: use it, leave it
        yield ray
        return
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address not in (None, "auto", "local"):
        _check_reachable(address)
    try:
        if address == "local":
            ray.init(num_cpus=num_cpus, include_dashboard=False, **options)
        elif address is None:
            ray.init(include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"--address {address or '(default)'}: cannot connect to a Ray cluster ({first}); "
            "start one with `ray start --head`, or use --address local"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Ray retries an unreachable address for minutes; a TCP connect says at once."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # a form we do not know: let Ray judge it
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as err:
        raise UserError(
            f"--address {address}: no Ray cluster answers there ({err.strerror or err}); start "
            "one with `ray start --head`, or use --address local"
        ) from None


def run_on_ray(ray: ModuleType, tasks: Sequence[CellTask], on_done: OnDone) -> None:
    """Each task a Ray task of one CPU (and one GPU when its device is cuda)."""
    remote_cell = ray.remote(num_cpus=1)(run_cell)
    pending = {}
    for task in tasks:
        gpus = 1 if task.cells[0].config.device.startswith("cuda") else 0
        pending[remote_cell.options(num_gpus=gpus).remote(task)] = task
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    outcomes = ray.get(ref)
                except Exception as err:  # the task's worker died, or the node was lost
                    outcomes = _lost(task, err)
                for outcome in outcomes:
                    on_done(outcome)
    except BaseException:
        for ref in pending:  # interrupted: stop the cluster's tasks too (their runs can resume)
            ray.cancel(ref)
        raise


def _lost(task: CellTask, err: BaseException) -> list[CellOutcome]:
    error = f"its worker failed ({one_line_error(err)})"
    return [CellOutcome(c.name, "failed", None, task.log_file, error) for c in task.cells]
