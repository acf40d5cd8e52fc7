"""The byte format of a run's checkpoint: a header, a SHA-256 digest, then a pickled state.

What goes into the state is the Trainer's business (``Trainer.state_dict``); this module only
writes it atomically and reads it back, recognising a truncated or corrupted file before it is
unpickled. A checkpoint is a pickle: loading one runs code, so trust it as you trust code.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

from lmc_rl.config.errors import UserError
from lmc_rl.records.atomic_files import atomic_write_bytes

MAGIC = b"LMCRL-CHECKPOINT-1\n"


def save_checkpoint(state: dict[str, Any], path: Path) -> int:
    """Write ``state`` atomically; returns the file size in bytes."""
    payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    data = MAGIC + hashlib.sha256(payload).digest() + payload
    atomic_write_bytes(path, data)
    return len(data)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read and verify a checkpoint; a UserError if it is missing, truncated or corrupted."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"cannot read checkpoint {path}: {err.strerror}") from None
    header = len(MAGIC) + 32
    if not data.startswith(MAGIC) or len(data) < header:
        raise UserError(f"checkpoint {path} is not an lmc-rl checkpoint or is truncated")
    payload = data[header:]
    if hashlib.sha256(payload).digest() != data[len(MAGIC) : header]:
        raise UserError(f"checkpoint {path} is corrupted or truncated (digest mismatch)")
    try:
        state = pickle.loads(payload)
    except Exception as err:  # a digest match makes this unlikely, but never a traceback
        raise UserError(f"checkpoint {path} does not load ({type(err).__name__})") from None
    if not isinstance(state, dict) or "step" not in state:
        raise UserError(f"checkpoint {path} holds no run state")
    return state
