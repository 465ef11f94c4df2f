/*
 * chaos.h: what the files of the chaos suite share (test_chaos.c says what
 * the test does): its sizes, what the clients sent, the environment, and
 * the parts apart from the test itself:
 *
 *   test_chaos.c      the environment, the supervisor, the faults, the test
 *   chaos_clients.c   the client threads: what they send and how they retry
 *   chaos_model.c     the model built from what was sent, its comparison
 *                     with the tables, and the copies of each record in Kafka
 *
 * Each helper has its own header (chaos_clients.h, chaos_model.h), which a
 * suite includes to link it (tests/CMakeLists.txt). test_chaos.c calls
 * both; chaos_model.c calls chaos_clients.c (chaos_license_of);
 * chaos_clients.c calls neither.
 */
#ifndef TALLY_TEST_CHAOS_H
#define TALLY_TEST_CHAOS_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "subprocess.h"

#define MAX_TENANTS 16
#define MAX_CLIENTS 32
#define ENVS 2
#define DAYS 3
#define SEAT_USERS 12
#define DAY_MS INT64_C(86400000)
#define RESTART_MS 300            /* the supervisor's RestartSec */
/* A SIGKILLed gateway stays down until a client request met it (a
 * transport error), at most this long: the fault is proved from the
 * clients' side even when they are all backing off at the kill. */
#define GATEWAY_DOWN_MAX_MS 15000
#define GIVE_UP_MS 300000         /* a client gives up one record after this */
#define CONVERGE_MS 240000        /* the tables must match the model within this after the last send */
/* The topics may stand still this long while the tables still differ: a
 * killed writer's open transaction blocks read_committed readers (and an
 * aggregator's restore, aggregator/restore.h) until its successor fences
 * it or, at the latest, transaction.timeout.ms (librdkafka's 60 s) has
 * passed; so more than that, and a margin for the restart after it. */
#define STILL_MAX_MS 100000
#define ADMIN_TOKEN "chaos-admin-token-0123456789abcdef0123456789"

extern const char *const env_ids[ENVS];
extern const char *const env_kinds[ENVS];

enum { P_GATEWAY, P_ANONYMIZER, P_AGGREGATOR, P_MATERIALIZER, N_PROCS };
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
    /* transport errors the clients met, all of them (clients add) */
    atomic_long transport_errors;
    /* answers 202 and 503 the clients got, all of them (clients add): what
     * a fault test sees of the gateway while brokers are down */
    atomic_long answers_202, answers_503;
    long transport_at_kill;      /* transport_errors when the gateway was last SIGKILLed */
    long long gateway_killed_at; /* and when (0: not down after a kill) */
    long long broker_down_ms, pg_down_ms;
    atomic_int chaos_done, clients_done, abort;
    char chaos_failure[2048];
} chaos_t;

/* The run (test_chaos.c's). */
extern chaos_t cx;
extern client_t clients[MAX_CLIENTS];

#endif /* TALLY_TEST_CHAOS_H */
