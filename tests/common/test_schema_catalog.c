/*
 * The schema catalog: the real schemas/ folder, several versions of one
 * name, and folders that must be refused with a message naming the file.
 */
#define _XOPEN_SOURCE 700   /* nftw */

#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <avro.h>

#include "avro_canonical.h"
#include "catalog_dir.h"
#include "schema_catalog.h"

static const char *const real_names[] = {
    "ApiUsageRollup", "ControlPanelEvent", "ProductEvent", "ProductEventClean",
    "SeatEvent", "SeatEventClean", "SeatRollup", "UsageReport",
};

static tally_catalog_t *load_real(void)
{
    char dir[4096], err[512] = "";
    const char *src = getenv("TALLY_SOURCE_DIR");
    tally_catalog_t *cat;

    cr_assert_not_null(src, "TALLY_SOURCE_DIR is not set");
    snprintf(dir, sizeof dir, "%s/schemas", src);
    cat = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    return cat;
}

Test(schema_catalog, loads_the_real_schemas)
{
    tally_catalog_t *cat = load_real();
    size_t n = tally_catalog_count(cat);

    for (size_t i = 0; i < sizeof real_names / sizeof real_names[0]; i++) {
        const tally_catalog_entry_t *e = tally_catalog_latest(cat, real_names[i]);
        cr_assert_not_null(e, "%s missing", real_names[i]);
        cr_expect_str_eq(e->name, real_names[i]);
        cr_expect_geq(e->version, 1);
        cr_expect(is_avro_record(e->schema));
        cr_expect_str_eq(avro_schema_name(e->schema), real_names[i]);
        cr_expect_str_eq(avro_schema_namespace(e->schema), "tally");
        cr_expect_eq(tally_catalog_find(cat, e->fingerprint), e, "%s not found by fingerprint",
                     real_names[i]);
    }

    /* Every version, of every name, by fingerprint and by (name, version). */
    cr_assert_geq(n, 8);
    for (size_t i = 0; i < n; i++) {
        const tally_catalog_entry_t *e = tally_catalog_entry(cat, i);
        const tally_catalog_entry_t *latest = tally_catalog_latest(cat, e->name);
        avro_schema_t back;

        cr_expect_eq(e->index, i);
        cr_expect_eq(tally_catalog_get(cat, e->name, e->version), e);
        cr_expect_eq(tally_catalog_find(cat, e->fingerprint)->fingerprint, e->fingerprint);
        cr_expect_geq(latest->version, e->version);
        cr_expect_eq(e->fingerprint, tally_avro_fingerprint64(e->canonical, strlen(e->canonical)));
        cr_expect(strstr(e->path, e->name) != NULL);
        cr_expect(strstr(e->canonical, "\"doc\"") == NULL && strstr(e->canonical, "logicalType") == NULL);
        /* The canonical form is the same schema to avro-c. */
        cr_assert_eq(avro_schema_from_json_length(e->canonical, strlen(e->canonical), &back), 0,
                     "%s: %s", e->path, avro_strerror());
        cr_expect(avro_schema_equal(back, e->schema), "%s", e->path);
        avro_schema_decref(back);
        if (i > 0) {
            const tally_catalog_entry_t *prev = tally_catalog_entry(cat, i - 1);
            int c = strcmp(prev->name, e->name);
            cr_expect(c < 0 || (c == 0 && prev->version < e->version), "not in (name, version) order");
        }
    }
    cr_expect_null(tally_catalog_entry(cat, n));
    cr_expect_null(tally_catalog_latest(cat, "NoSuchSchema"));
    cr_expect_null(tally_catalog_get(cat, "UsageReport", 999));
    cr_expect_null(tally_catalog_find(cat, 0));
    tally_catalog_free(cat);
}

Test(schema_catalog, versions_of_one_name, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char err[512] = "";
    tally_catalog_t *cat;
    const tally_catalog_entry_t *v1, *v2, *v10;

    put("Thing", "1.avsc", "{\"type\":\"record\",\"name\":\"Thing\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}");
    put("Thing", "2.avsc", "{\"type\":\"record\",\"name\":\"Thing\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
                           "{\"name\":\"b\",\"type\":\"int\",\"default\":0}]}");
    /* Only the docs changed: same canonical form, same fingerprint. */
    put("Thing", "10.avsc", "{\"type\":\"record\",\"name\":\"Thing\",\"doc\":\"now documented\",\"fields\":["
                            "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\",\"default\":0}]}");
    put("Thing", "notes.txt", "not a schema");
    put("Thing", ".3.avsc", "hidden: ignored");
    put(".hidden", "1.avsc", "ignored");
    put("Other", "1.avsc", "{\"type\":\"enum\",\"name\":\"Other\",\"namespace\":\"t\",\"symbols\":[\"A\"]}");
    put(".", "product-events.json", "{\"not\": \"a schema\"}");

    cat = tally_catalog_load(tmpdir, err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    cr_expect_eq(tally_catalog_count(cat), 4);
    v1 = tally_catalog_get(cat, "Thing", 1);
    v2 = tally_catalog_get(cat, "Thing", 2);
    v10 = tally_catalog_get(cat, "Thing", 10);
    cr_assert(v1 && v2 && v10);
    cr_expect_eq(tally_catalog_latest(cat, "Thing"), v10);
    cr_expect_neq(v1->fingerprint, v2->fingerprint);
    cr_expect_eq(v2->fingerprint, v10->fingerprint);
    cr_expect_eq(tally_catalog_find(cat, v1->fingerprint), v1);
    cr_expect_eq(tally_catalog_find(cat, v2->fingerprint), v10);
    cr_expect_str_eq(tally_catalog_latest(cat, "Other")->canonical,
                     "{\"name\":\"t.Other\",\"type\":\"enum\",\"symbols\":[\"A\"]}");
    tally_catalog_free(cat);
}

/* Loads tmpdir, expects failure, and returns the message. */
static void expect_refused(const char *needle1, const char *needle2)
{
    char err[512] = "";
    tally_catalog_t *cat = tally_catalog_load(tmpdir, err, sizeof err);

    cr_assert_null(cat, "catalog accepted");
    cr_expect(strstr(err, needle1) != NULL, "message \"%s\" lacks \"%s\"", err, needle1);
    if (needle2 != NULL)
        cr_expect(strstr(err, needle2) != NULL, "message \"%s\" lacks \"%s\"", err, needle2);
}

Test(schema_catalog, invalid_json_names_the_file, .init = make_tmpdir, .fini = remove_tmpdir)
{
    put("Good", "1.avsc", "{\"type\":\"record\",\"name\":\"Good\",\"fields\":[]}");
    put("Broken", "1.avsc", "{\"type\":\"record\",\"name\":\"Broken\",\n \"fields\": [}");
    expect_refused("Broken/1.avsc", "invalid JSON");
}

Test(schema_catalog, schema_avro_rejects_names_the_file, .init = make_tmpdir, .fini = remove_tmpdir)
{
    put("Broken", "2.avsc", "{\"type\":\"record\",\"name\":\"Broken\",\"fields\":[{\"name\":\"a\",\"type\":\"lung\"}]}");
    expect_refused("Broken/2.avsc", "lung");
}

Test(schema_catalog, name_must_match_folder, .init = make_tmpdir, .fini = remove_tmpdir)
{
    put("Thing", "1.avsc", "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}");
    expect_refused("Thing/1.avsc", "Other");
}

Test(schema_catalog, version_must_be_a_positive_integer, .init = make_tmpdir, .fini = remove_tmpdir)
{
    put("Thing", "v1.avsc", "{\"type\":\"record\",\"name\":\"Thing\",\"fields\":[]}");
    expect_refused("Thing/v1.avsc", "version");
}

Test(schema_catalog, same_fingerprint_under_two_names, .init = make_tmpdir, .fini = remove_tmpdir)
{
    put("Alpha", "1.avsc", "\"string\"");
    put("Beta", "1.avsc", "{\"type\": \"string\"}");
    expect_refused("Alpha/1.avsc", "Beta/1.avsc");
}

Test(schema_catalog, empty_folder_is_an_error, .init = make_tmpdir, .fini = remove_tmpdir)
{
    expect_refused(tmpdir, "no");
    put(".", "product-events.json", "{}");
    put("Empty", "README", "nothing here");
    expect_refused(tmpdir, "no");
}

Test(schema_catalog, missing_folder_is_an_error)
{
    char err[512] = "";

    cr_assert_null(tally_catalog_load("/nonexistent/tally/schemas", err, sizeof err));
    cr_expect(strstr(err, "/nonexistent/tally/schemas") != NULL, "%s", err);
    tally_catalog_free(NULL);
}
