-- The Control Panel projection (from tally.controlpanel): accounts,
-- environments, team members, API keys (hashes only) and license terms.
-- Member names and e-mails live here and nowhere in the analytics topics.
CREATE TABLE tally.tenants (
    tenant_id     text PRIMARY KEY,
    name          text NOT NULL,
    registered_at timestamptz NOT NULL
);

CREATE TABLE tally.environments (
    tenant_id      text NOT NULL,
    environment_id text NOT NULL,
    name           text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('production', 'staging', 'development')),
    owner          text NOT NULL,
    created_at     timestamptz NOT NULL,
    deleted_at     timestamptz,
    PRIMARY KEY (tenant_id, environment_id)
);

CREATE TABLE tally.members (
    tenant_id  text NOT NULL,
    member_id  text NOT NULL,
    first_name text NOT NULL,
    last_name  text NOT NULL,
    email      text NOT NULL,
    role       text NOT NULL,
    added_at   timestamptz NOT NULL,
    removed_at timestamptz,
    PRIMARY KEY (tenant_id, member_id)
);

-- An environment API key is known by its SHA-256 only; the gateway loads the
-- active ones to authenticate usage reporters.
CREATE TABLE tally.api_keys (
    key_id         text PRIMARY KEY,
    tenant_id      text NOT NULL,
    environment_id text NOT NULL,
    key_sha256     text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    issued_at      timestamptz NOT NULL,
    revoked_at     timestamptz
);
CREATE INDEX api_keys_active ON tally.api_keys (key_sha256) WHERE revoked_at IS NULL;

CREATE TABLE tally.license_terms (
    tenant_id                   text NOT NULL,
    valid_from                  date NOT NULL,
    valid_until                 date NOT NULL CHECK (valid_until >= valid_from),
    seats_max                   bigint NOT NULL CHECK (seats_max >= 0),
    monthly_api_calls_max       bigint NOT NULL CHECK (monthly_api_calls_max >= 0),
    daily_api_calls_max_nonprod bigint NOT NULL CHECK (daily_api_calls_max_nonprod >= 0),
    features                    text[] NOT NULL DEFAULT '{}',
    set_at                      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, valid_from)
);
