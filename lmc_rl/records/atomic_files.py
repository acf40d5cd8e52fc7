"""Result files written all at once: a reader sees the old file or the new one, never half.

Dependency-free (standard library only), so that analysis and the command line can write files
without importing torch.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process's umask (read by setting it, then putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync and rename: readers see the old file or the new one.

    The file gets the permissions of any file the user creates (``0o666 & ~umask``), not the
    ``0o600`` of a temporary file, so results on a shared filesystem stay readable by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def strict_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None: JSON has no Infinity."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: strict_json(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict_json(value) for value in obj]
    return obj


def atomic_write_json(path: Path, obj: Any) -> None:
    """Standard JSON (a non-finite number is written as null), atomically."""
    text = json.dumps(strict_json(obj), indent=2, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())
