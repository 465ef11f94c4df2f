/*
 * json_avro.c: the converter, and JSON to avro-c generic values along its
 * precomputed plan (json_avro_plan.c; the reverse is json_avro_render.c).
 * A conversion keeps its state (the error path) on the stack and hands
 * avro-c strings straight from jansson's buffers, so it allocates nothing
 * of its own. "Validate only" (no value to fill) is the same walk with a
 * NULL value: the converter checks the schema's defaults that way when it
 * is built.
 */
#include "json_avro.h"

#include "json_avro_plan.h"
#include "timeutil.h"

#include <float.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UUID_LEN 36

typedef tally_json_avro_ctx_t ctx_t;

#define fail(cx, ...) tally_json_avro_ctx_fail((cx), TALLY_JSON_AVRO_ERR_INVALID, __VA_ARGS__)

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "an unknown JSON value";
    }
}

/* What a node accepts, for "expected X, got Y". */
static const char *expected(const tally_json_avro_node_t *n)
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

static int mismatch(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j)
{
    return fail(cx, "expected %s, got %s", expected(n), json_kind(j));
}

static int convert(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j, avro_value_t *v,
                   unsigned depth);

/* ---- scalars ---- */

/* A JSON string within the limits: no NUL, at most max_string_bytes. */
static int get_string(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                      const char **s, size_t *len)
{
    if (!json_is_string(j))
        return mismatch(cx, n, j);
    *s = json_string_value(j);
    *len = json_string_length(j);
    if (*len > cx->conv->opts.max_string_bytes)
        return fail(cx, "string longer than %zu bytes", cx->conv->opts.max_string_bytes);
    if (memchr(*s, '\0', *len) != NULL)
        return fail(cx, "string contains a NUL character");
    return 0;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int convert_string(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                          avro_value_t *v)
{
    char uuid[UUID_LEN + 1];
    const char *s = NULL;
    size_t len = 0;

    if (get_string(cx, n, j, &s, &len) != 0)
        return TALLY_JSON_AVRO_ERR_INVALID;
    if (n->logical == TALLY_JA_UUID) {
        if (len != UUID_LEN)
            return fail(cx, "not a UUID (expected 8-4-4-4-12 hex digits)");
        for (size_t i = 0; i < UUID_LEN; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : !is_hex(s[i]))
                return fail(cx, "not a UUID (expected 8-4-4-4-12 hex digits)");
            uuid[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
        }
        uuid[UUID_LEN] = '\0';
        s = uuid;
    }
    /* avro-c's string sizes count the terminating NUL. */
    if (v != NULL && avro_value_set_string_len(v, s, len + 1) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "set_string");
    return 0;
}

static int convert_int(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                       avro_value_t *v)
{
    json_int_t i;
    int64_t days;
    int rc;

    if (n->logical == TALLY_JA_DATE && json_is_string(j)) {
        rc = tally_date_parse(json_string_value(j), json_string_length(j), &days);
        if (rc == TALLY_TIME_ERR_DATE)
            return fail(cx, "not a date: %s", tally_time_strerror(rc));
        if (rc != 0)
            return fail(cx, "not a date (expected YYYY-MM-DD)");
    } else if (json_is_integer(j)) {
        i = json_integer_value(j);
        if (n->logical != TALLY_JA_DATE && (i < INT32_MIN || i > INT32_MAX))
            return fail(cx, "integer out of range for int (32 bits)");
        days = i;
    } else {
        return mismatch(cx, n, j);
    }
    if (n->logical == TALLY_JA_DATE && (days < 0 || days > TALLY_DATE_MAX_DAYS))
        return fail(cx, "date outside 1970-01-01 to 9999-12-31");
    if (v != NULL && avro_value_set_int(v, (int32_t)days) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "set_int");
    return 0;
}

static int convert_long(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                        avro_value_t *v)
{
    int64_t ms;
    int rc;

    if (n->logical == TALLY_JA_TIMESTAMP_MILLIS && json_is_string(j)) {
        rc = tally_rfc3339_parse(json_string_value(j), json_string_length(j), &ms);
        if (rc != 0)
            return fail(cx, "not an RFC 3339 timestamp: %s", tally_time_strerror(rc));
    } else if (json_is_integer(j)) {
        ms = json_integer_value(j);
    } else {
        return mismatch(cx, n, j);
    }
    if (n->logical == TALLY_JA_TIMESTAMP_MILLIS && (ms < 0 || ms > TALLY_TIME_MAX_MS))
        return fail(cx, "timestamp outside 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z");
    if (v != NULL && avro_value_set_long(v, ms) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "set_long");
    return 0;
}

static int convert_real(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                        avro_value_t *v)
{
    double d;

    if (!json_is_number(j))
        return mismatch(cx, n, j);
    d = json_number_value(j);
    if (n->kind == TALLY_JA_FLOAT) {
        if (d > FLT_MAX || d < -FLT_MAX)
            return fail(cx, "number out of range for float");
        if (v != NULL && avro_value_set_float(v, (float)d) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "set_float");
    } else if (v != NULL && avro_value_set_double(v, d) != 0) {
        return tally_json_avro_ctx_avro_failed(cx, "set_double");
    }
    return 0;
}

static int convert_enum(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                        avro_value_t *v)
{
    const char *s;
    size_t len;

    if (!json_is_string(j))
        return mismatch(cx, n, j);
    s = json_string_value(j);
    len = json_string_length(j);
    for (size_t i = 0; i < n->n; i++)
        if (strlen(n->symbols[i]) == len && memcmp(n->symbols[i], s, len) == 0) {
            if (v != NULL && avro_value_set_enum(v, (int)i) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "set_enum");
            return 0;
        }
    return fail(cx, "not a symbol of %s (one of %s)", n->short_name, n->choices);
}

/* ---- containers ---- */

static int field_index(const tally_json_avro_node_t *rec, const char *key, size_t len)
{
    for (size_t i = 0; i < rec->n; i++)
        if (strlen(rec->fields[i].name) == len && memcmp(rec->fields[i].name, key, len) == 0)
            return (int)i;
    return -1;
}

static int unknown_field(ctx_t *cx, const tally_json_avro_node_t *rec, const json_t *j,
                         const char *skip)
{
    const char *key;
    size_t len;
    json_t *value;

    json_object_keylen_foreach((json_t *)j, key, len, value) {
        (void)value;
        if (skip != NULL && strlen(skip) == len && memcmp(skip, key, len) == 0)
            continue;
        if (field_index(rec, key, len) >= 0)
            continue;
        if (tally_json_avro_plan_showable(key, len))
            return fail(cx, "unknown field \"%.*s\"", (int)len, key);
        return fail(cx, "unknown field (name not shown: not a valid Avro name)");
    }
    return fail(cx, "unknown field");
}

static int convert_default(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *def,
                           avro_value_t *v, unsigned depth)
{
    bool was = cx->in_default;
    int rc;

    cx->in_default = true;
    rc = convert(cx, n, def, v, depth);
    cx->in_default = was;
    if (rc != 0 && !was && cx->errbuf != NULL && cx->errsize > 0) {
        /* Only a schema mistake gets here: say so. */
        size_t len = strlen(cx->errbuf);
        snprintf(cx->errbuf + len, cx->errsize - len, " (in the schema's default)");
    }
    return rc;
}

/* skip: a key that is not a field (the flat union form's "type"), or NULL. */
static int convert_record(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                          avro_value_t *v, unsigned depth, const char *skip)
{
    size_t present = 0;

    if (!json_is_object(j))
        return mismatch(cx, n, j);
    for (size_t i = 0; i < n->n; i++)
        if (json_object_get(j, n->fields[i].name) != NULL)
            present++;
    if (skip != NULL && json_object_get(j, skip) != NULL)
        present++;
    if (json_object_size(j) != present)
        return unknown_field(cx, n, j, skip);
    for (size_t i = 0; i < n->n; i++) {
        const tally_json_avro_field_t *f = &n->fields[i];
        const json_t *fj = json_object_get(j, f->name);
        avro_value_t child, *cv = NULL;
        size_t mark;
        int rc;

        if (v != NULL) {
            if (avro_value_get_by_index(v, i, &child, NULL) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "get_by_index");
            cv = &child;
        }
        mark = tally_json_avro_ctx_push_field(cx, f->name);
        if (fj != NULL)
            rc = convert(cx, f->type, fj, cv, depth);
        else if (f->def != NULL)
            rc = convert_default(cx, f->type, f->def, cv, depth);
        else
            rc = fail(cx, "required field is missing");
        if (rc != 0)
            return rc;
        tally_json_avro_ctx_pop(cx, mark);
    }
    return 0;
}

static int convert_array(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                         avro_value_t *v, unsigned depth)
{
    size_t count;

    if (!json_is_array(j))
        return mismatch(cx, n, j);
    count = json_array_size(j);
    if (count > cx->conv->opts.max_array_items)
        return fail(cx, "array has more than %zu items", cx->conv->opts.max_array_items);
    for (size_t i = 0; i < count; i++) {
        avro_value_t child, *cv = NULL;
        size_t mark;
        int rc;

        if (v != NULL) {
            if (avro_value_append(v, &child, NULL) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "append");
            cv = &child;
        }
        mark = tally_json_avro_ctx_push_index(cx, false, i);
        rc = convert(cx, n->items, json_array_get(j, i), cv, depth);
        if (rc != 0)
            return rc;
        tally_json_avro_ctx_pop(cx, mark);
    }
    return 0;
}

static int convert_map(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                       avro_value_t *v, unsigned depth)
{
    const tally_json_avro_options_t *o = &cx->conv->opts;
    const char *key;
    size_t len, i = 0;
    json_t *item;

    if (!json_is_object(j))
        return mismatch(cx, n, j);
    if (json_object_size(j) > o->max_map_entries)
        return fail(cx, "map has more than %zu entries", o->max_map_entries);
    json_object_keylen_foreach((json_t *)j, key, len, item) {
        avro_value_t child, *cv = NULL;
        size_t mark;
        int rc;

        if (len > o->max_map_key_bytes) {
            (void)tally_json_avro_ctx_push_index(cx, true, i);
            return fail(cx, "map key longer than %zu bytes", o->max_map_key_bytes);
        }
        if (memchr(key, '\0', len) != NULL) {
            (void)tally_json_avro_ctx_push_index(cx, true, i);
            return fail(cx, "map key contains a NUL character");
        }
        if (v != NULL) {
            if (avro_value_add(v, key, &child, NULL, NULL) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "add");
            cv = &child;
        }
        if (tally_json_avro_plan_showable(key, len))
            mark = tally_json_avro_ctx_push(cx, ".", key, len);
        else
            mark = tally_json_avro_ctx_push_index(cx, true, i);
        rc = convert(cx, n->items, item, cv, depth);
        if (rc != 0)
            return rc;
        tally_json_avro_ctx_pop(cx, mark);
        i++;
    }
    return 0;
}

/* Selects branch b of union u in v and fills it from j. */
static int convert_branch(ctx_t *cx, const tally_json_avro_node_t *u, int b, const json_t *j,
                          avro_value_t *v, unsigned depth, const char *skip)
{
    avro_value_t branch, *bv = NULL;

    if (v != NULL) {
        if (avro_value_set_branch(v, b, &branch) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "set_branch");
        bv = &branch;
    }
    if (skip == NULL)
        return convert(cx, u->branches[b], j, bv, depth);
    if (depth >= cx->conv->opts.max_depth)
        return fail(cx, "nested deeper than %u levels", cx->conv->opts.max_depth);
    return convert_record(cx, u->branches[b], j, bv, depth + 1, skip);
}

static int convert_union(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j,
                         avro_value_t *v, unsigned depth)
{
    const char *key;
    size_t len, mark;
    const json_t *tag;
    int b, rc;

    if (cx->in_default) /* Avro defaults are bare values of the first branch */
        return convert_branch(cx, n, 0, j, v, depth, NULL);
    if (json_is_null(j) && n->null_branch >= 0)
        return convert_branch(cx, n, n->null_branch, j, v, depth, NULL);
    if (n->only_branch >= 0) {
        if (json_is_null(j))
            return mismatch(cx, n->branches[n->only_branch], j);
        return convert_branch(cx, n, n->only_branch, j, v, depth, NULL);
    }
    if (!json_is_object(j))
        return fail(cx, "expected an object naming one branch of the union (%s), got %s",
                    n->choices, json_kind(j));
    if (json_object_size(j) == 1) {
        void *it = json_object_iter((json_t *)j);

        key = json_object_iter_key(it);
        len = json_object_iter_key_len(it);
        b = tally_json_avro_plan_branch(n, key, len);
        if (b >= 0) {
            mark = tally_json_avro_ctx_push(cx, ".", n->labels[b], strlen(n->labels[b]));
            rc = convert_branch(cx, n, b, json_object_iter_value(it), v, depth, NULL);
            if (rc == 0)
                tally_json_avro_ctx_pop(cx, mark);
            return rc;
        }
        if (!(n->flat && len == 4 && memcmp(key, "type", 4) == 0)) {
            if (tally_json_avro_plan_showable(key, len))
                return fail(cx, "unknown union branch \"%.*s\" (one of %s)", (int)len, key,
                            n->choices);
            return fail(cx, "unknown union branch (one of %s)", n->choices);
        }
    }
    tag = n->flat ? json_object_get(j, "type") : NULL;
    if (tag == NULL)
        return fail(cx, "expected an object with exactly one key naming the branch (%s), "
                        "got %zu keys", n->choices, json_object_size(j));
    mark = tally_json_avro_ctx_push_field(cx, "type");
    if (!json_is_string(tag))
        return fail(cx, "expected a string naming a branch (%s), got %s", n->choices,
                    json_kind(tag));
    b = tally_json_avro_plan_branch(n, json_string_value(tag), json_string_length(tag));
    if (b < 0 || n->branches[b]->kind != TALLY_JA_RECORD)
        return fail(cx, "not a branch of the union (one of %s)", n->choices);
    tally_json_avro_ctx_pop(cx, mark);
    mark = tally_json_avro_ctx_push(cx, ".", n->labels[b], strlen(n->labels[b]));
    rc = convert_branch(cx, n, b, j, v, depth, "type");
    if (rc == 0)
        tally_json_avro_ctx_pop(cx, mark);
    return rc;
}

static int convert(ctx_t *cx, const tally_json_avro_node_t *n, const json_t *j, avro_value_t *v,
                   unsigned depth)
{
    switch (n->kind) {
    case TALLY_JA_NULL:
        if (!json_is_null(j))
            return mismatch(cx, n, j);
        if (v != NULL && avro_value_set_null(v) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "set_null");
        return 0;
    case TALLY_JA_BOOLEAN:
        if (!json_is_boolean(j))
            return mismatch(cx, n, j);
        if (v != NULL && avro_value_set_boolean(v, json_is_true(j)) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "set_boolean");
        return 0;
    case TALLY_JA_INT: return convert_int(cx, n, j, v);
    case TALLY_JA_LONG: return convert_long(cx, n, j, v);
    case TALLY_JA_FLOAT:
    case TALLY_JA_DOUBLE: return convert_real(cx, n, j, v);
    case TALLY_JA_STRING: return convert_string(cx, n, j, v);
    case TALLY_JA_ENUM: return convert_enum(cx, n, j, v);
    case TALLY_JA_UNION: return convert_union(cx, n, j, v, depth);
    case TALLY_JA_RECORD:
    case TALLY_JA_ARRAY:
    case TALLY_JA_MAP:
        break;
    }
    if (depth >= cx->conv->opts.max_depth)
        return fail(cx, "nested deeper than %u levels", cx->conv->opts.max_depth);
    if (n->kind == TALLY_JA_RECORD)
        return convert_record(cx, n, j, v, depth + 1, NULL);
    if (n->kind == TALLY_JA_ARRAY)
        return convert_array(cx, n, j, v, depth + 1);
    return convert_map(cx, n, j, v, depth + 1);
}

int tally_json_avro_from_json(const tally_json_avro_t *conv, const json_t *json,
                              avro_value_t *out, char *errbuf, size_t errsize)
{
    ctx_t cx;
    int rc;

    tally_json_avro_ctx_init(&cx, conv, errbuf, errsize);
    rc = tally_json_avro_ctx_check_value(&cx, out);
    if (rc != 0)
        return rc;
    if (json == NULL)
        return fail(&cx, "no JSON value");
    return convert(&cx, conv->plan.root, json, out, 0);
}

/* ---- the converter ---- */

static size_t or_default(size_t v, size_t def)
{
    return v != 0 ? v : def;
}

tally_json_avro_t *tally_json_avro_new(const json_t *schema,
                                       const tally_json_avro_options_t *options,
                                       char *errbuf, size_t errsize)
{
    tally_json_avro_t *conv = calloc(1, sizeof *conv), *result = NULL;
    tally_json_avro_options_t none = {0};
    const tally_json_avro_options_t *o = options != NULL ? options : &none;
    tally_json_avro_options_t *set;
    ctx_t cx;

    if (conv == NULL) {
        fprintf(stderr, "json_avro: out of memory\n");
        abort();
    }
    set = &conv->opts;
    set->max_string_bytes = or_default(o->max_string_bytes, TALLY_JSON_AVRO_MAX_STRING_BYTES);
    set->max_map_entries = or_default(o->max_map_entries, TALLY_JSON_AVRO_MAX_MAP_ENTRIES);
    set->max_map_key_bytes = or_default(o->max_map_key_bytes, TALLY_JSON_AVRO_MAX_MAP_KEY_BYTES);
    set->max_array_items = or_default(o->max_array_items, TALLY_JSON_AVRO_MAX_ARRAY_ITEMS);
    set->max_depth = (unsigned)or_default(o->max_depth, TALLY_JSON_AVRO_MAX_DEPTH);
    if (tally_json_avro_plan_build(&conv->plan, schema, errbuf, errsize) != 0)
        goto cleanup;
    /* Every default must convert, so a missing field never fails at run
     * time. Errors read "<record>.<field>: ... (in the schema's default)". */
    tally_json_avro_ctx_init(&cx, conv, errbuf, errsize);
    for (size_t i = 0; i < conv->plan.n_nodes; i++) {
        const tally_json_avro_node_t *n = conv->plan.nodes[i];

        for (size_t k = 0; n->kind == TALLY_JA_RECORD && k < n->n; k++) {
            if (n->fields[k].def == NULL)
                continue;
            tally_json_avro_ctx_pop(&cx, 0);
            tally_json_avro_ctx_push_field(&cx, n->name);
            tally_json_avro_ctx_push_field(&cx, n->fields[k].name);
            if (convert_default(&cx, n->fields[k].type, n->fields[k].def, NULL, 0) != 0)
                goto cleanup;
        }
    }
    result = conv;
    conv = NULL;
cleanup:
    tally_json_avro_free(conv);
    return result;
}

tally_json_avro_t *tally_json_avro_new_text(const char *text, size_t len,
                                            const tally_json_avro_options_t *options,
                                            char *errbuf, size_t errsize)
{
    json_error_t jerr;
    json_t *schema = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    tally_json_avro_t *conv = NULL;

    if (schema == NULL) {
        if (errbuf != NULL && errsize > 0)
            snprintf(errbuf, errsize, "schema is not JSON: line %d column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        goto cleanup;
    }
    conv = tally_json_avro_new(schema, options, errbuf, errsize);
cleanup:
    json_decref(schema);
    return conv;
}

void tally_json_avro_free(tally_json_avro_t *conv)
{
    if (conv == NULL)
        return;
    tally_json_avro_plan_clear(&conv->plan);
    free(conv);
}

int tally_json_avro_check_schema(const tally_json_avro_t *conv, avro_schema_t schema,
                                 char *errbuf, size_t errsize)
{
    if (tally_json_avro_plan_check(&conv->plan, schema, errbuf, errsize) != 0)
        return TALLY_JSON_AVRO_ERR_INTERNAL;
    return 0;
}
