/* The client threads of the chaos suite (chaos.h): what they send and how
 * they retry, as test_chaos.c describes. */
#include "chaos_clients.h"

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

const char *const env_ids[ENVS] = {"env-prod", "env-staging"};
const char *const env_kinds[ENVS] = {"production", "staging"};

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64*: each client's input follows from the seed. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

int64_t chaos_rnd_below(uint64_t *s, int64_t n)
{
    return (int64_t)(rnd(s) % (uint64_t)n);
}

void chaos_api_key(char *out, size_t size, int tenant, int env)
{
    snprintf(out, size, "tk_chaos_%d_%d_5f0e1d2c3b4a59687766", tenant, env);
}

void chaos_tenant_id(char *out, size_t size, int tenant)
{
    snprintf(out, size, "chaos-tenant-%d", tenant);
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
        if (st == 202)
            atomic_fetch_add(&cx.answers_202, 1);
        else if (st == 503)
            atomic_fetch_add(&cx.answers_503, 1);
        if (st == 202 && !rejected) {
            (*acks)++;
            tally_test_response_free(&r);
            return 0;
        }
        if (st == 0) {
            c->transport_errors++;
            atomic_fetch_add(&cx.transport_errors, 1);
        }
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
        int64_t delay = cap / 2 + chaos_rnd_below(&c->rng, cap / 2 + 1);
        if (retry_after > delay)
            delay = retry_after;
        usleep((useconds_t)delay * 1000);
    }
}

static void report_body(char *buf, size_t size, const sent_report_t *r, int64_t started)
{
    char tenant[64];
    chaos_tenant_id(tenant, sizeof tenant, r->tenant);
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
    chaos_tenant_id(tenant, sizeof tenant, s->tenant);
    snprintf(buf, size,
             "{\"event_id\":\"00000000-0000-4000-9000-%012" PRIx32 "\",\"tenant_id\":\"%s\",\"user_id\":\"user-%u\","
             "\"op\":\"%s\",\"occurred_at\":%" PRId64 "}",
             s->id, tenant, (unsigned)s->user, s->assigned ? "ASSIGNED" : "RELEASED", s->at);
}

int64_t chaos_day_start(int day)
{
    return (cx.day0 + day) * DAY_MS;
}

void chaos_new_reporter(client_t *c, cell_state_t *cell)
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
    cell_state_t *cell = &c->cells[chaos_rnd_below(&c->rng, c->n_cells)];
    /* A restart: the process is gone, its successor starts from 0 (and
     * one whose day is over restarts into the same day: the model allows
     * any time of that day). */
    if ((cell->n_reports >= 3 && chaos_rnd_below(&c->rng, 100) < 4) || cell->cursor > chaos_day_start(cell->day) + DAY_MS - 600000) {
        if (cell->cursor > chaos_day_start(cell->day) + DAY_MS - 600000)
            cell->cursor = chaos_day_start(cell->day) + chaos_rnd_below(&c->rng, 3600000);
        chaos_new_reporter(c, cell);
        c->restarts++;
    }
    int64_t started = chaos_day_start(cell->day);
    cell->seq++;
    cell->cursor += 20000 + chaos_rnd_below(&c->rng, 100000);
    int64_t calls = chaos_rnd_below(&c->rng, 40);
    cell->v[0] += calls;
    cell->v[1] += calls ? chaos_rnd_below(&c->rng, calls / 4 + 1) : 0;
    cell->v[2] += calls ? chaos_rnd_below(&c->rng, calls / 10 + 1) : 0;
    cell->v[3] += calls * (1 + chaos_rnd_below(&c->rng, 300));
    if (cell->n_reports > 0 && chaos_rnd_below(&c->rng, 100) < 3) {
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
    chaos_api_key(key, sizeof key, cell->tenant, cell->env);
    report_body(body, sizeof body, r, started);
    if (post_until_accepted(c, "/v1/usage/reports", key, body, &r->posts, &r->acks) != 0)
        return;
    if (chaos_rnd_below(&c->rng, 100) < 3) {
        c->dups++;
        if (post_until_accepted(c, "/v1/usage/reports", key, body, &r->posts, &r->acks) != 0)
            return;
    }
    if (chaos_rnd_below(&c->rng, 100) < 3) {
        /* A stale re-delivery: one of the reporter's older reports again. */
        int64_t old = r->prev;
        for (int k = (int)chaos_rnd_below(&c->rng, 4); k > 0 && old >= 0 && c->reports[old].prev >= 0; k--)
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
    int64_t at = c->seat_cursor[k] + 20000 + chaos_rnd_below(&c->rng, 280000);
    if (at >= chaos_day_start(DAYS))
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
                       .user = (uint16_t)chaos_rnd_below(&c->rng, SEAT_USERS), .assigned = chaos_rnd_below(&c->rng, 100) < 60,
                       .at = at};
    chaos_api_key(key, sizeof key, t, 0);
    seat_body(body, sizeof body, s);
    if (post_until_accepted(c, "/v1/usage/seats", key, body, &s->posts, &s->acks) != 0)
        return;
    if (chaos_rnd_below(&c->rng, 100) < 3) {
        c->seat_repeats++;
        if (post_until_accepted(c, "/v1/usage/seats", key, body, &s->posts, &s->acks) != 0)
            return;
    }
    if (idx > 3 && chaos_rnd_below(&c->rng, 100) < 3) {
        /* An older event of this client again (same event_id). */
        sent_seat_t *o = &c->seats[idx - 1 - (size_t)chaos_rnd_below(&c->rng, 3)];
        c->seat_redeliveries++;
        seat_body(body, sizeof body, o);
        chaos_api_key(key, sizeof key, o->tenant, 0);
        (void)post_until_accepted(c, "/v1/usage/seats", key, body, &o->posts, &o->acks);
    }
}

/* The license terms of tenant t: the period spans every day sent. */
void chaos_license_of(int t, int64_t *seats_max, int64_t *monthly_max, int64_t *daily_max)
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
    chaos_tenant_id(tenant, sizeof tenant, t);
    day_text(from, sizeof from, cx.day0 - 40);
    day_text(until, sizeof until, cx.day0 + 40);
    int64_t seats_max, monthly_max, daily_max, at = tally_test_now_ms() - 3600000;
    chaos_license_of(t, &seats_max, &monthly_max, &daily_max);
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
        int times = chaos_rnd_below(&c->rng, 100) < 20 ? 2 : 1;
        for (int k = 0; k < times; k++) {
            if (post_until_accepted(c, "/v1/controlpanel/events", ADMIN_TOKEN, body, &posts, &acks) != 0)
                return;
            c->cp_events++;
        }
    }
}

void *chaos_client_main(void *arg)
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
        if (c->n_seat_tenants > 0 && chaos_rnd_below(&c->rng, 100) < 15)
            send_seat(c, (int)chaos_rnd_below(&c->rng, c->n_seat_tenants));
        else
            send_report(c);
        usleep((useconds_t)(20 + chaos_rnd_below(&c->rng, 60)) * 1000);
    }
    atomic_fetch_add(&cx.clients_done, 1);
    return NULL;
}
