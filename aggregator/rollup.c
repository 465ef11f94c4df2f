/* The rollup state object: lifecycle, interned strings, change tracking,
 * and what dispatches to usage (rollup_usage.c) and seats
 * (rollup_seats.c): changelog encoding, expiry, restore, queries. */
#include "rollup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollup_internal.h"
#include "timeutil.h"

void *rollup_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "rollup: out of memory (%zu x %zu bytes)\n", n, size);
        abort();
    }
    return p;
}

bool rollup_valid_time(int64_t ms)
{
    return ms >= TALLY_TIME_MIN_MS && ms <= TALLY_TIME_MAX_MS;
}

int32_t rollup_day(int64_t ms)
{
    return (int32_t)tally_utc_day(ms); /* years 0-9999 fit in int32 */
}

void rollup_check_applying(tally_rollup_t *r)
{
    if (r->restoring) {
        fputs("rollup: a record applied before tally_rollup_restore_done\n", stderr);
        abort();
    }
    r->in_use = true;
}

/* ---- lifecycle ---------------------------------------------------------- */

tally_rollup_t *tally_rollup_new(const tally_rollup_config_t *config, char *errbuf, size_t errsize)
{
    int32_t open_days = config->open_days ? config->open_days : TALLY_ROLLUP_DEFAULT_OPEN_DAYS;

    if (open_days < 1 || open_days > TALLY_ROLLUP_MAX_OPEN_DAYS) {
        snprintf(errbuf, errsize, "rollup: open days must be 1 to %d", TALLY_ROLLUP_MAX_OPEN_DAYS);
        return NULL;
    }
    if (config->reporter_idle_ms < 0 || config->reporter_idle_ms > TALLY_ROLLUP_MAX_IDLE_MS) {
        snprintf(errbuf, errsize, "rollup: reporter idle time must be 0 to %" PRId64 " ms",
                 TALLY_ROLLUP_MAX_IDLE_MS);
        return NULL;
    }
    if (config->size_hint > ((size_t)1 << 32)) {
        snprintf(errbuf, errsize, "rollup: size hint must be at most 2^32");
        return NULL;
    }

    tally_rollup_t *r = rollup_xcalloc(1, sizeof *r);
    r->open_days = open_days;
    r->idle_ms = config->reporter_idle_ms;
    memcpy(r->hash_key, config->hash_key, sizeof r->hash_key);
    tally_table_init(&r->syms, config->size_hint / 64);
    tally_table_init(&r->reporters, config->size_hint);
    tally_table_init(&r->api_days, config->size_hint);
    tally_table_init(&r->seats, config->size_hint);
    r->cl_tail = &r->cl_head;
    r->api_out_tail = &r->api_out_head;
    r->seat_out_tail = &r->seat_out_head;
    return r;
}

void tally_rollup_free(tally_rollup_t *r)
{
    if (r == NULL)
        return;
    rollup_usage_free_all(r);
    rollup_seats_free_all(r);
    for (size_t i = 0; i < tally_table_capacity(&r->syms); i++)
        free(tally_table_at(&r->syms, i));
    tally_table_destroy(&r->syms);
    tally_table_destroy(&r->reporters);
    tally_table_destroy(&r->api_days);
    tally_table_destroy(&r->seats);
    tally_changelog_buf_free(&r->kbuf);
    tally_changelog_buf_free(&r->vbuf);
    free(r);
}

/* ---- interned strings --------------------------------------------------- */

typedef struct {
    const char *s;
    size_t len;
} str_key_t;

static bool sym_eq(const void *entry, const void *key)
{
    const rollup_sym_t *sym = entry;
    const str_key_t *k = key;
    return sym->len == k->len && memcmp(sym->str, k->s, k->len) == 0;
}

rollup_sym_t *rollup_sym_find(tally_rollup_t *r, const char *s, size_t len)
{
    str_key_t k = {s, len};
    return tally_table_find(&r->syms, tally_table_hash(r->hash_key, s, len), sym_eq, &k);
}

rollup_sym_t *rollup_sym_get(tally_rollup_t *r, const char *s, size_t len)
{
    uint64_t h = tally_table_hash(r->hash_key, s, len);
    str_key_t k = {s, len};
    rollup_sym_t *sym = tally_table_find(&r->syms, h, sym_eq, &k);

    if (sym == NULL) {
        if (len > UINT32_MAX) {
            fputs("rollup: id longer than 4 GiB\n", stderr);
            abort();
        }
        sym = rollup_xcalloc(1, sizeof *sym + len + 1);
        sym->hash = h;
        sym->len = (uint32_t)len;
        memcpy(sym->str, s, len);
        tally_table_insert(&r->syms, h, sym);
    }
    sym->refs++;
    return sym;
}

void rollup_sym_unref(tally_rollup_t *r, rollup_sym_t *sym)
{
    if (--sym->refs > 0)
        return;
    tally_table_remove(&r->syms, sym->hash, sym);
    free(sym);
}

/* ---- change tracking ---------------------------------------------------- */

void rollup_mark_entry(tally_rollup_t *r, rollup_node_t *n)
{
    if (n->flags & NODE_CL_DIRTY)
        return;
    n->flags |= NODE_CL_DIRTY;
    n->cl_next = NULL;
    *r->cl_tail = n;
    r->cl_tail = &n->cl_next;
    r->n_cl++;
}

int tally_rollup_each_changed_api(tally_rollup_t *r, tally_api_rollup_fn fn, void *ctx)
{
    for (rollup_api_day_t *d = r->api_out_head; d; d = d->out_next) {
        tally_api_rollup_t v;
        rollup_usage_view(r, d, &v);
        int rc = fn(ctx, &v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int tally_rollup_each_changed_seat(tally_rollup_t *r, tally_seat_rollup_fn fn, void *ctx)
{
    for (rollup_seat_day_t *d = r->seat_out_head; d; d = d->out_next) {
        tally_seat_rollup_t v;
        rollup_seats_view(d, &v);
        int rc = fn(ctx, &v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Encodes node's key into r->kbuf and its value into r->vbuf; a dead
 * node is a tombstone. */
static void encode_node(tally_rollup_t *r, const rollup_node_t *n, tally_changelog_record_t *rec)
{
    tally_changelog_buf_reset(&r->kbuf);
    tally_changelog_buf_reset(&r->vbuf);
    if (n->kind == TALLY_CHANGELOG_SEAT) {
        rollup_seats_encode_key(r, (const rollup_seat_t *)n);
        rollup_seats_encode_value(r, (const rollup_seat_t *)n);
    } else {
        rollup_usage_encode(r, n);
    }
    bool dead = (n->flags & NODE_DEAD) != 0;
    *rec = (tally_changelog_record_t){r->kbuf.data, r->kbuf.len, dead ? NULL : r->vbuf.data,
                                      dead ? 0 : r->vbuf.len};
}

static void encode_meta(tally_rollup_t *r, tally_changelog_record_t *rec)
{
    tally_changelog_buf_reset(&r->kbuf);
    tally_changelog_buf_reset(&r->vbuf);
    tally_changelog_key_meta(&r->kbuf);
    tally_changelog_value_meta(&r->vbuf, r->has_api_closed, r->api_closed_through);
    *rec = (tally_changelog_record_t){r->kbuf.data, r->kbuf.len, r->vbuf.data, r->vbuf.len};
}

int tally_rollup_each_changed_entry(tally_rollup_t *r, tally_changelog_fn fn, void *ctx)
{
    tally_changelog_record_t rec;
    int rc;

    if (r->meta_dirty) {
        encode_meta(r, &rec);
        if ((rc = fn(ctx, &rec)) != 0)
            return rc;
    }
    for (rollup_node_t *n = r->cl_head; n; n = n->cl_next) {
        encode_node(r, n, &rec);
        if ((rc = fn(ctx, &rec)) != 0)
            return rc;
    }
    return 0;
}

void tally_rollup_clear_changes(tally_rollup_t *r)
{
    for (rollup_api_day_t *d = r->api_out_head; d; d = d->out_next)
        d->node.flags &= (uint8_t)~NODE_OUT_DIRTY;
    r->api_out_head = NULL;
    r->api_out_tail = &r->api_out_head;
    r->n_api_out = 0;

    for (rollup_seat_day_t *d = r->seat_out_head, *next; d; d = next) {
        next = d->out_next;
        d->flags &= (uint8_t)~NODE_OUT_DIRTY;
        if (d->flags & NODE_DEAD)
            rollup_seats_free_day(r, d);
    }
    r->seat_out_head = NULL;
    r->seat_out_tail = &r->seat_out_head;
    r->n_seat_out = 0;

    /* Removed entries were kept for their tombstones; now they go. */
    for (rollup_node_t *n = r->cl_head, *next; n; n = next) {
        next = n->cl_next;
        n->flags &= (uint8_t)~NODE_CL_DIRTY;
        if (!(n->flags & NODE_DEAD))
            continue;
        if (n->kind == TALLY_CHANGELOG_SEAT) {
            tally_table_remove(&r->seats, n->hash, n);
            rollup_seats_free_seat(r, (rollup_seat_t *)n);
        } else {
            rollup_usage_free_node(r, n);
        }
    }
    r->cl_head = NULL;
    r->cl_tail = &r->cl_head;
    r->n_cl = 0;
    r->meta_dirty = false;
}

/* ---- expiry ------------------------------------------------------------- */

size_t rollup_sweep_range(const tally_table_t *t, size_t *cursor, size_t budget, size_t *start)
{
    size_t cap = tally_table_capacity(t);
    size_t n = budget == 0 || budget > cap ? cap : budget;
    *start = *cursor % cap;
    *cursor = (*start + n) % cap;
    return n;
}

size_t tally_rollup_expire(tally_rollup_t *r, size_t budget)
{
    size_t removed = rollup_usage_expire(r, budget), start;
    size_t cap = tally_table_capacity(&r->syms);
    size_t n = rollup_sweep_range(&r->syms, &r->sweep[2], budget, &start);

    for (size_t i = 0; i < n; i++) {
        rollup_sym_t *sym = tally_table_at(&r->syms, (start + i) % cap);
        if (sym && sym->seats)
            removed += rollup_seats_expire(r, sym->seats); /* may free sym */
    }
    return removed;
}

/* ---- restore ------------------------------------------------------------ */

int tally_rollup_restore(tally_rollup_t *r, const tally_changelog_record_t *record, char *errbuf,
                         size_t errsize)
{
    tally_changelog_entry_t e;

    if (r->in_use) {
        snprintf(errbuf, errsize, "rollup: restore into a state already in use");
        return -1;
    }
    r->restoring = true;
    if (tally_changelog_decode(record->key, record->key_len, record->value, record->value_len, &e,
                               errbuf, errsize) != 0)
        return -1;
    switch (e.kind) {
    case TALLY_CHANGELOG_REPORTER:
    case TALLY_CHANGELOG_API_DAY:
        return rollup_usage_restore(r, &e, errbuf, errsize);
    case TALLY_CHANGELOG_SEAT:
        return rollup_seats_restore(r, &e, errbuf, errsize);
    case TALLY_CHANGELOG_META:
        r->has_api_closed = !e.tombstone && e.has_closed_through;
        r->api_closed_through = e.api_closed_through;
        return 0;
    case TALLY_CHANGELOG_POSITION:
        /* The aggregator's restore reads it (restore.h); here it is misplaced. */
        snprintf(errbuf, errsize, "changelog: an input position is not part of the rollup state");
        return -1;
    }
    snprintf(errbuf, errsize, "changelog: unknown kind");
    return -1;
}

void tally_rollup_restore_done(tally_rollup_t *r)
{
    rollup_usage_restore_done(r);
    rollup_seats_restore_done(r);
    r->restoring = false;
    r->in_use = true;
}

/* ---- queries ------------------------------------------------------------ */

tally_rollup_outcome_t tally_rollup_apply_seat(tally_rollup_t *r,
                                               const tally_rollup_seat_event_t *event)
{
    rollup_check_applying(r);
    return rollup_seats_apply(r, event);
}

int tally_rollup_each_api(tally_rollup_t *r, tally_api_rollup_fn fn, void *ctx)
{
    for (size_t i = 0; i < tally_table_capacity(&r->api_days); i++) {
        rollup_api_day_t *d = tally_table_at(&r->api_days, i);
        if (d == NULL || (d->node.flags & NODE_DEAD))
            continue;
        tally_api_rollup_t v;
        rollup_usage_view(r, d, &v);
        int rc = fn(ctx, &v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int tally_rollup_each_seat(tally_rollup_t *r, tally_seat_rollup_fn fn, void *ctx)
{
    for (size_t i = 0; i < tally_table_capacity(&r->syms); i++) {
        rollup_sym_t *sym = tally_table_at(&r->syms, i);
        if (sym == NULL || sym->seats == NULL)
            continue;
        for (rollup_seat_day_t *d = sym->seats->first_day; d; d = d->next) {
            tally_seat_rollup_t v;
            rollup_seats_view(d, &v);
            int rc = fn(ctx, &v);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static int snapshot_table(tally_rollup_t *r, const tally_table_t *t, tally_changelog_fn fn,
                          void *ctx)
{
    for (size_t i = 0; i < tally_table_capacity(t); i++) {
        rollup_node_t *n = tally_table_at(t, i);
        if (n == NULL || (n->flags & NODE_DEAD))
            continue;
        tally_changelog_record_t rec;
        encode_node(r, n, &rec);
        int rc = fn(ctx, &rec);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int tally_rollup_snapshot(tally_rollup_t *r, tally_changelog_fn fn, void *ctx)
{
    int rc;
    if (r->has_api_closed) {
        tally_changelog_record_t rec;
        encode_meta(r, &rec);
        if ((rc = fn(ctx, &rec)) != 0)
            return rc;
    }
    if ((rc = snapshot_table(r, &r->reporters, fn, ctx)) != 0)
        return rc;
    if ((rc = snapshot_table(r, &r->api_days, fn, ctx)) != 0)
        return rc;
    return snapshot_table(r, &r->seats, fn, ctx);
}

bool tally_rollup_get_seat(tally_rollup_t *r, const char *tenant_id, int32_t day,
                           tally_seat_rollup_t *out)
{
    rollup_tenant_t *t = rollup_seats_tenant(r, tenant_id);

    for (rollup_seat_day_t *d = t ? t->last_day : NULL; d && d->day >= day; d = d->prev) {
        if (d->day == day) {
            rollup_seats_view(d, out);
            return true;
        }
    }
    return false;
}

int64_t tally_rollup_seats_in_use(tally_rollup_t *r, const char *tenant_id)
{
    rollup_tenant_t *t = rollup_seats_tenant(r, tenant_id);

    if (t == NULL)
        return 0;
    return t->last_day ? t->last_day->in_use : t->base_count;
}

bool tally_rollup_seat_assigned(tally_rollup_t *r, const char *tenant_id, const char *seat_ref)
{
    return rollup_seats_assigned(r, tenant_id, seat_ref);
}

void tally_rollup_stats(const tally_rollup_t *r, tally_rollup_stats_t *out)
{
    *out = r->stats;
    out->reporters = r->n_reporters;
    out->api_rollups = r->n_api_days;
    out->seats = r->n_seats;
    out->seat_events = r->n_events;
    out->seat_rollups = r->n_seat_days;
    out->tenants = r->n_tenants;
    out->changed_api = r->n_api_out;
    out->changed_seats = r->n_seat_out;
    out->changed_entries = r->n_cl + (r->meta_dirty ? 1 : 0);
}

const char *tally_rollup_outcome_name(tally_rollup_outcome_t outcome)
{
    switch (outcome) {
    case TALLY_ROLLUP_APPLIED:
        return "applied";
    case TALLY_ROLLUP_DUPLICATE:
        return "duplicate";
    case TALLY_ROLLUP_STALE:
        return "stale";
    case TALLY_ROLLUP_TOO_LATE:
        return "too_late";
    case TALLY_ROLLUP_INVALID:
        return "invalid";
    }
    return "unknown";
}
