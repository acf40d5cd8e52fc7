"""Which random sources differ between the children of a fork (``--fork_noise``).

Dependency-free (``lmc_rl.config.errors`` only), so that analysis can read a run's value without the
config machinery. Users write ``all``, ``none`` or a comma list of sources; config.json holds the
comma list of the sources in ``NOISE_SOURCES`` order (``none`` if empty), as it always has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmc_rl.config.errors import UserError

# env: episode reset seeds; action: exploration; batch: minibatches and update noise
NOISE_SOURCES = ("env", "action", "batch")


@dataclass(frozen=True)
class ForkNoise:
    """A set of sources from ``NOISE_SOURCES``; the children share every other stream."""

    sources: frozenset[str]

    @classmethod
    def parse(cls, value: Any) -> ForkNoise:
        """From ``all``, ``none``, a comma list (``env,batch``) or a list of source names (a
        YAML list); an empty YAML value is ``none``."""
        if isinstance(value, ForkNoise):
            return value
        items = value if isinstance(value, list | tuple) else str(value).split(",")
        words = [str(w).strip().lower() for w in items if str(w).strip()]
        if words == ["all"]:
            return cls(frozenset(NOISE_SOURCES))
        if words == ["none"]:
            return cls(frozenset())
        if not words:
            raise UserError("--fork_noise: empty; use all, none, or a list of env, action, batch")
        for word in words:
            if word not in NOISE_SOURCES:
                raise UserError(
                    f"--fork_noise: unknown source {word!r} (all, none, or a comma list of "
                    f"{', '.join(NOISE_SOURCES)})"
                )
        return cls(frozenset(words))

    def __contains__(self, source: str) -> bool:
        return source in self.sources

    def __str__(self) -> str:
        """The form config.json and result files hold: ``env,action,batch``, ``none``."""
        return ",".join(s for s in NOISE_SOURCES if s in self.sources) or "none"

    def __repr__(self) -> str:  # messages show the value as a user writes it
        return repr(str(self))

    @property
    def label(self) -> str:
        """The shortest form for help texts, names and legends: ``all``, ``none``, ``env,batch``."""
        return "all" if self.sources == frozenset(NOISE_SOURCES) else str(self)
