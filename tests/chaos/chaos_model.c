/* The model of the chaos suite (chaos.h): the tables expected from what
 * the clients sent (none of the aggregator's code), their comparison with
 * the tables, and the copies of each record in Kafka. */
#include "chaos_model.h"

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

/* ---- the model ------------------------------------------------------------------------ */


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

void chaos_model_build(model_t *m)
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
void chaos_compare(const model_t *m, diff_t *d)
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
        chaos_license_of(t, &seats_max, &monthly_max, &daily_max);
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


int chaos_copies_cmp(const void *a, const void *b)
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
size_t chaos_count_copies(const char *topic, copies_t *sent, size_t n_sent, int clean)
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
        copies_t *hit = bsearch(&probe, sent, n_sent, sizeof *sent, chaos_copies_cmp);
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

long long chaos_converge(const model_t *m, long long t_sent, void (*supervise)(void), void (*diagnose)(void))
{
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
            chaos_compare(m, &diff);
            if (diff.n == 0 && converged == 0)
                converged = now;
            if (diff.n == 0 && now - still_since >= 5000)
                break;
        }
        /* Nothing moved for STILL_MAX_MS and the tables still differ: they
         * will not get there (no need to wait for the deadline). */
        int stuck = !(now < deadline && (diff.n == 0 || now - still_since < STILL_MAX_MS));
        if (stuck)
            diagnose();
        cr_assert(!stuck,
                  "the tables differ from the model %.0f s after the last send, the topics still for %.0f s (%d "
                  "differences):\n%s",
                  (double)(now - t_sent) / 1000, (double)(now - still_since) / 1000, diff.n, diff.text);
        usleep(50000);
    }
    return converged;
}

void chaos_verify_copies(size_t *total_raw, size_t *extra_copies, size_t *ambiguous)
{
    *total_raw = *extra_copies = *ambiguous = 0;
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
    qsort(sent, n_sent, sizeof *sent, chaos_copies_cmp);
    size_t strangers_raw = chaos_count_copies(cx.usage_raw, sent, n_sent, 0);
    size_t strangers_clean = chaos_count_copies(cx.usage, sent, n_sent, 1);
    cr_assert_eq(strangers_raw, 0, "records in raw that no client sent");
    cr_assert_eq(strangers_clean, 0, "records in the clean topic that no client sent");
        for (size_t q = 0; q < n_sent; q++) {
        const copies_t *s = &sent[q];
        cr_assert_geq(s->acks, 1);
        cr_assert(s->raw >= s->acks && s->raw <= s->posts,
                  "%s %" PRIx64 ": %u copies in raw for %u answers 202 of %u POSTs", s->key >> 63 ? "seat" : "report",
                  s->key, s->raw, s->acks, s->posts);
        if (s->posts == s->acks)
            cr_assert_eq(s->raw, s->acks, "no ambiguous POST, yet %u copies for %u answers 202", s->raw, s->acks);
        else
            (*ambiguous)++;
        *extra_copies += s->raw - s->acks;
        cr_assert_eq(s->clean, s->raw, "%" PRIx64 ": %u copies in the clean topic, %u in raw", s->key, s->clean,
                     s->raw);
        *total_raw += s->raw;
    }
    free(sent);
}
