/*
 * Parsing Canonical Form (Avro 1.11 specification, "Parsing Canonical Form
 * for Schemas") over jansson, and the CRC-64-AVRO fingerprint.
 *
 * One writer serves both the canonical form and the widened writer schema
 * of the decoder: it walks the schema JSON, keeps the named types defined
 * so far (full names, written in full once and then by name) and emits
 * only name, type, fields, symbols, items, values and size, in that order.
 */
#include "avro_canonical.h"
#include "errbuf.h"

#include "textbuf.h"
#include "xalloc.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRC64_AVRO_EMPTY UINT64_C(0xc15d213aa4d7a795)

static uint64_t fp_table[256];
static pthread_once_t fp_table_once = PTHREAD_ONCE_INIT;

static void fp_table_build(void)
{
    for (unsigned i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        fp_table[i] = fp;
    }
}

uint64_t tally_avro_fingerprint64(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t fp = CRC64_AVRO_EMPTY;

    pthread_once(&fp_table_once, fp_table_build);
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ fp_table[(fp ^ p[i]) & 0xff];
    return fp;
}

/* ---- small helpers ---------------------------------------------------- */

/* A JSON string as Java's Jackson writes it: quote, backslash and control
 * characters escaped (\b \t \n \f \r by name, others \u00XX), the rest,
 * UTF-8 included, as is. */
static void sb_put_string(tally_textbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;

    tally_textbuf_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[7] = "\\";
        size_t elen = 2;

        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        tally_textbuf_append(b, s + run, i - run);
        run = i + 1;
        switch (ch) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\f': esc[1] = 'f'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 0xf];
            elen = 6;
        }
        tally_textbuf_append(b, esc, elen);
    }
    tally_textbuf_append(b, s + run, n - run);
    tally_textbuf_append(b, "\"", 1);
}

/* ---- the canonical writer -------------------------------------------- */

typedef struct named_t {
    char *full;          /* full name */
    const json_t *def;   /* its definition (borrowed) */
    char *space;         /* enclosing namespace where it was defined */
} named_t;

typedef struct canon_t {
    tally_textbuf_t out;
    named_t *names;
    size_t nnames, capnames;
    char *errbuf;
    size_t errsize;
    /* Widening only: the reader's named types, whether we are writing a
     * reader-only field's type, and what was appended so far. */
    const struct canon_t *reader;
    int in_reader;
    tally_avro_widened_t *wide;
    size_t nwide, capwide;
} canon_t;

static const char *const primitives[] = {
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
};

static int is_primitive(const char *name)
{
    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (strcmp(name, primitives[i]) == 0)
            return 1;
    return 0;
}

static const named_t *names_find(const canon_t *c, const char *full)
{
    for (size_t i = 0; i < c->nnames; i++)
        if (strcmp(c->names[i].full, full) == 0)
            return &c->names[i];
    return NULL;
}

static void names_add(canon_t *c, const char *full, const json_t *def, const char *space)
{
    if (c->nnames == c->capnames) {
        c->capnames = c->capnames ? c->capnames * 2 : 16;
        c->names = tally_xrealloc(c->names, 1, c->capnames * sizeof *c->names);
    }
    c->names[c->nnames].full = tally_xstrdup(full);
    c->names[c->nnames].def = def;
    c->names[c->nnames].space = tally_xstrdup(space ? space : "");
    c->nnames++;
}

static void canon_done(canon_t *c)
{
    for (size_t i = 0; i < c->nnames; i++) {
        free(c->names[i].full);
        free(c->names[i].space);
    }
    free(c->names);
    free(c->out.data);
    tally_avro_widened_free(c->wide, c->nwide);
    memset(c, 0, sizeof *c);
}

/* "a" in namespace "x.y" is "x.y.a"; a dotted name is already full. */
static char *qualify(const char *name, const char *space)
{
    size_t ns, nn;
    char *full;

    if (strchr(name, '.') != NULL || space == NULL || space[0] == '\0')
        return tally_xstrdup(name);
    ns = strlen(space);
    nn = strlen(name);
    full = tally_xrealloc(NULL, 1, ns + nn + 2);
    memcpy(full, space, ns);
    full[ns] = '.';
    memcpy(full + ns + 1, name, nn + 1);
    return full;
}

/* Full name of a named type and the namespace its contents inherit:
 * a dotted name wins over "namespace", which wins over the enclosing one. */
static int name_of(canon_t *c, const json_t *def, const char *space,
                   char **full, char **ns)
{
    const json_t *jname = json_object_get(def, "name");
    const json_t *jns = json_object_get(def, "namespace");
    const char *name, *dot;

    if (!json_is_string(jname) || json_string_length(jname) == 0) {
        tally_errbuf_set(c->errbuf, c->errsize, "a named type has no \"name\" string");
        return -1;
    }
    name = json_string_value(jname);
    dot = strrchr(name, '.');
    if (dot != NULL) {
        *full = tally_xstrdup(name);
        *ns = tally_xstrdup(name);
        (*ns)[dot - name] = '\0';
        return 0;
    }
    if (jns != NULL && !json_is_null(jns)) {
        if (!json_is_string(jns)) {
            tally_errbuf_set(c->errbuf, c->errsize, "\"namespace\" of %s is not a string", name);
            return -1;
        }
        space = json_string_value(jns);
    }
    *full = qualify(name, space);
    *ns = tally_xstrdup(space ? space : "");
    return 0;
}

static int write_schema(canon_t *c, const json_t *s, const char *space);

static int write_named(canon_t *c, const json_t *def, const char *space);

/* A type named by reference: it must already be defined (or, for a
 * reader-only field being widened into a writer, defined by the reader). */
static int write_ref(canon_t *c, const char *name, const char *space)
{
    char *full = qualify(name, space);
    const named_t *found = names_find(c, full);
    int rc = 0;

    if (found == NULL && strchr(name, '.') == NULL)
        found = names_find(c, name);   /* the null namespace, as Java does */
    if (found != NULL) {
        sb_put_string(&c->out, found->full, strlen(found->full));
    } else if (c->in_reader && c->reader != NULL &&
               ((found = names_find(c->reader, full)) != NULL ||
                (strchr(name, '.') == NULL &&
                 (found = names_find(c->reader, name)) != NULL))) {
        rc = write_named(c, found->def, found->space);
    } else {
        tally_errbuf_set(c->errbuf, c->errsize, "unknown type name \"%s\"", name);
        rc = -1;
    }
    free(full);
    return rc;
}

static int has_field(const json_t *fields, const char *name)
{
    size_t i;
    const json_t *f;

    json_array_foreach(fields, i, f) {
        const json_t *n = json_object_get(f, "name");
        if (json_is_string(n) && strcmp(json_string_value(n), name) == 0)
            return 1;
    }
    return 0;
}

static const named_t *reader_record(const canon_t *c, const char *full)
{
    const char *dot = strrchr(full, '.');
    const char *shortname = dot ? dot + 1 : full;
    const named_t *n = names_find(c->reader, full);

    /* Avro resolves records by unqualified name. */
    for (size_t i = 0; n == NULL && i < c->reader->nnames; i++) {
        const char *rfull = c->reader->names[i].full;
        const char *rdot = strrchr(rfull, '.');
        const json_t *t = json_object_get(c->reader->names[i].def, "type");
        if (strcmp(rdot ? rdot + 1 : rfull, shortname) == 0 &&
            json_is_string(t) && strcmp(json_string_value(t), "record") == 0)
            n = &c->reader->names[i];
    }
    return n;
}

/* Appends the reader's fields that the writer record lacks. */
static int widen_record(canon_t *c, const char *full, const json_t *wfields)
{
    const named_t *r = reader_record(c, full);
    const json_t *rfields, *f;
    char *rfull = NULL, *rns = NULL;
    tally_avro_widened_t w = { 0 };
    size_t i;
    int rc = -1;

    if (r == NULL)
        return 0;
    rfields = json_object_get(r->def, "fields");
    if (!json_is_array(rfields) || name_of(c, r->def, r->space, &rfull, &rns) != 0)
        goto cleanup;
    json_array_foreach(rfields, i, f) {
        const json_t *jname = json_object_get(f, "name");
        const json_t *def = json_object_get(f, "default");
        const char *name = json_string_value(jname);

        if (name == NULL || has_field(wfields, name))
            continue;
        if (def == NULL) {
            tally_errbuf_set(c->errbuf, c->errsize,
                      "reader field %s.%s is not in the writer schema and has no default",
                      full, name);
            goto cleanup;
        }
        tally_textbuf_puts(&c->out, json_array_size(wfields) + w.added ? ",{\"name\":" : "{\"name\":");
        sb_put_string(&c->out, name, strlen(name));
        tally_textbuf_puts(&c->out, ",\"type\":");
        c->in_reader = 1;
        if (write_schema(c, json_object_get(f, "type"), rns) != 0)
            goto cleanup;
        c->in_reader = 0;
        tally_textbuf_puts(&c->out, "}");
        w.defaults = tally_xrealloc(w.defaults, 1, (w.added + 1) * sizeof *w.defaults);
        w.defaults[w.added++] = json_incref((json_t *)def);
    }
    if (w.added > 0) {
        if (c->nwide == c->capwide) {
            c->capwide = c->capwide ? c->capwide * 2 : 4;
            c->wide = tally_xrealloc(c->wide, 1, c->capwide * sizeof *c->wide);
        }
        w.record = tally_xstrdup(full);
        w.writer_fields = json_array_size(wfields);
        c->wide[c->nwide++] = w;
        memset(&w, 0, sizeof w);
    }
    rc = 0;
cleanup:
    c->in_reader = 0;
    for (i = 0; i < w.added; i++)
        json_decref(w.defaults[i]);
    free(w.defaults);
    free(rfull);
    free(rns);
    return rc;
}

static int write_fields(canon_t *c, const char *full, const json_t *fields, const char *ns)
{
    size_t i;
    const json_t *f;

    if (!json_is_array(fields)) {
        tally_errbuf_set(c->errbuf, c->errsize, "record %s has no \"fields\" array", full);
        return -1;
    }
    tally_textbuf_puts(&c->out, ",\"fields\":[");
    json_array_foreach(fields, i, f) {
        const json_t *jname = json_object_get(f, "name");
        const json_t *type = json_object_get(f, "type");

        if (!json_is_string(jname) || type == NULL) {
            tally_errbuf_set(c->errbuf, c->errsize,
                      "field %zu of record %s needs a \"name\" string and a \"type\"", i, full);
            return -1;
        }
        tally_textbuf_puts(&c->out, i ? ",{\"name\":" : "{\"name\":");
        sb_put_string(&c->out, json_string_value(jname), json_string_length(jname));
        tally_textbuf_puts(&c->out, ",\"type\":");
        if (write_schema(c, type, ns) != 0)
            return -1;
        tally_textbuf_puts(&c->out, "}");
    }
    if (c->reader != NULL && !c->in_reader && widen_record(c, full, fields) != 0)
        return -1;
    tally_textbuf_puts(&c->out, "]");
    return 0;
}

static int write_named(canon_t *c, const json_t *def, const char *space)
{
    const char *type = json_string_value(json_object_get(def, "type"));
    char *full = NULL, *ns = NULL;
    char num[32];
    int rc = -1;

    if (name_of(c, def, space, &full, &ns) != 0)
        goto cleanup;
    if (names_find(c, full) != NULL) {
        tally_errbuf_set(c->errbuf, c->errsize, "type %s is defined twice", full);
        goto cleanup;
    }
    names_add(c, full, def, space);   /* before the fields: recursion */
    tally_textbuf_puts(&c->out, "{\"name\":");
    sb_put_string(&c->out, full, strlen(full));
    tally_textbuf_puts(&c->out, ",\"type\":");
    sb_put_string(&c->out, type, strlen(type));
    if (strcmp(type, "enum") == 0) {
        const json_t *symbols = json_object_get(def, "symbols");
        const json_t *sym;
        size_t i;

        if (!json_is_array(symbols)) {
            tally_errbuf_set(c->errbuf, c->errsize, "enum %s has no \"symbols\" array", full);
            goto cleanup;
        }
        tally_textbuf_puts(&c->out, ",\"symbols\":[");
        json_array_foreach(symbols, i, sym) {
            if (!json_is_string(sym)) {
                tally_errbuf_set(c->errbuf, c->errsize, "symbol %zu of enum %s is not a string", i, full);
                goto cleanup;
            }
            if (i)
                tally_textbuf_puts(&c->out, ",");
            sb_put_string(&c->out, json_string_value(sym), json_string_length(sym));
        }
        tally_textbuf_puts(&c->out, "]");
    } else if (strcmp(type, "fixed") == 0) {
        const json_t *size = json_object_get(def, "size");

        if (!json_is_integer(size) || json_integer_value(size) < 0) {
            tally_errbuf_set(c->errbuf, c->errsize, "fixed %s needs a non-negative integer \"size\"", full);
            goto cleanup;
        }
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(size));
        tally_textbuf_puts(&c->out, ",\"size\":");
        tally_textbuf_puts(&c->out, num);
    } else if (write_fields(c, full, json_object_get(def, "fields"), ns) != 0) {
        goto cleanup;
    }
    tally_textbuf_puts(&c->out, "}");
    rc = 0;
cleanup:
    free(full);
    free(ns);
    return rc;
}

static int write_schema(canon_t *c, const json_t *s, const char *space)
{
    if (json_is_string(s)) {
        const char *name = json_string_value(s);
        if (is_primitive(name)) {
            sb_put_string(&c->out, name, strlen(name));
            return 0;
        }
        return write_ref(c, name, space);
    }
    if (json_is_array(s)) {
        size_t i;
        const json_t *branch;

        tally_textbuf_puts(&c->out, "[");
        json_array_foreach(s, i, branch) {
            if (i)
                tally_textbuf_puts(&c->out, ",");
            if (write_schema(c, branch, space) != 0)
                return -1;
        }
        tally_textbuf_puts(&c->out, "]");
        return 0;
    }
    if (json_is_object(s)) {
        const char *type = json_string_value(json_object_get(s, "type"));
        const char *inner = NULL;
        const json_t *child = NULL;

        if (type == NULL) {
            tally_errbuf_set(c->errbuf, c->errsize, "a schema object has no \"type\" string");
            return -1;
        }
        if (is_primitive(type)) {
            sb_put_string(&c->out, type, strlen(type));
            return 0;
        }
        if (strcmp(type, "record") == 0 || strcmp(type, "error") == 0 ||
            strcmp(type, "enum") == 0 || strcmp(type, "fixed") == 0)
            return write_named(c, s, space);
        if (strcmp(type, "array") == 0)
            inner = "items";
        else if (strcmp(type, "map") == 0)
            inner = "values";
        else
            return write_ref(c, type, space);
        child = json_object_get(s, inner);
        if (child == NULL) {
            tally_errbuf_set(c->errbuf, c->errsize, "%s schema has no \"%s\"", type, inner);
            return -1;
        }
        tally_textbuf_puts(&c->out, "{\"type\":");
        sb_put_string(&c->out, type, strlen(type));
        tally_textbuf_puts(&c->out, ",\"");
        tally_textbuf_puts(&c->out, inner);
        tally_textbuf_puts(&c->out, "\":");
        if (write_schema(c, child, space) != 0)
            return -1;
        tally_textbuf_puts(&c->out, "}");
        return 0;
    }
    tally_errbuf_set(c->errbuf, c->errsize, "a schema must be a JSON string, array or object");
    return -1;
}

int tally_avro_canonical_json(const json_t *schema, char **out, char *errbuf, size_t errsize)
{
    canon_t c = { .errbuf = errbuf, .errsize = errsize };
    int rc = -1;

    *out = NULL;
    if (write_schema(&c, schema, NULL) != 0)
        goto cleanup;
    *out = c.out.data;
    c.out.data = NULL;
    rc = 0;
cleanup:
    canon_done(&c);
    return rc;
}

int tally_avro_canonical_form(const char *json, size_t len, char **out,
                              char *errbuf, size_t errsize)
{
    json_error_t jerr;
    json_t *schema = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    int rc;

    *out = NULL;
    if (schema == NULL) {
        tally_errbuf_set(errbuf, errsize, "invalid JSON at line %d column %d: %s",
                  jerr.line, jerr.column, jerr.text);
        return -1;
    }
    rc = tally_avro_canonical_json(schema, out, errbuf, errsize);
    json_decref(schema);
    return rc;
}

int tally_avro_widen(const json_t *writer, const json_t *reader, char **out,
                     tally_avro_widened_t **records, size_t *nrecords,
                     char *errbuf, size_t errsize)
{
    canon_t r = { .errbuf = errbuf, .errsize = errsize };
    canon_t w = { .errbuf = errbuf, .errsize = errsize, .reader = &r };
    int rc = -1;

    *out = NULL;
    *records = NULL;
    *nrecords = 0;
    /* First pass: learn the reader's named types (output discarded). */
    if (write_schema(&r, reader, NULL) != 0 || write_schema(&w, writer, NULL) != 0)
        goto cleanup;
    *out = w.out.data;
    w.out.data = NULL;
    *records = w.wide;
    *nrecords = w.nwide;
    w.wide = NULL;
    w.nwide = 0;
    rc = 0;
cleanup:
    canon_done(&w);
    canon_done(&r);
    return rc;
}

void tally_avro_widened_free(tally_avro_widened_t *records, size_t nrecords)
{
    if (records == NULL)
        return;
    for (size_t i = 0; i < nrecords; i++) {
        for (size_t j = 0; j < records[i].added; j++)
            json_decref(records[i].defaults[j]);
        free(records[i].defaults);
        free(records[i].record);
    }
    free(records);
}
