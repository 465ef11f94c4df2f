/* The usage log recomputed with the aggregator's library (see recompute.h). */
#include "recompute.h"

#include "codec.h"
#include "rollup.h"
#include "timeutil.h"
#include "usage_record.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct part_t {
    tally_rollup_t *state;
    bool declared, partial, has_records;
    int64_t read_start_ms;      /* -1: not known yet */
    bool has_wm;
    int64_t wm;                 /* newest observed_at applied: the library's own rule */
} part_t;

struct tally_recompute_t {
    tally_recompute_opts_t o;
    char *track_tenant;
    tally_rollup_config_t config;
    tally_decoder_t *dec;
    part_t *parts;
    size_t n_parts;
    tally_replay_rows_t *uncertain;     /* keys of rows with an unknown baseline (API) */
    tally_replay_rows_t *tracked;       /* provenance rows of the tracked tenant */
    size_t tracked_hint;
    tally_recompute_stats_t stats;
};

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

tally_recompute_t *tally_recompute_new(const tally_recompute_opts_t *o, char *errbuf, size_t errsize)
{
    tally_recompute_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL)
        abort();
    rc->o = *o;
    rc->config.open_days = o->open_days;
    rc->config.reporter_idle_ms = o->reporter_idle_ms;
    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium: cannot initialize");
        goto err;
    }
    /* Random table keys, as in the aggregator: no result depends on them. */
    randombytes_buf(rc->config.hash_key, sizeof rc->config.hash_key);
    tally_rollup_t *probe = tally_rollup_new(&rc->config, errbuf, errsize);
    if (probe == NULL)
        goto err;
    tally_rollup_free(probe);
    if (o->track_tenant != NULL && (rc->track_tenant = strdup(o->track_tenant)) == NULL)
        abort();
    rc->o.track_tenant = rc->track_tenant;
    rc->dec = tally_decoder_new_any(o->catalog);
    rc->uncertain = tally_replay_rows_new();
    rc->tracked = tally_replay_rows_new();
    return rc;
err:
    tally_recompute_free(rc);
    return NULL;
}

void tally_recompute_free(tally_recompute_t *rc)
{
    if (rc == NULL)
        return;
    for (size_t i = 0; i < rc->n_parts; i++)
        tally_rollup_free(rc->parts[i].state);
    free(rc->parts);
    tally_decoder_free(rc->dec);
    tally_replay_rows_free(rc->uncertain);
    tally_replay_rows_free(rc->tracked);
    free(rc->track_tenant);
    free(rc);
}

static part_t *part_get(tally_recompute_t *rc, int32_t partition)
{
    if ((size_t)partition >= rc->n_parts) {
        size_t n = (size_t)partition + 1;
        rc->parts = realloc(rc->parts, n * sizeof *rc->parts);
        if (rc->parts == NULL)
            abort();
        memset(rc->parts + rc->n_parts, 0, (n - rc->n_parts) * sizeof *rc->parts);
        for (size_t i = rc->n_parts; i < n; i++)
            rc->parts[i].read_start_ms = -1;
        rc->n_parts = n;
    }
    part_t *p = &rc->parts[partition];
    if (p->state == NULL) {
        char err[256];
        p->state = tally_rollup_new(&rc->config, err, sizeof err);
        if (p->state == NULL) {     /* checked by tally_recompute_new */
            fprintf(stderr, "tally-replay: %s\n", err);
            abort();
        }
    }
    return p;
}

void tally_recompute_partition(tally_recompute_t *rc, int32_t partition, bool partial, int64_t read_start_ms)
{
    part_t *p = part_get(rc, partition);
    p->declared = true;
    p->partial = partial;
    p->read_start_ms = read_start_ms;
}

/* The provenance row of the tracked tenant for (table, environment, day),
 * created on first use. */
static tally_replay_row_t *tracked_row(tally_recompute_t *rc, tally_replay_table_t table, const char *env,
                                       int32_t day, int32_t partition)
{
    size_t n = tally_replay_rows_count(rc->tracked);
    tally_replay_row_t *r = tally_replay_rows_at(rc->tracked, rc->tracked_hint);
    if (r && r->table == table && r->day == day && strcmp(r->environment, env) == 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        r = tally_replay_rows_at(rc->tracked, i);
        if (r->table == table && r->day == day && strcmp(r->environment, env) == 0) {
            rc->tracked_hint = i;
            return r;
        }
    }
    tally_replay_row_t fresh = {.table = table, .tenant = rc->track_tenant, .environment = env, .day = day,
                                .partition = partition, .first_offset = -1, .last_offset = -1};
    rc->tracked_hint = n;
    return tally_replay_rows_add(rc->tracked, &fresh);
}

static void track(tally_recompute_t *rc, const tally_replay_record_t *rec, const tally_usage_record_t *ur,
                  tally_rollup_outcome_t outcome)
{
    const char *tenant = ur->kind == TALLY_USAGE_RECORD_REPORT ? ur->report.tenant_id : ur->seat.tenant_id;
    if (rc->track_tenant == NULL || strcmp(tenant, rc->track_tenant) != 0 || outcome == TALLY_ROLLUP_INVALID)
        return;
    int64_t at = ur->kind == TALLY_USAGE_RECORD_REPORT ? ur->report.observed_at : ur->seat.occurred_at;
    int32_t day = (int32_t)tally_utc_day(at);
    if (day < rc->o.track_from_day || day > rc->o.track_to_day)
        return;
    tally_replay_row_t *r = ur->kind == TALLY_USAGE_RECORD_REPORT
                                ? tracked_row(rc, TALLY_REPLAY_API, ur->report.environment_id, day, rec->partition)
                                : tracked_row(rc, TALLY_REPLAY_SEAT, "", day, rec->partition);
    if (outcome != TALLY_ROLLUP_APPLIED) {
        r->ignored++;
        return;
    }
    if (r->first_offset < 0 || rec->offset < r->first_offset)
        r->first_offset = rec->offset;
    if (rec->offset > r->last_offset)
        r->last_offset = rec->offset;
    r->records++;
}

/* Whether a reporter first seen now, in a partial read, may have had a
 * baseline the aggregator knew and this read does not (see recompute.h).
 * has_wm/wm: the partition's newest time before this report. */
static bool baseline_unknown(const tally_recompute_t *rc, const part_t *p, bool has_wm, int64_t wm,
                             int64_t started_at)
{
    if (p->read_start_ms < 0)
        return true;
    int64_t skew = rc->o.skew_ms;
    if (started_at != INT64_MIN && started_at > p->read_start_ms + skew)
        return false;   /* started after the read began: nothing older exists */
    if (rc->o.reporter_idle_ms > 0 && has_wm && wm >= p->read_start_ms + skew + rc->o.reporter_idle_ms)
        return false;   /* any older report of it had expired: the aggregator counted it whole too */
    return true;
}

int tally_recompute_record(void *ctx, const tally_replay_record_t *rec)
{
    tally_recompute_t *rc = ctx;
    char why[256];
    avro_value_t *value;
    const tally_catalog_entry_t *writer = NULL;
    tally_usage_record_t ur;

    rc->stats.records++;
    part_t *p = part_get(rc, rec->partition);
    if (!p->has_records) {
        p->has_records = true;
        if (!p->declared)
            p->partial = rec->range ? rec->range->start > 0 : false;
        if (p->read_start_ms < 0)
            p->read_start_ms = rec->timestamp;
    }
    if (rec->value == NULL ||
        tally_decoder_decode(rc->dec, rec->value, rec->len, &value, &writer, why, sizeof why) != 0) {
        rc->stats.undecodable++;
        return 0;
    }
    if (tally_usage_record_read(writer->name, value, &ur, why, sizeof why) != 0) {
        rc->stats.unsupported++;
        return 0;
    }
    /* As the aggregator: the key must be the tenant, or it is not applied. */
    const char *tenant = ur.kind == TALLY_USAGE_RECORD_REPORT ? ur.report.tenant_id : ur.seat.tenant_id;
    size_t tlen = strlen(tenant);
    if (rec->key == NULL || rec->key_len != tlen || memcmp(rec->key, tenant, tlen) != 0) {
        rc->stats.wrong_key++;
        return 0;
    }
    size_t reporters_before = 0;
    bool had_wm = p->has_wm;
    int64_t wm_before = p->wm;
    if (ur.kind == TALLY_USAGE_RECORD_REPORT && p->partial) {
        tally_rollup_stats_t st;
        tally_rollup_stats(p->state, &st);
        reporters_before = st.reporters;
    }
    tally_rollup_outcome_t outcome = tally_usage_record_apply(p->state, &ur);
    switch (outcome) {
    case TALLY_ROLLUP_APPLIED: rc->stats.applied++; break;
    case TALLY_ROLLUP_DUPLICATE: rc->stats.duplicate++; break;
    case TALLY_ROLLUP_STALE: rc->stats.stale++; break;
    case TALLY_ROLLUP_TOO_LATE: rc->stats.too_late++; break;
    case TALLY_ROLLUP_INVALID: rc->stats.invalid++; break;
    }
    if (ur.kind == TALLY_USAGE_RECORD_REPORT && outcome == TALLY_ROLLUP_APPLIED) {
        if (p->partial) {
            tally_rollup_stats_t st;
            tally_rollup_stats(p->state, &st);
            if (st.reporters > reporters_before) {
                avro_value_t f;
                int64_t started_at = INT64_MIN;
                if (avro_value_get_by_name(value, "reporter_started_at", &f, NULL) != 0 ||
                    avro_value_get_long(&f, &started_at) != 0)
                    started_at = INT64_MIN;
                if (baseline_unknown(rc, p, had_wm, wm_before, started_at)) {
                    tally_replay_row_t key = {.table = TALLY_REPLAY_API, .tenant = ur.report.tenant_id,
                                              .environment = ur.report.environment_id,
                                              .day = (int32_t)tally_utc_day(ur.report.observed_at)};
                    tally_replay_rows_add(rc->uncertain, &key);
                    rc->stats.uncertain_reporters++;
                }
            }
        }
        if (!p->has_wm || ur.report.observed_at > p->wm) {
            p->wm = ur.report.observed_at;
            p->has_wm = true;
        }
    }
    track(rc, rec, &ur, outcome);
    return 0;
}

typedef struct collect_t {
    tally_recompute_t *rc;
    const part_t *part;
    const char *tenant;
    int32_t from_day, to_day;
    int32_t exact_from_day;     /* API days before: unverifiable in a partial partition */
    tally_replay_rows_t *out;
} collect_t;

static bool is_uncertain(tally_recompute_t *rc, const tally_replay_row_t *row)
{
    size_t lo = 0, hi = tally_replay_rows_count(rc->uncertain);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const tally_replay_row_t *u = tally_replay_rows_at(rc->uncertain, mid);
        int c = strcmp(u->tenant, row->tenant);
        if (c == 0)
            c = strcmp(u->environment, row->environment);
        if (c == 0)
            c = u->day < row->day ? -1 : (u->day > row->day ? 1 : 0);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static void add_provenance(tally_recompute_t *rc, tally_replay_row_t *row)
{
    if (rc->track_tenant == NULL || strcmp(row->tenant, rc->track_tenant) != 0)
        return;
    size_t n = tally_replay_rows_count(rc->tracked);
    for (size_t i = 0; i < n; i++) {
        const tally_replay_row_t *t = tally_replay_rows_at(rc->tracked, i);
        if (t->table == row->table && t->day == row->day && strcmp(t->environment, row->environment) == 0) {
            row->partition = t->partition;
            row->first_offset = t->first_offset;
            row->last_offset = t->last_offset;
            row->records = t->records;
            row->ignored = t->ignored;
            return;
        }
    }
}

static int collect_api(void *arg, const tally_api_rollup_t *r)
{
    collect_t *c = arg;
    if (r->day < c->from_day || r->day > c->to_day || (c->tenant && strcmp(r->tenant_id, c->tenant) != 0))
        return 0;
    tally_replay_row_t row = {.table = TALLY_REPLAY_API, .tenant = r->tenant_id, .environment = r->environment_id,
                              .day = r->day, .v = {r->api_calls, r->status_4xx, r->status_5xx, r->exec_ms},
                              .updated_at = r->updated_at, .partition = -1, .first_offset = -1, .last_offset = -1};
    if (c->part->partial && (r->day < c->exact_from_day || is_uncertain(c->rc, &row)))
        row.flags |= TALLY_REPLAY_UNVERIFIABLE;
    add_provenance(c->rc, &row);
    tally_replay_rows_add(c->out, &row);
    return 0;
}

static int collect_seat(void *arg, const tally_seat_rollup_t *r)
{
    collect_t *c = arg;
    if (r->day < c->from_day || r->day > c->to_day || (c->tenant && strcmp(r->tenant_id, c->tenant) != 0))
        return 0;
    tally_replay_row_t row = {.table = TALLY_REPLAY_SEAT, .tenant = r->tenant_id, .environment = "", .day = r->day,
                              .v = {r->seats_in_use, r->seats_peak}, .updated_at = r->updated_at, .partition = -1,
                              .first_offset = -1, .last_offset = -1};
    if (c->part->partial)
        row.flags |= TALLY_REPLAY_UNVERIFIABLE;
    add_provenance(c->rc, &row);
    tally_replay_rows_add(c->out, &row);
    return 0;
}

static int32_t exact_from(const tally_recompute_t *rc, const part_t *p)
{
    if (!p->partial || !p->has_records)
        return INT32_MIN;
    if (p->read_start_ms < 0)
        return INT32_MAX;   /* no time known at all: nothing can be vouched for */
    return (int32_t)ceil_div(p->read_start_ms + rc->o.warmup_ms, TALLY_MS_PER_DAY);
}

void tally_recompute_rows(tally_recompute_t *rc, const char *tenant, int32_t from_day, int32_t to_day, bool seats,
                          tally_replay_rows_t *out)
{
    tally_replay_rows_sort(rc->uncertain);
    for (size_t i = 0; i < rc->n_parts; i++) {
        part_t *p = &rc->parts[i];
        if (p->state == NULL)
            continue;
        collect_t c = {rc, p, tenant, from_day, to_day, exact_from(rc, p), out};
        (void)tally_rollup_each_api(p->state, collect_api, &c);
        if (seats)
            (void)tally_rollup_each_seat(p->state, collect_seat, &c);
    }
}

int32_t tally_recompute_first_exact_day(const tally_recompute_t *rc)
{
    int32_t d = INT32_MIN;
    for (size_t i = 0; i < rc->n_parts; i++) {
        int32_t e = exact_from(rc, &rc->parts[i]);
        if (e > d)
            d = e;
    }
    return d;
}

bool tally_recompute_partial(const tally_recompute_t *rc)
{
    for (size_t i = 0; i < rc->n_parts; i++)
        if (rc->parts[i].partial && rc->parts[i].has_records)
            return true;
    return false;
}

void tally_recompute_stats(const tally_recompute_t *rc, tally_recompute_stats_t *out)
{
    *out = rc->stats;
}
