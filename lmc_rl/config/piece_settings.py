"""How ``lmc-rl run --pieces`` shares one run out: into how many pieces, and where they run."""

from __future__ import annotations

from dataclasses import dataclass

PIECE_BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class PieceSettings:
    """The defaults of ``--pieces``, ``--backend`` and ``--address`` (docs/pieces.md)."""

    pieces: int = 0  # 0: the run in one process, as without --pieces
    backend: str = "local"  # local: one process per piece on this machine; ray: one Ray task each
    address: str | None = (
        None  # Ray: None (a running cluster, else a new one), auto, local, host:port
    )
