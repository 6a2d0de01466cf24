"""Store a validated push exactly once, with its rollups, in one transaction; acknowledge only what committed.

Two stages, so that the gRPC servicer can run them in threads of their own:
:meth:`IngestWriter.check` validates a batch against what the database knows of
its store and works out the rows and rollup sums to write; :meth:`IngestWriter.commit_group`
stores what several checked batches accepted in one transaction
(:class:`~central.ingest.transaction.GroupWriter`) and answers each item.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from central.config import CardinalityLimits, IngestLimits
from central.db.engine import database_file_problem
from central.ingest import validate
from central.ingest.dialects import for_engine
from central.ingest.items import (
    SUMMARY_COLUMNS,
    Batch,
    ItemResult,
    Kind,
    LineCountIn,
    Status,
    SummaryColumns,
    TileIn,
    UptimeIn,
)
from central.ingest.known_ids import KnownIds
from central.ingest.lookups import day_shapes, declared_layouts
from central.ingest.retimed import retimed
from central.ingest.transaction import Accepted, GroupWriter, Stored
from central.timebuckets import day_of
from retail_common.ids import is_id

logger = logging.getLogger(__name__)


def _caused_by_data(e: DBAPIError) -> bool:
    """The database refused the values (too long, out of range, a NUL byte, a broken constraint), not itself
    unavailable: resending the same values cannot help."""
    return isinstance(e, (DataError, IntegrityError))


def _key(batch: Batch, kind: Kind, i: int) -> str:
    """The key item ``i`` of its kind is acknowledged under."""
    if kind is Kind.SUMMARY:
        return batch.summaries.track_id[i]
    return _others(batch)[kind][i].key


def _others(batch: Batch) -> dict[Kind, Sequence[TileIn | LineCountIn | UptimeIn]]:
    """The batch's items other than summaries, by kind, in the order they are answered."""
    return {Kind.TILE: batch.tiles, Kind.LINE_COUNT: batch.line_counts, Kind.CAMERA_UPTIME: batch.uptimes}


def _brief(e: Exception) -> str:
    """An error in one line, without the SQL statement and parameters SQLAlchemy appends."""
    cause = e.orig if isinstance(e, DBAPIError) and e.orig is not None else e
    return f"{type(cause).__name__}: {str(cause).splitlines()[0][:200] if str(cause) else ''}"


ISOLATION_TRANSACTIONS = 64  # most transactions spent finding the items at fault in one batch


@dataclass
class Checked:
    """A batch after :meth:`IngestWriter.check`: what it refused and why, and what it accepted."""

    batch: Batch
    now: float
    rejected: dict[tuple[Kind, int], ItemResult]  # also the items an isolation could not reach (RETRY)
    accepted: Accepted
    retry_reason: str | None = None  # the checks could not read the database: every item is to be resent


@dataclass(frozen=True)
class Committed:
    """A batch after :meth:`IngestWriter.commit_group`: one result per item, and the summaries it stored."""

    results: list[ItemResult]  # in the batch's order (summaries, tiles, line counts, uptimes)
    store_id: str
    summaries: SummaryColumns  # the batch's summaries
    stored: set[int]  # positions in ``summaries`` of those this commit stored

    def stored_rows(self) -> list[dict[str, Any]]:
        """The summaries this commit stored, as their ``track_summaries`` rows, in the batch's order (made only
        when asked for: the live feed's events)."""
        return [
            dict(zip(SUMMARY_COLUMNS, row, strict=True))
            for row in self.summaries.rows(SUMMARY_COLUMNS, sorted(self.stored))
        ]


class IngestWriter:
    """Checks pushed batches and stores what they accepted; publishes nothing (the caller does, from what
    :meth:`commit_group` returns)."""

    def __init__(
        self,
        engine: Engine,
        limits: IngestLimits,
        clock: Callable[[], float] = time.time,
        cardinality: CardinalityLimits | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.clock = clock
        self.known = KnownIds(engine, cardinality or CardinalityLimits())
        self.transaction = GroupWriter(engine, for_engine(engine))

    def push(self, batch: Batch) -> list[ItemResult]:
        """One result per item, in the batch's order (summaries, tiles, line counts, uptimes)."""
        return self.commit(self.check(batch))

    def check(self, batch: Batch) -> Checked:
        """Validate every item (reading what the database knows of the store); nothing is written."""
        now = self.clock()
        checked = Checked(batch, now, {}, Accepted.of(batch.summaries, [], [], []))
        lost = database_file_problem(self.engine)
        if lost:  # acknowledging would lose the data at the next restart: the agent keeps it meanwhile
            logger.error("store %s: batch %s not stored: %s", batch.store_id, batch.batch_id, lost)
            checked.retry_reason = lost
            return checked
        # only ids that can be valid are looked up: PostgreSQL refuses a query holding a NUL byte, and the
        # validator rejects those items with the reason anyway
        named = set(batch.summaries.camera_id) | {c.row["camera_id"] for c in batch.line_counts}
        camera_ids = {c for c in named if is_id(c)}
        try:
            layouts = declared_layouts(self.engine, batch.store_id, camera_ids)
            shapes = day_shapes(self.engine, batch.store_id, batch.tiles)
            self.known.load(batch.store_id)
        except DBAPIError as e:
            checked.retry_reason = self._retry_reason([batch], e)
            return checked
        results = checked.rejected
        summaries, accepted_summaries, tiles, counts = batch.summaries, [], [], []
        reasons = validate.check_summaries(summaries, batch.store_id, now, self.limits, layouts)
        for i, reason in enumerate(reasons):
            if reason:
                results[(Kind.SUMMARY, i)] = ItemResult(Kind.SUMMARY, summaries.track_id[i], Status.REJECTED, reason)
            else:
                accepted_summaries.append(i)
        for i, t in enumerate(batch.tiles):
            start = t.row["bucket_start"]
            day = (t.row["camera_id"], day_of(start)) if math.isfinite(start) else None
            reason = validate.check_tile(t, batch.store_id, now, self.limits, shapes.get(day) if day else None)
            if reason:
                results[(Kind.TILE, i)] = ItemResult(Kind.TILE, t.key, Status.REJECTED, reason)
            else:
                tiles.append(t)
                if day is not None:  # later tiles of that day in this batch must have the same grid
                    shapes.setdefault(day, (t.row["rows"], t.row["cols"]))
        for i, c in enumerate(batch.line_counts):
            reason = validate.check_line_count(c, batch.store_id, now, self.limits, layouts)
            if reason:
                results[(Kind.LINE_COUNT, i)] = ItemResult(Kind.LINE_COUNT, c.key, Status.REJECTED, reason)
            else:
                counts.append(c)
        for i, u in enumerate(batch.uptimes):
            reason = validate.check_uptime(u, now, self.limits)
            if reason:
                results[(Kind.CAMERA_UPTIME, i)] = ItemResult(Kind.CAMERA_UPTIME, u.key, Status.REJECTED, reason)
        # past a bound on the store's cameras, zones or lines: refused alone, before the transaction
        for (kind, i), reason in self.known.refuse(batch, layouts, results.keys()).items():
            results[(kind, i)] = ItemResult(kind, _key(batch, kind, i), Status.REJECTED, reason)
        accepted_summaries = [i for i in accepted_summaries if (Kind.SUMMARY, i) not in results]
        try:
            moved = retimed(self.engine, batch.store_id, summaries, accepted_summaries)
        except DBAPIError as e:
            checked.retry_reason = self._retry_reason([batch], e)
            return checked
        for i, reason in moved.items():
            results[(Kind.SUMMARY, i)] = ItemResult(Kind.SUMMARY, summaries.track_id[i], Status.REJECTED, reason)
        accepted_summaries = [i for i in accepted_summaries if i not in moved]
        tiles = [t for i, t in enumerate(batch.tiles) if (Kind.TILE, i) not in results]
        counts = [c for i, c in enumerate(batch.line_counts) if (Kind.LINE_COUNT, i) not in results]
        uptimes = [u for i, u in enumerate(batch.uptimes) if (Kind.CAMERA_UPTIME, i) not in results]
        checked.accepted = Accepted.of(summaries, accepted_summaries, tiles, counts, uptimes)
        return checked

    def commit(self, checked: Checked) -> list[ItemResult]:
        """Store what :meth:`check` accepted, in one transaction; one result per item, in the batch's order."""
        return self.commit_many([checked])[0]

    def commit_many(self, group: Sequence[Checked]) -> list[list[ItemResult]]:
        """:meth:`commit` of several checked batches in one transaction (:meth:`commit_group`'s results)."""
        return [c.results for c in self.commit_group(group)]

    def commit_group(self, group: Sequence[Checked]) -> list[Committed]:
        """Several checked batches stored in one transaction: one key lookup, one insert per table and one
        update of each rollup row for all of them. Each batch's results are what committing the batches one
        after another, in this order, would give.

        A transaction that the database refuses because of the data (a value a column cannot hold) or that
        fails with any error not the database's is not the other batches' problem: the batches are then
        committed one by one, and a batch that fails alone has the items that cannot be stored found and
        rejected alone (:meth:`_isolate`). Only the database being unavailable answers RETRY.
        """
        live = [c for c in group if c.retry_reason is None]  # the others' checks could not read the database
        outcome: list[Stored | None] = [None] * len(live)
        failure = ""
        if live:
            try:
                outcome = list(self.transaction.store([c.accepted for c in live], max(c.now for c in live)))
            except Exception as e:  # the data, or a defect: it must not fail the pushes grouped with the one at fault
                if isinstance(e, DBAPIError) and not _caused_by_data(e):
                    failure = self._retry_reason([c.batch for c in live], e)
                elif len(live) > 1:
                    return self._one_by_one(group, e)
                else:
                    return [
                        self._isolate(c, e) if c is live[0] else self._committed(c, None, c.retry_reason or "")
                        for c in group
                    ]
        stored = dict(zip(map(id, live), outcome, strict=True))
        return [self._committed(c, stored.get(id(c)), c.retry_reason or failure) for c in group]

    def _one_by_one(self, group: Sequence[Checked], error: Exception) -> list[Committed]:
        logger.warning("a group of %d pushes failed (%s): committing them one by one", len(group), _brief(error))
        return [self.commit_group([c])[0] for c in group]

    def _isolate(self, checked: Checked, error: Exception) -> Committed:
        """The batch's accepted items committed in halves, then quarters, ...: each item that cannot be stored
        alone is rejected with the reason, the rest stored.

        The database becoming unavailable meanwhile answers RETRY for the whole batch (what was stored already
        is a duplicate when it is resent). So does a batch none of whose items could be stored for an error
        that is not the database's: that is central's defect rather than the data's, and the agent keeps
        resending until it is fixed. At most :data:`ISOLATION_TRANSACTIONS` transactions are spent on one
        batch (each holds the write lock other stores wait for): the items not reached by then are told to
        retry, and an agent sets aside the ones that keep coming back.
        """
        batch = checked.batch
        logger.warning(
            "store %s: batch %s could not be stored whole (%s): finding the items at fault",
            batch.store_id,
            batch.batch_id,
            _brief(error),
        )
        stored = Stored(set(), set())
        committed = False  # some part committed (new items or duplicates): the data, not central, is at fault
        faults: dict[tuple[Kind, int], tuple[Exception, bool]] = {}  # item -> error, caused by its data
        parts = [self._items(checked)]
        budget = ISOLATION_TRANSACTIONS
        while parts and budget:
            budget -= 1
            part = parts.pop()
            problem: Exception
            try:
                (done,) = self.transaction.store([self._part(checked, part)], checked.now)
            except DBAPIError as e:
                if not _caused_by_data(e):
                    return self._committed(checked, None, self._retry_reason([batch], e))
                problem, by_data = e, True
            except Exception as e:  # the item's own defect, as above
                problem, by_data = e, False
            else:
                committed = True
                stored.summaries |= done.summaries
                stored.others |= done.others
                continue
            if len(part) > 1:
                parts += [part[len(part) // 2 :], part[: len(part) // 2]]
            else:
                faults[part[0]] = (problem, by_data)
        if not committed and not any(by_data for _, by_data in faults.values()):
            logger.error("store %s: batch %s not stored, agent told to retry", batch.store_id, batch.batch_id)
            return self._committed(checked, None, f"central could not store the batch ({_brief(error)}): resend it")
        for (kind, i), (problem, _) in faults.items():
            key = _key(batch, kind, i)
            reason = f"central cannot store this item ({_brief(problem)}): resending it as is cannot help"
            logger.error("store %s: %s %s rejected: %s", batch.store_id, kind.value, key, reason)
            checked.rejected[(kind, i)] = ItemResult(kind, key, Status.REJECTED, reason)
        unreached = [item for part in parts for item in part]
        if unreached:
            logger.error(
                "store %s: batch %s: %d item(s) not reached within %d transactions, agent told to retry them",
                batch.store_id,
                batch.batch_id,
                len(unreached),
                ISOLATION_TRANSACTIONS,
            )
        for kind, i in unreached:
            key = _key(batch, kind, i)
            reason = f"central could not tell whether this item can be stored ({_brief(error)}): resend it"
            checked.rejected[(kind, i)] = ItemResult(kind, key, Status.RETRY, reason)
        return self._committed(checked, stored, "")

    @staticmethod
    def _items(checked: Checked) -> list[tuple[Kind, int]]:
        """The accepted items of the batch, by kind and position in the batch."""
        batch, accepted = checked.batch, checked.accepted
        tiles = {id(t): i for i, t in enumerate(batch.tiles)}
        counts = {id(c): i for i, c in enumerate(batch.line_counts)}
        uptimes = {id(u): i for i, u in enumerate(batch.uptimes)}
        return (
            [(Kind.SUMMARY, i) for i in accepted.summaries]
            + [(Kind.TILE, tiles[id(t)]) for t in accepted.tiles]
            + [(Kind.LINE_COUNT, counts[id(c)]) for c in accepted.counts]
            + [(Kind.CAMERA_UPTIME, uptimes[id(u)]) for u in accepted.uptimes]
        )

    @staticmethod
    def _part(checked: Checked, part: Sequence[tuple[Kind, int]]) -> Accepted:
        batch = checked.batch
        return Accepted.of(
            batch.summaries,
            [i for kind, i in part if kind is Kind.SUMMARY],
            [batch.tiles[i] for kind, i in part if kind is Kind.TILE],
            [batch.line_counts[i] for kind, i in part if kind is Kind.LINE_COUNT],
            [batch.uptimes[i] for kind, i in part if kind is Kind.CAMERA_UPTIME],
        )

    def _committed(self, checked: Checked, stored: Stored | None, retry_reason: str) -> Committed:
        """One result per item of the batch, in its order; ``stored`` None: nothing of it was stored."""
        batch, rejected = checked.batch, checked.rejected
        keys = batch.summaries.track_id
        if stored is None:
            ordered = [
                rejected.get((Kind.SUMMARY, i)) or ItemResult(Kind.SUMMARY, k, Status.RETRY, retry_reason)
                for i, k in enumerate(keys)
            ]
        else:
            new = stored.summaries
            ordered = [
                rejected.get((Kind.SUMMARY, i))
                or ItemResult(Kind.SUMMARY, k, Status.STORED if i in new else Status.DUPLICATE)
                for i, k in enumerate(keys)
            ]
        for kind, items in _others(batch).items():
            for i, item in enumerate(items):
                if (kind, i) in rejected:
                    ordered.append(rejected[(kind, i)])
                elif stored is None:
                    ordered.append(ItemResult(kind, item.key, Status.RETRY, retry_reason))
                elif id(item) in stored.others:
                    ordered.append(ItemResult(kind, item.key, Status.STORED))
                else:
                    ordered.append(ItemResult(kind, item.key, Status.DUPLICATE))
        return Committed(ordered, batch.store_id, batch.summaries, stored.summaries if stored is not None else set())

    @staticmethod
    def _retry_reason(batches: Sequence[Batch], e: DBAPIError) -> str:
        logger.warning(
            "%d batch(es) not stored, agents told to retry (%s): %s",
            len(batches),
            ", ".join(f"store {b.store_id} batch {b.batch_id}" for b in batches[:5]),
            e,
        )
        return f"database unavailable ({type(e.orig).__name__ if e.orig else type(e).__name__}): {str(e.orig)[:200]}"
