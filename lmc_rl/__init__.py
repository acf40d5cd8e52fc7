"""LMC-RL: linear mode connectivity and instability analysis for off-policy deep RL.

Importing the package is cheap and changes nothing in the process: torch, Gymnasium and MuJoCo
are imported by the modules that use them, and ``lmc_rl.Policy`` / ``lmc_rl.load_agent`` load on
first use. The allocator tuning (``lmc_rl.allocator``) is applied by the command's entry point and
by worker processes, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Policy", "load_agent", "__version__"]

if TYPE_CHECKING:
    from lmc_rl.runs import Policy, load_agent


def __getattr__(name: str) -> Any:
    """``lmc_rl.Policy`` and ``lmc_rl.load_agent`` import torch only when first used."""
    if name in ("Policy", "load_agent"):
        from lmc_rl import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'lmc_rl' has no attribute {name!r}")
