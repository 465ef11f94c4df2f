/* producers/gateway/keys: bearer-key authentication of usage reporters from
 * a key file (the PostgreSQL source is test_keys_pg.c's); header parsing
 * (what is refused before any hashing); refreshes that fail keep serving
 * the previous keys; lookups racing with refreshes never see a wrong
 * tenant; neither keys nor their hashes ever reach the log; environment
 * kinds, staleness and the admin token. */
#include "keys.h"
#include "keys_fixture.h"

#include "fixtures.h"
#include "log.h"
#include "pg.h"
#include "pg_migrate.h"
#include "tcp_proxy.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(keys, .init = keys_setup, .fini = keys_teardown);

Test(keys, file_source_maps_each_key_to_its_tenant_and_environment)
{
    char text[1024];
    snprintf(text, sizeof text,
             "# sha256 tenant environment\n"
             "\n"
             "%s acme prod\n"
             "   \t%s\tacme\tstaging   # rotated 2024-05\n"
             "%s globex-eu env_01\r\n",
             hex_of(KEY1), hex_of(KEY2), hex_of(KEY_PADDED));
    tally_keys_t *keys = loaded(text);

    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    cr_assert_str_eq(tenant, "acme");
    cr_assert_str_eq(env, "prod");
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_OK);
    cr_assert_str_eq(tenant, "acme");
    cr_assert_str_eq(env, "staging");
    cr_assert_eq(lookup(keys, "Bearer " KEY_PADDED), TALLY_KEYS_OK);
    cr_assert_str_eq(tenant, "globex-eu");
    cr_assert_str_eq(env, "env_01");

    tally_keys_stats_t st;
    tally_keys_stats(keys, &st);
    cr_assert_eq(st.active, 3);
    cr_assert_eq(st.refreshes_ok, 1);
    cr_assert_eq(st.refreshes_failed, 0);
    tally_keys_free(keys);
}

Test(keys, hash_is_lowercase_hex_sha256)
{
    char hex[TALLY_KEYS_HEX_SIZE];
    tally_keys_hash_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(keys, uppercase_hex_in_the_file_is_accepted)
{
    char text[256], upper[TALLY_KEYS_HEX_SIZE];
    snprintf(upper, sizeof upper, "%s", hex_of(KEY1));
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    snprintf(text, sizeof text, "%s acme prod\n", upper);
    tally_keys_t *keys = loaded(text);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    tally_keys_free(keys);
}

Test(keys, nothing_loaded_yet_is_unavailable_not_unknown)
{
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_UNAVAILABLE);
    /* Header errors are still told apart: they do not depend on the table. */
    cr_assert_eq(lookup(keys, NULL), TALLY_KEYS_MISSING);
    cr_assert_eq(lookup(keys, "Basic eDp5"), TALLY_KEYS_MALFORMED);
    tally_keys_free(keys);
}

Test(keys, unknown_key_is_unknown_and_leaves_the_outputs_alone)
{
    tally_keys_t *keys = loaded("");
    write_keys(path, KEY1, "acme prod", NULL, NULL);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    snprintf(tenant, sizeof tenant, "untouched");
    cr_assert_eq(tally_keys_lookup(keys, "Bearer " KEY2, tenant, sizeof tenant, env, sizeof env),
                 TALLY_KEYS_UNKNOWN);
    cr_assert_str_eq(tenant, "untouched");
    /* The hash itself is no key. */
    char header[128];
    snprintf(header, sizeof header, "Bearer %s", hex_of(KEY1));
    cr_assert_eq(lookup(keys, header), TALLY_KEYS_UNKNOWN);
    tally_keys_free(keys);
}

Test(keys, a_key_removed_from_the_file_is_refused_after_the_next_refresh)
{
    write_keys(path, KEY1, "acme prod", KEY2, "acme staging");
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_OK);
    write_keys(path, KEY1, "acme prod", NULL, NULL); /* KEY2 revoked */
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_UNKNOWN);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    tally_keys_free(keys);
}

/* ---- header forms ------------------------------------------------------ */

typedef struct {
    const char *header;
    int expect;
} header_case_t;

Test(keys, header_forms)
{
    char text[512];
    snprintf(text, sizeof text, "%s acme prod\n%s acme padded\n", hex_of(KEY1),
             hex_of(KEY_PADDED));
    tally_keys_t *keys = loaded(text);
    static const header_case_t cases[] = {
        {NULL, TALLY_KEYS_MISSING},
        {"", TALLY_KEYS_MISSING},
        {" \t ", TALLY_KEYS_MISSING},
        {"Bearer " KEY1, TALLY_KEYS_OK},
        {"bearer " KEY1, TALLY_KEYS_OK},          /* scheme is case-insensitive */
        {"BEARER " KEY1, TALLY_KEYS_OK},
        {"bEaReR " KEY1, TALLY_KEYS_OK},
        {"Bearer   " KEY1, TALLY_KEYS_OK},        /* 1*SP */
        {"  Bearer " KEY1 " \t", TALLY_KEYS_OK},  /* OWS around the value */
        {"Bearer " KEY_PADDED, TALLY_KEYS_OK},    /* b64token may end in '=' */
        {"Basic " KEY1, TALLY_KEYS_MALFORMED},
        {"Basic dXNlcjpwYXNz", TALLY_KEYS_MALFORMED},
        {"Bearer", TALLY_KEYS_MALFORMED},
        {"Bearer ", TALLY_KEYS_MALFORMED},
        {"Bearer    ", TALLY_KEYS_MALFORMED},
        {"Bearer" KEY1, TALLY_KEYS_MALFORMED},
        {"Bearer\t" KEY1, TALLY_KEYS_MALFORMED},  /* only SP separates */
        {"Bearer " KEY1 " extra", TALLY_KEYS_MALFORMED},
        {"Bearer " KEY1 ",", TALLY_KEYS_MALFORMED},
        {"Bearer " KEY1 "\r\n", TALLY_KEYS_MALFORMED},
        {"Bearer " KEY1 "\r\nX-Tenant: evil", TALLY_KEYS_MALFORMED},
        {"Bearer " KEY1 "\n", TALLY_KEYS_MALFORMED},
        {"Bearer ke\ry", TALLY_KEYS_MALFORMED},
        {"Bearer k\xc3\xa9y", TALLY_KEYS_MALFORMED},
        {"Bearer =abc", TALLY_KEYS_MALFORMED},    /* '=' only at the end */
        {"Bearer ab=c", TALLY_KEYS_MALFORMED},
        {"Bearer tk_live_unknown", TALLY_KEYS_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(lookup(keys, cases[i].header), cases[i].expect,
                     "case %zu (%s): got %d, expected %d", i,
                     cases[i].header ? cases[i].header : "NULL",
                     lookup(keys, cases[i].header), cases[i].expect);
    cr_assert_eq(lookup(keys, "bearer " KEY1), TALLY_KEYS_OK);
    cr_assert_str_eq(env, "prod");
    tally_keys_free(keys);
}

Test(keys, a_nul_inside_the_value_is_malformed)
{
    char text[256];
    snprintf(text, sizeof text, "%s acme prod\n", hex_of(KEY1));
    tally_keys_t *keys = loaded(text);
    static const char value[] = "Bearer " KEY1 "\0trailer";
    cr_assert_eq(tally_keys_lookup_n(keys, value, sizeof value - 1, tenant, sizeof tenant, env,
                                     sizeof env),
                 TALLY_KEYS_MALFORMED);
    /* The same bytes up to the NUL, with their own length, are the key. */
    cr_assert_eq(tally_keys_lookup_n(keys, value, strlen(value), tenant, sizeof tenant, env,
                                     sizeof env),
                 TALLY_KEYS_OK);
    tally_keys_free(keys);
}

Test(keys, a_header_over_the_cap_is_refused_even_if_the_key_is_valid)
{
    /* A 10 KB key that is in the table: refused for its size, unhashed. */
    size_t n = 10 * 1024;
    char *big = malloc(n + 8);
    cr_assert_not_null(big);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'k', n);
    big[7 + n] = '\0';
    char text[256];
    snprintf(text, sizeof text, "%s acme prod\n", hex_of(big + 7));
    tally_keys_t *keys = loaded(text);
    cr_assert_eq(lookup(keys, big), TALLY_KEYS_MALFORMED);

    /* Right at the cap still works; one byte more does not. */
    big[TALLY_KEYS_HEADER_MAX] = '\0';
    snprintf(text, sizeof text, "%s acme at-cap\n", hex_of(big + 7));
    write_file(path, text);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, big), TALLY_KEYS_OK);
    cr_assert_str_eq(env, "at-cap");
    big[TALLY_KEYS_HEADER_MAX] = 'k';
    big[TALLY_KEYS_HEADER_MAX + 1] = '\0';
    cr_assert_eq(lookup(keys, big), TALLY_KEYS_MALFORMED);
    free(big);
    tally_keys_free(keys);
}

Test(keys, a_too_small_id_buffer_is_reported_not_overrun)
{
    char text[256];
    snprintf(text, sizeof text, "%s acme-corporation prod\n", hex_of(KEY1));
    tally_keys_t *keys = loaded(text);
    char small[8] = "xxxxxxx";
    cr_assert_eq(tally_keys_lookup(keys, "Bearer " KEY1, small, sizeof small, env, sizeof env),
                 TALLY_KEYS_TOO_SMALL);
    cr_assert_str_eq(small, "xxxxxxx");
    cr_assert_str_neq(tally_keys_describe(TALLY_KEYS_TOO_SMALL), "unknown status");
    cr_assert_str_eq(tally_keys_describe(TALLY_KEYS_UNKNOWN), "unknown or revoked API key");
    tally_keys_free(keys);
}

/* ---- bad files --------------------------------------------------------- */

typedef struct {
    const char *why;
    const char *body;          /* HEX stands for a valid digest */
    const char *expect;        /* in the error */
} bad_file_t;

#define A16 "aaaaaaaaaaaaaaaa"

/* body with every "HEX" replaced by hex. */
static void expand(const char *body, const char *hex, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = body; *p != '\0' && n + 65 < size;) {
        if (strncmp(p, "HEX", 3) == 0) {
            memcpy(out + n, hex, 64);
            n += 64;
            p += 3;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
}

Test(keys, malformed_lines_are_named_by_line_number_without_their_content)
{
    static const bad_file_t cases[] = {
        {"short hash", "# c\nHEX acme prod\nabc123 acme prod\n", "line 3: first field"},
        {"not hex", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeZ acme prod\n",
         "line 1: first field"},
        {"two fields", "\n\nHEX acme\n", "line 3: expected"},
        {"five fields", "HEX acme prod production extra\n", "line 1: expected"},
        {"unknown kind", "HEX acme prod Production\n", "line 1: the kind"},
        {"long tenant", "HEX " A16 A16 A16 A16 A16 A16 A16 A16 "a prod\n",
         "line 1: tenant_id and environment_id"},
        {"control char", "HEX acme pr\001od\n", "line 1: tenant_id and environment_id"},
        {"nul byte", "HEX acme prod\n", "line 1: contains a NUL byte"},
        {"duplicate", "HEX acme prod\n\nHEX other prod\n", "line 3: same key as line 1"},
    };
    const char *hex = hex_of(KEY1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        expand(cases[i].body, hex, text, sizeof text);
        write_file(path, text);
        if (strcmp(cases[i].why, "nul byte") == 0) {
            FILE *f = fopen(path, "r+");
            cr_assert_not_null(f);
            cr_assert_eq(fseek(f, 66, SEEK_SET), 0);
            cr_assert_eq(fputc('\0', f), 0);
            cr_assert_eq(fclose(f), 0);
        }
        tally_keys_t *keys = tally_keys_new_file(path);
        cr_expect_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1, "%s", cases[i].why);
        cr_expect(strstr(errbuf, cases[i].expect) != NULL, "%s: error \"%s\" lacks \"%s\"",
                  cases[i].why, errbuf, cases[i].expect);
        cr_expect(strstr(errbuf, path) != NULL, "%s: error names no file", cases[i].why);
        cr_expect(strstr(errbuf, hex) == NULL, "%s: error carries the hash", cases[i].why);
        cr_expect_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_UNAVAILABLE, "%s", cases[i].why);
        tally_keys_free(keys);
    }
}

Test(keys, an_id_of_exactly_the_maximum_length_is_accepted)
{
    char text[512];
    expand("HEX " A16 A16 A16 A16 A16 A16 A16 A16 " prod\n", hex_of(KEY1), text, sizeof text);
    tally_keys_t *keys = loaded(text);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    cr_assert_eq(strlen(tenant), TALLY_KEYS_ID_MAX);
    tally_keys_free(keys);
}

Test(keys, a_missing_file_is_an_error_naming_it)
{
    tally_keys_t *keys = tally_keys_new_file("/nonexistent/tally/api_keys");
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    cr_assert(strstr(errbuf, "/nonexistent/tally/api_keys") != NULL, "%s", errbuf);
    tally_keys_free(keys);
}

Test(keys, a_failed_refresh_keeps_the_previous_table)
{
    write_keys(path, KEY1, "acme prod", KEY2, "acme staging");
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);

    write_file(path, "this is not a key file\n");
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_OK);
    cr_assert_str_eq(env, "staging");

    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);

    tally_keys_stats_t st;
    tally_keys_stats(keys, &st);
    cr_assert_eq(st.active, 2);
    cr_assert_eq(st.refreshes_ok, 1);
    cr_assert_eq(st.refreshes_failed, 2);
    tally_keys_free(keys);
}

Test(keys, the_log_never_carries_a_key_or_its_hash)
{
    char log_path[] = "/tmp/tally_test_keys_log_XXXXXX";
    int fd = mkstemp(log_path);
    cr_assert(fd >= 0);
    unlink(log_path);
    tally_log_set_fd(fd);
    tally_log_set_level(TALLY_LOG_DEBUG);

    char text[512];
    snprintf(text, sizeof text, "%s acme prod\n%s acme prod\n", hex_of(KEY1), hex_of(KEY1));
    write_file(path, text); /* duplicate: fails */
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    snprintf(text, sizeof text, "%s acme prod\nzz%s acme prod\n", hex_of(KEY2), hex_of(KEY1));
    write_file(path, text); /* bad hex: fails */
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    write_keys(path, KEY1, "acme prod", NULL, NULL);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    cr_assert_eq(lookup(keys, "Bearer " KEY2), TALLY_KEYS_UNKNOWN);
    cr_assert_eq(lookup(keys, "Basic " KEY3), TALLY_KEYS_MALFORMED);
    tally_keys_free(keys);

    char logbuf[8192];
    ssize_t n = pread(fd, logbuf, sizeof logbuf - 1, 0);
    cr_assert(n > 0, "the failed refreshes logged nothing");
    logbuf[n] = '\0';
    cr_assert(strstr(logbuf, "refresh failed") != NULL, "%s", logbuf);
    const char *secrets[] = {KEY1, KEY2, KEY3, hex_of(KEY1), hex_of(KEY2)};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        cr_assert(strstr(logbuf, secrets[i]) == NULL, "log carries secret %zu:\n%s", i, logbuf);
    tally_log_set_fd(STDERR_FILENO);
    close(fd);
}

/* ---- concurrency ------------------------------------------------------- */

typedef struct {
    tally_keys_t *keys;
    atomic_bool *stop;
    long lookups, wrong;
} reader_t;

/* KEY1 is in every version of the file with the same ids; KEY2 and KEY3
 * come and go; KEY_PADDED never exists. */
static void *reader_main(void *arg)
{
    reader_t *r = arg;
    char t[TALLY_KEYS_ID_SIZE], e[TALLY_KEYS_ID_SIZE];
    static const char *headers[] = {"Bearer " KEY1, "Bearer " KEY2, "Bearer " KEY3,
                                    "Bearer " KEY_PADDED};
    while (!atomic_load(r->stop)) {
        for (int i = 0; i < 4; i++) {
            int rc = tally_keys_lookup(r->keys, headers[i], t, sizeof t, e, sizeof e);
            r->lookups++;
            switch (i) {
            case 0:
                r->wrong += rc != TALLY_KEYS_OK || strcmp(t, "t1") || strcmp(e, "e1");
                break;
            case 1:
                r->wrong += rc == TALLY_KEYS_OK ? strcmp(t, "t2") || strcmp(e, "e2")
                                                : rc != TALLY_KEYS_UNKNOWN;
                break;
            case 2:
                r->wrong += rc == TALLY_KEYS_OK ? strcmp(t, "t3") || strcmp(e, "e3")
                                                : rc != TALLY_KEYS_UNKNOWN;
                break;
            default:
                r->wrong += rc != TALLY_KEYS_UNKNOWN;
            }
        }
    }
    return NULL;
}

Test(keys, lookups_from_8_threads_during_100_refreshes_never_see_a_wrong_tenant,
     .timeout = 120)
{
    write_keys(path, KEY1, "t1 e1", KEY2, "t2 e2");
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    atomic_bool stop = false;
    reader_t readers[8];
    pthread_t threads[8];
    for (int i = 0; i < 8; i++) {
        readers[i] = (reader_t){.keys = keys, .stop = &stop};
        cr_assert_eq(pthread_create(&threads[i], NULL, reader_main, &readers[i]), 0);
    }
    for (int i = 0; i < 100; i++) {
        if (i % 2)
            write_keys(path, KEY1, "t1 e1", KEY2, "t2 e2");
        else
            write_keys(path, KEY3, "t3 e3", KEY1, "t1 e1");
        if (i % 10 == 9)
            write_file(path, "garbage\n"); /* a failed refresh now and then */
        int rc = tally_keys_refresh(keys, errbuf, sizeof errbuf);
        cr_assert_eq(rc, i % 10 == 9 ? -1 : 0, "refresh %d: %s", i, errbuf);
        usleep(1000);
    }
    atomic_store(&stop, true);
    long lookups = 0, wrong = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        lookups += readers[i].lookups;
        wrong += readers[i].wrong;
    }
    cr_assert_eq(wrong, 0, "%ld of %ld lookups answered wrongly", wrong, lookups);
    cr_assert_gt(lookups, 1000);
    tally_keys_stats_t st;
    tally_keys_stats(keys, &st);
    cr_assert_eq(st.refreshes_ok, 91);
    cr_assert_eq(st.refreshes_failed, 10);
    tally_keys_free(keys);
}

Test(keys, the_refresh_thread_picks_up_changes_and_stops, .timeout = 30)
{
    write_keys(path, KEY1, "acme prod", NULL, NULL);
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(tally_keys_start_refresh(keys, 20, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(tally_keys_start_refresh(keys, 20, errbuf, sizeof errbuf), -1);
    cr_assert(strstr(errbuf, "already running") != NULL, "%s", errbuf);

    write_keys(path, KEY1, "acme prod", KEY2, "acme staging");
    int rc = TALLY_KEYS_UNKNOWN;
    for (int i = 0; i < 500 && rc != TALLY_KEYS_OK; i++) {
        usleep(10000);
        rc = lookup(keys, "Bearer " KEY2);
    }
    cr_assert_eq(rc, TALLY_KEYS_OK, "the new key never showed up");
    tally_keys_stop_refresh(keys);
    tally_keys_stop_refresh(keys); /* a second stop is a no-op */

    tally_keys_stats_t before, after;
    tally_keys_stats(keys, &before);
    usleep(100000);
    tally_keys_stats(keys, &after);
    cr_assert_eq(before.refreshes_ok, after.refreshes_ok, "refreshes went on after stop");

    cr_assert_eq(tally_keys_start_refresh(keys, 5, errbuf, sizeof errbuf), -1);
    cr_assert_eq(tally_keys_start_refresh(keys, 3600000, errbuf, sizeof errbuf), 0, "%s",
                 errbuf);
    tally_keys_free(keys); /* stops the thread without waiting an hour */
}

/* ---- environment kinds, staleness, deadlines, the admin token ---------- */

Test(keys, file_kind_column_and_lines_without_one, .init = keys_setup, .fini = keys_teardown)
{
    char text[1024];
    snprintf(text, sizeof text, "%s acme prod production\n%s acme stage staging # a comment\n"
             "%s acme dev\tdevelopment\n%s acme old\n",
             hex_of(KEY1), hex_of(KEY2), hex_of(KEY3), hex_of(KEY_PADDED));
    write_file(path, text);
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    expect_kind(keys, KEY1, TALLY_KEYS_PRODUCTION);
    expect_kind(keys, KEY2, TALLY_KEYS_STAGING);
    expect_kind(keys, KEY3, TALLY_KEYS_DEVELOPMENT);
    /* A line of the older 3-field format is a production key. */
    expect_kind(keys, KEY_PADDED, TALLY_KEYS_PRODUCTION);
    tally_keys_identity_t id;
    cr_assert_eq(identify(keys, "Bearer " KEY2, &id), TALLY_KEYS_OK);
    cr_assert_str_eq(id.tenant, "acme");
    cr_assert_str_eq(id.env, "stage");
    cr_assert_str_eq(tally_keys_kind_name(TALLY_KEYS_STAGING), "staging");
    tally_keys_free(keys);
}

/* The gateway's role reads the view and nothing else. */

Test(keys, stale_table_is_refused_until_a_refresh_succeeds, .init = keys_setup, .fini = keys_teardown)
{
    char why[256];
    write_keys(path, KEY1, "acme prod", NULL, NULL);
    tally_keys_t *keys = tally_keys_new_file(path);
    tally_keys_configure(keys, &(tally_keys_limits_t){.timeout_ms = 1000, .max_stale_ms = 300});
    cr_assert_eq(tally_keys_ready(keys, why, sizeof why), -1);
    cr_assert(strstr(why, "not loaded") != NULL, "%s", why);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(tally_keys_ready(keys, why, sizeof why), 0);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);

    /* The source breaks: the table is served until it is 300 ms old. */
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), -1);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    usleep(400000);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_STALE);
    cr_assert_eq(lookup(keys, "Bearer tk_unknown_key"), TALLY_KEYS_STALE, "stale: not even a 401");
    cr_assert_eq(tally_keys_ready(keys, why, sizeof why), -1);
    cr_assert(strstr(why, "stale") != NULL, "%s", why);
    tally_keys_stats_t st;
    tally_keys_stats(keys, &st);
    cr_assert_geq(st.age_ms, 300);

    /* The source is back: fresh again. */
    write_keys(path, KEY1, "acme prod", NULL, NULL);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_eq(lookup(keys, "Bearer " KEY1), TALLY_KEYS_OK);
    cr_assert_eq(tally_keys_ready(keys, why, sizeof why), 0);
    tally_keys_free(keys);
}

/* A refresh on a database that never answers gives up at the deadline,
 * both before the session is up and on a session that hangs mid-query. */

Test(keys, request_refresh_wakes_the_thread, .init = keys_setup, .fini = keys_teardown, .timeout = 30)
{
    write_keys(path, KEY1, "acme prod", NULL, NULL);
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_request_refresh(keys), -1, "no thread yet");
    cr_assert_eq(tally_keys_start_refresh(keys, 3600000, errbuf, sizeof errbuf), 0, "%s", errbuf);
    int rc = TALLY_KEYS_UNAVAILABLE;
    for (int i = 0; i < 200 && rc != TALLY_KEYS_OK; i++) {
        usleep(10000);
        rc = lookup(keys, "Bearer " KEY1);
    }
    cr_assert_eq(rc, TALLY_KEYS_OK, "the thread loads at once");
    write_keys(path, KEY2, "acme prod", NULL, NULL);
    cr_assert_eq(tally_keys_request_refresh(keys), 0);
    rc = TALLY_KEYS_UNKNOWN;
    for (int i = 0; i < 200 && rc != TALLY_KEYS_OK; i++) {
        usleep(10000);
        rc = lookup(keys, "Bearer " KEY2);
    }
    cr_assert_eq(rc, TALLY_KEYS_OK, "a requested refresh never came");
    tally_keys_free(keys);
}

Test(keys, admin_token_check)
{
    cr_assert_eq(tally_keys_check_admin_token("0123456789abcdef0123456789abcdef", errbuf, sizeof errbuf), 0, "%s",
                 errbuf);
    cr_assert_eq(tally_keys_check_admin_token("tk-admin_~+/0123456789abcdefABCDEF==", errbuf, sizeof errbuf), 0,
                 "%s", errbuf);
    const char *bad[] = {"0123456789abcdef0123456789abcde", "", "0123456789abcdef 0123456789abcdef",
                         "0123456789abcdef0123456789abcdef!", "0123456789abcdef0123456789abcdef\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errbuf[0] = '\0';
        cr_expect_eq(tally_keys_check_admin_token(bad[i], errbuf, sizeof errbuf), -1, "accepted: \"%s\"", bad[i]);
        cr_expect(errbuf[0] != '\0', "no reason for \"%s\"", bad[i]);
        if (bad[i][0])
            cr_expect_null(strstr(errbuf, bad[i]), "the reason carries the token: %s", errbuf);
    }
    cr_assert_eq(tally_keys_check_admin_token("short", errbuf, sizeof errbuf), -1);
    cr_assert(strstr(errbuf, "32") != NULL, "the reason says the minimum: %s", errbuf);
}
