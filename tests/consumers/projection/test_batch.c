/* The projection's in-memory parts, no broker or database: rollup
 * pre-aggregation (one entry per key, the last record wins), product rows
 * exactly as COPY and JSON need them, refusal of what PostgreSQL would
 * refuse, and the committed-installs set. (The materializer's retry
 * backoff is tested in tests/consumers/materializer/test_backoff.c.) */
#include "batch.h"
#include "codec.h"
#include "inbound.h"
#include "schema_catalog.h"
#include "seen.h"
#include "copy_text.h"

#include "fixtures.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tally_api_rollup_t api(int32_t day, int64_t calls, int32_t partition, int64_t offset, int64_t updated)
{
    tally_api_rollup_t r;
    memset(&r, 0, sizeof r);
    r.day = day;
    r.api_calls = calls;
    r.partition = partition;
    r.offset = offset;
    r.updated_at_ms = updated;
    return r;
}

static int64_t calls_of(const tally_batch_t *b, const char *tenant, const char *env, int32_t day)
{
    for (size_t i = 0; i < b->n_api; i++)
        if (strcmp(tally_batch_str(b, b->api[i].tenant), tenant) == 0 &&
            strcmp(tally_batch_str(b, b->api[i].environment), env) == 0 && b->api[i].day == day)
            return b->api[i].api_calls;
    return -1;
}

Test(batch, rollups_one_entry_per_key_last_record_wins)
{
    tally_batch_t *b = tally_batch_new();
    tally_api_rollup_t r;
    r = api(10, 100, 0, 5, 1000);
    tally_batch_put_api(b, "t", 1, "prod", 4, &r);
    r = api(10, 300, 0, 9, 900);    /* same partition, later offset: wins whatever updated_at says */
    tally_batch_put_api(b, "t", 1, "prod", 4, &r);
    r = api(11, 7, 0, 10, 1000);
    tally_batch_put_api(b, "t", 1, "prod", 4, &r);
    r = api(10, 50, 0, 11, 1000);   /* another environment */
    tally_batch_put_api(b, "t", 1, "stage", 5, &r);
    /* "t|p" + "rod" must not meet "t" + "p|rod": keys compare whole fields. */
    r = api(10, 1, 0, 12, 1000);
    tally_batch_put_api(b, "t|p", 3, "rod", 3, &r);
    cr_assert_eq(b->n_api, 4);
    cr_assert_eq(calls_of(b, "t", "prod", 10), 300);
    cr_assert_eq(calls_of(b, "t", "prod", 11), 7);
    cr_assert_eq(calls_of(b, "t", "stage", 10), 50);
    cr_assert_eq(calls_of(b, "t|p", "rod", 10), 1);

    /* Across partitions (never for one key in practice) the later updated_at wins. */
    r = api(10, 999, 1, 0, 800);
    tally_batch_put_api(b, "t", 1, "prod", 4, &r);
    cr_assert_eq(calls_of(b, "t", "prod", 10), 300);
    r = api(10, 444, 1, 1, 2000);
    tally_batch_put_api(b, "t", 1, "prod", 4, &r);
    cr_assert_eq(calls_of(b, "t", "prod", 10), 444);

    /* Many keys: the index grows and every key stays findable. */
    char tenant[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(tenant, sizeof tenant, "tenant-%d", i % 5000);
        r = api(i % 4, i, 0, 100 + i, 0);
        tally_batch_put_api(b, tenant, strlen(tenant), "e", 1, &r);
    }
    /* i % 5000 and i % 4 go together (5000 % 4 == 0): 5000 keys, 4 records each. */
    cr_assert_eq(b->n_api, 4 + 5000);
    cr_assert_eq(calls_of(b, "tenant-42", "e", 2), 15042);
    tally_batch_reset(b);
    cr_assert_eq(b->n_api, 0);
    r = api(10, 1, 0, 1, 0);
    tally_batch_put_api(b, "t", 1, "prod", 4, &r);
    cr_assert_eq(b->n_api, 1, "a reset batch forgets its keys");

    tally_seat_rollup_t s = {.day = 3, .seats_in_use = 2, .seats_peak = 5, .partition = 0, .offset = 1};
    tally_batch_put_seat(b, "t", 1, &s);
    s.seats_in_use = 1;
    s.offset = 2;
    tally_batch_put_seat(b, "t", 1, &s);
    cr_assert_eq(b->n_seat, 1);
    cr_assert_eq(b->seat[0].seats_in_use, 1);
    tally_batch_free(b);
}

Test(batch, progress_per_partition_keeps_the_first_expected_offset)
{
    tally_batch_t *b = tally_batch_new();
    tally_batch_track(b, TALLY_ROLE_PRODUCT, 2, 40, 40, 10, 1000);
    tally_batch_track(b, TALLY_ROLE_PRODUCT, 2, 41, 999, 10, 1001);
    tally_batch_track(b, TALLY_ROLE_ROLLUPS, 2, 7, -1, 5, 1002);
    tally_batch_track(b, TALLY_ROLE_PRODUCT, 2, 45, 999, 10, 1003);
    cr_assert_eq(b->n_progress, 2);
    cr_assert_eq(b->progress[0].expected, 40);
    cr_assert_eq(b->progress[0].next, 46);
    cr_assert_eq(b->progress[1].expected, -1);
    cr_assert_eq(b->progress[1].next, 8);
    cr_assert_eq(b->records, 4);
    cr_assert_eq(b->bytes, 35);
    cr_assert_eq(b->first_ms, 1000);
    tally_batch_free(b);
}

Test(textbuf, copy_and_json_escaping)
{
    tally_textbuf_t t = {0};
    tally_textbuf_copy_field(&t, "a\tb\nc\\d\re", 10);
    cr_assert_str_eq(t.data, "a\\tb\\nc\\\\d\\re");
    tally_textbuf_reset(&t);
    tally_textbuf_copy_json_string(&t, "q\"b\\t\x01", 6);
    /* JSON "q\"b\\t\u0001", then every backslash doubled for COPY. */
    cr_assert_str_eq(t.data, "\"q\\\\\"b\\\\\\\\t\\\\u0001\"");
    tally_textbuf_reset(&t);
    tally_textbuf_array_element(&t, "a\"b\\c,d", 7);
    cr_assert_str_eq(t.data, "\"a\\\"b\\\\c,d\"");
    tally_textbuf_reset(&t);
    tally_textbuf_put_i64(&t, INT64_MIN);
    tally_textbuf_putc(&t, ' ');
    tally_textbuf_put_i64(&t, 0);
    cr_assert_str_eq(t.data, "-9223372036854775808 0");
    tally_textbuf_free(&t);
}

Test(textbuf, what_postgresql_text_accepts)
{
    cr_assert(tally_text_valid("plain", 5));
    cr_assert(tally_text_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));   /* é € 😀 */
    cr_assert_not(tally_text_valid("a\0b", 3), "NUL");
    cr_assert_not(tally_text_valid("\xc0\xaf", 2), "overlong");
    cr_assert_not(tally_text_valid("\xe0\x80\xaf", 3), "overlong 3-byte");
    cr_assert_not(tally_text_valid("\xed\xa0\x80", 3), "surrogate");
    cr_assert_not(tally_text_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    cr_assert_not(tally_text_valid("\xe2\x82", 2), "truncated");
    cr_assert_not(tally_text_valid("\x80", 1), "stray continuation");
    cr_assert(tally_text_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e", 36));
    cr_assert_not(tally_text_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950", 35));
    cr_assert_not(tally_text_is_uuid("0f8fad5b+d9cb-469f-a165-70867728950e", 36));
    cr_assert(tally_text_is_sha256_hex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 64));
    cr_assert_not(tally_text_is_sha256_hex("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 64));
}

/* The reference COPY text escape, one byte at a time. */
static void copy_field_reference(char *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '\\': *out++ = '\\'; *out++ = '\\'; break;
        case '\t': *out++ = '\\'; *out++ = 't'; break;
        case '\n': *out++ = '\\'; *out++ = 'n'; break;
        case '\r': *out++ = '\\'; *out++ = 'r'; break;
        default: *out++ = s[i];
        }
    }
    *out = '\0';
}

/* Long plain text is checked and copied word by word: what it refuses or
 * escapes must not depend on where in a word (or in the tail) it sits. */
Test(textbuf, every_position_of_long_text)
{
    char s[41], want[83];
    static const char *const bad[] = {"\0", "\x80", "\xc0", "\xff", "\xe2\x82"};
    static const char specials[] = {'\\', '\t', '\n', '\r'};
    tally_textbuf_t t = {0};
    for (size_t len = 1; len <= 40; len++) {
        memset(s, 'a' + (int)(len % 26), len);
        cr_assert(tally_text_valid(s, len), "plain text of %zu bytes", len);
        for (size_t i = 0; i < len; i++) {
            for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
                size_t bl = k == 0 ? 1 : strlen(bad[k]);
                if (i + bl > len)
                    continue;
                char c[41];
                memcpy(c, s, len);
                memcpy(c + i, bad[k], bl);
                if (k == 4 && i + bl < len)
                    c[i + bl] = 'z';   /* a truncated sequence, not its last byte */
                cr_assert_not(tally_text_valid(c, len), "bad byte %zu at %zu of %zu", k, i, len);
            }
            if (i + 2 <= len) {
                char c[41];
                memcpy(c, s, len);
                memcpy(c + i, "\xc3\xa9", 2);   /* é */
                cr_assert(tally_text_valid(c, len), "é at %zu of %zu", i, len);
            }
            for (size_t k = 0; k < sizeof specials; k++) {
                char c[41];
                memcpy(c, s, len);
                c[i] = specials[k];
                if (i + 3 < len)
                    c[i + 3] = specials[(k + 1) % sizeof specials];
                copy_field_reference(want, c, len);
                tally_textbuf_reset(&t);
                tally_textbuf_putc(&t, '>');
                tally_textbuf_copy_field(&t, c, len);
                cr_assert_eq(t.data[0], '>');
                cr_assert_str_eq(t.data + 1, want, "special %zu at %zu of %zu", k, i, len);
            }
        }
    }
    tally_textbuf_free(&t);
}

Test(seen, whole_keys_and_a_bound)
{
    tally_seen_t *s = tally_seen_new(3);
    tally_seen_add(s, "a", 1, 7);
    tally_seen_add(s, "b", 1, 7);       /* same hash, other key */
    cr_assert(tally_seen_contains(s, "a", 1, 7));
    cr_assert(tally_seen_contains(s, "b", 1, 7));
    cr_assert_not(tally_seen_contains(s, "c", 1, 7), "a hash match alone is not a hit");
    tally_seen_add(s, "a", 1, 7);
    cr_assert_eq(tally_seen_count(s), 2);
    tally_seen_add(s, "c", 1, 8);
    tally_seen_add(s, "d", 1, 9);       /* full: emptied, then d */
    cr_assert_eq(tally_seen_count(s), 1);
    cr_assert_not(tally_seen_contains(s, "a", 1, 7));
    cr_assert(tally_seen_contains(s, "d", 1, 9));
    cr_assert_not(tally_seen_contains(NULL, "d", 1, 9));
    tally_seen_free(s);
}

/* The slots grow with the keys (from 1024): every key is still found after
 * each doubling, and none that was not added is. */
Test(seen, grows_keeping_every_key)
{
    tally_seen_t *s = tally_seen_new(20000);
    char key[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        tally_seen_add(s, key, strlen(key), (uint64_t)i * 0x9E3779B97F4A7C15ULL);
    }
    cr_assert_eq(tally_seen_count(s), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key%d", i);
        cr_assert(tally_seen_contains(s, key, strlen(key), (uint64_t)i * 0x9E3779B97F4A7C15ULL), "%s", key);
    }
    cr_assert_not(tally_seen_contains(s, "key5000", 7, 5000ULL * 0x9E3779B97F4A7C15ULL));
    tally_seen_free(s);
}

/* Colliding keys probe on past the last slot to the first; an empty key is
 * never held (a free slot is one of length 0). */
Test(seen, probes_wrap_and_no_empty_key)
{
    tally_seen_t *s = tally_seen_new(100);
    char key[8];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        tally_seen_add(s, key, strlen(key), UINT64_MAX - (uint64_t)(i % 2));   /* the last two slots */
    }
    cr_assert_eq(tally_seen_count(s), 40);
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cr_assert(tally_seen_contains(s, key, strlen(key), UINT64_MAX - (uint64_t)(i % 2)), "%s", key);
        cr_assert_not(tally_seen_contains(s, key, strlen(key), UINT64_MAX - (uint64_t)((i + 1) % 2)));
    }
    tally_seen_add(s, "", 0, 5);
    cr_assert_not(tally_seen_contains(s, "", 0, 5));
    cr_assert_eq(tally_seen_count(s), 40);
    tally_seen_free(s);
}

/* ---- inbound: records as the materializer reads them ------------------ */

static tally_catalog_t *cat;
static tally_inbound_t *in;
static tally_batch_t *b;

static void inbound_setup(void)
{
    char err[512];
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    in = tally_inbound_new(cat, err, sizeof err);
    cr_assert_not_null(in, "%s", err);
    b = tally_batch_new();
}

static void inbound_teardown(void)
{
    tally_batch_free(b);
    tally_inbound_free(in);
    tally_catalog_free(cat);
}

static void set_str(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "%s", name);
    cr_assert_eq(avro_value_set_string(&f, v), 0);
}

static void set_opt(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f, br;
    cr_assert_eq(avro_value_get_by_name(rec, name, &f, NULL), 0, "%s", name);
    cr_assert_eq(avro_value_set_branch(&f, v ? 1 : 0, &br), 0);
    if (v)
        cr_assert_eq(avro_value_set_string(&br, v), 0);
    else
        cr_assert_eq(avro_value_set_null(&br), 0);
}

/* Encodes a product event and adds it; returns tally_inbound_add's result. */
static int add_product(const char *event_id, const char *event_name, const char *install, const char *version,
                       const char *prop_value, const char **error)
{
    char err[512];
    const tally_catalog_entry_t *e = tally_catalog_latest(cat, "ProductEventClean");
    avro_value_t v, f, item, br;
    cr_assert_eq(tally_codec_value_new(e, &v, err, sizeof err), 0, "%s", err);
    set_str(&v, "event_id", event_id);
    cr_assert_eq(avro_value_get_by_name(&v, "source", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, 1), 0);
    set_str(&v, "event", event_name);
    cr_assert_eq(avro_value_get_by_name(&v, "occurred_at", &f, NULL), 0);
    cr_assert_eq(avro_value_set_long(&f, INT64_C(1709251200123)), 0);
    cr_assert_eq(avro_value_get_by_name(&v, "received_at", &f, NULL), 0);
    cr_assert_eq(avro_value_set_long(&f, INT64_C(1709251201000)), 0);
    set_str(&v, "install_ref", install);
    set_opt(&v, "project_ref", NULL);
    set_opt(&v, "version", version);
    cr_assert_eq(avro_value_get_by_name(&v, "ci", &f, NULL), 0);
    cr_assert_eq(avro_value_set_branch(&f, 1, &br), 0);
    cr_assert_eq(avro_value_set_boolean(&br, 1), 0);
    cr_assert_eq(avro_value_get_by_name(&v, "new_user", &f, NULL), 0);
    cr_assert_eq(avro_value_set_branch(&f, 0, &br), 0);
    cr_assert_eq(avro_value_set_null(&br), 0);
    cr_assert_eq(avro_value_get_by_name(&v, "properties", &f, NULL), 0);
    if (prop_value) {
        cr_assert_eq(avro_value_add(&f, "page", &item, NULL, NULL), 0);
        cr_assert_eq(avro_value_set_string(&item, prop_value), 0);
    }
    cr_assert_eq(avro_value_get_by_name(&v, "error", &f, NULL), 0);
    cr_assert_eq(avro_value_set_branch(&f, 0, &br), 0);
    cr_assert_eq(avro_value_set_null(&br), 0);
    tally_encoder_t *enc = tally_encoder_new(e);
    const void *buf;
    size_t len;
    cr_assert_eq(tally_encoder_encode(enc, &v, &buf, &len, err, sizeof err), 0, "%s", err);
    int rc = tally_inbound_add(in, b, TALLY_ROLE_PRODUCT, 0, 1, buf, len, error, err, sizeof err);
    tally_encoder_free(enc);
    avro_value_decref(&v);
    return rc;
}

TestSuite(inbound, .init = inbound_setup, .fini = inbound_teardown);

Test(inbound, product_event_becomes_one_exact_copy_row)
{
    const char *error = NULL;
    cr_assert_eq(add_product("0f8fad5b-d9cb-469f-a165-70867728950e", "admin.page_view", "i1", NULL,
                             "a\"b\tc", &error), 0);
    cr_assert_str_eq(b->product_rows.data,
                     "0f8fad5b-d9cb-469f-a165-70867728950e\tADMIN\tadmin.page_view\t2024-03-01T00:00:00.123Z\t"
                     "2024-03-01T00:00:01.000Z\ti1\t\\N\t\\N\tt\t\\N\t{\"page\":\"a\\\\\"b\\\\u0009c\"}\t\\N\t\\N\n");
    cr_assert_eq(b->n_product, 1);
    cr_assert_eq(b->n_groups, 1);
    cr_assert_str_eq(tally_batch_str(b, b->groups[0].version), "");
    cr_assert_str_eq(b->groups[0].source, "ADMIN");

    /* Two more of the same group, one of another install: 3 events, 2 installs. */
    cr_assert_eq(add_product("0f8fad5b-d9cb-469f-a165-70867728950f", "admin.page_view", "i1", NULL, NULL, &error),
                 0);
    cr_assert_eq(add_product("0f8fad5b-d9cb-469f-a165-708677289510", "admin.page_view", "i2", NULL, NULL, &error),
                 0);
    cr_assert_eq(b->n_groups, 1);
    cr_assert_eq(b->groups[0].events, 3);
    cr_assert_eq(b->n_installs, 2);

    /* An install a committed batch already holds is not sent again. */
    tally_seen_t *known = tally_seen_new(10);
    tally_textbuf_t key = {0};
    uint64_t h;
    tally_batch_install_key(b, 0, &key, &h);
    tally_seen_add(known, key.data, key.len, h);
    tally_batch_reset(b);
    b->known = known;
    cr_assert_eq(add_product("0f8fad5b-d9cb-469f-a165-708677289511", "admin.page_view", "i1", NULL, NULL, &error),
                 0);
    cr_assert_eq(add_product("0f8fad5b-d9cb-469f-a165-708677289512", "admin.page_view", "i3", NULL, NULL, &error),
                 0);
    cr_assert_eq(b->groups[0].events, 2);
    cr_assert_eq(b->n_installs, 1);
    cr_assert_str_eq(tally_batch_str(b, b->installs[0].install), "i3");
    b->known = NULL;
    tally_textbuf_free(&key);
    tally_seen_free(known);
}

Test(inbound, refusals_leave_the_batch_untouched)
{
    const char *error = NULL;
    char err[256];
    cr_assert_eq(add_product("not-a-uuid", "e", "i1", "1.0", NULL, &error), -1);
    cr_assert_str_eq(error, "invalid");
    cr_assert_eq(add_product("0f8fad5b-d9cb-469f-a165-70867728950e", "bad \xff text", "i1", "1.0", NULL, &error), -1);
    cr_assert_str_eq(error, "invalid");
    cr_assert_eq(b->n_product, 0);
    cr_assert_eq(b->product_rows.len, 0);
    cr_assert_eq(b->n_groups, 0);

    cr_assert_eq(tally_inbound_add(in, b, TALLY_ROLE_PRODUCT, 0, 1, "xx", 2, &error, err, sizeof err), -1);
    cr_assert_str_eq(error, "short");
    cr_assert_eq(tally_inbound_add(in, b, TALLY_ROLE_ROLLUPS, 0, 1, "\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08", 10,
                                   &error, err, sizeof err),
                 -1);
    cr_assert_str_eq(error, "unknown_schema");
    cr_assert_eq(tally_inbound_add(in, b, TALLY_ROLE_ROLLUPS, 0, 1, NULL, 0, &error, err, sizeof err),
                 TALLY_INBOUND_SKIPPED, "a tombstone is skipped");
}
