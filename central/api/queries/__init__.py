"""The REST API's reads, one module per resource, as SQLAlchemy Core that runs on SQLite and PostgreSQL alike.

Aggregates read only the rollup tables (``traffic_hourly``, ``line_hourly``,
``uptime_hourly``, ``heatmap_daily``) through their ``(store_id, hour|day)``
prefixes; only the paged track listing touches ``track_summaries``, through its
``(store_id, start_ts)`` index. A store's local day buckets are computed from the
integer hour column (``hour + offset - (hour + offset) % 86400``, the offset of
each stretch between clock changes as a ``CASE``) with every constant inlined, so
the GROUP BY expression is the same text as the selected one on PostgreSQL.
"""
