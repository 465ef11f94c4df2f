/* Seats across a pseudonym key rotation, end to end on the real broker:
 * raw seat events through tally-anonymizer into tally-aggregator, the
 * anonymizer restarted on a rotated key file between runs and the
 * aggregator restarted from its changelog. A user assigned under the old
 * key and released or re-assigned under the new one is one seat: the seat
 * rollups stay exact and the aggregator holds one state entry per user.
 * Removing the seat key from the key file is refused at startup. */
#include "../consumers/anonymizer/anon_kafka.h"
#include "../consumers/anonymizer/raw_gen.h"
#include "agg_gen.h"
#include "agg_kafka.h"
#include "schema_catalog.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 INT64_C(1714521600000) /* 2024-05-01T00:00:00Z */
#define HOUR INT64_C(3600000)
#define DAY (24 * HOUR)
#define KEY2 "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"

TestSuite(seat_rotation, .fini = anon_procs_cleanup, .timeout = 300);

/* Rewrites the key file in place, mode 0600 from the start. */
static void write_keyfile(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0, "%s", path);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

typedef struct {
    const char *user, *op;
    int64_t at;
} seat_step_t;

/* Sends steps as raw SeatEvents of tenant "acme" through one run of
 * tally-anonymizer on the current key file, and stops it cleanly. */
static void anonymize(const anon_env_t *e, raw_gen_t *g, const seat_step_t *steps, size_t n, int run)
{
    char line[512], instance[32];
    snprintf(instance, sizeof instance, "rot-%d", run);
    tally_test_proc_t *anon = anon_spawn(e, instance, NULL, line, sizeof line);
    anon_producer_t p;
    anon_producer_init(&p, 0);
    for (size_t i = 0; i < n; i++) {
        char id[37];
        const void *buf;
        size_t len;
        raw_uuid(id, 40 + (uint64_t)run, i);
        cr_assert_eq(raw_gen_seat(g, id, "acme", steps[i].user, steps[i].op, steps[i].at, &buf, &len), 0);
        anon_produce(&p, e->usage_raw, "acme", 4, buf, len, 0);
    }
    anon_producer_close(&p);
    cr_assert_eq(anon_wait_done(e, 60000), 0, "run %d: raw records not consumed; log:\n%s", run,
                 tally_test_log(anon));
    tally_test_signal(anon, SIGTERM);
    cr_assert_eq(tally_test_wait(anon, 30000), 0, "run %d: log:\n%s", run, tally_test_log(anon));
    anon_proc_free(anon);
}

/* Waits until the aggregator on port has applied `want` seat events (its
 * input is transactional: the group's offsets stop short of the end, on
 * the last commit marker, so the applied count is the measure). */
static void wait_applied(tally_test_proc_t *agg, int port, long long want)
{
    const char *series = "tally_aggregator_records_total{outcome=\"applied\"}";
    long long deadline = agg_now_ms() + 60000, got;
    while ((got = agg_metric(port, series)) != want && agg_now_ms() < deadline)
        usleep(100 * 1000);
    cr_assert_eq(got, want, "applied %lld of %lld; log:\n%s", got, want, tally_test_log(agg));
}

static const agg_rollup_t *seat_rollup(const agg_rollup_t *all, const char (*keys)[64], size_t n, const char *key)
{
    for (size_t i = n; i-- > 0;)
        if (strcmp(keys[i], key) == 0)
            return &all[i];
    cr_assert_fail("no seat rollup %s", key);
    return NULL;
}

Test(seat_rotation, assign_under_v1_release_and_reassign_under_v2_stay_exact)
{
    char err[512], line[512];
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    raw_gen_t g;
    cr_assert_eq(raw_gen_init(&g, cat), 0);

    /* The anonymizer's clean usage topic is the aggregator's input. */
    anon_env_t ae;
    anon_env_create(&ae, "seat-rot", 1);
    agg_env_t e;
    snprintf(e.usage, sizeof e.usage, "%s", ae.usage);
    tally_test_unique_name2("seat-rot", ".rollups", e.rollups, sizeof e.rollups);
    tally_test_unique_name2("seat-rot", ".changelog", e.changelog, sizeof e.changelog);
    tally_test_unique_name2("seat-rot", ".agg-dlq", e.dlq, sizeof e.dlq);
    tally_test_unique_name2("seat-rot", "-agg-group", e.group, sizeof e.group);
    tally_test_topic_create(e.rollups, 1);
    tally_test_topic_create(e.changelog, 1);
    tally_test_topic_create(e.dlq, 1);
    tally_test_proc_t *agg = agg_spawn(&e, "rot-1", NULL, line, sizeof line);
    int port = tally_test_port_from_line(line);

    /* Run 1, key v1 only. May 1: alice and bob assigned. */
    char v1_only[256], rotated[256], retired[256];
    snprintf(v1_only, sizeof v1_only, "1 %s\n", ANON_TEST_KEY);
    snprintf(rotated, sizeof rotated, "seat 1\n1 %s\n2 %s\n", ANON_TEST_KEY, KEY2);
    snprintf(retired, sizeof retired, "seat 1\n2 %s\n", KEY2);
    write_keyfile(ae.keyfile, v1_only);
    const seat_step_t day1[] = {{"alice", "ASSIGNED", T0 + 1 * HOUR}, {"bob", "ASSIGNED", T0 + 2 * HOUR}};
    anonymize(&ae, &g, day1, 2, 1);

    /* Run 2, rotated: v2 is the newest key. May 2: alice released and
     * re-assigned, carol assigned. */
    write_keyfile(ae.keyfile, rotated);
    const seat_step_t day2[] = {{"alice", "RELEASED", T0 + DAY + 1 * HOUR},
                                {"alice", "ASSIGNED", T0 + DAY + 2 * HOUR},
                                {"carol", "ASSIGNED", T0 + DAY + 3 * HOUR}};
    anonymize(&ae, &g, day2, 3, 2);

    /* The aggregator restarts from its changelog, written before and
     * after the rotation. */
    wait_applied(agg, port, 5);
    tally_test_signal(agg, SIGTERM);
    cr_assert_eq(tally_test_wait(agg, 30000), 0, "log:\n%s", tally_test_log(agg));
    tally_test_proc_free(agg);
    agg = agg_spawn(&e, "rot-2", NULL, line, sizeof line);
    port = tally_test_port_from_line(line);

    /* The old key's line removed while it is the seat key: refused at
     * startup (exit 2), nothing written under another seat key. */
    write_keyfile(ae.keyfile, retired);
    char keyarg[200], schemas[512], catalog[512];
    snprintf(keyarg, sizeof keyarg, "--key-file=%s", ae.keyfile);
    snprintf(schemas, sizeof schemas, "--schemas=%s", tally_test_source_path("schemas"));
    snprintf(catalog, sizeof catalog, "--catalog=%s", tally_test_source_path("schemas/product-events.json"));
    char *argv[] = {(char *)tally_test_bin("tally-anonymizer"), keyarg, schemas, catalog, "--brokers=127.0.0.1:9",
                    "--admin-port=0", NULL};
    tally_test_proc_t *refused = tally_test_spawn(argv, NULL, 0, NULL, 0);
    int rc = tally_test_wait(refused, 30000);
    cr_assert_eq(rc, 2, "a key file without its seat key: exit %d; log:\n%s", rc, tally_test_log(refused));
    cr_assert(strstr(tally_test_log(refused), "seat key") != NULL, "%s", tally_test_log(refused));
    tally_test_proc_free(refused);

    /* Run 3, rotated file again. May 3: bob, untouched since run 1,
     * released. */
    write_keyfile(ae.keyfile, rotated);
    const seat_step_t day3[] = {{"bob", "RELEASED", T0 + 2 * DAY + 1 * HOUR}};
    anonymize(&ae, &g, day3, 1, 3);

    wait_applied(agg, port, 1);
    long long entries = agg_metric(port, "tally_aggregator_state_entries{kind=\"seats\"}");
    cr_expect_eq(entries, 3, "seat state entries: %lld, one per user (alice, bob, carol)", entries);
    tally_test_signal(agg, SIGTERM);
    cr_assert_eq(tally_test_wait(agg, 30000), 0, "log:\n%s", tally_test_log(agg));
    tally_test_proc_free(agg);

    agg_record_t *recs;
    size_t n = agg_read_all(e.rollups, &recs);
    agg_rollup_t *all = calloc(n ? n : 1, sizeof *all);
    char (*keys)[64] = calloc(n ? n : 1, sizeof *keys);
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(agg_rollup_decode(dec, recs[i].value, recs[i].len, &all[i]), 0);
        snprintf(keys[i], sizeof keys[i], "%s", recs[i].key);
    }
    const agg_rollup_t *d1 = seat_rollup(all, (const char(*)[64])keys, n, "acme|2024-05-01");
    const agg_rollup_t *d2 = seat_rollup(all, (const char(*)[64])keys, n, "acme|2024-05-02");
    const agg_rollup_t *d3 = seat_rollup(all, (const char(*)[64])keys, n, "acme|2024-05-03");
    cr_expect(d1->seat && d2->seat && d3->seat);
    cr_expect_eq(d1->v[0], 2, "May 1 in use: %lld", (long long)d1->v[0]);
    cr_expect_eq(d1->v[1], 2, "May 1 peak: %lld", (long long)d1->v[1]);
    cr_expect_eq(d2->v[0], 3, "May 2 in use (alice, bob, carol): %lld", (long long)d2->v[0]);
    cr_expect_eq(d2->v[1], 3, "May 2 peak: %lld", (long long)d2->v[1]);
    cr_expect_eq(d3->v[0], 2, "May 3 in use (alice, carol): %lld", (long long)d3->v[0]);
    cr_expect_eq(d3->v[1], 3, "May 3 peak (bob until his release): %lld", (long long)d3->v[1]);

    tally_decoder_free(dec);
    free(keys);
    free(all);
    agg_records_free(recs, n);
    raw_gen_done(&g);
    tally_catalog_free(cat);
    anon_env_destroy(&ae);
}
