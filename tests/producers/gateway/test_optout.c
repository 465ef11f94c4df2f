/* producers/gateway/optout: the operator's list of projects whose product
 * events are dropped: exact matches only, reloads that swap the list, bad
 * files refused with their line number (a failed reload keeps the list
 * served before), lookups racing with reloads. */
#include "optout.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64], path[128], errbuf[1024];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tally-test-optout-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/optout", dir);
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *text, size_t len)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rename(tmp, path), 0);
}

static void write_text(const char *text)
{
    write_file(text, strlen(text));
}

static tally_optout_t *loaded(const char *text)
{
    write_text(text);
    tally_optout_t *o = tally_optout_new(path, errbuf, sizeof errbuf);
    cr_assert_not_null(o, "%s", errbuf);
    return o;
}

TestSuite(optout, .init = setup, .fini = teardown);

Test(optout, listed_projects_match_exactly)
{
    tally_optout_t *o = loaded("# projects that asked us to stop\n"
                               "\n"
                               "3f0c1d2e-8a44-4c3e-9d1f-0a6b2c7d9e11\n"
                               "   acme-website\t  # ticket 1234\n"
                               "\tglobex\r\n"
                               "acme-website\n"
                               "   # indented comment\n"
                               "x#y\n");
    cr_assert(tally_optout_contains(o, "3f0c1d2e-8a44-4c3e-9d1f-0a6b2c7d9e11"));
    cr_assert(tally_optout_contains(o, "acme-website"));
    cr_assert(tally_optout_contains(o, "globex"));
    cr_assert(tally_optout_contains(o, "x#y"));      /* '#' inside an id is the id */

    cr_assert_not(tally_optout_contains(o, "acme"));              /* a prefix */
    cr_assert_not(tally_optout_contains(o, "acme-website2"));     /* an extension */
    cr_assert_not(tally_optout_contains(o, "ACME-WEBSITE"));      /* case-sensitive */
    cr_assert_not(tally_optout_contains(o, " globex"));
    cr_assert_not(tally_optout_contains(o, "3F0C1D2E-8A44-4C3E-9D1F-0A6B2C7D9E11"));
    cr_assert_not(tally_optout_contains(o, "x"));
    cr_assert_not(tally_optout_contains(o, ""));
    cr_assert_not(tally_optout_contains(o, NULL));
    cr_assert_not(tally_optout_contains(o, "# ticket 1234"));

    cr_assert(tally_optout_contains_n(o, "globex-extra", 6));
    cr_assert_not(tally_optout_contains_n(o, "globex\0", 7));     /* a NUL never matches */
    cr_assert_not(tally_optout_contains_n(o, NULL, 3));

    tally_optout_stats_t st;
    tally_optout_stats(o, &st);
    cr_assert_eq(st.projects, 4, "a repeated id counts once");
    cr_assert_eq(st.reloads_ok, 1);
    cr_assert_eq(st.reloads_failed, 0);
    tally_optout_free(o);
}

Test(optout, an_empty_list_matches_nothing)
{
    tally_optout_t *o = loaded("# nobody yet\n");
    cr_assert_not(tally_optout_contains(o, "acme"));
    tally_optout_stats_t st;
    tally_optout_stats(o, &st);
    cr_assert_eq(st.projects, 0);
    tally_optout_free(o);
    tally_optout_free(NULL);
}

Test(optout, many_projects_are_all_found)
{
    size_t cap = 5000 * 24, len = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int i = 4999; i >= 0; i--)    /* reverse order: the list sorts itself */
        len += (size_t)snprintf(text + len, cap - len, "project-%d\n", i * 2);
    write_file(text, len);
    free(text);
    tally_optout_t *o = tally_optout_new(path, errbuf, sizeof errbuf);
    cr_assert_not_null(o, "%s", errbuf);
    char id[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "project-%d", i);
        cr_assert_eq(tally_optout_contains(o, id), i % 2 == 0, "%s", id);
    }
    tally_optout_free(o);
}

Test(optout, reload_swaps_the_list)
{
    tally_optout_t *o = loaded("acme\nglobex\n");
    write_text("globex\ninitech\n");
    cr_assert(tally_optout_contains(o, "acme"), "changed before the reload");
    cr_assert_eq(tally_optout_reload(o, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_not(tally_optout_contains(o, "acme"));
    cr_assert(tally_optout_contains(o, "globex"));
    cr_assert(tally_optout_contains(o, "initech"));
    tally_optout_stats_t st;
    tally_optout_stats(o, &st);
    cr_assert_eq(st.projects, 2);
    cr_assert_eq(st.reloads_ok, 2);
    tally_optout_free(o);
}

typedef struct {
    const char *why;
    const char *text;
    size_t len;                /* 0: strlen(text) */
    const char *expect;
} bad_file_t;

Test(optout, bad_files_are_refused_naming_the_line)
{
    char long_line[TALLY_OPTOUT_ID_MAX + 8];
    memset(long_line, 'p', TALLY_OPTOUT_ID_MAX + 1);
    strcpy(long_line + TALLY_OPTOUT_ID_MAX + 1, "\n");
    const bad_file_t cases[] = {
        {"two ids", "acme\nacme globex\n", 0, "line 2: expected one project id per line"},
        {"control char", "acme\n\nglo\001bex\n", 0, "line 3: a project id is printable ASCII"},
        {"non-ascii", "caf\xc3\xa9\n", 0, "line 1: a project id is printable ASCII"},
        {"nul byte", "acme\nglo\0bex\n", 13, "line 2: contains a NUL byte"},
        {"too long", long_line, 0, "line 1: project id longer than 256 bytes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(cases[i].text, cases[i].len ? cases[i].len : strlen(cases[i].text));
        errbuf[0] = '\0';
        cr_expect_null(tally_optout_new(path, errbuf, sizeof errbuf), "%s", cases[i].why);
        cr_expect(strstr(errbuf, cases[i].expect) != NULL, "%s: error \"%s\" lacks \"%s\"",
                  cases[i].why, errbuf, cases[i].expect);
        cr_expect(strstr(errbuf, path) != NULL, "%s: error names no file", cases[i].why);
    }
}

Test(optout, an_id_of_the_maximum_length_is_accepted)
{
    char line[TALLY_OPTOUT_ID_MAX + 2];
    memset(line, 'p', TALLY_OPTOUT_ID_MAX);
    strcpy(line + TALLY_OPTOUT_ID_MAX, "\n");
    tally_optout_t *o = loaded(line);
    line[TALLY_OPTOUT_ID_MAX] = '\0';
    cr_assert(tally_optout_contains(o, line));
    tally_optout_free(o);
}

Test(optout, a_missing_file_is_refused)
{
    cr_assert_null(tally_optout_new("/nonexistent/tally/optout", errbuf, sizeof errbuf));
    cr_assert(strstr(errbuf, "/nonexistent/tally/optout") != NULL, "%s", errbuf);
}

Test(optout, a_failed_reload_keeps_the_previous_list)
{
    tally_optout_t *o = loaded("acme\n");
    write_text("acme\nglo bex\n");
    cr_assert_eq(tally_optout_reload(o, errbuf, sizeof errbuf), -1);
    cr_assert(strstr(errbuf, "line 2") != NULL, "%s", errbuf);
    cr_assert(tally_optout_contains(o, "acme"));
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(tally_optout_reload(o, errbuf, sizeof errbuf), -1);
    cr_assert(tally_optout_contains(o, "acme"));
    tally_optout_stats_t st;
    tally_optout_stats(o, &st);
    cr_assert_eq(st.projects, 1);
    cr_assert_eq(st.reloads_failed, 2);
    tally_optout_free(o);
}

typedef struct {
    tally_optout_t *o;
    atomic_bool *stop;
    long wrong, lookups;
} reader_t;

/* "always" is in every version; "never" in none; "sometimes" varies. */
static void *reader_main(void *arg)
{
    reader_t *r = arg;
    while (!atomic_load(r->stop)) {
        r->wrong += !tally_optout_contains(r->o, "always");
        r->wrong += tally_optout_contains(r->o, "never");
        (void)tally_optout_contains(r->o, "sometimes");
        r->lookups += 3;
    }
    return NULL;
}

Test(optout, lookups_during_reloads_stay_correct, .timeout = 60)
{
    tally_optout_t *o = loaded("always\n");
    atomic_bool stop = false;
    reader_t r[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (reader_t){.o = o, .stop = &stop};
        cr_assert_eq(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    for (int i = 0; i < 100; i++) {
        write_text(i % 2 ? "always\nsometimes\n" : "sometimes # x\nalways\n");
        cr_assert_eq(tally_optout_reload(o, errbuf, sizeof errbuf), 0, "%s", errbuf);
        usleep(500);
    }
    atomic_store(&stop, true);
    long wrong = 0, lookups = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        wrong += r[i].wrong;
        lookups += r[i].lookups;
    }
    cr_assert_eq(wrong, 0, "%ld wrong of %ld", wrong, lookups);
    tally_optout_free(o);
}
