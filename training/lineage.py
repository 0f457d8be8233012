"""Where a checkpoint's weights came from: the chain of runs that `--init-from` links together.

A model card must sum every stage that trained the bundled weights (steps, time, recipes, sources), not
only the last run; each checkpoint carries the record of what its run started from, recursively.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def lineage_record(path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """How the weights a run starts from were trained: the steps, time, recipe and sources of that checkpoint
    and, recursively, of whatever it was itself initialised from. A model card sums the whole chain."""
    keep = ("step", "train_seconds", "training_config", "sources", "device", "initialised_from", "encoder_weights")
    record = {"path": str(path), **{key: metadata.get(key) for key in keep}}
    card = metadata.get("model_card")
    if card:
        # A bundled release has no training state of its own, only its card: keep the card's stages, so
        # that the chain survives the release file being replaced (as the next release replaces it).
        record["release_stages"] = card.get("stages")
    return record
