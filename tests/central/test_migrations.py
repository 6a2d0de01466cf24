"""Alembic creates exactly the schema the code uses, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import uuid

import numpy as np
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, select, text

from central.db import paths
from central.db.migrate import alembic_config, current_revision, head_revision, upgrade
from central.db.schema import agent_heartbeats, agents, metadata, stores, track_summaries


def test_migrated_database_matches_the_schema(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    assert upgrade(engine) == head_revision(engine)


POINTS = [[0.0, 1.5, 2.25], [29.999, 3.125, -4.0]]


def _summary_values(track_id: str, store_id: str, start: float, path: object) -> dict[str, object]:
    return {
        "track_id": track_id,
        "store_id": store_id,
        "camera_id": "cam1",
        "start_ts": start,
        "end_ts": start + 30,
        "dwell_s": 30.0,
        "distance_m": 4.0,
        "mean_speed_mps": 0.2,
        "max_speed_mps": 0.9,
        "stop_count": 1,
        "behavior": "interested",
        "probabilities": None,
        "zone_dwell": "[]",
        "zone_order": "[]",
        "path": path,
        "detector_model": "yolov8n/1",
        "behavior_model": "behavior-classifier/2",
        "received_at": start + 60,
    }


def test_summaries_stored_under_0001_survive_0002_and_its_downgrade(engine: Engine) -> None:
    """0002 rebuilds track_summaries around an insertion-ordered id: stored summaries are kept both ways."""
    config = alembic_config(engine)
    command.downgrade(config, "0001")
    as_json = json.dumps(POINTS)
    old = [
        _summary_values(str(uuid.uuid4()), store, start, as_json)
        for store, start in [("s2", 2e9), ("s1", 1.9e9), ("s1", 1.8e9)]
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO track_summaries ("
                + ", ".join(old[0])
                + ") VALUES ("
                + ", ".join(f":{k}" for k in old[0])
                + ")"
            ),
            old,
        )
    assert upgrade(engine) == head_revision(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(track_summaries.c.id, track_summaries.c.track_id, track_summaries.c.path).order_by(
                track_summaries.c.id
            )
        ).all()
    # copied in store and time order, so ids follow it
    assert [r.track_id for r in rows] == [old[2]["track_id"], old[1]["track_id"], old[0]["track_id"]]
    assert all(paths.readable(r.path) == POINTS for r in rows)  # JSON paths packed on the way
    with engine.begin() as conn:  # the same UUID in another store is another summary now
        conn.execute(
            insert(track_summaries), [_summary_values(str(old[0]["track_id"]), "s3", 2e9, paths.pack(np.array(POINTS)))]
        )
    command.downgrade(config, "0001")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT track_id, store_id, path FROM track_summaries ORDER BY track_id")).all()
    assert sorted((r.track_id, r.store_id) for r in kept) == sorted(
        (str(v["track_id"]), str(v["store_id"])) for v in old
    )
    assert all(json.loads(r.path) == POINTS for r in kept)
    assert upgrade(engine) == head_revision(engine)


def _agent_values(agent_id: str, store_id: str, last_seen: float) -> dict[str, object]:
    return {
        "agent_id": agent_id,
        "store_id": store_id,
        "first_seen": 1.7e9,
        "last_seen": last_seen,
        "agent_version": "0.1.0",
        "models": "[]",
        "cameras": "[]",
        "outbox_backlog": 3,
        "last_error": "",
    }


def test_agents_stored_under_0002_survive_0003_and_its_downgrade(engine: Engine) -> None:
    """0003 keys agents and their history by store and agent id: stored agents and heartbeats are kept both ways."""
    config = alembic_config(engine)
    command.downgrade(config, "0002")
    with engine.begin() as conn:
        conn.execute(insert(agents), [_agent_values("edge-1", "s1", 1.8e9), _agent_values("edge-2", "s2", 1.8e9)])
        conn.execute(
            text("INSERT INTO agent_heartbeats (agent_id, received_at, payload) VALUES (:a, :t, :p)"),
            [
                {"a": "edge-1", "t": 1.8e9 - 30, "p": json.dumps({"store_id": "s1", "outbox_backlog": 1})},
                {"a": "edge-1", "t": 1.8e9, "p": json.dumps({"store_id": "s1", "outbox_backlog": 2})},
                {"a": "edge-2", "t": 1.8e9, "p": "not json"},  # no store in it: its agent's store
                {"a": "gone", "t": 1.8e9, "p": "{}"},  # no store anywhere: dropped
            ],
        )
    assert upgrade(engine) == head_revision(engine)
    with engine.connect() as conn:
        kept = conn.execute(select(agents.c.store_id, agents.c.agent_id, agents.c.outbox_backlog)).all()
        history = conn.execute(
            select(agent_heartbeats.c.store_id, agent_heartbeats.c.agent_id, agent_heartbeats.c.received_at)
        ).all()
    assert sorted(kept) == [("s1", "edge-1", 3), ("s2", "edge-2", 3)]
    assert sorted(history) == [("s1", "edge-1", 1.8e9 - 30), ("s1", "edge-1", 1.8e9), ("s2", "edge-2", 1.8e9)]

    with engine.begin() as conn:  # the same agent id in another store is another agent now
        conn.execute(insert(agents), [_agent_values("edge-1", "s2", 1.9e9)])
        conn.execute(
            insert(agent_heartbeats),
            [{"store_id": "s2", "agent_id": "edge-1", "received_at": 1.9e9, "payload": "{}"}],
        )
    command.downgrade(config, "0002")
    with engine.connect() as conn:  # one row per agent id: the last seen, with its own history
        kept = conn.execute(text("SELECT agent_id, store_id FROM agents ORDER BY agent_id")).all()
        history = conn.execute(text("SELECT agent_id, received_at FROM agent_heartbeats ORDER BY agent_id")).all()
    assert [tuple(r) for r in kept] == [("edge-1", "s2"), ("edge-2", "s2")]
    assert [tuple(r) for r in history] == [("edge-1", 1.9e9), ("edge-2", 1.8e9)]
    assert upgrade(engine) == head_revision(engine)


def test_stores_under_0003_read_in_utc_after_0004_and_survive_its_downgrade(engine: Engine) -> None:
    """0004 gives existing stores the UTC zone they were shown in, and its downgrade keeps them."""
    config = alembic_config(engine)
    command.downgrade(config, "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO stores (store_id, name, token_salt, token_hash, created_at, token_rotated_at) "
                "VALUES ('s1', 'Main street', :b, :b, 1.8e9, 1.8e9)"
            ),
            {"b": b"x"},
        )
    assert upgrade(engine) == head_revision(engine)
    with engine.connect() as conn:
        assert conn.execute(select(stores.c.store_id, stores.c.timezone)).all() == [("s1", "UTC")]
    command.downgrade(config, "0003")
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(text("SELECT store_id, name FROM stores"))] == [("s1", "Main street")]


def test_summaries_stored_before_0006_get_the_confidence_of_their_label(engine: Engine) -> None:
    """0006 adds behavior_confidence and fills it from each stored row's probabilities; NULL where it cannot."""
    config = alembic_config(engine)
    command.downgrade(config, "-1")  # the revision before 0006, whichever the chain puts there
    with_probs = _summary_values(str(uuid.uuid4()), "s1", 1.8e9, paths.pack(np.array(POINTS)))
    with_probs["probabilities"] = json.dumps({"interested": 0.42, "hesitant": 0.58})
    without = _summary_values(str(uuid.uuid4()), "s1", 1.9e9, paths.pack(np.array(POINTS)))
    unclassified = {**_summary_values(str(uuid.uuid4()), "s1", 2.0e9, paths.pack(np.array(POINTS))), "behavior": None}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO track_summaries ("
                + ", ".join(without)
                + ") VALUES ("
                + ", ".join(f":{k}" for k in without)
                + ")"
            ),
            [with_probs, without, unclassified],
        )
    assert upgrade(engine) == head_revision(engine)
    t = track_summaries.c
    with engine.connect() as conn:
        got = {r.track_id: r.behavior_confidence for r in conn.execute(select(t.track_id, t.behavior_confidence))}
    assert got == {with_probs["track_id"]: 0.42, without["track_id"]: None, unclassified["track_id"]: None}
    command.downgrade(config, "-1")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM track_summaries")).scalar_one() == 3
    assert upgrade(engine) == head_revision(engine)
