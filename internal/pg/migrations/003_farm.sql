-- 003_farm: the device farm (issue 7). Owner: devicefarm/schedule, devicefarm/results, agent/.
--
-- PostgreSQL is both the record and the coordinator: there is no scheduler process. Agents
-- (one per device host) call farm_claim() to lease work with FOR UPDATE SKIP LOCKED, extend
-- leases by heartbeat (farm_heartbeat), report each test with farm_record() and finish with
-- farm_complete() / farm_release(). Any caller of farm_claim() first reaps expired leases, so
-- work held by a dead agent returns to the queue within the lease TTL.
-- farm_cancel() ends a queued or running run on request (schedule.Cancel).
--
-- Stable contract for readers (TUI, gate, dashboards): names below change only additively.
--
--   farm_blobs          app / test-app binaries by SHA-256 (agents on other hosts fetch them)
--   farm_suites         one row per suite file submitted (source YAML kept verbatim)
--   farm_runs           one row per `farm run`; state queued|running|passed|failed|error|cancelled
--   farm_run_devices    the devices a run selected at enqueue (group_key = model|os_version)
--   farm_run_tests      one row per (run, test, network profile, matrix group): THE verdict,
--                       status pending|running|passed|failed|flaky|error|skipped
--   farm_work_items     the queue: batches of farm_run_tests ids, with lease columns
--   farm_attempts       every execution of a test on a device (passed|failed|error|skipped|infra)
--                       with device/OS/model/profile, message/stack, log excerpt, crash, artifacts
--   farm_device_health  health readings history (battery, temperature, storage, booted, ...)
--   farm_test_history   per finished run and test: duration and outcome (feeds sharding + flakiness)
--   farm_reservations   devices reserved for one run for a time window
--   farm_run_progress   view: per run counts by verdict, devices busy
--   farm_compat         view: per run x (model, os_version): tests passed / failed / flaky
--
-- NOTIFY channels (LISTEN on them; payloads are JSON):
--   fleetlens_devices   {"serial":..., "state":..., "host":...} when a device's state/health changes
--   fleetlens_runs      {"run":id, "state":..., "event":"state"|"test"} on run state changes and
--                       on every final test verdict (progress)
--   fleetlens_work      {"run":id} when work is queued (agents wake instead of polling)
--
-- Status vocabulary: an attempt's status 'infra' is an infrastructure failure (device lost,
-- install failed, timeout with no output, lease expired) and never counts against the test's
-- failure quota; 'failed' and 'error' (test crashed the process) are test failures.

ALTER TABLE devices
    ADD COLUMN charging          boolean,
    ADD COLUMN thermal_status    text NOT NULL DEFAULT '',
    ADD COLUMN free_storage_mb   bigint,
    ADD COLUMN health_ok         boolean NOT NULL DEFAULT true,
    ADD COLUMN health_reason     text NOT NULL DEFAULT '',
    ADD COLUMN quarantined_until timestamptz,
    ADD COLUMN quarantine_reason text NOT NULL DEFAULT '',
    ADD COLUMN screen            text NOT NULL DEFAULT '',
    ADD COLUMN current_run       bigint;

-- The lease TTL a host's agent runs with: a host silent for twice that is lost, and its
-- devices are marked offline by whoever reaps next (farm_reap).
ALTER TABLE hosts ADD COLUMN lease_ttl_ms int NOT NULL DEFAULT 30000;

CREATE TABLE farm_blobs (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL,
    name        text NOT NULL DEFAULT '',
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE farm_suites (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    source_path text NOT NULL DEFAULT '',
    source      text NOT NULL,          -- the YAML as submitted
    spec        jsonb NOT NULL,         -- the validated, normalised suite
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE farm_runs (
    id               bigserial PRIMARY KEY,
    suite_id         bigint NOT NULL REFERENCES farm_suites(id),
    name             text NOT NULL DEFAULT '',
    app_id           text NOT NULL,     -- package name / bundle id of the app under test
    release          text NOT NULL,
    baseline_release text NOT NULL DEFAULT '',
    platform         text NOT NULL DEFAULT 'android',
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'passed', 'failed', 'error', 'cancelled')),
    state_reason     text NOT NULL DEFAULT '',
    priority         int NOT NULL DEFAULT 0,
    weight           real NOT NULL DEFAULT 1 CHECK (weight > 0), -- fair-share weight
    app_sha256       text REFERENCES farm_blobs(sha256),
    app_name         text NOT NULL DEFAULT '',
    test_app_sha256  text REFERENCES farm_blobs(sha256),
    test_app_name    text NOT NULL DEFAULT '',
    test_app_id      text NOT NULL DEFAULT '',
    runner           text NOT NULL DEFAULT '',
    test_timeout_ms  int NOT NULL DEFAULT 0,   -- per test; 0 none
    max_retries      int NOT NULL DEFAULT 2,   -- per test, test failures only
    retry_budget     int NOT NULL DEFAULT 0,   -- per run, total retries allowed
    retries_used     int NOT NULL DEFAULT 0,
    infra_max        int NOT NULL DEFAULT 3,   -- infra re-queues per work item
    config           jsonb NOT NULL DEFAULT '{}', -- resolved run options (profiles, artifacts, upstream...)
    total_tests      int NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    deadline         timestamptz               -- per-run timeout
);
CREATE INDEX farm_runs_active_idx ON farm_runs (state) WHERE state IN ('queued', 'running');
CREATE INDEX farm_runs_app_release_idx ON farm_runs (app_id, release, finished_at DESC);

CREATE TABLE farm_run_devices (
    run_id     bigint NOT NULL REFERENCES farm_runs(id) ON DELETE CASCADE,
    serial     text NOT NULL REFERENCES devices(serial) ON DELETE CASCADE,
    group_key  text NOT NULL,              -- model || '|' || os_version
    PRIMARY KEY (run_id, serial)
);
CREATE INDEX farm_run_devices_serial_idx ON farm_run_devices (serial);

CREATE TABLE farm_run_tests (
    id             bigserial PRIMARY KEY,
    run_id         bigint NOT NULL REFERENCES farm_runs(id) ON DELETE CASCADE,
    class          text NOT NULL,
    method         text NOT NULL,
    profile        text NOT NULL DEFAULT '',  -- network profile ('' = unshaped)
    group_key      text NOT NULL DEFAULT '',  -- matrix mode: model|os_version this copy must run on
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'passed', 'failed', 'flaky', 'error', 'skipped')),
    expected_ms    int NOT NULL DEFAULT 0,
    copies         int NOT NULL DEFAULT 1,    -- 1 + preventive copies scheduled up front
    outstanding    int NOT NULL DEFAULT 0,    -- copies queued or running
    attempts       int NOT NULL DEFAULT 0,
    passes         int NOT NULL DEFAULT 0,
    test_failures  int NOT NULL DEFAULT 0,
    infra_failures int NOT NULL DEFAULT 0,
    retries        int NOT NULL DEFAULT 0,    -- retries scheduled after a test failure
    duration_ms    int,                       -- of the deciding attempt
    message        text NOT NULL DEFAULT '',  -- first failure message
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, class, method, profile, group_key)
);

CREATE TABLE farm_work_items (
    id               bigserial PRIMARY KEY,
    run_id           bigint NOT NULL REFERENCES farm_runs(id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('matrix', 'batch', 'single', 'retry', 'preventive')),
    tests            bigint[] NOT NULL,         -- farm_run_tests ids, run in this order
    expected_ms      int NOT NULL DEFAULT 0,
    profile          text NOT NULL DEFAULT '',
    group_key        text,                      -- matrix items: only devices of this group (while any is alive)
    exclude_serials  text[] NOT NULL DEFAULT '{}', -- devices that already tried (retries go elsewhere)
    priority         int NOT NULL DEFAULT 0,    -- retry 30 > matrix 20 > preventive 10 > batch/single 0
    state            text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'leased', 'done', 'cancelled')),
    lease_no         int NOT NULL DEFAULT 0,    -- bumped per claim; results must quote it
    lease_owner      text,                      -- host id
    lease_serial     text,
    leased_at        timestamptz,
    lease_expires_at timestamptz,
    lease_ttl_ms     int NOT NULL DEFAULT 30000,
    not_before       timestamptz NOT NULL DEFAULT now(),
    infra_retries    int NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX farm_work_queue_idx ON farm_work_items (run_id, priority DESC, expected_ms DESC, id)
    WHERE state = 'queued';
CREATE INDEX farm_work_group_idx ON farm_work_items (run_id, group_key) WHERE state = 'queued' AND group_key IS NOT NULL;
CREATE INDEX farm_work_lease_idx ON farm_work_items (lease_expires_at) WHERE state = 'leased';
CREATE INDEX farm_work_owner_idx ON farm_work_items (lease_owner) WHERE state = 'leased';
CREATE INDEX farm_work_run_leased_idx ON farm_work_items (run_id) WHERE state = 'leased';

CREATE TABLE farm_attempts (
    id              bigserial PRIMARY KEY,
    run_id          bigint NOT NULL REFERENCES farm_runs(id) ON DELETE CASCADE,
    run_test_id     bigint NOT NULL REFERENCES farm_run_tests(id) ON DELETE CASCADE,
    work_item_id    bigint REFERENCES farm_work_items(id) ON DELETE SET NULL,
    lease_no        int NOT NULL DEFAULT 0,
    kind            text NOT NULL DEFAULT 'batch',
    serial          text NOT NULL DEFAULT '',
    host_id         text NOT NULL DEFAULT '',
    manufacturer    text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    os_version      text NOT NULL DEFAULT '',
    tier            text NOT NULL DEFAULT '',
    profile         text NOT NULL DEFAULT '',
    status          text NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped', 'infra')),
    infra_reason    text NOT NULL DEFAULT '',   -- device_lost | install_failed | timeout_no_output | lease_expired | health | ...
    duration_ms     int NOT NULL DEFAULT 0,
    message         text NOT NULL DEFAULT '',
    stack           text NOT NULL DEFAULT '',
    log_excerpt     text NOT NULL DEFAULT '',
    crash_kind      text NOT NULL DEFAULT '',   -- '' | crash | anr
    crash           text NOT NULL DEFAULT '',
    screenshot_path text NOT NULL DEFAULT '',
    artifact_dir    text NOT NULL DEFAULT '',
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX farm_attempts_run_idx ON farm_attempts (run_id, run_test_id);
CREATE INDEX farm_attempts_serial_idx ON farm_attempts (serial, id DESC);

CREATE TABLE farm_device_health (
    id              bigserial PRIMARY KEY,
    serial          text NOT NULL,
    host_id         text NOT NULL DEFAULT '',
    at              timestamptz NOT NULL DEFAULT now(),
    battery_level   int,
    charging        boolean,
    temperature_c   real,
    thermal_status  text NOT NULL DEFAULT '',
    free_storage_mb bigint,
    booted          boolean,
    responsive      boolean,
    ok              boolean NOT NULL,
    reason          text NOT NULL DEFAULT ''
);
CREATE INDEX farm_device_health_serial_idx ON farm_device_health (serial, at DESC);

CREATE TABLE farm_test_history (
    app_id      text NOT NULL,
    class       text NOT NULL,
    method      text NOT NULL,
    run_id      bigint NOT NULL REFERENCES farm_runs(id) ON DELETE CASCADE,
    release     text NOT NULL DEFAULT '',
    profile     text NOT NULL DEFAULT '',
    status      text NOT NULL,              -- the run's verdict for the test
    duration_ms int,                        -- median of its completed attempts
    attempts    int NOT NULL DEFAULT 0,
    failures    int NOT NULL DEFAULT 0,     -- test-failure attempts
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, class, method, profile)
);
CREATE INDEX farm_test_history_test_idx ON farm_test_history (app_id, class, method, at DESC);

CREATE TABLE farm_reservations (
    id         bigserial PRIMARY KEY,
    run_id     bigint NOT NULL REFERENCES farm_runs(id) ON DELETE CASCADE,
    serial     text NOT NULL REFERENCES devices(serial) ON DELETE CASCADE,
    starts_at  timestamptz NOT NULL DEFAULT now(),
    ends_at    timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX farm_reservations_serial_idx ON farm_reservations (serial, ends_at);

-- farm_reaper throttles the sweep farm_claim triggers to one per second across all agents.
CREATE TABLE farm_reaper (
    id      int PRIMARY KEY CHECK (id = 1),
    last_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO farm_reaper VALUES (1, '-infinity');

-- Notifications ------------------------------------------------------------------------------

CREATE FUNCTION farm_notify_device() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state OR NEW.health_ok IS DISTINCT FROM OLD.health_ok
       OR NEW.host_id IS DISTINCT FROM OLD.host_id OR NEW.quarantined_until IS DISTINCT FROM OLD.quarantined_until
       OR NEW.current_run IS DISTINCT FROM OLD.current_run THEN
        PERFORM pg_notify('fleetlens_devices',
            json_build_object('serial', NEW.serial, 'state', NEW.state, 'host', NEW.host_id)::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_notify AFTER INSERT OR UPDATE ON devices
    FOR EACH ROW EXECUTE FUNCTION farm_notify_device();

CREATE FUNCTION farm_notify_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state THEN
        PERFORM pg_notify('fleetlens_runs',
            json_build_object('run', NEW.id, 'state', NEW.state, 'event', 'state')::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER farm_runs_notify AFTER INSERT OR UPDATE ON farm_runs
    FOR EACH ROW EXECUTE FUNCTION farm_notify_run();

CREATE FUNCTION farm_notify_test() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status NOT IN ('pending', 'running') THEN
        PERFORM pg_notify('fleetlens_runs',
            json_build_object('run', NEW.run_id, 'event', 'test')::text);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER farm_run_tests_notify AFTER UPDATE ON farm_run_tests
    FOR EACH ROW EXECUTE FUNCTION farm_notify_test();

CREATE FUNCTION farm_notify_work() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fleetlens_work', json_build_object('run', NEW.run_id)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER farm_work_notify AFTER INSERT ON farm_work_items
    FOR EACH ROW EXECUTE FUNCTION farm_notify_work();

-- Views for readers ---------------------------------------------------------------------------

CREATE VIEW farm_run_progress AS
SELECT r.id AS run_id, r.state, r.total_tests,
       count(t.id) FILTER (WHERE t.status IN ('passed', 'failed', 'flaky', 'error', 'skipped')) AS done,
       count(t.id) FILTER (WHERE t.status = 'passed')  AS passed,
       count(t.id) FILTER (WHERE t.status = 'failed')  AS failed,
       count(t.id) FILTER (WHERE t.status = 'flaky')   AS flaky,
       count(t.id) FILTER (WHERE t.status = 'error')   AS errored,
       count(t.id) FILTER (WHERE t.status = 'skipped') AS skipped,
       (SELECT count(*) FROM farm_work_items w WHERE w.run_id = r.id AND w.state = 'leased') AS devices_busy,
       coalesce(sum(t.expected_ms) FILTER (WHERE t.status IN ('pending', 'running')), 0) AS remaining_expected_ms
FROM farm_runs r LEFT JOIN farm_run_tests t ON t.run_id = r.id
GROUP BY r.id;

-- Per (model, os_version) of one run: a test counts in a group when it ran there; its group
-- verdict is flaky when it both failed and passed in that group.
CREATE VIEW farm_compat AS
SELECT run_id, model, os_version,
       count(*) AS tests,
       count(*) FILTER (WHERE p > 0 AND f = 0) AS passed,
       count(*) FILTER (WHERE p = 0 AND f > 0) AS failed,
       count(*) FILTER (WHERE p > 0 AND f > 0) AS flaky,
       count(*) FILTER (WHERE p = 0 AND f = 0) AS other
FROM (SELECT a.run_id, a.model, a.os_version, a.run_test_id,
             count(*) FILTER (WHERE a.status = 'passed') AS p,
             count(*) FILTER (WHERE a.status IN ('failed', 'error')) AS f
      FROM farm_attempts a GROUP BY 1, 2, 3, 4) g
GROUP BY run_id, model, os_version;

GRANT SELECT ON farm_suites, farm_runs, farm_run_devices, farm_run_tests, farm_work_items,
    farm_attempts, farm_device_health, farm_test_history, farm_reservations,
    farm_run_progress, farm_compat TO fleetlens_reader;

-- Queue functions -----------------------------------------------------------------------------
-- Each is one round trip for the agent. Verdict rules (farm_finish_test): a test is decided once
-- no copy of it is queued or running; passed and failed attempts together make it 'flaky';
-- only test failures ('failed'/'error') consume the per-test (max_retries) and per-run
-- (retry_budget) quotas; 'infra' attempts re-queue the work (farm_release) up to infra_max.

-- farm_finish_test decides a test after one of its copies finished: retry it on another device
-- while the quotas allow, else set its verdict. Returns the status now in farm_run_tests.
CREATE FUNCTION farm_finish_test(p_test bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t farm_run_tests;
    v text;
BEGIN
    SELECT * INTO t FROM farm_run_tests WHERE id = p_test FOR UPDATE;
    IF t.outstanding > 0 THEN
        RETURN t.status;
    END IF;
    IF t.passes = 0 AND t.test_failures > 0 AND t.retries < (SELECT max_retries FROM farm_runs WHERE id = t.run_id) THEN
        UPDATE farm_runs SET retries_used = retries_used + 1
         WHERE id = t.run_id AND retries_used < retry_budget AND state IN ('queued', 'running');
        IF FOUND THEN
            -- A matrix test retries inside its (model, OS) group, on another device when it has one.
            INSERT INTO farm_work_items (run_id, kind, tests, expected_ms, profile, group_key, exclude_serials, priority)
            VALUES (t.run_id, 'retry', ARRAY[t.id], t.expected_ms, t.profile, nullif(t.group_key, ''),
                    ARRAY(SELECT DISTINCT a.serial FROM farm_attempts a WHERE a.run_test_id = t.id AND a.serial <> ''), 30);
            UPDATE farm_run_tests SET retries = retries + 1, outstanding = outstanding + 1,
                   status = 'pending', updated_at = now() WHERE id = t.id;
            RETURN 'pending';
        END IF;
    END IF;
    v := CASE WHEN t.passes > 0 AND t.test_failures > 0 THEN 'flaky'
              WHEN t.passes > 0 THEN 'passed'
              WHEN t.test_failures > 0 THEN 'failed'
              WHEN t.attempts > t.infra_failures THEN 'skipped'
              ELSE 'error' END;
    UPDATE farm_run_tests SET status = v, updated_at = now(),
           message = CASE WHEN v = 'error' AND message = '' THEN 'infrastructure failures exhausted the retry limit' ELSE message END
     WHERE id = t.id;
    RETURN v;
END $$;

-- farm_finish_run settles a run whose queue is empty. Safe to call from anywhere, any time.
CREATE FUNCTION farm_finish_run(p_run bigint) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    -- Two EXISTS so each uses its partial index (state IN (...) implies neither predicate).
    IF EXISTS (SELECT 1 FROM farm_work_items WHERE run_id = p_run AND state = 'queued')
       OR EXISTS (SELECT 1 FROM farm_work_items WHERE run_id = p_run AND state = 'leased') THEN
        RETURN NULL;
    END IF;
    UPDATE farm_runs r
       SET state = CASE WHEN EXISTS (SELECT 1 FROM farm_run_tests t WHERE t.run_id = r.id
                                     AND t.status IN ('failed', 'error', 'pending', 'running'))
                        THEN 'failed' ELSE 'passed' END,
           finished_at = now(), started_at = coalesce(started_at, now())
     WHERE id = p_run AND state IN ('queued', 'running')
    RETURNING state INTO v;
    IF v IS NOT NULL THEN
        INSERT INTO farm_test_history (app_id, class, method, run_id, release, profile, status, duration_ms, attempts, failures)
        SELECT r.app_id, t.class, t.method, t.run_id, r.release, t.profile, t.status,
               (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY a.duration_ms)
                  FROM farm_attempts a WHERE a.run_test_id = t.id AND a.status IN ('passed', 'failed', 'error')),
               t.attempts - t.infra_failures, t.test_failures
          FROM farm_run_tests t JOIN farm_runs r ON r.id = t.run_id
         WHERE t.run_id = p_run
        ON CONFLICT DO NOTHING;
        UPDATE devices SET current_run = NULL WHERE current_run = p_run;
        DELETE FROM farm_reservations WHERE run_id = p_run;
    END IF;
    RETURN v;
END $$;

-- farm_check_device quarantines a device whose recent attempts fail far more than the rest of
-- the fleet's: a bad device should not fail tests (issue 7, health gating).
CREATE FUNCTION farm_check_device(p_serial text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    bad int; total int; infra_run int; fleet_rate real;
BEGIN
    SELECT count(*) FILTER (WHERE status IN ('failed', 'error', 'infra')), count(*)
      INTO bad, total
      FROM (SELECT status FROM farm_attempts WHERE serial = p_serial ORDER BY id DESC LIMIT 8) x;
    SELECT count(*) INTO infra_run FROM (
        SELECT status FROM farm_attempts WHERE serial = p_serial ORDER BY id DESC LIMIT 3) y WHERE status = 'infra';
    IF infra_run < 3 THEN
        IF total < 8 OR bad < 6 THEN
            RETURN false;
        END IF;
        SELECT avg((status IN ('failed', 'error', 'infra'))::int) INTO fleet_rate
          FROM (SELECT status FROM farm_attempts WHERE serial <> p_serial ORDER BY id DESC LIMIT 500) z;
        IF coalesce(fleet_rate, 0) >= 0.3 THEN
            RETURN false; -- the suite fails everywhere: not this device's fault
        END IF;
    END IF;
    UPDATE devices SET state = 'quarantined', quarantined_until = now() + interval '30 minutes',
           quarantine_reason = format('%s of its last %s attempts failed (%s infra in a row)', bad, total, infra_run)
     WHERE serial = p_serial AND state <> 'quarantined';
    RETURN FOUND;
END $$;

-- farm_release gives back the unreported tests of a leased item after an infrastructure
-- failure (device lost, install failed, no output, lease expired). The first unreported test
-- was the one in flight; it gets an 'infra' attempt unless the agent already recorded one.
CREATE FUNCTION farm_release(p_item bigint, p_lease int, p_reason text, p_message text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    w farm_work_items; r farm_runs; d devices;
    remaining bigint[]; tid bigint;
BEGIN
    SELECT * INTO w FROM farm_work_items WHERE id = p_item FOR UPDATE;
    IF NOT FOUND OR w.state <> 'leased' OR w.lease_no <> p_lease THEN
        RETURN false;
    END IF;
    SELECT * INTO r FROM farm_runs WHERE id = w.run_id;
    SELECT * INTO d FROM devices WHERE serial = w.lease_serial;
    remaining := ARRAY(SELECT u.t FROM unnest(w.tests) WITH ORDINALITY u(t, o)
                        WHERE NOT EXISTS (SELECT 1 FROM farm_attempts a WHERE a.work_item_id = w.id
                                          AND a.lease_no = w.lease_no AND a.run_test_id = u.t AND a.status <> 'infra')
                        ORDER BY u.o);
    IF cardinality(remaining) > 0 AND NOT EXISTS (SELECT 1 FROM farm_attempts a WHERE a.work_item_id = w.id
                      AND a.lease_no = w.lease_no AND a.run_test_id = remaining[1] AND a.status = 'infra') THEN
        INSERT INTO farm_attempts (run_id, run_test_id, work_item_id, lease_no, kind, serial, host_id, manufacturer,
                                   model, os_version, tier, profile, status, infra_reason, message, started_at)
        VALUES (w.run_id, remaining[1], w.id, w.lease_no, w.kind, coalesce(w.lease_serial, ''), coalesce(w.lease_owner, ''),
                coalesce(d.manufacturer, ''), coalesce(d.model, ''), coalesce(d.os_version, ''), coalesce(d.tier, ''),
                w.profile, 'infra', p_reason, p_message, coalesce(w.leased_at, now()));
        UPDATE farm_run_tests SET attempts = attempts + 1, infra_failures = infra_failures + 1 WHERE id = remaining[1];
    END IF;
    IF w.lease_serial IS NOT NULL THEN
        UPDATE devices SET state = 'idle' WHERE serial = w.lease_serial AND state = 'busy';
        PERFORM farm_check_device(w.lease_serial);
    END IF;
    IF cardinality(remaining) = 0 THEN
        UPDATE farm_work_items SET state = 'done', finished_at = now() WHERE id = w.id;
    ELSIF w.infra_retries + 1 > r.infra_max OR r.state NOT IN ('queued', 'running') THEN
        UPDATE farm_work_items SET state = 'done', finished_at = now() WHERE id = w.id;
        FOREACH tid IN ARRAY remaining LOOP
            UPDATE farm_run_tests SET outstanding = outstanding - 1,
                   message = CASE WHEN message = '' THEN left(p_message, 2000) ELSE message END WHERE id = tid;
            PERFORM farm_finish_test(tid);
        END LOOP;
    ELSE
        UPDATE farm_work_items
           SET state = 'queued', tests = remaining, lease_owner = NULL, lease_serial = NULL,
               lease_expires_at = NULL, leased_at = NULL, infra_retries = infra_retries + 1,
               exclude_serials = CASE WHEN w.lease_serial IS NULL OR w.lease_serial = ANY (exclude_serials)
                                      THEN exclude_serials ELSE exclude_serials || w.lease_serial END,
               expected_ms = (SELECT coalesce(sum(expected_ms), 0) FROM farm_run_tests WHERE id = ANY (remaining)),
               priority = greatest(priority, 25), not_before = now()
         WHERE id = w.id;
        UPDATE farm_run_tests SET status = 'pending' WHERE id = ANY (remaining) AND status = 'running' AND outstanding = 1;
        PERFORM pg_notify('fleetlens_work', json_build_object('run', w.run_id)::text);
    END IF;
    PERFORM farm_finish_run(w.run_id);
    RETURN true;
END $$;

-- farm_end_run stops an unfinished run before its queue drained (run timeout, cancel): its
-- queued and leased work is cancelled, so agents holding a lease see it lost on their next
-- record or heartbeat and no claim hands out more of it; unfinished tests get p_test_status;
-- the devices it held go idle and its reservations end. The run's state change notifies
-- fleetlens_runs (farm_notify_run). Callers hold the run's row lock.
CREATE FUNCTION farm_end_run(p_run bigint, p_state text, p_reason text, p_test_status text, p_test_message text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE farm_work_items SET state = 'cancelled', finished_at = now()
     WHERE run_id = p_run AND state IN ('queued', 'leased');
    UPDATE farm_run_tests SET status = p_test_status, outstanding = 0, message = p_test_message, updated_at = now()
     WHERE run_id = p_run AND status IN ('pending', 'running');
    UPDATE farm_runs SET state = p_state, state_reason = p_reason, finished_at = now() WHERE id = p_run;
    UPDATE devices SET state = 'idle', current_run = NULL WHERE current_run = p_run AND state = 'busy';
    DELETE FROM farm_reservations WHERE run_id = p_run;
END $$;

-- farm_cancel cancels a queued or running run (fleetlens farm cancel, the TUI) and returns
-- the state the run had: NULL for no such run, a final state for a run that had already
-- ended (then nothing changes). Unfinished tests end 'skipped' with the reason as message.
CREATE FUNCTION farm_cancel(p_run bigint, p_reason text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    -- Lock the run's open work items before the run, the order agents take them in
    -- (farm_record: item, then run), so a cancel racing a report waits instead of deadlocking.
    PERFORM 1 FROM farm_work_items WHERE run_id = p_run AND state IN ('queued', 'leased') ORDER BY id FOR UPDATE;
    SELECT state INTO v FROM farm_runs WHERE id = p_run FOR UPDATE;
    IF v IN ('queued', 'running') THEN
        PERFORM farm_end_run(p_run, 'cancelled', p_reason, 'skipped', p_reason);
    END IF;
    RETURN v;
END $$;

-- farm_reap returns expired leases to the queue, times out runs past their deadline and
-- settles runs whose queue drained. Every claim calls it, so no scheduler process is needed.
CREATE FUNCTION farm_reap_leases() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    w record; n int := 0;
BEGIN
    FOR w IN SELECT id, lease_no, lease_owner FROM farm_work_items
              WHERE state = 'leased' AND lease_expires_at < now() ORDER BY id FOR UPDATE SKIP LOCKED LOOP
        PERFORM farm_release(w.id, w.lease_no, 'lease_expired',
                             format('lease expired: agent %s stopped heartbeating', w.lease_owner));
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION farm_reap() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    n int; rid bigint;
BEGIN
    n := farm_reap_leases();
    UPDATE devices d SET state = 'offline', health_reason = 'host lost: agent stopped heartbeating'
      FROM hosts h
     WHERE d.host_id = h.id AND d.state <> 'offline'
       AND h.last_seen < now() - 2 * h.lease_ttl_ms * interval '1 millisecond';
    FOR rid IN SELECT id FROM farm_runs WHERE state IN ('queued', 'running') AND deadline < now()
                FOR UPDATE SKIP LOCKED LOOP
        PERFORM farm_end_run(rid, 'error', 'run timeout', 'error', 'run timed out before the test finished');
    END LOOP;
    FOR rid IN SELECT r.id FROM farm_runs r WHERE r.state IN ('queued', 'running')
                 AND NOT EXISTS (SELECT 1 FROM farm_work_items q WHERE q.run_id = r.id AND q.state = 'queued')
                 AND NOT EXISTS (SELECT 1 FROM farm_work_items q WHERE q.run_id = r.id AND q.state = 'leased') LOOP
        PERFORM farm_finish_run(rid);
    END LOOP;
    RETURN n;
END $$;

-- farm_claim leases the next work item for one device of one host: runs in fair-share order
-- (fewest leased items per unit of weight first), honouring reservations; inside a run,
-- the device's own matrix group first, then ungrouped work longest first, then work nobody
-- else can take (orphaned matrix groups, retries every live device already tried).
CREATE FUNCTION farm_claim(p_host text, p_serial text, p_ttl_ms int)
RETURNS TABLE (item_id bigint, run_id bigint, lease_no int, kind text, profile text, expected_ms int, tests jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    d devices; v_group text; r record; w farm_work_items;
BEGIN
    -- Expired leases go back at once (an index probe); the wider sweep (lost hosts, run
    -- deadlines, drained runs) is done by one claim per second, the others skip it without
    -- waiting on its lock.
    PERFORM farm_reap_leases();
    IF (SELECT last_at FROM farm_reaper WHERE id = 1) < now() - interval '1 second' THEN
        PERFORM 1 FROM farm_reaper WHERE id = 1 AND last_at < now() - interval '1 second' FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE farm_reaper SET last_at = now() WHERE id = 1;
            PERFORM farm_reap();
        END IF;
    END IF;
    SELECT * INTO d FROM devices WHERE serial = p_serial AND host_id = p_host;
    IF NOT FOUND OR d.state NOT IN ('idle', 'busy') OR NOT d.health_ok
       OR coalesce(d.quarantined_until, '-infinity') > now() THEN
        RETURN;
    END IF;
    v_group := d.model || '|' || d.os_version;
    FOR r IN
        SELECT fr.id FROM farm_runs fr JOIN farm_run_devices rd ON rd.run_id = fr.id AND rd.serial = p_serial
         WHERE fr.state IN ('queued', 'running') AND (fr.deadline IS NULL OR fr.deadline > now())
           AND NOT EXISTS (SELECT 1 FROM farm_reservations res JOIN farm_runs o ON o.id = res.run_id
                            WHERE res.serial = p_serial AND res.run_id <> fr.id AND o.state IN ('queued', 'running')
                              AND now() >= res.starts_at AND now() < res.ends_at)
         ORDER BY (SELECT count(*) FROM farm_work_items l WHERE l.run_id = fr.id AND l.state = 'leased')::real / fr.weight,
                  fr.priority DESC, fr.id
    LOOP
        SELECT q.* INTO w FROM farm_work_items q
         WHERE q.run_id = r.id AND q.state = 'queued' AND q.group_key = v_group AND q.not_before <= now()
           AND NOT (p_serial = ANY (q.exclude_serials))
         ORDER BY q.priority DESC, q.expected_ms DESC, q.id LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            SELECT q.* INTO w FROM farm_work_items q
             WHERE q.run_id = r.id AND q.state = 'queued' AND q.group_key IS NULL AND q.not_before <= now()
               AND NOT (p_serial = ANY (q.exclude_serials))
             ORDER BY q.priority DESC, q.expected_ms DESC, q.id LIMIT 1 FOR UPDATE SKIP LOCKED;
        END IF;
        IF NOT FOUND THEN
            SELECT q.* INTO w FROM farm_work_items q
             WHERE q.run_id = r.id AND q.state = 'queued' AND q.not_before <= now()
               AND (q.group_key IS NULL OR q.group_key = v_group OR NOT EXISTS (
                    SELECT 1 FROM farm_run_devices g JOIN devices gd ON gd.serial = g.serial
                     WHERE g.run_id = q.run_id AND g.group_key = q.group_key AND gd.state IN ('idle', 'busy')
                       AND gd.health_ok AND coalesce(gd.quarantined_until, '-infinity') <= now()))
               AND (NOT (p_serial = ANY (q.exclude_serials)) OR NOT EXISTS (
                    SELECT 1 FROM farm_run_devices g JOIN devices gd ON gd.serial = g.serial
                     WHERE g.run_id = q.run_id AND NOT (g.serial = ANY (q.exclude_serials))
                       AND (q.group_key IS NULL OR g.group_key = q.group_key)
                       AND gd.state IN ('idle', 'busy') AND gd.health_ok
                       AND coalesce(gd.quarantined_until, '-infinity') <= now()))
             ORDER BY q.priority DESC, q.expected_ms DESC, q.id LIMIT 1 FOR UPDATE SKIP LOCKED;
        END IF;
        IF FOUND THEN
            UPDATE farm_work_items q SET state = 'leased', lease_no = q.lease_no + 1, lease_owner = p_host,
                   lease_serial = p_serial, leased_at = now(), lease_ttl_ms = p_ttl_ms,
                   lease_expires_at = now() + p_ttl_ms * interval '1 millisecond'
             WHERE q.id = w.id RETURNING q.* INTO w;
            UPDATE farm_run_tests t SET status = 'running', updated_at = now()
             WHERE t.id = ANY (w.tests) AND t.status = 'pending';
            UPDATE farm_runs fr SET state = 'running', started_at = now() WHERE fr.id = w.run_id AND fr.state = 'queued';
            UPDATE devices SET state = 'busy', current_run = w.run_id
             WHERE serial = p_serial AND (state <> 'busy' OR current_run IS DISTINCT FROM w.run_id);
            RETURN QUERY SELECT w.id, w.run_id, w.lease_no, w.kind, w.profile, w.expected_ms,
                (SELECT jsonb_agg(jsonb_build_object('id', t.id, 'class', t.class, 'method', t.method,
                                                     'expected_ms', t.expected_ms) ORDER BY u.o)
                   FROM unnest(w.tests) WITH ORDINALITY u(tid, o) JOIN farm_run_tests t ON t.id = u.tid);
            RETURN;
        END IF;
    END LOOP;
    UPDATE devices SET state = 'idle' WHERE serial = p_serial AND state = 'busy';
END $$;

-- farm_heartbeat marks the host alive and extends its leases; it returns the items it still
-- holds so the agent can abandon work it lost (a lease reaped while it was partitioned).
CREATE FUNCTION farm_heartbeat(p_host text) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    held bigint[];
BEGIN
    UPDATE hosts SET last_seen = now() WHERE id = p_host;
    WITH x AS (
        UPDATE farm_work_items SET lease_expires_at = now() + lease_ttl_ms * interval '1 millisecond'
         WHERE lease_owner = p_host AND state = 'leased' RETURNING id)
    SELECT coalesce(array_agg(id), '{}') INTO held FROM x;
    RETURN held;
END $$;

-- farm_record stores one attempt of one test of a leased item (the lease must still be held:
-- a late result from a lost agent is refused, so nothing is counted twice) and decides the test.
-- Returns the test's status after the attempt ('pending' means a retry was queued).
CREATE FUNCTION farm_record(p_item bigint, p_lease int, p_host text, p_test bigint, p_status text,
                            p_infra_reason text, p_duration_ms int, p_message text, p_stack text,
                            p_log text, p_crash_kind text, p_crash text, p_screenshot text,
                            p_artifact_dir text, p_started timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    w farm_work_items; d devices; v text;
BEGIN
    SELECT * INTO w FROM farm_work_items WHERE id = p_item FOR SHARE;
    IF NOT FOUND OR w.state <> 'leased' OR w.lease_no <> p_lease OR w.lease_owner <> p_host THEN
        RAISE EXCEPTION 'work item % lease % is no longer held by host %', p_item, p_lease, p_host
            USING ERRCODE = 'P0002', HINT = 'lease lost';
    END IF;
    IF NOT (p_test = ANY (w.tests)) THEN
        RAISE EXCEPTION 'test % is not part of work item %', p_test, p_item USING ERRCODE = '22023';
    END IF;
    SELECT status INTO v FROM farm_attempts a WHERE a.work_item_id = p_item AND a.lease_no = p_lease
       AND a.run_test_id = p_test AND a.status <> 'infra';
    IF FOUND THEN
        RETURN (SELECT status FROM farm_run_tests WHERE id = p_test); -- a resent result: idempotent
    END IF;
    SELECT * INTO d FROM devices WHERE serial = w.lease_serial;
    INSERT INTO farm_attempts (run_id, run_test_id, work_item_id, lease_no, kind, serial, host_id, manufacturer, model,
                               os_version, tier, profile, status, infra_reason, duration_ms, message, stack,
                               log_excerpt, crash_kind, crash, screenshot_path, artifact_dir, started_at)
    VALUES (w.run_id, p_test, w.id, w.lease_no, w.kind, w.lease_serial, p_host, coalesce(d.manufacturer, ''),
            coalesce(d.model, ''), coalesce(d.os_version, ''), coalesce(d.tier, ''), w.profile, p_status,
            coalesce(p_infra_reason, ''), coalesce(p_duration_ms, 0), left(coalesce(p_message, ''), 4000),
            left(coalesce(p_stack, ''), 32000), left(coalesce(p_log, ''), 32000), coalesce(p_crash_kind, ''),
            left(coalesce(p_crash, ''), 32000), coalesce(p_screenshot, ''), coalesce(p_artifact_dir, ''),
            coalesce(p_started, now()));
    IF p_status = 'infra' THEN
        UPDATE farm_run_tests SET attempts = attempts + 1, infra_failures = infra_failures + 1, updated_at = now()
         WHERE id = p_test;
        PERFORM farm_check_device(w.lease_serial);
        RETURN 'running';
    END IF;
    UPDATE farm_run_tests
       SET attempts = attempts + 1, outstanding = outstanding - 1, duration_ms = p_duration_ms,
           passes = passes + (p_status = 'passed')::int,
           test_failures = test_failures + (p_status IN ('failed', 'error'))::int,
           message = CASE WHEN message = '' AND p_status IN ('failed', 'error') THEN left(coalesce(p_message, ''), 2000)
                          ELSE message END,
           updated_at = now()
     WHERE id = p_test;
    IF p_status IN ('failed', 'error') THEN
        PERFORM farm_check_device(w.lease_serial);
    ELSIF p_status = 'passed' THEN
        -- One passing copy decides a flaky test: preventive copies not yet started are dropped.
        WITH c AS (
            UPDATE farm_work_items SET state = 'cancelled', finished_at = now()
             WHERE run_id = w.run_id AND kind = 'preventive' AND state = 'queued' AND tests = ARRAY[p_test]
            RETURNING id)
        UPDATE farm_run_tests SET outstanding = outstanding - (SELECT count(*) FROM c)
         WHERE id = p_test AND EXISTS (SELECT 1 FROM c);
    END IF;
    RETURN farm_finish_test(p_test);
END $$;

-- farm_complete ends a leased item: tests the device never reported go back to the queue as
-- an infrastructure failure; otherwise the item is done and the device idle.
CREATE FUNCTION farm_complete(p_item bigint, p_lease int, p_host text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    w farm_work_items;
BEGIN
    SELECT * INTO w FROM farm_work_items WHERE id = p_item FOR UPDATE;
    IF NOT FOUND OR w.state <> 'leased' OR w.lease_no <> p_lease OR w.lease_owner <> p_host THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(w.tests) u(t) WHERE NOT EXISTS (
                SELECT 1 FROM farm_attempts a WHERE a.work_item_id = w.id AND a.lease_no = w.lease_no
                   AND a.run_test_id = u.t AND a.status <> 'infra')) THEN
        RETURN farm_release(p_item, p_lease, 'no_result', 'the test runner ended without reporting the test');
    END IF;
    -- The device stays 'busy' until its next claim finds nothing: flipping it idle and busy
    -- again per item would cost two row updates and two NOTIFYs.
    UPDATE farm_work_items SET state = 'done', finished_at = now() WHERE id = w.id;
    PERFORM farm_finish_run(w.run_id);
    RETURN true;
END $$;

---- create above / drop below ----

DROP FUNCTION IF EXISTS farm_claim, farm_record, farm_complete, farm_release, farm_reap, farm_reap_leases,
    farm_cancel, farm_end_run, farm_heartbeat, farm_finish_test, farm_finish_run, farm_check_device;
DROP VIEW farm_compat;
DROP VIEW farm_run_progress;
DROP TABLE farm_reaper, farm_reservations, farm_test_history, farm_device_health, farm_attempts,
    farm_work_items, farm_run_tests, farm_run_devices, farm_runs, farm_suites, farm_blobs;
DROP FUNCTION farm_notify_device, farm_notify_run, farm_notify_test, farm_notify_work;
DROP TRIGGER IF EXISTS devices_notify ON devices;
ALTER TABLE hosts DROP COLUMN lease_ttl_ms;
ALTER TABLE devices DROP COLUMN charging, DROP COLUMN thermal_status, DROP COLUMN free_storage_mb,
    DROP COLUMN health_ok, DROP COLUMN health_reason, DROP COLUMN quarantined_until,
    DROP COLUMN quarantine_reason, DROP COLUMN screen, DROP COLUMN current_run;
