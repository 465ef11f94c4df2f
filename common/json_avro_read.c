/*
 * json_avro_read.c: JSON text to avro-c generic values along the
 * converter's plan (json_avro_plan.c), for json_avro.c's entry points.
 * The text is read once with the pull reader of json_reader.h, each value
 * converted as it is met: records and maps by key in text order (a bit set
 * catches a field given twice, avro-c's is_new a map key given twice),
 * unions that name their branch by looking ahead over their object first.
 * Strings are decoded into the thread's scratch buffer and copied into the
 * value by avro-c, so reading allocates nothing of its own. Defaults and
 * server-set values are JSON text too, read the same way. "Validate only"
 * (no value to fill) is the same walk with a NULL value. The scalars, and
 * the reading and error helpers of the walk, are json_avro_scalar.c's.
 */
#include "json_avro.h"

#include "json_avro_plan.h"
#include "json_reader.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef tally_json_avro_ctx_t ctx_t;
typedef tally_json_avro_node_t node_t;
typedef tally_json_kind_t kind_t;

/* The server-set fields of one conversion, by root field index. */
typedef struct fills_t {
    const tally_json_avro_fill_t *fill;
    size_t n;
    size_t index[TALLY_JSON_AVRO_MAX_FILL];
} fills_t;

#define fail(cx, ...) tally_json_avro_ctx_fail((cx), TALLY_JSON_AVRO_ERR_INVALID, __VA_ARGS__)
#define syntax(cx) tally_json_avro_ctx_syntax(cx)

static int convert(ctx_t *cx, const node_t *n, avro_value_t *v, unsigned depth);

int tally_json_avro_read_text(tally_json_avro_ctx_t *cx, const tally_json_avro_node_t *n, const char *json,
                              size_t len, avro_value_t *v, unsigned depth, bool as_default)
{
    tally_json_reader_t r, *outer = cx->r;
    bool was = cx->in_default;
    int rc;

    tally_json_reader_init(&r, json, len);
    r.allow_nul = true; /* a NUL is then refused with the converter's own message */
    cx->r = &r;
    cx->in_default = as_default;
    rc = convert(cx, n, v, depth);
    if (rc == 0 && tally_json_reader_end(&r) != 0)
        rc = syntax(cx);
    cx->in_default = was;
    cx->r = outer;
    if (rc != 0 && !was && cx->errbuf != NULL && cx->errsize > 0) {
        /* Only a schema or caller mistake gets here: say so. */
        size_t used = strlen(cx->errbuf);
        snprintf(cx->errbuf + used, cx->errsize - used, "%s",
                 as_default ? " (in the schema's default)" : " (in the server-set value)");
    }
    if (rc != 0 && !as_default)
        rc = TALLY_JSON_AVRO_ERR_INTERNAL;
    return rc;
}

/* ---- containers ---- */

/* The field called key[0..len), looking first from the one after the
 * previous (senders mostly follow the schema's order, skipping some), or
 * -1. */
static int field_index(const node_t *rec, const char *key, size_t len, size_t guess)
{
    const tally_json_avro_field_t *f = rec->fields;

    for (size_t k = 0, i = guess < rec->n ? guess : 0; k < rec->n; k++, i = i + 1 < rec->n ? i + 1 : 0)
        if (f[i].name_len == len && memcmp(f[i].name, key, len) == 0)
            return (int)i;
    return -1;
}

static const tally_json_avro_fill_t *fill_of(const fills_t *fills, size_t field)
{
    for (size_t i = 0; fills != NULL && i < fills->n; i++)
        if (fills->index[i] == field)
            return &fills->fill[i];
    return NULL;
}

static int unknown_field(ctx_t *cx, size_t len)
{
    if (tally_json_avro_ctx_fits(cx, len) && tally_json_avro_plan_showable(cx->scratch, len))
        return fail(cx, "unknown field \"%.*s\"", (int)len, cx->scratch);
    return fail(cx, "unknown field (name not shown: not a valid Avro name)");
}

static bool is_key(const ctx_t *cx, const char *key, size_t len)
{
    return key != NULL && tally_json_avro_ctx_fits(cx, len) && strlen(key) == len && memcmp(key, cx->scratch, len) == 0;
}

/* The error paths below keep the order in which a tree walk reports
 * problems: a container's shape (an unknown field, too many entries)
 * before what is inside it. Objects are read in one pass, so when a
 * problem inside comes first, the container is read again from its start
 * (error path only) and its shape problem, if any, replaces the error.
 * mark: the container's path. A syntax error met on the way keeps rc (the
 * caller reports the text as not JSON anyway). */
static int recheck_record(ctx_t *cx, const node_t *n, const tally_json_reader_t *start, size_t mark,
                          const char *skip_key, int rc)
{
    tally_json_reader_t r = *start;
    size_t count = 0, len;
    bool more;

    if (rc != TALLY_JSON_AVRO_ERR_INVALID || tally_json_reader_begin(&r, '{') != 0)
        return rc;
    for (;;) {
        if (tally_json_reader_next(&r, '}', &count, &more) != 0 || !more ||
            tally_json_reader_key(&r, cx->scratch, cx->conv->scratch_size, &len) != 0)
            return rc;
        if (!is_key(cx, skip_key, len) &&
            (!tally_json_avro_ctx_fits(cx, len) || field_index(n, cx->scratch, len, 0) < 0)) {
            tally_json_avro_ctx_pop(cx, mark);
            return unknown_field(cx, len);
        }
        if (tally_json_reader_skip(&r) != 0)
            return rc;
    }
}

static int recheck_count(ctx_t *cx, const tally_json_reader_t *start, bool map, size_t max,
                         size_t mark, int rc)
{
    tally_json_reader_t r = *start;
    size_t count = 0, len;
    bool more;

    if (rc != TALLY_JSON_AVRO_ERR_INVALID || tally_json_reader_begin(&r, map ? '{' : '[') != 0)
        return rc;
    for (;;) {
        if (tally_json_reader_next(&r, map ? '}' : ']', &count, &more) != 0 || !more)
            return rc;
        if (count > max) {
            tally_json_avro_ctx_pop(cx, mark);
            if (map)
                return fail(cx, "map has more than %zu entries", max);
            return fail(cx, "array has more than %zu items", max);
        }
        if ((map && tally_json_reader_key(&r, NULL, 0, &len) != 0) || tally_json_reader_skip(&r) != 0)
            return rc;
    }
}

/* Empties the map or array v holds from an earlier conversion: every
 * other kind of value is overwritten whole, so values need no reset
 * between events (a reset frees and reallocates avro-c's strings and
 * union branches). */
static int empty(ctx_t *cx, avro_value_t *v)
{
    size_t n = 0;

    if (v == NULL)
        return 0;
    if (avro_value_get_size(v, &n) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "get_size");
    if (n > 0 && avro_value_reset(v) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "reset");
    return 0;
}

/* skip: a key that is not a field (the flat union form's "type"), or NULL.
 * fills: the server-set fields, at the root only, or NULL. */
static int convert_record(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v, unsigned depth,
                          const char *skip_key, const fills_t *fills)
{
    uint64_t seen[TALLY_JSON_AVRO_MAX_FIELDS / 64] = {0};
    size_t count = 0, guess = 0, len, here = cx->plen;
    tally_json_reader_t start = *cx->r;
    bool more, skip_seen = false;
    int rc;

    if (k != TALLY_JSON_OBJECT)
        return tally_json_avro_mismatch(cx, n, k);
    if (tally_json_reader_begin(cx->r, '{') != 0)
        return syntax(cx);
    for (;;) {
        const tally_json_avro_field_t *f;
        const tally_json_avro_fill_t *fill;
        avro_value_t child, *cv = NULL;
        size_t mark;
        int i;

        if (tally_json_reader_next(cx->r, '}', &count, &more) != 0)
            return syntax(cx);
        if (!more)
            break;
        if (tally_json_reader_key(cx->r, cx->scratch, cx->conv->scratch_size, &len) != 0)
            return syntax(cx);
        i = tally_json_avro_ctx_fits(cx, len) ? field_index(n, cx->scratch, len, guess) : -1;
        if (i < 0) {
            if (!is_key(cx, skip_key, len))
                return unknown_field(cx, len);
            if (skip_seen)
                return recheck_record(cx, n, &start, here, skip_key,
                                      fail(cx, "duplicate field \"%s\"", skip_key));
            skip_seen = true;
            if (tally_json_avro_ctx_skip(cx) != 0)
                return TALLY_JSON_AVRO_ERR_SYNTAX;
            continue;
        }
        f = &n->fields[i];
        if ((seen[i / 64] >> (i % 64)) & 1)
            return recheck_record(cx, n, &start, here, skip_key,
                                  fail(cx, "duplicate field \"%s\"", f->name));
        seen[i / 64] |= UINT64_C(1) << (i % 64);
        guess = (size_t)i + 1;
        fill = fill_of(fills, (size_t)i);
        if (fill != NULL && fill->always) {
            if (tally_json_avro_ctx_skip(cx) != 0) /* the sender's value, replaced below */
                return TALLY_JSON_AVRO_ERR_SYNTAX;
            continue;
        }
        if (v != NULL) {
            if (avro_value_get_by_index(v, (size_t)i, &child, NULL) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "get_by_index");
            cv = &child;
        }
        mark = tally_json_avro_ctx_push(cx, ".", f->name, f->name_len);
        rc = convert(cx, f->type, cv, depth);
        if (rc != 0)
            return recheck_record(cx, n, &start, here, skip_key, rc);
        tally_json_avro_ctx_pop(cx, mark);
    }
    /* The fields the text did not give, in the schema's order. */
    for (size_t i = 0; i < n->n; i++) {
        const tally_json_avro_field_t *f = &n->fields[i];
        const tally_json_avro_fill_t *fill = fill_of(fills, i);
        avro_value_t child, *cv = NULL;
        size_t mark;

        if (((seen[i / 64] >> (i % 64)) & 1) && (fill == NULL || !fill->always))
            continue;
        if (v != NULL) {
            if (avro_value_get_by_index(v, i, &child, NULL) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "get_by_index");
            cv = &child;
        }
        mark = tally_json_avro_ctx_push(cx, ".", f->name, f->name_len);
        if (fill != NULL) {
            char made[TALLY_JSON_AVRO_FILL_TEXT];
            const char *json = fill->json;
            if (json == NULL) {
                made[0] = '\0';
                fill->make(fill->arg, made, sizeof made);
                made[sizeof made - 1] = '\0';
                json = made;
            }
            rc = tally_json_avro_read_text(cx, f->type, json, strlen(json), cv, depth, false);
        } else if (f->def != NULL)
            rc = tally_json_avro_read_text(cx, f->type, f->def, f->def_len, cv, depth, true);
        else
            rc = fail(cx, "required field is missing");
        if (rc != 0)
            return rc;
        tally_json_avro_ctx_pop(cx, mark);
    }
    return 0;
}

static int convert_array(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v, unsigned depth)
{
    const size_t max = cx->conv->opts.max_array_items, here = cx->plen;
    tally_json_reader_t start = *cx->r;
    size_t count = 0;
    bool more;

    if (k != TALLY_JSON_ARRAY)
        return tally_json_avro_mismatch(cx, n, k);
    if (empty(cx, v) != 0)
        return TALLY_JSON_AVRO_ERR_INTERNAL;
    if (tally_json_reader_begin(cx->r, '[') != 0)
        return syntax(cx);
    for (;;) {
        avro_value_t child, *cv = NULL;
        size_t mark;
        int rc;

        if (tally_json_reader_next(cx->r, ']', &count, &more) != 0)
            return syntax(cx);
        if (!more)
            return 0;
        if (count > max)
            return fail(cx, "array has more than %zu items", max);
        if (v != NULL) {
            if (avro_value_append(v, &child, NULL) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "append");
            cv = &child;
        }
        mark = tally_json_avro_ctx_push_index(cx, false, count - 1);
        rc = convert(cx, n->items, cv, depth);
        if (rc != 0)
            return recheck_count(cx, &start, false, max, here, rc);
        tally_json_avro_ctx_pop(cx, mark);
    }
}

/* Reads the entries of the map at the reader (k: an object) into v. old:
 * the entries v holds from an earlier conversion, kept, their values
 * overwritten, as long as the text gives the same keys in the same order
 * (events of a kind mostly do; avro-c's map rebuilds its hash table and
 * copies every key again once reset). When it does not, *again is set
 * and nothing is reported: the caller empties v and reads the map again. */
static int map_entries(ctx_t *cx, const node_t *n, avro_value_t *v, unsigned depth, size_t old,
                       bool *again)
{
    const tally_json_avro_options_t *o = &cx->conv->opts;
    const char *key = cx->scratch;
    const size_t here = cx->plen;
    tally_json_reader_t start = *cx->r;
    size_t count = 0, len;
    bool more;

    *again = false;
    if (tally_json_reader_begin(cx->r, '{') != 0)
        return syntax(cx);
    for (;;) {
        avro_value_t child, *cv = NULL;
        size_t i, mark;
        int rc, is_new = 1;

        if (tally_json_reader_next(cx->r, '}', &count, &more) != 0)
            return syntax(cx);
        if (!more) {
            *again = count != old && old > 0; /* fewer keys than v holds */
            return 0;
        }
        i = count - 1;
        if (count > o->max_map_entries)
            return fail(cx, "map has more than %zu entries", o->max_map_entries);
        if (tally_json_reader_key(cx->r, cx->scratch, cx->conv->scratch_size, &len) != 0)
            return syntax(cx);
        if (len > o->max_map_key_bytes) {
            (void)tally_json_avro_ctx_push_index(cx, true, i);
            return recheck_count(cx, &start, true, o->max_map_entries, here,
                                 fail(cx, "map key longer than %zu bytes", o->max_map_key_bytes));
        }
        if (cx->r->allow_nul && memchr(key, '\0', len) != NULL) {
            (void)tally_json_avro_ctx_push_index(cx, true, i);
            return recheck_count(cx, &start, true, o->max_map_entries, here,
                                 fail(cx, "map key contains a NUL character"));
        }
        /* The key is compared or copied into the value and the path
         * before the scratch buffer is reused for the item. */
        if (v != NULL && old > 0) {
            const char *was = NULL;
            /* Unique before, in the same order: unique now. */
            if (i >= old || avro_value_get_by_index(v, i, &child, &was) != 0 || was == NULL ||
                strlen(was) != len || memcmp(was, key, len) != 0) {
                *again = true;
                return 0;
            }
            cv = &child;
        } else if (v != NULL) {
            if (avro_value_add(v, key, &child, NULL, &is_new) != 0)
                return tally_json_avro_ctx_avro_failed(cx, "add");
            cv = &child;
        }
        if (tally_json_avro_plan_showable(key, len))
            mark = tally_json_avro_ctx_push(cx, ".", key, len);
        else
            mark = tally_json_avro_ctx_push_index(cx, true, i);
        if (!is_new)
            return recheck_count(cx, &start, true, o->max_map_entries, here,
                                 fail(cx, "duplicate map key"));
        rc = convert(cx, n->items, cv, depth);
        if (rc != 0)
            return recheck_count(cx, &start, true, o->max_map_entries, here, rc);
        tally_json_avro_ctx_pop(cx, mark);
    }
}

static int convert_map(ctx_t *cx, const node_t *n, kind_t k, avro_value_t *v, unsigned depth)
{
    tally_json_reader_t start = *cx->r;
    const size_t here = cx->plen;
    size_t old = 0;
    bool again;
    int rc;

    if (k != TALLY_JSON_OBJECT)
        return tally_json_avro_mismatch(cx, n, k);
    if (v != NULL && avro_value_get_size(v, &old) != 0)
        return tally_json_avro_ctx_avro_failed(cx, "get_size");
    rc = map_entries(cx, n, v, depth, old, &again);
    if (rc != 0 || !again)
        return rc;
    if (empty(cx, v) != 0)
        return TALLY_JSON_AVRO_ERR_INTERNAL;
    *cx->r = start;
    tally_json_avro_ctx_pop(cx, here);
    return map_entries(cx, n, v, depth, 0, &again);
}

/* Selects branch b of union u in v and fills it from the next value. */
static int convert_branch(ctx_t *cx, const node_t *u, int b, avro_value_t *v, unsigned depth,
                          const char *skip_key)
{
    avro_value_t branch, *bv = NULL;
    kind_t k;

    if (v != NULL) {
        if (avro_value_set_branch(v, b, &branch) != 0)
            return tally_json_avro_ctx_avro_failed(cx, "set_branch");
        bv = &branch;
    }
    if (skip_key == NULL)
        return convert(cx, u->branches[b], bv, depth);
    if (depth >= cx->conv->opts.max_depth)
        return fail(cx, "nested deeper than %u levels", cx->conv->opts.max_depth);
    if (tally_json_avro_ctx_peek(cx, &k) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    return convert_record(cx, u->branches[b], k, bv, depth + 1, skip_key, NULL);
}

/* A union of several non-null branches, given as an object: {"Branch":
 * value}, or the flat {"type": "Branch", ...fields}. Looks over the object
 * once (counting keys, noting the first and where "type" is), then reads
 * the chosen part again. */
static int convert_named_branch(ctx_t *cx, const node_t *n, avro_value_t *v, unsigned depth)
{
    tally_json_reader_t start = *cx->r, first = start, tag = start;
    size_t count = 0, len, mark, shown_len = 0;
    bool more, have_tag = false, first_is_type = false;
    char shown[65];
    kind_t k;
    int b = -1, rc;

    if (tally_json_reader_begin(cx->r, '{') != 0)
        return syntax(cx);
    for (;;) {
        bool is_type;

        if (tally_json_reader_next(cx->r, '}', &count, &more) != 0)
            return syntax(cx);
        if (!more)
            break;
        if (tally_json_reader_key(cx->r, cx->scratch, cx->conv->scratch_size, &len) != 0)
            return syntax(cx);
        is_type = len == 4 && memcmp(cx->scratch, "type", 4) == 0;
        if (count == 1) {
            b = tally_json_avro_ctx_fits(cx, len) ? tally_json_avro_plan_branch(n, cx->scratch, len) : -1;
            if (tally_json_avro_ctx_fits(cx, len) && tally_json_avro_plan_showable(cx->scratch, len)) {
                shown_len = len;
                memcpy(shown, cx->scratch, len);
            }
            first_is_type = is_type;
            first = *cx->r;
        }
        if (is_type && !have_tag) {
            have_tag = true;
            tag = *cx->r;
        }
        if (tally_json_avro_ctx_skip(cx) != 0)
            return TALLY_JSON_AVRO_ERR_SYNTAX;
    }
    if (count == 1) {
        if (b >= 0) {
            tally_json_reader_t after = *cx->r;

            *cx->r = first;
            mark = tally_json_avro_ctx_push(cx, ".", n->labels[b], strlen(n->labels[b]));
            rc = convert_branch(cx, n, b, v, depth, NULL);
            if (rc != 0)
                return rc;
            tally_json_avro_ctx_pop(cx, mark);
            *cx->r = after;
            return 0;
        }
        if (!(n->flat && first_is_type)) {
            if (shown_len > 0)
                return fail(cx, "unknown union branch \"%.*s\" (one of %s)", (int)shown_len, shown,
                            n->choices);
            return fail(cx, "unknown union branch (one of %s)", n->choices);
        }
    }
    if (!n->flat || !have_tag)
        return fail(cx, "expected an object with exactly one key naming the branch (%s), "
                        "got %zu keys", n->choices, count);
    *cx->r = tag;
    mark = tally_json_avro_ctx_push_field(cx, "type");
    if (tally_json_avro_ctx_peek(cx, &k) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    if (k != TALLY_JSON_STRING)
        return fail(cx, "expected a string naming a branch (%s), got %s", n->choices, tally_json_avro_kind_name(k));
    if (tally_json_avro_ctx_string(cx, &len) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    b = tally_json_avro_ctx_fits(cx, len) ? tally_json_avro_plan_branch(n, cx->scratch, len) : -1;
    if (b < 0 || n->branches[b]->kind != TALLY_JA_RECORD)
        return fail(cx, "not a branch of the union (one of %s)", n->choices);
    tally_json_avro_ctx_pop(cx, mark);
    mark = tally_json_avro_ctx_push(cx, ".", n->labels[b], strlen(n->labels[b]));
    *cx->r = start;
    rc = convert_branch(cx, n, b, v, depth, "type");
    if (rc == 0)
        tally_json_avro_ctx_pop(cx, mark);
    return rc;
}

static int convert_union(ctx_t *cx, const node_t *n, avro_value_t *v, unsigned depth)
{
    kind_t k;

    if (cx->in_default) /* Avro defaults are bare values of the first branch */
        return convert_branch(cx, n, 0, v, depth, NULL);
    if (tally_json_avro_ctx_peek(cx, &k) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    if (k == TALLY_JSON_NULL && n->null_branch >= 0)
        return convert_branch(cx, n, n->null_branch, v, depth, NULL);
    if (n->only_branch >= 0) {
        if (k == TALLY_JSON_NULL)
            return tally_json_avro_mismatch(cx, n->branches[n->only_branch], k);
        return convert_branch(cx, n, n->only_branch, v, depth, NULL);
    }
    if (k != TALLY_JSON_OBJECT)
        return fail(cx, "expected an object naming one branch of the union (%s), got %s",
                    n->choices, tally_json_avro_kind_name(k));
    return convert_named_branch(cx, n, v, depth);
}

static int convert(ctx_t *cx, const node_t *n, avro_value_t *v, unsigned depth)
{
    kind_t k;

    switch (n->kind) {
    case TALLY_JA_UNION:
        return convert_union(cx, n, v, depth);
    case TALLY_JA_RECORD:
    case TALLY_JA_ARRAY:
    case TALLY_JA_MAP:
        if (depth >= cx->conv->opts.max_depth)
            return fail(cx, "nested deeper than %u levels", cx->conv->opts.max_depth);
        break;
    default:
        break;
    }
    if (tally_json_avro_ctx_peek(cx, &k) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    switch (n->kind) {
    case TALLY_JA_RECORD: return convert_record(cx, n, k, v, depth + 1, NULL, NULL);
    case TALLY_JA_ARRAY: return convert_array(cx, n, k, v, depth + 1);
    case TALLY_JA_MAP: return convert_map(cx, n, k, v, depth + 1);
    case TALLY_JA_UNION: break;
    default: return tally_json_avro_read_scalar(cx, n, k, v);
    }
    return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL, "unknown node kind");
}

int tally_json_avro_read_root(tally_json_avro_ctx_t *cx, avro_value_t *out, const tally_json_avro_fill_t *fill,
                              size_t n_fill)
{
    const node_t *root = cx->conv->plan.root;
    fills_t fills = {fill, n_fill, {0}};
    kind_t k;

    if (n_fill > TALLY_JSON_AVRO_MAX_FILL)
        return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL,
                                        "more than %d server-set fields", TALLY_JSON_AVRO_MAX_FILL);
    for (size_t i = 0; i < n_fill; i++) {
        int f = field_index(root, fill[i].field, strlen(fill[i].field), 0);
        if (f < 0 || (fill[i].json == NULL && fill[i].make == NULL))
            return tally_json_avro_ctx_fail(cx, TALLY_JSON_AVRO_ERR_INTERNAL,
                                            "server-set field %zu is not a field of %s", i, root->name);
        fills.index[i] = (size_t)f;
    }
    if (tally_json_avro_ctx_peek(cx, &k) != 0)
        return TALLY_JSON_AVRO_ERR_SYNTAX;
    /* The root record is one level, as the tree walk counted it. */
    return convert_record(cx, root, k, out, 1, NULL, &fills);
}
