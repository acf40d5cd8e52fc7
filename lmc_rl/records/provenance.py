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
# Paths relative to the package, a folder standing for everything in it.
_NOT_RESULT_CODE = (
    "__main__.py",
    "cli.py",
    "config/flags.py",
    "experiment/check.py",
    "analysis/",
    "sweep/",
)


def code_fingerprint() -> str:
    """A digest of the source that computes results: a resume with other code could differ."""
    root = Path(__file__).resolve().parent.parent  # the lmc_rl package
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative.startswith(_NOT_RESULT_CODE):
            continue
        digest.update(relative.encode())
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
