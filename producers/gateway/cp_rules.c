#include "cp_rules.h"

#include <stdio.h>
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

int tally_cp_rules_check(avro_value_t *event, char *why, size_t whysize)
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
    return 0;
}
