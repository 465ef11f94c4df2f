/*
 * json_avro_render.c: the reverse direction of json_avro.h, an avro-c
 * generic value to the JSON form tally_json_avro_from_json accepts
 * (timestamps and dates as text, one-key unions), for replay and export.
 * Not a hot path: it builds a new jansson tree per value.
 */
#include "json_avro.h"

#include "json_avro_plan.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tally_json_avro_ctx_t ctx_t;

#define fail(cx, ...) tally_json_avro_ctx_fail((cx), TALLY_JSON_AVRO_ERR_INVALID, __VA_ARGS__)

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
            return tally_json_avro_ctx_avro_failed(cx, "get_boolean");
        *out = json_boolean(b);
        return 0;
    case TALLY_JA_INT:
        if (avro_value_get_int(v, &i32) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "get_int");
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
            return tally_json_avro_ctx_avro_failed(cx, "get_long");
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
            return tally_json_avro_ctx_avro_failed(cx, "get_float");
        *out = json_real(f);
        return *out != NULL ? 0 : fail(cx, "number is not finite");
    case TALLY_JA_DOUBLE:
        if (avro_value_get_double(v, &d) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "get_double");
        *out = json_real(d);
        return *out != NULL ? 0 : fail(cx, "number is not finite");
    case TALLY_JA_STRING:
        if (avro_value_get_string(v, &s, &size) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "get_string");
        *out = json_stringn(s, size > 0 ? size - 1 : 0);
        return *out != NULL ? 0 : fail(cx, "string is not valid UTF-8");
    case TALLY_JA_ENUM:
        if (avro_value_get_enum(v, &b) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "get_enum");
        if (b < 0 || (size_t)b >= n->n)
            return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL,
                                            "enum index out of range");
        *out = must(json_string(n->symbols[b]));
        return 0;
    default:
        return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "not a scalar");
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
        rc = tally_json_avro_ctx_avro_failed(cx, "get_size");
        goto cleanup;
    }
    for (size_t i = 0; i < count; i++) {
        const tally_json_avro_node_t *cn =
            n->kind == TALLY_JA_RECORD ? n->fields[i].type : n->items;
        const char *key = NULL;
        avro_value_t child;
        json_t *cj = NULL;
        size_t mark;

        if (avro_value_get_by_index(v, i, &child, n->kind == TALLY_JA_MAP ? &key : NULL) != 0) {
            rc = tally_json_avro_ctx_avro_failed(cx, "get_by_index");
            goto cleanup;
        }
        if (n->kind == TALLY_JA_RECORD)
            key = n->fields[i].name;
        if (n->kind == TALLY_JA_ARRAY)
            mark = tally_json_avro_ctx_push_index(cx, false, i);
        else if (tally_json_avro_plan_showable(key, strlen(key)))
            mark = tally_json_avro_ctx_push_field(cx, key);
        else
            mark = tally_json_avro_ctx_push_index(cx, true, i);
        rc = render(cx, cn, &child, &cj, depth);
        if (rc != 0)
            goto cleanup;
        tally_json_avro_ctx_pop(cx, mark);
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
            return tally_json_avro_ctx_avro_failed(cx, "get_current_branch");
        if (b < 0 || (size_t)b >= n->n)
            return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL,
                                            "union branch out of range");
        if (b == n->null_branch || n->only_branch >= 0)
            return render(cx, n->branches[b], &branch, out, depth);
        mark = tally_json_avro_ctx_push(cx, ".", n->labels[b], strlen(n->labels[b]));
        rc = render(cx, n->branches[b], &branch, &inner, depth);
        if (rc != 0)
            return rc;
        tally_json_avro_ctx_pop(cx, mark);
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
    tally_json_avro_ctx_init(&cx, conv, errbuf, errsize);
    rc = tally_json_avro_ctx_check_value(&cx, value);
    if (rc != 0)
        return rc;
    return render(&cx, conv->plan.root, &v, out, 0);
}
