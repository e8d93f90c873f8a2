"""Errors that cross layers: bad input that is rejected, and faults that are retried."""

from __future__ import annotations


class RejectedInput(Exception):
    """Input we will never be able to ingest: kept in `rejects` with this reason, never retried."""

    def __init__(self, reason: str, *, raw: bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class FetchError(Exception):
    """A feed could not be fetched; `kind` names the failure for metrics and `feeds list`."""

    def __init__(self, kind: str, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_s = retry_after_s
