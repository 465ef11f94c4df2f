/*
 * The body walker. avro_value_read is not used: avro-c trusts the lengths a
 * body declares (a string of 2^62 bytes is a malloc of 2^62 bytes, a block
 * of 2^40 nulls a loop of 2^40 appends) and allocates every string it
 * reads. Instead the walker reads the body against the writer schema,
 * checks every length against the bytes that remain, and stores through the
 * avro_value_t interface into either the destination itself (same schema)
 * or avro-c's resolved writer for the reader schema.
 *
 * Two gaps of avro-c's resolved writer (1.11) are filled here:
 * - it rejects reader fields the writer lacks, even with a default, so it
 *   resolves a writer schema widened with those fields (tally_avro_widen)
 *   and the walker, where the writer's fields of a record end, stores the
 *   reader's defaults into the added ones;
 * - it stores a writer enum's index as is into the reader enum, so the
 *   walker maps each symbol to the reader's index by name first.
 *
 * The reads that check lengths, and the reader's state, are
 * body_cursor.c's.
 */
#include "body_reader.h"

#include "avro_canonical.h"
#include "body_cursor.h"
#include "codec.h"
#include "errbuf.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reader defaults -------------------------------------------------- */

/* JSON default of bytes/fixed: code points 0-255 are the bytes. */
static int latin1(const char *s, size_t n, char *out, size_t *outn)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            out[k++] = (char)ch;
        } else if ((ch == 0xC2 || ch == 0xC3) && i + 1 < n && ((unsigned char)s[i + 1] & 0xC0) == 0x80) {
            out[k++] = (char)(((ch & 0x03) << 6) | ((unsigned char)s[i + 1] & 0x3F));
            i++;
        } else {
            return -1;
        }
    }
    *outn = k;
    return 0;
}

static int set_default(cursor_t *c, avro_value_t *v, const json_t *def, int depth)
{
    avro_value_t child;
    size_t i, n;
    const char *key;
    const json_t *item;

    if (depth > TALLY_BODY_MAX_DEPTH)
        return tally_body_default_error(c, "nested too deep");
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        if (!json_is_null(def))
            return tally_body_default_error(c, "null expected");
        return avro_value_set_null(v) ? tally_body_store_error(c, "default null") : 0;
    case AVRO_BOOLEAN:
        if (!json_is_boolean(def))
            return tally_body_default_error(c, "boolean expected");
        return avro_value_set_boolean(v, json_is_true(def)) ? tally_body_store_error(c, "default boolean") : 0;
    case AVRO_INT32:
        if (!json_is_integer(def) || json_integer_value(def) < INT32_MIN ||
            json_integer_value(def) > INT32_MAX)
            return tally_body_default_error(c, "int expected");
        return avro_value_set_int(v, (int32_t)json_integer_value(def)) ? tally_body_store_error(c, "default int") : 0;
    case AVRO_INT64:
        if (!json_is_integer(def))
            return tally_body_default_error(c, "long expected");
        return avro_value_set_long(v, json_integer_value(def)) ? tally_body_store_error(c, "default long") : 0;
    case AVRO_FLOAT:
        if (!json_is_number(def))
            return tally_body_default_error(c, "float expected");
        return avro_value_set_float(v, (float)json_number_value(def)) ? tally_body_store_error(c, "default float") : 0;
    case AVRO_DOUBLE:
        if (!json_is_number(def))
            return tally_body_default_error(c, "double expected");
        return avro_value_set_double(v, json_number_value(def)) ? tally_body_store_error(c, "default double") : 0;
    case AVRO_STRING:
        if (!json_is_string(def))
            return tally_body_default_error(c, "string expected");
        return avro_value_set_string_len(v, json_string_value(def), json_string_length(def) + 1)
                   ? tally_body_store_error(c, "default string") : 0;
    case AVRO_BYTES:
    case AVRO_FIXED: {
        char *buf;
        if (!json_is_string(def))
            return tally_body_default_error(c, "string of bytes expected");
        buf = tally_body_scratch(c->br, json_string_length(def) + 1);
        if (latin1(json_string_value(def), json_string_length(def), buf, &n) != 0)
            return tally_body_default_error(c, "bytes default has code points above 255");
        if (avro_value_get_type(v) == AVRO_BYTES)
            return avro_value_set_bytes(v, buf, n) ? tally_body_store_error(c, "default bytes") : 0;
        return avro_value_set_fixed(v, buf, n) ? tally_body_store_error(c, "default fixed") : 0;
    }
    case AVRO_ENUM: {
        avro_schema_t e = tally_body_deref(avro_value_get_schema(v));
        int32_t idx = json_is_string(def) ? avro_schema_enum_get_by_name(e, json_string_value(def)) : -1;
        int rc;
        if (idx < 0)
            return tally_body_default_error(c, "enum symbol expected");
        if (c->resolved && (rc = tally_body_to_reader_symbol(c, e, &idx)) != 0)
            return rc;
        return avro_value_set_enum(v, idx) ? tally_body_store_error(c, "default enum") : 0;
    }
    case AVRO_UNION:
        /* A union's default is of its first branch. */
        if (avro_value_set_branch(v, 0, &child) != 0)
            return tally_body_store_error(c, "default union branch");
        return set_default(c, &child, def, depth + 1);
    case AVRO_RECORD:
        if (!json_is_object(def) || avro_value_get_size(v, &n) != 0)
            return tally_body_default_error(c, "record default must be an object");
        for (i = 0; i < n; i++) {
            const char *name = NULL;
            int rc;
            if (avro_value_get_by_index(v, i, &child, &name) != 0)
                return tally_body_store_error(c, "default record field");
            if (child.iface == NULL)
                continue;
            if (name == NULL || (item = json_object_get(def, name)) == NULL)
                return tally_body_default_error(c, "record default lacks a field");
            if ((rc = set_default(c, &child, item, depth + 1)) != 0)
                return rc;
        }
        return 0;
    case AVRO_ARRAY:
        if (!json_is_array(def) || avro_value_reset(v) != 0)
            return tally_body_default_error(c, "array default must be an array");
        json_array_foreach(def, i, item) {
            int rc;
            if (avro_value_append(v, &child, NULL) != 0)
                return tally_body_store_error(c, "default array item");
            if ((rc = set_default(c, &child, item, depth + 1)) != 0)
                return rc;
        }
        return 0;
    case AVRO_MAP:
        if (!json_is_object(def) || avro_value_reset(v) != 0)
            return tally_body_default_error(c, "map default must be an object");
        json_object_foreach((json_t *)def, key, item) {
            int rc;
            if (avro_value_add(v, key, &child, NULL, NULL) != 0)
                return tally_body_store_error(c, "default map value");
            if ((rc = set_default(c, &child, item, depth + 1)) != 0)
                return rc;
        }
        return 0;
    default:
        return tally_body_default_error(c, "unsupported type");
    }
}

/* ---- the body walker -------------------------------------------------- */

static int walk(cursor_t *c, avro_schema_t s, avro_value_t *v, int depth);

static int walk_long(cursor_t *c, avro_value_t *v)
{
    int64_t i64 = 0;
    int rc;

    if ((rc = tally_body_read_long(c, &i64)) != 0)
        return rc;
    return v && avro_value_set_long(v, i64) ? tally_body_store_error(c, "long") : 0;
}

static int walk_string(cursor_t *c, avro_value_t *v)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    char *str;
    int rc;

    if ((rc = tally_body_read_span(c, &p, &n, "string")) != 0 || v == NULL)
        return rc;
    /* avro-c wants the NUL counted and present. */
    str = tally_body_scratch(c->br, n + 1);
    memcpy(str, p, n);
    str[n] = '\0';
    return avro_value_set_string_len(v, str, n + 1) ? tally_body_store_error(c, "string") : 0;
}

static int walk_record(cursor_t *c, avro_schema_t s, avro_value_t *v, int depth)
{
    const rec_plan_t *rp = tally_body_rec_plan(c, s);
    const tally_avro_widened_t *w = rp ? rp->w : NULL;
    size_t nwriter = rp ? rp->nwriter : avro_schema_record_size(s);
    avro_value_t field = { NULL, NULL };
    int rc;

    for (size_t i = 0; i < nwriter; i++) {
        avro_schema_t fs = rp ? rp->fields[i] : avro_schema_record_field_get_by_index(s, (int)i);
        if (v != NULL && avro_value_get_by_index(v, i, &field, NULL) != 0)
            return tally_body_store_error(c, "record field");
        /* A NULL iface: the reader has no such field; skip it. */
        avro_value_t *fv = v != NULL && field.iface != NULL ? &field : NULL;
        /* The usual leaves without the call to walk, as walk would. */
        if (rp != NULL && depth + 1 <= TALLY_BODY_MAX_DEPTH && rp->types[i] == AVRO_INT64)
            rc = walk_long(c, fv);
        else if (rp != NULL && depth + 1 <= TALLY_BODY_MAX_DEPTH && rp->types[i] == AVRO_STRING)
            rc = walk_string(c, fv);
        else
            rc = walk(c, fs, fv, depth + 1);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; w != NULL && v != NULL && i < w->added; i++) {
        if (avro_value_get_by_index(v, nwriter + i, &field, NULL) != 0)
            return tally_body_store_error(c, "added record field");
        if (field.iface != NULL && (rc = set_default(c, &field, w->defaults[i], depth + 1)) != 0)
            return rc;
    }
    return 0;
}

/* Arrays and maps: blocks of items, a negative count followed by the
 * block's size in bytes, a zero count at the end. */
static int walk_blocks(cursor_t *c, avro_schema_t s, avro_value_t *v, int depth)
{
    int is_map = avro_typeof(s) == AVRO_MAP;
    avro_schema_t item = is_map ? avro_schema_map_values(s) : avro_schema_array_items(s);
    int maybe_empty = !is_map && tally_body_can_be_empty(item, 0);
    avro_value_t child;
    int rc;

    if (v != NULL && avro_value_reset(v) != 0)
        return tally_body_store_error(c, is_map ? "map" : "array");
    for (;;) {
        int64_t count, bytes;
        if ((rc = tally_body_read_long(c, &count)) != 0)
            return rc;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return tally_body_error(c, "block count out of range");
            count = -count;
            if ((rc = tally_body_read_long(c, &bytes)) != 0)
                return rc;
            if (bytes < 0 || (uint64_t)bytes > (uint64_t)(c->end - c->p))
                return tally_body_error(c, "block of %" PRId64 " bytes but only %zu remain", bytes,
                                  (size_t)(c->end - c->p));
        }
        /* Every item takes a byte at least, unless it can be empty. */
        if (!maybe_empty && (uint64_t)count > (uint64_t)(c->end - c->p))
            return tally_body_error(c, "block of %" PRId64 " items but only %zu bytes remain", count,
                              (size_t)(c->end - c->p));
        if (maybe_empty) {
            if ((uint64_t)count > TALLY_BODY_MAX_EMPTY_ITEMS - c->empty_items)
                return tally_body_error(c, "more than %u empty items", TALLY_BODY_MAX_EMPTY_ITEMS);
            c->empty_items += (size_t)count;
        }
        for (int64_t k = 0; k < count; k++) {
            avro_value_t *target = NULL;
            if (is_map) {
                const uint8_t *kp;
                size_t kn;
                char *key;
                if ((rc = tally_body_read_span(c, &kp, &kn, "map key")) != 0)
                    return rc;
                if (v != NULL) {
                    key = tally_body_scratch(c->br, kn + 1);
                    memcpy(key, kp, kn);
                    key[kn] = '\0';
                    if (avro_value_add(v, key, &child, NULL, NULL) != 0)
                        return tally_body_store_error(c, "map value");
                    target = &child;
                }
            } else if (v != NULL) {
                if (avro_value_append(v, &child, NULL) != 0)
                    return tally_body_store_error(c, "array item");
                target = &child;
            }
            if ((rc = walk(c, item, target, depth + 1)) != 0)
                return rc;
        }
    }
}

/* Reads one datum of writer schema s into v, or skips it when v is NULL. */
static int walk(cursor_t *c, avro_schema_t s, avro_value_t *v, int depth)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    int32_t i32 = 0;
    int64_t i64 = 0;
    int rc;

    s = tally_body_deref(s);
    if (depth > TALLY_BODY_MAX_DEPTH)
        return tally_body_error(c, "nested deeper than %d levels", TALLY_BODY_MAX_DEPTH);
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return v && avro_value_set_null(v) ? tally_body_store_error(c, "null") : 0;
    case AVRO_BOOLEAN:
        if ((rc = tally_body_take(c, 1, &p, "boolean")) != 0)
            return rc;
        if (*p > 1)
            return tally_body_error(c, "boolean byte %u", *p);
        return v && avro_value_set_boolean(v, *p) ? tally_body_store_error(c, "boolean") : 0;
    case AVRO_INT32:
        if ((rc = tally_body_read_int(c, &i32)) != 0)
            return rc;
        return v && avro_value_set_int(v, i32) ? tally_body_store_error(c, "int") : 0;
    case AVRO_INT64:
        return walk_long(c, v);
    case AVRO_FLOAT: {
        uint32_t u;
        float f;
        if ((rc = tally_body_take(c, 4, &p, "float")) != 0)
            return rc;
        u = (uint32_t)tally_body_le_bytes(p, 4);
        memcpy(&f, &u, sizeof f);
        return v && avro_value_set_float(v, f) ? tally_body_store_error(c, "float") : 0;
    }
    case AVRO_DOUBLE: {
        uint64_t u;
        double d;
        if ((rc = tally_body_take(c, 8, &p, "double")) != 0)
            return rc;
        u = tally_body_le_bytes(p, 8);
        memcpy(&d, &u, sizeof d);
        return v && avro_value_set_double(v, d) ? tally_body_store_error(c, "double") : 0;
    }
    case AVRO_STRING:
        return walk_string(c, v);
    case AVRO_BYTES:
        if ((rc = tally_body_read_span(c, &p, &n, "bytes")) != 0)
            return rc;
        return v && avro_value_set_bytes(v, (void *)p, n) ? tally_body_store_error(c, "bytes") : 0;
    case AVRO_FIXED:
        if ((rc = tally_body_take(c, (size_t)avro_schema_fixed_size(s), &p, "fixed")) != 0)
            return rc;
        return v && avro_value_set_fixed(v, (void *)p, (size_t)avro_schema_fixed_size(s))
                   ? tally_body_store_error(c, "fixed") : 0;
    case AVRO_ENUM:
        if ((rc = tally_body_read_int(c, &i32)) != 0)
            return rc;
        if (i32 < 0 || i32 >= avro_schema_enum_number_of_symbols(s))
            return tally_body_error(c, "enum index %" PRId32 " out of range", i32);
        if (v != NULL && c->resolved && (rc = tally_body_to_reader_symbol(c, s, &i32)) != 0)
            return rc;
        return v && avro_value_set_enum(v, i32) ? tally_body_store_error(c, "enum") : 0;
    case AVRO_UNION: {
        avro_value_t branch;
        if ((rc = tally_body_read_long(c, &i64)) != 0)
            return rc;
        if (i64 < 0 || (uint64_t)i64 >= avro_schema_union_size(s))
            return tally_body_error(c, "union branch %" PRId64 " out of range", i64);
        if (v != NULL && avro_value_set_branch(v, (int)i64, &branch) != 0) {
            /* avro-c's resolved writer keeps no resolver for a writer
             * branch that matches no reader branch and refuses to select
             * it (EINVAL). Note it, skip the datum, and check the rest
             * of the body: the caller learns "unknown branch" only of a
             * body that is otherwise sound. */
            if (!c->resolved)
                return tally_body_store_error(c, "union branch");
            if (!c->unknown_branch)
                tally_errbuf_set(c->errbuf, c->errsize, "branch %" PRId64 " (%s) of the writer's union at byte %zu "
                          "is not in the reader schema %s v%d", i64,
                          avro_schema_type_name(avro_schema_union_branch(s, (int)i64)),
                          (size_t)(c->p - c->start), c->br->reader->name, c->br->reader->version);
            c->unknown_branch = 1;
            return walk(c, avro_schema_union_branch(s, (int)i64), NULL, depth + 1);
        }
        return walk(c, avro_schema_union_branch(s, (int)i64), v ? &branch : NULL, depth + 1);
    }
    case AVRO_RECORD:
        return walk_record(c, s, v, depth);
    case AVRO_ARRAY:
    case AVRO_MAP:
        return walk_blocks(c, s, v, depth);
    default:
        return tally_body_error(c, "unsupported schema type %d", (int)avro_typeof(s));
    }
}


/* ---- building a reader ------------------------------------------------ */

/* The named type of this kind and unqualified name in schema x, as avro-c
 * matches them when resolving; links are not followed (each named type is
 * defined once in the tree). */
static avro_schema_t find_named(avro_schema_t x, avro_type_t type, const char *name)
{
    avro_schema_t found = NULL;
    size_t i;

    switch (avro_typeof(x)) {
    case AVRO_RECORD:
        if (type == AVRO_RECORD && strcmp(avro_schema_name(x), name) == 0)
            return x;
        for (i = 0; found == NULL && i < avro_schema_record_size(x); i++)
            found = find_named(avro_schema_record_field_get_by_index(x, (int)i), type, name);
        return found;
    case AVRO_ENUM:
        return type == AVRO_ENUM && strcmp(avro_schema_name(x), name) == 0 ? x : NULL;
    case AVRO_UNION:
        for (i = 0; found == NULL && i < avro_schema_union_size(x); i++)
            found = find_named(avro_schema_union_branch(x, (int)i), type, name);
        return found;
    case AVRO_ARRAY:
        return find_named(avro_schema_array_items(x), type, name);
    case AVRO_MAP:
        return find_named(avro_schema_map_values(x), type, name);
    default:
        return NULL;
    }
}

static int full_name_is(avro_schema_t record, const char *full)
{
    const char *ns = avro_schema_namespace(record);
    const char *name = avro_schema_name(record);
    size_t nslen = ns ? strlen(ns) : 0;

    if (nslen == 0)
        return strcmp(full, name) == 0;
    return strncmp(full, ns, nslen) == 0 && full[nslen] == '.' && strcmp(full + nslen + 1, name) == 0;
}

/* Notes the records (their fields, whether widened) and, when resolving,
 * maps the enums of the writer schema x. */
static void plan(tally_body_reader_t *br, avro_schema_t x)
{
    avro_schema_t r;
    size_t i, n;

    switch (avro_typeof(x)) {
    case AVRO_RECORD: {
        rec_plan_t *rp;
        n = avro_schema_record_size(x);
        br->recs = tally_xrealloc(br->recs, (br->nrecs + 1) * sizeof *br->recs, 1);
        rp = &br->recs[br->nrecs++];
        rp->record = x;
        rp->w = NULL;
        for (i = 0; i < br->nwide && rp->w == NULL; i++)
            if (full_name_is(x, br->wide[i].record))
                rp->w = &br->wide[i];
        rp->nwriter = rp->w ? rp->w->writer_fields : n;
        rp->fields = tally_xrealloc(NULL, n * sizeof *rp->fields, 1);
        rp->types = tally_xrealloc(NULL, n * sizeof *rp->types, 1);
        for (i = 0; i < n; i++) {
            rp->fields[i] = avro_schema_record_field_get_by_index(x, (int)i);
            rp->types[i] = avro_typeof(tally_body_deref(rp->fields[i]));
        }
        /* Then the records inside (recs may move: rp is not used again). */
        for (i = 0; i < n; i++)
            plan(br, avro_schema_record_field_get_by_index(x, (int)i));
        break;
    }
    case AVRO_ENUM:
        if (!br->resolved)
            break;
        r = find_named(br->reader->schema, AVRO_ENUM, avro_schema_name(x));
        if (r == NULL)
            break;
        br->enums = tally_xrealloc(br->enums, (br->nenums + 1) * sizeof *br->enums, 1);
        br->enums[br->nenums].writer = x;
        br->enums[br->nenums].to_reader =
            tally_xrealloc(NULL, (size_t)avro_schema_enum_number_of_symbols(x) * sizeof(int), 1);
        for (int k = 0; k < avro_schema_enum_number_of_symbols(x); k++)
            br->enums[br->nenums].to_reader[k] =
                avro_schema_enum_get_by_name(r, avro_schema_enum_get(x, k));
        br->nenums++;
        break;
    case AVRO_UNION:
        for (i = 0; i < avro_schema_union_size(x); i++)
            plan(br, avro_schema_union_branch(x, (int)i));
        break;
    case AVRO_ARRAY:
        plan(br, avro_schema_array_items(x));
        break;
    case AVRO_MAP:
        plan(br, avro_schema_map_values(x));
        break;
    default:
        break;
    }
}

tally_body_reader_t *tally_body_reader_new(const tally_catalog_entry_t *writer,
                                           const tally_catalog_entry_t *reader,
                                           avro_value_t *dest, char *errbuf, size_t errsize)
{
    tally_body_reader_t *br = tally_xrealloc(NULL, sizeof *br, 1), *result = NULL;
    char err[512] = "", *json = NULL;

    memset(br, 0, sizeof *br);
    br->writer = writer;
    br->reader = reader;
    if (writer->fingerprint == reader->fingerprint) {
        /* Same canonical form: read straight into dest. */
        br->wschema = avro_schema_incref(writer->schema);
        avro_value_copy_ref(&br->value, dest);
        plan(br, br->wschema);
        result = br;
        br = NULL;
        goto cleanup;
    }
    br->resolved = 1;
    if (tally_avro_widen(writer->json, reader->json, &json, &br->wide, &br->nwide, err, sizeof err) != 0) {
        tally_errbuf_set(errbuf, errsize, "%s v%d cannot be read as %s v%d: %s", writer->name,
                  writer->version, reader->name, reader->version, err);
        goto cleanup;
    }
    if (br->nwide == 0) {
        br->wschema = avro_schema_incref(writer->schema);
    } else if (avro_schema_from_json_length(json, strlen(json), &br->wschema) != 0) {
        br->wschema = NULL;
        tally_errbuf_set(errbuf, errsize, "%s v%d widened for %s v%d: %s", writer->name, writer->version,
                  reader->name, reader->version, avro_strerror());
        goto cleanup;
    }
    br->iface = avro_resolved_writer_new(br->wschema, reader->schema);
    if (br->iface == NULL) {
        tally_errbuf_set(errbuf, errsize, "%s v%d cannot be read as %s v%d: %s", writer->name,
                  writer->version, reader->name, reader->version, avro_strerror());
        goto cleanup;
    }
    if (avro_resolved_writer_new_value(br->iface, &br->value) != 0) {
        br->value.iface = NULL;
        tally_errbuf_set(errbuf, errsize, "resolved %s value: %s", reader->name, avro_strerror());
        goto cleanup;
    }
    avro_resolved_writer_set_dest(&br->value, dest);
    plan(br, br->wschema);
    result = br;
    br = NULL;
cleanup:
    free(json);
    tally_body_reader_free(br);
    return result;
}

void tally_body_reader_free(tally_body_reader_t *br)
{
    if (br == NULL)
        return;
    if (br->value.iface != NULL)
        avro_value_decref(&br->value);
    if (br->iface != NULL)
        avro_value_iface_decref(br->iface);
    if (br->wschema != NULL)
        avro_schema_decref(br->wschema);
    tally_avro_widened_free(br->wide, br->nwide);
    for (size_t i = 0; i < br->nenums; i++)
        free(br->enums[i].to_reader);
    free(br->enums);
    for (size_t i = 0; i < br->nrecs; i++) {
        free(br->recs[i].fields);
        free(br->recs[i].types);
    }
    free(br->recs);
    free(br->scratch);
    free(br);
}

int tally_body_reader_read(tally_body_reader_t *br, const void *buf, size_t len, size_t offset,
                           char *errbuf, size_t errsize)
{
    cursor_t c = { .start = buf, .p = (const uint8_t *)buf + offset, .end = (const uint8_t *)buf + len,
                   .br = br, .resolved = br->resolved, .errbuf = errbuf, .errsize = errsize };
    int rc;

    /* No reset first: every field is stored again (arrays and maps are
     * reset where they are read), and a union keeping its branch keeps
     * its storage. */
    if ((rc = walk(&c, br->wschema, &br->value, 0)) != 0)
        return rc;
    if (c.p != c.end) {
        tally_errbuf_set(errbuf, errsize, "%zu trailing bytes after the %s v%d body at byte %zu",
                  (size_t)(c.end - c.p), br->writer->name, br->writer->version, (size_t)(c.p - c.start));
        return TALLY_CODEC_ERR_TRAILING;
    }
    /* errbuf still holds the message of the first unknown branch. */
    return c.unknown_branch ? TALLY_CODEC_ERR_UNKNOWN_BRANCH : 0;
}
