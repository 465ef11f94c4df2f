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
 * faults happened. A SIGKILLed gateway is restarted only once a client
 * request met it (a transport error; at most GATEWAY_DOWN_MAX_MS), so the
 * clients see that fault even when all of them were backing off. It breaks the broker and PostgreSQL that the suites use:
 * it runs only with TALLY_TEST_DISRUPTIVE=1 (tests/run.sh sets it) and
 * otherwise says so on stderr and is skipped.
 *
 * Size: TALLY_CHAOS_ROUNDS (faults of each kind, default 2),
 * TALLY_CHAOS_CLIENTS (client threads, default 4), TALLY_CHAOS_TENANTS
 * (default 3), TALLY_CHAOS_SEED (default: random, printed). */
#include "chaos_clients.h"
#include "chaos_model.h"

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

static const char *const proc_names[N_PROCS] = {"gateway", "anonymizer", "aggregator", "materializer"};

chaos_t cx;
client_t clients[MAX_CLIENTS];

static int env_int(const char *name, int fallback, int lo, int hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return fallback;
    int n = atoi(v);
    cr_assert(n >= lo && n <= hi, "%s=%s: must be %d..%d", name, v, lo, hi);
    return n;
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
            chaos_api_key(key, sizeof key, t, e);
            tally_test_sha256_hex(key, hash);
            chaos_tenant_id(tenant, sizeof tenant, t);
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
        ARG("--alerts-topic=");   /* no notifier in this test */
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
            if (st == 128 + SIGKILL) {
                atomic_fetch_add(&cx.kills[i], 1);
                if (i == P_GATEWAY) {
                    cx.gateway_killed_at = now;
                    cx.transport_at_kill = atomic_load(&cx.transport_errors);
                }
            } else {
                atomic_fetch_add(&cx.exits[i], 1);   /* it had ended on its own just before */
            }
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
            /* A killed gateway waits for a client to meet it (bounded). */
            int unmet = i == P_GATEWAY && cx.gateway_killed_at > 0 &&
                        atomic_load(&cx.transport_errors) == cx.transport_at_kill &&
                        now < cx.gateway_killed_at + GATEWAY_DOWN_MAX_MS;
            if (p == NULL && now >= cx.restart_at[i] && !unmet) {
                if (i == P_GATEWAY)
                    cx.gateway_killed_at = 0;
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
    usleep((useconds_t)(500 + chaos_rnd_below(rng, 1500)) * 1000);
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
        int j = (int)chaos_rnd_below(&rng, i + 1), t = plan[i];
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
        usleep((useconds_t)(800 + chaos_rnd_below(&rng, 2200)) * 1000);
    }
    free(plan);
    atomic_store(&cx.chaos_done, 1);
    return NULL;
}


/* ---- when the tables do not converge ------------------------------------------------------ */

/* Prints where each stage stands (its group's committed offsets against
 * the log end; the materializer's offsets are in its database) and the
 * end of each running process's log, so a failed run says which stage
 * stopped, not only that the totals differ. */
static void diagnose(void)
{
    struct {
        const char *stage, *group_suffix, *topic;
    } stages[] = {{"anonymizer", "-anon", cx.usage_raw}, {"aggregator", "-agg", cx.usage}};
    for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) {
        char group[160];
        snprintf(group, sizeof group, "%s%s", cx.group, stages[i].group_suffix);
        int64_t end = -1, committed = -1;
        const char *topic[] = {stages[i].topic};
        tally_test_topic_offsets(group, topic, 1, &end, &committed);
        fprintf(stderr, "chaos: diagnosis: %s: %s end %" PRId64 ", committed %" PRId64 "\n", stages[i].stage,
                stages[i].topic, end, committed);
    }
    int64_t rollups_end = -1;
    const char *rollups[] = {cx.rollups};
    tally_test_topic_offsets(NULL, rollups, 1, &rollups_end, NULL);
    char err[256], sql[512];
    PGconn *c = tally_pg_connect(tally_test_pg_url(cx.db), "tally-test-chaos-diagnosis", err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "chaos: diagnosis: materializer: %s end %" PRId64 ", its database: %s\n", cx.rollups,
                rollups_end, err);
    } else {
        snprintf(sql, sizeof sql,
                 "SELECT coalesce(sum(next_offset), -1), coalesce(max(updated_at)::text, '-') "
                 "FROM tally.kafka_offsets WHERE topic = '%s'",
                 cx.rollups);
        PGresult *r = PQexec(c, sql);
        fprintf(stderr, "chaos: diagnosis: materializer: %s end %" PRId64 ", stored %s (last at %s)\n",
                cx.rollups, rollups_end, PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "?",
                PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 1) : PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
    }
    for (int i = 0; i < N_PROCS; i++) {
        tally_test_proc_t *p = cx.proc[i];
        fprintf(stderr, "chaos: diagnosis: tally-%s: %d kills, %d exits, %d restarts, %s\n", proc_names[i],
                atomic_load(&cx.kills[i]), atomic_load(&cx.exits[i]), atomic_load(&cx.restarts[i]),
                p ? "running; the end of its log:" : "not running");
        if (p == NULL)
            continue;
        const char *log = tally_test_log(p);
        size_t len = strlen(log), from = len > 6000 ? len - 6000 : 0;
        while (from > 0 && from < len && log[from - 1] != '\n')
            from++;
        fprintf(stderr, "%s\n", log + from);
    }
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
                                       .cursor = chaos_day_start(day) + chaos_rnd_below(&c->rng, 3600000)};
                chaos_new_reporter(c, cell);
            }
    for (int t = 0; t < cx.tenants; t++) {
        client_t *c = &clients[t % cx.n_clients];
        c->seat_cursor[c->n_seat_tenants] = chaos_day_start(0);
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
        pthread_create(&client_th[i], NULL, chaos_client_main, &clients[i]);
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
    chaos_model_build(&model);
    long long converged = chaos_converge(&model, t_sent, supervise, diagnose);
    long long t_converged = tally_test_mono_ms();
    stop_all();
    cr_assert_eq(cx.bad_exit[0], '\0', "a process crashed: %s", cx.bad_exit);

    /* Kafka: every record in raw per accepted POST, and clean = raw. */
    size_t total_raw = 0, extra_copies = 0, ambiguous = 0;
    chaos_verify_copies(&total_raw, &extra_copies, &ambiguous);

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
