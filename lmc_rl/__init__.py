"""LMC-RL: linear mode connectivity and instability analysis for off-policy deep RL."""

from lmc_rl.runs import Policy, load_agent

__version__ = "0.1.0"
__all__ = ["Policy", "load_agent", "__version__"]
