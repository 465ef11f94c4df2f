/* Unit tests of aggregator/usage_record's reader: tally_usage_reader_read
 * gives what tally_usage_record_read gives (values and errors) for several
 * versions of each schema read in turn by one reader, and
 * tally_usage_reader_decode what tally_decoder_decode then
 * tally_usage_record_read give, for valid, faulty and mangled messages. */
#define _XOPEN_SOURCE 700   /* nftw */
#include "usage_record.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "schema_catalog.h"

TestSuite(usage_reader);

/* ---- a catalog of versions in a temporary folder ------------------------ */

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void put(const char *folder, const char *file, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, folder);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", tmpdir, folder, file);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
}

#define STR(n) "{\"name\":\"" n "\",\"type\":\"string\"}"
#define LONG(n) "{\"name\":\"" n "\",\"type\":\"long\"}"
#define OP(symbols) "{\"name\":\"op\",\"type\":{\"type\":\"enum\",\"name\":\"SeatOp\",\"symbols\":[" symbols "]}}"
#define REC(name, fields) "{\"type\":\"record\",\"name\":\"" name "\",\"namespace\":\"tally\",\"fields\":[" fields "]}"

/* Versions a topic could carry: the real one, reordered fields with an extra
 * one, a mistyped field, a missing field, a nullable (not flat) field, an
 * enum with its symbols in another order and one more. */
static const char *const versions[][2] = {
    {"UsageReport", REC("UsageReport", STR("tenant_id") "," STR("environment_id") "," STR("reporter_id") ","
                        LONG("reporter_started_at") "," LONG("seq") "," LONG("observed_at") "," LONG("api_calls") ","
                        LONG("status_4xx") "," LONG("status_5xx") "," LONG("exec_ms"))},
    {"UsageReport", REC("UsageReport", LONG("exec_ms") "," STR("region") "," LONG("seq") "," STR("reporter_id") ","
                        LONG("observed_at") "," STR("environment_id") "," LONG("status_5xx") "," STR("tenant_id") ","
                        LONG("api_calls") "," LONG("status_4xx"))},
    {"UsageReport", REC("UsageReport", STR("tenant_id") "," STR("environment_id") "," STR("reporter_id") ","
                        "{\"name\":\"seq\",\"type\":\"int\"}," LONG("observed_at") "," LONG("api_calls") ","
                        LONG("status_4xx") "," LONG("status_5xx") "," LONG("exec_ms"))},
    {"UsageReport", REC("UsageReport", STR("tenant_id") "," STR("environment_id") "," STR("reporter_id") ","
                        LONG("seq") "," LONG("observed_at") "," LONG("api_calls") "," LONG("status_4xx") ","
                        LONG("status_5xx"))},
    {"UsageReport", REC("UsageReport", "{\"name\":\"tenant_id\",\"type\":[\"null\",\"string\"]},"
                        STR("environment_id") "," STR("reporter_id") "," LONG("seq") "," LONG("observed_at") ","
                        LONG("api_calls") "," LONG("status_4xx") "," LONG("status_5xx") "," LONG("exec_ms"))},
    {"SeatEventClean", REC("SeatEventClean", STR("event_id") "," STR("tenant_id") "," STR("seat_ref") ","
                           OP("\"ASSIGNED\",\"RELEASED\"") "," LONG("occurred_at"))},
    {"SeatEventClean", REC("SeatEventClean", LONG("occurred_at") "," OP("\"SUSPENDED\",\"RELEASED\",\"ASSIGNED\"") ","
                           STR("seat_ref") "," STR("tenant_id") "," STR("event_id"))},
    {"SeatEventClean", REC("SeatEventClean", STR("event_id") "," STR("tenant_id") "," STR("seat_ref") ","
                           LONG("occurred_at"))},
};
#define N_VERSIONS (sizeof versions / sizeof versions[0])

static tally_catalog_t *cat;
static const tally_catalog_entry_t *entries[N_VERSIONS];

static void setup(void)
{
    char err[512], file[32];
    int version[2] = {0, 0};
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tally-usage-reader-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    for (size_t i = 0; i < N_VERSIONS; i++) {
        int *v = &version[strcmp(versions[i][0], "UsageReport") == 0 ? 0 : 1];
        snprintf(file, sizeof file, "%d.avsc", ++*v);
        put(versions[i][0], file, versions[i][1]);
    }
    cat = tally_catalog_load(tmpdir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    version[0] = version[1] = 0;
    for (size_t i = 0; i < N_VERSIONS; i++) {
        int *v = &version[strcmp(versions[i][0], "UsageReport") == 0 ? 0 : 1];
        entries[i] = tally_catalog_get(cat, versions[i][0], ++*v);
        cr_assert_not_null(entries[i]);
    }
}

static void teardown(void)
{
    tally_catalog_free(cat);
    if (tmpdir[0] != '\0')
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- values --------------------------------------------------------------- */

/* Sets every field of v (a record of entry e) from variant k: 0 a good
 * record, 1 a NUL in one string, 2 the other op, 3 the third op symbol (if
 * any), 4 empty strings and extreme numbers. */
static void fill(avro_value_t *v, int k)
{
    size_t n;
    cr_assert_eq(avro_value_get_size(v, &n), 0);
    for (size_t i = 0; i < n; i++) {
        avro_value_t f, branch;
        const char *name;
        cr_assert_eq(avro_value_get_by_index(v, i, &f, &name), 0);
        switch (avro_value_get_type(&f)) {
        case AVRO_STRING:
            if (k == 1 && strcmp(name, "tenant_id") == 0)
                cr_assert_eq(avro_value_set_string_len(&f, "ac\0me", 6), 0);
            else
                cr_assert_eq(avro_value_set_string(&f, k == 4 ? "" : name), 0);
            break;
        case AVRO_INT64:
            cr_assert_eq(avro_value_set_long(&f, k == 4 ? INT64_MIN : (int64_t)(1714521600000 + i * 1000003)), 0);
            break;
        case AVRO_INT32:
            cr_assert_eq(avro_value_set_int(&f, k == 4 ? INT32_MAX : (int32_t)(17 + i)), 0);
            break;
        case AVRO_ENUM: {
            int symbols = avro_schema_enum_number_of_symbols(avro_value_get_schema(&f));
            cr_assert_eq(avro_value_set_enum(&f, (k == 3 ? 2 : k == 2 ? 1 : 0) % symbols), 0);
            break;
        }
        case AVRO_UNION:
            cr_assert_eq(avro_value_set_branch(&f, 1, &branch), 0);
            cr_assert_eq(avro_value_set_string(&branch, name), 0);
            break;
        default:
            cr_assert_fail("unexpected field type");
        }
    }
}

static void expect_same_record(const tally_usage_record_t *a, const tally_usage_record_t *b)
{
    cr_expect_eq(a->kind, b->kind);
    if (a->kind == TALLY_USAGE_RECORD_REPORT) {
        cr_expect_str_eq(a->report.tenant_id, b->report.tenant_id);
        cr_expect_str_eq(a->report.environment_id, b->report.environment_id);
        cr_expect_str_eq(a->report.reporter_id, b->report.reporter_id);
        cr_expect_eq(a->report.seq, b->report.seq);
        cr_expect_eq(a->report.observed_at, b->report.observed_at);
        cr_expect_eq(a->report.api_calls, b->report.api_calls);
        cr_expect_eq(a->report.status_4xx, b->report.status_4xx);
        cr_expect_eq(a->report.status_5xx, b->report.status_5xx);
        cr_expect_eq(a->report.exec_ms, b->report.exec_ms);
    } else {
        cr_expect_str_eq(a->seat.event_id, b->seat.event_id);
        cr_expect_str_eq(a->seat.tenant_id, b->seat.tenant_id);
        cr_expect_str_eq(a->seat.seat_ref, b->seat.seat_ref);
        cr_expect_eq(a->seat.op, b->seat.op);
        cr_expect_eq(a->seat.occurred_at, b->seat.occurred_at);
    }
}

/* ---- tally_usage_reader_read ------------------------------------------- */

/* One reader, the versions in turn (a cache hit from the second round on),
 * under the right name and the wrong one: the same results and errors as
 * reading by name. */
Test(usage_reader, reads_every_version_as_by_name, .init = setup, .fini = teardown)
{
    tally_usage_reader_t *rd = tally_usage_reader_new();
    int ok = 0, failed = 0;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 5; k++) {
            for (size_t i = 0; i < N_VERSIONS; i++) {
                avro_value_t v;
                char err[256];
                cr_assert_eq(tally_codec_value_new(entries[i], &v, err, sizeof err), 0, "%s", err);
                fill(&v, k);
                const char *names[] = {entries[i]->name, "UsageReport", "SeatEventClean", "ProductEvent"};
                for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
                    char e1[256] = "", e2[256] = "";
                    tally_usage_record_t r1, r2;
                    int rc1 = tally_usage_reader_read(rd, names[j], &v, &r1, e1, sizeof e1);
                    int rc2 = tally_usage_record_read(names[j], &v, &r2, e2, sizeof e2);
                    cr_expect_eq(rc1, rc2, "%s v%d as %s, variant %d", entries[i]->name, entries[i]->version,
                                 names[j], k);
                    cr_expect_str_eq(e1, e2, "%s v%d as %s, variant %d", entries[i]->name, entries[i]->version,
                                     names[j], k);
                    if (rc1 == 0 && rc2 == 0)
                        expect_same_record(&r1, &r2);
                    rc1 == 0 ? ok++ : failed++;
                }
                avro_value_decref(&v);
            }
        }
    }
    /* Both outcomes were exercised. */
    cr_expect_gt(ok, 0);
    cr_expect_gt(failed, 0);
    tally_usage_reader_free(rd);
}

Test(usage_reader, second_version_has_its_own_layout, .init = setup, .fini = teardown)
{
    tally_usage_reader_t *rd = tally_usage_reader_new();
    avro_value_t v1, v2;
    char err[256];
    tally_usage_record_t r;
    cr_assert_eq(tally_codec_value_new(entries[0], &v1, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_codec_value_new(entries[1], &v2, err, sizeof err), 0, "%s", err);
    fill(&v1, 0);
    fill(&v2, 0);
    for (int round = 0; round < 2; round++) {
        /* v1: fields in schema order; v2: reordered, with one more. */
        cr_assert_eq(tally_usage_reader_read(rd, "UsageReport", &v1, &r, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(r.report.tenant_id, "tenant_id");
        cr_expect_eq(r.report.seq, 1714521600000 + 4 * 1000003);
        cr_expect_eq(r.report.exec_ms, 1714521600000 + 9 * 1000003);
        cr_assert_eq(tally_usage_reader_read(rd, "UsageReport", &v2, &r, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(r.report.tenant_id, "tenant_id");
        cr_expect_eq(r.report.seq, 1714521600000 + 2 * 1000003);
        cr_expect_eq(r.report.exec_ms, 1714521600000);
    }
    avro_value_decref(&v1);
    avro_value_decref(&v2);
    tally_usage_reader_free(rd);
}

/* The op by symbol name, whatever its index in the writer's enum; a symbol
 * other than ASSIGNED or RELEASED is refused as before. */
Test(usage_reader, op_by_symbol_in_every_version, .init = setup, .fini = teardown)
{
    tally_usage_reader_t *rd = tally_usage_reader_new();
    avro_value_t v, f;
    char err[256];
    tally_usage_record_t r;
    cr_assert_eq(tally_codec_value_new(entries[6], &v, err, sizeof err), 0, "%s", err); /* SUSPENDED, RELEASED, ASSIGNED */
    fill(&v, 0);
    cr_assert_eq(avro_value_get_by_name(&v, "op", &f, NULL), 0);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(avro_value_set_enum(&f, 2), 0);
        cr_assert_eq(tally_usage_reader_read(rd, "SeatEventClean", &v, &r, err, sizeof err), 0, "%s", err);
        cr_expect_eq(r.seat.op, TALLY_SEAT_ASSIGNED);
        cr_assert_eq(avro_value_set_enum(&f, 1), 0);
        cr_assert_eq(tally_usage_reader_read(rd, "SeatEventClean", &v, &r, err, sizeof err), 0, "%s", err);
        cr_expect_eq(r.seat.op, TALLY_SEAT_RELEASED);
        cr_assert_eq(avro_value_set_enum(&f, 0), 0);
        cr_expect_eq(tally_usage_reader_read(rd, "SeatEventClean", &v, &r, err, sizeof err), -1);
        cr_expect_str_eq(err, "op: missing or not ASSIGNED or RELEASED");
    }
    avro_value_decref(&v);
    tally_usage_reader_free(rd);
}

/* More schemas than the reader keeps at once: still right. */
Test(usage_reader, more_versions_than_it_caches, .init = setup, .fini = teardown)
{
    enum { N = 20 };
    tally_usage_reader_t *rd = tally_usage_reader_new();
    avro_schema_t schemas[N];
    avro_value_iface_t *ifaces[N];
    avro_value_t values[N];
    for (int i = 0; i < N; i++) {
        /* Version i has i extra fields before the real ones. */
        char json[4096], extra[2048] = "";
        for (int x = 0; x < i; x++) {
            char one[64];
            snprintf(one, sizeof one, "{\"name\":\"x%d\",\"type\":\"long\"},", x);
            strcat(extra, one);
        }
        snprintf(json, sizeof json, REC("UsageReport", "%s" STR("tenant_id") "," STR("environment_id") ","
                                        STR("reporter_id") "," LONG("seq") "," LONG("observed_at") ","
                                        LONG("api_calls") "," LONG("status_4xx") "," LONG("status_5xx") ","
                                        LONG("exec_ms")), extra);
        cr_assert_eq(avro_schema_from_json_length(json, strlen(json), &schemas[i]), 0, "%s", avro_strerror());
        ifaces[i] = avro_generic_class_from_schema(schemas[i]);
        cr_assert_not_null(ifaces[i]);
        cr_assert_eq(avro_generic_value_new(ifaces[i], &values[i]), 0);
        fill(&values[i], 0);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            char err[256];
            tally_usage_record_t r;
            cr_assert_eq(tally_usage_reader_read(rd, "UsageReport", &values[i], &r, err, sizeof err), 0, "%s", err);
            cr_expect_str_eq(r.report.reporter_id, "reporter_id");
            cr_expect_eq(r.report.seq, 1714521600000 + (i + 3) * 1000003);
            cr_expect_eq(r.report.exec_ms, 1714521600000 + (i + 8) * 1000003);
        }
    }
    /* The reader holds references: the schemas may go first. */
    for (int i = 0; i < N; i++) {
        avro_value_decref(&values[i]);
        avro_value_iface_decref(ifaces[i]);
        avro_schema_decref(schemas[i]);
    }
    tally_usage_reader_free(rd);
}

/* ---- tally_usage_reader_decode -------------------------------------------- */

typedef struct {
    int rc;                      /* 0, a codec error (< 0), or 1: not a usage record */
    char err[512];
    const tally_catalog_entry_t *writer;
    tally_usage_record_t rec;
} outcome_t;

static void expect_same_outcome(tally_usage_reader_t *rd, tally_decoder_t *fast, tally_decoder_t *slow,
                                const void *buf, size_t len, const char *what, int *accepted)
{
    outcome_t a = {0}, b = {0};
    avro_value_t *value;
    a.rc = tally_usage_reader_decode(rd, fast, buf, len, &a.rec, &a.writer, a.err, sizeof a.err);
    b.rc = tally_decoder_decode(slow, buf, len, &value, &b.writer, b.err, sizeof b.err);
    if (b.rc == 0 && tally_usage_record_read(b.writer->name, value, &b.rec, b.err, sizeof b.err) != 0)
        b.rc = 1;
    cr_expect_eq(a.rc, b.rc, "%s: %d vs %d (%s / %s)", what, a.rc, b.rc, a.err, b.err);
    if (a.rc != 0 || b.rc != 0)
        cr_expect_str_eq(a.err, b.err, "%s", what);
    if (a.rc >= 0 && b.rc >= 0)
        cr_expect_eq(a.writer, b.writer, "%s", what);
    if (a.rc == 0 && b.rc == 0) {
        expect_same_record(&a.rec, &b.rec);
        (*accepted)++;
    }
}

/* Every version, good and faulty values, and each message cut short at
 * every length, with a byte too many, and with each byte changed: one
 * call gives what decoding then reading gives. */
Test(usage_reader, decode_as_decode_then_read, .init = setup, .fini = teardown)
{
    tally_usage_reader_t *rd = tally_usage_reader_new();
    tally_decoder_t *fast = tally_decoder_new_any(cat), *slow = tally_decoder_new_any(cat);
    int accepted = 0;
    for (int k = 0; k < 5; k++) {
        for (size_t i = 0; i < N_VERSIONS; i++) {
            avro_value_t v;
            char err[256], what[128];
            const void *out;
            size_t len;
            cr_assert_eq(tally_codec_value_new(entries[i], &v, err, sizeof err), 0, "%s", err);
            fill(&v, k);
            tally_encoder_t *enc = tally_encoder_new(entries[i]);
            cr_assert_eq(tally_encoder_encode(enc, &v, &out, &len, err, sizeof err), 0, "%s", err);
            unsigned char *msg = malloc(len + 1);
            cr_assert_not_null(msg);
            memcpy(msg, out, len);
            snprintf(what, sizeof what, "%s v%d variant %d", entries[i]->name, entries[i]->version, k);
            expect_same_outcome(rd, fast, slow, msg, len, what, &accepted);
            for (size_t cut = 0; cut < len; cut++)
                expect_same_outcome(rd, fast, slow, msg, cut, what, &accepted);
            msg[len] = 0;
            expect_same_outcome(rd, fast, slow, msg, len + 1, what, &accepted);
            for (size_t at = 0; at < len; at++) {
                static const unsigned char changes[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
                unsigned char keep = msg[at];
                for (size_t c = 0; c < sizeof changes; c++) {
                    msg[at] = changes[c];
                    expect_same_outcome(rd, fast, slow, msg, len, what, &accepted);
                }
                msg[at] = keep;
            }
            free(msg);
            tally_encoder_free(enc);
            avro_value_decref(&v);
        }
    }
    cr_expect_gt(accepted, 100);
    tally_decoder_free(fast);
    tally_decoder_free(slow);
    tally_usage_reader_free(rd);
}

/* A resolving decoder has no fast path: the general one, same results. */
Test(usage_reader, decode_with_a_resolving_decoder, .init = setup, .fini = teardown)
{
    tally_usage_reader_t *rd = tally_usage_reader_new();
    tally_decoder_t *dec = tally_decoder_new(cat, entries[0]);
    avro_value_t v;
    char err[256];
    const void *out;
    size_t len;
    const tally_catalog_entry_t *writer;
    tally_usage_record_t r;
    cr_assert_eq(tally_codec_value_new(entries[0], &v, err, sizeof err), 0, "%s", err);
    fill(&v, 0);
    tally_encoder_t *enc = tally_encoder_new(entries[0]);
    cr_assert_eq(tally_encoder_encode(enc, &v, &out, &len, err, sizeof err), 0, "%s", err);
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(tally_usage_reader_decode(rd, dec, out, len, &r, &writer, err, sizeof err), 0, "%s", err);
        cr_expect_eq(writer, entries[0]);
        cr_expect_str_eq(r.report.tenant_id, "tenant_id");
        cr_expect_eq(r.report.exec_ms, 1714521600000 + 9 * 1000003);
    }
    /* Cut short: the decoder's error. */
    cr_expect_eq(tally_usage_reader_decode(rd, dec, out, len - 1, &r, &writer, err, sizeof err), TALLY_CODEC_ERR_BODY);
    tally_encoder_free(enc);
    avro_value_decref(&v);
    tally_decoder_free(dec);
    tally_usage_reader_free(rd);
}
