/* Unit tests of aggregator/rollup_record: the tally.rollups keys of
 * docs/architecture.md and values that decode with the real schemas. */
#include "rollup_record.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agg_gen.h"
#include "codec.h"
#include "schema_catalog.h"

TestSuite(rollup_record);

static tally_catalog_t *load(void)
{
    char dir[1024], err[512];
    cr_assert_not_null(getenv("TALLY_SOURCE_DIR"), "TALLY_SOURCE_DIR is not set");
    snprintf(dir, sizeof dir, "%s/schemas", getenv("TALLY_SOURCE_DIR"));
    tally_catalog_t *cat = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    return cat;
}

/* 2024-05-01 is day 19844. */
#define MAY_1 19844

Test(rollup_record, keys_are_tenant_environment_day_with_an_iso_date)
{
    tally_rollup_key_t k = {0};
    tally_rollup_key_api(&k, "acme", "prod", MAY_1);
    cr_assert_str_eq(k.data, "acme|prod|2024-05-01");
    cr_assert_eq(k.len, strlen("acme|prod|2024-05-01"));
    tally_rollup_key_seat(&k, "acme", MAY_1 + 30);
    cr_assert_str_eq(k.data, "acme|2024-05-31");
    tally_rollup_key_seat(&k, "acme", 0);
    cr_assert_str_eq(k.data, "acme|1970-01-01");
    tally_rollup_key_seat(&k, "acme", -1);
    cr_assert_str_eq(k.data, "acme|1969-12-31");
    tally_rollup_key_free(&k);
}

Test(rollup_record, keys_of_distinct_rollups_never_collide)
{
    /* Without escaping both would be "a|b|c|2024-05-01". */
    tally_rollup_key_t k1 = {0}, k2 = {0};
    tally_rollup_key_api(&k1, "a|b", "c", MAY_1);
    tally_rollup_key_api(&k2, "a", "b|c", MAY_1);
    cr_assert_str_eq(k1.data, "a%7Cb|c|2024-05-01");
    cr_assert_str_eq(k2.data, "a|b%7Cc|2024-05-01");
    /* The escape character is escaped too. */
    tally_rollup_key_api(&k1, "a%7Cb", "c", MAY_1);
    cr_assert_str_eq(k1.data, "a%257Cb|c|2024-05-01");
    tally_rollup_key_seat(&k2, "100%", MAY_1);
    cr_assert_str_eq(k2.data, "100%25|2024-05-01");
    tally_rollup_key_free(&k1);
    tally_rollup_key_free(&k2);
}

Test(rollup_record, long_ids_grow_the_key_buffer)
{
    char id[3000];
    memset(id, '|', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    tally_rollup_key_t k = {0};
    tally_rollup_key_seat(&k, id, MAY_1);
    cr_assert_eq(k.len, 3 * (sizeof id - 1) + strlen("|2024-05-01"));
    cr_assert_eq(strlen(k.data), k.len);
    tally_rollup_key_free(&k);
}

Test(rollup_record, api_rollup_round_trips_through_the_codec)
{
    char err[256];
    tally_catalog_t *cat = load();
    tally_rollup_record_t *rr = tally_rollup_record_new(cat, err, sizeof err);
    cr_assert_not_null(rr, "%s", err);
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    tally_api_rollup_t r = {.tenant_id = "acme", .environment_id = "prod", .day = MAY_1, .api_calls = 1234,
                            .status_4xx = 56, .status_5xx = 7, .exec_ms = INT64_C(9876543210),
                            .updated_at = INT64_C(1714575599999)};
    const char *key;
    const void *value;
    size_t key_len, len;
    cr_assert_eq(tally_rollup_record_api(rr, &r, &key, &key_len, &value, &len, err, sizeof err), 0, "%s", err);
    cr_assert_eq(key_len, strlen("acme|prod|2024-05-01"));
    cr_assert_eq(memcmp(key, "acme|prod|2024-05-01", key_len), 0);
    cr_assert_eq(((const unsigned char *)value)[0], 0xC3);
    agg_rollup_t out;
    cr_assert_eq(agg_rollup_decode(dec, value, len, &out), 0);
    cr_assert_eq(out.seat, 0);
    cr_assert_str_eq(out.tenant, "acme");
    cr_assert_str_eq(out.env, "prod");
    cr_assert_eq(out.day, MAY_1);
    cr_assert_eq(out.v[0], 1234);
    cr_assert_eq(out.v[1], 56);
    cr_assert_eq(out.v[2], 7);
    cr_assert_eq(out.v[3], INT64_C(9876543210));
    cr_assert_eq(out.updated_at, INT64_C(1714575599999));
    tally_decoder_free(dec);
    tally_rollup_record_free(rr);
    tally_catalog_free(cat);
}

Test(rollup_record, seat_rollup_round_trips_through_the_codec)
{
    char err[256];
    tally_catalog_t *cat = load();
    tally_rollup_record_t *rr = tally_rollup_record_new(cat, err, sizeof err);
    cr_assert_not_null(rr, "%s", err);
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    const char *key;
    const void *value;
    size_t key_len, len;
    agg_rollup_t out;
    /* The same encoder, reused: nothing of the first value leaks into the second. */
    for (int i = 0; i < 2; i++) {
        tally_seat_rollup_t r = {.tenant_id = i ? "b" : "tenant-with-a-long-name", .day = MAY_1 + i,
                                 .seats_in_use = 3 + i, .seats_peak = 9 + i, .updated_at = 1714521600000 + i};
        cr_assert_eq(tally_rollup_record_seat(rr, &r, &key, &key_len, &value, &len, err, sizeof err), 0, "%s",
                     err);
        cr_assert_eq(agg_rollup_decode(dec, value, len, &out), 0);
        cr_assert_eq(out.seat, 1);
        cr_assert_str_eq(out.tenant, r.tenant_id);
        cr_assert_eq(out.day, MAY_1 + i);
        cr_assert_eq(out.v[0], 3 + i);
        cr_assert_eq(out.v[1], 9 + i);
        cr_assert_eq(out.updated_at, 1714521600000 + i);
    }
    cr_assert_eq(key_len, strlen("b|2024-05-02"));
    cr_assert_eq(memcmp(key, "b|2024-05-02", key_len), 0);
    tally_decoder_free(dec);
    tally_rollup_record_free(rr);
    tally_catalog_free(cat);
}

Test(rollup_record, a_catalog_without_rollup_schemas_is_refused)
{
    char err[256], dir[256], sub[300], file[350];
    snprintf(dir, sizeof dir, "/tmp/tally-test-rollup-record-%d", (int)getpid());
    snprintf(sub, sizeof sub, "%s/Other", dir);
    snprintf(file, sizeof file, "%s/1.avsc", sub);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_eq(mkdir(sub, 0700), 0);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("{\"type\": \"record\", \"name\": \"Other\", \"fields\": [{\"name\": \"x\", \"type\": \"long\"}]}\n", f);
    fclose(f);
    tally_catalog_t *cat = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    cr_assert_null(tally_rollup_record_new(cat, err, sizeof err));
    cr_assert(strstr(err, "ApiUsageRollup") != NULL, "%s", err);
    tally_catalog_free(cat);
    unlink(file);
    rmdir(sub);
    rmdir(dir);
}
