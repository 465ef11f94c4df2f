/*
 * Parsing Canonical Form and CRC-64-AVRO against Avro's own vectors
 * ($TALLY_TEST_DATA/avro-schema-tests.txt), malformed schemas, and the
 * writer-schema widening the decoder relies on.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>
#include <jansson.h>

#include "avro_canonical.h"

typedef struct vector_t {
    char *input;
    char *canonical;
    int has_fingerprint;
    int64_t fingerprint;
    int number;           /* position in the file, from 0 */
} vector_t;

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;

    cr_assert_not_null(f, "cannot open %s", path);
    do {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static char *vectors_path(void)
{
    static char path[4096];
    const char *dir = getenv("TALLY_TEST_DATA");

    cr_assert_not_null(dir, "TALLY_TEST_DATA is not set");
    snprintf(path, sizeof path, "%s/avro-schema-tests.txt", dir);
    return path;
}

/* Splits text into lines in place. */
static char **split_lines(char *text, size_t *count)
{
    size_t n = 0, cap = 256;
    char **lines = malloc(cap * sizeof *lines);
    char *p = text;

    while (*p != '\0') {
        char *nl = strchr(p, '\n');
        if (n == cap)
            lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = p;
        if (nl == NULL)
            break;
        *nl = '\0';
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        p = nl + 1;
    }
    *count = n;
    return lines;
}

/* The file's format: "<<KEY value" on one line, or "<<KEY" alone followed
 * by lines up to one that is exactly "KEY". Each INPUT starts a vector. */
static vector_t *parse_vectors(char *text, size_t *nvectors)
{
    size_t nlines, n = 0;
    char **lines = split_lines(text, &nlines);
    vector_t *v = calloc(nlines + 1, sizeof *v);

    for (size_t i = 0; i < nlines; i++) {
        char *line = lines[i], *key, *value, *sp;
        if (strncmp(line, "<<", 2) != 0)
            continue;
        key = line + 2;
        sp = strchr(key, ' ');
        if (sp != NULL) {
            *sp = '\0';
            value = strdup(sp + 1);
        } else {
            size_t len = 0;
            value = calloc(1, 1);
            for (i++; i < nlines && strcmp(lines[i], key) != 0; i++) {
                size_t add = strlen(lines[i]);
                value = realloc(value, len + add + 2);
                memcpy(value + len, lines[i], add);
                len += add;
                value[len++] = '\n';
                value[len] = '\0';
            }
            cr_assert_lt(i, nlines, "unterminated <<%s", key);
        }
        if (strcmp(key, "INPUT") == 0) {
            v[n].input = value;
            v[n].number = (int)n;
            n++;
        } else if (strcmp(key, "canonical") == 0) {
            cr_assert_gt(n, 0);
            v[n - 1].canonical = value;
        } else if (strcmp(key, "fingerprint") == 0) {
            cr_assert_gt(n, 0);
            v[n - 1].has_fingerprint = 1;
            v[n - 1].fingerprint = strtoll(value, NULL, 10);
            free(value);
        } else {
            cr_assert_fail("unknown key <<%s", key);
        }
    }
    free(lines);
    *nvectors = n;
    return v;
}

/* Counted independently of the parser: lines starting "<<INPUT", and the
 * numbered "// NNN" headers. */
static void count_in_file(const char *text, size_t *inputs, size_t *headers)
{
    const char *p = text;

    *inputs = *headers = 0;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, "<<INPUT", 7) == 0)
            (*inputs)++;
        if (strncmp(p, "// ", 3) == 0 && p[3] >= '0' && p[3] <= '9' && p[4] >= '0' && p[4] <= '9' &&
            p[5] >= '0' && p[5] <= '9' && (p[6] == '\n' || p[6] == '\r' || p[6] == '\0'))
            (*headers)++;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
}

Test(avro_canonical, conformance_vectors)
{
    char *text = read_all(vectors_path());
    char *copy = strdup(text);
    size_t inputs, headers, n, with_fp = 0;
    vector_t *v;

    cr_assert(strstr(text, "Licensed to the Apache Software Foundation") != NULL,
              "the vectors file keeps its license header");
    count_in_file(text, &inputs, &headers);
    v = parse_vectors(copy, &n);
    cr_assert_gt(n, 0);
    cr_assert_eq(n, inputs, "parsed %zu vectors, file has %zu <<INPUT lines", n, inputs);
    cr_assert_eq(n, headers, "parsed %zu vectors, file has %zu numbered cases", n, headers);

    for (size_t i = 0; i < n; i++) {
        char err[256] = "", *out = NULL;
        int rc = tally_avro_canonical_form(v[i].input, strlen(v[i].input), &out, err, sizeof err);

        cr_assert_not_null(v[i].canonical, "case %03d has no <<canonical", v[i].number);
        cr_expect_eq(rc, 0, "case %03d: %s", v[i].number, err);
        if (rc != 0)
            continue;
        cr_expect_str_eq(out, v[i].canonical, "case %03d", v[i].number);
        if (v[i].has_fingerprint) {
            uint64_t fp = tally_avro_fingerprint64(out, strlen(out));
            with_fp++;
            cr_expect_eq((int64_t)fp, v[i].fingerprint, "case %03d: fingerprint %" PRId64 ", expected %" PRId64,
                         v[i].number, (int64_t)fp, v[i].fingerprint);
        }
        free(out);
    }
    cr_expect_gt(with_fp, 0);
    for (size_t i = 0; i < n; i++) {
        free(v[i].input);
        free(v[i].canonical);
    }
    free(v);
    free(copy);
    free(text);
}

Test(avro_canonical, fingerprint_of_nothing_is_the_seed)
{
    cr_assert_eq(tally_avro_fingerprint64("", 0), UINT64_C(0xc15d213aa4d7a795));
}

static void *fingerprint_thread(void *arg)
{
    uint64_t *out = arg;
    *out = tally_avro_fingerprint64("\"null\"", 6);
    return NULL;
}

Test(avro_canonical, fingerprint_table_is_built_once_across_threads)
{
    pthread_t t[8];
    uint64_t fp[8];

    for (int i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, fingerprint_thread, &fp[i]), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq((int64_t)fp[i], INT64_C(7195948357588979594));
    }
}

Test(avro_canonical, malformed_schemas_are_errors)
{
    static const char *const bad[] = {
        "",
        "{",
        "[\"int\"",
        "42",
        "null",
        "{\"type\":\"record\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\"}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\"}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"type\":\"int\"}]}",
        "{\"type\":\"enum\",\"name\":\"E\"}",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":\"16\"}",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":015}",
        "{\"type\":\"array\"}",
        "{\"type\":\"map\"}",
        "{\"type\":\"frobnicate\"}",
        "{\"type\":42}",
        "{\"name\":\"R\"}",
        "\"Undefined\"",
        "[\"int\", \"tally.Nowhere\"]",
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":7,\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
        "{\"type\":\"enum\",\"name\":\"R\",\"symbols\":[\"A\"]}}]}",
        "{\"type\":\"int\",\"type\":\"long\"}",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "", *out = (char *)"untouched";
        int rc = tally_avro_canonical_form(bad[i], strlen(bad[i]), &out, err, sizeof err);
        cr_expect_lt(rc, 0, "accepted %s", bad[i]);
        cr_expect_null(out, "output left for %s", bad[i]);
        cr_expect_neq(err[0], '\0', "no message for %s", bad[i]);
    }
}

Test(avro_canonical, strings_are_escaped_like_java)
{
    const char *in = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"a\\\"b\\\\c\\n\\u0001\\u00e9\"]}";
    char err[256] = "", *out = NULL;

    cr_assert_eq(tally_avro_canonical_form(in, strlen(in), &out, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(out, "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"]}");
    free(out);
}

Test(avro_canonical, names_are_full_and_written_once)
{
    const char *in =
        "{\"type\":\"record\",\"name\":\"Outer\",\"namespace\":\"a.b\",\"doc\":\"x\",\"fields\":["
        " {\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"X\"]},\"default\":\"X\"},"
        " {\"name\":\"f\",\"type\":\"Kind\"},"
        " {\"name\":\"g\",\"type\":{\"type\":\"fixed\",\"name\":\"c.Hash\",\"size\":4}},"
        " {\"name\":\"h\",\"type\":{\"type\":\"record\",\"name\":\"Inner\",\"namespace\":\"\",\"fields\":["
        "   {\"name\":\"k\",\"type\":[\"null\",\"c.Hash\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}]}]}},"
        " {\"name\":\"i\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"Inner\"}}}"
        "]}";
    const char *want =
        "{\"name\":\"a.b.Outer\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"e\",\"type\":{\"name\":\"a.b.Kind\",\"type\":\"enum\",\"symbols\":[\"X\"]}},"
        "{\"name\":\"f\",\"type\":\"a.b.Kind\"},"
        "{\"name\":\"g\",\"type\":{\"name\":\"c.Hash\",\"type\":\"fixed\",\"size\":4}},"
        "{\"name\":\"h\",\"type\":{\"name\":\"Inner\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"k\",\"type\":[\"null\",\"c.Hash\",\"long\"]}]}},"
        "{\"name\":\"i\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"Inner\"}}}"
        "]}";
    char err[256] = "", *out = NULL;

    /* (avro-c itself cannot parse this one: it lacks Java's fallback from
     * "Inner" in namespace a.b to the null namespace.) */
    cr_assert_eq(tally_avro_canonical_form(in, strlen(in), &out, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(out, want);
    free(out);
}

Test(avro_canonical, widen_appends_reader_only_fields_with_defaults)
{
    const char *writer =
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        " {\"name\":\"a\",\"type\":\"long\"},"
        " {\"name\":\"u\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"In\",\"fields\":["
        "   {\"name\":\"s\",\"type\":\"string\"}]}]}]}";
    const char *reader =
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        " {\"name\":\"a\",\"type\":\"long\"},"
        " {\"name\":\"n\",\"type\":[\"null\",\"string\"],\"default\":null},"
        " {\"name\":\"u\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"In\",\"fields\":["
        "   {\"name\":\"s\",\"type\":\"string\"},"
        "   {\"name\":\"k\",\"type\":{\"type\":\"enum\",\"name\":\"K\",\"symbols\":[\"P\",\"Q\"]},\"default\":\"Q\"}]}]},"
        " {\"name\":\"k2\",\"type\":\"K\",\"default\":\"P\"}]}";
    const char *want =
        "{\"name\":\"x.T\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"long\"},"
        "{\"name\":\"u\",\"type\":[\"null\",{\"name\":\"x.In\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"k\",\"type\":{\"name\":\"x.K\",\"type\":\"enum\",\"symbols\":[\"P\",\"Q\"]}}]}]},"
        "{\"name\":\"n\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"k2\",\"type\":\"x.K\"}]}";
    json_t *w = json_loads(writer, 0, NULL), *r = json_loads(reader, 0, NULL);
    char err[256] = "", *out = NULL;
    tally_avro_widened_t *recs = NULL;
    size_t n = 0;
    avro_schema_t parsed;

    cr_assert(w && r);
    cr_assert_eq(tally_avro_widen(w, r, &out, &recs, &n, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(out, want);
    cr_assert_eq(n, 2);
    cr_expect_str_eq(recs[0].record, "x.In");
    cr_expect_eq(recs[0].writer_fields, 1);
    cr_expect_eq(recs[0].added, 1);
    cr_expect_str_eq(json_string_value(recs[0].defaults[0]), "Q");
    cr_expect_str_eq(recs[1].record, "x.T");
    cr_expect_eq(recs[1].writer_fields, 2);
    cr_expect_eq(recs[1].added, 2);
    cr_expect(json_is_null(recs[1].defaults[0]));
    cr_assert_eq(avro_schema_from_json_length(out, strlen(out), &parsed), 0, "%s", avro_strerror());
    avro_schema_decref(parsed);
    tally_avro_widened_free(recs, n);
    free(out);

    /* The other way round nothing is added: extra writer fields are skipped. */
    cr_assert_eq(tally_avro_widen(r, w, &out, &recs, &n, err, sizeof err), 0, "%s", err);
    cr_expect_eq(n, 0);
    free(out);
    json_decref(w);
    json_decref(r);
}

Test(avro_canonical, widen_refuses_reader_field_without_default)
{
    json_t *w = json_loads("{\"type\":\"record\",\"name\":\"T\",\"fields\":[]}", 0, NULL);
    json_t *r = json_loads("{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"b\",\"type\":\"int\"}]}", 0, NULL);
    char err[256] = "", *out = NULL;
    tally_avro_widened_t *recs = NULL;
    size_t n = 0;

    cr_assert_lt(tally_avro_widen(w, r, &out, &recs, &n, err, sizeof err), 0);
    cr_expect(strstr(err, "T.b") != NULL, "%s", err);
    cr_expect_null(out);
    json_decref(w);
    json_decref(r);
}
