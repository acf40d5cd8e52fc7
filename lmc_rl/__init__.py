"""LMC-RL: linear mode connectivity and instability analysis for off-policy deep RL.

Importing the package tunes glibc malloc to reuse freed memory (``lmc_rl.allocator``): every
process that trains or evaluates (the CLI, spawned evaluation workers, benchmarks) imports it.
"""

from lmc_rl.allocator import keep_freed_memory

keep_freed_memory()

from lmc_rl.runs import Policy, load_agent  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Policy", "load_agent", "__version__"]
