/*
 * Loads <dir>/<Name>/<version>.avsc into entries sorted by (name, version),
 * with a second index sorted by fingerprint for the decoder's lookups.
 */
#include "schema_catalog.h"

#include "avro_canonical.h"
#include "errbuf.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* No schema file is anywhere near this; a bigger one is a mistake. */
#define MAX_SCHEMA_FILE (4u << 20)

struct tally_catalog_t {
    tally_catalog_entry_t **entries;  /* by (name, version) */
    tally_catalog_entry_t **by_fp;    /* by (fingerprint, version) */
    size_t count, cap;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "schema_catalog: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

__attribute__((format(printf, 1, 2)))
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *s;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    s = xrealloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void entry_free(tally_catalog_entry_t *e)
{
    if (e == NULL)
        return;
    if (e->iface != NULL)
        avro_value_iface_decref(e->iface);
    if (e->schema != NULL)
        avro_schema_decref(e->schema);
    json_decref(e->json);
    free(e->canonical);
    free(e->path);
    free(e->name);
    free(e);
}

void tally_catalog_free(tally_catalog_t *cat)
{
    if (cat == NULL)
        return;
    for (size_t i = 0; i < cat->count; i++)
        entry_free(cat->entries[i]);
    free(cat->entries);
    free(cat->by_fp);
    free(cat);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "12.avsc" -> 12; 0 when the name is not <positive integer>.avsc. */
static int parse_version(const char *file)
{
    size_t n = strlen(file);
    long v = 0;

    if (n <= 5 || strcmp(file + n - 5, ".avsc") != 0 || file[0] == '0')
        return 0;
    for (size_t i = 0; i < n - 5; i++) {
        if (file[i] < '0' || file[i] > '9' || v > (INT_MAX - 9) / 10)
            return 0;
        v = v * 10 + (file[i] - '0');
    }
    return (int)v;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int read_file(const char *path, char **out, size_t *len, char *errbuf, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;

    if (f == NULL) {
        tally_errbuf_set(errbuf, errsize, "%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > MAX_SCHEMA_FILE) {
            tally_errbuf_set(errbuf, errsize, "%s: larger than %u bytes", path, MAX_SCHEMA_FILE);
            goto cleanup;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        tally_errbuf_set(errbuf, errsize, "%s: read error", path);
        goto cleanup;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

/* Parses one file into a new entry (owned by the caller), or NULL. */
static tally_catalog_entry_t *entry_load(const char *path, const char *name, int version,
                                         char *errbuf, size_t errsize)
{
    tally_catalog_entry_t *e = xrealloc(NULL, sizeof *e), *result = NULL;
    char *text = NULL, err[512];
    size_t len = 0;
    json_error_t jerr;
    const char *schema_name;

    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    e->version = version;
    e->path = xstrdup(path);
    if (read_file(path, &text, &len, errbuf, errsize) != 0)
        goto cleanup;
    e->json = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (e->json == NULL) {
        tally_errbuf_set(errbuf, errsize, "%s:%d:%d: invalid JSON: %s",
                  path, jerr.line, jerr.column, jerr.text);
        goto cleanup;
    }
    if (avro_schema_from_json_length(text, len, &e->schema) != 0) {
        e->schema = NULL;
        tally_errbuf_set(errbuf, errsize, "%s: not a valid Avro schema: %s", path, avro_strerror());
        goto cleanup;
    }
    if (tally_avro_canonical_json(e->json, &e->canonical, err, sizeof err) != 0) {
        tally_errbuf_set(errbuf, errsize, "%s: no canonical form: %s", path, err);
        goto cleanup;
    }
    schema_name = is_avro_named_type(e->schema) ? avro_schema_name(e->schema) : NULL;
    if (schema_name != NULL && strcmp(schema_name, name) != 0) {
        tally_errbuf_set(errbuf, errsize, "%s: schema is named %s but lives in folder %s",
                  path, schema_name, name);
        goto cleanup;
    }
    e->iface = avro_generic_class_from_schema(e->schema);
    if (e->iface == NULL) {
        tally_errbuf_set(errbuf, errsize, "%s: avro-c cannot build values: %s", path, avro_strerror());
        goto cleanup;
    }
    e->fingerprint = tally_avro_fingerprint64(e->canonical, strlen(e->canonical));
    result = e;
    e = NULL;
cleanup:
    free(text);
    entry_free(e);
    return result;
}

static int load_name_dir(tally_catalog_t *cat, const char *dir, const char *name,
                         char *errbuf, size_t errsize)
{
    char *sub = xasprintf("%s/%s", dir, name);
    DIR *d = opendir(sub);
    struct dirent *de;
    int rc = -1;

    if (d == NULL) {
        tally_errbuf_set(errbuf, errsize, "%s: %s", sub, strerror(errno));
        goto cleanup;
    }
    while ((de = readdir(d)) != NULL) {
        char *path;
        tally_catalog_entry_t *e;
        int version;

        if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".avsc"))
            continue;
        path = xasprintf("%s/%s", sub, de->d_name);
        version = parse_version(de->d_name);
        if (version <= 0) {
            tally_errbuf_set(errbuf, errsize, "%s: file name must be <version>.avsc with a positive integer version",
                      path);
            free(path);
            goto cleanup;
        }
        e = entry_load(path, name, version, errbuf, errsize);
        free(path);
        if (e == NULL)
            goto cleanup;
        if (cat->count == cat->cap) {
            cat->cap = cat->cap ? cat->cap * 2 : 16;
            cat->entries = xrealloc(cat->entries, cat->cap * sizeof *cat->entries);
        }
        cat->entries[cat->count++] = e;
    }
    rc = 0;
cleanup:
    if (d != NULL)
        closedir(d);
    free(sub);
    return rc;
}

static int cmp_name_version(const void *a, const void *b)
{
    const tally_catalog_entry_t *x = *(tally_catalog_entry_t *const *)a;
    const tally_catalog_entry_t *y = *(tally_catalog_entry_t *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->version > y->version) - (x->version < y->version);
}

static int cmp_fp_version(const void *a, const void *b)
{
    const tally_catalog_entry_t *x = *(tally_catalog_entry_t *const *)a;
    const tally_catalog_entry_t *y = *(tally_catalog_entry_t *const *)b;
    if (x->fingerprint != y->fingerprint)
        return x->fingerprint < y->fingerprint ? -1 : 1;
    return (x->version > y->version) - (x->version < y->version);
}

tally_catalog_t *tally_catalog_load(const char *dir, char *errbuf, size_t errsize)
{
    tally_catalog_t *cat = xrealloc(NULL, sizeof *cat), *result = NULL;
    DIR *d = NULL;
    struct dirent *de;

    memset(cat, 0, sizeof *cat);
    d = opendir(dir);
    if (d == NULL) {
        tally_errbuf_set(errbuf, errsize, "cannot open schema catalog %s: %s", dir, strerror(errno));
        goto cleanup;
    }
    while ((de = readdir(d)) != NULL) {
        char *sub;
        int dir_ok;

        if (de->d_name[0] == '.')
            continue;
        sub = xasprintf("%s/%s", dir, de->d_name);
        dir_ok = is_dir(sub);
        free(sub);
        if (dir_ok && load_name_dir(cat, dir, de->d_name, errbuf, errsize) != 0)
            goto cleanup;
    }
    if (cat->count == 0) {
        tally_errbuf_set(errbuf, errsize, "schema catalog %s holds no <Name>/<version>.avsc file", dir);
        goto cleanup;
    }
    qsort(cat->entries, cat->count, sizeof *cat->entries, cmp_name_version);
    cat->by_fp = xrealloc(NULL, cat->count * sizeof *cat->by_fp);
    for (size_t i = 0; i < cat->count; i++) {
        cat->entries[i]->index = i;
        cat->by_fp[i] = cat->entries[i];
    }
    qsort(cat->by_fp, cat->count, sizeof *cat->by_fp, cmp_fp_version);
    for (size_t i = 1; i < cat->count; i++) {
        const tally_catalog_entry_t *a = cat->by_fp[i - 1], *b = cat->by_fp[i];
        if (a->fingerprint == b->fingerprint && strcmp(a->name, b->name) != 0) {
            tally_errbuf_set(errbuf, errsize, "%s and %s have the same fingerprint %016" PRIx64,
                      a->path, b->path, a->fingerprint);
            goto cleanup;
        }
    }
    result = cat;
    cat = NULL;
cleanup:
    if (d != NULL)
        closedir(d);
    tally_catalog_free(cat);
    return result;
}

const tally_catalog_entry_t *tally_catalog_find(const tally_catalog_t *cat, uint64_t fingerprint)
{
    size_t lo = 0, hi = cat->count;

    /* Last entry with this fingerprint: the latest version. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cat->by_fp[mid]->fingerprint <= fingerprint)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && cat->by_fp[lo - 1]->fingerprint == fingerprint)
        return cat->by_fp[lo - 1];
    return NULL;
}

const tally_catalog_entry_t *tally_catalog_latest(const tally_catalog_t *cat, const char *name)
{
    const tally_catalog_entry_t *best = NULL;

    for (size_t i = 0; i < cat->count; i++)
        if (strcmp(cat->entries[i]->name, name) == 0)
            best = cat->entries[i];   /* sorted: the last one is the latest */
    return best;
}

const tally_catalog_entry_t *tally_catalog_get(const tally_catalog_t *cat, const char *name,
                                               int version)
{
    for (size_t i = 0; i < cat->count; i++)
        if (cat->entries[i]->version == version && strcmp(cat->entries[i]->name, name) == 0)
            return cat->entries[i];
    return NULL;
}

size_t tally_catalog_count(const tally_catalog_t *cat)
{
    return cat->count;
}

const tally_catalog_entry_t *tally_catalog_entry(const tally_catalog_t *cat, size_t index)
{
    return index < cat->count ? cat->entries[index] : NULL;
}
