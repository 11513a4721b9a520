-- 005_dashboards: what the Grafana dashboards (dashboards/, issue 10) need beyond the
-- collector's and the farm's tables. Owner: dashboards/.
--
--   fleetlens_platform(os_name)  'android' | 'ios' | 'unknown' from an OTel os.name value, so
--                                panels filter raw spans/events by the $platform variable
--   fleetlens_grafana            a LOGIN role for Grafana's datasource: member of the NOLOGIN
--                                read-only role fleetlens_reader (001), read-only transactions
--                                and a statement timeout by default. It has no password until
--                                an administrator sets one (ALTER ROLE fleetlens_grafana
--                                PASSWORD '...'), so it cannot log in over TCP before that.

CREATE FUNCTION fleetlens_platform(os_name text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE lower(os_name)
        WHEN 'android' THEN 'android'
        WHEN 'ios' THEN 'ios'
        WHEN 'ipados' THEN 'ios'
        ELSE 'unknown'
    END
$$;
GRANT EXECUTE ON FUNCTION fleetlens_platform(text) TO fleetlens_reader;

-- Roles are cluster-wide: create the login only when missing (several databases share a test
-- cluster), and carry on without it when the migrating user may not create roles (the
-- administrator then creates it by hand, as the README says).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleetlens_grafana') THEN
        CREATE ROLE fleetlens_grafana LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT
            CONNECTION LIMIT 20 IN ROLE fleetlens_reader;
    END IF;
    ALTER ROLE fleetlens_grafana SET default_transaction_read_only = on;
    ALTER ROLE fleetlens_grafana SET statement_timeout = '30s';
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN
        NULL; -- another database's migration created it at the same moment
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'fleetlens: cannot create role fleetlens_grafana (%); create it as an administrator: CREATE ROLE fleetlens_grafana LOGIN IN ROLE fleetlens_reader', SQLERRM;
END
$$;

---- create above / drop below ----

DROP FUNCTION IF EXISTS fleetlens_platform(text);
-- The role is cluster-wide and may be used by other databases: it is not dropped here.
