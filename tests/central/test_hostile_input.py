"""Hostile input, built from the summary's field table: for every field, values at and past each of its bounds
are pushed on both databases. Each bad one is REJECTED alone with its reason and never RETRY; the good ones of
the same push, and another store's push at the same time, are stored. A value that validation misses and the
database refuses (simulated by loosening a limit) is rejected alone too, and never stalls the store."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from grpc_fixtures import HOUR_START, auth, columns_of, push, running_ingest, stamp, stub, summary
from retail_proto.v1 import edge_sync_pb2 as pb
from sqlalchemy import func, select

from central.config import IngestLimits
from central.db.engine import make_engine
from central.db.migrate import upgrade
from central.db.schema import line_counts, track_summaries
from central.ingest.convert import batch_in
from central.ingest.items import Status
from central.ingest.writer import IngestWriter
from central.stores import create_store
from retail_common.fields import SUMMARY_FIELDS, Kind
from retail_common.ids import ID_MAX

Edit = Callable[[Any], None]  # changes a WireSummary before it is encoded
ColumnsEdit = Callable[[pb.SummaryColumns, int], None]  # changes summary i's values on the wire
NOW = time.time()


def setting(name: str, value: object) -> Edit:
    return lambda s: setattr(s, name, value)


def on_wire(column: str, value: object) -> ColumnsEdit:
    def edit(c: pb.SummaryColumns, i: int) -> None:
        getattr(c, column)[i] = value

    return edit


def at_and_past_bounds(name: str, kind: Kind, max_length: int | None) -> list[tuple[str, Edit | ColumnsEdit, bool]]:
    """(what, edit, accepted) for one scalar field of the table, by its kind and bounds."""
    u = str(uuid.uuid4())
    cases: dict[Kind, list[tuple[str, object, bool]]] = {
        Kind.UUID: [("a fresh UUID4", u, True), ("upper case", u.upper(), False), ("trailing newline", u + "\n", False),
                    ("not a UUID", "person-42", False), ("a UUID1", str(uuid.uuid1()), False)],
        Kind.ID: [("at the length bound", "c" * ID_MAX, True), ("past it", "c" * (ID_MAX + 1), False),
                  ("trailing newline", "cam1\n", False), ("a NUL byte", "cam\x001", False), ("empty", "", False),
                  ("leading dash", "-cam", False)],
        Kind.TEXT: [("at the length bound", "m" * (max_length or 0), True),
                    ("past it", "m" * ((max_length or 0) + 1), False),
                    ("a NUL byte", "model\x00/1", False), ("trailing newline", "model/1\n", False)],
        Kind.LABEL: [("a label", "frustrated", True), ("unknown", "angry", False),
                     ("trailing newline", "interested\n", False)],
        Kind.TIME: [("NaN", math.nan, False), ("infinite", math.inf, False), ("1970", 0.0, False),
                    ("three days ahead", NOW + 3 * 86400, False)],
        Kind.REAL: [("negative", -1.0, False), ("NaN", math.nan, False), ("infinite", math.inf, False),
                    ("absurd", 1e30, False)],
        Kind.COUNT: [("at the plausible bound", 100_000, True), ("past it", 100_001, False),
                     ("the largest uint32", 2**32 - 1, False)],
    }  # fmt: skip
    out: list[tuple[str, Edit | ColumnsEdit, bool]] = []
    for what, value, accepted in cases[kind]:
        if kind is Kind.LABEL and not accepted:
            out.append((what, setting(name, value), accepted))
        elif kind in (Kind.COUNT,):
            out.append((what, on_wire(name, value), accepted))
        else:
            out.append((what, setting(name, value), accepted))
    return out


def zones_edit(entries: list[tuple[str, float, int]]) -> Edit:
    def edit(s: Any) -> None:
        s.zone_dwell = {z: sec for z, sec, _ in entries}
        s.zone_visits = {z: v for z, _, v in entries}
        s.zone_order = tuple(z for z, _, _ in entries)

    return edit


def path_edit(points: list[tuple[float, float, float]]) -> Edit:
    return setting("path", tuple(points))


COMPOUND: dict[str, list[tuple[str, Edit | ColumnsEdit, bool]]] = {
    "zone_dwell": [
        ("a zone id with a newline", zones_edit([("z1\n", 5.0, 1)]), False),
        ("a zone id past the length bound", zones_edit([("z" * (ID_MAX + 1), 5.0, 1)]), False),
        ("NaN seconds", zones_edit([("z1", math.nan, 1)]), False),
        ("longer than the track", zones_edit([("z1", 500.0, 1)]), False),
    ],
    "zone_visits": [
        ("no visit", on_wire("zone_visits", 0), False),
        ("beyond a 32-bit column", on_wire("zone_visits", 2**31), False),
        ("15 a second of the 105 s track", on_wire("zone_visits", 1 + 15 * 105), True),
        ("more than 15 a second", on_wire("zone_visits", 2 + 15 * 105), False),
    ],
    "zone_order": [("a zone with no dwell", setting("zone_order", ("z1", "nowhere")), False)],
    "behavior_probabilities": [
        ("an unknown label", setting("behavior_probabilities", {"interested": 0.5, "angry": 0.5}), False),
        # (NaN on the wire means "no value for that label")
        ("above 1", setting("behavior_probabilities", {"interested": 1.5, "hesitant": -0.5}), False),
        ("infinite", setting("behavior_probabilities", {"interested": math.inf}), False),
        ("not summing to 1", setting("behavior_probabilities", {"interested": 0.5}), False),
    ],
    "path": [
        ("64 points", path_edit([(i * 0.5, 0.1 * i, 1.0) for i in range(64)]), True),
        ("65 points", path_edit([(i * 0.5, 0.1 * i, 1.0) for i in range(65)]), False),
        ("a NaN point", path_edit([(0.0, 0.0, 0.0), (1.0, math.nan, 0.0)]), False),
        ("time going back", path_edit([(0.0, 0.0, 0.0), (5.0, 1.0, 0.0), (2.0, 2.0, 0.0)]), False),
        ("100 km away", path_edit([(0.0, 1e5, 0.0)]), False),
    ],
}


def cases() -> list[tuple[str, str, Edit | ColumnsEdit, bool]]:
    """(field, what, edit, accepted) for every field of the table a push carries."""
    out = []
    for f in SUMMARY_FIELDS:
        if not f.proto:
            continue  # store_id is the push's, checked against the token
        table = COMPOUND[f.name] if f.name in COMPOUND else at_and_past_bounds(f.name, f.kind, f.max_length)
        out += [(f.name, what, edit, accepted) for what, edit, accepted in table]
    return out


def is_wire_edit(edit: Edit | ColumnsEdit) -> bool:
    return edit.__code__.co_argcount == 2


def line_count(store: str, offset_s: int, count: int, line_id: str = "entry") -> pb.LineCount:
    """``count`` people in over the minute ``offset_s`` seconds after a quarter hour."""
    start = HOUR_START - HOUR_START % 900 + offset_s
    return pb.LineCount(store_id=store, camera_id="door", line_id=line_id, bucket_start=stamp(start),
                        bucket_seconds=60, in_count=count, out_count=1)  # fmt: skip


def test_every_field_of_the_table_has_hostile_cases() -> None:
    covered = {name for name, _, _, accepted in cases() if not accepted}
    assert covered == {f.name for f in SUMMARY_FIELDS if f.proto}


def count_rows(url: str, table: Any = track_summaries) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(n)


def test_hostile_values_are_rejected_alone_and_never_retried(database_url: str) -> None:
    engine = make_engine(database_url)
    tokens = {store: create_store(engine, store) for store in ("s1", "s2")}
    table = cases()
    made = []
    for _field, _what, edit, _accepted in table:
        s = summary("s1", seconds=105.0)
        if not is_wire_edit(edit):
            edit(s)
        made.append(s)
    good = [summary("s1"), summary("s1")]
    columns = columns_of([good[0], *made, good[1]])
    for i, (_field, _what, edit, _accepted) in enumerate(table, start=1):
        if is_wire_edit(edit):
            edit(columns, i)
    others = push("s2", [summary("s2", start=HOUR_START + 60 * k) for k in range(50)])
    answers: dict[str, pb.PushAck] = {}
    with running_ingest(database_url) as central:

        def send(store: str, request: pb.PushRequest) -> None:
            answers[store] = stub(central.port).Push(request, metadata=auth(tokens[store]), timeout=60)

        threads = [
            threading.Thread(target=send, args=("s1", pb.PushRequest(store_id="s1", summary_columns=columns))),
            threading.Thread(target=send, args=("s2", others)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    results = list(answers["s1"].results)
    assert [r.status for r in answers["s2"].results] == [pb.ITEM_STATUS_STORED] * 50
    assert results[0].status == results[-1].status == pb.ITEM_STATUS_STORED
    wrong = []
    for (field, what, _edit, accepted), r in zip(table, results[1:-1], strict=True):
        expected = pb.ITEM_STATUS_STORED if accepted else pb.ITEM_STATUS_REJECTED
        if r.status != expected or (not accepted and not r.reason):
            wrong.append(f"{field} {what}: {pb.ItemStatus.Name(r.status)} {r.reason!r}")
    assert wrong == []
    assert all(r.status != pb.ITEM_STATUS_RETRY for r in results)
    assert count_rows(database_url) == 50 + 2 + sum(accepted for *_, accepted in table)
    engine.dispose()


def test_a_value_validation_misses_and_the_database_refuses_is_rejected_alone(database_url: str) -> None:
    """The backstop: with the plausibility limit loosened, a line count past a 32-bit column reaches the
    transaction. PostgreSQL refuses it: that count alone is rejected (SQLite stores 64-bit integers). The push
    grouped with it, and the rest of its own push, are stored; nothing is RETRY."""
    engine = make_engine(database_url)
    upgrade(engine)
    for store in ("s1", "s2"):
        create_store(engine, store)
    loosened = {"max_count_per_bucket": 2**33, "max_crossings_per_s": 1e9}
    loose = IngestLimits.model_construct(**{**IngestLimits().model_dump(), **loosened})
    writer = IngestWriter(engine, loose)
    now = time.time()
    poisoned = writer.check(
        batch_in(
            push("s1", [summary("s1")], line_counts=[line_count("s1", 0, 2**32 - 1), line_count("s1", 60, 3)]), now
        )
    )
    neighbour = writer.check(batch_in(push("s2", [summary("s2")], line_counts=[line_count("s2", 0, 7)]), now))
    first, second = writer.commit_many([poisoned, neighbour])
    assert [r.status for r in second] == [Status.STORED, Status.STORED]
    postgres = engine.dialect.name == "postgresql"
    assert [r.status for r in first] == [
        Status.STORED,
        Status.REJECTED if postgres else Status.STORED,
        Status.STORED,
    ]
    if postgres:
        assert "central cannot store this item" in first[1].reason
        assert "resending it as is cannot help" in first[1].reason
    assert count_rows(database_url, line_counts) == (2 if postgres else 3)
    assert [r.status for r in writer.push(poisoned.batch)] == [
        Status.DUPLICATE,
        Status.REJECTED if postgres else Status.DUPLICATE,
        Status.DUPLICATE,
    ]
    engine.dispose()


def test_line_counts_past_their_bounds_are_rejected_alone(database_url: str) -> None:
    """A count is bounded per second of its bucket, and buckets are aligned, so that no hour's sum can overflow
    the hourly rollup's 32-bit column."""
    engine = make_engine(database_url)
    upgrade(engine)
    create_store(engine, "s1")
    writer = IngestWriter(engine, IngestLimits())
    sent = {
        "20 a second": line_count("s1", 0, 1200),
        "past 20 a second": line_count("s1", 60, 1201),
        "not aligned": line_count("s1", 61, 1),
        "a NUL in the line id": line_count("s1", 120, 1, line_id="en\x00try"),
    }
    results = writer.push(batch_in(push("s1", line_counts=list(sent.values())), time.time()))
    statuses = dict(zip(sent, (r.status for r in results), strict=True))
    assert statuses == {
        "20 a second": Status.STORED,
        "past 20 a second": Status.REJECTED,
        "not aligned": Status.REJECTED,
        "a NUL in the line id": Status.REJECTED,
    }
    assert "more than 1200 in 60 s" in results[1].reason
    assert "not a multiple of bucket_seconds 60" in results[2].reason
    engine.dispose()


def test_finding_the_items_at_fault_is_bounded(database_url: str) -> None:
    """A batch full of items the database refuses costs at most ISOLATION_TRANSACTIONS transactions: what was
    not reached is told to retry (the agent sets aside what keeps coming back), the rest is answered."""
    engine = make_engine(database_url)
    upgrade(engine)
    create_store(engine, "s1")
    loosened = {"max_count_per_bucket": 2**33, "max_crossings_per_s": 1e9}
    writer = IngestWriter(engine, IngestLimits.model_construct(**{**IngestLimits().model_dump(), **loosened}))
    counts = [line_count("s1", 60 * k, 2**32 - 1 if k % 2 else 1) for k in range(200)]  # every other one poisoned
    results = writer.push(batch_in(push("s1", line_counts=counts), time.time()))
    statuses = [r.status for r in results]
    if engine.dialect.name == "postgresql":
        assert Status.RETRY in statuses  # 100 faults need more than 64 transactions to find
        assert Status.REJECTED in statuses
        assert all("resend it" in r.reason for r in results if r.status is Status.RETRY)
        assert all(statuses[k] is not Status.STORED for k in range(1, 200, 2))  # no poisoned count stored
    else:
        assert statuses == [Status.STORED] * 200
    engine.dispose()
