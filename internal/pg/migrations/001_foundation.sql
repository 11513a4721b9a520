-- Foundation schema: the apps being observed, their releases, the device hosts (one agent
-- each) and the devices they own. Owned by internal/pg; later migrations add the collector's
-- time-partitioned spans/events (002), the farm's work queue and results (003) and the gate's
-- verdicts (004).

-- fleetlens_reader is the least-privilege role read paths (gate, TUI, Grafana) use. Roles are
-- cluster-wide, so create it only when missing (several databases share a test cluster).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleetlens_reader') THEN
        CREATE ROLE fleetlens_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another database's migration created it at the same moment
END
$$;

CREATE TABLE apps (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,200}$'), -- bundle id / package name
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE releases (
    app_id      text NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    version     text NOT NULL CHECK (version <> ''),
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, version)
);

-- One row per agent host. last_seen is the heartbeat; a host whose heartbeat is older than
-- its lease TTL is considered lost.
CREATE TABLE hosts (
    id          text PRIMARY KEY,
    hostname    text NOT NULL,
    agent_version text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    labels      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE devices (
    serial        text PRIMARY KEY,                -- adb serial or iOS UDID
    platform      text NOT NULL CHECK (platform IN ('android', 'ios')),
    host_id       text REFERENCES hosts(id) ON DELETE SET NULL,
    state         text NOT NULL DEFAULT 'idle'
                  CHECK (state IN ('idle', 'busy', 'draining', 'offline', 'quarantined')),
    manufacturer  text NOT NULL DEFAULT '',
    model         text NOT NULL DEFAULT '',
    product_type  text NOT NULL DEFAULT '',
    os_version    text NOT NULL DEFAULT '',
    api_level     int  NOT NULL DEFAULT 0,
    abi           text NOT NULL DEFAULT '',
    ram_mb        int  NOT NULL DEFAULT 0,
    cpu_cores     int  NOT NULL DEFAULT 0,
    cpu_max_mhz   int  NOT NULL DEFAULT 0,
    tier          text NOT NULL DEFAULT '' CHECK (tier IN ('', 'low', 'mid', 'high')),
    labels        jsonb NOT NULL DEFAULT '{}',
    battery_level int,
    temperature_c real,
    last_health   timestamptz,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX devices_host_idx ON devices (host_id);
CREATE INDEX devices_model_os_idx ON devices (platform, model, os_version);

GRANT SELECT ON apps, releases, hosts, devices TO fleetlens_reader;

---- create above / drop below ----

DROP TABLE devices;
DROP TABLE hosts;
DROP TABLE releases;
DROP TABLE apps;
