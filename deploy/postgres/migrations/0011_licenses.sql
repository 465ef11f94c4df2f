-- Signed licenses (docs/licenses.md), projected by tally-materializer from
-- the LicenseIssued and LicenseRevoked branches of ControlPanelEvent
-- version 3: who got which license, when (issued_at: the event's
-- occurred_at), under which signing key, and the canonical payload that was
-- signed, so the identical file can be reproduced (Ed25519 is
-- deterministic) and the table checked against the events.
--
-- kind is the event's enum symbol: 'environment' or 'personal_dev' (the
-- payload spells the latter "personal-dev"). Exactly one of member_id
-- (personal_dev) and environment_id (environment) is set.
--
-- The first LicenseIssued of a license id wins; a later one, even with
-- another payload, changes nothing. A revocation may be read before its
-- issue: it then leaves a row with only tenant, license_id, revoked_at and
-- revoke_reason, which the issue completes, already revoked. The first
-- revocation wins.
CREATE TABLE tally.licenses (
    tenant_id      text NOT NULL,
    license_id     uuid PRIMARY KEY,
    kind           text CHECK (kind IN ('environment', 'personal_dev')),
    member_id      text,
    environment_id text,
    valid_from     timestamptz,
    valid_until    timestamptz,
    issued_at      timestamptz,
    key_id         text,
    payload_sha256 text CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
    payload        text,
    revoked_at     timestamptz,
    revoke_reason  text,
    CHECK (valid_until > valid_from),
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL)),
    CHECK ((kind IS NOT NULL AND valid_from IS NOT NULL AND valid_until IS NOT NULL AND issued_at IS NOT NULL
            AND key_id IS NOT NULL AND payload_sha256 IS NOT NULL AND payload IS NOT NULL
            AND (member_id IS NOT NULL) = (kind = 'personal_dev')
            AND (environment_id IS NOT NULL) = (kind = 'environment'))
        OR (kind IS NULL AND member_id IS NULL AND environment_id IS NULL AND valid_from IS NULL
            AND valid_until IS NULL AND issued_at IS NULL AND key_id IS NULL AND payload_sha256 IS NULL
            AND payload IS NULL AND revoked_at IS NOT NULL))
);
-- A member's licenses (the console's page), and every license of a tenant
-- newest first (staff).
CREATE INDEX licenses_member ON tally.licenses (tenant_id, member_id);
CREATE INDEX licenses_issued ON tally.licenses (tenant_id, issued_at);

-- Written by the materializer (as 0007 grants its other tables), read by
-- the console as tally_reader.
GRANT SELECT, INSERT, UPDATE ON tally.licenses TO tally_materializer;
GRANT SELECT ON tally.licenses TO tally_reader;
