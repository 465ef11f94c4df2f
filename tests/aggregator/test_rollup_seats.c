/* Unit tests of aggregator/rollup's seat events: assign, release and
 * reassign; the day's peak with the seats carried in; duplicates; ties;
 * events out of order (many random permutations of the same events give
 * the identical state); late events that rewrite earlier days; too-late
 * events and the folding of closed days; the changelog round trip; and a
 * randomized run with aborts, crashes and sweeps checked against a brute
 * force replay of all distinct events in time order. */
#include "rollup_harness.h"

TestSuite(rollup_seats);

static const tally_rollup_config_t wide = {.open_days = 35};
static const int64_t T0 = INT64_C(1714521600000); /* 2024-05-01T00:00:00Z */
static const int32_t D0 = 19844;

#define DAY TALLY_MS_PER_DAY

/* A seat event with its own storage, so arrays of them can be shuffled. */
typedef struct {
    char tenant[16], seat[16], id[40];
    int64_t at;
    int op;
} sev_t;

static sev_t sev(const char *tenant, const char *seat, int64_t at, int op, const char *id)
{
    sev_t e = {.at = at, .op = op};
    snprintf(e.tenant, sizeof e.tenant, "%s", tenant);
    snprintf(e.seat, sizeof e.seat, "%s", seat);
    snprintf(e.id, sizeof e.id, "%s", id);
    return e;
}

static void random_id(rng_t *g, char id[40])
{
    uint64_t a = rng_next(g), b = rng_next(g);
    snprintf(id, 40, "%08x-%04x-4%03x-8%03x-%012" PRIx64, (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
             (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff, b & UINT64_C(0xffffffffffff));
}

static tally_rollup_outcome_t put(tally_rollup_t *r, const sev_t *e)
{
    tally_rollup_seat_event_t ev = {e->id, e->tenant, e->seat, (tally_seat_op_t)e->op, e->at};
    return tally_rollup_apply_seat(r, &ev);
}

static tally_rollup_outcome_t seat_op(tally_rollup_t *r, const char *seat, int64_t at, int op,
                                      const char *id)
{
    sev_t e = sev("t1", seat, at, op, id);
    return put(r, &e);
}

static void expect_day(tally_rollup_t *r, const char *tenant, int32_t day, int64_t in_use,
                       int64_t peak)
{
    tally_seat_rollup_t s;
    cr_assert(tally_rollup_get_seat(r, tenant, day, &s), "no rollup for day %d", (int)day);
    cr_assert_eq(s.seats_in_use, in_use, "day %d: in use %" PRId64 ", expected %" PRId64, (int)day,
                 s.seats_in_use, in_use);
    cr_assert_eq(s.seats_peak, peak, "day %d: peak %" PRId64 ", expected %" PRId64, (int)day,
                 s.seats_peak, peak);
}

#define A TALLY_SEAT_ASSIGNED
#define R TALLY_SEAT_RELEASED

/* ---- known answers ------------------------------------------------------ */

Test(rollup_seats, assign_release_reassign)
{
    tally_rollup_t *r = new_state(&wide);
    tally_seat_rollup_t s;

    cr_assert_eq(seat_op(r, "alice", T0 + 9 * MS_HOUR, A, "e1"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(r, "bob", T0 + 10 * MS_HOUR, A, "e2"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(r, "carol", T0 + 11 * MS_HOUR, A, "e3"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(r, "bob", T0 + 12 * MS_HOUR, R, "e4"), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0, 2, 3);
    cr_assert(tally_rollup_get_seat(r, "t1", D0, &s));
    cr_assert_eq(s.updated_at, T0 + 12 * MS_HOUR);
    cr_assert(!s.closed);
    cr_assert(!tally_rollup_seat_assigned(r, "t1", "bob"));
    cr_assert(tally_rollup_seat_assigned(r, "t1", "alice"));

    /* Reassigned the next day; released again; alice released. */
    cr_assert_eq(seat_op(r, "bob", T0 + DAY + 8 * MS_HOUR, A, "e5"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(r, "alice", T0 + DAY + 9 * MS_HOUR, R, "e6"), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0 + 1, 2, 3);
    cr_assert_eq(tally_rollup_seats_in_use(r, "t1"), 2);
    /* Releasing a seat that is not assigned, or assigning an assigned
     * one, changes no count. */
    cr_assert_eq(seat_op(r, "alice", T0 + DAY + 10 * MS_HOUR, R, "e7"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(r, "bob", T0 + DAY + 11 * MS_HOUR, A, "e8"), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0 + 1, 2, 3);
    cr_assert_eq(tally_rollup_seats_in_use(r, "t1"), 2);
    cr_assert_eq(tally_rollup_seats_in_use(r, "nobody"), 0);
    cr_assert(!tally_rollup_get_seat(r, "t1", D0 + 2, &s), "a day without events has no rollup");
    tally_rollup_free(r);
}

Test(rollup_seats, peak_counts_the_seats_carried_into_the_day)
{
    tally_rollup_t *r = new_state(&wide);

    seat_op(r, "a", T0 + MS_HOUR, A, "e1");
    seat_op(r, "b", T0 + MS_HOUR, A, "e2");
    seat_op(r, "c", T0 + MS_HOUR, A, "e3");
    /* Three days later, the first event of the day releases a seat at
     * 09:00: three seats were in use that morning. */
    seat_op(r, "a", T0 + 3 * DAY + 9 * MS_HOUR, R, "e4");
    seat_op(r, "b", T0 + 3 * DAY + 10 * MS_HOUR, R, "e5");
    expect_day(r, "t1", D0, 3, 3);
    expect_day(r, "t1", D0 + 3, 1, 3);
    /* A release at 00:00:00.000 still counts the seat for that day. */
    seat_op(r, "c", T0 + 4 * DAY, R, "e6");
    expect_day(r, "t1", D0 + 4, 0, 1);
    tally_rollup_free(r);
}

Test(rollup_seats, duplicates_are_harmless)
{
    tally_rollup_t *r = new_state(&wide);
    const char *id = "6f1c2f0e-3b1a-4d2e-9c1b-7a6b5c4d3e2f";
    const char *upper = "6F1C2F0E-3B1A-4D2E-9C1B-7A6B5C4D3E2F";

    cr_assert_eq(seat_op(r, "a", T0, A, id), TALLY_ROLLUP_APPLIED);
    seat_op(r, "b", T0 + 1, A, "e2");
    tally_rollup_clear_changes(r);
    cr_assert_eq(seat_op(r, "a", T0, A, id), TALLY_ROLLUP_DUPLICATE);
    cr_assert_eq(seat_op(r, "a", T0, A, upper), TALLY_ROLLUP_DUPLICATE, "the same UUID");
    cr_assert_eq(seat_op(r, "b", T0 + 1, A, "e2"), TALLY_ROLLUP_DUPLICATE);
    tally_rollup_stats_t st;
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.seat_events_duplicate, 3);
    cr_assert_eq(st.changed_seats, 0);
    cr_assert_eq(st.changed_entries, 0);
    expect_day(r, "t1", D0, 2, 2);
    /* Same time, same id, other op: another event (corrupt, but ordered
     * after the assignment, before b's at T0 + 1). */
    cr_assert_eq(seat_op(r, "a", T0, R, id), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0, 1, 1);
    tally_rollup_free(r);
}

Test(rollup_seats, a_release_that_arrives_before_its_assignment)
{
    tally_rollup_t *r = new_state(&wide);

    cr_assert_eq(seat_op(r, "a", T0 + 2 * MS_HOUR, R, "e2"), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0, 0, 0);
    cr_assert_eq(seat_op(r, "a", T0 + 1 * MS_HOUR, A, "e1"), TALLY_ROLLUP_APPLIED);
    /* Last writer by occurred_at wins: released; it was in use an hour. */
    cr_assert(!tally_rollup_seat_assigned(r, "t1", "a"));
    expect_day(r, "t1", D0, 0, 1);
    tally_seat_rollup_t s;
    cr_assert(tally_rollup_get_seat(r, "t1", D0, &s));
    cr_assert_eq(s.updated_at, T0 + 2 * MS_HOUR, "updated_at is the day's last event");
    tally_rollup_free(r);
}

static int list_seat_days(void *ctx, const tally_seat_rollup_t *s)
{
    int *days = ctx;
    days[days[0]++ + 1] = (int)s->day;
    return 0;
}

Test(rollup_seats, a_late_event_rewrites_the_days_it_reaches)
{
    tally_rollup_t *r = new_state(&wide);

    seat_op(r, "s1", T0 + 10 * MS_HOUR, A, "e1");           /* day 0 */
    seat_op(r, "s2", T0 + DAY + 10 * MS_HOUR, A, "e2");     /* day 1 */
    seat_op(r, "s1", T0 + 2 * DAY + 12 * MS_HOUR, R, "e3"); /* day 2 */
    seat_op(r, "s3", T0 + 3 * DAY + 10 * MS_HOUR, A, "e4"); /* day 3 */
    expect_day(r, "t1", D0, 1, 1);
    expect_day(r, "t1", D0 + 1, 2, 2);
    expect_day(r, "t1", D0 + 2, 1, 2);
    expect_day(r, "t1", D0 + 3, 2, 2);
    tally_rollup_clear_changes(r);

    /* s1 was in fact released on day 0 at 11:00. */
    cr_assert_eq(seat_op(r, "s1", T0 + 11 * MS_HOUR, R, "e5"), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0, 0, 1);
    expect_day(r, "t1", D0 + 1, 1, 1);
    expect_day(r, "t1", D0 + 2, 1, 1); /* the peak went down */
    expect_day(r, "t1", D0 + 3, 2, 2);
    int days[8] = {0};
    cr_assert_eq(tally_rollup_each_changed_seat(r, list_seat_days, days), 0);
    cr_assert_eq(days[0], 3, "days 0-2 changed, day 3 did not");
    cr_assert_eq(days[1], D0);
    cr_assert_eq(days[2], D0 + 1);
    cr_assert_eq(days[3], D0 + 2);

    /* A late assignment in a day between two events of its seat. */
    seat_op(r, "s4", T0 + DAY + 12 * MS_HOUR, R, "e6");
    seat_op(r, "s4", T0 + DAY + 11 * MS_HOUR, A, "e7");
    expect_day(r, "t1", D0 + 1, 1, 2);
    expect_day(r, "t1", D0 + 2, 1, 1);
    tally_rollup_free(r);
}

Test(rollup_seats, ties_are_broken_by_event_id)
{
    const char *lo = "00000000-0000-4000-8000-000000000001";
    const char *hi = "00000000-0000-4000-8000-000000000002";
    for (int order = 0; order < 2; order++) {
        tally_rollup_t *r = new_state(&wide);
        if (order == 0) {
            seat_op(r, "a", T0, A, lo);
            seat_op(r, "a", T0, R, hi);
        } else {
            seat_op(r, "a", T0, R, hi);
            seat_op(r, "a", T0, A, lo);
        }
        cr_assert(!tally_rollup_seat_assigned(r, "t1", "a"), "order %d", order);
        expect_day(r, "t1", D0, 0, 1);
        tally_rollup_free(r);
    }
}

Test(rollup_seats, invalid_events)
{
    tally_rollup_t *r = new_state(&wide);
    tally_rollup_seat_event_t e = {"id", "t", "s", A, T0};

    e.tenant_id = "";
    cr_assert_eq(tally_rollup_apply_seat(r, &e), TALLY_ROLLUP_INVALID);
    e.tenant_id = "t";
    e.seat_ref = NULL;
    cr_assert_eq(tally_rollup_apply_seat(r, &e), TALLY_ROLLUP_INVALID);
    e.seat_ref = "s";
    e.op = (tally_seat_op_t)2;
    cr_assert_eq(tally_rollup_apply_seat(r, &e), TALLY_ROLLUP_INVALID);
    e.op = A;
    e.occurred_at = TALLY_TIME_MIN_MS - 1;
    cr_assert_eq(tally_rollup_apply_seat(r, &e), TALLY_ROLLUP_INVALID);
    e.event_id = NULL;
    e.occurred_at = T0;
    cr_assert_eq(tally_rollup_apply_seat(r, &e), TALLY_ROLLUP_INVALID);
    e.event_id = ""; /* not a UUID: ordered by its digest */
    cr_assert_eq(tally_rollup_apply_seat(r, &e), TALLY_ROLLUP_APPLIED);
    tally_rollup_free(r);
}

/* ---- brute force -------------------------------------------------------- */

typedef struct {
    map_t days;   /* "tenant|day" -> seat_val_t */
    map_t states; /* "tenant\x1fseat" -> op */
} brute_t;

static int sev_cmp(const void *a, const void *b)
{
    const sev_t *x = a, *y = b;
    int c = strcmp(x->tenant, y->tenant);
    if (c)
        return c;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    /* Lower-case UUIDs compare as their bytes. */
    if ((c = strcmp(x->id, y->id)) != 0)
        return c;
    if (x->op != y->op)
        return x->op - y->op;
    return strcmp(x->seat, y->seat);
}

static int32_t floor_day(int64_t ms)
{
    return (int32_t)(ms >= 0 ? ms / DAY : -((-ms + DAY - 1) / DAY));
}

/* All distinct events, in time order per tenant: the definition. */
static void brute_force(const sev_t *in, size_t n, brute_t *b)
{
    sev_t *e = calloc(n ? n : 1, sizeof *e);
    cr_assert(e);
    memcpy(e, in, n * sizeof *e);
    qsort(e, n, sizeof *e, sev_cmp);
    map_init(&b->days);
    map_init(&b->states);
    int64_t count = 0;
    seat_val_t cur = {0, 0, 0};
    char day_key[64] = "";
    size_t day_key_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && sev_cmp(&e[i - 1], &e[i]) == 0)
            continue; /* duplicate */
        if (i == 0 || strcmp(e[i].tenant, e[i - 1].tenant) != 0)
            count = 0;
        char k[64], sk[64];
        size_t kl = seat_key(k, sizeof k, e[i].tenant, floor_day(e[i].at));
        if (kl != day_key_len || memcmp(k, day_key, kl) != 0) {
            if (day_key_len)
                map_put(&b->days, day_key, day_key_len, &cur, sizeof cur);
            memcpy(day_key, k, kl);
            day_key_len = kl;
            cur = (seat_val_t){count, count, 0};
        }
        size_t skl = (size_t)snprintf(sk, sizeof sk, "%s\x1f%s", e[i].tenant, e[i].seat);
        map_entry_t *st = map_find(&b->states, sk, skl);
        int before = st ? *(int *)st->val : R;
        count += (e[i].op == A) - (before == A);
        map_put(&b->states, sk, skl, &e[i].op, sizeof e[i].op);
        cur.in_use = count;
        if (count > cur.peak)
            cur.peak = count;
        cur.updated_at = e[i].at;
    }
    if (day_key_len)
        map_put(&b->days, day_key, day_key_len, &cur, sizeof cur);
    free(e);
}

static void brute_free(brute_t *b)
{
    map_free(&b->days);
    map_free(&b->states);
}

/* The state's seats are the brute force's, and so are its open rollups
 * (and, with topic != NULL, the last rollup produced for every day). */
static void assert_matches_brute(tally_rollup_t *r, const brute_t *b, const topics_t *topic,
                                 const char *what)
{
    char why[256];
    if (topic)
        cr_assert(map_equal(&topic->seat, &b->days, why, sizeof why), "%s: seat topic: %s", what, why);
    state_dump_t d;
    dump_state(r, &d);
    for (size_t i = 0; i < d.seat.nbuckets; i++)
        for (map_entry_t *e = d.seat.buckets[i]; e; e = e->next) {
            map_entry_t *f = map_find(&b->days, e->key, e->klen);
            cr_assert(f, "%s: %.*s not in the brute force", what, (int)e->klen, (const char *)e->key);
            const seat_val_t *x = (const seat_val_t *)e->val, *y = (const seat_val_t *)f->val;
            cr_assert(x->in_use == y->in_use && x->peak == y->peak && x->updated_at == y->updated_at,
                      "%s: %.*s: %" PRId64 "/%" PRId64 " against %" PRId64 "/%" PRId64, what,
                      (int)e->klen, (const char *)e->key, x->in_use, x->peak, y->in_use, y->peak);
        }
    dump_free(&d);
    for (size_t i = 0; i < b->states.nbuckets; i++)
        for (map_entry_t *e = b->states.buckets[i]; e; e = e->next) {
            char tenant[32], seat[32];
            const char *sep = memchr(e->key, 0x1f, e->klen);
            cr_assert(sep);
            snprintf(tenant, sizeof tenant, "%.*s", (int)(sep - (const char *)e->key), (const char *)e->key);
            snprintf(seat, sizeof seat, "%.*s", (int)(e->klen - (size_t)(sep + 1 - (const char *)e->key)),
                     sep + 1);
            cr_assert_eq(tally_rollup_seat_assigned(r, tenant, seat), *(int *)e->val == A, "%s: %s/%s",
                         what, tenant, seat);
        }
}

/* n events of `tenants` tenants and `seats` seats each over `days` days,
 * with share_dup_pct duplicated. */
static size_t make_events(rng_t *g, sev_t *out, size_t n, int tenants, int seats, int days,
                          int dup_pct)
{
    size_t k = 0;
    while (k < n) {
        sev_t e;
        snprintf(e.tenant, sizeof e.tenant, "tenant-%d", (int)rng_below(g, (uint64_t)tenants));
        snprintf(e.seat, sizeof e.seat, "seat-%d", (int)rng_below(g, (uint64_t)seats));
        e.at = T0 + (int64_t)rng_below(g, (uint64_t)days * DAY);
        if (rng_below(g, 50) == 0)
            e.at = T0 + (int64_t)rng_below(g, (uint64_t)days) * DAY; /* midnight sharp */
        e.op = rng_below(g, 5) < 3 ? A : R;
        random_id(g, e.id);
        out[k++] = e;
        if (k < n && (int)rng_below(g, 100) < dup_pct)
            out[k++] = e;
    }
    return k;
}

/* ---- order independence ------------------------------------------------- */

Test(rollup_seats, permutations_give_the_identical_state)
{
    enum { N = 120, PERMS = 300 };
    rng_t g = {314};
    sev_t ev[N];
    size_t n = make_events(&g, ev, N, 2, 6, 4, 10);
    /* Some ties: the same instant for several seats and events. */
    for (size_t i = 0; i < n; i += 9)
        ev[i].at = ev[0].at;

    brute_t b;
    brute_force(ev, n, &b);
    tally_rollup_t *first = NULL;
    for (int p = 0; p < PERMS; p++) {
        rng_shuffle(&g, ev, n, sizeof ev[0]);
        tally_rollup_t *r = new_state(&wide);
        for (size_t i = 0; i < n; i++) {
            tally_rollup_outcome_t o = put(r, &ev[i]);
            cr_assert(o == TALLY_ROLLUP_APPLIED || o == TALLY_ROLLUP_DUPLICATE);
        }
        assert_matches_brute(r, &b, NULL, "permutation");
        if (first == NULL) {
            first = r;
            continue;
        }
        assert_same_state(first, r, "permutation");
        tally_rollup_free(r);
    }
    tally_rollup_free(first);
    brute_free(&b);
}

Test(rollup_seats, applying_the_input_twice_equals_once)
{
    enum { N = 3000 };
    static sev_t ev[N];
    rng_t g = {2718};
    size_t n = make_events(&g, ev, N, 3, 20, 10, 5);
    tally_rollup_t *once = new_state(&wide), *twice = new_state(&wide);

    for (size_t i = 0; i < n; i++) {
        put(once, &ev[i]);
        put(twice, &ev[i]);
    }
    tally_rollup_clear_changes(twice);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(put(twice, &ev[i]), TALLY_ROLLUP_DUPLICATE, "event %zu", i);
    tally_rollup_stats_t st;
    tally_rollup_stats(twice, &st);
    cr_assert_eq(st.changed_seats + st.changed_entries, 0);
    assert_same_state(once, twice, "twice");
    tally_rollup_free(once);
    tally_rollup_free(twice);
}

/* ---- open days, folding, expiry ----------------------------------------- */

Test(rollup_seats, closed_days_fold_into_bases_and_refuse_late_events)
{
    tally_rollup_config_t c = {.open_days = 3};
    tally_rollup_t *r = new_state(&c);
    tally_rollup_stats_t st;
    topics_t t;

    topics_init(&t);
    seat_op(r, "kept", T0 + MS_HOUR, A, "e1");
    seat_op(r, "gone", T0 + 2 * MS_HOUR, A, "e2");
    seat_op(r, "gone", T0 + DAY, R, "e3");
    seat_op(r, "back", T0 + DAY, A, "e4");
    seat_op(r, "back", T0 + DAY + 1, R, "e5");
    commit_batch(r, &t);
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.seats, 3);
    cr_assert_eq(st.seat_events, 5);

    /* Day 4 opens; days 0 and 1 close (open: 2, 3, 4). */
    cr_assert_eq(seat_op(r, "new", T0 + 4 * DAY, A, "e6"), TALLY_ROLLUP_APPLIED);
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.seats, 2, "released seats of closed days are forgotten");
    cr_assert_eq(st.seat_events, 1);
    expect_day(r, "t1", D0 + 4, 2, 2);
    tally_seat_rollup_t s;
    cr_assert(tally_rollup_get_seat(r, "t1", D0 + 1, &s));
    cr_assert(s.closed);
    cr_assert_eq(s.seats_in_use, 1);

    cr_assert_eq(seat_op(r, "kept", T0 + DAY + 5, R, "e7"), TALLY_ROLLUP_TOO_LATE);
    cr_assert_eq(seat_op(r, "gone", T0 + 3, A, "e8"), TALLY_ROLLUP_TOO_LATE);
    cr_assert(tally_rollup_seat_assigned(r, "t1", "kept"));
    /* Day 2 is open but had no events: a late one makes its rollup from
     * the seats carried in. */
    cr_assert_eq(seat_op(r, "other", T0 + 2 * DAY + 5, A, "e9"), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0 + 2, 2, 2);
    expect_day(r, "t1", D0 + 4, 3, 3);
    /* A forgotten seat comes back as a new one. */
    cr_assert_eq(seat_op(r, "gone", T0 + 4 * DAY + 1, A, "e10"), TALLY_ROLLUP_APPLIED);
    expect_day(r, "t1", D0 + 4, 4, 4);
    commit_batch(r, &t);

    /* The changelog holds the folded history; restoring it gives the
     * same state and the same answers. */
    tally_rollup_t *back = restore_state(&c, &t.changelog);
    assert_same_state(r, back, "restored after folding");
    cr_assert_eq(seat_op(back, "kept", T0 + DAY + 5, R, "e7"), TALLY_ROLLUP_TOO_LATE);
    cr_assert_eq(seat_op(back, "kept", T0 + 3 * DAY, R, "e11"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(r, "kept", T0 + 3 * DAY, R, "e11"), TALLY_ROLLUP_APPLIED);
    assert_same_state(r, back, "after a late release");
    expect_day(back, "t1", D0 + 3, 1, 2);
    expect_day(back, "t1", D0 + 4, 3, 3);

    /* Sweeping removes the closed rollups, nothing else. */
    cr_assert_eq(tally_rollup_expire(r, 0), 2);
    cr_assert(!tally_rollup_get_seat(r, "t1", D0 + 1, &s));
    assert_same_state(r, back, "after sweeping");
    tally_rollup_free(back);
    tally_rollup_free(r);
    topics_free(&t);
}

Test(rollup_seats, released_seats_are_forgotten_but_the_newest_day_stays)
{
    tally_rollup_config_t c = {.open_days = 1};
    tally_rollup_t *r = new_state(&c);
    tally_rollup_stats_t st;

    seat_op(r, "a", T0, A, "e1");
    seat_op(r, "a", T0 + 1, R, "e2");
    seat_op(r, "b", T0 + DAY, R, "e3"); /* folds day 0 */
    seat_op(r, "b", T0 + 2 * DAY, R, "e4");
    tally_rollup_clear_changes(r);
    tally_rollup_expire(r, 0);
    tally_rollup_clear_changes(r);
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.seats, 1);
    cr_assert_eq(st.tenants, 1);
    /* A usage report shares the interned tenant id. */
    tally_rollup_report_t u = {"t1", "prod", "r", 1, T0, 1, 0, 0, 0};
    cr_assert_eq(tally_rollup_apply_usage(r, &u), TALLY_ROLLUP_APPLIED);
    seat_op(r, "c", T0 + 9 * DAY, R, "e5"); /* folds b's release: b forgotten */
    tally_rollup_clear_changes(r);
    tally_rollup_expire(r, 0);
    tally_rollup_clear_changes(r);
    tally_rollup_stats(r, &st);
    cr_assert_eq(st.seats, 1);
    cr_assert_eq(st.seat_rollups, 1);
    tally_api_rollup_t a;
    cr_assert(tally_rollup_get_api(r, "t1", "prod", D0, &a));
    tally_rollup_free(r);
}

Test(rollup_seats, restoring_with_fewer_open_days_folds_and_says_so)
{
    enum { N = 2000 };
    static sev_t ev[N];
    rng_t g = {77};
    size_t n = make_events(&g, ev, N, 2, 15, 20, 0);
    topics_t t;
    topics_init(&t);
    tally_rollup_t *r = new_state(&wide);
    for (size_t i = 0; i < n; i++)
        put(r, &ev[i]);
    commit_batch(r, &t);

    tally_rollup_config_t narrow = {.open_days = 5};
    tally_rollup_t *back = restore_state(&narrow, &t.changelog);
    tally_rollup_stats_t st;
    tally_rollup_stats(back, &st);
    cr_assert_gt(st.changed_entries, 0, "the folded seats are to be written");
    commit_batch(back, &t);
    /* Its open days agree with the wide state's. */
    brute_t b;
    brute_force(ev, n, &b);
    assert_matches_brute(back, &b, NULL, "narrowed");
    tally_rollup_t *again = restore_state(&narrow, &t.changelog);
    assert_same_state(back, again, "narrowed, restored");
    brute_free(&b);
    tally_rollup_free(again);
    tally_rollup_free(back);
    tally_rollup_free(r);
    topics_free(&t);
}

/* ---- the changelog round trip and a long randomized run ----------------- */

Test(rollup_seats, changelog_round_trip_restores_state_and_behaviour)
{
    enum { N = 6000 };
    static sev_t ev[N];
    rng_t g = {1618};
    size_t n = make_events(&g, ev, N, 4, 25, 12, 5);
    tally_rollup_config_t c = {.open_days = 35};
    tally_rollup_t *r = new_state(&c);
    topics_t t;

    topics_init(&t);
    for (size_t i = 0; i < n / 2; i++)
        put(r, &ev[i]);
    commit_batch(r, &t);
    tally_rollup_t *back = restore_state(&c, &t.changelog);
    assert_same_state(r, back, "restored");
    for (size_t i = n / 2; i < n; i++)
        cr_assert_eq(put(r, &ev[i]), put(back, &ev[i]), "event %zu", i);
    assert_same_state(r, back, "after the second half");
    tally_rollup_free(back);
    tally_rollup_free(r);
    topics_free(&t);
}

/* rollup.h: seat_ref is the seat's identity. The anonymizer's refs of one
 * user are equal before and after a pseudonym key rotation (the seat key
 * does not rotate), so the scenario of a rotation is, here: assign, commit
 * and restore from the changelog, then release and re-assign under the
 * same ref; the counts stay exact and no entry doubles. A ref that changed
 * would be another seat, which is why the anonymizer must never change it. */
Test(rollup_seats, a_seat_is_its_ref_across_a_restore)
{
    tally_rollup_config_t c = {.open_days = 35};
    tally_rollup_t *r = new_state(&c);
    topics_t t;
    topics_init(&t);
    cr_assert_eq(seat_op(r, "v1:alice", T0 + 1 * MS_HOUR, A, "e1"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(r, "v1:bob", T0 + 2 * MS_HOUR, A, "e2"), TALLY_ROLLUP_APPLIED);
    commit_batch(r, &t);
    tally_rollup_t *back = restore_state(&c, &t.changelog);
    tally_rollup_free(r);
    cr_assert(tally_rollup_seat_assigned(back, "t1", "v1:alice"));
    cr_assert_eq(seat_op(back, "v1:alice", T0 + DAY + 1 * MS_HOUR, R, "e3"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(back, "v1:alice", T0 + DAY + 2 * MS_HOUR, A, "e4"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(back, "v1:carol", T0 + DAY + 3 * MS_HOUR, A, "e5"), TALLY_ROLLUP_APPLIED);
    cr_assert_eq(seat_op(back, "v1:bob", T0 + 2 * DAY + 1 * MS_HOUR, R, "e6"), TALLY_ROLLUP_APPLIED);
    expect_day(back, "t1", D0, 2, 2);
    expect_day(back, "t1", D0 + 1, 3, 3);
    expect_day(back, "t1", D0 + 2, 2, 3);
    tally_rollup_stats_t st;
    tally_rollup_stats(back, &st);
    cr_assert_eq(st.seats, 3, "seat entries: %zu", st.seats);

    /* Another ref is another seat: its release releases nothing. */
    cr_assert_eq(seat_op(back, "v2:alice", T0 + 2 * DAY + 2 * MS_HOUR, R, "e7"), TALLY_ROLLUP_APPLIED);
    expect_day(back, "t1", D0 + 2, 2, 3);
    cr_assert(tally_rollup_seat_assigned(back, "t1", "v1:alice"));
    tally_rollup_free(back);
    topics_free(&t);
}

typedef struct {
    int64_t arrival;
    size_t index;
    sev_t e;
} sdelivery_t;

static int by_arrival(const void *a, const void *b)
{
    const sdelivery_t *x = a, *y = b;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* 30,000 seat events of 6 tenants over 40 days, delivered up to 3 days
 * late (inside 5 open days, so none is too late), 5 % twice, in batches
 * that abort (restore and redo), crash (restore) and sweep at random. The
 * last rollup produced for every day, the seats and the open rollups
 * equal the brute force over all the distinct events in time order. */
Test(rollup_seats, randomized_late_events_with_aborts_and_crashes, .timeout = 300)
{
    enum { N = 30000 };
    static sev_t ev[N];
    static sdelivery_t d[N];
    uint64_t seed = 4242;
    rng_t g = {seed};
    size_t n = make_events(&g, ev, N, 6, 40, 40, 5);
    for (size_t i = 0; i < n; i++) {
        int64_t delay = rng_below(&g, 4) ? rng_range(&g, 0, 10 * MS_MIN) : rng_range(&g, 0, 3 * DAY - 1);
        d[i] = (sdelivery_t){ev[i].at + delay, i, ev[i]};
    }
    qsort(d, n, sizeof d[0], by_arrival);
    brute_t b;
    brute_force(ev, n, &b);

    tally_rollup_config_t c = {.open_days = 5, .size_hint = 16};
    topics_t t;
    topics_init(&t);
    tally_rollup_t *r = new_state(&c);
    int aborts = 0, crashes = 0;
    uint64_t late = 0;
    for (size_t at = 0; at < n;) {
        size_t len = 1 + rng_below(&g, 300), end = at + len < n ? at + len : n;
        for (size_t i = at; i < end; i++) {
            tally_rollup_outcome_t o = put(r, &d[i].e);
            cr_assert(o == TALLY_ROLLUP_APPLIED || o == TALLY_ROLLUP_DUPLICATE, "seed %" PRIu64
                      ", delivery %zu: %s", seed, i, tally_rollup_outcome_name(o));
        }
        if (rng_below(&g, 3) == 0)
            tally_rollup_expire(r, rng_below(&g, 4) ? rng_below(&g, 16) : 0);
        if (rng_below(&g, 30) == 0) {
            tally_rollup_free(r);
            r = restore_state(&c, &t.changelog);
            aborts++;
            continue;
        }
        commit_batch(r, &t);
        at = end;
        if (rng_below(&g, 40) == 0) {
            tally_rollup_free(r);
            r = restore_state(&c, &t.changelog);
            crashes++;
        }
    }
    for (size_t i = 1; i < n; i++)
        late += d[i].e.at < d[i - 1].e.at;
    cr_assert_gt(late, 1000);
    cr_assert_gt(aborts, 0);
    cr_assert_gt(crashes, 0);
    assert_matches_brute(r, &b, &t, "randomized");
    tally_rollup_stats_t st;
    tally_rollup_stats(r, &st);
    cr_assert_lt(st.seat_events, n / 4, "the history stays bounded");

    brute_free(&b);
    tally_rollup_free(r);
    topics_free(&t);
}

/* Seats and usage in one state, as the partition carries them. */
Test(rollup_seats, seats_and_usage_share_a_state)
{
    tally_rollup_t *r = new_state(&wide);
    topics_t t;
    tally_rollup_report_t u = {"t1", "prod", "r", 1, T0, 10, 0, 0, 0};

    topics_init(&t);
    seat_op(r, "a", T0, A, "e1");
    tally_rollup_apply_usage(r, &u);
    commit_batch(r, &t);
    cr_assert_eq(t.api.count, 1);
    cr_assert_eq(t.seat.count, 1);
    cr_assert_eq(t.changelog.count, 3);
    tally_rollup_t *back = restore_state(&wide, &t.changelog);
    assert_same_state(r, back, "mixed");
    tally_rollup_free(back);
    tally_rollup_free(r);
    topics_free(&t);
}
