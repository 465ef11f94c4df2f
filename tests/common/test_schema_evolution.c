/*
 * ControlPanelEvent version 2, the first real schema evolution, in both
 * directions through the codec:
 *   - records written with version 1 (every branch) decode with a version
 *     2 reader to the same values;
 *   - a version 1 reader decodes version 2 records of the old branches,
 *     and for the new branches (ConsoleTokenIssued, ConsoleTokenRevoked)
 *     gets TALLY_CODEC_ERR_UNKNOWN_BRANCH ("unknown_branch"), only for an
 *     otherwise sound body, and stays usable afterwards;
 *   - a catalog that lacks version 2 cannot read a version 2 record at all
 *     (unknown_schema): the writer schema must be deployed before writers.
 * Versions 3 (LicenseIssued, LicenseRevoked) and 4 (AlertRulesSet,
 * WebhookEndpointSet) append to the union the same way, and are proven the
 * same way: every older version's records read with the newer reader, and
 * every older reader gets unknown_branch for the newer branches only.
 * Run under ASan too: no leak, no crash.
 */
#define _XOPEN_SOURCE 700

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <avro.h>

#include "codec.h"
#include "schema_catalog.h"

static const char *const v1_branches[] = {
    "TenantRegistered", "EnvironmentCreated", "EnvironmentDeleted", "MemberAdded",
    "MemberRemoved",    "LicenseTermsSet",    "ApiKeyIssued",       "ApiKeyRevoked",
};
#define N_V1 (sizeof v1_branches / sizeof v1_branches[0])

static tally_catalog_t *load_dir(const char *dir)
{
    char err[512] = "";
    tally_catalog_t *cat = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    return cat;
}

static tally_catalog_t *load_schemas(void)
{
    char dir[4096];
    cr_assert_not_null(getenv("TALLY_SOURCE_DIR"), "TALLY_SOURCE_DIR is not set");
    snprintf(dir, sizeof dir, "%s/schemas", getenv("TALLY_SOURCE_DIR"));
    return load_dir(dir);
}

static const tally_catalog_entry_t *cpe(const tally_catalog_t *cat, int version)
{
    const tally_catalog_entry_t *e = tally_catalog_get(cat, "ControlPanelEvent", version);
    cr_assert_not_null(e, "no ControlPanelEvent v%d", version);
    return e;
}

/* Fills every field of v (a datum of schema s) with values derived from
 * seed, so two fills with the same seed are equal. */
static void fill(avro_value_t *v, int seed, int depth)
{
    avro_schema_t s = avro_value_get_schema(v);
    avro_value_t child;
    char text[64];
    size_t n;

    cr_assert(depth < 8);
    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        snprintf(text, sizeof text, "text-%d \xc3\xa9", seed);
        cr_assert_eq(avro_value_set_string(v, text), 0);
        break;
    case AVRO_INT64:
        cr_assert_eq(avro_value_set_long(v, INT64_C(1700000000000) + seed), 0);
        break;
    case AVRO_INT32:
        cr_assert_eq(avro_value_set_int(v, 19700 + seed), 0);
        break;
    case AVRO_ENUM:
        cr_assert_eq(avro_value_set_enum(v, seed % avro_schema_enum_number_of_symbols(s)), 0);
        break;
    case AVRO_ARRAY:
        cr_assert_eq(avro_value_reset(v), 0);
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(avro_value_append(v, &child, NULL), 0);
            fill(&child, seed + i, depth + 1);
        }
        break;
    case AVRO_RECORD:
        cr_assert_eq(avro_value_get_size(v, &n), 0);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(avro_value_get_by_index(v, i, &child, NULL), 0);
            fill(&child, seed + (int)i, depth + 1);
        }
        break;
    case AVRO_NULL:
        cr_assert_eq(avro_value_set_null(v), 0);
        break;
    case AVRO_UNION:
        /* ["null", "string"]: both branches over the seeds. */
        cr_assert_eq(avro_value_set_branch(v, seed % (int)avro_schema_union_size(s), &child), 0);
        fill(&child, seed, depth + 1);
        break;
    default:
        cr_assert_fail("unexpected type %d in ControlPanelEvent", (int)avro_value_get_type(v));
    }
}

/* A ControlPanelEvent of version e with payload branch name (seeded). */
static void fill_event(avro_value_t *v, const tally_catalog_entry_t *e, const char *branch, int seed)
{
    avro_value_t f, b;
    int idx = -1;

    cr_assert_eq(avro_value_reset(v), 0);
    cr_assert_eq(avro_value_get_by_name(v, "event_id", &f, NULL), 0);
    fill(&f, seed, 1);
    cr_assert_eq(avro_value_get_by_name(v, "tenant_id", &f, NULL), 0);
    cr_assert_eq(avro_value_set_string(&f, "tenant-42"), 0);
    cr_assert_eq(avro_value_get_by_name(v, "occurred_at", &f, NULL), 0);
    cr_assert_eq(avro_value_set_long(&f, INT64_C(1700000000001)), 0);
    cr_assert_eq(avro_value_get_by_name(v, "received_at", &f, NULL), 0);
    cr_assert_eq(avro_value_set_long(&f, INT64_C(1700000000002)), 0);
    cr_assert_eq(avro_value_get_by_name(v, "payload", &f, NULL), 0);
    cr_assert_not_null(avro_schema_union_branch_by_name(avro_value_get_schema(&f), &idx, branch),
                       "%s v%d has no branch %s", e->name, e->version, branch);
    cr_assert_eq(avro_value_set_branch(&f, idx, &b), 0);
    fill(&b, seed, 1);
}

/* Encodes a ControlPanelEvent of version e with the branch; malloc'd. */
static uint8_t *encode_event(const tally_catalog_entry_t *e, const char *branch, int seed, size_t *len,
                             char **json)
{
    char err[512] = "";
    avro_value_t v;
    const void *out;
    tally_encoder_t *enc = tally_encoder_new(e);

    cr_assert_eq(tally_codec_value_new(e, &v, err, sizeof err), 0, "%s", err);
    fill_event(&v, e, branch, seed);
    cr_assert_eq(tally_encoder_encode(enc, &v, &out, len, err, sizeof err), 0, "%s", err);
    uint8_t *copy = malloc(*len);
    cr_assert_not_null(copy);
    memcpy(copy, out, *len);
    if (json != NULL)
        cr_assert_eq(avro_value_to_json(&v, 1, json), 0);
    avro_value_decref(&v);
    tally_encoder_free(enc);
    return copy;
}

/* The payload branch name of a decoded value. */
static const char *branch_of(avro_value_t *v)
{
    avro_value_t f, b;
    cr_assert_eq(avro_value_get_by_name(v, "payload", &f, NULL), 0);
    cr_assert_eq(avro_value_get_current_branch(&f, &b), 0);
    return avro_schema_type_name(avro_value_get_schema(&b));
}

/* Writer version w, reader version r, branch: decodes to the same JSON
 * (avro-c names union branches, so v1 and v2 JSON compare directly). */
static void expect_same(tally_decoder_t *dec, const tally_catalog_t *cat, int w, const char *branch, int seed)
{
    char err[512] = "", *want = NULL, *got = NULL;
    size_t len;
    avro_value_t *v;
    const tally_catalog_entry_t *writer = NULL;
    uint8_t *buf = encode_event(cpe(cat, w), branch, seed, &len, &want);

    cr_assert_eq(tally_decoder_decode(dec, buf, len, &v, &writer, err, sizeof err), 0, "%s v%d: %s", branch, w, err);
    cr_assert_eq(writer->fingerprint, cpe(cat, w)->fingerprint);
    cr_assert_str_eq(branch_of(v), branch);
    cr_assert_eq(avro_value_to_json(v, 1, &got), 0);
    cr_assert_str_eq(got, want, "%s written v%d", branch, w);
    free(want);
    free(got);
    free(buf);
}

TestSuite(schema_evolution, .timeout = 60);

Test(schema_evolution, v2_appends_the_token_branches_and_keeps_v1)
{
    tally_catalog_t *cat = load_schemas();
    const tally_catalog_entry_t *v1 = cpe(cat, 1), *v2 = cpe(cat, 2);
    avro_schema_t u1 = avro_schema_record_field_get(v1->schema, "payload");
    avro_schema_t u2 = avro_schema_record_field_get(v2->schema, "payload");

    cr_assert_eq(tally_catalog_latest(cat, "ControlPanelEvent"), cpe(cat, 4));
    cr_assert_neq(v1->fingerprint, v2->fingerprint);
    cr_assert_eq(avro_schema_union_size(u1), N_V1);
    cr_assert_eq(avro_schema_union_size(u2), N_V1 + 2);
    /* Old branches keep their positions, the new ones come last. */
    for (size_t i = 0; i < N_V1; i++) {
        cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u1, (int)i)), v1_branches[i]);
        cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u2, (int)i)), v1_branches[i]);
    }
    cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u2, N_V1)), "ConsoleTokenIssued");
    cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u2, N_V1 + 1)), "ConsoleTokenRevoked");
    cr_assert_str_eq(tally_codec_error_name(TALLY_CODEC_ERR_UNKNOWN_BRANCH), "unknown_branch");
    tally_catalog_free(cat);
}

Test(schema_evolution, v1_records_of_every_branch_decode_with_a_v2_reader)
{
    tally_catalog_t *cat = load_schemas();
    tally_decoder_t *dec = tally_decoder_new(cat, cpe(cat, 2));

    /* Twice over, so the decoder also moves between branches. */
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < N_V1; i++)
            expect_same(dec, cat, 1, v1_branches[i], (int)(i + 10 * round));
    /* And v2's own records, the new branches included, in between. */
    expect_same(dec, cat, 2, "ConsoleTokenIssued", 3);
    expect_same(dec, cat, 1, "MemberAdded", 4);
    expect_same(dec, cat, 2, "ConsoleTokenRevoked", 5);
    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

Test(schema_evolution, v1_reader_decodes_v2_records_of_the_old_branches)
{
    tally_catalog_t *cat = load_schemas();
    tally_decoder_t *dec = tally_decoder_new(cat, cpe(cat, 1));

    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < N_V1; i++)
            expect_same(dec, cat, 2, v1_branches[i], (int)(i + 10 * round));
    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

static int decode_rc(tally_decoder_t *dec, const uint8_t *buf, size_t len, char *err, size_t errsize)
{
    avro_value_t *v;
    return tally_decoder_decode(dec, buf, len, &v, NULL, err, errsize);
}

Test(schema_evolution, v1_reader_gets_unknown_branch_for_the_token_branches_and_goes_on)
{
    tally_catalog_t *cat = load_schemas();
    tally_decoder_t *dec = tally_decoder_new(cat, cpe(cat, 1));
    const char *fresh[] = {"ConsoleTokenIssued", "ConsoleTokenRevoked"};
    char err[512];

    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < 2; k++) {
            size_t len;
            uint8_t *buf = encode_event(cpe(cat, 2), fresh[k], round, &len, NULL);
            err[0] = '\0';
            cr_assert_eq(decode_rc(dec, buf, len, err, sizeof err), TALLY_CODEC_ERR_UNKNOWN_BRANCH,
                         "%s: %s", fresh[k], err);
            cr_assert(strstr(err, fresh[k]) != NULL, "the error names the branch: %s", err);
            cr_assert(strstr(err, "ControlPanelEvent v1") != NULL, "and the reader: %s", err);

            /* Damaged, it is not "unknown branch" but corrupt. */
            cr_assert_eq(decode_rc(dec, buf, len - 1, err, sizeof err), TALLY_CODEC_ERR_BODY, "%s", err);
            uint8_t *longer = malloc(len + 1);
            memcpy(longer, buf, len);
            longer[len] = 0;
            cr_assert_eq(decode_rc(dec, longer, len + 1, err, sizeof err), TALLY_CODEC_ERR_TRAILING, "%s", err);
            free(longer);
            free(buf);

            /* The decoder is still good for the next records, of either version. */
            expect_same(dec, cat, 2, v1_branches[(round + k) % N_V1], round);
            expect_same(dec, cat, 1, v1_branches[(round + k + 3) % N_V1], round);
        }
    }
    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

Test(schema_evolution, a_v2_reader_of_the_same_bytes_reads_the_token_branches)
{
    tally_catalog_t *cat = load_schemas();
    tally_decoder_t *old = tally_decoder_new(cat, cpe(cat, 1));
    tally_decoder_t *cur = tally_decoder_new(cat, cpe(cat, 2));
    tally_decoder_t *any = tally_decoder_new_any(cat);
    char err[512] = "", *want = NULL, *got = NULL;
    size_t len;
    avro_value_t *v, *f, token, field;
    uint8_t *buf = encode_event(cpe(cat, 2), "ConsoleTokenIssued", 7, &len, &want);

    cr_assert_eq(decode_rc(old, buf, len, err, sizeof err), TALLY_CODEC_ERR_UNKNOWN_BRANCH);
    cr_assert_eq(tally_decoder_decode(cur, buf, len, &v, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(avro_value_to_json(v, 1, &got), 0);
    cr_assert_str_eq(got, want);
    cr_assert_eq(tally_decoder_decode(any, buf, len, &f, NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(avro_value_get_by_name(f, "payload", &token, NULL), 0);
    cr_assert_eq(avro_value_get_current_branch(&token, &token), 0);
    cr_assert_eq(avro_value_get_by_name(&token, "expires_at", &field, NULL), 0);
    int64_t ms;
    cr_assert_eq(avro_value_get_long(&field, &ms), 0);
    cr_assert_eq(ms, INT64_C(1700000000000) + 7 + 3);
    free(want);
    free(got);
    free(buf);
    tally_decoder_free(any);
    tally_decoder_free(cur);
    tally_decoder_free(old);
    tally_catalog_free(cat);
}

/* A copy of schemas/ with ControlPanelEvent 1.avsc only (a deployment that
 * never received 2.avsc, 3.avsc nor 4.avsc). */
static void v1_only_catalog_dir(char *dir, size_t size)
{
    char cmd[8192];
    snprintf(dir, size, "/tmp/tally-evolution-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/schemas' '%s' && rm '%s/ControlPanelEvent/2.avsc' '%s/ControlPanelEvent/3.avsc' "
             "'%s/ControlPanelEvent/4.avsc'",
             dir, getenv("TALLY_SOURCE_DIR"), dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(schema_evolution, a_catalog_without_v2_cannot_read_any_v2_record)
{
    char dir[256], cmd[512], err[512] = "";
    tally_catalog_t *full = load_schemas();
    v1_only_catalog_dir(dir, sizeof dir);
    tally_catalog_t *cat = load_dir(dir);
    tally_decoder_t *dec = tally_decoder_new(cat, tally_catalog_latest(cat, "ControlPanelEvent"));
    size_t len;

    cr_assert_eq(tally_catalog_latest(cat, "ControlPanelEvent")->version, 1);
    /* Without the writer schema not even an old branch can be read: the
     * fingerprint names a schema this catalog does not hold. */
    const char *which[] = {"ConsoleTokenIssued", "MemberAdded"};
    for (int k = 0; k < 2; k++) {
        uint8_t *buf = encode_event(cpe(full, 2), which[k], k, &len, NULL);
        cr_assert_eq(decode_rc(dec, buf, len, err, sizeof err), TALLY_CODEC_ERR_UNKNOWN_SCHEMA, "%s", err);
        free(buf);
    }
    expect_same(dec, full, 1, "MemberAdded", 1);
    tally_decoder_free(dec);
    tally_catalog_free(cat);
    tally_catalog_free(full);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- version 3: LicenseIssued and LicenseRevoked after the token branches */

static const char *const v2_branches[] = {"ConsoleTokenIssued", "ConsoleTokenRevoked"};
static const char *const v3_branches[] = {"LicenseIssued", "LicenseRevoked"};

Test(schema_evolution, v3_appends_the_license_branches_and_keeps_v2)
{
    tally_catalog_t *cat = load_schemas();
    avro_schema_t u2 = avro_schema_record_field_get(cpe(cat, 2)->schema, "payload");
    avro_schema_t u3 = avro_schema_record_field_get(cpe(cat, 3)->schema, "payload");

    cr_assert_neq(cpe(cat, 2)->fingerprint, cpe(cat, 3)->fingerprint);
    cr_assert_eq(avro_schema_union_size(u3), N_V1 + 4);
    for (size_t i = 0; i < N_V1 + 2; i++)
        cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u3, (int)i)),
                         avro_schema_type_name(avro_schema_union_branch(u2, (int)i)));
    cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u3, N_V1 + 2)), "LicenseIssued");
    cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u3, N_V1 + 3)), "LicenseRevoked");
    tally_catalog_free(cat);
}

Test(schema_evolution, v1_and_v2_records_of_every_branch_decode_with_a_v3_reader)
{
    tally_catalog_t *cat = load_schemas();
    tally_decoder_t *dec = tally_decoder_new(cat, cpe(cat, 3));

    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N_V1; i++) {
            expect_same(dec, cat, 1, v1_branches[i], (int)(i + 10 * round));
            expect_same(dec, cat, 2, v1_branches[i], (int)(i + 20 * round));
        }
        for (size_t k = 0; k < 2; k++) {
            expect_same(dec, cat, 2, v2_branches[k], (int)(k + round));
            /* seeds 0 and 1: member_id/environment_id null and set */
            expect_same(dec, cat, 3, v3_branches[k], (int)(k + round));
        }
    }
    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

Test(schema_evolution, v1_and_v2_readers_get_unknown_branch_for_the_license_branches_and_go_on)
{
    tally_catalog_t *cat = load_schemas();
    char err[512], reader[64];

    for (int r = 1; r <= 2; r++) {
        tally_decoder_t *dec = tally_decoder_new(cat, cpe(cat, r));
        snprintf(reader, sizeof reader, "ControlPanelEvent v%d", r);
        for (int round = 0; round < 2; round++) {
            for (size_t k = 0; k < 2; k++) {
                size_t len;
                uint8_t *buf = encode_event(cpe(cat, 3), v3_branches[k], round, &len, NULL);
                err[0] = '\0';
                cr_assert_eq(decode_rc(dec, buf, len, err, sizeof err), TALLY_CODEC_ERR_UNKNOWN_BRANCH,
                             "v%d reader, %s: %s", r, v3_branches[k], err);
                cr_assert(strstr(err, v3_branches[k]) != NULL, "the error names the branch: %s", err);
                cr_assert(strstr(err, reader) != NULL, "and the reader: %s", err);
                cr_assert_eq(decode_rc(dec, buf, len - 1, err, sizeof err), TALLY_CODEC_ERR_BODY, "%s", err);
                free(buf);
                /* Still good for v3 records of the branches it knows. */
                expect_same(dec, cat, 3, v1_branches[(round + k) % N_V1], round);
                if (r == 2)
                    expect_same(dec, cat, 3, v2_branches[k], round);
            }
        }
        tally_decoder_free(dec);
    }
    tally_catalog_free(cat);
}

/* ---- version 4: AlertRulesSet and WebhookEndpointSet after the license branches */

static const char *const v4_branches[] = {"AlertRulesSet", "WebhookEndpointSet"};

Test(schema_evolution, v4_appends_the_alert_branches_and_keeps_v3)
{
    tally_catalog_t *cat = load_schemas();
    avro_schema_t u3 = avro_schema_record_field_get(cpe(cat, 3)->schema, "payload");
    avro_schema_t u4 = avro_schema_record_field_get(cpe(cat, 4)->schema, "payload");

    cr_assert_eq(tally_catalog_latest(cat, "ControlPanelEvent"), cpe(cat, 4));
    cr_assert_neq(cpe(cat, 3)->fingerprint, cpe(cat, 4)->fingerprint);
    cr_assert_eq(avro_schema_union_size(u4), N_V1 + 6);
    for (size_t i = 0; i < N_V1 + 4; i++)
        cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u4, (int)i)),
                         avro_schema_type_name(avro_schema_union_branch(u3, (int)i)));
    cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u4, N_V1 + 4)), "AlertRulesSet");
    cr_assert_str_eq(avro_schema_type_name(avro_schema_union_branch(u4, N_V1 + 5)), "WebhookEndpointSet");
    tally_catalog_free(cat);
}

Test(schema_evolution, v1_v2_and_v3_records_of_every_branch_decode_with_a_v4_reader)
{
    tally_catalog_t *cat = load_schemas();
    tally_decoder_t *dec = tally_decoder_new(cat, cpe(cat, 4));

    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < N_V1; i++)
            for (int w = 1; w <= 4; w++)
                expect_same(dec, cat, w, v1_branches[i], (int)(i + 10 * (size_t)w * (size_t)(round + 1)));
        for (size_t k = 0; k < 2; k++) {
            for (int w = 2; w <= 4; w++)
                expect_same(dec, cat, w, v2_branches[k], (int)(k + (size_t)round));
            for (int w = 3; w <= 4; w++)
                expect_same(dec, cat, w, v3_branches[k], (int)(k + (size_t)round));
            expect_same(dec, cat, 4, v4_branches[k], (int)(k + (size_t)round));
        }
    }
    tally_decoder_free(dec);
    tally_catalog_free(cat);
}

Test(schema_evolution, v1_v2_and_v3_readers_get_unknown_branch_for_the_alert_branches_and_go_on)
{
    tally_catalog_t *cat = load_schemas();
    char err[512], reader[64];

    for (int r = 1; r <= 3; r++) {
        tally_decoder_t *dec = tally_decoder_new(cat, cpe(cat, r));
        snprintf(reader, sizeof reader, "ControlPanelEvent v%d", r);
        for (int round = 0; round < 2; round++) {
            for (size_t k = 0; k < 2; k++) {
                size_t len;
                uint8_t *buf = encode_event(cpe(cat, 4), v4_branches[k], round, &len, NULL);
                err[0] = '\0';
                cr_assert_eq(decode_rc(dec, buf, len, err, sizeof err), TALLY_CODEC_ERR_UNKNOWN_BRANCH,
                             "v%d reader, %s: %s", r, v4_branches[k], err);
                cr_assert(strstr(err, v4_branches[k]) != NULL, "the error names the branch: %s", err);
                cr_assert(strstr(err, reader) != NULL, "and the reader: %s", err);
                cr_assert_eq(decode_rc(dec, buf, len - 1, err, sizeof err), TALLY_CODEC_ERR_BODY, "%s", err);
                free(buf);
                /* Still good for v4 records of the branches it knows. */
                expect_same(dec, cat, 4, v1_branches[(round + k) % N_V1], round);
                if (r >= 2)
                    expect_same(dec, cat, 4, v2_branches[k], round);
                if (r == 3)
                    expect_same(dec, cat, 4, v3_branches[k], round);
            }
        }
        tally_decoder_free(dec);
    }
    tally_catalog_free(cat);
}
