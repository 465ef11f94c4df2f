#include "cp_rules.h"

#include "license.h"
#include "webhook_url.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_long(avro_value_t *rec, const char *name, int64_t *v)
{
    avro_value_t f;
    return avro_value_get_by_name(rec, name, &f, NULL) == 0 && avro_value_get_long(&f, v) == 0 ? 0 : -1;
}

static int get_string(avro_value_t *rec, const char *name, const char **s, size_t *n)
{
    avro_value_t f;
    size_t size;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0 || avro_value_get_string(&f, s, &size) != 0 || size == 0)
        return -1;
    *n = size - 1;   /* avro-c counts the NUL */
    return 0;
}

static int is_sha256_hex(const char *s, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int check_issued(avro_value_t *event, avro_value_t *token, char *why, size_t whysize)
{
    const char *s;
    size_t n;
    int64_t occurred, expires;
    if (get_string(token, "token_sha256", &s, &n) != 0 || !is_sha256_hex(s, n)) {
        snprintf(why, whysize, "payload.token_sha256: must be the lower-case hex SHA-256 of the token (64 digits)");
        return -1;
    }
    if (get_string(token, "member_id", &s, &n) != 0 || n == 0) {
        snprintf(why, whysize, "payload.member_id: must not be empty");
        return -1;
    }
    if (get_long(event, "occurred_at", &occurred) != 0 || get_long(token, "expires_at", &expires) != 0) {
        snprintf(why, whysize, "payload.expires_at: missing");
        return -1;
    }
    if (expires <= occurred) {
        snprintf(why, whysize, "payload.expires_at: not after occurred_at");
        return -1;
    }
    if (expires - occurred > TALLY_CONSOLE_TOKEN_TTL_MAX_MS) {
        snprintf(why, whysize, "payload.expires_at: more than %d days after occurred_at",
                 (int)(TALLY_CONSOLE_TOKEN_TTL_MAX_MS / 86400000));
        return -1;
    }
    return 0;
}

/* A ["null", "string"] field: 0 with *s NULL for null, or the string. */
static int get_optional(avro_value_t *rec, const char *name, const char **s, size_t *n)
{
    avro_value_t f, branch;
    size_t size;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0 || avro_value_get_current_branch(&f, &branch) != 0)
        return -1;
    *s = NULL;
    *n = 0;
    if (avro_value_get_type(&branch) == AVRO_NULL)
        return 0;
    if (avro_value_get_string(&branch, s, &size) != 0 || size == 0)
        return -1;
    *n = size - 1;
    return 0;
}

static int same(const char *s, size_t n, const char *want)
{
    return s != NULL && strlen(want) == n && memcmp(s, want, n) == 0;
}

static int fail(char *why, size_t whysize, const char *field, const char *reason)
{
    snprintf(why, whysize, "payload.%s: %s", field, reason);
    return -1;
}

/* The event's fields against the signed payload they describe. */
static int check_license(avro_value_t *event, avro_value_t *lic, char *why, size_t whysize)
{
    const char *s, *payload, *tenant, *member, *env;
    size_t n, payload_n, tenant_n, member_n, env_n;
    int64_t from, until;
    avro_value_t f;
    int kind_idx;
    char hex[65], err[256];
    unsigned char h[crypto_hash_sha256_BYTES];

    if (get_string(lic, "payload", &payload, &payload_n) != 0 || payload_n == 0)
        return fail(why, whysize, "payload", "must be the canonical JSON payload that was signed");
    if (get_string(lic, "payload_sha256", &s, &n) != 0 || !is_sha256_hex(s, n))
        return fail(why, whysize, "payload_sha256", "must be the lower-case hex SHA-256 of payload (64 digits)");
    crypto_hash_sha256(h, (const unsigned char *)payload, payload_n);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    if (memcmp(s, hex, 64) != 0)
        return fail(why, whysize, "payload_sha256", "is not the SHA-256 of payload");
    tally_license_t *p = malloc(sizeof *p);
    if (p == NULL)
        return fail(why, whysize, "payload", "out of memory");
    int rc = -1;
    if (tally_license_payload_parse(payload, payload_n, p, err, sizeof err) != 0) {
        snprintf(why, whysize, "payload.payload: %s", err);
        goto out;
    }
    if (get_string(event, "tenant_id", &tenant, &tenant_n) != 0 || !same(tenant, tenant_n, p->tenant_id)) {
        fail(why, whysize, "payload", "its tenant_id is not the event's tenant_id");
        goto out;
    }
    if (get_string(lic, "license_id", &s, &n) != 0 || !same(s, n, p->license_id)) {
        fail(why, whysize, "license_id", "is not the payload's license_id");
        goto out;
    }
    if (avro_value_get_by_name(lic, "kind", &f, NULL) != 0 || avro_value_get_enum(&f, &kind_idx) != 0) {
        fail(why, whysize, "kind", "missing");
        goto out;
    }
    const char *sym = avro_schema_enum_get(avro_value_get_schema(&f), kind_idx);
    int personal = sym != NULL && strcmp(sym, "personal_dev") == 0;
    if ((personal ? TALLY_LICENSE_PERSONAL_DEV : TALLY_LICENSE_ENVIRONMENT) != p->kind) {
        fail(why, whysize, "kind", "is not the payload's kind");
        goto out;
    }
    if (get_optional(lic, "member_id", &member, &member_n) != 0 ||
        get_optional(lic, "environment_id", &env, &env_n) != 0) {
        fail(why, whysize, "member_id", "missing");
        goto out;
    }
    if (personal ? env != NULL : member != NULL) {
        fail(why, whysize, personal ? "environment_id" : "member_id",
             personal ? "must be null for a personal_dev license" : "must be null for an environment license");
        goto out;
    }
    if (!same(personal ? member : env, personal ? member_n : env_n, p->subject_id)) {
        fail(why, whysize, personal ? "member_id" : "environment_id",
             personal ? "is not the payload's member_id" : "is not the payload's environment_id");
        goto out;
    }
    if (get_long(lic, "valid_from", &from) != 0 || from != p->valid_from * 1000) {
        fail(why, whysize, "valid_from", "is not the payload's valid_from");
        goto out;
    }
    if (get_long(lic, "valid_until", &until) != 0 || until != p->valid_until * 1000) {
        fail(why, whysize, "valid_until", "is not the payload's valid_until");
        goto out;
    }
    if (until <= from) {
        fail(why, whysize, "valid_until", "not after valid_from");
        goto out;
    }
    if (get_string(lic, "key_id", &s, &n) != 0 || !same(s, n, p->key_id)) {
        fail(why, whysize, "key_id", "is not the payload's key_id");
        goto out;
    }
    rc = 0;
out:
    free(p);
    return rc;
}

/* One AlertRulesSet array: bounded, each in 1..max percent, ascending. */
static int check_percents(avro_value_t *rules, const char *field, char *why, size_t whysize)
{
    avro_value_t arr, item;
    size_t count;
    int prev = 0, p;
    if (avro_value_get_by_name(rules, field, &arr, NULL) != 0 || avro_value_get_size(&arr, &count) != 0)
        return fail(why, whysize, field, "missing");
    if (count > TALLY_ALERT_RULES_MAX) {
        snprintf(why, whysize, "payload.%s: more than %d thresholds", field, TALLY_ALERT_RULES_MAX);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        if (avro_value_get_by_index(&arr, i, &item, NULL) != 0 || avro_value_get_int(&item, &p) != 0)
            return fail(why, whysize, field, "missing");
        if (p < 1 || p > TALLY_ALERT_PERCENT_MAX) {
            snprintf(why, whysize, "payload.%s: %d is outside 1..%d percent", field, p, TALLY_ALERT_PERCENT_MAX);
            return -1;
        }
        if (p <= prev)
            return fail(why, whysize, field, "thresholds must be sorted ascending and distinct");
        prev = p;
    }
    return 0;
}

/* The webhook URL's syntax, by the shared policy (common/webhook_url.h):
 * the gateway checks what it can without resolving (https, or http to a
 * loopback literal in local mode; no credentials; canonical hosts); which
 * addresses may be reached is decided by tally-webhooks at each delivery
 * (its --allow-private-addresses), so a private literal passes here. */
static int webhook_url_ok(const char *url, size_t n, const tally_cp_rules_t *opts, char *reason, size_t size)
{
    char text[TALLY_WEBHOOK_URL_MAX + 1];
    if (n > TALLY_WEBHOOK_URL_MAX || memchr(url, '\0', n) != NULL) {
        snprintf(reason, size, "must be at most %d bytes, without NUL", TALLY_WEBHOOK_URL_MAX);
        return 0;
    }
    memcpy(text, url, n);
    text[n] = '\0';
    unsigned flags = TALLY_WEBHOOK_URL_ALLOW_PRIVATE |
                     (opts->webhook_allow_http_loopback ? TALLY_WEBHOOK_URL_ALLOW_LOOPBACK : 0);
    tally_webhook_url_t u;
    return tally_webhook_url_check(text, flags, &u, reason, size) == 0;
}

static int check_endpoint(avro_value_t *ep, const tally_cp_rules_t *opts, char *why, size_t whysize)
{
    const char *url, *sealed, *key;
    size_t url_n, sealed_n, key_n;
    if (get_string(ep, "url", &url, &url_n) != 0)
        return fail(why, whysize, "url", "missing");
    if (get_string(ep, "secret_sealed", &sealed, &sealed_n) != 0)
        return fail(why, whysize, "secret_sealed", "missing");
    if (get_string(ep, "key_id", &key, &key_n) != 0)
        return fail(why, whysize, "key_id", "missing");
    if (url_n > TALLY_WEBHOOK_URL_MAX) {
        snprintf(why, whysize, "payload.url: longer than %d bytes", TALLY_WEBHOOK_URL_MAX);
        return -1;
    }
    if (key_n > 64)
        return fail(why, whysize, "key_id", "longer than 64 bytes");
    if (url_n == 0)
        return sealed_n == 0 ? 0 : fail(why, whysize, "secret_sealed", "must be empty when url is empty");
    char url_why[256];
    if (!webhook_url_ok(url, url_n, opts, url_why, sizeof url_why))
        return fail(why, whysize, "url", url_why);
    if (key_n == 0)
        return fail(why, whysize, "key_id", "must not be empty");
    unsigned char bin[crypto_box_SEALBYTES + 64 + 1];
    size_t bin_n = 0;
    const char *stop = NULL;
    if (sealed_n > sodium_base64_ENCODED_LEN(sizeof bin, sodium_base64_VARIANT_ORIGINAL) ||
        sodium_base642bin(bin, sizeof bin, sealed, sealed_n, NULL, &bin_n, &stop, sodium_base64_VARIANT_ORIGINAL) !=
            0 ||
        stop != sealed + sealed_n || bin_n < crypto_box_SEALBYTES + 32 || bin_n > crypto_box_SEALBYTES + 64)
        return fail(why, whysize, "secret_sealed",
                    "must be base64 of a sealed secret of 32..64 bytes (crypto_box_SEALBYTES + 32..64 bytes)");
    return 0;
}

int tally_cp_rules_check(avro_value_t *event, const tally_cp_rules_t *opts, char *why, size_t whysize)
{
    avro_value_t payload, branch;
    if (avro_value_get_by_name(event, "payload", &payload, NULL) != 0 ||
        avro_value_get_current_branch(&payload, &branch) != 0) {
        snprintf(why, whysize, "payload: missing");
        return -1;
    }
    const char *name = avro_schema_type_name(avro_value_get_schema(&branch));
    if (name != NULL && strcmp(name, "ConsoleTokenIssued") == 0)
        return check_issued(event, &branch, why, whysize);
    if (name != NULL && strcmp(name, "LicenseIssued") == 0)
        return check_license(event, &branch, why, whysize);
    if (name != NULL && strcmp(name, "LicenseRevoked") == 0) {
        const char *s;
        size_t n;
        if (get_string(&branch, "reason", &s, &n) != 0 || n == 0)
            return fail(why, whysize, "reason", "must not be empty");
    }
    if (name != NULL && strcmp(name, "AlertRulesSet") == 0) {
        static const char *const fields[] = {"api_calls_percent", "nonprod_daily_percent", "seats_percent"};
        for (size_t i = 0; i < 3; i++)
            if (check_percents(&branch, fields[i], why, whysize) != 0)
                return -1;
    }
    if (name != NULL && strcmp(name, "WebhookEndpointSet") == 0)
        return check_endpoint(&branch, opts, why, whysize);
    return 0;
}
