#include "projection.h"

#include "copy_text.h"
#include "timeutil.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;   /* the payload record's name */
    int nparams;
    const char *sql;
} kind_spec_t;

/* Parameters: $1 is always the tenant, the last one the event's occurred_at. */
static const kind_spec_t kinds[TALLY_CP_KIND_COUNT] = {
    [TALLY_CP_TENANT_REGISTERED] = {"TenantRegistered", 3,
        "INSERT INTO @.tenants AS t (tenant_id, name, registered_at) VALUES ($1, $2, $3::timestamptz) "
        "ON CONFLICT (tenant_id) DO UPDATE SET name = EXCLUDED.name, registered_at = EXCLUDED.registered_at "
        "WHERE t.registered_at <= EXCLUDED.registered_at"},
    [TALLY_CP_ENVIRONMENT_CREATED] = {"EnvironmentCreated", 6,
        "INSERT INTO @.environments AS e (tenant_id, environment_id, name, kind, owner, created_at, deleted_at) "
        "VALUES ($1, $2, $3, $4, $5, $6::timestamptz, NULL) "
        "ON CONFLICT (tenant_id, environment_id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, "
        "owner = EXCLUDED.owner, created_at = EXCLUDED.created_at, deleted_at = NULL "
        "WHERE e.created_at <= EXCLUDED.created_at AND (e.deleted_at IS NULL OR e.deleted_at <= EXCLUDED.created_at)"},
    [TALLY_CP_ENVIRONMENT_DELETED] = {"EnvironmentDeleted", 3,
        "UPDATE @.environments SET deleted_at = $3::timestamptz "
        "WHERE tenant_id = $1 AND environment_id = $2 AND deleted_at IS NULL AND created_at <= $3::timestamptz"},
    [TALLY_CP_MEMBER_ADDED] = {"MemberAdded", 7,
        "INSERT INTO @.members AS m (tenant_id, member_id, first_name, last_name, email, role, added_at, removed_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, NULL) "
        "ON CONFLICT (tenant_id, member_id) DO UPDATE SET first_name = EXCLUDED.first_name, "
        "last_name = EXCLUDED.last_name, email = EXCLUDED.email, role = EXCLUDED.role, "
        "added_at = EXCLUDED.added_at, removed_at = NULL "
        "WHERE m.added_at <= EXCLUDED.added_at AND (m.removed_at IS NULL OR m.removed_at <= EXCLUDED.added_at)"},
    [TALLY_CP_MEMBER_REMOVED] = {"MemberRemoved", 3,
        "UPDATE @.members SET removed_at = $3::timestamptz "
        "WHERE tenant_id = $1 AND member_id = $2 AND removed_at IS NULL AND added_at <= $3::timestamptz"},
    [TALLY_CP_LICENSE_TERMS_SET] = {"LicenseTermsSet", 8,
        "INSERT INTO @.license_terms AS l (tenant_id, valid_from, valid_until, seats_max, monthly_api_calls_max, "
        "daily_api_calls_max_nonprod, features, set_at) "
        "VALUES ($1, $2::date, $3::date, $4::bigint, $5::bigint, $6::bigint, $7::text[], $8::timestamptz) "
        "ON CONFLICT (tenant_id, valid_from) DO UPDATE SET valid_until = EXCLUDED.valid_until, "
        "seats_max = EXCLUDED.seats_max, monthly_api_calls_max = EXCLUDED.monthly_api_calls_max, "
        "daily_api_calls_max_nonprod = EXCLUDED.daily_api_calls_max_nonprod, features = EXCLUDED.features, "
        "set_at = EXCLUDED.set_at WHERE l.set_at <= EXCLUDED.set_at"},
    [TALLY_CP_API_KEY_ISSUED] = {"ApiKeyIssued", 5,
        "INSERT INTO @.api_keys (tenant_id, key_id, environment_id, key_sha256, issued_at) "
        "VALUES ($1, $2, $3, $4, $5::timestamptz) ON CONFLICT DO NOTHING"},
    [TALLY_CP_API_KEY_REVOKED] = {"ApiKeyRevoked", 3,
        "UPDATE @.api_keys SET revoked_at = $3::timestamptz "
        "WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL"},
    /* $1 tenant, $2 token_id, $3 member, $4 hash, $5 expires_at, $6 issued.
     * Either completes the tenant's revocation-only row or inserts; both
     * only for a current member of the tenant and an unused hash, so no
     * replay or hostile repeat can fail the batch on a unique key. */
    [TALLY_CP_CONSOLE_TOKEN_ISSUED] = {"ConsoleTokenIssued", 6,
        "WITH ok AS (SELECT 1 FROM @.members m WHERE m.tenant_id = $1 AND m.member_id = $3 "
        "  AND m.added_at <= $6::timestamptz AND m.removed_at IS NULL "
        "  AND NOT EXISTS (SELECT 1 FROM @.console_tokens h WHERE h.token_sha256 = $4)), "
        "fill AS (UPDATE @.console_tokens t SET member_id = $3, token_sha256 = $4, issued_at = $6::timestamptz, "
        "  expires_at = $5::timestamptz WHERE t.token_id = $2::uuid AND t.tenant_id = $1 "
        "  AND t.token_sha256 IS NULL AND EXISTS (SELECT 1 FROM ok) RETURNING 1) "
        "INSERT INTO @.console_tokens (tenant_id, token_id, member_id, token_sha256, issued_at, expires_at) "
        "SELECT $1, $2::uuid, $3, $4, $6::timestamptz, $5::timestamptz "
        "WHERE EXISTS (SELECT 1 FROM ok) AND NOT EXISTS (SELECT 1 FROM fill) ON CONFLICT DO NOTHING"},
    [TALLY_CP_CONSOLE_TOKEN_REVOKED] = {"ConsoleTokenRevoked", 3,
        "INSERT INTO @.console_tokens AS t (tenant_id, token_id, revoked_at) VALUES ($1, $2::uuid, $3::timestamptz) "
        "ON CONFLICT (token_id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at "
        "WHERE t.tenant_id = EXCLUDED.tenant_id AND t.revoked_at IS NULL"},
    /* $1 tenant, $2 license_id, $3 kind, $4 member or environment id (by
     * kind), $5 valid_from, $6 valid_until, $7 key_id, $8 payload_sha256,
     * $9 payload, $10 issued. The first issue of a license id wins: it
     * completes the tenant's revocation-only row or inserts; a repeat, even
     * with another payload, changes nothing. */
    [TALLY_CP_LICENSE_ISSUED] = {"LicenseIssued", 10,
        "WITH fill AS (UPDATE @.licenses l SET kind = $3, "
        "  member_id = CASE WHEN $3 = 'personal_dev' THEN $4 END, "
        "  environment_id = CASE WHEN $3 = 'environment' THEN $4 END, "
        "  valid_from = $5::timestamptz, valid_until = $6::timestamptz, key_id = $7, payload_sha256 = $8, "
        "  payload = $9, issued_at = $10::timestamptz "
        "  WHERE l.license_id = $2::uuid AND l.tenant_id = $1 AND l.payload IS NULL RETURNING 1) "
        "INSERT INTO @.licenses (tenant_id, license_id, kind, member_id, environment_id, valid_from, valid_until, "
        "  issued_at, key_id, payload_sha256, payload) "
        "SELECT $1, $2::uuid, $3, CASE WHEN $3 = 'personal_dev' THEN $4 END, "
        "  CASE WHEN $3 = 'environment' THEN $4 END, $5::timestamptz, $6::timestamptz, $10::timestamptz, $7, $8, $9 "
        "WHERE NOT EXISTS (SELECT 1 FROM fill) ON CONFLICT DO NOTHING"},
    /* $1 tenant, $2 license_id, $3 reason, $4 revoked. The first
     * revocation by the tenant's own event wins, before or after the issue. */
    [TALLY_CP_LICENSE_REVOKED] = {"LicenseRevoked", 4,
        "INSERT INTO @.licenses AS l (tenant_id, license_id, revoked_at, revoke_reason) "
        "VALUES ($1, $2::uuid, $4::timestamptz, $3) "
        "ON CONFLICT (license_id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at, "
        "revoke_reason = EXCLUDED.revoke_reason WHERE l.tenant_id = EXCLUDED.tenant_id AND l.revoked_at IS NULL"},
    /* Not a Control Panel event: a UsageAlert (alert.h), parameters in its
     * order. The first record of an alert id wins. */
    [TALLY_CP_USAGE_ALERT] = {"UsageAlert", 12,
        "INSERT INTO @.alerts (tenant_id, alert_id, environment_id, metric, threshold, value, \"limit\", period, "
        "state, at, kafka_partition, kafka_offset) "
        "VALUES ($1, $2, $3, $4, $5::integer, $6::bigint, $7::bigint, $8, $9, $10::timestamptz, $11::integer, "
        "$12::bigint) ON CONFLICT (alert_id) DO NOTHING"},
};

const char *tally_projection_sql(tally_cp_kind_t kind, int *nparams)
{
    *nparams = kinds[kind].nparams;
    return kinds[kind].sql;
}

const char *tally_projection_kind_name(tally_cp_kind_t kind)
{
    return kinds[kind].name;
}

/* Field helpers: each returns 0, or -1 with errbuf naming the field. */
static int field(avro_value_t *rec, const char *name, avro_value_t *out, char *errbuf, size_t errsize)
{
    if (avro_value_get_by_name(rec, name, out, NULL) != 0) {
        snprintf(errbuf, errsize, "field %s missing", name);
        return -1;
    }
    return 0;
}

static int text_param(tally_batch_t *b, tally_cp_event_t *e, avro_value_t *rec, const char *name, char *errbuf,
                      size_t errsize)
{
    avro_value_t f;
    const char *s;
    size_t n;
    if (field(rec, name, &f, errbuf, errsize) != 0)
        return -1;
    if (avro_value_get_string(&f, &s, &n) != 0) {
        snprintf(errbuf, errsize, "field %s is not a string", name);
        return -1;
    }
    n = n ? n - 1 : 0;   /* avro-c counts the NUL */
    if (!tally_text_valid(s, n)) {
        snprintf(errbuf, errsize, "field %s is not valid UTF-8 text", name);
        return -1;
    }
    e->param[e->nparams++] = tally_batch_strdup(b, s, n);
    return 0;
}

static int long_field(avro_value_t *rec, const char *name, int64_t *v, char *errbuf, size_t errsize)
{
    avro_value_t f;
    if (field(rec, name, &f, errbuf, errsize) != 0)
        return -1;
    if (avro_value_get_long(&f, v) != 0) {
        snprintf(errbuf, errsize, "field %s is not a long", name);
        return -1;
    }
    return 0;
}

static int date_field(avro_value_t *rec, const char *name, int64_t *days, char *errbuf, size_t errsize)
{
    avro_value_t f;
    int32_t d;
    if (field(rec, name, &f, errbuf, errsize) != 0)
        return -1;
    if (avro_value_get_int(&f, &d) != 0) {
        snprintf(errbuf, errsize, "field %s is not a date", name);
        return -1;
    }
    *days = d;
    return 0;
}

static void number_param(tally_batch_t *b, tally_cp_event_t *e, int64_t v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    e->param[e->nparams++] = tally_batch_strdup(b, tmp, (size_t)n);
}

static int date_param(tally_batch_t *b, tally_cp_event_t *e, int64_t days, const char *name, char *errbuf,
                      size_t errsize)
{
    char tmp[TALLY_DATE_SIZE];
    if (tally_date_format(days, tmp) != 0) {
        snprintf(errbuf, errsize, "field %s: date out of range", name);
        return -1;
    }
    e->param[e->nparams++] = tally_batch_strdup(b, tmp, strlen(tmp));
    return 0;
}

static int enum_param(tally_batch_t *b, tally_cp_event_t *e, avro_value_t *rec, const char *name, char *errbuf,
                      size_t errsize)
{
    avro_value_t f;
    int idx;
    if (field(rec, name, &f, errbuf, errsize) != 0)
        return -1;
    const char *sym = NULL;
    if (avro_value_get_enum(&f, &idx) == 0)
        sym = avro_schema_enum_get(avro_value_get_schema(&f), idx);
    if (sym == NULL) {
        snprintf(errbuf, errsize, "field %s is not a known symbol", name);
        return -1;
    }
    e->param[e->nparams++] = tally_batch_strdup(b, sym, strlen(sym));
    return 0;
}

static int features_param(tally_batch_t *b, tally_cp_event_t *e, avro_value_t *rec, char *errbuf, size_t errsize)
{
    avro_value_t arr, item;
    size_t count;
    if (field(rec, "features", &arr, errbuf, errsize) != 0 || avro_value_get_size(&arr, &count) != 0)
        return -1;
    /* Built in the arena directly: '{' "a" ',' "b" '}' NUL. */
    size_t off = b->arena.len;
    tally_textbuf_putc(&b->arena, '{');
    for (size_t i = 0; i < count; i++) {
        const char *s;
        size_t n;
        if (avro_value_get_by_index(&arr, i, &item, NULL) != 0 || avro_value_get_string(&item, &s, &n) != 0) {
            snprintf(errbuf, errsize, "features[%zu] is not a string", i);
            return -1;
        }
        n = n ? n - 1 : 0;
        if (!tally_text_valid(s, n)) {
            snprintf(errbuf, errsize, "features[%zu] is not valid UTF-8 text", i);
            return -1;
        }
        if (i)
            tally_textbuf_putc(&b->arena, ',');
        tally_textbuf_array_element(&b->arena, s, n);
    }
    tally_textbuf_putc(&b->arena, '}');
    tally_textbuf_putc(&b->arena, '\0');
    e->param[e->nparams++] = off;
    return 0;
}

static int uuid_param(tally_batch_t *b, tally_cp_event_t *e, avro_value_t *rec, const char *name, char *errbuf,
                      size_t errsize)
{
    if (text_param(b, e, rec, name, errbuf, errsize) != 0)
        return -1;
    const char *s = tally_batch_str(b, e->param[e->nparams - 1]);
    if (!tally_text_is_uuid(s, strlen(s))) {
        snprintf(errbuf, errsize, "field %s is not a UUID", name);
        return -1;
    }
    return 0;
}

static int time_param(tally_batch_t *b, tally_cp_event_t *e, int64_t ms, char *errbuf, size_t errsize)
{
    char tmp[TALLY_RFC3339_SIZE];
    if (tally_rfc3339_format(ms, tmp) != 0) {
        snprintf(errbuf, errsize, "a time field is out of range");
        return -1;
    }
    e->param[e->nparams++] = tally_batch_strdup(b, tmp, strlen(tmp));
    return 0;
}

/* The id of a ["null", "string"] field: *s NULL when null. */
static int optional_text(avro_value_t *rec, const char *name, const char **s, size_t *n, char *errbuf,
                         size_t errsize)
{
    avro_value_t f, branch;
    int disc;
    if (field(rec, name, &f, errbuf, errsize) != 0)
        return -1;
    if (avro_value_get_discriminant(&f, &disc) != 0 || avro_value_get_current_branch(&f, &branch) != 0) {
        snprintf(errbuf, errsize, "field %s is not an optional string", name);
        return -1;
    }
    *s = NULL;
    *n = 0;
    if (avro_value_get_type(&branch) == AVRO_NULL)
        return 0;
    if (avro_value_get_string(&branch, s, n) != 0) {
        snprintf(errbuf, errsize, "field %s is not an optional string", name);
        return -1;
    }
    *n = *n ? *n - 1 : 0;
    return 0;
}

/* LicenseIssued's parameters $2..$9 (projection of kinds[] above), after
 * the checks PostgreSQL would make and more: exactly the id of the kind,
 * a window that ends after it starts, a hash that is the payload's. */
static int license_params(tally_batch_t *b, tally_cp_event_t *e, avro_value_t *p, char *errbuf, size_t errsize)
{
    const char *member, *env, *s;
    size_t member_n, env_n;
    int64_t from, until;
    if (uuid_param(b, e, p, "license_id", errbuf, errsize) != 0 || enum_param(b, e, p, "kind", errbuf, errsize) != 0)
        return -1;
    int personal = strcmp(tally_batch_str(b, e->param[e->nparams - 1]), "personal_dev") == 0;
    if (optional_text(p, "member_id", &member, &member_n, errbuf, errsize) != 0 ||
        optional_text(p, "environment_id", &env, &env_n, errbuf, errsize) != 0)
        return -1;
    s = personal ? member : env;
    size_t n = personal ? member_n : env_n;
    if (s == NULL || n == 0 || (personal ? env : member) != NULL) {
        snprintf(errbuf, errsize, "%s license needs %s and not %s", personal ? "a personal_dev" : "an environment",
                 personal ? "member_id" : "environment_id", personal ? "environment_id" : "member_id");
        return -1;
    }
    if (!tally_text_valid(s, n)) {
        snprintf(errbuf, errsize, "field %s is not valid UTF-8 text", personal ? "member_id" : "environment_id");
        return -1;
    }
    e->param[e->nparams++] = tally_batch_strdup(b, s, n);
    if (long_field(p, "valid_from", &from, errbuf, errsize) != 0 || time_param(b, e, from, errbuf, errsize) != 0 ||
        long_field(p, "valid_until", &until, errbuf, errsize) != 0 || time_param(b, e, until, errbuf, errsize) != 0)
        return -1;
    if (until <= from) {
        snprintf(errbuf, errsize, "valid_until is not after valid_from");
        return -1;
    }
    if (text_param(b, e, p, "key_id", errbuf, errsize) != 0 ||
        text_param(b, e, p, "payload_sha256", errbuf, errsize) != 0 ||
        text_param(b, e, p, "payload", errbuf, errsize) != 0)
        return -1;
    const char *hash = tally_batch_str(b, e->param[e->nparams - 2]);
    const char *payload = tally_batch_str(b, e->param[e->nparams - 1]);
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256(h, (const unsigned char *)payload, strlen(payload));
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    if (strcmp(hash, hex) != 0) {
        snprintf(errbuf, errsize, "payload_sha256 is not the lower-case hex SHA-256 of payload");
        return -1;
    }
    return 0;
}

static int build(tally_batch_t *b, tally_cp_event_t *e, avro_value_t *ev, avro_value_t *p, const char *when,
                 int64_t occurred, char *errbuf, size_t errsize)
{
    int64_t v1, v2, v3, from, until;
    if (text_param(b, e, ev, "tenant_id", errbuf, errsize) != 0)
        return -1;
    switch (e->kind) {
    case TALLY_CP_USAGE_ALERT:   /* never a payload branch: alert.c builds it */
        snprintf(errbuf, errsize, "a usage alert is not a Control Panel event");
        return -1;
    case TALLY_CP_TENANT_REGISTERED:
        if (text_param(b, e, p, "name", errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_ENVIRONMENT_CREATED:
        if (text_param(b, e, p, "environment_id", errbuf, errsize) != 0 ||
            text_param(b, e, p, "name", errbuf, errsize) != 0 || enum_param(b, e, p, "kind", errbuf, errsize) != 0 ||
            text_param(b, e, p, "owner", errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_CONSOLE_TOKEN_ISSUED:
        if (uuid_param(b, e, p, "token_id", errbuf, errsize) != 0 ||
            text_param(b, e, p, "member_id", errbuf, errsize) != 0 ||
            text_param(b, e, p, "token_sha256", errbuf, errsize) != 0)
            return -1;
        if (!tally_text_is_sha256_hex(tally_batch_str(b, e->param[e->nparams - 1]),
                                      strlen(tally_batch_str(b, e->param[e->nparams - 1])))) {
            snprintf(errbuf, errsize, "token_sha256 is not a lower-case hex SHA-256");
            return -1;
        }
        if (long_field(p, "expires_at", &v1, errbuf, errsize) != 0 || time_param(b, e, v1, errbuf, errsize) != 0)
            return -1;
        if (v1 <= occurred) {
            snprintf(errbuf, errsize, "expires_at is not after occurred_at");
            return -1;
        }
        break;
    case TALLY_CP_CONSOLE_TOKEN_REVOKED:
        if (uuid_param(b, e, p, "token_id", errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_LICENSE_ISSUED:
        if (license_params(b, e, p, errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_LICENSE_REVOKED:
        if (uuid_param(b, e, p, "license_id", errbuf, errsize) != 0 ||
            text_param(b, e, p, "reason", errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_ENVIRONMENT_DELETED:
    case TALLY_CP_API_KEY_REVOKED:
        if (text_param(b, e, p, e->kind == TALLY_CP_API_KEY_REVOKED ? "key_id" : "environment_id", errbuf,
                       errsize) != 0)
            return -1;
        break;
    case TALLY_CP_MEMBER_ADDED:
        if (text_param(b, e, p, "member_id", errbuf, errsize) != 0 ||
            text_param(b, e, p, "first_name", errbuf, errsize) != 0 ||
            text_param(b, e, p, "last_name", errbuf, errsize) != 0 ||
            text_param(b, e, p, "email", errbuf, errsize) != 0 || text_param(b, e, p, "role", errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_MEMBER_REMOVED:
        if (text_param(b, e, p, "member_id", errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_LICENSE_TERMS_SET:
        if (date_field(p, "valid_from", &from, errbuf, errsize) != 0 ||
            date_field(p, "valid_until", &until, errbuf, errsize) != 0 ||
            long_field(p, "seats_max", &v1, errbuf, errsize) != 0 ||
            long_field(p, "monthly_api_calls_max", &v2, errbuf, errsize) != 0 ||
            long_field(p, "daily_api_calls_max_nonprod", &v3, errbuf, errsize) != 0)
            return -1;
        if (until < from) {
            snprintf(errbuf, errsize, "license terms end (valid_until) before they start (valid_from)");
            return -1;
        }
        if (v1 < 0 || v2 < 0 || v3 < 0) {
            snprintf(errbuf, errsize, "license terms with a negative maximum");
            return -1;
        }
        if (date_param(b, e, from, "valid_from", errbuf, errsize) != 0 ||
            date_param(b, e, until, "valid_until", errbuf, errsize) != 0)
            return -1;
        number_param(b, e, v1);
        number_param(b, e, v2);
        number_param(b, e, v3);
        if (features_param(b, e, p, errbuf, errsize) != 0)
            return -1;
        break;
    case TALLY_CP_API_KEY_ISSUED:
        if (text_param(b, e, p, "key_id", errbuf, errsize) != 0 ||
            text_param(b, e, p, "environment_id", errbuf, errsize) != 0 ||
            text_param(b, e, p, "key_sha256", errbuf, errsize) != 0)
            return -1;
        {
            const char *h = tally_batch_str(b, e->param[e->nparams - 1]);
            if (!tally_text_is_sha256_hex(h, strlen(h))) {
                snprintf(errbuf, errsize, "key_sha256 is not a lower-case hex SHA-256");
                return -1;
            }
        }
        break;
    }
    e->param[e->nparams++] = tally_batch_strdup(b, when, strlen(when));
    return 0;
}

int tally_projection_add(tally_batch_t *b, avro_value_t *ev, char *errbuf, size_t errsize)
{
    avro_value_t payload, branch, f;
    int64_t occurred;
    char when[TALLY_RFC3339_SIZE];
    if (field(ev, "occurred_at", &f, errbuf, errsize) != 0 || avro_value_get_long(&f, &occurred) != 0 ||
        tally_rfc3339_format(occurred, when) != 0) {
        snprintf(errbuf, errsize, "occurred_at missing or out of range");
        return -1;
    }
    if (field(ev, "payload", &payload, errbuf, errsize) != 0 ||
        avro_value_get_current_branch(&payload, &branch) != 0) {
        snprintf(errbuf, errsize, "payload missing");
        return -1;
    }
    const char *name = avro_schema_type_name(avro_value_get_schema(&branch));
    int kind = -1;
    for (int k = 0; k < TALLY_CP_KIND_COUNT && name; k++)
        if (k != TALLY_CP_USAGE_ALERT && strcmp(kinds[k].name, name) == 0)
            kind = k;
    if (kind < 0) {
        snprintf(errbuf, errsize, "unknown Control Panel payload %.64s", name ? name : "(none)");
        return -1;
    }
    /* Undo everything on a refusal: the event and its strings. */
    size_t arena_len = b->arena.len;
    tally_cp_event_t *e = tally_batch_add_cp(b, (tally_cp_kind_t)kind);
    if (build(b, e, ev, &branch, when, occurred, errbuf, errsize) != 0) {
        b->n_cp--;
        tally_textbuf_truncate(&b->arena, arena_len);
        return -1;
    }
    return 0;
}
