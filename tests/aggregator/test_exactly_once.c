/* Exactly once, through rebalances and crashes: 200,000 usage reports and
 * seat events (TALLY_TEST_RECORDS=N for another size) from many reporters
 * and tenants flow into three tally-aggregator instances of one group while
 * instances are killed with SIGKILL at random moments and restarted, stopped
 * with SIGTERM and restarted, or frozen past their session so that the group
 * moves their partitions while they hold an open transaction (zombies).
 * Every run has at least MIN_EACH kills and MIN_EACH clean stops, counted
 * both as signals delivered and as exits observed. Every change of members
 * is a rebalance. In the end, the last rollup of every
 * key on the rollups topic equals what a direct model of the generated
 * input says, exactly, and no other key is there.
 *
 * The model knows nothing of seqs, duplicates, expiry or changelogs: it
 * walks the reports each reporter actually sent (duplicate and stale
 * copies are not reports) and the seat events in time order:
 *   - API calls of (tenant, environment, day) = the sum over reporters of
 *     (the highest counter the reporter sent up to the end of that day
 *     minus the highest it sent before that day), updated_at the newest
 *     observed_at of that day; a reporter's total is its highest counter;
 *   - seats of (tenant, day) = assigned seats after the day's last event,
 *     the peak the most assigned at once counting those carried in, for
 *     each day with events. */
#include "agg_gen.h"
#include "agg_kafka.h"
#include "codec.h"
#include "schema_catalog.h"
#include "timeutil.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define RECORDS 200000            /* by default; TALLY_TEST_RECORDS=N */
#define TENANTS 40
#define ENVS 3
#define SEATS 40                  /* seat refs per tenant */
#define SEAT_EVENTS 1000          /* distinct seat events per tenant, at RECORDS */
#define INSTANCES 3
#define PRODUCE_MS 40000
#define MIN_KILLS 5               /* while records arrive */
#define MIN_EACH 2                /* SIGKILLs, and SIGTERM stops, in every run */
#define MAX_EVENTS 20             /* kills, stops and zombies together */
#define MIN_MS INT64_C(60000)
#define HOUR INT64_C(3600000)
#define T0 INT64_C(1714521600000) /* 2024-05-01T00:00:00Z */
#define FIRST_DAY 19843           /* T0 - 12 h is on 2024-04-30 */
#define DAYS 10

static const char *const env_names[ENVS] = {"prod", "staging", "dev"};

/* ---- the input ------------------------------------------------------------------ */

typedef struct report_t {
    uint16_t tenant, env;
    uint32_t reporter;
    int64_t seq, at;
    int64_t v[4];      /* counters as sent */
    uint8_t lost;      /* never sent */
} report_t;

typedef struct seat_ev_t {
    uint16_t tenant, seat;
    uint8_t op;
    int64_t at;
    uint32_t n;        /* event number, for its id */
} seat_ev_t;

/* One record to produce: a report or seat event (original or copy). */
typedef struct send_t {
    int64_t sort;
    uint32_t order;    /* tie-break: generation order */
    uint32_t index;
    uint8_t is_seat;
} send_t;

typedef struct input_t {
    report_t *reports;
    size_t n_reports;
    seat_ev_t *seats;
    size_t n_seats;
    send_t *sends;
    size_t n_sends;
    size_t n_reporters, dups, stales, glitches, lost;
} input_t;

static uint64_t rng_state;
static size_t records = RECORDS;     /* the input's size */
static int seat_events = SEAT_EVENTS; /* per tenant, scaled with records */

static uint64_t rnd(void)
{
    /* xorshift64*: the input depends only on the seed. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static int64_t rnd_below(int64_t n)
{
    return (int64_t)(rnd() % (uint64_t)n);
}

static void add_send(input_t *in, int64_t sort, uint32_t index, uint8_t is_seat)
{
    cr_assert_lt(in->n_sends, records);
    in->sends[in->n_sends] = (send_t){sort, (uint32_t)in->n_sends, index, is_seat};
    in->n_sends++;
}

static int send_cmp(const void *a, const void *b)
{
    const send_t *x = a, *y = b;
    if (x->sort != y->sort)
        return x->sort < y->sort ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void generate(input_t *in)
{
    memset(in, 0, sizeof *in);
    in->sends = calloc(records, sizeof *in->sends);
    in->seats = calloc((size_t)TENANTS * (size_t)seat_events, sizeof *in->seats);
    in->reports = calloc(records, sizeof *in->reports);

    /* Seat events: strictly increasing times per tenant over three days,
     * arriving up to three hours early or late, some twice. */
    const int64_t step = 72 * HOUR / seat_events;
    for (int t = 0; t < TENANTS; t++)
        for (int i = 0; i < seat_events; i++) {
            seat_ev_t *e = &in->seats[in->n_seats];
            e->tenant = (uint16_t)t;
            e->seat = (uint16_t)rnd_below(SEATS);
            e->op = rnd_below(100) < 55 ? TALLY_SEAT_ASSIGNED : TALLY_SEAT_RELEASED;
            e->at = T0 - 12 * HOUR + i * step + rnd_below(step);
            e->n = (uint32_t)in->n_seats;
            int64_t sort = e->at + rnd_below(6 * HOUR) - 3 * HOUR;
            add_send(in, sort, (uint32_t)in->n_seats, 1);
            if (rnd_below(100) < 2) {
                add_send(in, sort + rnd_below(30 * 60000), (uint32_t)in->n_seats, 1);
                in->dups++;
            }
            in->n_seats++;
        }

    /* Reporters until the records are all there: each sends 20-140
     * cumulative reports 5-60 minutes apart (seq gaps now and then); 2 %
     * are lost, 1 % are glitches (counters below the last), 2 % are sent
     * twice at once and 2 % again hours later. */
    while (in->n_sends < records) {
        uint16_t tenant = (uint16_t)rnd_below(TENANTS), env = (uint16_t)rnd_below(ENVS);
        uint32_t reporter = (uint32_t)in->n_reporters++;
        int64_t at = T0 - 12 * HOUR + rnd_below(48 * HOUR), seq = 0, c[4] = {0, 0, 0, 0};
        int count = 20 + (int)rnd_below(121);
        for (int i = 0; i < count && in->n_sends < records; i++) {
            report_t *r = &in->reports[in->n_reports];
            seq += 1 + (rnd_below(10) == 0 ? rnd_below(3) : 0);
            at += (5 + rnd_below(56)) * 60000;
            int64_t calls = rnd_below(50);
            c[0] += calls;
            c[1] += calls ? rnd_below(calls / 5 + 1) : 0;
            c[2] += calls ? rnd_below(calls / 20 + 1) : 0;
            c[3] += calls * (1 + rnd_below(40));
            *r = (report_t){.tenant = tenant, .env = env, .reporter = reporter, .seq = seq, .at = at};
            memcpy(r->v, c, sizeof c);
            if (i > 0 && rnd_below(100) == 0) {
                for (int k = 0; k < 4; k++)
                    r->v[k] = c[k] / 2;
                in->glitches++;
            }
            uint32_t idx = (uint32_t)in->n_reports++;
            if (rnd_below(100) < 2) {
                r->lost = 1;
                in->lost++;
                continue;
            }
            int64_t sort = at + rnd_below(120000);
            add_send(in, sort, idx, 0);
            if (in->n_sends < records && rnd_below(100) < 2) {
                add_send(in, sort + 1, idx, 0);
                in->dups++;
            }
            if (in->n_sends < records && rnd_below(100) < 2) {
                add_send(in, sort + (60 + rnd_below(180)) * 60000, idx, 0);
                in->stales++;
            }
        }
    }
    qsort(in->sends, in->n_sends, sizeof *in->sends, send_cmp);
}

static void input_free(input_t *in)
{
    free(in->reports);
    free(in->seats);
    free(in->sends);
}

static void tenant_name(char *out, size_t size, int t)
{
    snprintf(out, size, "tenant-%03d", t);
}

static void reporter_name(char out[37], uint32_t reporter)
{
    agg_uuid(out, 0x5e9017e5u, reporter);
}

/* ---- the model --------------------------------------------------------------------- */

typedef struct cell_t {
    int present;
    int64_t v[4];
    int64_t updated_at;
} cell_t;

typedef struct model_t {
    cell_t api[TENANTS][ENVS][DAYS];
    cell_t seat[TENANTS][DAYS];
    size_t n_api, n_seat;
} model_t;

static int day_index(int64_t at)
{
    int64_t d = tally_utc_day(at) - FIRST_DAY;
    cr_assert(d >= 0 && d < DAYS, "time outside the model's days");
    return (int)d;
}

static void model_build(const input_t *in, model_t *m)
{
    memset(m, 0, sizeof *m);
    /* Reports: a reporter's reports are contiguous, in seq order. */
    int64_t hi[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < in->n_reports; i++) {
        const report_t *r = &in->reports[i];
        if (i == 0 || r->reporter != in->reports[i - 1].reporter)
            memset(hi, 0, sizeof hi);
        if (r->lost)
            continue;
        cell_t *c = &m->api[r->tenant][r->env][day_index(r->at)];
        for (int k = 0; k < 4; k++)
            if (r->v[k] > hi[k]) {
                c->v[k] += r->v[k] - hi[k];
                hi[k] = r->v[k];
            }
        if (!c->present || r->at > c->updated_at)
            c->updated_at = r->at;
        c->present = 1;
    }
    /* Seats: each tenant's events are generated in time order. */
    for (int t = 0; t < TENANTS; t++) {
        int assigned[SEATS] = {0};
        int64_t in_use = 0, carried = 0;
        int day = -1;
        for (size_t i = 0; i < in->n_seats; i++) {
            const seat_ev_t *e = &in->seats[i];
            if (e->tenant != t)
                continue;
            int d = day_index(e->at);
            if (d != day) {
                carried = in_use;
                day = d;
                m->seat[t][d].present = 1;
                m->seat[t][d].v[1] = carried;
            }
            int now = e->op == TALLY_SEAT_ASSIGNED;
            in_use += now - assigned[e->seat];
            assigned[e->seat] = now;
            cell_t *c = &m->seat[t][d];
            c->v[0] = in_use;
            if (in_use > c->v[1])
                c->v[1] = in_use;
            c->updated_at = e->at;
        }
    }
    for (int t = 0; t < TENANTS; t++)
        for (int d = 0; d < DAYS; d++) {
            m->n_seat += m->seat[t][d].present;
            for (int e = 0; e < ENVS; e++)
                m->n_api += m->api[t][e][d].present;
        }
}

/* ---- producing ---------------------------------------------------------------------- */

typedef struct feeder_t {
    const agg_env_t *e;
    const input_t *in;
    const tally_catalog_t *cat;
    agg_producer_t p;
    volatile int done;
} feeder_t;

static void produce_one(feeder_t *f, agg_gen_t *g, const send_t *s)
{
    char tenant[32], reporter[37], id[37], seat[32];
    const void *buf;
    size_t len;
    if (s->is_seat) {
        const seat_ev_t *e = &f->in->seats[s->index];
        tenant_name(tenant, sizeof tenant, e->tenant);
        agg_uuid(id, 0x5ea7u, e->n);
        snprintf(seat, sizeof seat, "seat-%02u", (unsigned)e->seat);
        tally_rollup_seat_event_t ev = {id, tenant, seat, (tally_seat_op_t)e->op, e->at};
        if (agg_gen_seat(g, &ev, &buf, &len) != 0)
            abort();
    } else {
        const report_t *r = &f->in->reports[s->index];
        tenant_name(tenant, sizeof tenant, r->tenant);
        reporter_name(reporter, r->reporter);
        tally_rollup_report_t rep = {tenant, env_names[r->env], reporter, r->seq, r->at,
                                     r->v[0], r->v[1], r->v[2], r->v[3]};
        if (agg_gen_report(g, &rep, &buf, &len) != 0)
            abort();
    }
    agg_produce(&f->p, f->e->usage, RD_KAFKA_PARTITION_UA, tenant, strlen(tenant), buf, len);
}

/* Produces at a steady pace, so that the kills land while records arrive
 * as well as while the backlog drains. */
static void *feed(void *arg)
{
    feeder_t *f = arg;
    agg_gen_t g;
    if (agg_gen_init(&g, f->cat) != 0)
        abort();
    long long t0 = agg_now_ms();
    for (size_t i = 0; i < f->in->n_sends; i++) {
        produce_one(f, &g, &f->in->sends[i]);
        if (i % 1000 == 999) {
            long long due = t0 + (long long)(i + 1) * PRODUCE_MS / (long long)records;
            while (agg_now_ms() < due)
                rd_kafka_poll(f->p.rk, 5);
        }
    }
    rd_kafka_flush(f->p.rk, 60000);
    agg_gen_done(&g);
    f->done = 1;
    return NULL;
}

/* ---- the instances ------------------------------------------------------------------- */

typedef struct fleet_t {
    const agg_env_t *e;
    tally_test_proc_t *proc[INSTANCES];
    int port[INSTANCES];    /* admin */
    int frozen[INSTANCES];  /* was a zombie: may exit on its own (fenced) */
    int restores, moved;   /* from the logs of stopped instances */
    int zombie_exits;
    /* Signals delivered (kill(2) succeeded on a running process) and what
     * came of them: a SIGTERM that ended in exit status 0 after the
     * drain's "stopped cleanly", a SIGKILL that ended WIFSIGNALED SIGKILL. */
    int term_sent, kill_sent, clean_exits, killed;
} fleet_t;

static const char *const extra_args[] = {
    "--batch-max-records=2000", "--batch-max-time=100ms",
    /* A killed member leaves the group after 6 s (the broker's minimum),
     * not librdkafka's default 45 s. */
    "-Xconsumer.session.timeout.ms=6000", "-Xconsumer.heartbeat.interval.ms=500",
    NULL,
};

static void start(fleet_t *f, int i)
{
    char name[16], line[512];
    snprintf(name, sizeof name, "eo-%d", i);
    f->proc[i] = agg_spawn(f->e, name, extra_args, line, sizeof line);
    f->port[i] = tally_test_port_from_line(line);
    f->frozen[i] = 0;
}

static int count(const char *log, const char *needle)
{
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void tally_logs(fleet_t *f, int i)
{
    const char *log = tally_test_log(f->proc[i]);
    f->restores += count(log, "[aggregator] restored ");
    f->moved += count(log, "the restored state belongs to offset");
}

/* Every instance must still run. Only a former zombie may have exited on
 * its own (a fatal error is the engine's answer to being fenced: exit and
 * be restarted); it is restarted like a supervisor would. */
static void check_running(fleet_t *f)
{
    for (int i = 0; i < INSTANCES; i++) {
        int st = tally_test_wait(f->proc[i], 0);
        if (st == -1)
            continue;
        cr_assert(f->frozen[i], "instance %d exited on its own (status %d); log:\n%s", i, st,
                  tally_test_log(f->proc[i]));
        cr_assert_eq(st, 1, "a zombie exits with status 1; log:\n%s", tally_test_log(f->proc[i]));
        tally_logs(f, i);
        tally_test_proc_free(f->proc[i]);
        f->zombie_exits++;
        start(f, i);
    }
}

static void stop(fleet_t *f, int i, int sig)
{
    int sent = tally_test_signal(f->proc[i], sig) == 0;
    cr_assert(sent, "instance %d had exited before the signal %d; log:\n%s", i, sig, tally_test_log(f->proc[i]));
    int st = tally_test_wait(f->proc[i], 30000), raw = tally_test_raw_status(f->proc[i]);
    if (sig == SIGKILL) {
        f->kill_sent++;
        cr_assert_eq(st, 128 + SIGKILL);
        f->killed += WIFSIGNALED(raw) && WTERMSIG(raw) == SIGKILL;
    } else {
        f->term_sent++;
        cr_assert_eq(st, 0, "SIGTERM must end in a clean exit; log:\n%s", tally_test_log(f->proc[i]));
        f->clean_exits += WIFEXITED(raw) && WEXITSTATUS(raw) == 0 &&
                          strstr(tally_test_log(f->proc[i]), "stopped cleanly") != NULL;
    }
    tally_logs(f, i);
    tally_test_proc_free(f->proc[i]);
    f->proc[i] = NULL;
}

/* A zombie: frozen (SIGSTOP) longer than its session, so the group gives
 * its partitions to the others while its transaction is open, then
 * thawed: it must find its assignment lost and abort, or be fenced. */
static void freeze(fleet_t *f, int i, int ms)
{
    /* Only an instance that holds partitions can be a zombie. */
    long long deadline = agg_now_ms() + 15000;
    while (agg_metric(f->port[i], "tally_txn_assigned_partitions") <= 0 && agg_now_ms() < deadline)
        usleep(100 * 1000);
    tally_test_signal(f->proc[i], SIGSTOP);
    usleep((useconds_t)ms * 1000);
    tally_test_signal(f->proc[i], SIGCONT);
    f->frozen[i] = 1;
}

/* ---- the test ------------------------------------------------------------------------- */

/* Where a decoded rollup belongs in the model's tables, or NULL for a
 * tenant, environment or day the input never had. */
static cell_t *cell_of(model_t *m, const agg_rollup_t *r)
{
    int t = -1, env = -1, d = r->day - FIRST_DAY;
    if (sscanf(r->tenant, "tenant-%d", &t) != 1 || t < 0 || t >= TENANTS || d < 0 || d >= DAYS)
        return NULL;
    if (r->seat)
        return &m->seat[t][d];
    for (int k = 0; k < ENVS; k++)
        if (strcmp(r->env, env_names[k]) == 0)
            env = k;
    return env < 0 ? NULL : &m->api[t][env][d];
}

static void expected_key(const agg_rollup_t *r, char *out, size_t size)
{
    char day[TALLY_DATE_SIZE];
    cr_assert_eq(tally_date_format(r->day, day), 0);
    if (r->seat)
        snprintf(out, size, "%s|%s", r->tenant, day);
    else
        snprintf(out, size, "%s|%s|%s", r->tenant, r->env, day);
}

enum { KILL, STOP, FREEZE };

/* The next event. By default: kills and clean stops alternate at first
 * (K S K K S K K), all while records arrive, then one zombie, then at
 * random: a quarter stops, 1 in 8 a zombie (two at most), the rest kills.
 * With TALLY_TEST_GRACEFUL_STOPS=N (0-7), a stress run of clean handovers:
 * a kill, a stop, then N of 8 stops at random. Either way, the last
 * events make up for kills or stops short of MIN_EACH. */
static int next_event(int ev, int stress, int graceful_stops, int kills, int stops, int freezes)
{
    static const int head[] = {KILL, STOP, KILL, KILL, STOP, KILL, KILL, FREEZE};
    int need_kills = kills < MIN_EACH ? MIN_EACH - kills : 0, need_stops = stops < MIN_EACH ? MIN_EACH - stops : 0;
    if (need_kills + need_stops >= MAX_EVENTS - ev)
        return need_kills ? KILL : STOP;
    if (stress && ev < 2)
        return head[ev];
    if (!stress && ev < (int)(sizeof head / sizeof head[0]))
        return head[ev];
    int r = rand() % 8;
    if (r == 0 && freezes < 2)
        return FREEZE;
    return r >= 1 && r <= graceful_stops ? STOP : KILL;
}

static int cell_eq(const cell_t *a, const cell_t *b, int n)
{
    for (int k = 0; k < n; k++)
        if (a->v[k] != b->v[k])
            return 0;
    return a->updated_at == b->updated_at;
}

Test(exactly_once, rollups_equal_the_model_through_rebalances_and_kill_9, .timeout = 600)
{
    char err[512];
    long long t_start = agg_now_ms();
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    if (getenv("TALLY_TEST_SEED"))
        seed = (unsigned)strtoul(getenv("TALLY_TEST_SEED"), NULL, 10);
    srand(seed);
    rng_state = 0x9e3779b97f4a7c15ULL ^ seed;
    if (getenv("TALLY_TEST_RECORDS")) {
        records = (size_t)strtoul(getenv("TALLY_TEST_RECORDS"), NULL, 10);
        cr_assert(records >= 10000 && records <= 1000000, "TALLY_TEST_RECORDS=%zu: 10000 to 1000000", records);
        seat_events = (int)(SEAT_EVENTS * records / RECORDS);
    }
    fprintf(stderr, "exactly_once: seed %u (TALLY_TEST_SEED=%u repeats it)\n", seed, seed);

    static input_t in;
    static model_t model, seen;
    generate(&in);
    model_build(&in, &model);
    fprintf(stderr,
            "exactly_once: %zu records: %zu reports of %zu reporters sent (%zu lost, %zu glitches), %zu duplicate "
            "and stale copies, %zu seat events; model: %zu API rollups, %zu seat rollups\n",
            in.n_sends, in.n_reports - in.lost, in.n_reporters, in.lost, in.glitches, in.dups + in.stales,
            in.n_seats, model.n_api, model.n_seat);
    cr_assert_eq(in.n_sends, records);

    agg_env_t e;
    agg_env_create(&e, "agg-eo", 6);
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);

    fleet_t fleet = {.e = &e};
    for (int i = 0; i < INSTANCES; i++)
        start(&fleet, i);
    feeder_t f = {.e = &e, .in = &in, .cat = cat};
    agg_producer_init(&f.p);
    pthread_t feeder;
    cr_assert_eq(pthread_create(&feeder, NULL, feed, &f), 0);

    int kills = 0, stops = 0, freezes = 0, kills_in_flow = 0;
    const char *gs = getenv("TALLY_TEST_GRACEFUL_STOPS");
    int stress = gs != NULL, graceful_stops = stress ? atoi(gs) : 2;
    cr_assert(graceful_stops >= 0 && graceful_stops <= 7, "TALLY_TEST_GRACEFUL_STOPS=%s: 0 to 7", gs);
    int min_kills = stress ? 1 : MIN_KILLS;
    for (int ev = 0; ev < MAX_EVENTS && (!f.done || kills_in_flow < min_kills || kills < MIN_EACH ||
                                         stops < MIN_EACH); ev++) {
        usleep((useconds_t)(600 + rand() % 2000) * 1000);
        check_running(&fleet);
        int i = rand() % INSTANCES, what = next_event(ev, stress, graceful_stops, kills, stops, freezes);
        if (what == FREEZE) {
            freeze(&fleet, i, 7000 + rand() % 2000);
            freezes++;
        } else {
            stop(&fleet, i, what == STOP ? SIGTERM : SIGKILL);
            stops += what == STOP;
            kills += what == KILL;
            kills_in_flow += what == KILL && !f.done;
            usleep((useconds_t)(rand() % 1500) * 1000);
            start(&fleet, i);
        }
        fprintf(stderr, "exactly_once: %5.1f s: %s instance %d; %" PRId64 " records committed%s\n",
                (double)(agg_now_ms() - t_start) / 1000,
                what == FREEZE ? "froze (for a session timeout)" : what == STOP ? "stopped (SIGTERM) and restarted"
                                                                                : "killed and restarted",
                i, agg_committed(&e), f.done ? "" : ", records still arriving");
    }
    /* What the events did, before the final stops add clean exits. */
    const int term_sent = fleet.term_sent, kill_sent = fleet.kill_sent, clean_exits = fleet.clean_exits,
              killed = fleet.killed;
    pthread_join(feeder, NULL);
    agg_producer_t p = f.p;
    agg_producer_close(&p);
    cr_assert_eq(p.delivered, records);
    long long deadline = agg_now_ms() + 180000;
    while (agg_wait_done(&e, 1000) != 0) {
        cr_assert_lt(agg_now_ms(), deadline, "the aggregators did not finish the input");
        check_running(&fleet);
    }
    check_running(&fleet);
    for (int i = 0; i < INSTANCES; i++)
        stop(&fleet, i, SIGTERM);
    fprintf(stderr, "exactly_once: processed through %d kills (%d while records arrived), %d clean stops and %d "
            "zombies (%d exited fenced) in %lld ms; %d restores, %d started at the state's position, not the committed offset\n", kills,
            kills_in_flow, stops, freezes, fleet.zombie_exits, agg_now_ms() - t_start, fleet.restores, fleet.moved);
    fprintf(stderr, "exactly_once: signals delivered: %d SIGKILL, %d SIGTERM; observed: %d ended by SIGKILL, %d clean "
            "exits (status 0 after \"stopped cleanly\")\n", kill_sent, term_sent, killed, clean_exits);
    cr_assert_geq(kills_in_flow, min_kills, "only %d kills landed while records arrived", kills_in_flow);
    cr_assert_geq(kill_sent, MIN_EACH, "only %d SIGKILLs were delivered", kill_sent);
    cr_assert_geq(killed, MIN_EACH, "only %d instances ended by SIGKILL", killed);
    cr_assert_geq(term_sent, MIN_EACH, "only %d SIGTERM stops were delivered", term_sent);
    cr_assert_geq(clean_exits, MIN_EACH, "only %d SIGTERM stops ended in a clean exit", clean_exits);
    cr_assert_eq(killed, kills);
    cr_assert_eq(clean_exits, stops);

    /* The last rollup of each key: a key lives in one partition, read in
     * offset order, so each record overwrites the one before. */
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    agg_record_t *recs;
    size_t n = agg_read_all(e.rollups, &recs), extra = 0, bad_keys = 0;
    for (size_t i = 0; i < n; i++) {
        agg_rollup_t r;
        char key[320];
        cr_assert_eq(agg_rollup_decode(dec, recs[i].value, recs[i].len, &r), 0);
        expected_key(&r, key, sizeof key);
        if (strcmp(key, recs[i].key) != 0 && bad_keys++ < 5)
            fprintf(stderr, "exactly_once: key %s holds the rollup of %s\n", recs[i].key, key);
        cell_t *c = cell_of(&seen, &r);
        if (c == NULL) {
            extra++;
            continue;
        }
        c->present = 1;
        memcpy(c->v, r.v, sizeof c->v);
        c->updated_at = r.updated_at;
    }
    agg_records_free(recs, n);

    size_t missing = 0, unexpected = 0, wrong = 0, shown = 0;
    for (int t = 0; t < TENANTS; t++)
        for (int d = 0; d < DAYS; d++) {
            for (int k = 0; k <= ENVS; k++) {
                const cell_t *want = k < ENVS ? &model.api[t][k][d] : &model.seat[t][d];
                const cell_t *got = k < ENVS ? &seen.api[t][k][d] : &seen.seat[t][d];
                int nv = k < ENVS ? 4 : 2;
                if (want->present && !got->present)
                    missing++;
                else if (!want->present && got->present)
                    unexpected++;
                else if (want->present && !cell_eq(want, got, nv))
                    wrong++;
                else
                    continue;
                if (shown++ < 10)
                    fprintf(stderr,
                            "exactly_once: tenant-%03d %s day %d: want %s%" PRId64 " %" PRId64 " %" PRId64
                            " %" PRId64 " @%" PRId64 ", got %s%" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
                            " @%" PRId64 "\n",
                            t, k < ENVS ? env_names[k] : "seats", FIRST_DAY + d, want->present ? "" : "(none) ",
                            want->v[0], want->v[1], want->v[2], want->v[3], want->updated_at,
                            got->present ? "" : "(none) ", got->v[0], got->v[1], got->v[2], got->v[3],
                            got->updated_at);
            }
        }
    size_t dlq_n;
    agg_record_t *dlq;
    dlq_n = agg_read_all(e.dlq, &dlq);
    agg_records_free(dlq, dlq_n);
    fprintf(stderr, "exactly_once: %zu rollup records; %zu keys missing, %zu unexpected, %zu wrong, %zu outside "
            "the input, %zu misnamed; %zu DLQ records (%lld ms)\n", n, missing, unexpected, wrong, extra, bad_keys,
            dlq_n, agg_now_ms() - t_start);
    cr_expect_eq(missing, 0);
    cr_expect_eq(unexpected, 0);
    cr_expect_eq(wrong, 0);
    cr_expect_eq(extra, 0);
    cr_expect_eq(bad_keys, 0);
    cr_expect_eq(dlq_n, 0, "every input record is valid");
    tally_decoder_free(dec);
    tally_catalog_free(cat);
    input_free(&in);
}
