/* Usage reports: the reporters and the API rollups they add to (the
 * semantics are in rollup.h). Both are changelog entries: a reporter is
 * found by the keyed hash of its changelog key, an API rollup by its
 * tenant's and environment's keyed hashes (their symbols') mixed with its
 * day, so applying a report hashes one key, not two. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollup_internal.h"

/* A key being looked up: strings borrowed from the caller. */
typedef struct {
    const char *tenant, *env, *name;
    size_t tenant_len, env_len, name_len;
    int32_t day;
} lookup_t;

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t s;
    return __builtin_add_overflow(a, b, &s) ? (b > 0 ? INT64_MAX : INT64_MIN) : s;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t s;
    return __builtin_sub_overflow(a, b, &s) ? (b < 0 ? INT64_MAX : INT64_MIN) : s;
}

/* ---- keys and entries --------------------------------------------------- */

static uint64_t reporter_hash(tally_rollup_t *r, const lookup_t *k)
{
    tally_changelog_buf_reset(&r->kbuf);
    tally_changelog_key_reporter(&r->kbuf, k->tenant, k->tenant_len, k->env, k->env_len, k->name,
                                 k->name_len);
    return tally_table_hash(r->hash_key, r->kbuf.data, r->kbuf.len);
}

/* tenant_hash and env_hash: tally_table_hash of the strings, as in their
 * symbols (rollup_sym_get). */
static uint64_t api_day_hash(uint64_t tenant_hash, uint64_t env_hash, int32_t day)
{
    return tally_table_mix(tally_table_mix(tenant_hash, env_hash), (uint64_t)(uint32_t)day);
}

static uint64_t key_hash(tally_rollup_t *r, tally_changelog_kind_t kind, const lookup_t *k)
{
    if (kind == TALLY_CHANGELOG_REPORTER)
        return reporter_hash(r, k);
    return api_day_hash(tally_table_hash(r->hash_key, k->tenant, k->tenant_len),
                        tally_table_hash(r->hash_key, k->env, k->env_len), k->day);
}

static bool sym_is(const rollup_sym_t *sym, const char *s, size_t len)
{
    return sym->len == len && memcmp(sym->str, s, len) == 0;
}

static bool reporter_eq(const void *entry, const void *key)
{
    const rollup_reporter_t *rp = entry;
    const lookup_t *k = key;
    return rp->id_len == k->name_len && memcmp(rp->id, k->name, k->name_len) == 0 &&
           sym_is(rp->tenant, k->tenant, k->tenant_len) && sym_is(rp->env, k->env, k->env_len);
}

static bool api_day_eq(const void *entry, const void *key)
{
    const rollup_api_day_t *d = entry;
    const lookup_t *k = key;
    return d->day == k->day && sym_is(d->tenant, k->tenant, k->tenant_len) &&
           sym_is(d->env, k->env, k->env_len);
}

static rollup_reporter_t *reporter_new(tally_rollup_t *r, const lookup_t *k, uint64_t h)
{
    if (k->name_len > UINT32_MAX) {
        fputs("rollup: reporter id longer than 4 GiB\n", stderr);
        abort();
    }
    rollup_reporter_t *rp = rollup_xcalloc(1, sizeof *rp + k->name_len + 1);
    rp->node.hash = h;
    rp->node.kind = TALLY_CHANGELOG_REPORTER;
    rp->tenant = rollup_sym_get(r, k->tenant, k->tenant_len);
    rp->env = rollup_sym_get(r, k->env, k->env_len);
    rp->id_len = (uint32_t)k->name_len;
    memcpy(rp->id, k->name, k->name_len);
    tally_table_insert(&r->reporters, h, rp);
    r->n_reporters++;
    return rp;
}

static rollup_api_day_t *api_day_new(tally_rollup_t *r, const lookup_t *k, uint64_t h)
{
    rollup_api_day_t *d = rollup_xcalloc(1, sizeof *d);
    d->node.hash = h;
    d->node.kind = TALLY_CHANGELOG_API_DAY;
    d->tenant = rollup_sym_get(r, k->tenant, k->tenant_len);
    d->env = rollup_sym_get(r, k->env, k->env_len);
    d->day = k->day;
    d->updated_at = INT64_MIN;
    tally_table_insert(&r->api_days, h, d);
    r->n_api_days++;
    return d;
}

void rollup_usage_free_node(tally_rollup_t *r, rollup_node_t *n)
{
    if (n->kind == TALLY_CHANGELOG_REPORTER) {
        rollup_reporter_t *rp = (rollup_reporter_t *)n;
        tally_table_remove(&r->reporters, n->hash, n);
        rollup_sym_unref(r, rp->tenant);
        rollup_sym_unref(r, rp->env);
    } else {
        rollup_api_day_t *d = (rollup_api_day_t *)n;
        tally_table_remove(&r->api_days, n->hash, n);
        rollup_sym_unref(r, d->tenant);
        rollup_sym_unref(r, d->env);
    }
    free(n);
}

void rollup_usage_free_all(tally_rollup_t *r)
{
    /* The symbols go with the state: no need to unreference them. */
    for (size_t i = 0; i < tally_table_capacity(&r->reporters); i++)
        free(tally_table_at(&r->reporters, i));
    for (size_t i = 0; i < tally_table_capacity(&r->api_days); i++)
        free(tally_table_at(&r->api_days, i));
}

static void mark_api_out(tally_rollup_t *r, rollup_api_day_t *d)
{
    if (d->node.flags & NODE_OUT_DIRTY)
        return;
    d->node.flags |= NODE_OUT_DIRTY;
    d->out_next = NULL;
    *r->api_out_tail = d;
    r->api_out_tail = &d->out_next;
    r->n_api_out++;
}

/* ---- applying a report -------------------------------------------------- */

static bool api_day_closed(const tally_rollup_t *r, int32_t day)
{
    return (r->has_wm && day < rollup_day(r->wm) - (r->open_days - 1)) ||
           (r->has_api_closed && day <= r->api_closed_through);
}

static bool reporter_expired(const tally_rollup_t *r, const rollup_reporter_t *rp)
{
    return r->idle_ms > 0 && r->has_wm && rp->last_observed_at < r->wm - r->idle_ms;
}

tally_rollup_outcome_t tally_rollup_apply_usage(tally_rollup_t *r,
                                                const tally_rollup_report_t *rep)
{
    rollup_check_applying(r);
    if (rep->tenant_id == NULL || rep->environment_id == NULL || rep->reporter_id == NULL ||
        !*rep->tenant_id || !*rep->environment_id || !*rep->reporter_id ||
        !rollup_valid_time(rep->observed_at)) {
        r->stats.invalid++;
        return TALLY_ROLLUP_INVALID;
    }
    lookup_t k = {.tenant = rep->tenant_id, .tenant_len = strlen(rep->tenant_id),
                  .env = rep->environment_id, .env_len = strlen(rep->environment_id),
                  .name = rep->reporter_id, .name_len = strlen(rep->reporter_id),
                  .day = rollup_day(rep->observed_at)};

    if (api_day_closed(r, k.day)) {
        r->stats.reports_too_late++;
        return TALLY_ROLLUP_TOO_LATE;
    }

    uint64_t h = reporter_hash(r, &k);
    rollup_reporter_t *rp = tally_table_find(&r->reporters, h, reporter_eq, &k);
    bool fresh = true;
    if (rp == NULL) {
        rp = reporter_new(r, &k, h);
    } else if (rp->node.flags & NODE_DEAD) {
        rp->node.flags &= (uint8_t)~NODE_DEAD; /* removed this batch, back again */
        r->n_reporters++;
    } else if (reporter_expired(r, rp)) {
        r->stats.reporters_revived++;
    } else if (rep->seq == rp->seq) {
        r->stats.reports_duplicate++;
        return TALLY_ROLLUP_DUPLICATE;
    } else if (rep->seq < rp->seq) {
        r->stats.reports_stale++;
        return TALLY_ROLLUP_STALE;
    } else {
        fresh = false;
    }

    const int64_t now[4] = {rep->api_calls, rep->status_4xx, rep->status_5xx, rep->exec_ms};
    int64_t delta[4];
    bool decreased = false, added = false;
    for (int i = 0; i < 4; i++) {
        int64_t mark = fresh ? 0 : rp->mark[i];
        delta[i] = now[i] > mark ? sat_sub(now[i], mark) : 0;
        decreased |= now[i] < mark;
        added |= delta[i] != 0;
        rp->mark[i] = now[i] > mark ? now[i] : mark;
    }
    if (decreased && !fresh)
        r->stats.counter_decreases++;
    rp->seq = rep->seq;
    if (fresh || rep->observed_at > rp->last_observed_at)
        rp->last_observed_at = rep->observed_at;
    rollup_mark_entry(r, &rp->node);
    if (!r->has_wm || rep->observed_at > r->wm) {
        r->wm = rep->observed_at;
        r->has_wm = true;
    }

    k = (lookup_t){.tenant = rp->tenant->str, .tenant_len = rp->tenant->len,
                   .env = rp->env->str, .env_len = rp->env->len, .day = k.day};
    h = api_day_hash(rp->tenant->hash, rp->env->hash, k.day);
    rollup_api_day_t *d = tally_table_find(&r->api_days, h, api_day_eq, &k);
    if (d != NULL && (d->node.flags & NODE_DEAD)) {
        fputs("rollup: a removed API rollup was reopened\n", stderr); /* closed stays closed */
        abort();
    }
    bool created = d == NULL;
    if (created)
        d = api_day_new(r, &k, h);
    for (int i = 0; i < 4; i++)
        d->sums[i] = sat_add(d->sums[i], delta[i]);
    bool newer = rep->observed_at > d->updated_at;
    if (newer)
        d->updated_at = rep->observed_at;
    if (created || added || newer) {
        rollup_mark_entry(r, &d->node);
        mark_api_out(r, d);
    }
    r->stats.reports_applied++;
    return TALLY_ROLLUP_APPLIED;
}

/* ---- views, changelog, expiry ------------------------------------------- */

void rollup_usage_view(const tally_rollup_t *r, const rollup_api_day_t *d, tally_api_rollup_t *out)
{
    out->tenant_id = d->tenant->str;
    out->environment_id = d->env->str;
    out->day = d->day;
    out->api_calls = d->sums[0];
    out->status_4xx = d->sums[1];
    out->status_5xx = d->sums[2];
    out->exec_ms = d->sums[3];
    out->updated_at = d->updated_at;
    out->closed = api_day_closed(r, d->day);
}

void rollup_usage_encode(tally_rollup_t *r, const rollup_node_t *n)
{
    if (n->kind == TALLY_CHANGELOG_REPORTER) {
        const rollup_reporter_t *rp = (const rollup_reporter_t *)n;
        tally_changelog_key_reporter(&r->kbuf, rp->tenant->str, rp->tenant->len, rp->env->str,
                                     rp->env->len, rp->id, rp->id_len);
        tally_changelog_value_reporter(&r->vbuf, rp->seq, rp->mark, rp->last_observed_at);
    } else {
        const rollup_api_day_t *d = (const rollup_api_day_t *)n;
        tally_changelog_key_api_day(&r->kbuf, d->tenant->str, d->tenant->len, d->env->str,
                                    d->env->len, d->day);
        tally_changelog_value_api_day(&r->vbuf, d->sums, d->updated_at);
    }
}

size_t rollup_usage_expire(tally_rollup_t *r, size_t budget)
{
    size_t removed = 0, start, n, cap;

    cap = tally_table_capacity(&r->reporters);
    n = rollup_sweep_range(&r->reporters, &r->sweep[0], budget, &start);
    for (size_t i = 0; i < n; i++) {
        rollup_reporter_t *rp = tally_table_at(&r->reporters, (start + i) % cap);
        if (rp && !(rp->node.flags & NODE_DEAD) && reporter_expired(r, rp)) {
            rp->node.flags |= NODE_DEAD;
            rollup_mark_entry(r, &rp->node);
            r->n_reporters--;
            removed++;
        }
    }

    cap = tally_table_capacity(&r->api_days);
    n = rollup_sweep_range(&r->api_days, &r->sweep[1], budget, &start);
    for (size_t i = 0; i < n; i++) {
        rollup_api_day_t *d = tally_table_at(&r->api_days, (start + i) % cap);
        if (d && !(d->node.flags & NODE_DEAD) && api_day_closed(r, d->day)) {
            d->node.flags |= NODE_DEAD;
            rollup_mark_entry(r, &d->node);
            /* Remember how far days were removed, in case open_days grows:
             * a removed day must not come back empty. */
            if (!r->has_api_closed || d->day > r->api_closed_through) {
                r->has_api_closed = true;
                r->api_closed_through = d->day;
                r->meta_dirty = true;
            }
            r->n_api_days--;
            removed++;
        }
    }
    return removed;
}

/* ---- restore and queries ------------------------------------------------ */

int rollup_usage_restore(tally_rollup_t *r, const tally_changelog_entry_t *e, char *errbuf,
                         size_t errsize)
{
    lookup_t k = {.tenant = e->tenant, .tenant_len = e->tenant_len, .env = e->environment,
                  .env_len = e->environment_len, .name = e->name, .name_len = e->name_len,
                  .day = e->day};

    if (!e->tombstone && !rollup_valid_time(e->time) &&
        !(e->kind == TALLY_CHANGELOG_API_DAY && e->time == INT64_MIN)) {
        snprintf(errbuf, errsize, "changelog entry (kind %c): time out of range", (char)e->kind);
        return -1;
    }
    uint64_t h = key_hash(r, (tally_changelog_kind_t)e->kind, &k);
    if (e->kind == TALLY_CHANGELOG_REPORTER) {
        rollup_reporter_t *rp = tally_table_find(&r->reporters, h, reporter_eq, &k);
        if (e->tombstone) {
            if (rp) {
                rollup_usage_free_node(r, &rp->node);
                r->n_reporters--;
            }
            return 0;
        }
        if (rp == NULL)
            rp = reporter_new(r, &k, h);
        rp->seq = e->seq;
        memcpy(rp->mark, e->counters, sizeof rp->mark);
        rp->last_observed_at = e->time;
        return 0;
    }
    rollup_api_day_t *d = tally_table_find(&r->api_days, h, api_day_eq, &k);
    if (e->tombstone) {
        if (d) {
            rollup_usage_free_node(r, &d->node);
            r->n_api_days--;
        }
        return 0;
    }
    if (d == NULL)
        d = api_day_new(r, &k, h);
    memcpy(d->sums, e->counters, sizeof d->sums);
    d->updated_at = e->time;
    return 0;
}

void rollup_usage_restore_done(tally_rollup_t *r)
{
    /* The newest observed_at applied is its reporter's, and a reporter
     * that holds the newest time never expires: derived, not stored. */
    for (size_t i = 0; i < tally_table_capacity(&r->reporters); i++) {
        rollup_reporter_t *rp = tally_table_at(&r->reporters, i);
        if (rp && (!r->has_wm || rp->last_observed_at > r->wm)) {
            r->wm = rp->last_observed_at;
            r->has_wm = true;
        }
    }
}

bool tally_rollup_get_api(tally_rollup_t *r, const char *tenant_id, const char *environment_id,
                          int32_t day, tally_api_rollup_t *out)
{
    lookup_t k = {.tenant = tenant_id, .tenant_len = strlen(tenant_id), .env = environment_id,
                  .env_len = strlen(environment_id), .day = day};
    uint64_t h = key_hash(r, TALLY_CHANGELOG_API_DAY, &k);
    rollup_api_day_t *d = tally_table_find(&r->api_days, h, api_day_eq, &k);

    if (d == NULL || (d->node.flags & NODE_DEAD))
        return false;
    rollup_usage_view(r, d, out);
    return true;
}
