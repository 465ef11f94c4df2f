/* The whole pipeline under faults: the real tally-gateway,
 * tally-anonymizer, tally-aggregator and tally-materializer (build/bin) on
 * topics and a database of their own, restarted by a supervisor loop in
 * this test as systemd would (Restart=always, a short RestartSec), while
 * client threads send usage reports, seat events and Control Panel events
 * and retry as the `tally` client does (a transport error, 408, 429, 5xx or
 * an "overloaded" rejection is tried again after an equal-jitter
 * exponential backoff, never sooner than Retry-After; anything else is a
 * failure of the test). Meanwhile a chaos thread, in a shuffled order,
 * SIGKILLs each pipeline process, the Kafka broker (`kafka.sh kill`, then
 * `start`) and PostgreSQL (`postgres.sh kill`: the postmaster and all its
 * processes, then `start`), TALLY_CHAOS_ROUNDS times each (default 2).
 *
 * The clients send what real reporters do: cumulative counters per
 * reporter with a rising seq, now and then a report lost (never sent), a
 * duplicate (sent twice at once), a stale re-delivery (an older report of
 * the reporter sent again later) and a reporter restart (a new reporter_id
 * whose counters start again from 0); seat ASSIGNED/RELEASED events with
 * repeats (an assigned seat assigned again, a free one released) and
 * re-deliveries of the same event; each tenant's Control Panel events
 * (tenant, environments, license terms), some twice.
 *
 * Checked at the end, against a model built here from what was sent (none
 * of the aggregator's code):
 *   - tally.api_usage_daily: per (tenant, environment, day), the sum over
 *     reporters of each counter's rise on that day (a reporter's highest
 *     value up to the end of the day minus its highest before it);
 *   - tally.seat_usage_daily: per tenant and day with events, the seats
 *     assigned after the day's last event and the most in use at once
 *     (seats carried in from the day before included);
 *   - tally.monthly_usage, tally.monthly_seats and tally.compliance, from
 *     those figures and the license terms sent;
 *   all to the unit, no row missing and none extra.
 *
 * "Exactly once" in Kafka, per (reporter_id, seq) of a usage report (and
 * per event_id of a seat event):
 *   - tally.usage.raw (the test's raw topic) is written by the gateway's
 *     idempotent producer, once per POST that reached it. The gateway adds
 *     no copy of its own (broker retries are deduplicated), but it can be
 *     SIGKILLed after the broker acknowledged a record and before its 202
 *     left, or answer 503 after its ack timeout while the record still
 *     goes out; the client then sends again and the raw topic holds two
 *     copies. So raw is "exactly once per accepted POST": every report
 *     answered 202 is there, copies >= answers 202 and copies <= POSTs;
 *     when every POST of it was answered 202 (no ambiguous attempt),
 *     copies == answers exactly.
 *   - the clean topic (after the anonymizer's transactions, read
 *     read_committed) holds exactly as many copies as raw: the anonymizer
 *     loses nothing and adds nothing through its SIGKILLs and broker kills;
 *   - the rollups and the tables count each (reporter_id, seq) once: the
 *     aggregator drops a seq it has applied, so the tables equal the model.
 *
 * Every fault is counted (a process kill counts when the process ended by
 * that SIGKILL; a broker or PostgreSQL kill when its pid, alive before,
 * was gone after) and the counts are asserted, so the test proves its
 * faults happened. It breaks the broker and PostgreSQL that the suites use:
 * it runs only with TALLY_TEST_DISRUPTIVE=1 (tests/run.sh sets it) and
 * otherwise says so on stderr and is skipped.
 *
 * Size: TALLY_CHAOS_ROUNDS (faults of each kind, default 2),
 * TALLY_CHAOS_CLIENTS (client threads, default 4), TALLY_CHAOS_TENANTS
 * (default 3), TALLY_CHAOS_SEED (default: random, printed). */
#include "codec.h"
#include "fixtures.h"
#include "gateway_fixture.h"
#include "http.h"
#include "pg.h"
#include "schema_catalog.h"
#include "services.h"
#include "subprocess.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TENANTS 16
#define MAX_CLIENTS 32
#define ENVS 2
#define DAYS 3
#define SEAT_USERS 12
#define DAY_MS INT64_C(86400000)
#define RESTART_MS 300            /* the supervisor's RestartSec */
#define GIVE_UP_MS 300000         /* a client gives up one record after this */
#define CONVERGE_MS 240000        /* the tables must match the model within this after the last send */
#define ADMIN_TOKEN "chaos-admin-token-0123456789abcdef0123456789"

static const char *const env_ids[ENVS] = {"env-prod", "env-staging"};
static const char *const env_kinds[ENVS] = {"production", "staging"};

enum { P_GATEWAY, P_ANONYMIZER, P_AGGREGATOR, P_MATERIALIZER, N_PROCS };
static const char *const proc_names[N_PROCS] = {"gateway", "anonymizer", "aggregator", "materializer"};
enum { F_BROKER = N_PROCS, F_POSTGRES, N_FAULT_KINDS };

/* ---- what the clients sent ----------------------------------------------------------- */

typedef struct sent_report_t {
    uint32_t reporter;           /* client * 1000000 + n: the last digits of its reporter_id */
    int32_t seq;
    int64_t at;                  /* observed_at */
    int64_t v[4];                /* api_calls, status_4xx, status_5xx, exec_ms: cumulative */
    uint16_t tenant, env;
    uint16_t posts, acks;        /* POSTs of this report, and 202 answers */
    int64_t prev;                /* the reporter's previous report (index), -1 */
} sent_report_t;

typedef struct sent_seat_t {
    uint32_t id;                 /* the last digits of its event_id */
    uint16_t tenant, user;
    uint8_t assigned;
    int64_t at;
    uint16_t posts, acks;
} sent_seat_t;

typedef struct cell_state_t {
    int tenant, env, day;
    uint32_t reporter;           /* current reporter */
    int32_t seq;
    int64_t cursor, v[4];
    int64_t last;                /* index of the reporter's last sent report, -1 */
    int n_reports;               /* sent by the current reporter */
} cell_state_t;

typedef struct client_t {
    int index;
    uint64_t rng;
    sent_report_t *reports;
    size_t n_reports, cap_reports;
    sent_seat_t *seats;
    size_t n_seats, cap_seats;
    cell_state_t cells[MAX_TENANTS * ENVS * DAYS];
    int n_cells;
    int seat_tenants[MAX_TENANTS];
    int n_seat_tenants;
    int64_t seat_cursor[MAX_TENANTS];
    uint32_t n_reporters;
    /* stats */
    long posts, transport_errors, retryable, lost, dups, stales, restarts, seat_repeats, seat_redeliveries,
        cp_events;
    int failed;
    char failure[512];
} client_t;

/* ---- the environment ------------------------------------------------------------------ */

typedef struct chaos_t {
    int tenants, n_clients, rounds;
    uint64_t seed;
    int64_t day0;                /* days since the epoch of the first day */
    char usage_raw[128], product_raw[128], usage[128], product[128], rollups[128], changelog[128], cp[128],
        dlq[128];
    char group[128], db[128];
    char keys_file[128], optout_file[128], pseudonym_file[128];
    int gw_port;
    char base_url[64];
    /* the supervisor (main thread only) */
    tally_test_proc_t *proc[N_PROCS];
    long long restart_at[N_PROCS];
    atomic_int kill_request[N_PROCS];
    atomic_int kills[N_PROCS], exits[N_PROCS], restarts[N_PROCS];
    char bad_exit[1024];
    /* faults of the services */
    atomic_int broker_kills, broker_restarts, pg_kills, pg_restarts;
    long long broker_down_ms, pg_down_ms;
    atomic_int chaos_done, clients_done, abort;
    char chaos_failure[2048];
} chaos_t;

static chaos_t cx;
static client_t clients[MAX_CLIENTS];

static int env_int(const char *name, int fallback, int lo, int hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return fallback;
    int n = atoi(v);
    cr_assert(n >= lo && n <= hi, "%s=%s: must be %d..%d", name, v, lo, hi);
    return n;
}

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64*: each client's input follows from the seed. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static int64_t rnd_below(uint64_t *s, int64_t n)
{
    return (int64_t)(rnd(s) % (uint64_t)n);
}

static void api_key(char *out, size_t size, int tenant, int env)
{
    snprintf(out, size, "tk_chaos_%d_%d_5f0e1d2c3b4a59687766", tenant, env);
}

static void tenant_id(char *out, size_t size, int tenant)
{
    snprintf(out, size, "chaos-tenant-%d", tenant);
}

static void write_file(char *path, size_t size, const char *prefix, const char *text)
{
    snprintf(path, size, "/tmp/tally-chaos-%s-XXXXXX", prefix);
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    fchmod(fd, 0600);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void env_create(void)
{
    char text[8192], hash[65], key[128], tenant[64];
    cr_assert(sodium_init() >= 0);
    tally_test_unique_name2("tally.test.chaos", ".usage.raw", cx.usage_raw, sizeof cx.usage_raw);
    tally_test_unique_name2("tally.test.chaos", ".product.raw", cx.product_raw, sizeof cx.product_raw);
    tally_test_unique_name2("tally.test.chaos", ".usage", cx.usage, sizeof cx.usage);
    tally_test_unique_name2("tally.test.chaos", ".product", cx.product, sizeof cx.product);
    tally_test_unique_name2("tally.test.chaos", ".rollups", cx.rollups, sizeof cx.rollups);
    tally_test_unique_name2("tally.test.chaos", ".changelog", cx.changelog, sizeof cx.changelog);
    tally_test_unique_name2("tally.test.chaos", ".cp", cx.cp, sizeof cx.cp);
    tally_test_unique_name2("tally.test.chaos", ".dlq", cx.dlq, sizeof cx.dlq);
    tally_test_unique_name("tally-test-chaos", cx.group, sizeof cx.group);
    const char *topics[] = {cx.usage_raw, cx.product_raw, cx.usage, cx.product, cx.rollups, cx.changelog, cx.cp,
                            cx.dlq};
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
        tally_test_topic_create(topics[i], 3);
    PGconn *c = tally_test_db_create("tally_test_chaos", cx.db, sizeof cx.db);
    PQfinish(c);

    size_t n = (size_t)snprintf(text, sizeof text, "# chaos test keys\n");
    for (int t = 0; t < cx.tenants; t++)
        for (int e = 0; e < ENVS; e++) {
            api_key(key, sizeof key, t, e);
            tally_test_sha256_hex(key, hash);
            tenant_id(tenant, sizeof tenant, t);
            n += (size_t)snprintf(text + n, sizeof text - n, "%s %s %s\n", hash, tenant, env_ids[e]);
        }
    write_file(cx.keys_file, sizeof cx.keys_file, "keys", text);
    write_file(cx.optout_file, sizeof cx.optout_file, "optout", "# none\n");
    unsigned char raw[32];
    char hex[65];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
    snprintf(text, sizeof text, "1 %s\n", hex);
    write_file(cx.pseudonym_file, sizeof cx.pseudonym_file, "pseudonym", text);
    cx.gw_port = tally_test_free_port();
    cr_assert(cx.gw_port > 0, "no free port");
    snprintf(cx.base_url, sizeof cx.base_url, "http://127.0.0.1:%d", cx.gw_port);
}

/* ---- the supervisor ------------------------------------------------------------------- */

static void start_proc(int which)
{
    static char a[40][512];
    char *argv[41];
    int n = 0;
#define ARG(...) (snprintf(a[n], sizeof a[n], __VA_ARGS__), argv[n] = a[n], n++)
    char bin[64];
    snprintf(bin, sizeof bin, "tally-%s", proc_names[which]);
    ARG("%s", tally_test_bin(bin));
    ARG("--brokers=%s", tally_test_brokers());
    ARG("--schemas=%s", tally_test_source_path("schemas"));
    /* Static membership and a short session: a restarted consumer takes its
     * partitions back at once, a killed one's go after 6 s. */
    const char *x = which == P_MATERIALIZER ? "" : "consumer.";
    switch (which) {
    case P_GATEWAY:
        ARG("--port=%d", cx.gw_port);
        ARG("--product-topic=%s", cx.product_raw);
        ARG("--usage-topic=%s", cx.usage_raw);
        ARG("--controlpanel-topic=%s", cx.cp);
        ARG("--keys-file=%s", cx.keys_file);
        ARG("--optout-file=%s", cx.optout_file);
        ARG("--admin-token=%s", ADMIN_TOKEN);
        ARG("--catalog=%s", tally_test_source_path("schemas/product-events.json"));
        ARG("--ack-timeout=5s");
        break;
    case P_ANONYMIZER:
        ARG("--group=%s-anon", cx.group);
        ARG("--instance-id=1");
        ARG("--transactional-id-prefix=%s-anon", cx.group);
        ARG("--key-file=%s", cx.pseudonym_file);
        ARG("--catalog=%s", tally_test_source_path("schemas/product-events.json"));
        ARG("--product-raw-topic=%s", cx.product_raw);
        ARG("--usage-raw-topic=%s", cx.usage_raw);
        ARG("--product-topic=%s", cx.product);
        ARG("--usage-topic=%s", cx.usage);
        ARG("--dlq-topic=%s", cx.dlq);
        ARG("--admin-port=0");
        break;
    case P_AGGREGATOR:
        ARG("--group=%s-agg", cx.group);
        ARG("--instance-id=1");
        ARG("--transactional-id-prefix=%s-agg", cx.group);
        ARG("--usage-topic=%s", cx.usage);
        ARG("--rollups-topic=%s", cx.rollups);
        ARG("--changelog-topic=%s", cx.changelog);
        ARG("--dlq-topic=%s", cx.dlq);
        ARG("--admin-port=0");
        break;
    case P_MATERIALIZER:
        ARG("--group=%s-mat", cx.group);
        ARG("--pg-url=%s", tally_test_pg_url(cx.db));
        ARG("--rollups-topic=%s", cx.rollups);
        ARG("--product-topic=%s", cx.product);
        ARG("--controlpanel-topic=%s", cx.cp);
        ARG("--dlq-topic=%s", cx.dlq);
        ARG("--migrations=%s", tally_test_source_path("deploy/postgres/migrations"));
        ARG("--retry-max=2s");
        ARG("--admin-port=0");
        break;
    }
    if (which != P_GATEWAY) {
        ARG("-X%sgroup.instance.id=%s-%s-1", x, cx.group, proc_names[which]);
        ARG("-X%ssession.timeout.ms=6000", x);
        ARG("-X%sheartbeat.interval.ms=500", x);
    }
#undef ARG
    argv[n] = NULL;
    cx.proc[which] = tally_test_spawn(argv, NULL, 0, NULL, 0);
}

/* One round of the supervisor: honour kill requests, reap what ended,
 * restart what has been down for RESTART_MS. Main thread only. */
static void supervise(void)
{
    long long now = tally_test_mono_ms();
    for (int i = 0; i < N_PROCS; i++) {
        tally_test_proc_t *p = cx.proc[i];
        if (p && atomic_load(&cx.kill_request[i])) {
            tally_test_signal(p, SIGKILL);
            int st = tally_test_wait(p, 10000);
            cr_assert_geq(st, 0, "tally-%s did not die of SIGKILL", proc_names[i]);
            if (st == 128 + SIGKILL)
                atomic_fetch_add(&cx.kills[i], 1);
            else
                atomic_fetch_add(&cx.exits[i], 1);   /* it had ended on its own just before */
            atomic_store(&cx.kill_request[i], 0);
        } else if (p && tally_test_wait(p, 0) >= 0) {
            int st = tally_test_wait(p, 0);
            atomic_fetch_add(&cx.exits[i], 1);
            /* Ending on its own (the broker or PostgreSQL went away) is
             * allowed, with a status; a crash is not. */
            if (st > 128 && strlen(cx.bad_exit) < sizeof cx.bad_exit - 200)
                snprintf(cx.bad_exit + strlen(cx.bad_exit), sizeof cx.bad_exit - strlen(cx.bad_exit),
                         "tally-%s ended by signal %d; ", proc_names[i], st - 128);
        } else {
            if (p == NULL && now >= cx.restart_at[i]) {
                start_proc(i);
                atomic_fetch_add(&cx.restarts[i], 1);
            }
            continue;
        }
        const char *san = tally_test_sanitizer_report(tally_test_log(p));
        cr_assert_null(san, "tally-%s: sanitizer report: %.300s", proc_names[i], san);
        tally_test_proc_free(p);
        cx.proc[i] = NULL;
        cx.restart_at[i] = now + RESTART_MS;
    }
}

/* ---- the clients ---------------------------------------------------------------------- */

static void client_fail(client_t *c, const char *what, const char *detail, long status)
{
    if (!c->failed)
        snprintf(c->failure, sizeof c->failure, "%s: %s (%ld)", what, detail, status);
    c->failed = 1;
}

/* Retry-After in ms, or -1 (tally_test_header keeps its answer in a static
 * buffer: the client threads read the headers themselves). */
static long retry_after_ms(const char *headers)
{
    for (const char *p = headers; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncasecmp(p, "Retry-After:", 12) == 0)
            return atol(p + 12) * 1000;
    return -1;
}

/* POSTs body until the gateway accepts it (202 with nothing rejected), as
 * the tally client would; counts the attempts into *posts and the 202s
 * into *acks. 0, or -1 after a refusal or GIVE_UP_MS (c->failure says). */
static int post_until_accepted(client_t *c, const char *path, const char *auth, const char *body, uint16_t *posts,
                               uint16_t *acks)
{
    char url[128], au[256];
    snprintf(url, sizeof url, "%s%s", cx.base_url, path);
    snprintf(au, sizeof au, "Authorization: Bearer %s", auth);
    const char *h[] = {"Content-Type: application/json", au, NULL};
    long long give_up = tally_test_mono_ms() + GIVE_UP_MS;
    for (int failures = 0;; failures++) {
        if (c->failed)
            return -1;
        if (atomic_load(&cx.abort)) {
            client_fail(c, "stopped: a fault could not be injected or recovered", path, 0);
            return -1;
        }
        (*posts)++;
        c->posts++;
        tally_test_response_t r = tally_test_http("POST", url, h, body, strlen(body), 1);
        long st = r.status, retry_after = retry_after_ms(r.headers);
        int overloaded = r.body && strstr(r.body, "overloaded") != NULL;
        int rejected = r.body && strstr(r.body, "\"rejected\":[{") != NULL;
        if (st == 202 && !rejected) {
            (*acks)++;
            tally_test_response_free(&r);
            return 0;
        }
        if (st == 0)
            c->transport_errors++;
        else if (st == 408 || st == 429 || st >= 500 || (st == 202 && overloaded))
            c->retryable++;
        else {
            char what[300];
            snprintf(what, sizeof what, "%s: %.200s", path, r.body ? r.body : "");
            tally_test_response_free(&r);
            client_fail(c, "refused, HTTP status", what, st);
            return -1;
        }
        tally_test_response_free(&r);
        if (tally_test_mono_ms() > give_up) {
            client_fail(c, "not accepted in time (ms)", path, GIVE_UP_MS);
            return -1;
        }
        /* The client's backoff: equal jitter over 100 ms * 2^n, at most
         * 2 s, never sooner than Retry-After. */
        int64_t cap = 100LL << (failures < 5 ? failures : 5);
        if (cap > 2000)
            cap = 2000;
        int64_t delay = cap / 2 + rnd_below(&c->rng, cap / 2 + 1);
        if (retry_after > delay)
            delay = retry_after;
        usleep((useconds_t)delay * 1000);
    }
}

static void report_body(char *buf, size_t size, const sent_report_t *r, int64_t started)
{
    char tenant[64];
    tenant_id(tenant, sizeof tenant, r->tenant);
    snprintf(buf, size,
             "{\"tenant_id\":\"%s\",\"environment_id\":\"%s\",\"reporter_id\":\"00000000-0000-4000-8000-%012" PRIx32
             "\",\"reporter_started_at\":%" PRId64 ",\"seq\":%" PRId32 ",\"observed_at\":%" PRId64
             ",\"api_calls\":%" PRId64 ",\"status_4xx\":%" PRId64 ",\"status_5xx\":%" PRId64 ",\"exec_ms\":%" PRId64
             "}",
             tenant, env_ids[r->env], r->reporter, started, r->seq, r->at, r->v[0], r->v[1], r->v[2], r->v[3]);
}

static void seat_body(char *buf, size_t size, const sent_seat_t *s)
{
    char tenant[64];
    tenant_id(tenant, sizeof tenant, s->tenant);
    snprintf(buf, size,
             "{\"event_id\":\"00000000-0000-4000-9000-%012" PRIx32 "\",\"tenant_id\":\"%s\",\"user_id\":\"user-%u\","
             "\"op\":\"%s\",\"occurred_at\":%" PRId64 "}",
             s->id, tenant, (unsigned)s->user, s->assigned ? "ASSIGNED" : "RELEASED", s->at);
}

static int64_t day_start(int day)
{
    return (cx.day0 + day) * DAY_MS;
}

static void new_reporter(client_t *c, cell_state_t *cell)
{
    cell->reporter = (uint32_t)c->index * 1000000u + c->n_reporters++;
    cell->seq = 0;
    memset(cell->v, 0, sizeof cell->v);
    cell->last = -1;
    cell->n_reports = 0;
    cell->cursor += 1000;
}

static void send_report(client_t *c)
{
    char body[1024], key[128];
    cell_state_t *cell = &c->cells[rnd_below(&c->rng, c->n_cells)];
    /* A restart: the process is gone, its successor starts from 0 (and
     * one whose day is over restarts into the same day: the model allows
     * any time of that day). */
    if ((cell->n_reports >= 3 && rnd_below(&c->rng, 100) < 4) || cell->cursor > day_start(cell->day) + DAY_MS - 600000) {
        if (cell->cursor > day_start(cell->day) + DAY_MS - 600000)
            cell->cursor = day_start(cell->day) + rnd_below(&c->rng, 3600000);
        new_reporter(c, cell);
        c->restarts++;
    }
    int64_t started = day_start(cell->day);
    cell->seq++;
    cell->cursor += 20000 + rnd_below(&c->rng, 100000);
    int64_t calls = rnd_below(&c->rng, 40);
    cell->v[0] += calls;
    cell->v[1] += calls ? rnd_below(&c->rng, calls / 4 + 1) : 0;
    cell->v[2] += calls ? rnd_below(&c->rng, calls / 10 + 1) : 0;
    cell->v[3] += calls * (1 + rnd_below(&c->rng, 300));
    if (cell->n_reports > 0 && rnd_below(&c->rng, 100) < 3) {
        c->lost++;   /* never sent: the next report carries its counts */
        return;
    }
    if (c->n_reports == c->cap_reports) {
        c->cap_reports = c->cap_reports ? c->cap_reports * 2 : 1024;
        c->reports = realloc(c->reports, c->cap_reports * sizeof *c->reports);
        if (c->reports == NULL)
            abort();
    }
    int64_t idx = (int64_t)c->n_reports++;
    sent_report_t *r = &c->reports[idx];
    *r = (sent_report_t){.reporter = cell->reporter, .seq = cell->seq, .at = cell->cursor, .tenant = (uint16_t)cell->tenant,
                         .env = (uint16_t)cell->env, .prev = cell->last};
    memcpy(r->v, cell->v, sizeof r->v);
    cell->last = idx;
    cell->n_reports++;
    api_key(key, sizeof key, cell->tenant, cell->env);
    report_body(body, sizeof body, r, started);
    if (post_until_accepted(c, "/v1/usage/reports", key, body, &r->posts, &r->acks) != 0)
        return;
    if (rnd_below(&c->rng, 100) < 3) {
        c->dups++;
        if (post_until_accepted(c, "/v1/usage/reports", key, body, &r->posts, &r->acks) != 0)
            return;
    }
    if (rnd_below(&c->rng, 100) < 3) {
        /* A stale re-delivery: one of the reporter's older reports again. */
        int64_t old = r->prev;
        for (int k = (int)rnd_below(&c->rng, 4); k > 0 && old >= 0 && c->reports[old].prev >= 0; k--)
            old = c->reports[old].prev;
        if (old >= 0) {
            sent_report_t *o = &c->reports[old];
            c->stales++;
            report_body(body, sizeof body, o, started);
            (void)post_until_accepted(c, "/v1/usage/reports", key, body, &o->posts, &o->acks);
        }
    }
}

static void send_seat(client_t *c, int k)
{
    char body[512], key[128];
    int t = c->seat_tenants[k];
    int64_t at = c->seat_cursor[k] + 20000 + rnd_below(&c->rng, 280000);
    if (at >= day_start(DAYS))
        return;   /* the tenant's days are full */
    c->seat_cursor[k] = at;
    if (c->n_seats == c->cap_seats) {
        c->cap_seats = c->cap_seats ? c->cap_seats * 2 : 512;
        c->seats = realloc(c->seats, c->cap_seats * sizeof *c->seats);
        if (c->seats == NULL)
            abort();
    }
    size_t idx = c->n_seats++;
    sent_seat_t *s = &c->seats[idx];
    *s = (sent_seat_t){.id = (uint32_t)c->index * 1000000u + (uint32_t)idx, .tenant = (uint16_t)t,
                       .user = (uint16_t)rnd_below(&c->rng, SEAT_USERS), .assigned = rnd_below(&c->rng, 100) < 60,
                       .at = at};
    api_key(key, sizeof key, t, 0);
    seat_body(body, sizeof body, s);
    if (post_until_accepted(c, "/v1/usage/seats", key, body, &s->posts, &s->acks) != 0)
        return;
    if (rnd_below(&c->rng, 100) < 3) {
        c->seat_repeats++;
        if (post_until_accepted(c, "/v1/usage/seats", key, body, &s->posts, &s->acks) != 0)
            return;
    }
    if (idx > 3 && rnd_below(&c->rng, 100) < 3) {
        /* An older event of this client again (same event_id). */
        sent_seat_t *o = &c->seats[idx - 1 - (size_t)rnd_below(&c->rng, 3)];
        c->seat_redeliveries++;
        seat_body(body, sizeof body, o);
        api_key(key, sizeof key, o->tenant, 0);
        (void)post_until_accepted(c, "/v1/usage/seats", key, body, &o->posts, &o->acks);
    }
}

/* The license terms of tenant t: the period spans every day sent. */
static void license_of(int t, int64_t *seats_max, int64_t *monthly_max, int64_t *daily_max)
{
    static const int64_t seats[] = {SEAT_USERS, 4, 8}, monthly[] = {1000000000, 2000, 20000},
                         daily[] = {1000000, 300, 3000};
    *seats_max = seats[t % 3];
    *monthly_max = monthly[t % 3];
    *daily_max = daily[t % 3];
}

static void day_text(char *out, size_t size, int64_t day)
{
    time_t secs = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, size, "%Y-%m-%d", &tm);
}

static void send_controlpanel(client_t *c, int t)
{
    char body[1400], tenant[64], from[16], until[16];
    uint16_t posts = 0, acks = 0;
    tenant_id(tenant, sizeof tenant, t);
    day_text(from, sizeof from, cx.day0 - 40);
    day_text(until, sizeof until, cx.day0 + 40);
    int64_t seats_max, monthly_max, daily_max, at = tally_test_now_ms() - 3600000;
    license_of(t, &seats_max, &monthly_max, &daily_max);
    char payloads[ENVS + 2][400];
    int n = 0;
    snprintf(payloads[n++], sizeof payloads[0], "{\"TenantRegistered\":{\"name\":\"Chaos %d\"}}", t);
    for (int e = 0; e < ENVS; e++)
        snprintf(payloads[n++], sizeof payloads[0],
                 "{\"EnvironmentCreated\":{\"environment_id\":\"%s\",\"name\":\"%s name\",\"kind\":\"%s\","
                 "\"owner\":\"m-1\"}}",
                 env_ids[e], env_ids[e], env_kinds[e]);
    snprintf(payloads[n++], sizeof payloads[0],
             "{\"LicenseTermsSet\":{\"seats_max\":%" PRId64 ",\"monthly_api_calls_max\":%" PRId64
             ",\"daily_api_calls_max_nonprod\":%" PRId64 ",\"features\":[\"sso\"],\"valid_from\":\"%s\","
             "\"valid_until\":\"%s\"}}",
             seats_max, monthly_max, daily_max, from, until);
    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof body,
                 "{\"event_id\":\"00000000-0000-4000-a000-%012d\",\"tenant_id\":\"%s\",\"occurred_at\":%" PRId64
                 ",\"payload\":%.400s}",
                 t * 100 + i, tenant, at + i, payloads[i]);
        int times = rnd_below(&c->rng, 100) < 20 ? 2 : 1;
        for (int k = 0; k < times; k++) {
            if (post_until_accepted(c, "/v1/controlpanel/events", ADMIN_TOKEN, body, &posts, &acks) != 0)
                return;
            c->cp_events++;
        }
    }
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    for (int k = 0; k < c->n_seat_tenants; k++)
        send_controlpanel(c, c->seat_tenants[k]);
    long long stop_at = 0;
    while (!c->failed) {
        if (atomic_load(&cx.chaos_done)) {
            /* A little more traffic after the last fault, then stop. */
            if (stop_at == 0)
                stop_at = tally_test_mono_ms() + 2000;
            else if (tally_test_mono_ms() > stop_at)
                break;
        }
        if (c->n_seat_tenants > 0 && rnd_below(&c->rng, 100) < 15)
            send_seat(c, (int)rnd_below(&c->rng, c->n_seat_tenants));
        else
            send_report(c);
        usleep((useconds_t)(20 + rnd_below(&c->rng, 60)) * 1000);
    }
    atomic_fetch_add(&cx.clients_done, 1);
    return NULL;
}

/* ---- the faults ----------------------------------------------------------------------- */

static void chaos_fail(const char *what, const char *detail)
{
    atomic_store(&cx.abort, 1);   /* the clients stop retrying */
    size_t n = strlen(cx.chaos_failure);
    snprintf(cx.chaos_failure + n, sizeof cx.chaos_failure - n, "%s: %.900s; ", what, detail);
}

/* kafka.sh or postgres.sh: kill (proved by the pid gone), down a moment, start. */
static void break_service(uint64_t *rng, const char *service, atomic_int *kills, atomic_int *restarts,
                          long long *down_ms)
{
    char out[2048];
    pid_t pid = tally_test_service_pid(service);
    if (pid <= 0) {
        chaos_fail(service, "not running before its kill");
        return;
    }
    long long t0 = tally_test_mono_ms();
    if (tally_test_service_run(service, "kill", out, sizeof out) != 0 || tally_test_pid_alive(pid)) {
        chaos_fail(service, out);
        return;
    }
    atomic_fetch_add(kills, 1);
    usleep((useconds_t)(500 + rnd_below(rng, 1500)) * 1000);
    if (tally_test_service_run(service, "start", out, sizeof out) != 0) {
        chaos_fail(service, out);
        return;
    }
    atomic_fetch_add(restarts, 1);
    *down_ms += tally_test_mono_ms() - t0;
}

static void kill_proc(int which)
{
    /* The supervisor does it (it owns the process) at its next round; a
     * process down for a restart is killed once it is back. */
    int before = atomic_load(&cx.kills[which]) + atomic_load(&cx.exits[which]);
    atomic_store(&cx.kill_request[which], 1);
    for (int waited = 0; atomic_load(&cx.kill_request[which]) && waited < 60000; waited += 10)
        usleep(10000);
    if (atomic_load(&cx.kills[which]) + atomic_load(&cx.exits[which]) == before)
        chaos_fail(proc_names[which], "kill request not served within 60 s");
}

static void *chaos_main(void *arg)
{
    (void)arg;
    uint64_t rng = cx.seed ^ UINT64_C(0x9e3779b97f4a7c15);
    int n = cx.rounds * N_FAULT_KINDS;
    int *plan = calloc((size_t)n, sizeof *plan);
    for (int i = 0; i < n; i++)
        plan[i] = i % N_FAULT_KINDS;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rnd_below(&rng, i + 1), t = plan[i];
        plan[i] = plan[j];
        plan[j] = t;
    }
    usleep(3000 * 1000);   /* traffic first */
    for (int i = 0; i < n && cx.chaos_failure[0] == '\0' && !atomic_load(&cx.abort); i++) {
        if (plan[i] == F_BROKER)
            break_service(&rng, "kafka", &cx.broker_kills, &cx.broker_restarts, &cx.broker_down_ms);
        else if (plan[i] == F_POSTGRES)
            break_service(&rng, "postgres", &cx.pg_kills, &cx.pg_restarts, &cx.pg_down_ms);
        else
            kill_proc(plan[i]);
        usleep((useconds_t)(800 + rnd_below(&rng, 2200)) * 1000);
    }
    free(plan);
    atomic_store(&cx.chaos_done, 1);
    return NULL;
}

/* ---- the model ------------------------------------------------------------------------ */

typedef struct api_cell_t {
    int present;
    int64_t v[4];
} api_cell_t;

typedef struct seat_cell_t {
    int present;
    int64_t in_use, peak;
} seat_cell_t;

typedef struct model_t {
    api_cell_t api[MAX_TENANTS][ENVS][DAYS];
    seat_cell_t seat[MAX_TENANTS][DAYS];
} model_t;

static int day_of(int64_t at)
{
    int64_t d = at / DAY_MS - cx.day0;
    cr_assert(d >= 0 && d < DAYS, "a time outside the days sent");
    return (int)d;
}

static int seat_cmp(const void *a, const void *b)
{
    const sent_seat_t *x = *(sent_seat_t *const *)a, *y = *(sent_seat_t *const *)b;
    return (x->at > y->at) - (x->at < y->at);
}

static void model_build(model_t *m)
{
    memset(m, 0, sizeof *m);
    /* Usage: per reporter, each counter's rise, into the day it happened. */
    for (int i = 0; i < cx.n_clients; i++) {
        client_t *c = &clients[i];
        int64_t (*hi)[4] = calloc(c->n_reporters + 1, sizeof *hi);
        for (size_t k = 0; k < c->n_reports; k++) {
            const sent_report_t *r = &c->reports[k];
            cr_assert_geq(r->acks, 1, "a report never accepted");
            int64_t *h = hi[r->reporter % 1000000u];
            api_cell_t *cell = &m->api[r->tenant][r->env][day_of(r->at)];
            for (int j = 0; j < 4; j++)
                if (r->v[j] > h[j]) {
                    cell->v[j] += r->v[j] - h[j];
                    h[j] = r->v[j];
                }
            cell->present = 1;
        }
        free(hi);
    }
    /* Seats: each tenant's events in time order. */
    for (int t = 0; t < cx.tenants; t++) {
        size_t n = 0;
        for (int i = 0; i < cx.n_clients; i++)
            for (size_t k = 0; k < clients[i].n_seats; k++)
                n += clients[i].seats[k].tenant == t;
        const sent_seat_t **evs = calloc(n + 1, sizeof *evs);
        n = 0;
        for (int i = 0; i < cx.n_clients; i++)
            for (size_t k = 0; k < clients[i].n_seats; k++)
                if (clients[i].seats[k].tenant == t)
                    evs[n++] = &clients[i].seats[k];
        qsort(evs, n, sizeof *evs, seat_cmp);
        int assigned[SEAT_USERS] = {0};
        int64_t in_use = 0;
        for (size_t k = 0; k < n; k++) {
            seat_cell_t *cell = &m->seat[t][day_of(evs[k]->at)];
            if (!cell->present) {
                cell->present = 1;
                cell->peak = in_use;   /* carried in */
            }
            in_use += (int64_t)evs[k]->assigned - assigned[evs[k]->user];
            assigned[evs[k]->user] = evs[k]->assigned;
            cell->in_use = in_use;
            if (in_use > cell->peak)
                cell->peak = in_use;
        }
        free(evs);
    }
}

/* ---- comparing the tables ------------------------------------------------------------- */

typedef struct diff_t {
    int n;
    char text[4096];
} diff_t;

static void differs(diff_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void differs(diff_t *d, const char *fmt, ...)
{
    size_t len = strlen(d->text);
    if (d->n++ < 12 && len < sizeof d->text - 2) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->text + len, sizeof d->text - len, fmt, ap);
        va_end(ap);
        len = strlen(d->text);
        snprintf(d->text + len, sizeof d->text - len, "\n");
    }
}

static int tenant_index(const char *s)
{
    return strncmp(s, "chaos-tenant-", 13) == 0 ? atoi(s + 13) : -1;
}

static int env_index(const char *s)
{
    for (int e = 0; e < ENVS; e++)
        if (strcmp(s, env_ids[e]) == 0)
            return e;
    return -1;
}

static int64_t month_of(int64_t day)
{
    time_t secs = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&secs, &tm);
    return (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static PGresult *query(PGconn *c, diff_t *d, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        differs(d, "query failed: %s", PQerrorMessage(c));
        PQclear(r);
        return NULL;
    }
    return r;
}

static const char *status_of(int64_t used, int64_t maximum)
{
    if (used > maximum)
        return "over";
    if (used > 0 && used * 5 >= maximum * 4)
        return "warning";
    return "ok";
}

static int severity(const char *s)
{
    return strcmp(s, "over") == 0 ? 3 : strcmp(s, "warning") == 0 ? 2 : 1;
}

/* Every Control Panel table against the model; d counts the differences. */
static void compare(const model_t *m, diff_t *d)
{
    char err[512];
    memset(d, 0, sizeof *d);
    PGconn *c = tally_pg_connect(tally_test_pg_url(cx.db), "tally-test-chaos", err, sizeof err);
    if (c == NULL) {
        differs(d, "connect: %s", err);
        return;
    }
    /* api_usage_daily */
    int seen_api[MAX_TENANTS][ENVS][DAYS] = {{{0}}};
    PGresult *r = query(c, d,
                        "SELECT tenant_id, environment_id, day - date '1970-01-01', api_calls, status_4xx, status_5xx, "
                        "exec_ms FROM tally.api_usage_daily");
    for (int i = 0; r && i < PQntuples(r); i++) {
        int t = tenant_index(PQgetvalue(r, i, 0)), e = env_index(PQgetvalue(r, i, 1));
        int64_t day = atoll(PQgetvalue(r, i, 2)) - cx.day0;
        if (t < 0 || t >= cx.tenants || e < 0 || day < 0 || day >= DAYS || !m->api[t][e][day].present) {
            differs(d, "api_usage_daily: unexpected row %s %s day %+" PRId64, PQgetvalue(r, i, 0),
                    PQgetvalue(r, i, 1), day);
            continue;
        }
        seen_api[t][e][day] = 1;
        for (int j = 0; j < 4; j++)
            if (atoll(PQgetvalue(r, i, 3 + j)) != m->api[t][e][day].v[j])
                differs(d, "api_usage_daily %d/%s/day %" PRId64 " column %d: %s, expected %" PRId64, t, env_ids[e],
                        day, j, PQgetvalue(r, i, 3 + j), m->api[t][e][day].v[j]);
    }
    PQclear(r);
    for (int t = 0; t < cx.tenants; t++)
        for (int e = 0; e < ENVS; e++)
            for (int day = 0; day < DAYS; day++)
                if (m->api[t][e][day].present && !seen_api[t][e][day])
                    differs(d, "api_usage_daily: no row for tenant %d %s day %d", t, env_ids[e], day);

    /* seat_usage_daily */
    int seen_seat[MAX_TENANTS][DAYS] = {{0}};
    r = query(c, d, "SELECT tenant_id, day - date '1970-01-01', seats_in_use, seats_peak FROM tally.seat_usage_daily");
    for (int i = 0; r && i < PQntuples(r); i++) {
        int t = tenant_index(PQgetvalue(r, i, 0));
        int64_t day = atoll(PQgetvalue(r, i, 1)) - cx.day0;
        if (t < 0 || t >= cx.tenants || day < 0 || day >= DAYS || !m->seat[t][day].present) {
            differs(d, "seat_usage_daily: unexpected row %s day %+" PRId64, PQgetvalue(r, i, 0), day);
            continue;
        }
        seen_seat[t][day] = 1;
        const seat_cell_t *s = &m->seat[t][day];
        if (atoll(PQgetvalue(r, i, 2)) != s->in_use || atoll(PQgetvalue(r, i, 3)) != s->peak)
            differs(d, "seat_usage_daily %d/day %" PRId64 ": in use %s peak %s, expected %" PRId64 " and %" PRId64, t,
                    day, PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), s->in_use, s->peak);
    }
    PQclear(r);
    for (int t = 0; t < cx.tenants; t++)
        for (int day = 0; day < DAYS; day++)
            if (m->seat[t][day].present && !seen_seat[t][day])
                differs(d, "seat_usage_daily: no row for tenant %d day %d", t, day);

    /* monthly_usage: per tenant, environment and month. */
    int64_t months[DAYS];
    for (int day = 0; day < DAYS; day++)
        months[day] = month_of(cx.day0 + day);
    int expected_rows = 0;
    for (int t = 0; t < cx.tenants; t++)
        for (int e = 0; e < ENVS; e++)
            for (int day = 0; day < DAYS; day++) {
                int first = 1;
                for (int k = 0; k < day; k++)
                    first &= !(months[k] == months[day] && m->api[t][e][k].present);
                expected_rows += first && m->api[t][e][day].present;
            }
    r = query(c, d,
              "SELECT tenant_id, environment_id, environment_name, environment_kind, "
              "(extract(year FROM month) * 12 + extract(month FROM month) - 1)::bigint, api_calls, status_4xx, "
              "status_5xx, exec_ms, days_reported FROM tally.monthly_usage");
    if (r && PQntuples(r) != expected_rows)
        differs(d, "monthly_usage: %d rows, expected %d", PQntuples(r), expected_rows);
    for (int i = 0; r && i < PQntuples(r); i++) {
        int t = tenant_index(PQgetvalue(r, i, 0)), e = env_index(PQgetvalue(r, i, 1));
        int64_t month = atoll(PQgetvalue(r, i, 4)), sum[4] = {0, 0, 0, 0}, days = 0;
        if (t < 0 || t >= cx.tenants || e < 0) {
            differs(d, "monthly_usage: unexpected row %s %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
            continue;
        }
        for (int day = 0; day < DAYS; day++)
            if (months[day] == month && m->api[t][e][day].present) {
                days++;
                for (int j = 0; j < 4; j++)
                    sum[j] += m->api[t][e][day].v[j];
            }
        char name[64];
        snprintf(name, sizeof name, "%s name", env_ids[e]);
        if (strcmp(PQgetvalue(r, i, 2), name) != 0 || strcmp(PQgetvalue(r, i, 3), env_kinds[e]) != 0)
            differs(d, "monthly_usage %d/%s: environment %s (%s)", t, env_ids[e], PQgetvalue(r, i, 2),
                    PQgetvalue(r, i, 3));
        for (int j = 0; j < 4; j++)
            if (atoll(PQgetvalue(r, i, 5 + j)) != sum[j])
                differs(d, "monthly_usage %d/%s column %d: %s, expected %" PRId64, t, env_ids[e], j,
                        PQgetvalue(r, i, 5 + j), sum[j]);
        if (atoll(PQgetvalue(r, i, 9)) != days)
            differs(d, "monthly_usage %d/%s: %s days reported, expected %" PRId64, t, env_ids[e],
                    PQgetvalue(r, i, 9), days);
    }
    PQclear(r);

    /* monthly_seats */
    r = query(c, d,
              "SELECT tenant_id, (extract(year FROM month) * 12 + extract(month FROM month) - 1)::bigint, seats_peak, "
              "seats_in_use FROM tally.monthly_seats");
    int seat_months = 0;
    for (int t = 0; t < cx.tenants; t++)
        for (int day = 0; day < DAYS; day++) {
            int first = 1;
            for (int k = 0; k < day; k++)
                first &= !(months[k] == months[day] && m->seat[t][k].present);
            seat_months += first && m->seat[t][day].present;
        }
    if (r && PQntuples(r) != seat_months)
        differs(d, "monthly_seats: %d rows, expected %d", PQntuples(r), seat_months);
    for (int i = 0; r && i < PQntuples(r); i++) {
        int t = tenant_index(PQgetvalue(r, i, 0));
        int64_t month = atoll(PQgetvalue(r, i, 1)), peak = -1, in_use = -1;
        for (int day = 0; t >= 0 && t < cx.tenants && day < DAYS; day++)
            if (months[day] == month && m->seat[t][day].present) {
                if (m->seat[t][day].peak > peak)
                    peak = m->seat[t][day].peak;
                in_use = m->seat[t][day].in_use;
            }
        if (atoll(PQgetvalue(r, i, 2)) != peak || atoll(PQgetvalue(r, i, 3)) != in_use)
            differs(d, "monthly_seats %s: peak %s in use %s, expected %" PRId64 " and %" PRId64, PQgetvalue(r, i, 0),
                    PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), peak, in_use);
    }
    PQclear(r);

    /* compliance: one row per tenant (one license period covering every day). */
    r = query(c, d,
              "SELECT tenant_id, tenant_name, api_calls_month_peak, monthly_api_calls_status, nonprod_day_peak, "
              "nonprod_daily_status, seats_peak, seats_status, status FROM tally.compliance");
    if (r && PQntuples(r) != cx.tenants)
        differs(d, "compliance: %d rows, expected %d", PQntuples(r), cx.tenants);
    for (int i = 0; r && i < PQntuples(r); i++) {
        int t = tenant_index(PQgetvalue(r, i, 0));
        if (t < 0 || t >= cx.tenants) {
            differs(d, "compliance: unexpected row %s", PQgetvalue(r, i, 0));
            continue;
        }
        int64_t seats_max, monthly_max, daily_max, month_peak = 0, nonprod_peak = 0, seats_peak = 0;
        license_of(t, &seats_max, &monthly_max, &daily_max);
        for (int day = 0; day < DAYS; day++) {
            int64_t in_month = 0;
            for (int k = 0; k < DAYS; k++)
                for (int e = 0; e < ENVS; e++)
                    if (months[k] == months[day])
                        in_month += m->api[t][e][k].v[0];
            if (in_month > month_peak)
                month_peak = in_month;
            for (int e = 0; e < ENVS; e++)
                if (strcmp(env_kinds[e], "production") != 0 && m->api[t][e][day].present &&
                    m->api[t][e][day].v[0] > nonprod_peak)
                    nonprod_peak = m->api[t][e][day].v[0];
            if (m->seat[t][day].present && m->seat[t][day].peak > seats_peak)
                seats_peak = m->seat[t][day].peak;
        }
        const char *st[3] = {status_of(month_peak, monthly_max), status_of(nonprod_peak, daily_max),
                             status_of(seats_peak, seats_max)};
        const char *worst = st[0];
        for (int k = 1; k < 3; k++)
            if (severity(st[k]) > severity(worst))
                worst = st[k];
        char name[32];
        snprintf(name, sizeof name, "Chaos %d", t);
        if (strcmp(PQgetvalue(r, i, 1), name) != 0 || atoll(PQgetvalue(r, i, 2)) != month_peak ||
            strcmp(PQgetvalue(r, i, 3), st[0]) != 0 || atoll(PQgetvalue(r, i, 4)) != nonprod_peak ||
            strcmp(PQgetvalue(r, i, 5), st[1]) != 0 || atoll(PQgetvalue(r, i, 6)) != seats_peak ||
            strcmp(PQgetvalue(r, i, 7), st[2]) != 0 || strcmp(PQgetvalue(r, i, 8), worst) != 0)
            differs(d,
                    "compliance %d: %s month %s %s, nonprod %s %s, seats %s %s, %s; expected %s month %" PRId64
                    " %s, nonprod %" PRId64 " %s, seats %" PRId64 " %s, %s",
                    t, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
                    PQgetvalue(r, i, 5), PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8), name,
                    month_peak, st[0], nonprod_peak, st[1], seats_peak, st[2], worst);
    }
    PQclear(r);
    PQfinish(c);
}

/* ---- Kafka: copies per report ----------------------------------------------------------- */

typedef struct copies_t {
    uint64_t key;                /* reporter << 32 | seq, or 1 << 63 | seat event id */
    uint16_t posts, acks;
    uint32_t raw, clean;
} copies_t;

static int copies_cmp(const void *a, const void *b)
{
    uint64_t x = ((const copies_t *)a)->key, y = ((const copies_t *)b)->key;
    return (x > y) - (x < y);
}

static uint64_t hex_tail(const char *s, size_t len)
{
    return len >= 12 ? strtoull(s + len - 12, NULL, 16) : UINT64_MAX;
}

/* Counts the copies of every sent record in topic into raw or clean;
 * returns how many records were not ours. */
static size_t count_copies(const char *topic, copies_t *sent, size_t n_sent, int clean)
{
    char err[512];
    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    tally_decoder_t *dec = tally_decoder_new_any(cat);
    tally_test_record_t *recs;
    size_t n = tally_test_topic_read_all(topic, 120000, &recs), strangers = 0;
    for (size_t i = 0; i < n; i++) {
        avro_value_t *v, f;
        const tally_catalog_entry_t *w;
        cr_assert_eq(tally_decoder_decode(dec, recs[i].value, recs[i].len, &v, &w, err, sizeof err), 0, "%s: %s",
                     topic, err);
        const char *s;
        size_t len;
        copies_t probe = {0};
        if (strcmp(w->name, "UsageReport") == 0) {
            int64_t seq;
            cr_assert_eq(avro_value_get_by_name(v, "reporter_id", &f, NULL), 0);
            cr_assert_eq(avro_value_get_string(&f, &s, &len), 0);
            cr_assert_eq(avro_value_get_by_name(v, "seq", &f, NULL), 0);
            cr_assert_eq(avro_value_get_long(&f, &seq), 0);
            probe.key = hex_tail(s, len - 1) << 32 | (uint32_t)seq;
        } else {
            cr_assert_eq(avro_value_get_by_name(v, "event_id", &f, NULL), 0, "%s has no event_id", w->name);
            cr_assert_eq(avro_value_get_string(&f, &s, &len), 0);
            probe.key = UINT64_C(1) << 63 | hex_tail(s, len - 1);
        }
        copies_t *hit = bsearch(&probe, sent, n_sent, sizeof *sent, copies_cmp);
        if (hit == NULL)
            strangers++;
        else if (clean)
            hit->clean++;
        else
            hit->raw++;
    }
    tally_test_records_free(recs, n);
    tally_decoder_free(dec);
    tally_catalog_free(cat);
    return strangers;
}

/* ---- the test ------------------------------------------------------------------------- */

static pthread_t chaos_th;
static int chaos_started, chaos_joined;

/* After the test, failed or not: the broker and PostgreSQL run again, so
 * that the suites after this one find them (a failed assertion may have
 * ended the test between a kill and its start). */
static void restore_services(void)
{
    if (!chaos_started)
        return;
    atomic_store(&cx.abort, 1);
    if (!chaos_joined)
        pthread_join(chaos_th, NULL);
    chaos_started = 0;
    const char *services[] = {"kafka", "postgres"};
    for (size_t i = 0; i < 2; i++)
        if (tally_test_service_pid(services[i]) <= 0) {
            char out[2048];
            fprintf(stderr, "chaos: %s is down after the test: starting it\n", services[i]);
            if (tally_test_service_run(services[i], "start", out, sizeof out) != 0)
                fprintf(stderr, "chaos: %s.sh start failed: %s\n", services[i], out);
        }
}

static void stop_all(void)
{
    for (int i = 0; i < N_PROCS; i++) {
        tally_test_proc_t *p = cx.proc[i];
        if (p == NULL)
            continue;
        tally_test_signal(p, SIGTERM);
        int st = tally_test_wait(p, 60000);
        cr_assert_eq(st, 0, "tally-%s: SIGTERM at the end must exit 0 (got %d)", proc_names[i], st);
        const char *san = tally_test_sanitizer_report(tally_test_log(p));
        cr_assert_null(san, "tally-%s: sanitizer report: %.300s", proc_names[i], san);
        tally_test_proc_free(p);
        cx.proc[i] = NULL;
    }
}

Test(chaos, whole_pipeline_under_faults_equals_the_model, .timeout = 3600, .fini = restore_services)
{
    const char *on = getenv("TALLY_TEST_DISRUPTIVE");
    if (on == NULL || strcmp(on, "1") != 0) {
        fprintf(stderr, "chaos: SKIPPED: it kills the Kafka broker and PostgreSQL; run it with "
                        "TALLY_TEST_DISRUPTIVE=1 (tests/run.sh sets it)\n");
        cr_skip_test("kills the broker and PostgreSQL: only with TALLY_TEST_DISRUPTIVE=1 (tests/run.sh)");
    }
    long long t_start = tally_test_mono_ms();
    memset(&cx, 0, sizeof cx);
    cx.rounds = env_int("TALLY_CHAOS_ROUNDS", 2, 1, 100);
    cx.n_clients = env_int("TALLY_CHAOS_CLIENTS", 4, 1, MAX_CLIENTS);
    cx.tenants = env_int("TALLY_CHAOS_TENANTS", 3, 1, MAX_TENANTS);
    const char *seed = getenv("TALLY_CHAOS_SEED");
    if (seed && *seed)
        cx.seed = strtoull(seed, NULL, 10);
    else
        randombytes_buf(&cx.seed, sizeof cx.seed);
    cx.seed |= 1;
    cx.day0 = tally_test_now_ms() / DAY_MS - DAYS;
    fprintf(stderr, "chaos: seed %" PRIu64 " (TALLY_CHAOS_SEED), %d rounds, %d clients, %d tenants; broker %s, %s\n",
            cx.seed, cx.rounds, cx.n_clients, cx.tenants, tally_test_brokers(), tally_test_pg_url("postgres"));
    cr_assert_gt(tally_test_service_pid("kafka"), 0, "the broker at %s must run from deploy/local/kafka.sh",
                 tally_test_brokers());
    cr_assert_gt(tally_test_service_pid("postgres"), 0, "PostgreSQL must run from deploy/local/postgres.sh");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    env_create();

    /* Who sends what: cells round-robin over the clients, each tenant's
     * seats and Control Panel events by one client. */
    memset(clients, 0, sizeof clients);
    for (int i = 0; i < cx.n_clients; i++) {
        clients[i].index = i;
        clients[i].rng = cx.seed + UINT64_C(0x632be59bd9b4e019) * (uint64_t)(i + 1);
    }
    int k = 0;
    for (int t = 0; t < cx.tenants; t++)
        for (int e = 0; e < ENVS; e++)
            for (int day = 0; day < DAYS; day++, k++) {
                client_t *c = &clients[k % cx.n_clients];
                cell_state_t *cell = &c->cells[c->n_cells++];
                *cell = (cell_state_t){.tenant = t, .env = e, .day = day,
                                       .cursor = day_start(day) + rnd_below(&c->rng, 3600000)};
                new_reporter(c, cell);
            }
    for (int t = 0; t < cx.tenants; t++) {
        client_t *c = &clients[t % cx.n_clients];
        c->seat_cursor[c->n_seat_tenants] = day_start(0);
        c->seat_tenants[c->n_seat_tenants++] = t;
    }

    for (int i = 0; i < N_PROCS; i++)
        start_proc(i);
    /* Clients start once the gateway is ready: from then on a transport
     * error means a killed gateway. */
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", cx.base_url);
    for (long long ready_by = tally_test_mono_ms() + 60000;;) {
        supervise();
        tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
        long st = r.status;
        tally_test_response_free(&r);
        if (st == 200)
            break;
        cr_assert_lt(tally_test_mono_ms(), ready_by, "the gateway is not ready after 60 s");
        usleep(100000);
    }
    long long t_run = tally_test_mono_ms();
    pthread_t client_th[MAX_CLIENTS];
    for (int i = 0; i < cx.n_clients; i++)
        pthread_create(&client_th[i], NULL, client_main, &clients[i]);
    pthread_create(&chaos_th, NULL, chaos_main, NULL);
    chaos_started = 1;
    chaos_joined = 0;
    while (atomic_load(&cx.clients_done) < cx.n_clients || !atomic_load(&cx.chaos_done)) {
        supervise();
        usleep(20000);
    }
    pthread_join(chaos_th, NULL);
    chaos_joined = 1;
    for (int i = 0; i < cx.n_clients; i++)
        pthread_join(client_th[i], NULL);
    long long t_sent = tally_test_mono_ms();
    cr_assert_eq(cx.chaos_failure[0], '\0', "a fault could not be injected or recovered: %s", cx.chaos_failure);
    for (int i = 0; i < cx.n_clients; i++)
        cr_assert_not(clients[i].failed, "client %d: %s", i, clients[i].failure);

    /* The tables catch up: equal to the model, and still equal once every
     * topic stood still for 5 s (nothing counted twice later). */
    static model_t model;
    model_build(&model);
    diff_t diff;
    long long converged = 0, deadline = tally_test_mono_ms() + CONVERGE_MS, last_compare = 0;
    int64_t last_end = -1;
    long long still_since = 0;
    const char *watched[] = {cx.usage_raw, cx.usage, cx.rollups, cx.cp};
    for (;;) {
        supervise();
        long long now = tally_test_mono_ms();
        if (now - last_compare >= 1000) {
            last_compare = now;
            int64_t end;
            tally_test_topic_offsets(NULL, watched, 4, &end, NULL);
            if (end != last_end) {
                last_end = end;
                still_since = now;
            }
            compare(&model, &diff);
            if (diff.n == 0 && converged == 0)
                converged = now;
            if (diff.n == 0 && now - still_since >= 5000)
                break;
        }
        /* Nothing moved for a minute and the tables still differ: they
         * will not get there (no need to wait for the deadline). */
        cr_assert(now < deadline && (diff.n == 0 || now - still_since < 60000),
                  "the tables differ from the model %.0f s after the last send, the topics still for %.0f s (%d "
                  "differences):\n%s",
                  (double)(now - t_sent) / 1000, (double)(now - still_since) / 1000, diff.n, diff.text);
        usleep(50000);
    }
    long long t_converged = tally_test_mono_ms();
    stop_all();
    cr_assert_eq(cx.bad_exit[0], '\0', "a process crashed: %s", cx.bad_exit);

    /* Kafka: every record in raw per accepted POST, and clean = raw. */
    size_t n_sent = 0;
    for (int i = 0; i < cx.n_clients; i++)
        n_sent += clients[i].n_reports + clients[i].n_seats;
    copies_t *sent = calloc(n_sent, sizeof *sent);
    size_t j = 0;
    for (int i = 0; i < cx.n_clients; i++) {
        for (size_t q = 0; q < clients[i].n_reports; q++) {
            const sent_report_t *r = &clients[i].reports[q];
            sent[j++] = (copies_t){.key = (uint64_t)r->reporter << 32 | (uint32_t)r->seq, .posts = r->posts,
                                   .acks = r->acks};
        }
        for (size_t q = 0; q < clients[i].n_seats; q++) {
            const sent_seat_t *s = &clients[i].seats[q];
            sent[j++] = (copies_t){.key = UINT64_C(1) << 63 | s->id, .posts = s->posts, .acks = s->acks};
        }
    }
    qsort(sent, n_sent, sizeof *sent, copies_cmp);
    size_t strangers_raw = count_copies(cx.usage_raw, sent, n_sent, 0);
    size_t strangers_clean = count_copies(cx.usage, sent, n_sent, 1);
    cr_assert_eq(strangers_raw, 0, "records in raw that no client sent");
    cr_assert_eq(strangers_clean, 0, "records in the clean topic that no client sent");
    size_t ambiguous = 0, extra_copies = 0, total_raw = 0;
    for (size_t q = 0; q < n_sent; q++) {
        const copies_t *s = &sent[q];
        cr_assert_geq(s->acks, 1);
        cr_assert(s->raw >= s->acks && s->raw <= s->posts,
                  "%s %" PRIx64 ": %u copies in raw for %u answers 202 of %u POSTs", s->key >> 63 ? "seat" : "report",
                  s->key, s->raw, s->acks, s->posts);
        if (s->posts == s->acks)
            cr_assert_eq(s->raw, s->acks, "no ambiguous POST, yet %u copies for %u answers 202", s->raw, s->acks);
        else
            ambiguous++;
        extra_copies += s->raw - s->acks;
        cr_assert_eq(s->clean, s->raw, "%" PRIx64 ": %u copies in the clean topic, %u in raw", s->key, s->clean,
                     s->raw);
        total_raw += s->raw;
    }
    free(sent);

    /* The faults happened, each kind at least `rounds` times. */
    long posts = 0, transport = 0, retryable = 0, reports = 0, seats = 0, lost = 0, dups = 0, stales = 0,
         restarts = 0, seat_repeats = 0, seat_redeliveries = 0, cp = 0, reporters = 0;
    for (int i = 0; i < cx.n_clients; i++) {
        client_t *c = &clients[i];
        posts += c->posts, transport += c->transport_errors, retryable += c->retryable;
        reports += (long)c->n_reports, seats += (long)c->n_seats, lost += c->lost, dups += c->dups;
        stales += c->stales, restarts += c->restarts, seat_repeats += c->seat_repeats;
        seat_redeliveries += c->seat_redeliveries, cp += c->cp_events, reporters += c->n_reporters;
    }
    fprintf(stderr,
            "chaos: sent %ld usage reports (%ld reporters, %ld reporter restarts, %ld lost, %ld duplicates, %ld stale "
            "re-deliveries), %ld seat events (%ld repeats, %ld re-deliveries), %ld Control Panel events; %ld POSTs, "
            "%ld transport errors, %ld retryable answers; raw holds %zu records, %zu extra copies from %zu ambiguous "
            "records\n",
            reports, reporters, restarts, lost, dups, stales, seats, seat_repeats, seat_redeliveries, cp, posts,
            transport, retryable, total_raw, extra_copies, ambiguous);
    fprintf(stderr, "chaos: faults: ");
    for (int i = 0; i < N_PROCS; i++)
        fprintf(stderr, "%s %d SIGKILLs (%d own exits, %d restarts); ", proc_names[i], atomic_load(&cx.kills[i]),
                atomic_load(&cx.exits[i]), atomic_load(&cx.restarts[i]));
    fprintf(stderr, "broker %d kills (%d restarts, %lld s down in all); PostgreSQL %d kills (%d restarts, %lld s down)\n",
            atomic_load(&cx.broker_kills), atomic_load(&cx.broker_restarts), cx.broker_down_ms / 1000,
            atomic_load(&cx.pg_kills), atomic_load(&cx.pg_restarts), cx.pg_down_ms / 1000);
    fprintf(stderr, "chaos: %.1f s in all: setup %.1f s, sending under faults %.1f s, tables equal %.1f s after the "
                    "last send (stable after %.1f s)\n",
            (double)(tally_test_mono_ms() - t_start) / 1000, (double)(t_run - t_start) / 1000,
            (double)(t_sent - t_run) / 1000, (double)(converged - t_sent) / 1000,
            (double)(t_converged - t_sent) / 1000);
    for (int i = 0; i < N_PROCS; i++) {
        cr_assert_geq(atomic_load(&cx.kills[i]), cx.rounds, "tally-%s: %d SIGKILLs, expected %d",
                      proc_names[i], atomic_load(&cx.kills[i]), cx.rounds);
        cr_assert_geq(atomic_load(&cx.restarts[i]), atomic_load(&cx.kills[i]), "tally-%s: restarts",
                      proc_names[i]);
    }
    cr_assert_geq(atomic_load(&cx.broker_kills), cx.rounds);
    cr_assert_eq(atomic_load(&cx.broker_restarts), atomic_load(&cx.broker_kills));
    cr_assert_geq(atomic_load(&cx.pg_kills), cx.rounds);
    cr_assert_eq(atomic_load(&cx.pg_restarts), atomic_load(&cx.pg_kills));
    cr_assert_gt(transport, 0, "no request ever met a killed gateway");
    cr_assert_gt(reports, 100, "too few reports to prove anything");

    for (int i = 0; i < cx.n_clients; i++) {
        free(clients[i].reports);
        free(clients[i].seats);
    }
    unlink(cx.keys_file);
    unlink(cx.optout_file);
    unlink(cx.pseudonym_file);
    tally_test_db_drop(NULL, cx.db);
}
