/*
 * json_avro.c: JSON <-> avro-c generic values along a precomputed plan
 * (json_avro_plan.c). The forward direction keeps its state (the error
 * path) on the stack and hands avro-c strings straight from jansson's
 * buffers, so it allocates nothing of its own. "Validate only" (no value to
 * fill) is the same walk with a NULL value: the converter checks the
 * schema's defaults that way when it is built.
 */
#include "json_avro.h"

#include "json_avro_plan.h"
#include "timeutil.h"

#include <float.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_SIZE 256
#define UUID_LEN 36

struct tally_json_avro_t {
    tally_json_avro_plan_t plan;
    tally_json_avro_options_t opts;
};

/* One conversion: where it is, for errors. */
typedef struct ctx_t {
    const tally_json_avro_t *conv;
    char *errbuf;
    size_t errsize;
    bool in_default;  /* reading a schema default: unions take their first branch */
    size_t plen;
    char path[PATH_SIZE];
} ctx_t;

static void ctx_init(ctx_t *cx, const tally_json_avro_t *conv, char *errbuf, size_t errsize)
{
    cx->conv = conv;
    cx->errbuf = errbuf;
    cx->errsize = errsize;
    cx->in_default = false;
    cx->plen = 0;
    cx->path[0] = '\0';
}

/* Writes "<path>: <message>" (or the message alone at the root). */
__attribute__((format(printf, 3, 4)))
static int fail_code(ctx_t *cx, int code, const char *fmt, ...)
{
    char msg[384];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cx->errbuf != NULL && cx->errsize > 0) {
        if (cx->plen > 0)
            snprintf(cx->errbuf, cx->errsize, "%s: %s", cx->path, msg);
        else
            snprintf(cx->errbuf, cx->errsize, "%s", msg);
    }
    return code;
}

#define fail(cx, ...) fail_code((cx), TALLY_JSON_AVRO_ERR_INVALID, __VA_ARGS__)

/* avro-c refused something: a bug or a mismatched value, never bad input.
 * Its message is captured at once (it is per thread and overwritten). */
static int avro_failed(ctx_t *cx, const char *what)
{
    return fail_code(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "avro-c %s failed: %s", what,
                     avro_strerror());
}

/* Appends sep (not at the start) and s[0..len) to the path; returns the
 * length to pop back to. A path that does not fit is cut short. */
static size_t path_push(ctx_t *cx, const char *sep, const char *s, size_t len)
{
    size_t mark = cx->plen, room = sizeof cx->path - 1 - mark, n;

    if (mark > 0) {
        n = strlen(sep) < room ? strlen(sep) : room;
        memcpy(cx->path + cx->plen, sep, n);
        cx->plen += n;
        room -= n;
    }
    n = len < room ? len : room;
    memcpy(cx->path + cx->plen, s, n);
    cx->plen += n;
    cx->path[cx->plen] = '\0';
    return mark;
}

static size_t path_push_field(ctx_t *cx, const char *name)
{
    return path_push(cx, ".", name, strlen(name));
}

/* "[i]", or "[#i]" for the i-th key of a map whose key must not be shown. */
static size_t path_push_index(ctx_t *cx, bool key, size_t i)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, key ? "[#%zu]" : "[%zu]", i);
    size_t mark = cx->plen;

    path_push(cx, "", buf, (size_t)n);
    return mark;
}

static void path_pop(ctx_t *cx, size_t mark)
{
    cx->plen = mark;
    cx->path[mark] = '\0';
}

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
        return avro_failed(cx, "set_string");
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
        if (rc != 0)
            return fail(cx, "not a date (YYYY-MM-DD): %s", tally_time_strerror(rc));
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
        return avro_failed(cx, "set_int");
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
        return avro_failed(cx, "set_long");
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
            return avro_failed(cx, "set_float");
    } else if (v != NULL && avro_value_set_double(v, d) != 0) {
        return avro_failed(cx, "set_double");
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
                return avro_failed(cx, "set_enum");
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
                return avro_failed(cx, "get_by_index");
            cv = &child;
        }
        mark = path_push_field(cx, f->name);
        if (fj != NULL)
            rc = convert(cx, f->type, fj, cv, depth);
        else if (f->def != NULL)
            rc = convert_default(cx, f->type, f->def, cv, depth);
        else
            rc = fail(cx, "required field is missing");
        if (rc != 0)
            return rc;
        path_pop(cx, mark);
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
                return avro_failed(cx, "append");
            cv = &child;
        }
        mark = path_push_index(cx, false, i);
        rc = convert(cx, n->items, json_array_get(j, i), cv, depth);
        if (rc != 0)
            return rc;
        path_pop(cx, mark);
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
            (void)path_push_index(cx, true, i);
            return fail(cx, "map key longer than %zu bytes", o->max_map_key_bytes);
        }
        if (memchr(key, '\0', len) != NULL) {
            (void)path_push_index(cx, true, i);
            return fail(cx, "map key contains a NUL character");
        }
        if (v != NULL) {
            if (avro_value_add(v, key, &child, NULL, NULL) != 0)
                return avro_failed(cx, "add");
            cv = &child;
        }
        if (tally_json_avro_plan_showable(key, len))
            mark = path_push(cx, ".", key, len);
        else
            mark = path_push_index(cx, true, i);
        rc = convert(cx, n->items, item, cv, depth);
        if (rc != 0)
            return rc;
        path_pop(cx, mark);
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
            return avro_failed(cx, "set_branch");
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
            mark = path_push(cx, ".", n->labels[b], strlen(n->labels[b]));
            rc = convert_branch(cx, n, b, json_object_iter_value(it), v, depth, NULL);
            if (rc == 0)
                path_pop(cx, mark);
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
    mark = path_push_field(cx, "type");
    if (!json_is_string(tag))
        return fail(cx, "expected a string naming a branch (%s), got %s", n->choices,
                    json_kind(tag));
    b = tally_json_avro_plan_branch(n, json_string_value(tag), json_string_length(tag));
    if (b < 0 || n->branches[b]->kind != TALLY_JA_RECORD)
        return fail(cx, "not a branch of the union (one of %s)", n->choices);
    path_pop(cx, mark);
    mark = path_push(cx, ".", n->labels[b], strlen(n->labels[b]));
    rc = convert_branch(cx, n, b, j, v, depth, "type");
    if (rc == 0)
        path_pop(cx, mark);
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
            return avro_failed(cx, "set_null");
        return 0;
    case TALLY_JA_BOOLEAN:
        if (!json_is_boolean(j))
            return mismatch(cx, n, j);
        if (v != NULL && avro_value_set_boolean(v, json_is_true(j)) != 0)
            return avro_failed(cx, "set_boolean");
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

/* The value's schema is the plan's record: same name and field count (the
 * full comparison is tally_json_avro_check_schema). */
static int check_value(ctx_t *cx, const avro_value_t *value)
{
    const tally_json_avro_node_t *root = cx->conv->plan.root;
    avro_schema_t s;
    const char *name;

    if (avro_value_get_type(value) != AVRO_RECORD)
        return fail_code(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "value is not a record");
    s = avro_value_get_schema(value);
    name = avro_schema_name(s);
    if (name == NULL || strcmp(name, root->short_name) != 0 ||
        avro_schema_record_size(s) != root->n)
        return fail_code(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "value is not a %s record",
                         root->name);
    return 0;
}

int tally_json_avro_from_json(const tally_json_avro_t *conv, const json_t *json,
                              avro_value_t *out, char *errbuf, size_t errsize)
{
    ctx_t cx;
    int rc;

    ctx_init(&cx, conv, errbuf, errsize);
    rc = check_value(&cx, out);
    if (rc != 0)
        return rc;
    return convert(&cx, conv->plan.root, json, out, 0);
}

/* ---- Avro to JSON ---- */

static int render(ctx_t *cx, const tally_json_avro_node_t *n, avro_value_t *v, json_t **out,
                  unsigned depth);

/* jansson returns NULL from its constructors only when out of memory. */
static json_t *must(json_t *j)
{
    if (j == NULL) {
        fprintf(stderr, "json_avro: out of memory\n");
        abort();
    }
    return j;
}

static int render_scalar(ctx_t *cx, const tally_json_avro_node_t *n, avro_value_t *v,
                         json_t **out)
{
    char buf[TALLY_RFC3339_SIZE];
    const char *s;
    size_t size;
    int32_t i32;
    int64_t i64;
    float f;
    double d;
    int b;

    switch (n->kind) {
    case TALLY_JA_NULL:
        *out = json_null();
        return 0;
    case TALLY_JA_BOOLEAN:
        if (avro_value_get_boolean(v, &b) != 0)
            return avro_failed(cx, "get_boolean");
        *out = json_boolean(b);
        return 0;
    case TALLY_JA_INT:
        if (avro_value_get_int(v, &i32) != 0)
            return avro_failed(cx, "get_int");
        if (n->logical != TALLY_JA_DATE) {
            *out = must(json_integer(i32));
            return 0;
        }
        if (tally_date_format(i32, buf) != 0)
            return fail(cx, "date outside years 0000-9999");
        *out = must(json_string(buf));
        return 0;
    case TALLY_JA_LONG:
        if (avro_value_get_long(v, &i64) != 0)
            return avro_failed(cx, "get_long");
        if (n->logical != TALLY_JA_TIMESTAMP_MILLIS) {
            *out = must(json_integer(i64));
            return 0;
        }
        if (tally_rfc3339_format(i64, buf) != 0)
            return fail(cx, "timestamp outside years 0000-9999");
        *out = must(json_string(buf));
        return 0;
    case TALLY_JA_FLOAT:
        if (avro_value_get_float(v, &f) != 0)
            return avro_failed(cx, "get_float");
        d = f;
        goto real;
    case TALLY_JA_DOUBLE:
        if (avro_value_get_double(v, &d) != 0)
            return avro_failed(cx, "get_double");
    real:
        *out = json_real(d);
        return *out != NULL ? 0 : fail(cx, "number is not finite");
    case TALLY_JA_STRING:
        if (avro_value_get_string(v, &s, &size) != 0)
            return avro_failed(cx, "get_string");
        *out = json_stringn(s, size > 0 ? size - 1 : 0);
        return *out != NULL ? 0 : fail(cx, "string is not valid UTF-8");
    case TALLY_JA_ENUM:
        if (avro_value_get_enum(v, &b) != 0)
            return avro_failed(cx, "get_enum");
        if (b < 0 || (size_t)b >= n->n)
            return fail_code(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "enum index out of range");
        *out = must(json_string(n->symbols[b]));
        return 0;
    default:
        return fail_code(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "not a scalar");
    }
}

static int render_container(ctx_t *cx, const tally_json_avro_node_t *n, avro_value_t *v,
                            json_t **out, unsigned depth)
{
    json_t *obj = must(n->kind == TALLY_JA_ARRAY ? json_array() : json_object());
    size_t count;
    int rc = TALLY_JSON_AVRO_ERR_INTERNAL;

    if (n->kind == TALLY_JA_RECORD)
        count = n->n;
    else if (avro_value_get_size(v, &count) != 0) {
        rc = avro_failed(cx, "get_size");
        goto cleanup;
    }
    for (size_t i = 0; i < count; i++) {
        const tally_json_avro_node_t *cn = n->kind == TALLY_JA_RECORD ? n->fields[i].type : n->items;
        const char *key = NULL;
        avro_value_t child;
        json_t *cj = NULL;
        size_t mark;

        if (avro_value_get_by_index(v, i, &child, n->kind == TALLY_JA_MAP ? &key : NULL) != 0) {
            rc = avro_failed(cx, "get_by_index");
            goto cleanup;
        }
        if (n->kind == TALLY_JA_RECORD)
            key = n->fields[i].name;
        if (n->kind == TALLY_JA_ARRAY)
            mark = path_push_index(cx, false, i);
        else if (tally_json_avro_plan_showable(key, strlen(key)))
            mark = path_push_field(cx, key);
        else
            mark = path_push_index(cx, true, i);
        rc = render(cx, cn, &child, &cj, depth);
        if (rc != 0)
            goto cleanup;
        path_pop(cx, mark);
        if (n->kind == TALLY_JA_ARRAY) {
            json_array_append_new(obj, cj);
        } else if (json_object_set_new(obj, key, cj) != 0) {
            rc = fail(cx, "map key is not valid UTF-8");
            goto cleanup;
        }
    }
    *out = obj;
    obj = NULL;
    rc = 0;
cleanup:
    json_decref(obj);
    return rc;
}

static int render(ctx_t *cx, const tally_json_avro_node_t *n, avro_value_t *v, json_t **out,
                  unsigned depth)
{
    avro_value_t branch;
    json_t *inner = NULL;
    size_t mark;
    int b, rc;

    *out = NULL;
    switch (n->kind) {
    case TALLY_JA_RECORD:
    case TALLY_JA_ARRAY:
    case TALLY_JA_MAP:
        if (depth >= cx->conv->opts.max_depth)
            return fail(cx, "nested deeper than %u levels", cx->conv->opts.max_depth);
        return render_container(cx, n, v, out, depth + 1);
    case TALLY_JA_UNION:
        if (avro_value_get_discriminant(v, &b) != 0 ||
            avro_value_get_current_branch(v, &branch) != 0)
            return avro_failed(cx, "get_current_branch");
        if (b < 0 || (size_t)b >= n->n)
            return fail_code(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "union branch out of range");
        if (b == n->null_branch || n->only_branch >= 0)
            return render(cx, n->branches[b], &branch, out, depth);
        mark = path_push(cx, ".", n->labels[b], strlen(n->labels[b]));
        rc = render(cx, n->branches[b], &branch, &inner, depth);
        if (rc != 0)
            return rc;
        path_pop(cx, mark);
        *out = must(json_object());
        json_object_set_new(*out, n->labels[b], inner);
        return 0;
    default:
        return render_scalar(cx, n, v, out);
    }
}

int tally_json_avro_to_json(const tally_json_avro_t *conv, const avro_value_t *value,
                            json_t **out, char *errbuf, size_t errsize)
{
    avro_value_t v = *value;
    ctx_t cx;
    int rc;

    *out = NULL;
    ctx_init(&cx, conv, errbuf, errsize);
    rc = check_value(&cx, value);
    if (rc != 0)
        return rc;
    return render(&cx, conv->plan.root, &v, out, 0);
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
    tally_json_avro_t *conv = calloc(1, sizeof *conv);
    tally_json_avro_options_t none = {0};
    const tally_json_avro_options_t *o = options != NULL ? options : &none;
    ctx_t cx;

    if (conv == NULL) {
        fprintf(stderr, "json_avro: out of memory\n");
        abort();
    }
    conv->opts.max_string_bytes = or_default(o->max_string_bytes, TALLY_JSON_AVRO_MAX_STRING_BYTES);
    conv->opts.max_map_entries = or_default(o->max_map_entries, TALLY_JSON_AVRO_MAX_MAP_ENTRIES);
    conv->opts.max_map_key_bytes = or_default(o->max_map_key_bytes, TALLY_JSON_AVRO_MAX_MAP_KEY_BYTES);
    conv->opts.max_array_items = or_default(o->max_array_items, TALLY_JSON_AVRO_MAX_ARRAY_ITEMS);
    conv->opts.max_depth = (unsigned)or_default(o->max_depth, TALLY_JSON_AVRO_MAX_DEPTH);
    if (tally_json_avro_plan_build(&conv->plan, schema, errbuf, errsize) != 0)
        goto fail;
    /* Every default must convert, so a missing field never fails at run time. */
    ctx_init(&cx, conv, errbuf, errsize);
    for (size_t i = 0; i < conv->plan.n_nodes; i++) {
        const tally_json_avro_node_t *n = conv->plan.nodes[i];

        for (size_t k = 0; n->kind == TALLY_JA_RECORD && k < n->n; k++) {
            size_t mark;

            if (n->fields[k].def == NULL)
                continue;
            path_pop(&cx, 0);
            mark = path_push_field(&cx, n->name);
            path_push_field(&cx, n->fields[k].name);
            if (convert_default(&cx, n->fields[k].type, n->fields[k].def, NULL, 0) != 0)
                goto fail;
            path_pop(&cx, mark);
        }
    }
    return conv;
fail:
    tally_json_avro_free(conv);
    return NULL;
}

tally_json_avro_t *tally_json_avro_new_text(const char *text, size_t len,
                                            const tally_json_avro_options_t *options,
                                            char *errbuf, size_t errsize)
{
    json_error_t jerr;
    json_t *schema = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
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
