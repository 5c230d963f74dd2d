"""One schema and one migration list for SQLite and PostgreSQL.

Statements use portable SQL; the only dialect words are the ``{autoid}`` and ``{blob}`` placeholders, filled by
each backend. A migration that differs by backend is a dict of statements per :attr:`Database.dialect`
(``sqlite``, ``postgres``): PostgreSQL's events are partitioned by day of ``stored`` from migration 9
(:mod:`collector.store.partitions`). Times are epoch seconds (``DOUBLE PRECISION``), hour buckets are epoch
seconds at the hour start, ``events.payload`` is the message text as received, and a missing camera is stored as
``''`` so it can be part of a primary key.
"""

from __future__ import annotations

Migration = tuple[str, ...] | dict[str, tuple[str, ...]]

#: indexes for the dashboard's and the fleet's reads, on both backends (migration 9)
_READ_INDEXES = (
    "CREATE INDEX events_kind_stored ON events (kind, stored)",  # device health, detections: kind, stored range
    "CREATE INDEX shelf_oos_store_open ON shelf_oos (store, start_ts) WHERE end_ts IS NULL",  # open alerts
)

MIGRATIONS: tuple[Migration, ...] = (
    (  # 1: events, devices, roll-ups, shelf intervals, sales, dead letters
        """CREATE TABLE events (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, store TEXT NOT NULL, device TEXT NOT NULL, camera TEXT,
            seq BIGINT NOT NULL, ts DOUBLE PRECISION NOT NULL, stored DOUBLE PRECISION NOT NULL,
            payload TEXT NOT NULL)""",
        "CREATE INDEX events_stored ON events (stored)",
        """CREATE TABLE devices (
            store TEXT NOT NULL, device TEXT NOT NULL, seq_min BIGINT NOT NULL, seq_max BIGINT NOT NULL,
            received BIGINT NOT NULL, last_ts DOUBLE PRECISION NOT NULL, PRIMARY KEY (store, device))""",
        """CREATE TABLE device_status (
            store TEXT NOT NULL, device TEXT NOT NULL, state TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
            clean INTEGER, PRIMARY KEY (store, device))""",
        """CREATE TABLE footfall_hourly (
            store TEXT NOT NULL, camera TEXT NOT NULL, line TEXT NOT NULL, hour BIGINT NOT NULL,
            n_in BIGINT NOT NULL, n_out BIGINT NOT NULL, PRIMARY KEY (store, hour, camera, line))""",
        """CREATE TABLE occupancy_hourly (
            store TEXT NOT NULL, camera TEXT NOT NULL, zone TEXT NOT NULL, hour BIGINT NOT NULL,
            samples BIGINT NOT NULL, total DOUBLE PRECISION NOT NULL, peak BIGINT NOT NULL,
            PRIMARY KEY (store, hour, camera, zone))""",
        """CREATE TABLE occupancy_live (
            store TEXT NOT NULL, camera TEXT NOT NULL, zone TEXT NOT NULL, n BIGINT NOT NULL,
            ts DOUBLE PRECISION NOT NULL, PRIMARY KEY (store, camera, zone))""",
        """CREATE TABLE dwell_hourly (
            store TEXT NOT NULL, camera TEXT NOT NULL, zone TEXT NOT NULL, hour BIGINT NOT NULL,
            visits BIGINT NOT NULL, dwell_sum DOUBLE PRECISION NOT NULL, dwell_max DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (store, hour, camera, zone))""",
        """CREATE TABLE shelf_oos (
            id {autoid}, store TEXT NOT NULL, camera TEXT NOT NULL, device TEXT NOT NULL, shelf TEXT NOT NULL,
            slot TEXT NOT NULL, sku TEXT, start_ts DOUBLE PRECISION NOT NULL, end_ts DOUBLE PRECISION)""",
        "CREATE INDEX shelf_oos_open ON shelf_oos (store, shelf, slot, end_ts)",
        """CREATE TABLE sales (
            id TEXT PRIMARY KEY, store TEXT NOT NULL, sku TEXT NOT NULL, qty DOUBLE PRECISION NOT NULL,
            price DOUBLE PRECISION, receipt TEXT, ts DOUBLE PRECISION NOT NULL, source TEXT NOT NULL)""",
        "CREATE INDEX sales_store_ts ON sales (store, ts)",
        """CREATE TABLE dead_letters (
            id {autoid}, received DOUBLE PRECISION NOT NULL, topic TEXT NOT NULL, reason TEXT NOT NULL,
            detail TEXT NOT NULL, payload {blob} NOT NULL)""",
        "CREATE INDEX dead_letters_received ON dead_letters (received)",
    ),
    (  # 2: end-to-end receipts: the highest contiguous seq stored per device and edge outbox
        """CREATE TABLE receipts (
            store TEXT NOT NULL, device TEXT NOT NULL, outbox TEXT NOT NULL, seq BIGINT NOT NULL,
            pending BIGINT NOT NULL, ts DOUBLE PRECISION NOT NULL, PRIMARY KEY (store, device))""",
        """CREATE TABLE receipt_pending (
            store TEXT NOT NULL, device TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (store, device, seq))""",
    ),
    (  # 3: API tokens: only their SHA-256 (collector.auth), space-separated scopes, revocation time
        """CREATE TABLE api_tokens (
            id {autoid}, name TEXT NOT NULL, scopes TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE,
            created DOUBLE PRECISION NOT NULL, revoked DOUBLE PRECISION)""",
    ),
    (  # 4: staged roll-outs (collector.fleet.rollout): one row per roll-out, one per device it targets
        """CREATE TABLE rollouts (
            id {autoid}, kind TEXT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, manifest TEXT NOT NULL,
            settings TEXT NOT NULL, state TEXT NOT NULL, wave INTEGER NOT NULL, wave_started DOUBLE PRECISION,
            reason TEXT, owner TEXT, lease_until DOUBLE PRECISION, created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL, finished DOUBLE PRECISION)""",
        """CREATE TABLE rollout_devices (
            rollout BIGINT NOT NULL, store TEXT NOT NULL, device TEXT NOT NULL, wave INTEGER NOT NULL,
            state TEXT NOT NULL, reason TEXT, command_id TEXT, rollback_id TEXT, previous BIGINT, baseline TEXT,
            sent DOUBLE PRECISION, applied DOUBLE PRECISION, updated DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (rollout, store, device))""",
        "CREATE INDEX rollout_devices_command ON rollout_devices (command_id)",
        "CREATE INDEX rollout_devices_rollback ON rollout_devices (rollback_id)",
    ),
    (  # 5: dynamic prices (collector.pricing): the price list, every price (current and history), its audit log
        # and the pushes to the shelf labels (one set_prices command id per push, re-sent with the same id)
        """CREATE TABLE price_list (
            store TEXT NOT NULL, sku TEXT NOT NULL, name TEXT, currency TEXT NOT NULL, base DOUBLE PRECISION NOT NULL,
            floor DOUBLE PRECISION NOT NULL, ceiling DOUBLE PRECISION, expiry DOUBLE PRECISION, label TEXT,
            updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (store, sku))""",
        """CREATE TABLE prices (
            id TEXT PRIMARY KEY, store TEXT NOT NULL, sku TEXT NOT NULL, price DOUBLE PRECISION NOT NULL,
            currency TEXT NOT NULL, was DOUBLE PRECISION, promo TEXT, state TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL, decided DOUBLE PRECISION, decided_by TEXT)""",
        "CREATE INDEX prices_sku ON prices (store, sku, created)",
        """CREATE TABLE price_audit (
            id {autoid}, price_id TEXT NOT NULL, store TEXT NOT NULL, sku TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
            action TEXT NOT NULL, actor TEXT NOT NULL, rules TEXT NOT NULL, reason TEXT NOT NULL)""",
        "CREATE INDEX price_audit_sku ON price_audit (store, sku, ts)",
        """CREATE TABLE label_pushes (
            price_id TEXT PRIMARY KEY, store TEXT NOT NULL, sku TEXT NOT NULL, label TEXT NOT NULL,
            device TEXT NOT NULL, command_id TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL,
            created DOUBLE PRECISION NOT NULL, issued DOUBLE PRECISION, expires DOUBLE PRECISION NOT NULL,
            next_send DOUBLE PRECISION NOT NULL, sent DOUBLE PRECISION, acked DOUBLE PRECISION, reason TEXT)""",
        "CREATE INDEX label_pushes_due ON label_pushes (state, next_send)",
        "CREATE INDEX label_pushes_command ON label_pushes (command_id)",
    ),
    (  # 6: the latest model.shadow (a candidate model's agreement with the live one) per device and camera
        """CREATE TABLE model_shadow (
            store TEXT NOT NULL, device TEXT NOT NULL, camera TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
            data TEXT NOT NULL, PRIMARY KEY (store, device, camera))""",
    ),
    (  # 7: customer reviews (collector.sentiment): one row per store and review id, scored on arrival
        """CREATE TABLE reviews (
            store TEXT NOT NULL, id TEXT NOT NULL, sku TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
            text TEXT NOT NULL, rating DOUBLE PRECISION, lang TEXT NOT NULL, label TEXT NOT NULL,
            score DOUBLE PRECISION NOT NULL, aspects TEXT NOT NULL, source TEXT NOT NULL,
            stored DOUBLE PRECISION NOT NULL, PRIMARY KEY (store, id))""",
        "CREATE INDEX reviews_sku ON reviews (store, sku, ts)",
    ),
    (  # 8: scheduled forecasts (collector.forecast.schedule): the latest per store, kind, level and series, with
        # the model chosen, its backtest MAE and seasonal naive's on the same folds, and the points (JSON)
        """CREATE TABLE forecasts (
            store TEXT NOT NULL, kind TEXT NOT NULL, level TEXT NOT NULL, series TEXT NOT NULL, freq TEXT NOT NULL,
            horizon INTEGER NOT NULL, model TEXT NOT NULL, backtest_mae DOUBLE PRECISION,
            naive_mae DOUBLE PRECISION, points TEXT NOT NULL, warnings TEXT NOT NULL,
            computed_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (store, kind, level, series))""",
    ),
    {  # 9: PostgreSQL: events partitioned by range of ``stored`` (one partition per UTC day, created ahead and
        # dropped past retention by collector.store.partitions). The old table, if it has rows, becomes the
        # partition of everything stored up to the end of its newest row's day (the rows stay put); event ids live
        # on in ``event_ids``, whose primary key keeps an event from being stored twice across partitions (a
        # partitioned table's unique keys must contain ``stored``, which differs on every redelivery).
        "sqlite": _READ_INDEXES,
        "postgres": (
            "DROP INDEX events_stored",
            "ALTER TABLE events RENAME TO events_legacy",
            """CREATE TABLE events (
                id TEXT NOT NULL, kind TEXT NOT NULL, store TEXT NOT NULL, device TEXT NOT NULL, camera TEXT,
                seq BIGINT NOT NULL, ts DOUBLE PRECISION NOT NULL, stored DOUBLE PRECISION NOT NULL,
                payload TEXT NOT NULL) PARTITION BY RANGE (stored)""",
            "CREATE TABLE event_ids (id TEXT PRIMARY KEY, stored DOUBLE PRECISION NOT NULL)",
            "INSERT INTO event_ids (id, stored) SELECT id, stored FROM events_legacy",
            "CREATE INDEX event_ids_stored ON event_ids (stored)",
            """DO $$ DECLARE newest DOUBLE PRECISION := (SELECT MAX(stored) FROM events_legacy); BEGIN
                IF newest IS NULL THEN DROP TABLE events_legacy; ELSE EXECUTE format(
                    'ALTER TABLE events ATTACH PARTITION events_legacy FOR VALUES FROM (MINVALUE) TO (%s)',
                    (floor(newest / 86400) + 1) * 86400); END IF; END $$""",
            "CREATE INDEX events_stored ON events USING brin (stored)",
            *_READ_INDEXES,
        ),
    },
)
