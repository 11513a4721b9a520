-- 002_collector: what the OTLP collector stores (issue 3). Owner: collector/.
--
-- Stable contract for readers (gate, TUI, Grafana): the table and column names below are
-- relied on by collector/query and by the gate; change them only additively.
--
--   spans          one row per OTLP span, partitioned by day on start_time
--   events         one row per OTLP log record (crash, jank, session start/end, ...),
--                  partitioned by day on time
--   span_rollups   per minute x app x release x model x os_version x net_class x tier x
--                  category: counts and duration sums, maintained incrementally at ingest
--   event_rollups  per minute x app x release x model x os_version x net_class x tier x
--                  name x class: counts, maintained incrementally at ingest
--   resources      each distinct OTLP resource (device + app build attributes) once per app;
--                  spans.resource_hash / events.resource_hash point at it
--   ingest_tokens  per-app bearer tokens, stored as SHA-256 digests only
--
-- Rollup rows carry a shard (the collector's writer slot): concurrent writers then never wait
-- on each other's rollup row locks. Readers always SUM over shards (and over minutes).
-- Dimension values are never NULL: '' means "the client did not say" and 'unknown' is used
-- for derived classes that could not be computed, so GROUP BY and rollup keys stay simple.
-- Partitions (spans_pYYYYMMDD, events_pYYYYMMDD) are created ahead and dropped past the
-- retention window by the collector (collector/store.Partitioner), not by this migration.
-- High-volume tables carry no foreign key to apps(id): the ingest token already proves the
-- app exists, and a per-row FK lookup would cost COPY throughput.

CREATE TABLE ingest_tokens (
    token_hash  bytea       PRIMARY KEY,               -- sha256(token); the token itself is never stored
    app_id      text        NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    hint        text        NOT NULL,                  -- first characters of the token, for humans
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz                            -- NULL while valid
);
CREATE INDEX ingest_tokens_app ON ingest_tokens (app_id);

-- A mobile process sends the same resource (device, OS, app build) with every batch; storing
-- it once per app instead of in every span row cuts row width and COPY cost. Join with
-- spans/events ON (app_id, resource_hash) = (app_id, hash) to see the raw resource.
CREATE TABLE resources (
    app_id      text        NOT NULL,
    hash        bytea       NOT NULL,                  -- first 16 bytes of sha256(attributes as sent)
    attributes  jsonb       NOT NULL,                  -- the resource's attributes (after scrubbing)
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, hash)
);

CREATE TABLE spans (
    start_time       timestamptz      NOT NULL,
    end_time         timestamptz      NOT NULL,
    duration_ms      double precision NOT NULL,
    app_id           text             NOT NULL,        -- from the ingest token, not from the payload
    trace_id         bytea            NOT NULL,        -- 16 bytes
    span_id          bytea            NOT NULL,        -- 8 bytes
    parent_span_id   bytea,                            -- NULL for a root span
    name             text             NOT NULL,        -- scrubbed span name
    kind             smallint         NOT NULL,        -- OTLP SpanKind (0 unspecified .. 5 consumer)
    status_code      smallint         NOT NULL,        -- OTLP StatusCode (0 unset, 1 ok, 2 error)
    status_message   text             NOT NULL,
    release          text             NOT NULL,        -- resource service.version
    model            text             NOT NULL,        -- device.model.identifier (else device.model.name)
    manufacturer     text             NOT NULL,        -- device.manufacturer
    os_name          text             NOT NULL,        -- os.name
    os_version       text             NOT NULL,        -- os.version
    session_id       text             NOT NULL,        -- session.id
    category         text             NOT NULL,        -- 'http' | 'app_start' | 'other'
    net_class        text             NOT NULL,        -- effective connection type: slow-2g|2g|3g|4g|unknown (Chromium NQE)
    throughput_class text             NOT NULL,        -- poor|moderate|good|excellent|unknown (FB network-connection-class)
    net_type         text             NOT NULL,        -- network.connection.type (wifi, cell, ...)
    net_subtype      text             NOT NULL,        -- network.connection.subtype (lte, nr, ...)
    tier             text             NOT NULL,        -- device tier low|mid|high|unknown (Sentry device classes)
    year_class       smallint         NOT NULL,        -- device-year-class, 0 when unknown
    http_status      integer          NOT NULL,        -- http.response.status_code, 0 when absent
    rtt_ms           double precision,                 -- measured request RTT used for net_class
    start_type       text             NOT NULL,        -- app start: cold|warm|hot, else ''
    slow             boolean          NOT NULL,        -- excessive app start (cold>=5s, warm>=2s, hot>=1.5s)
    attributes       jsonb            NOT NULL,        -- the span's attributes as sent (after scrubbing)
    resource_hash    bytea            NOT NULL,        -- resources.hash of the span's resource
    span_events      jsonb,                            -- span events [{name,time,attributes}], NULL when none
    scope            text             NOT NULL,        -- instrumentation scope name
    received_at      timestamptz      NOT NULL,
    -- Client retries resend the same span: the key dedupes them. It includes the partition
    -- key (a PostgreSQL requirement) and app_id (the future shard key).
    PRIMARY KEY (trace_id, span_id, start_time, app_id)
) PARTITION BY RANGE (start_time);
-- gate: candidate vs baseline samples; TUI: recent spans of an app/release
CREATE INDEX spans_app_release_time ON spans (app_id, release, start_time);

CREATE TABLE events (
    time             timestamptz NOT NULL,             -- record time, else observed time
    app_id           text        NOT NULL,
    record_hash      bytea       NOT NULL,             -- 16-byte digest of the whole record + resource: retry dedupe
    name             text        NOT NULL,             -- EventName, else attribute event.name, else ''
    class            text        NOT NULL,             -- app.jank: slow|frozen|anr|hang; else ''
    duration_ms      double precision,                 -- from attribute duration_ms/app.jank.duration when present
    severity         smallint    NOT NULL,
    severity_text    text        NOT NULL,
    body             text        NOT NULL,             -- string body, or JSON of a structured body (scrubbed)
    trace_id         bytea,
    span_id          bytea,
    release          text        NOT NULL,
    model            text        NOT NULL,
    manufacturer     text        NOT NULL,
    os_name          text        NOT NULL,
    os_version       text        NOT NULL,
    session_id       text        NOT NULL,
    net_class        text        NOT NULL,
    net_type         text        NOT NULL,
    tier             text        NOT NULL,
    year_class       smallint    NOT NULL,
    attributes       jsonb       NOT NULL,
    resource_hash    bytea       NOT NULL,             -- resources.hash
    scope            text        NOT NULL,
    received_at      timestamptz NOT NULL,
    PRIMARY KEY (record_hash, time, app_id)
) PARTITION BY RANGE (time);
CREATE INDEX events_app_release_name_time ON events (app_id, release, name, time);

CREATE TABLE span_rollups (
    minute          timestamptz      NOT NULL,
    app_id          text             NOT NULL,
    release         text             NOT NULL,
    model           text             NOT NULL,
    os_version      text             NOT NULL,
    net_class       text             NOT NULL,
    tier            text             NOT NULL,
    category        text             NOT NULL,
    span_count      bigint           NOT NULL,
    error_count     bigint           NOT NULL,         -- status_code = 2 or http_status >= 500
    slow_count      bigint           NOT NULL,         -- spans.slow
    duration_sum_ms double precision NOT NULL,
    duration_max_ms double precision NOT NULL,
    shard           smallint         NOT NULL DEFAULT 0, -- writer slot; SUM over it
    PRIMARY KEY (app_id, release, minute, model, os_version, net_class, tier, category, shard)
);

CREATE TABLE event_rollups (
    minute      timestamptz NOT NULL,
    app_id      text        NOT NULL,
    release     text        NOT NULL,
    model       text        NOT NULL,
    os_version  text        NOT NULL,
    net_class   text        NOT NULL,
    tier        text        NOT NULL,
    name        text        NOT NULL,
    class       text        NOT NULL,
    event_count bigint      NOT NULL,
    shard       smallint    NOT NULL DEFAULT 0,        -- writer slot; SUM over it
    PRIMARY KEY (app_id, release, minute, model, os_version, net_class, tier, name, class, shard)
);

-- Read paths (collector/query, gate, TUI, Grafana) switch to fleetlens_reader (created in 001)
-- with SET ROLE so a bug there cannot write; a non-superuser owner needs membership for that.
DO $$
BEGIN
    EXECUTE format('GRANT fleetlens_reader TO %I', current_user);
EXCEPTION WHEN OTHERS THEN NULL; -- superusers and existing members need no grant
END $$;
GRANT USAGE ON SCHEMA public TO fleetlens_reader;
GRANT SELECT ON spans, events, resources, span_rollups, event_rollups TO fleetlens_reader;
GRANT SELECT (app_id, hint, created_at, revoked_at) ON ingest_tokens TO fleetlens_reader;

---- create above / drop below ----

DROP TABLE IF EXISTS event_rollups, span_rollups, events, spans, resources, ingest_tokens;
