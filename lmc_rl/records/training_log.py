"""TensorBoard scalars, one event-file folder per member (tensorboard/{member}/).

Update metrics are copied to the host after every update (one ``[K]`` vector per metric: the
training loop reads them then anyway, to detect non-finite losses) and summed there; they are
averaged and written to TensorBoard only when flushed.

A resumed run continues from its checkpoint's step: the killed run's event files may hold
scalars logged after that step, which the resumed run logs again. They are cut from those files
on resume, so that every scalar has each step once in the raw files too (not only as
TensorBoard's ``purge_step`` hides them in its own viewer).
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lmc_rl.records.atomic_files import atomic_write_bytes


class ScalarLog:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writers: dict = {}
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, torch.Tensor] = {}
        self._members: list[str] = []
        self._last_step = 0
        self._pending: dict[str, list[tuple[str, float, int]]] = defaultdict(list)
        self._purge_step: int | None = None
        # also given every member's flushed scalars (``--track``: Weights & Biases)
        self.also: Callable[[str, list[tuple[str, float, int]]], None] | None = None

    def purge_from(self, step: int) -> None:
        """After a resume: events of the killed run from ``step`` on are cut from its files."""
        self._purge_step = step
        for file in sorted(self.folder.glob("*/events.out.tfevents.*")):
            drop_events_from(file, step)

    def _writer(self, member: str):
        if member not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[member] = SummaryWriter(
                log_dir=str(self.folder / member), purge_step=self._purge_step
            )
        return self._writers[member]

    def add(self, member: str, tag: str, value: float, step: int) -> None:
        self._pending[member].append((tag, float(value), step))

    def add_metrics(
        self, members: list[str], active: np.ndarray, metrics: dict[str, torch.Tensor], step: int
    ) -> None:
        """Accumulate ``[K]`` update metrics of the active members."""
        if members != self._members:
            self._flush_metrics()
            self._members = list(members)
        weight = torch.as_tensor(active, dtype=torch.float32)
        for tag, values in metrics.items():
            values = values.detach().float().cpu() * weight
            self._sums[tag] = self._sums.get(tag, 0) + values
            self._counts[tag] = self._counts.get(tag, 0) + weight
        self._last_step = step

    def _flush_metrics(self) -> None:
        for tag, total in self._sums.items():
            counts = self._counts[tag]
            for i, member in enumerate(self._members):
                if counts[i] > 0:
                    self.add(member, tag, float(total[i] / counts[i]), self._last_step)
        self._sums, self._counts = {}, {}

    def flush(self) -> None:
        self._flush_metrics()
        for member, items in self._pending.items():
            writer = self._writer(member)
            for tag, value, step in items:
                writer.add_scalar(tag, value, step)
            writer.flush()
            if self.also is not None:
                self.also(member, items)
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        for writer in self._writers.values():
            writer.close()


def drop_events_from(file: Path, step: int) -> int:
    """Rewrite one event file without its scalars at ``step`` or later; returns how many were
    dropped (the file is replaced atomically, and left alone if nothing is dropped)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    kept, dropped = [], 0
    for record in RawEventFileLoader(str(file)).Load():
        event = Event.FromString(record)
        if event.HasField("summary") and event.step >= step:
            dropped += 1
        else:
            kept.append(record)
    if dropped:
        buffer = io.BytesIO()
        writer = RecordWriter(buffer)
        for record in kept:
            writer.write(record)
        atomic_write_bytes(file, buffer.getvalue())
    return dropped
