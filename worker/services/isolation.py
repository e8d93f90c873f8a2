"""Store a part so that one bad input never costs the others.

Two ways one input can take its whole batch down, both handled around `ingest_batch`:

- The database refuses the batch because of one input (an index entry too large, a byte
  it cannot store, a value it cannot adapt). The batch is rehearsed in halves (`ingest_batch`
  with `dry_run`, rolled back) until the offending inputs are found; they are rejected with
  the database's error kind and the rest is stored.
- An input kills or times out its worker, so the part is redelivered. A redelivery works
  one input at a time first, recording each (committed) in the part's `current_input`
  before it rehearses it; a delivery that dies leaves the input it died on. Once the part
  is past NEWS_INGEST_MAX_TASK_DELIVERIES, the next delivery rejects that input alone
  (`poisoned_inputs`) and stores the others.

Feed entries rejected here are remembered (`feed_entry_rejects`) so the next fetch of their
feed does not bring them back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import psycopg
import structlog
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from schemas import IngestSummary
from worker.errors import RejectedInput
from worker.services import ingest
from worker.services.arrivals import Arrival, storable_text
from worker.settings import Settings
from worker.storage import jobs
from worker.storage.entry_rejects import remember_rejected_entries
from worker.storage.sources import lookup_sources

log = structlog.get_logger(__name__)

# SQLSTATE classes that are the database's or the network's fault, not the input's:
# connection (08), resources (53), operator intervention (57), system (58), transaction
# rollback (40: serialization failures, deadlocks), integrity (23: a race another delivery
# won; a retry re-reads). Everything else a statement raises is taken as the input's.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "23", "40", "53", "57", "58"})
# Rounds of "find the offenders, store the rest": a second round only when the rest is
# refused again (offenders that only fail together with others).
_ROUNDS = 3


def store_part(
    *, engine: Engine, claim: jobs.PartClaim, arrivals: Sequence[Arrival], settings: Settings
) -> IngestSummary | None:
    """Store a claimed part's inputs; a first delivery in one go, a redelivery one input
    at a time first. Returns the counts, or None if another delivery stored the part."""
    arrivals = list(arrivals)
    poisoned = set(claim.poisoned_inputs)
    # Before the delivery cap, the input a dead delivery was on is tried again: the death
    # may have been the machine's (a deploy, a broker restart, a neighbour's OOM) and
    # `jobs.resume` re-sends count as deliveries too. Past the cap it is rejected alone.
    died_on = claim.died_on if claim.attempts > settings.max_task_deliveries else None
    if died_on is not None and 0 <= died_on < len(arrivals):
        with engine.begin() as connection:
            poisoned = set(
                jobs.poison_input(
                    connection=connection,
                    job_id=claim.job_id,
                    part_no=claim.part_no,
                    index=died_on,
                    poisoned=sorted(poisoned),
                )
            )
        log.error(
            "input killed or timed out its worker: rejected",
            job_id=claim.job_id,
            part_no=claim.part_no,
            input=died_on,
            location=arrivals[died_on].location,
        )
    for index in sorted(poisoned):
        if 0 <= index < len(arrivals) and arrivals[index].rejected is None:
            arrivals[index] = _rejected(
                arrivals[index],
                "worker died or timed out while ingesting this input "
                f"(part delivered {claim.attempts - 1} times)",
            )
    if claim.attempts > 1:
        # Where the last delivery got to: past the input just rejected, else back at the
        # one it was on.
        start = 0
        if claim.current_input is not None:
            start = claim.current_input + (1 if died_on is not None else 0)
        for index in range(start, len(arrivals)):
            if arrivals[index].rejected is not None or arrivals[index].raw is None:
                continue
            _mark(engine, claim, index)
            error = _rehearse(engine, claim, [arrivals[index]], settings)
            if error is not None:
                arrivals[index] = _refused(arrivals[index], error)
        _mark(engine, claim, None)
    return _store_isolating(engine, claim, arrivals, settings)


def _mark(engine: Engine, claim: jobs.PartClaim, index: int | None) -> None:
    with engine.begin() as connection:
        jobs.mark_current_input(
            connection=connection,
            job_id=claim.job_id,
            part_no=claim.part_no,
            index=index,
            attempt=claim.attempts,
        )


def refusal_kind(error: BaseException) -> str | None:
    """The kind of error an input made the database (or its driver) raise, for the input's
    reject; None for faults of the database, the network, the worker or our own code,
    which are not the input's and propagate (retried, or seen)."""
    cause = getattr(error, "orig", None) or error
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return None if sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES else type(cause).__name__
    if isinstance(
        error,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.IntegrityError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError
        | psycopg.OperationalError
        | psycopg.InterfaceError,
    ):
        return None
    if isinstance(cause, sa_exc.StatementError | psycopg.Error):
        return type(cause).__name__
    # What a driver raises on a value it cannot bind (a dict for a text column: "bad
    # argument type"; an unencodable string), and too deep a value.
    if isinstance(cause, TypeError | ValueError | OverflowError | RecursionError):
        return type(cause).__name__
    return None


def _store_isolating(
    engine: Engine, claim: jobs.PartClaim, arrivals: list[Arrival], settings: Settings
) -> IngestSummary | None:
    """`ingest_batch`, and when an input makes it fail: find that input, reject it, store
    the rest."""
    for _ in range(_ROUNDS):
        _remember_feed_entries(engine, arrivals)
        try:
            return ingest.ingest_batch(
                engine=engine,
                job_id=claim.job_id,
                part_no=claim.part_no,
                arrivals=arrivals,
                settings=settings,
            )
        except Exception as error:
            kind = refusal_kind(error)
            if kind is None:
                raise
            pending = [i for i, a in enumerate(arrivals) if a.rejected is None and a.raw]
            log.warning(
                "batch refused: looking for the input that caused it",
                job_id=claim.job_id,
                part_no=claim.part_no,
                error=_describe(error),
                inputs=len(pending),
            )
            offenders = _offenders(engine, claim, arrivals, pending, settings, known=error)
            if not offenders or (len(pending) > 1 and len(offenders) == len(pending)):
                # No input alone, or every input alone: not an input's fault after all.
                raise
            for index, offence in offenders.items():
                arrivals[index] = _refused(arrivals[index], offence)
    raise RuntimeError(f"batch still refused after {_ROUNDS} rounds of isolating inputs")


def _offenders(
    engine: Engine,
    claim: jobs.PartClaim,
    arrivals: list[Arrival],
    indexes: list[int],
    settings: Settings,
    *,
    known: BaseException | None = None,
) -> dict[int, BaseException]:
    """The inputs among `indexes` that make a rehearsal fail, found by halving (`known`:
    the error the whole of `indexes` is already known to raise)."""
    if not indexes:
        return {}
    error = known or _rehearse(engine, claim, [arrivals[i] for i in indexes], settings)
    if error is None:
        return {}
    if len(indexes) == 1:
        return {indexes[0]: error}
    middle = len(indexes) // 2
    return _offenders(engine, claim, arrivals, indexes[:middle], settings) | _offenders(
        engine, claim, arrivals, indexes[middle:], settings
    )


def _rehearse(
    engine: Engine, claim: jobs.PartClaim, arrivals: list[Arrival], settings: Settings
) -> BaseException | None:
    """Run the batch without committing: the error an input makes it raise, or None."""
    try:
        ingest.ingest_batch(
            engine=engine,
            job_id=claim.job_id,
            part_no=claim.part_no,
            arrivals=arrivals,
            settings=settings,
            dry_run=True,
        )
    except Exception as error:
        if refusal_kind(error) is None:
            raise
        return error
    return None


def _describe(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return storable_text(f"{type(cause).__name__}: {first_line}"[:500])


def _refused(arrival: Arrival, error: BaseException) -> Arrival:
    return _rejected(arrival, f"refused by the database: {_describe(error)}")


def _rejected(arrival: Arrival, reason: str) -> Arrival:
    raw = arrival.raw.body.encode("utf-8", "replace")[: 1024 * 1024] if arrival.raw else None
    return dataclasses.replace(
        arrival,
        raw=None,
        location=storable_text(arrival.location) if arrival.location else None,
        rejected=RejectedInput(reason, raw=raw),
    )


def _remember_feed_entries(engine: Engine, arrivals: list[Arrival]) -> None:
    """Record the rejected feed entries of a batch, so the next fetch leaves them out."""
    rejected = [a for a in arrivals if a.rejected is not None and a.feed_entry is not None]
    if not rejected:
        return
    with engine.begin() as connection:
        ids = lookup_sources(
            connection=connection,
            names=sorted({a.feed_entry.feed_url for a in rejected if a.feed_entry}),
        )
        remember_rejected_entries(
            connection=connection,
            rows=[
                (ids[key.feed_url], key.guid_key, key.content_key, arrival.rejected.reason)
                for arrival in rejected
                if (key := arrival.feed_entry) is not None
                and arrival.rejected is not None
                and key.feed_url in ids
            ],
        )
