"""What a run records about the code and libraries that computed it.

Dependency-free (standard library only).
"""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path

# Modules that only parse commands, lay out files, orchestrate or plot: editing them cannot
# change results.
_NOT_RESULT_CODE = {"cli.py", "config_flags.py", "check.py", "__main__.py", "sweep", "analysis"}


def code_fingerprint() -> str:
    """A digest of the source that computes results: a resume with other code could differ."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in _NOT_RESULT_CODE or parts[0].removesuffix(".py") in _NOT_RESULT_CODE:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries whose code computes a run's results."""
    versions = {"python": platform.python_version()}
    for name in ("lmc-rl", "torch", "gymnasium", "mujoco", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
