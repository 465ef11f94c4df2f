/* Broker loss: the whole pipeline on a three-node Kafka cluster
 * (deploy/local/kafka.sh, TALLY_KAFKA_NODES=3; tests/cluster/run.sh starts
 * it on ports of its own and stops it after), topics created as
 * deploy/kafka/topics.conf declares them (3 replicas, min.insync.replicas=2
 * for usage, seats, rollups, changelogs and Control Panel events), in
 * scaled consumer groups: three tally-gateways behind HAProxy (Debian's,
 * health checks on /readyz, the gateways trusting one proxy hop for the
 * client address), three tally-anonymizers, three tally-aggregators and two
 * tally-materializers, restarted by a supervisor loop as systemd would. The client threads of tests/chaos
 * (chaos_clients.c) send usage reports, seat events and Control Panel
 * events and retry as the `tally` client does; the model of tests/chaos
 * (chaos_model.c) says what the tables must hold.
 *
 * The faults, in this order, each counted and its healing timed:
 *   1. SIGKILL one broker mid-stream, bring it back;
 *   2. SIGKILL one gateway behind the balancer and SIGTERM another: clients
 *      retrying through HAProxy lose nothing answered 202;
 *   3. SIGKILL the broker leading the most tally.usage partitions, bring it back;
 *   4. SIGKILL one anonymizer, one aggregator and one materializer: the
 *      others take their partitions (the rebalance time is printed), then
 *      they come back;
 *   5. two brokers down for a while: the gateways answer 503, never 202
 *      (min.insync.replicas=2 refuses the writes; without a controller
 *      quorum they time out, --ack-timeout), and answers 202 again by
 *      itself once one broker is back.
 * After each broker kill: the time until an acks=all write succeeds on
 * every partition (leader election), and until a transaction commits
 * (transaction coordinator failover).
 *
 * A product-event client sends too (each event once, with its event_id,
 * again until answered 202).
 *
 * Checked at the end: the Control Panel tables equal the model to the
 * unit; tally.product_events holds each product event once (every report and seat event was answered 202 at last: clients
 * retry until it is); in Kafka, every record answered 202 is in raw once
 * per accepted POST and the clean topic holds as many copies (exactly
 * once through the anonymizer's transactions and the group's rebalances).
 *
 * It needs the cluster: without TALLY_TEST_CLUSTER=1 (tests/cluster/run.sh
 * sets it) it fails, saying so. Size: TALLY_CHAOS_CLIENTS (default 4),
 * TALLY_CHAOS_TENANTS (default 8), TALLY_CHAOS_SEED (default random). */
#include "chaos_clients.h"
#include "chaos_model.h"
#include "cluster_probes.h"
#include "cluster_products.h"

#include "fixtures.h"
#include "gateway_fixture.h"
#include "http.h"
#include "kafka_topics.h"
#include "pg.h"
#include "services.h"
#include "subprocess.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

chaos_t cx;
client_t clients[MAX_CLIENTS];

enum { K_GATEWAY, K_ANONYMIZER, K_AGGREGATOR, K_MATERIALIZER, N_KINDS };
#define MAX_INSTANCES 3
#define ACK_TIMEOUT_MS 5000
static const char *const kind_names[N_KINDS] = {"gateway", "anonymizer", "aggregator", "materializer"};
static const char *const group_suffix[N_KINDS] = {"", "-anon", "-agg", "-mat"};
static const int instances[N_KINDS] = {3, 3, 3, 2};

typedef struct {
    tally_test_proc_t *proc;
    long long restart_at;
    atomic_int kill_request, held;   /* held: killed, not restarted until released */
    atomic_int term_request, terms;  /* SIGTERM asked; ended by it with status 0 */
    int termed;
    atomic_int kills, exits, restarts;
} instance_t;

static instance_t inst[N_KINDS][MAX_INSTANCES];
static char probe_topic[128], bad_exit[1024], failure[2048], haproxy_cfg[128];
static int gw_ports[MAX_INSTANCES];
static tally_test_proc_t *haproxy;

static void fail_fault(const char *what, const char *detail)
{
    atomic_store(&cx.abort, 1);
    size_t n = strlen(failure);
    snprintf(failure + n, sizeof failure - n, "%s: %.900s; ", what, detail);
}

/* ---- the topics, as topics.conf declares them ---------------------------------------- */

static void create_topics(void)
{
    char err[512];
    tally_topic_list_t conf = {0};
    cr_assert_eq(tally_topics_load(tally_test_source_path("deploy/kafka/topics.conf"), &conf, err, sizeof err), 0,
                 "%s", err);
    struct {
        const char *declared;
        char *name;
    } map[] = {{"tally.usage.raw", cx.usage_raw}, {"tally.product.raw", cx.product_raw}, {"tally.usage", cx.usage},
               {"tally.product", cx.product},     {"tally.rollups", cx.rollups},
               {"tally.aggregator.changelog", cx.changelog}, {"tally.controlpanel", cx.cp}, {"tally.dlq", cx.dlq},
               {"tally.usage", probe_topic}};
    size_t n = sizeof map / sizeof map[0];
    tally_topic_list_t list = {.topics = calloc(n, sizeof(tally_topic_spec_t)), .count = n};
    for (size_t i = 0; i < n; i++) {
        const tally_topic_spec_t *t = NULL;
        for (size_t j = 0; j < conf.count; j++)
            if (strcmp(conf.topics[j].name, map[i].declared) == 0)
                t = &conf.topics[j];
        cr_assert_not_null(t, "topics.conf lacks %s", map[i].declared);
        list.topics[i] = *t;
        snprintf(list.topics[i].name, sizeof list.topics[i].name, "%s", map[i].name);
        char min_isr[24];
        cr_assert_eq(tally_topics_replication(&list, t, min_isr, sizeof min_isr), CLUSTER_NODES,
                     "%s: topics.conf declares %d replicas", t->name, CLUSTER_NODES);
        if (strcmp(map[i].declared, "tally.product") != 0 && strcmp(map[i].declared, "tally.product.raw") != 0 &&
            strcmp(map[i].declared, "tally.dlq") != 0)
            cr_assert_str_eq(min_isr, "2", "%s: min.insync.replicas", t->name);
    }
    cr_assert_eq(list.topics[8].partitions, PROBE_PARTITIONS);
    rd_kafka_t *rk = cluster_probe_producer();
    cr_assert_eq(tally_topics_ensure(rk, &list, 60000, NULL, err, sizeof err), 0, "%s", err);
    rd_kafka_destroy(rk);
    free(list.topics);
    tally_topics_free(&conf);
}

static void write_file(char *path, size_t size, const char *prefix, const char *text)
{
    snprintf(path, size, "/tmp/tally-cluster-%s-XXXXXX", prefix);
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
    const char *suffix[] = {".usage.raw", ".product.raw", ".usage", ".product", ".rollups", ".changelog", ".cp",
                            ".dlq", ".probe"};
    char *names[] = {cx.usage_raw, cx.product_raw, cx.usage, cx.product, cx.rollups, cx.changelog, cx.cp, cx.dlq,
                     probe_topic};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        tally_test_unique_name2("tally.test.cluster", suffix[i], names[i], 128);
    tally_test_unique_name("tally-test-cluster", cx.group, sizeof cx.group);
    create_topics();
    PGconn *c = tally_test_db_create("tally_test_cluster", cx.db, sizeof cx.db);
    PQfinish(c);
    size_t n = (size_t)snprintf(text, sizeof text, "# cluster test keys\n");
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
    /* The clients reach HAProxy; it balances over the gateways that
     * answer /readyz, and sends a request again elsewhere only when it
     * could not connect (retry-on's default: never a POST that a gateway
     * may have taken). */
    cx.gw_port = tally_test_free_ports(1 + instances[K_GATEWAY]);
    cr_assert(cx.gw_port > 0, "no free ports");
    snprintf(cx.base_url, sizeof cx.base_url, "http://127.0.0.1:%d", cx.gw_port);
    n = (size_t)snprintf(text, sizeof text,
                         "global\n  maxconn 2000\ndefaults\n  mode http\n  timeout connect 2s\n"
                         "  timeout client 60s\n  timeout server 60s\n  retries 3\n  option redispatch\n"
                         "frontend clients\n  bind 127.0.0.1:%d\n  option forwardfor\n  default_backend gateways\n"
                         "backend gateways\n  balance roundrobin\n  option httpchk GET /readyz\n"
                         "  http-check expect status 200\n  default-server inter 500ms fall 2 rise 2\n",
                         cx.gw_port);
    for (int i = 0; i < instances[K_GATEWAY]; i++) {
        gw_ports[i] = cx.gw_port + 1 + i;
        n += (size_t)snprintf(text + n, sizeof text - n, "  server gateway%d 127.0.0.1:%d check\n", i + 1,
                              gw_ports[i]);
    }
    write_file(haproxy_cfg, sizeof haproxy_cfg, "haproxy", text);
}

/* Debian's haproxy (deploy/setup.sh --test installs it), in the foreground. */
static void haproxy_start(void)
{
    const char *bin = "/usr/sbin/haproxy";
    cr_assert_eq(access(bin, X_OK), 0, "%s is missing: deploy/setup.sh --test installs it", bin);
    char *argv[] = {(char *)bin, "-db", "-f", haproxy_cfg, NULL};
    haproxy = tally_test_spawn(argv, NULL, 0, NULL, 0);
}

/* ---- the supervisor (main thread only) -------------------------------------------------- */

static void start_instance(int kind, int i)
{
    static char a[40][512];
    char *argv[41];
    int n = 0;
#define ARG(...) (snprintf(a[n], sizeof a[n], __VA_ARGS__), argv[n] = a[n], n++)
    char bin[64];
    snprintf(bin, sizeof bin, "tally-%s", kind_names[kind]);
    ARG("%s", tally_test_bin(bin));
    ARG("--brokers=%s", tally_test_brokers());
    ARG("--schemas=%s", tally_test_source_path("schemas"));
    if (kind != K_GATEWAY) {
        ARG("--group=%s%s", cx.group, group_suffix[kind]);
        ARG("--dlq-topic=%s", cx.dlq);
        ARG("--admin-port=0");
    }
    switch (kind) {
    case K_GATEWAY:
        ARG("--port=%d", gw_ports[i]);
        ARG("--trusted-proxies=1");   /* HAProxy's X-Forwarded-For entry, no further */
        ARG("--product-topic=%s", cx.product_raw);
        ARG("--usage-topic=%s", cx.usage_raw);
        ARG("--controlpanel-topic=%s", cx.cp);
        ARG("--keys-file=%s", cx.keys_file);
        ARG("--optout-file=%s", cx.optout_file);
        ARG("--admin-token=%s", ADMIN_TOKEN);
        ARG("--catalog=%s", tally_test_source_path("schemas/product-events.json"));
        ARG("--ack-timeout=%ds", ACK_TIMEOUT_MS / 1000);
        break;
    case K_ANONYMIZER:
        ARG("--instance-id=%d", i + 1);
        ARG("--transactional-id-prefix=%s-anon", cx.group);
        ARG("--key-file=%s", cx.pseudonym_file);
        ARG("--catalog=%s", tally_test_source_path("schemas/product-events.json"));
        ARG("--product-raw-topic=%s", cx.product_raw);
        ARG("--usage-raw-topic=%s", cx.usage_raw);
        ARG("--product-topic=%s", cx.product);
        ARG("--usage-topic=%s", cx.usage);
        break;
    case K_AGGREGATOR:
        ARG("--instance-id=%d", i + 1);
        ARG("--transactional-id-prefix=%s-agg", cx.group);
        ARG("--usage-topic=%s", cx.usage);
        ARG("--rollups-topic=%s", cx.rollups);
        ARG("--changelog-topic=%s", cx.changelog);
        break;
    case K_MATERIALIZER:
        ARG("--pg-url=%s", tally_test_pg_url(cx.db));
        ARG("--rollups-topic=%s", cx.rollups);
        ARG("--product-topic=%s", cx.product);
        ARG("--controlpanel-topic=%s", cx.cp);
        ARG("--alerts-topic=");   /* no notifier in this test */
        ARG("--migrations=%s", tally_test_source_path("deploy/postgres/migrations"));
        ARG("--retry-max=2s");
        break;
    }
    if (kind != K_GATEWAY) {
        /* Static membership and a short session, as in tests/chaos: a
         * restarted member takes its partitions back at once, a killed
         * one's go to the others after 6 s. */
        const char *x = kind == K_MATERIALIZER ? "" : "consumer.";
        ARG("-X%sgroup.instance.id=%s-%s-%d", x, cx.group, kind_names[kind], i + 1);
        ARG("-X%ssession.timeout.ms=6000", x);
        ARG("-X%sheartbeat.interval.ms=500", x);
        /* A killed member's open transaction holds back read_committed
         * readers of its partitions until its restart fences it or this
         * passes (librdkafka's default: 60 s). */
        if (kind != K_MATERIALIZER)
            ARG("-Xproducer.transaction.timeout.ms=15000");
    }
#undef ARG
    argv[n] = NULL;
    inst[kind][i].proc = tally_test_spawn(argv, NULL, 0, NULL, 0);
}

static void supervise(void)
{
    long long now = tally_test_mono_ms();
    for (int k = 0; k < N_KINDS; k++)
        for (int i = 0; i < instances[k]; i++) {
            instance_t *s = &inst[k][i];
            tally_test_proc_t *p = s->proc;
            if (p && atomic_load(&s->term_request)) {
                tally_test_signal(p, SIGTERM);
                s->termed = 1;
                atomic_store(&s->term_request, 0);
                continue;
            }
            if (p && atomic_load(&s->kill_request)) {
                tally_test_signal(p, SIGKILL);
                int st = tally_test_wait(p, 10000);
                cr_assert_geq(st, 0, "tally-%s %d did not die of SIGKILL", kind_names[k], i + 1);
                atomic_fetch_add(st == 128 + SIGKILL ? &s->kills : &s->exits, 1);
                atomic_store(&s->kill_request, 0);
            } else if (p && tally_test_wait(p, 0) >= 0) {
                int st = tally_test_wait(p, 0);
                /* Ending on its own (brokers lost) is allowed, with a status;
                 * a crash is not. */
                atomic_fetch_add(s->termed && st == 0 ? &s->terms : &s->exits, 1);
                s->termed = 0;
                if (st > 128 && strlen(bad_exit) < sizeof bad_exit - 200)
                    snprintf(bad_exit + strlen(bad_exit), sizeof bad_exit - strlen(bad_exit),
                             "tally-%s %d ended by signal %d; ", kind_names[k], i + 1, st - 128);
            } else {
                if (p == NULL && now >= s->restart_at && !atomic_load(&s->held)) {
                    start_instance(k, i);
                    atomic_fetch_add(&s->restarts, 1);
                }
                continue;
            }
            const char *san = tally_test_sanitizer_report(tally_test_log(p));
            cr_assert_null(san, "tally-%s: sanitizer report: %.300s", kind_names[k], san);
            tally_test_proc_free(p);
            s->proc = NULL;
            s->restart_at = now + RESTART_MS;
        }
}

static void diagnose(void)
{
    for (int k = 0; k < N_KINDS; k++)
        for (int i = 0; i < instances[k]; i++) {
            tally_test_proc_t *p = inst[k][i].proc;
            fprintf(stderr, "cluster: diagnosis: tally-%s %d: %s\n", kind_names[k], i + 1,
                    p ? "running; the end of its log:" : "not running");
            if (p == NULL)
                continue;
            const char *log = tally_test_log(p);
            size_t len = strlen(log), from = len > 3000 ? len - 3000 : 0;
            fprintf(stderr, "%s\n", log + from);
        }
}

/* SIGTERM to every process at once, as systemd stops a host: stopped one
 * after the other, each group would rebalance onto its last members while
 * they stop. Each must exit 0 within 60 s; one that is still running then
 * is the open defect below, not a count error: it is SIGKILLed (as systemd
 * would), counted and reported, and the counts are checked after it.
 * KNOWN OPEN DEFECT (seen once in CI on librdkafka 2.12.1, an anonymizer):
 * a consumer whose group session timed out while two brokers were down sat
 * in a librdkafka transactional call for over 80 s, past its 30 s API
 * timeout, and did not stop. Nothing it held was committed, so its
 * coordinator aborts it and the totals stay exact. */
static int stop_hangs;

static void stop_all(void)
{
    if (haproxy) {
        tally_test_signal(haproxy, SIGTERM);
        (void)tally_test_wait(haproxy, 10000);
        tally_test_proc_free(haproxy);
        haproxy = NULL;
    }
    for (int k = 0; k < N_KINDS; k++)
        for (int i = 0; i < instances[k]; i++)
            if (inst[k][i].proc)
                tally_test_signal(inst[k][i].proc, SIGTERM);
    for (int k = 0; k < N_KINDS; k++)
        for (int i = 0; i < instances[k]; i++) {
            tally_test_proc_t *p = inst[k][i].proc;
            if (p == NULL)
                continue;
            int st = tally_test_wait(p, 60000);
            if (st == -1) {
                /* Where it is stuck, for whoever looks at it next (gdb
                 * when the machine has it; only a diagnostic). */
                char cmd[160];
                snprintf(cmd, sizeof cmd, "gdb -p %d -batch -ex 'thread apply all bt 12' 2>/dev/null | "
                         "grep -E '^(Thread|#)' >&2", (int)tally_test_pid(p));
                (void)system(cmd);
                tally_test_signal(p, SIGKILL);
                (void)tally_test_wait(p, 10000);
                stop_hangs++;
                const char *log = tally_test_log(p);
                size_t len = strlen(log);
                fprintf(stderr, "cluster: KNOWN OPEN DEFECT: tally-%s %d still running 60 s after SIGTERM, "
                        "SIGKILLed; its log ends: %s\n", kind_names[k], i + 1, log + (len > 4000 ? len - 4000 : 0));
                tally_test_proc_free(p);
                inst[k][i].proc = NULL;
                continue;
            }
            if (st != 0) {
                const char *log = tally_test_log(p);
                size_t len = strlen(log);
                fprintf(stderr, "cluster: tally-%s %d after SIGTERM: %s\n", kind_names[k], i + 1,
                        log + (len > 4000 ? len - 4000 : 0));
            }
            cr_assert_eq(st, 0, "tally-%s %d: SIGTERM at the end must exit 0 (got %d)", kind_names[k], i + 1, st);
            tally_test_proc_free(p);
            inst[k][i].proc = NULL;
        }
}

/* ---- the faults ------------------------------------------------------------------------- */

static struct {
    long one_gateway_202;
    atomic_int broker_kills, broker_restarts;
    int victim[4], txn_attempts[2];
    long long produce_heal[2], txn_heal[2], node_back[4];
    long long rebalance[N_KINDS];
    long window_202, window_503;
    long long two_down_ms, node_back_ms, first_202_ms;
} fx;

static rd_kafka_t *probe_rk;

/* Kills node, times the healing (an acks=all write on every partition, a
 * transaction committed), brings it back. 0, or -1 (fail_fault said why). */
static int broker_loss(int idx, int node)
{
    char why[1200], txn_id[200];
    snprintf(txn_id, sizeof txn_id, "%s-probe-txn", cx.group);
    long long t0 = tally_test_mono_ms();
    if (cluster_node_kill(node, why, sizeof why) != 0) {
        fail_fault("broker kill", why);
        return -1;
    }
    atomic_fetch_add(&fx.broker_kills, 1);
    fx.victim[idx] = node;
    long long produced = cluster_produce_heal(probe_rk, probe_topic, 90000);
    long long committed = cluster_txn_heal(txn_id, probe_topic, 90000, &fx.txn_attempts[idx]);
    if (produced < 0 || committed < 0) {
        fail_fault("broker loss", produced < 0 ? "no write on every partition within 90 s"
                                               : "no transaction committed within 90 s");
        return -1;
    }
    fx.produce_heal[idx] = produced - t0;
    fx.txn_heal[idx] = committed - t0;
    fprintf(stderr, "cluster: node %d SIGKILLed: writes on every partition after %.1f s, a transaction after %.1f s\n",
            node, (double)fx.produce_heal[idx] / 1000, (double)fx.txn_heal[idx] / 1000);
    usleep(2000 * 1000);   /* traffic on two brokers */
    long long t1 = tally_test_mono_ms();
    if (cluster_node_start(node, why, sizeof why) != 0) {
        fail_fault("broker restart", why);
        return -1;
    }
    atomic_fetch_add(&fx.broker_restarts, 1);
    fx.node_back[idx] = tally_test_mono_ms() - t1;
    return 0;
}

/* One gateway SIGKILLed and another SIGTERMed (it drains, then exits 0)
 * behind HAProxy: the third serves alone for 3 s, then both come back. */
static int gateway_loss(uint64_t *rng)
{
    int k = (int)chaos_rnd_below(rng, instances[K_GATEWAY]), t = (k + 1) % instances[K_GATEWAY];
    instance_t *killed = &inst[K_GATEWAY][k], *termed = &inst[K_GATEWAY][t];
    int kills0 = atomic_load(&killed->kills), terms0 = atomic_load(&termed->terms);
    atomic_store(&killed->held, 1);
    atomic_store(&termed->held, 1);
    atomic_store(&killed->kill_request, 1);
    atomic_store(&termed->term_request, 1);
    for (int waited = 0; waited < 60000 && (atomic_load(&killed->kills) == kills0 ||
                                             atomic_load(&termed->terms) == terms0);
         waited += 10)
        usleep(10000);
    long ok0 = atomic_load(&cx.answers_202);
    usleep(3000 * 1000);
    fx.one_gateway_202 = atomic_load(&cx.answers_202) - ok0;
    atomic_store(&killed->held, 0);
    atomic_store(&termed->held, 0);
    if (atomic_load(&killed->kills) == kills0 || atomic_load(&termed->terms) == terms0) {
        fail_fault("gateway", "the SIGKILL or the SIGTERM (exit 0) was not seen within 60 s");
        return -1;
    }
    fprintf(stderr, "cluster: gateway %d SIGKILLed, gateway %d SIGTERMed: %ld answers 202 through the third in 3 s\n",
            k + 1, t + 1, fx.one_gateway_202);
    return 0;
}

/* The node leading the most partitions of topic (the lowest id on a tie). */
static int busiest_leader(const char *topic)
{
    int32_t leader[MAX_PARTITIONS];
    int n = cluster_leaders(probe_rk, topic, leader, MAX_PARTITIONS), count[CLUSTER_NODES + 1] = {0}, best = 1;
    for (int p = 0; p < n; p++)
        if (leader[p] >= 1 && leader[p] <= CLUSTER_NODES)
            count[leader[p]]++;
    for (int b = 2; b <= CLUSTER_NODES; b++)
        if (count[b] > count[best])
            best = b;
    fprintf(stderr, "cluster: node %d leads %d of the %d partitions of %s\n", best, count[best], n, topic);
    return best;
}

/* SIGKILLs one member of kind's group and keeps it down until the others
 * processed past where it stopped (the rebalance); then it comes back. */
static int member_loss(int kind, uint64_t *rng)
{
    const char *topic = kind == K_ANONYMIZER ? cx.usage_raw : kind == K_AGGREGATOR ? cx.usage : cx.rollups;
    const char *pg = kind == K_MATERIALIZER ? tally_test_pg_url(cx.db) : NULL;
    char group[160];
    snprintf(group, sizeof group, "%s%s", cx.group, group_suffix[kind]);
    int i = (int)chaos_rnd_below(rng, instances[kind]);
    instance_t *s = &inst[kind][i];
    int before = atomic_load(&s->kills);
    atomic_store(&s->held, 1);
    atomic_store(&s->kill_request, 1);
    for (int waited = 0; atomic_load(&s->kill_request) && waited < 30000; waited += 10)
        usleep(10000);
    long long t0 = tally_test_mono_ms();
    if (atomic_load(&s->kills) == before) {
        atomic_store(&s->held, 0);
        fail_fault(kind_names[kind], "SIGKILL not served, or it had ended on its own");
        return -1;
    }
    /* Taken once it is dead: a record after these ends is one it cannot
     * have processed. */
    int64_t c0[MAX_PARTITIONS], e0[MAX_PARTITIONS];
    cluster_group_positions(group, topic, pg, c0, e0);
    long long healed = cluster_group_heal(group, topic, pg, c0, e0, 120000);
    atomic_store(&s->held, 0);
    if (healed < 0) {
        fail_fault(kind_names[kind], "the group did not take the killed member's partitions within 120 s");
        return -1;
    }
    fx.rebalance[kind] = healed - t0;
    fprintf(stderr, "cluster: tally-%s %d SIGKILLed: its group processed past it after %.1f s\n", kind_names[kind],
            i + 1, (double)fx.rebalance[kind] / 1000);
    return 0;
}

/* Two brokers down: no answer 202 once the writes in flight are over (the
 * gateway's ack timeout), answers 503; one broker back: 202 again. */
static int two_down(uint64_t *rng)
{
    char why[1200];
    int a = 1 + (int)chaos_rnd_below(rng, CLUSTER_NODES), b = a % CLUSTER_NODES + 1;
    for (int k = 0; k < 2; k++) {
        if (cluster_node_kill(k == 0 ? a : b, why, sizeof why) != 0) {
            fail_fault("broker kill", why);
            return -1;
        }
        atomic_fetch_add(&fx.broker_kills, 1);
    }
    fx.victim[2] = a, fx.victim[3] = b;
    long long t0 = tally_test_mono_ms();
    usleep((ACK_TIMEOUT_MS + 1500) * 1000);
    long ok0 = atomic_load(&cx.answers_202), busy0 = atomic_load(&cx.answers_503);
    usleep(10000 * 1000);
    fx.window_202 = atomic_load(&cx.answers_202) - ok0;
    fx.window_503 = atomic_load(&cx.answers_503) - busy0;
    fx.two_down_ms = tally_test_mono_ms() - t0;
    fprintf(stderr, "cluster: nodes %d and %d SIGKILLed: %ld answers 503, %ld answers 202 in 10 s\n", a, b,
            fx.window_503, fx.window_202);
    long long t1 = tally_test_mono_ms();
    long ok1 = atomic_load(&cx.answers_202);
    if (cluster_node_start(a, why, sizeof why) != 0) {
        fail_fault("broker restart", why);
        return -1;
    }
    atomic_fetch_add(&fx.broker_restarts, 1);
    fx.node_back_ms = tally_test_mono_ms() - t1;
    for (long long until = t1 + 120000; atomic_load(&cx.answers_202) == ok1 && tally_test_mono_ms() < until;)
        usleep(50000);
    if (atomic_load(&cx.answers_202) == ok1) {
        fail_fault("gateway", "no answer 202 within 120 s of a broker's return");
        return -1;
    }
    fx.first_202_ms = tally_test_mono_ms() - t1;
    if (cluster_node_start(b, why, sizeof why) != 0) {
        fail_fault("broker restart", why);
        return -1;
    }
    atomic_fetch_add(&fx.broker_restarts, 1);
    return 0;
}

static void *faults_main(void *arg)
{
    (void)arg;
    uint64_t rng = cx.seed ^ UINT64_C(0x9e3779b97f4a7c15);
    usleep(4000 * 1000);   /* traffic first */
    int ok = broker_loss(0, 1 + (int)chaos_rnd_below(&rng, CLUSTER_NODES)) == 0;
    ok = ok && gateway_loss(&rng) == 0;
    ok = ok && (usleep(2000 * 1000), broker_loss(1, busiest_leader(cx.usage)) == 0);
    for (int k = K_ANONYMIZER; ok && k <= K_MATERIALIZER; k++)
        ok = member_loss(k, &rng) == 0;
    ok = ok && two_down(&rng) == 0;
    atomic_store(&cx.chaos_done, 1);
    return NULL;
}

/* ---- the test --------------------------------------------------------------------------- */

static int env_int(const char *name, int fallback, int lo, int hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return fallback;
    int n = atoi(v);
    cr_assert(n >= lo && n <= hi, "%s=%s: must be %d..%d", name, v, lo, hi);
    return n;
}

static void assign_work(void)
{
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
}

static int sum_kills(int kind)
{
    int n = 0;
    for (int i = 0; i < instances[kind]; i++)
        n += atomic_load(&inst[kind][i].kills);
    return n;
}

Test(cluster, broker_loss_loses_nothing_answered_202, .timeout = 1200)
{
    const char *on = getenv("TALLY_TEST_CLUSTER");
    cr_assert(on != NULL && strcmp(on, "1") == 0,
              "it needs the three-node cluster that tests/cluster/run.sh starts (TALLY_TEST_CLUSTER=1)");
    long long t_start = tally_test_mono_ms();
    memset(&cx, 0, sizeof cx);
    memset(&fx, 0, sizeof fx);
    cx.n_clients = env_int("TALLY_CHAOS_CLIENTS", 4, 1, MAX_CLIENTS);
    cx.tenants = env_int("TALLY_CHAOS_TENANTS", 8, 1, MAX_TENANTS);
    const char *seed = getenv("TALLY_CHAOS_SEED");
    if (seed && *seed)
        cx.seed = strtoull(seed, NULL, 10);
    else
        randombytes_buf(&cx.seed, sizeof cx.seed);
    cx.seed |= 1;
    cx.day0 = tally_test_now_ms() / DAY_MS - DAYS;
    fprintf(stderr, "cluster: seed %" PRIu64 " (TALLY_CHAOS_SEED), %d clients, %d tenants; brokers %s\n", cx.seed,
            cx.n_clients, cx.tenants, tally_test_brokers());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    probe_rk = cluster_probe_producer();
    env_create();
    assign_work();

    for (int k = 0; k < N_KINDS; k++)
        for (int i = 0; i < instances[k]; i++)
            start_instance(k, i);
    haproxy_start();
    char url[128];
    snprintf(url, sizeof url, "%s/readyz", cx.base_url);
    for (long long ready_by = tally_test_mono_ms() + 60000;;) {
        supervise();
        tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
        long st = r.status;
        tally_test_response_free(&r);
        if (st == 200)
            break;
        cr_assert(haproxy && tally_test_wait(haproxy, 0) < 0, "haproxy ended: %.2000s", tally_test_log(haproxy));
        cr_assert_lt(tally_test_mono_ms(), ready_by, "no gateway is ready behind HAProxy after 60 s");
        usleep(100000);
    }
    long long t_run = tally_test_mono_ms();
    pthread_t client_th[MAX_CLIENTS], faults_th, product_th;
    memset(&cluster_products, 0, sizeof cluster_products);
    for (int i = 0; i < cx.n_clients; i++)
        pthread_create(&client_th[i], NULL, chaos_client_main, &clients[i]);
    pthread_create(&product_th, NULL, cluster_product_client_main, NULL);
    pthread_create(&faults_th, NULL, faults_main, NULL);
    while (atomic_load(&cx.clients_done) < cx.n_clients || !atomic_load(&cx.chaos_done)) {
        supervise();
        usleep(20000);
    }
    pthread_join(faults_th, NULL);
    for (int i = 0; i < cx.n_clients; i++)
        pthread_join(client_th[i], NULL);
    pthread_join(product_th, NULL);
    long long t_sent = tally_test_mono_ms();
    if (failure[0] != '\0')
        diagnose();
    cr_assert_eq(failure[0], '\0', "a fault could not be injected or did not heal: %s", failure);
    for (int i = 0; i < cx.n_clients; i++)
        cr_assert_not(clients[i].failed, "client %d: %s", i, clients[i].failure);
    cr_assert_eq(cluster_products.failure[0], '\0', "product client: %s", cluster_products.failure);

    static model_t model;
    chaos_model_build(&model);
    long long converged = chaos_converge(&model, t_sent, supervise, diagnose);
    long long t_converged = tally_test_mono_ms();
    /* Each product event answered 202 once in the table, counted once by day. */
    long rows = -1, daily = -1;
    for (long long until = tally_test_mono_ms() + 60000; tally_test_mono_ms() < until;) {
        supervise();
        cluster_product_stored(tally_test_pg_url(cx.db), &rows, &daily);
        if (rows == cluster_products.acks && daily == cluster_products.acks)
            break;
        usleep(500000);
    }
    cr_assert_eq(rows, cluster_products.acks, "%ld product events answered 202, %ld rows in tally.product_events", cluster_products.acks,
                 rows);
    cr_assert_eq(daily, cluster_products.acks, "%ld product events answered 202, %ld in tally.product_daily", cluster_products.acks, daily);
    stop_all();
    cr_assert_eq(bad_exit[0], '\0', "a process crashed: %s", bad_exit);
    size_t total_raw = 0, extra_copies = 0, ambiguous = 0;
    chaos_verify_copies(&total_raw, &extra_copies, &ambiguous);

    long posts = 0, reports = 0, seats = 0, cp = 0, transport = 0, retryable = 0;
    int64_t api_calls = 0;
    for (int i = 0; i < cx.n_clients; i++) {
        posts += clients[i].posts, reports += (long)clients[i].n_reports, seats += (long)clients[i].n_seats;
        cp += clients[i].cp_events, transport += clients[i].transport_errors, retryable += clients[i].retryable;
    }
    for (int t = 0; t < cx.tenants; t++)
        for (int e = 0; e < ENVS; e++)
            for (int d = 0; d < DAYS; d++)
                api_calls += model.api[t][e][d].v[0];
    fprintf(stderr,
            "cluster: sent %ld usage reports, %ld seat events, %ld Control Panel events in %ld POSTs; %ld answers "
            "202, %ld answers 503, %ld other retryable, %ld transport errors; stored: %zu records in raw (%zu "
            "extra copies from %zu ambiguous POSTs), as many in the clean topic; the tables equal the model "
            "(%" PRId64 " API calls)\n",
            reports, seats, cp, posts, atomic_load(&cx.answers_202), atomic_load(&cx.answers_503),
            retryable - atomic_load(&cx.answers_503), transport, total_raw, extra_copies, ambiguous, api_calls);
    for (int i = 0; i < 2; i++)
        fprintf(stderr,
                "cluster: broker loss %d (node %d%s): writes on every partition again after %.1f s (leader "
                "election), a transaction committed after %.1f s (coordinator failover, %d attempts); the node "
                "was back in %.1f s\n",
                i + 1, fx.victim[i], i == 1 ? ", the busiest tally.usage leader" : "",
                (double)fx.produce_heal[i] / 1000, (double)fx.txn_heal[i] / 1000, fx.txn_attempts[i],
                (double)fx.node_back[i] / 1000);
    fprintf(stderr,
            "cluster: product events: %ld sent in %ld POSTs, %ld answered 202 (%ld retried), %ld stored in "
            "tally.product_events and tally.product_daily\n",
            cluster_products.events, cluster_products.posts, cluster_products.acks, cluster_products.retryable, rows);
    fprintf(stderr, "cluster: one gateway SIGKILLed, one SIGTERMed behind HAProxy: %ld answers 202 through the third in 3 s\n",
            fx.one_gateway_202);
    fprintf(stderr,
            "cluster: consumer rebalance after a SIGKILL: anonymizer %.1f s, aggregator %.1f s, materializer %.1f s\n",
            (double)fx.rebalance[K_ANONYMIZER] / 1000, (double)fx.rebalance[K_AGGREGATOR] / 1000,
            (double)fx.rebalance[K_MATERIALIZER] / 1000);
    fprintf(stderr,
            "cluster: two brokers down (nodes %d, %d) for %.1f s: %ld answers 503 and %ld answers 202 in the last "
            "10 s; node %d back in %.1f s, the first 202 %.1f s after its start\n",
            fx.victim[2], fx.victim[3], (double)fx.two_down_ms / 1000, fx.window_503, fx.window_202, fx.victim[2],
            (double)fx.node_back_ms / 1000, (double)fx.first_202_ms / 1000);
    fprintf(stderr, "cluster: %.1f s in all: setup %.1f s, sending under faults %.1f s, tables equal %.1f s after "
                    "the last send (stable after %.1f s)\n",
            (double)(tally_test_mono_ms() - t_start) / 1000, (double)(t_run - t_start) / 1000,
            (double)(t_sent - t_run) / 1000, (double)(converged - t_sent) / 1000,
            (double)(t_converged - t_sent) / 1000);

    fprintf(stderr, "cluster: processes stopped by SIGTERM at the end: all but %d within 60 s%s\n", stop_hangs,
            stop_hangs ? " (KNOWN OPEN DEFECT, see stop_all; SIGKILLed, the counts above are still exact)" : "");

    /* The faults happened, as many as planned. */
    cr_assert_eq(atomic_load(&fx.broker_kills), 4, "broker kills");
    cr_assert_eq(atomic_load(&fx.broker_restarts), 4, "broker restarts");
    for (int k = K_GATEWAY; k <= K_MATERIALIZER; k++)
        cr_assert_eq(sum_kills(k), 1, "tally-%s: SIGKILLs", kind_names[k]);
    int terms = 0;
    for (int i = 0; i < instances[K_GATEWAY]; i++)
        terms += atomic_load(&inst[K_GATEWAY][i].terms);
    cr_assert_eq(terms, 1, "gateways stopped by SIGTERM");
    cr_assert_gt(fx.one_gateway_202, 0, "no answer 202 while one gateway of three served");
    /* Two brokers down: refused, not acknowledged on one disk. */
    cr_assert_eq(fx.window_202, 0, "%ld answers 202 with two of three brokers down", fx.window_202);
    cr_assert_gt(fx.window_503, 0, "no answer 503 with two of three brokers down");
    cr_assert_gt(reports, 100, "too few reports to prove anything");

    rd_kafka_destroy(probe_rk);
    for (int i = 0; i < cx.n_clients; i++) {
        free(clients[i].reports);
        free(clients[i].seats);
    }
    unlink(cx.keys_file);
    unlink(cx.optout_file);
    unlink(cx.pseudonym_file);
    unlink(haproxy_cfg);
    tally_test_db_drop(NULL, cx.db);
}
