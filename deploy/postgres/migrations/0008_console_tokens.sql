-- Console tokens (tally-console sign-in), projected by tally-materializer
-- from the ConsoleTokenIssued and ConsoleTokenRevoked branches of
-- ControlPanelEvent version 2. Only the SHA-256 of a token is stored; the
-- token itself never leaves the `tally-console issue-token` that made it.
--
-- A revocation may be read before its issue (two admin requests racing
-- through the gateway): it then leaves a row with only tenant, token_id and
-- revoked_at, which the issue completes, already revoked. Such a row has no
-- hash, so no sign-in (a lookup by token_sha256) can ever find it.
CREATE TABLE tally.console_tokens (
    tenant_id    text NOT NULL,
    token_id     uuid PRIMARY KEY,
    member_id    text,
    token_sha256 text UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    issued_at    timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    CHECK (expires_at > issued_at),
    CHECK ((member_id IS NOT NULL AND token_sha256 IS NOT NULL AND issued_at IS NOT NULL AND expires_at IS NOT NULL)
        OR (member_id IS NULL AND token_sha256 IS NULL AND issued_at IS NULL AND expires_at IS NULL
            AND revoked_at IS NOT NULL))
);
-- Sign-in looks a token up by its hash; the unique constraint's index
-- serves that. The console lists a member's tokens too.
CREATE INDEX console_tokens_member ON tally.console_tokens (tenant_id, member_id);

-- Written by the materializer (as 0007 grants its other tables), read by
-- the console as tally_reader.
GRANT SELECT, INSERT, UPDATE ON tally.console_tokens TO tally_materializer;
GRANT SELECT ON tally.console_tokens TO tally_reader;
