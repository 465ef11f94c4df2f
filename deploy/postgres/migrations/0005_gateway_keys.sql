-- The API keys the gateway accepts, and the tally_gateway role that may read
-- them and nothing else.
--
-- A key is valid while it is not revoked, its environment exists and is not
-- deleted, and its tenant exists: deleting an environment revokes its keys.
-- environment_kind (production, staging or development) decides what a key
-- may write: seat events need a production key (see the gateway's keys.h).
-- The view runs with its owner's rights, so SELECT on it gives no access to
-- tally.api_keys or any other table.
CREATE VIEW tally.gateway_keys AS
SELECT k.key_sha256,
       k.tenant_id,
       k.environment_id,
       e.kind AS environment_kind
FROM tally.api_keys k
JOIN tally.environments e ON e.tenant_id = k.tenant_id AND e.environment_id = k.environment_id
JOIN tally.tenants t ON t.tenant_id = k.tenant_id
WHERE k.revoked_at IS NULL
  AND e.deleted_at IS NULL;

-- The role is cluster-wide and every database runs this migration: create it
-- once, tolerating a concurrent creator in another database. LOGIN without a
-- password: the local setup trusts loopback connections; elsewhere give it a
-- password (ALTER ROLE tally_gateway PASSWORD ...) or a certificate.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tally_gateway') THEN
        CREATE ROLE tally_gateway LOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The grants are per database: the schema, and the view only.
REVOKE ALL ON tally.gateway_keys FROM PUBLIC;
GRANT USAGE ON SCHEMA tally TO tally_gateway;
GRANT SELECT ON tally.gateway_keys TO tally_gateway;
