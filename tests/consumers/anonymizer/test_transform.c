/* The transform alone (no Kafka): raw ProductEvent -> ProductEventClean with
 * pseudonyms, scrubbed text and the catalog's property filter (counted in
 * metrics); SeatEvent -> SeatEventClean; UsageReport passed through; every
 * record that cannot be cleaned gets a DLQ verdict naming why, without the
 * record's content. */
#include "codec.h"
#include "event_catalog.h"
#include "fixtures.h"
#include "metrics.h"
#include "pseudonym.h"
#include "raw_gen.h"
#include "schema_catalog.h"
#include "transform.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define EVENT_ID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define T0 INT64_C(1714560000000)

static tally_catalog_t *cat;
static tally_event_catalog_t *events;
static tally_pseudonym_t *keys;
static tally_metrics_t *metrics;
static tally_transform_t *tr;
static tally_decoder_t *product_clean, *seat_clean;
static raw_gen_t gen;
static char keyfile[128];

static void setup(void)
{
    char err[512];
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    events = tally_event_catalog_load(tally_test_source_path("schemas/product-events.json"), err, sizeof err);
    cr_assert_not_null(events, "%s", err);
    snprintf(keyfile, sizeof keyfile, "/tmp/tally-test-transform-keys-%d", (int)getpid());
    int fd = open(keyfile, O_WRONLY | O_CREAT | O_TRUNC, 0600); /* never looser: it is refused */
    cr_assert(fd >= 0, "%s", keyfile);
    dprintf(fd, "1 " KEY1 "\n");
    close(fd);
    keys = tally_pseudonym_load(keyfile, err, sizeof err);
    cr_assert_not_null(keys, "%s", err);
    metrics = tally_metrics_new();
    tally_transform_opts_t o = {.schemas = cat, .events = events, .pseudonyms = keys, .metrics = metrics};
    tr = tally_transform_new(&o, err, sizeof err);
    cr_assert_not_null(tr, "%s", err);
    product_clean = tally_decoder_new(cat, tally_catalog_latest(cat, "ProductEventClean"));
    seat_clean = tally_decoder_new(cat, tally_catalog_latest(cat, "SeatEventClean"));
    cr_assert_eq(raw_gen_init(&gen, cat), 0);
}

static void teardown(void)
{
    raw_gen_done(&gen);
    tally_decoder_free(product_clean);
    tally_decoder_free(seat_clean);
    tally_transform_free(tr);
    tally_metrics_free(metrics);
    tally_pseudonym_free(keys);
    tally_event_catalog_free(events);
    tally_catalog_free(cat);
    unlink(keyfile);
}

TestSuite(transform, .init = setup, .fini = teardown);

static raw_product_t base_event(void)
{
    raw_product_t p = {.event_id = EVENT_ID, .source = "CLI", .event = "project.create.start",
                       .install_id = "inst-7f3a", .occurred_at = T0, .received_at = T0 + 5, .ci = 1,
                       .new_user = -1};
    return p;
}

static void run_product(const raw_product_t *p, tally_anon_result_t *r)
{
    const void *buf;
    size_t len;
    cr_assert_eq(raw_gen_product(&gen, p, &buf, &len), 0);
    tally_transform_record(tr, buf, len, r);
}

static avro_value_t *decode_clean(tally_decoder_t *dec, const tally_anon_result_t *r)
{
    char err[256];
    avro_value_t *v;
    cr_assert_eq(tally_decoder_decode(dec, r->value, r->len, &v, NULL, err, sizeof err), 0, "%s", err);
    return v;
}

static const char *str_field(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    const char *s;
    size_t n;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    cr_assert_eq(avro_value_get_string(&f, &s, &n), 0);
    return s;
}

/* The string in an optional field, or NULL when null. */
static const char *opt_field(avro_value_t *rec, const char *name)
{
    avro_value_t f, b;
    int d;
    const char *s;
    size_t n;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "no field %s", name);
    cr_assert_eq(avro_value_get_discriminant(&f, &d), 0);
    if (d == 0)
        return NULL;
    cr_assert_eq(avro_value_get_current_branch(&f, &b), 0);
    cr_assert_eq(avro_value_get_string(&b, &s, &n), 0);
    return s;
}

/* Whether needle occurs in buf[0..len). */
static int contains(const void *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp((const char *)buf + i, needle, n) == 0)
            return 1;
    return 0;
}

static int64_t metric(const char *name, const char *labels)
{
    tally_transform_flush_metrics(tr);
    return tally_metric_value(tally_metrics_get(metrics, TALLY_METRIC_COUNTER, name, "", labels, NULL, 0));
}

Test(transform, product_event_gets_pseudonyms_and_keeps_its_facts)
{
    raw_product_t p = base_event();
    p.project_id = "proj-42";
    p.version = "5.1.0";
    tally_anon_result_t r;
    run_product(&p, &r);
    cr_assert_eq(r.dest, TALLY_ANON_PRODUCT, "DLQ: %s/%s %s", r.stage, r.error, r.detail);
    char iref[TALLY_PSEUDONYM_REF_SIZE], pref[TALLY_PSEUDONYM_REF_SIZE];
    tally_pseudonym_ref(keys, TALLY_PSEUDONYM_INSTALL, "inst-7f3a", 9, iref);
    tally_pseudonym_ref(keys, TALLY_PSEUDONYM_PROJECT, "proj-42", 7, pref);
    cr_assert_eq(r.key_len, strlen(iref));
    cr_assert_eq(memcmp(r.key, iref, r.key_len), 0, "the key is install_ref");

    avro_value_t *v = decode_clean(product_clean, &r), f;
    cr_assert_str_eq(str_field(v, "event_id"), EVENT_ID);
    cr_assert_str_eq(str_field(v, "event"), "project.create.start");
    cr_assert_str_eq(str_field(v, "install_ref"), iref);
    cr_assert_str_eq(opt_field(v, "project_ref"), pref);
    cr_assert_str_eq(opt_field(v, "version"), "5.1.0");
    int64_t t;
    avro_value_get_by_name(v, "occurred_at", &f, NULL);
    avro_value_get_long(&f, &t);
    cr_assert_eq(t, T0);
    avro_value_get_by_name(v, "received_at", &f, NULL);
    avro_value_get_long(&f, &t);
    cr_assert_eq(t, T0 + 5);
    int d;
    avro_value_get_by_name(v, "new_user", &f, NULL);
    avro_value_get_discriminant(&f, &d);
    cr_assert_eq(d, 0, "new_user stays null");
    avro_value_get_by_name(v, "ci", &f, NULL);
    avro_value_t b;
    int ci;
    avro_value_get_current_branch(&f, &b);
    avro_value_get_boolean(&b, &ci);
    cr_assert_eq(ci, 1);
    cr_assert(!contains(r.value, r.len, "inst-7f3a") && !contains(r.value, r.len, "proj-42"));
    cr_assert_eq(metric("tally_anonymizer_records_total", "type=\"product\""), 1);
}

Test(transform, properties_outside_the_catalog_are_dropped_and_counted)
{
    const char *props[] = {"template", "blog", "language", "typescript", "email", "jane@example.com",
                           "hostname", "laptop-of-jane", "node_version", "v20.11.0"};
    raw_product_t p = base_event();
    p.props = props;
    p.n_props = 5;
    tally_anon_result_t r;
    run_product(&p, &r);
    cr_assert_eq(r.dest, TALLY_ANON_PRODUCT);
    avro_value_t *v = decode_clean(product_clean, &r), map, item;
    avro_value_get_by_name(v, "properties", &map, NULL);
    size_t n;
    avro_value_get_size(&map, &n);
    cr_assert_eq(n, 3, "template, language and node_version are allowed for project.create.start");
    const char *s;
    size_t len;
    cr_assert_eq(avro_value_get_by_name(&map, "template", &item, NULL), 0);
    avro_value_get_string(&item, &s, &len);
    cr_assert_str_eq(s, "blog");
    cr_assert_eq(avro_value_get_by_name(&map, "node_version", &item, NULL), 0);
    avro_value_get_string(&item, &s, &len);
    cr_assert_str_eq(s, "v20.11.0");
    cr_assert_neq(avro_value_get_by_name(&map, "email", &item, NULL), 0);
    cr_assert_neq(avro_value_get_by_name(&map, "hostname", &item, NULL), 0);
    cr_assert(!contains(r.value, r.len, "jane") && !contains(r.value, r.len, "laptop"));
    cr_assert_eq(metric("tally_anonymizer_properties_dropped_total", "event=\"project.create.start\""), 2);

    /* An event whose catalog entry allows no property keeps none. */
    const char *more[] = {"template", "blog"};
    p.event = "telemetry.enabled";
    p.props = more;
    p.n_props = 1;
    run_product(&p, &r);
    cr_assert_eq(r.dest, TALLY_ANON_PRODUCT);
    v = decode_clean(product_clean, &r);
    avro_value_get_by_name(v, "properties", &map, NULL);
    avro_value_get_size(&map, &n);
    cr_assert_eq(n, 0);
    cr_assert_eq(metric("tally_anonymizer_properties_dropped_total", "event=\"telemetry.enabled\""), 1);
}

Test(transform, free_text_is_scrubbed_in_properties_version_and_error)
{
    const char *props[] = {"step", "install failed for bob@example.com at 10.1.2.3"};
    raw_product_t p = base_event();
    p.event = "project.create.error";
    p.props = props;
    p.n_props = 1;
    p.version = "5.0.0 (/home/bob/cli)";
    p.error_message = "EACCES: permission denied, open '/Users/bob/.npmrc' token=abc123";
    p.error_stack = "Error: x\n    at f (C:\\Users\\bob\\app\\index.js:1:1)\n    at https://cdn.example.com/a.js?k=1";
    tally_anon_result_t r;
    run_product(&p, &r);
    cr_assert_eq(r.dest, TALLY_ANON_PRODUCT, "DLQ: %s %s", r.error, r.detail);
    avro_value_t *v = decode_clean(product_clean, &r), f, b, item;
    cr_assert_str_eq(opt_field(v, "version"), "5.0.0 (/home/[REDACTED:user]/cli)");
    avro_value_get_by_name(v, "properties", &f, NULL);
    avro_value_get_by_name(&f, "step", &item, NULL);
    const char *s;
    size_t n;
    avro_value_get_string(&item, &s, &n);
    cr_assert_str_eq(s, "install failed for [REDACTED:email] at [REDACTED:ipv4]");
    avro_value_get_by_name(v, "error", &f, NULL);
    avro_value_get_current_branch(&f, &b);
    cr_assert_str_eq(str_field(&b, "message"),
                     "EACCES: permission denied, open '/Users/[REDACTED:user]/.npmrc' token=[REDACTED:secret]");
    cr_assert_str_eq(opt_field(&b, "stack"), "Error: x\n    at f (C:\\Users\\[REDACTED:user]\\app\\index.js:1:1)\n"
                                             "    at https://cdn.example.com/[REDACTED:url]");
    cr_assert(!contains(r.value, r.len, "bob"));
    cr_assert_eq(metric("tally_anonymizer_redactions_total", "kind=\"user\""), 3);
    cr_assert_eq(metric("tally_anonymizer_redactions_total", "kind=\"email\""), 1);
}

Test(transform, seat_event_gets_a_seat_ref_and_the_tenant_as_key)
{
    const void *buf;
    size_t len;
    cr_assert_eq(raw_gen_seat(&gen, EVENT_ID, "tenant-acme", "user-0042", "RELEASED", T0, &buf, &len), 0);
    tally_anon_result_t r;
    tally_transform_record(tr, buf, len, &r);
    cr_assert_eq(r.dest, TALLY_ANON_USAGE, "DLQ: %s %s", r.error, r.detail);
    cr_assert_eq(r.key_len, 11);
    cr_assert_eq(memcmp(r.key, "tenant-acme", 11), 0);
    char ref[TALLY_PSEUDONYM_REF_SIZE];
    tally_pseudonym_ref(keys, TALLY_PSEUDONYM_USER, "user-0042", 9, ref);
    avro_value_t *v = decode_clean(seat_clean, &r), f;
    cr_assert_str_eq(str_field(v, "seat_ref"), ref);
    cr_assert_str_eq(str_field(v, "tenant_id"), "tenant-acme");
    cr_assert_str_eq(str_field(v, "event_id"), EVENT_ID);
    int op;
    avro_value_get_by_name(v, "op", &f, NULL);
    avro_value_get_enum(&f, &op);
    cr_assert_str_eq(avro_schema_enum_get(avro_value_get_schema(&f), op), "RELEASED");
    cr_assert(!contains(r.value, r.len, "user-0042"));
}

#define KEY2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* A key rotation (pseudonym.h): the same user's seat events keep their
 * seat_ref, so the aggregator still finds the seat assigned before it;
 * install references do move to the new key. */
Test(transform, a_key_rotation_keeps_seat_refs_and_rotates_install_refs)
{
    char err[512], rotated[160];
    snprintf(rotated, sizeof rotated, "%s.rotated", keyfile);
    int fd = open(rotated, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    const char *text = "seat 1\n1 " KEY1 "\n2 " KEY2 "\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    tally_pseudonym_t *keys2 = tally_pseudonym_load(rotated, err, sizeof err);
    unlink(rotated);
    cr_assert_not_null(keys2, "%s", err);
    tally_transform_opts_t o = {.schemas = cat, .events = events, .pseudonyms = keys2, .metrics = metrics};
    tally_transform_t *tr2 = tally_transform_new(&o, err, sizeof err);
    cr_assert_not_null(tr2, "%s", err);

    const char *ops[] = {"ASSIGNED", "RELEASED"};
    char before[2][TALLY_PSEUDONYM_REF_SIZE];
    for (int i = 0; i < 2; i++) {
        const void *buf;
        size_t len;
        tally_anon_result_t r;
        cr_assert_eq(raw_gen_seat(&gen, EVENT_ID, "tenant-acme", "user-0042", ops[i], T0, &buf, &len), 0);
        tally_transform_record(i == 0 ? tr : tr2, buf, len, &r);
        cr_assert_eq(r.dest, TALLY_ANON_USAGE, "DLQ: %s %s", r.error, r.detail);
        snprintf(before[i], sizeof before[i], "%s", str_field(decode_clean(seat_clean, &r), "seat_ref"));
    }
    cr_assert_str_eq(before[1], before[0], "the RELEASED after the rotation names another seat than the ASSIGNED");

    raw_product_t p = base_event();
    tally_anon_result_t r;
    const void *buf;
    size_t len;
    cr_assert_eq(raw_gen_product(&gen, &p, &buf, &len), 0);
    tally_transform_record(tr2, buf, len, &r);
    cr_assert_eq(r.dest, TALLY_ANON_PRODUCT, "DLQ: %s %s", r.error, r.detail);
    const char *iref = str_field(decode_clean(product_clean, &r), "install_ref");
    cr_assert_eq(strncmp(iref, "v2:", 3), 0, "install_ref after the rotation: %s", iref);
    tally_transform_free(tr2);
    tally_pseudonym_free(keys2);
}

Test(transform, usage_report_passes_through_byte_for_byte)
{
    const void *buf;
    size_t len;
    cr_assert_eq(raw_gen_usage(&gen, "tenant-acme", "env-prod", EVENT_ID, T0, 7, T0 + 60000, 1234, &buf, &len), 0);
    tally_anon_result_t r;
    tally_transform_record(tr, buf, len, &r);
    cr_assert_eq(r.dest, TALLY_ANON_USAGE);
    cr_assert_eq(r.value, buf);
    cr_assert_eq(r.len, len);
    cr_assert_eq(r.key_len, 11);
    cr_assert_eq(memcmp(r.key, "tenant-acme", 11), 0);
}

static void expect_dlq(const tally_anon_result_t *r, const char *stage, const char *error)
{
    cr_assert_eq(r->dest, TALLY_ANON_DLQ);
    cr_assert_str_eq(r->stage, stage);
    cr_assert_str_eq(r->error, error, "%s (%s)", r->error, r->detail);
    cr_assert_null(r->value, "a DLQ verdict carries no content");
    cr_assert_eq(r->len, 0);
}

Test(transform, invalid_events_get_a_validate_verdict_without_their_values)
{
    tally_anon_result_t r;
    raw_product_t p = base_event();
    p.event = "user.secretly.tracked";
    run_product(&p, &r);
    expect_dlq(&r, "validate", "unknown_event");
    p = base_event();
    p.event = "admin.started";   /* ADMIN only */
    run_product(&p, &r);
    expect_dlq(&r, "validate", "source_not_allowed");
    p = base_event();
    p.event_id = "not-a-uuid";
    run_product(&p, &r);
    expect_dlq(&r, "validate", "invalid_event_id");
    p = base_event();
    p.install_id = "";
    run_product(&p, &r);
    expect_dlq(&r, "validate", "missing_install_id");
    cr_assert(strstr(r.detail, "inst-7f3a") == NULL);

    const void *buf;
    size_t len;
    cr_assert_eq(raw_gen_seat(&gen, EVENT_ID, "tenant-acme", "", "ASSIGNED", T0, &buf, &len), 0);
    tally_transform_record(tr, buf, len, &r);
    expect_dlq(&r, "validate", "missing_user_id");
    cr_assert_eq(raw_gen_seat(&gen, EVENT_ID, "", "user-1", "ASSIGNED", T0, &buf, &len), 0);
    tally_transform_record(tr, buf, len, &r);
    expect_dlq(&r, "validate", "missing_tenant_id");
    cr_assert_eq(raw_gen_usage(&gen, "", "env", EVENT_ID, T0, 1, T0, 1, &buf, &len), 0);
    tally_transform_record(tr, buf, len, &r);
    expect_dlq(&r, "validate", "missing_tenant_id");
    cr_assert_eq(metric("tally_anonymizer_dlq_total", "stage=\"validate\",error=\"unknown_event\""), 1);
}

Test(transform, undecodable_records_get_a_decode_verdict)
{
    tally_anon_result_t r;
    tally_transform_record(tr, NULL, 0, &r);
    expect_dlq(&r, "decode", "short");
    tally_transform_record(tr, "{\"install_id\":\"x\"}", 18, &r);
    expect_dlq(&r, "decode", "bad_magic");
    const unsigned char unknown[] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0};
    tally_transform_record(tr, unknown, sizeof unknown, &r);
    expect_dlq(&r, "decode", "unknown_schema");
    cr_assert_null(r.writer);

    const void *buf;
    size_t len;
    raw_product_t p = base_event();
    cr_assert_eq(raw_gen_product(&gen, &p, &buf, &len), 0);
    tally_transform_record(tr, buf, len - 3, &r);
    expect_dlq(&r, "decode", "undecodable");
    cr_assert_not_null(r.writer);
    cr_assert_str_eq(r.writer->name, "ProductEvent");
    unsigned char *longer = malloc(len + 2);
    memcpy(longer, buf, len);
    longer[len] = longer[len + 1] = 0;
    tally_transform_record(tr, longer, len + 2, &r);
    expect_dlq(&r, "decode", "trailing_bytes");
    free(longer);

    /* A clean record does not belong on a raw topic. */
    tally_transform_record(tr, buf, len, &r);
    cr_assert_eq(r.dest, TALLY_ANON_PRODUCT);
    unsigned char *clean = malloc(r.len);
    size_t clean_len = r.len;
    memcpy(clean, r.value, r.len);
    tally_transform_record(tr, clean, clean_len, &r);
    expect_dlq(&r, "route", "unexpected_schema");
    free(clean);
}

/* The clean records are written by hand (avro_buf.c): they must be the
 * very bytes avro-c writes for the same values. */
static void expect_avro_c_bytes(tally_decoder_t *dec, const char *schema, const tally_anon_result_t *r)
{
    char err[256];
    avro_value_t *v;
    cr_assert_eq(tally_decoder_decode(dec, r->value, r->len, &v, NULL, err, sizeof err), 0, "%s", err);
    tally_encoder_t *enc = tally_encoder_new(tally_catalog_latest(cat, schema));
    const void *again;
    size_t len;
    cr_assert_eq(tally_encoder_encode(enc, v, &again, &len, err, sizeof err), 0, "%s", err);
    cr_assert_eq(len, r->len);
    cr_assert_eq(memcmp(again, r->value, len), 0, "hand-written %s differs from avro-c's", schema);
    tally_encoder_free(enc);
}

Test(transform, clean_records_are_byte_for_byte_what_avro_c_writes)
{
    const char *props[] = {"template", "blog", "region", "eu-west-1 at 10.0.0.1", "step", "build"};
    tally_anon_result_t r;
    for (int variant = 0; variant < 16; variant++) {
        raw_product_t p = base_event();
        p.event = "project.create.error";
        p.ci = variant % 3 == 0 ? -1 : variant % 2;
        p.new_user = variant % 4 == 0 ? -1 : 1;
        p.project_id = variant & 1 ? "proj-1" : NULL;
        p.version = variant & 2 ? "1.2.3 /home/x" : NULL;
        p.props = props;
        p.n_props = (size_t)variant % 4;
        p.error_message = variant & 4 ? "boom at alice@example.com" : NULL;
        p.error_stack = variant & 8 ? "at /Users/alice/x.js:1:1" : NULL;
        p.occurred_at = variant % 5 == 0 ? 0 : T0 * (variant - 7);   /* negative, zero and large longs */
        run_product(&p, &r);
        cr_assert_eq(r.dest, TALLY_ANON_PRODUCT, "variant %d: %s %s", variant, r.error, r.detail);
        expect_avro_c_bytes(product_clean, "ProductEventClean", &r);
    }
    const void *buf;
    size_t len;
    const char *ops[] = {"ASSIGNED", "RELEASED"};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(raw_gen_seat(&gen, EVENT_ID, "t", "u", ops[i], i ? -1 : INT64_MAX, &buf, &len), 0);
        tally_transform_record(tr, buf, len, &r);
        cr_assert_eq(r.dest, TALLY_ANON_USAGE);
        expect_avro_c_bytes(seat_clean, "SeatEventClean", &r);
    }
}
