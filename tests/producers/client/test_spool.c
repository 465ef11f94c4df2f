/* producers/client/spool: segments written whole, listed oldest first,
 * held by one process at a time (a dead holder's lock goes with it),
 * settled to exactly the events still due, corrupt files moved aside, and
 * the cap dropping the oldest events first while sparing held segments. */
#include "spool.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64], err[512];
static tally_spool_t *spool;

static tally_spool_t *open_spool(size_t max_events, size_t max_bytes)
{
    tally_spool_limits_t lim = {max_events, max_bytes};
    tally_spool_t *s = tally_spool_open(dir, &lim, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    return s;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tally-test-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    strcat(dir, "/spool"); /* created by open */
    spool = open_spool(1000, 1 << 20);
}

static void teardown(void)
{
    char cmd[128];
    tally_spool_free(spool);
    dir[strlen(dir) - strlen("/spool")] = '\0';
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(spool, .init = setup, .fini = teardown);

/* n events {"n": first..first+n-1}. */
static json_t *events(int first, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:i,s:s}", "n", first + i, "pad", "0123456789"));
    return a;
}

static void add(tally_kind_t kind, const char *auth, int first, int n, int64_t at)
{
    json_t *ev = events(first, n);
    tally_segment_t *seg;
    cr_assert_eq(tally_spool_add(spool, kind, auth, ev, 0, (size_t)n, at, &seg, err, sizeof err), 0, "%s", err);
    tally_spool_release(seg);
    json_decref(ev);
}

/* The "n" of every spooled event, oldest first, as "1,2,3". */
static void contents(char *out, size_t size)
{
    char **names;
    size_t n, off = 0;
    out[0] = '\0';
    cr_assert_eq(tally_spool_list(spool, &names, &n, err, sizeof err), 0);
    for (size_t i = 0; i < n; i++) {
        tally_segment_t *seg;
        cr_assert_eq(tally_spool_claim(spool, names[i], &seg, err, sizeof err), 0, "%s", err);
        size_t k;
        json_t *ev;
        json_array_foreach(seg->events, k, ev) {
            off += (size_t)snprintf(out + off, size - off, "%s%lld", off ? "," : "",
                                    (long long)json_integer_value(json_object_get(ev, "n")));
        }
        tally_spool_release(seg);
    }
    tally_spool_names_free(names, n);
}

Test(spool, segments_come_back_whole_and_oldest_first)
{
    add(TALLY_KIND_SEAT, "abcdef0123456789", 4, 2, 2000);
    add(TALLY_KIND_PRODUCT, "", 1, 3, 1000);
    char **names;
    size_t n;
    cr_assert_eq(tally_spool_list(spool, &names, &n, err, sizeof err), 0);
    cr_assert_eq(n, 2);
    tally_segment_t *seg;
    cr_assert_eq(tally_spool_claim(spool, names[0], &seg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(seg->kind, TALLY_KIND_PRODUCT, "the older one first, whatever the order of writing");
    cr_assert_eq(json_array_size(seg->events), 3);
    cr_assert_str_eq(seg->auth, "");
    cr_assert_eq(seg->created_ms, 1000);
    tally_spool_release(seg);
    cr_assert_eq(tally_spool_claim(spool, names[1], &seg, err, sizeof err), 0);
    cr_assert_eq(seg->kind, TALLY_KIND_SEAT);
    cr_assert_str_eq(seg->auth, "abcdef0123456789");
    tally_spool_release(seg);
    tally_spool_names_free(names, n);

    tally_spool_stats_t st;
    cr_assert_eq(tally_spool_stats(spool, &st, err, sizeof err), 0);
    cr_assert_eq(st.segments, 2);
    cr_assert_eq(st.events, 5);
    cr_assert_eq(st.events_by_kind[TALLY_KIND_PRODUCT], 3);
    cr_assert_eq(st.events_by_kind[TALLY_KIND_SEAT], 2);
    cr_assert_eq(st.oldest_ms, 1000);
}

Test(spool, a_held_segment_is_busy_for_everyone_else)
{
    json_t *ev = events(1, 2);
    tally_segment_t *mine, *other;
    cr_assert_eq(tally_spool_add(spool, TALLY_KIND_PRODUCT, "", ev, 0, 2, 1, &mine, err, sizeof err), 0);
    char name[128];
    snprintf(name, sizeof name, "%s", strrchr(mine->path, '/') + 1);
    cr_assert_eq(tally_spool_claim(spool, name, &other, err, sizeof err), TALLY_SPOOL_BUSY,
                 "held from the moment it exists");
    pid_t pid = fork();
    if (pid == 0)
        _exit(tally_spool_claim(spool, name, &other, err, sizeof err) == TALLY_SPOOL_BUSY ? 0 : 1);
    int st;
    waitpid(pid, &st, 0);
    cr_assert_eq(WEXITSTATUS(st), 0, "busy for another process too");
    tally_spool_release(mine);
    cr_assert_eq(tally_spool_claim(spool, name, &other, err, sizeof err), 0, "free once released");
    tally_spool_release(other);
    json_decref(ev);
}

Test(spool, a_dead_holders_lock_goes_with_it)
{
    add(TALLY_KIND_PRODUCT, "", 1, 1, 1);
    char **names;
    size_t n;
    cr_assert_eq(tally_spool_list(spool, &names, &n, err, sizeof err), 0);
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t pid = fork();
    if (pid == 0) {
        tally_segment_t *seg;
        if (tally_spool_claim(spool, names[0], &seg, err, sizeof err) == 0 && write(ready[1], "x", 1) == 1)
            pause();
        _exit(1);
    }
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    tally_segment_t *seg;
    cr_assert_eq(tally_spool_claim(spool, names[0], &seg, err, sizeof err), TALLY_SPOOL_BUSY);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_assert_eq(tally_spool_claim(spool, names[0], &seg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(json_array_size(seg->events), 1, "nothing lost with the holder");
    tally_spool_release(seg);
    tally_spool_names_free(names, n);
}

Test(spool, settle_keeps_exactly_what_is_due)
{
    json_t *ev = events(1, 4);
    tally_segment_t *seg;
    cr_assert_eq(tally_spool_add(spool, TALLY_KIND_USAGE, "ffff", ev, 0, 4, 1, &seg, err, sizeof err), 0);
    bool keep[] = {false, true, false, true};
    cr_assert_eq(tally_spool_settle(spool, seg, keep, err, sizeof err), 0, "%s", err);
    cr_assert_eq(json_array_size(seg->events), 2);
    char *path = strdup(seg->path);
    tally_spool_release(seg);
    char got[128];
    contents(got, sizeof got);
    cr_assert_str_eq(got, "2,4");

    char **names;
    size_t n;
    cr_assert_eq(tally_spool_list(spool, &names, &n, err, sizeof err), 0);
    cr_assert_eq(tally_spool_claim(spool, names[0], &seg, err, sizeof err), 0);
    cr_assert_str_eq(seg->auth, "ffff", "the header survives a rewrite");
    bool none[] = {false, false};
    cr_assert_eq(tally_spool_settle(spool, seg, none, err, sizeof err), 0);
    tally_spool_release(seg);
    tally_spool_names_free(names, n);
    cr_assert_neq(access(path, F_OK), 0, "an empty segment is removed");
    contents(got, sizeof got);
    cr_assert_str_eq(got, "");
    free(path);
    json_decref(ev);
}

Test(spool, refused_credentials_are_remembered)
{
    json_t *ev = events(1, 1);
    tally_segment_t *seg;
    cr_assert_eq(tally_spool_add(spool, TALLY_KIND_SEAT, "aaaa", ev, 0, 1, 1, &seg, err, sizeof err), 0);
    cr_assert_eq(tally_spool_refuse(spool, seg, "aaaa", err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(seg->auth, "", "any other credential may try it now");
    tally_spool_release(seg);
    char **names;
    size_t n;
    cr_assert_eq(tally_spool_list(spool, &names, &n, err, sizeof err), 0);
    cr_assert_eq(tally_spool_claim(spool, names[0], &seg, err, sizeof err), 0);
    cr_assert_str_eq(seg->auth, "");
    cr_assert(tally_spool_refused_by(seg, "aaaa"), "on disk");
    cr_assert_not(tally_spool_refused_by(seg, "bbbb"));
    tally_spool_release(seg);
    tally_spool_names_free(names, n);
    json_decref(ev);
}

Test(spool, a_corrupt_segment_is_moved_aside)
{
    char path[256];
    snprintf(path, sizeof path, "%s/seg-0000000000001-1-1-1.ndjson", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"tally_spool\":1,\"kind\":\"product\",\"auth\":\"\"}\n{\"n\":1}\n{not json\n", f);
    fclose(f);
    tally_segment_t *seg;
    cr_assert_eq(tally_spool_claim(spool, "seg-0000000000001-1-1-1.ndjson", &seg, err, sizeof err),
                 TALLY_SPOOL_CORRUPT);
    cr_assert_not_null(strstr(err, "moved aside"));
    snprintf(path, sizeof path, "%s/bad-seg-0000000000001-1-1-1.ndjson", dir);
    cr_assert_eq(access(path, F_OK), 0, "kept for a human to look at");
    char **names;
    size_t n;
    cr_assert_eq(tally_spool_list(spool, &names, &n, err, sizeof err), 0);
    cr_assert_eq(n, 0, "and no longer a segment");
    tally_spool_names_free(names, n);
}

Test(spool, the_cap_drops_the_oldest_events_first)
{
    tally_spool_free(spool);
    spool = open_spool(5, 1 << 20);
    add(TALLY_KIND_PRODUCT, "", 1, 3, 1000);
    add(TALLY_KIND_PRODUCT, "", 4, 3, 2000);
    add(TALLY_KIND_PRODUCT, "", 7, 3, 3000);
    size_t dropped;
    cr_assert_eq(tally_spool_enforce_cap(spool, &dropped, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dropped, 4);
    char got[128];
    contents(got, sizeof got);
    cr_assert_str_eq(got, "5,6,7,8,9");
    cr_assert_eq(tally_spool_enforce_cap(spool, &dropped, err, sizeof err), 0);
    cr_assert_eq(dropped, 0, "within the cap: nothing more");
}

Test(spool, the_byte_cap_counts_the_files)
{
    tally_spool_free(spool);
    spool = open_spool(1000, 400);
    for (int i = 0; i < 6; i++)
        add(TALLY_KIND_PRODUCT, "", i * 2 + 1, 2, 1000 + i);
    size_t dropped;
    cr_assert_eq(tally_spool_enforce_cap(spool, &dropped, err, sizeof err), 0);
    cr_assert_gt(dropped, 0);
    tally_spool_stats_t st;
    cr_assert_eq(tally_spool_stats(spool, &st, err, sizeof err), 0);
    cr_assert_leq(st.bytes, 400);
    char got[128];
    contents(got, sizeof got);
    cr_assert_not_null(strstr(got, "12"), "the newest stays: %s", got);
    cr_assert_neq(strncmp(got, "1,", 2), 0, "the oldest went: %s", got);
}

Test(spool, the_cap_spares_segments_another_process_holds)
{
    tally_spool_free(spool);
    spool = open_spool(2, 1 << 20);
    json_t *ev = events(1, 2);
    tally_segment_t *held;
    cr_assert_eq(tally_spool_add(spool, TALLY_KIND_PRODUCT, "", ev, 0, 2, 1000, &held, err, sizeof err), 0);
    add(TALLY_KIND_PRODUCT, "", 3, 2, 2000);
    size_t dropped;
    cr_assert_eq(tally_spool_enforce_cap(spool, &dropped, err, sizeof err), 0);
    cr_assert_eq(dropped, 2, "the free segment pays for the held one");
    tally_spool_release(held);
    char got[64];
    contents(got, sizeof got);
    cr_assert_str_eq(got, "1,2");
    json_decref(ev);
}
