"""Identity of an article: `worker.pipeline.identity` (this name is kept for its importers)."""

from __future__ import annotations

from worker.pipeline.identity import content_hash

__all__ = ["content_hash"]
