/*
 * json_avro_scalar.c: the leaves of json_avro_read.c's walk, JSON text to
 * avro-c values: the reader's calls with the converter's errors (a syntax
 * error, "expected X, got Y"), and every scalar: null, boolean, int (and
 * the date), long (and the timestamp), float, double, string (and the
 * UUID), enum. Nothing here descends into a container, so nothing here
 * calls back into json_avro_read.c.
 */
#include "json_avro.h"

#include "json_avro_plan.h"
#include "json_reader.h"
#include "timeutil.h"

#include <float.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UUID_LEN 36

typedef tally_json_avro_ctx_t ctx_t;
typedef tally_json_avro_node_t node_t;
typedef tally_json_kind_t kind_t;

#define fail(cx, ...) tally_json_avro_ctx_fail((cx), TALLY_JSON_AVRO_ERR_INVALID, __VA_ARGS__)

/* ---- errors ---- */

int tally_json_avro_ctx_syntax(tally_json_avro_ctx_t *cx)
{
    if (cx->errbuf != NULL && cx->errsize > 0)
        tally_json_reader_error(cx->r, cx->errbuf, cx->errsize);
    return TALLY_JSON_AVRO_ERR_SYNTAX;
}

#define syntax(cx) tally_json_avro_ctx_syntax(cx)

const char *tally_json_avro_kind_name(tally_json_kind_t k)
{
    switch (k) {
    case TALLY_JSON_OBJECT: return "an object";
    case TALLY_JSON_ARRAY: return "an array";
    case TALLY_JSON_STRING: return "a string";
    case TALLY_JSON_INTEGER: return "an integer";
    case TALLY_JSON_REAL: return "a real number";
    case TALLY_JSON_TRUE:
    case TALLY_JSON_FALSE: return "a boolean";
    case TALLY_JSON_NULL: return "null";
    }
    return "an unknown JSON value";
}

/* What a node accepts, for "expected X, got Y". */
static const char *expected(const node_t *n)
{
    switch (n->kind) {
    case TALLY_JA_NULL: return "null";
    case TALLY_JA_BOOLEAN: return "a boolean";
    case TALLY_JA_INT:
        return n->logical == TALLY_JA_DATE ? "a date (\"YYYY-MM-DD\" or an integer day number)"
                                           : "an integer";
    case TALLY_JA_LONG:
        return n->logical == TALLY_JA_TIMESTAMP_MILLIS
                   ? "a timestamp (RFC 3339 string or integer epoch milliseconds)"
                   : "an integer";
    case TALLY_JA_FLOAT:
    case TALLY_JA_DOUBLE: return "a number";
    case TALLY_JA_STRING: return n->logical == TALLY_JA_UUID ? "a UUID string" : "a string";
    case TALLY_JA_ENUM: return "a string (enum symbol)";
    case TALLY_JA_RECORD:
    case TALLY_JA_MAP: return "an object";
    case TALLY_JA_ARRAY: return "an array";
    case TALLY_JA_UNION: return "an object naming one branch of the union";
    }
    return "?";
}

int tally_json_avro_mismatch(tally_json_avro_ctx_t *cx, const tally_json_avro_node_t *n, tally_json_kind_t k)
{
    return fail(cx, "expected %s, got %s", expected(n), tally_json_avro_kind_name(k));
}

/* ---- reading ---- */

int tally_json_avro_ctx_peek(tally_json_avro_ctx_t *cx, tally_json_kind_t *k)
{
    return tally_json_reader_peek(cx->r, k) == 0 ? 0 : syntax(cx);
}

int tally_json_avro_ctx_string(tally_json_avro_ctx_t *cx, size_t *len)
{
    return tally_json_reader_string(cx->r, cx->scratch, cx->conv->scratch_size, len) == 0
               ? 0 : syntax(cx);
}

bool tally_json_avro_ctx_fits(const tally_json_avro_ctx_t *cx, size_t len)
{
    return len < cx->conv->scratch_size;
}

static int read_number(ctx_t *cx, tally_json_number_t *num)
{
    return tally_json_reader_number(cx->r, num) == 0 ? 0 : syntax(cx);
}

int tally_json_avro_ctx_skip(tally_json_avro_ctx_t *cx)
{
    return tally_json_reader_skip(cx->r) == 0 ? 0 : syntax(cx);
}

/* ---- scalars ---- */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int convert_string(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v)
{
    char *s = cx->scratch;
    size_t len;

    if (k != TALLY_JSON_STRING)
        return tally_json_avro_mismatch(cx, n, k);
    if (tally_json_avro_ctx_string(cx, &len) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    if (len > cx->conv->opts.max_string_bytes)
        return fail(cx, "string longer than %zu bytes", cx->conv->opts.max_string_bytes);
    if (cx->r->allow_nul && memchr(s, '\0', len) != NULL)
        return fail(cx, "string contains a NUL character");
    if (n->logical == TALLY_JA_UUID) {
        if (len != UUID_LEN)
            return fail(cx, "not a UUID (expected 8-4-4-4-12 hex digits)");
        for (size_t i = 0; i < UUID_LEN; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !is_hex(s[i]))
                return fail(cx, "not a UUID (expected 8-4-4-4-12 hex digits)");
            if (s[i] >= 'A' && s[i] <= 'F')
                s[i] = (char)(s[i] - 'A' + 'a');
        }
    }
    /* avro-c's string sizes count the terminating NUL (the reader wrote it). */
    if (v != NULL && avro_value_set_string_len(v, s, len + 1) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "set_string");
    return 0;
}

static int convert_int(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v)
{
    tally_json_number_t num;
    int64_t days;
    size_t len;
    int rc;

    if (n->logical == TALLY_JA_DATE && k == TALLY_JSON_STRING) {
        if (tally_json_avro_ctx_string(cx, &len) != 0)
            return TALLY_JSON_AVRO_ERR_SYNTAX;
        rc = tally_json_avro_ctx_fits(cx, len) ? tally_date_parse(cx->scratch, len, &days) : TALLY_TIME_ERR_SYNTAX;
        if (rc == TALLY_TIME_ERR_DATE)
            return fail(cx, "not a date: %s", tally_time_strerror(rc));
        if (rc != 0)
            return fail(cx, "not a date (expected YYYY-MM-DD)");
    } else if (k == TALLY_JSON_INTEGER) {
        if (read_number(cx, &num) != 0)
            return TALLY_JSON_AVRO_ERR_SYNTAX;
        if (n->logical != TALLY_JA_DATE && (num.i < INT32_MIN || num.i > INT32_MAX))
            return fail(cx, "integer out of range for int (32 bits)");
        days = num.i;
    } else {
        return tally_json_avro_mismatch(cx, n, k);
    }
    if (n->logical == TALLY_JA_DATE && (days < 0 || days > TALLY_DATE_MAX_DAYS))
        return fail(cx, "date outside 1970-01-01 to 9999-12-31");
    if (v != NULL && avro_value_set_int(v, (int32_t)days) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "set_int");
    return 0;
}

static int convert_long(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v)
{
    tally_json_number_t num;
    int64_t ms;
    size_t len;
    int rc;

    if (n->logical == TALLY_JA_TIMESTAMP_MILLIS && k == TALLY_JSON_STRING) {
        if (tally_json_avro_ctx_string(cx, &len) != 0)
            return TALLY_JSON_AVRO_ERR_SYNTAX;
        rc = tally_json_avro_ctx_fits(cx, len) ? tally_rfc3339_parse(cx->scratch, len, &ms) : TALLY_TIME_ERR_SYNTAX;
        if (rc != 0)
            return fail(cx, "not an RFC 3339 timestamp: %s", tally_time_strerror(rc));
    } else if (k == TALLY_JSON_INTEGER) {
        if (read_number(cx, &num) != 0)
            return TALLY_JSON_AVRO_ERR_SYNTAX;
        ms = num.i;
    } else {
        return tally_json_avro_mismatch(cx, n, k);
    }
    if (n->logical == TALLY_JA_TIMESTAMP_MILLIS && (ms < 0 || ms > TALLY_TIME_MAX_MS))
        return fail(cx, "timestamp outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z");
    if (v != NULL && avro_value_set_long(v, ms) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "set_long");
    return 0;
}

static int convert_real(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v)
{
    tally_json_number_t num;

    if (k != TALLY_JSON_INTEGER && k != TALLY_JSON_REAL)
        return tally_json_avro_mismatch(cx, n, k);
    if (read_number(cx, &num) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    if (n->kind == TALLY_JA_FLOAT) {
        if (num.d > FLT_MAX || num.d < -FLT_MAX)
            return fail(cx, "number out of range for float");
        if (v != NULL && avro_value_set_float(v, (float)num.d) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "set_float");
    } else if (v != NULL && avro_value_set_double(v, num.d) != 0) {
        return tally_json_avro_ctx_avro_failed(cx, "set_double");
    }
    return 0;
}

static int convert_enum(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v)
{
    size_t len;

    if (k != TALLY_JSON_STRING)
        return tally_json_avro_mismatch(cx, n, k);
    if (tally_json_avro_ctx_string(cx, &len) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    for (size_t i = 0; tally_json_avro_ctx_fits(cx, len) && i < n->n; i++)
        if (n->symbol_lens[i] == len && memcmp(n->symbols[i], cx->scratch, len) == 0) {
            if (v != NULL && avro_value_set_enum(v, (int)i) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "set_enum");
            return 0;
        }
    return fail(cx, "not a symbol of %s (one of %s)", n->short_name, n->choices);
}

static int convert_literal(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v)
{
    if (n->kind == TALLY_JA_NULL ? k != TALLY_JSON_NULL
                                 : k != TALLY_JSON_TRUE && k != TALLY_JSON_FALSE)
        return tally_json_avro_mismatch(cx, n, k);
    if (tally_json_avro_ctx_skip(cx) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    if (v == NULL)
        return 0;
    if (n->kind == TALLY_JA_NULL)
        return avro_value_set_null(v) == 0 ? 0 : tally_json_avro_ctx_avro_failed(cx, "set_null");
    return avro_value_set_boolean(v, k == TALLY_JSON_TRUE) == 0
               ? 0 : tally_json_avro_ctx_avro_failed(cx, "set_boolean");
}

int tally_json_avro_read_scalar(tally_json_avro_ctx_t *cx, const tally_json_avro_node_t *n, tally_json_kind_t k,
                                avro_value_t *v)
{
    switch (n->kind) {
    case TALLY_JA_NULL:
    case TALLY_JA_BOOLEAN: return convert_literal(cx, n, k, v);
    case TALLY_JA_INT: return convert_int(cx, n, k, v);
    case TALLY_JA_LONG: return convert_long(cx, n, k, v);
    case TALLY_JA_FLOAT:
    case TALLY_JA_DOUBLE: return convert_real(cx, n, k, v);
    case TALLY_JA_STRING: return convert_string(cx, n, k, v);
    case TALLY_JA_ENUM: return convert_enum(cx, n, k, v);
    default: break;
    }
    return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "unknown node kind");
}
