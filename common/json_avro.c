/*
 * json_avro.c: the converter (its plan is built by json_avro_plan.c) and
 * the entry points from JSON: text, read by json_avro_read.c, or a jansson
 * tree, written out as text first. The reverse is json_avro_render.c.
 */
#include "json_avro.h"

#include "json_avro_plan.h"
#include "json_reader.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_MIN 1024

typedef tally_json_avro_ctx_t ctx_t;

#define fail(cx, ...) tally_json_avro_ctx_fail((cx), TALLY_JSON_AVRO_ERR_INVALID, __VA_ARGS__)

/* ---- the thread's scratch buffer ---- */

static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key; /* frees the buffer when its thread exits */
static _Thread_local char *scratch_buf;
static _Thread_local size_t scratch_cap;

static void scratch_key_new(void)
{
    if (pthread_key_create(&scratch_key, free) != 0)
        abort();
}

static char *scratch_get(size_t need)
{
    if (scratch_cap < need) {
        char *p = realloc(scratch_buf, need);

        if (p == NULL) {
            fprintf(stderr, "json_avro: out of memory (%zu bytes)\n", need);
            abort();
        }
        pthread_once(&scratch_once, scratch_key_new);
        scratch_buf = p;
        scratch_cap = need;
        if (pthread_setspecific(scratch_key, p) != 0)
            abort();
    }
    return scratch_buf;
}

/* ---- entry points ---- */

static int from_text(const tally_json_avro_t *conv, const char *text, size_t len, avro_value_t *out,
                     const tally_json_avro_fill_t *fill, size_t n_fill, bool allow_nul,
                     char *errbuf, size_t errsize)
{
    tally_json_reader_t r;
    ctx_t cx;
    int rc;

    tally_json_avro_ctx_init(&cx, conv, errbuf, errsize);
    rc = tally_json_avro_ctx_check_value(&cx, out);
    if (rc != 0)
        return rc;
    tally_json_reader_init(&r, text, len);
    r.allow_nul = allow_nul;
    cx.r = &r;
    cx.scratch = scratch_get(conv->scratch_size);
    rc = tally_json_avro_read_root(&cx, out, fill, n_fill);
    if (rc == 0 && tally_json_reader_end(&r) != 0)
        rc = tally_json_avro_ctx_syntax(&cx);
    if (rc == TALLY_JSON_AVRO_ERR_INVALID) {
        /* Text that is not JSON is a syntax error even where the part
         * read first did not fit: check the rest (error path only). */
        tally_json_reader_t check;

        if (tally_json_reader_validate(&check, text, len, allow_nul) != 0) {
            cx.r = &check;
            rc = tally_json_avro_ctx_syntax(&cx);
        }
    }
    return rc;
}

int tally_json_avro_from_text(const tally_json_avro_t *conv, const char *text, size_t len,
                              avro_value_t *out, const tally_json_avro_fill_t *fill,
                              size_t n_fill, char *errbuf, size_t errsize)
{
    return from_text(conv, text, len, out, fill, n_fill, false, errbuf, errsize);
}

int tally_json_avro_from_json(const tally_json_avro_t *conv, const json_t *json,
                              avro_value_t *out, char *errbuf, size_t errsize)
{
    ctx_t cx;
    char *text;
    int rc;

    tally_json_avro_ctx_init(&cx, conv, errbuf, errsize);
    rc = tally_json_avro_ctx_check_value(&cx, out);
    if (rc != 0)
        return rc;
    if (json == NULL)
        return fail(&cx, "no JSON value");
    /* Compact, keys in the tree's order (so errors name the same first
     * problem), strings and keys holding NUL as \u0000. */
    text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        fprintf(stderr, "json_avro: out of memory\n");
        abort();
    }
    rc = from_text(conv, text, strlen(text), out, NULL, 0, true, errbuf, errsize);
    free(text);
    return rc;
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
    /* Room for the longest string or key a conversion keeps, and for
     * names and timestamps whatever the limits. */
    conv->scratch_size = set->max_string_bytes;
    if (conv->scratch_size < set->max_map_key_bytes)
        conv->scratch_size = set->max_map_key_bytes;
    if (conv->scratch_size < SCRATCH_MIN)
        conv->scratch_size = SCRATCH_MIN;
    conv->scratch_size++;
    if (tally_json_avro_plan_build(&conv->plan, schema, errbuf, errsize) != 0)
        goto cleanup;
    /* Every default must convert, so a missing field never fails at run
     * time. Errors read "<record>.<field>: ... (in the schema's default)". */
    tally_json_avro_ctx_init(&cx, conv, errbuf, errsize);
    cx.scratch = scratch_get(conv->scratch_size);
    for (size_t i = 0; i < conv->plan.n_nodes; i++) {
        const tally_json_avro_node_t *n = conv->plan.nodes[i];

        for (size_t k = 0; n->kind == TALLY_JA_RECORD && k < n->n; k++) {
            const tally_json_avro_field_t *f = &n->fields[k];

            if (f->def == NULL)
                continue;
            tally_json_avro_ctx_pop(&cx, 0);
            tally_json_avro_ctx_push_field(&cx, n->name);
            tally_json_avro_ctx_push_field(&cx, f->name);
            if (tally_json_avro_read_text(&cx, f->type, f->def, f->def_len, NULL, 0, true) != 0)
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
