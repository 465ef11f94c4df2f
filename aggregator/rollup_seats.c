/* Seat history of each tenant and the daily seat rollups derived from it
 * (the semantics are in rollup.h). A tenant's open history is kept twice
 * over the same event nodes: per seat (to find an event's neighbours of
 * the same seat) and per day (to recompute a day), both in event order. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexdigit.h"
#include "rollup_internal.h"

#define ASSIGNED TALLY_SEAT_ASSIGNED
#define RELEASED TALLY_SEAT_RELEASED

typedef struct {
    const char *tenant, *ref;
    size_t tenant_len, ref_len;
} seat_key_t;

/* ---- small helpers ------------------------------------------------------ */

static int ev_cmp(const tally_changelog_seat_event_t *a, const tally_changelog_seat_event_t *b)
{
    if (a->at != b->at)
        return a->at < b->at ? -1 : 1;
    int c = memcmp(a->id, b->id, TALLY_CHANGELOG_EVENT_ID_LEN);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return (a->op > b->op) - (a->op < b->op);
}

/* The 16 bytes of a UUID in its 8-4-4-4-12 text form (either case), or,
 * for any other text, its 128-bit BLAKE2b digest. */
static void event_id_digest(const char *id, unsigned char out[TALLY_CHANGELOG_EVENT_ID_LEN])
{
    size_t len = strlen(id);

    if (len == 36 && id[8] == '-' && id[13] == '-' && id[18] == '-' && id[23] == '-') {
        size_t o = 0;
        for (size_t i = 0; i < 36 && o <= TALLY_CHANGELOG_EVENT_ID_LEN; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                continue;
            int hi = tally_hex_digit(id[i]), lo = i + 1 < 36 ? tally_hex_digit(id[i + 1]) : -1;
            if (hi < 0 || lo < 0)
                goto digest;
            out[o++] = (unsigned char)(hi << 4 | lo);
            i++;
        }
        if (o == TALLY_CHANGELOG_EVENT_ID_LEN)
            return;
    }
digest:
    crypto_generichash(out, TALLY_CHANGELOG_EVENT_ID_LEN, (const unsigned char *)id, len, NULL, 0);
}

static uint64_t seat_hash(tally_rollup_t *r, const seat_key_t *k)
{
    tally_changelog_buf_reset(&r->kbuf);
    tally_changelog_key_seat(&r->kbuf, k->tenant, k->tenant_len, k->ref, k->ref_len);
    return tally_table_hash(r->hash_key, r->kbuf.data, r->kbuf.len);
}

static bool seat_eq(const void *entry, const void *key)
{
    const rollup_seat_t *s = entry;
    const seat_key_t *k = key;
    const rollup_sym_t *t = s->tenant->sym;
    return s->ref_len == k->ref_len && memcmp(s->ref, k->ref, k->ref_len) == 0 &&
           t->len == k->tenant_len && memcmp(t->str, k->tenant, k->tenant_len) == 0;
}

static rollup_seat_t *seat_find(tally_rollup_t *r, const seat_key_t *k, uint64_t *hash)
{
    *hash = seat_hash(r, k);
    return tally_table_find(&r->seats, *hash, seat_eq, k);
}

/* ---- allocation --------------------------------------------------------- */

static rollup_event_t *event_alloc(tally_rollup_t *r)
{
    if (r->free_events == NULL) {
        rollup_event_chunk_t *c = rollup_xcalloc(1, sizeof *c);
        size_t n = sizeof c->events / sizeof c->events[0];
        c->next = r->chunks;
        r->chunks = c;
        for (size_t i = 0; i < n; i++) {
            c->events[i].seat_next = r->free_events;
            r->free_events = &c->events[i];
        }
    }
    rollup_event_t *e = r->free_events;
    r->free_events = e->seat_next;
    memset(e, 0, sizeof *e);
    r->n_events++;
    return e;
}

static void event_free(tally_rollup_t *r, rollup_event_t *e)
{
    e->seat_next = r->free_events;
    r->free_events = e;
    r->n_events--;
}

static rollup_tenant_t *tenant_get(tally_rollup_t *r, const char *tenant, size_t len)
{
    rollup_sym_t *sym = rollup_sym_find(r, tenant, len);
    if (sym != NULL && sym->seats != NULL)
        return sym->seats;
    rollup_tenant_t *t = rollup_xcalloc(1, sizeof *t);
    t->sym = rollup_sym_get(r, tenant, len);
    t->sym->seats = t;
    r->n_tenants++;
    return t;
}

/* Drops one reference to t; frees it with the last. Returns true if freed. */
static bool tenant_unref(tally_rollup_t *r, rollup_tenant_t *t)
{
    if (--t->refs > 0)
        return false;
    t->sym->seats = NULL;
    rollup_sym_unref(r, t->sym);
    free(t);
    r->n_tenants--;
    return true;
}

static rollup_seat_t *seat_new(tally_rollup_t *r, rollup_tenant_t *t, const seat_key_t *k,
                               uint64_t hash)
{
    if (k->ref_len > UINT32_MAX) {
        fputs("rollup: seat ref longer than 4 GiB\n", stderr);
        abort();
    }
    rollup_seat_t *s = rollup_xcalloc(1, sizeof *s + k->ref_len + 1);
    s->node.hash = hash;
    s->node.kind = TALLY_CHANGELOG_SEAT;
    s->tenant = t;
    t->refs++;
    s->ref_len = (uint32_t)k->ref_len;
    memcpy(s->ref, k->ref, k->ref_len);
    tally_table_insert(&r->seats, hash, s);
    r->n_seats++;
    return s;
}

void rollup_seats_free_seat(tally_rollup_t *r, rollup_seat_t *s)
{
    /* Only seats outside any day list get here: dead ones have no events,
     * and restore builds the day lists after the last replacement. */
    for (rollup_event_t *e = s->first, *next; e; e = next) {
        next = e->seat_next;
        event_free(r, e);
    }
    rollup_tenant_t *t = s->tenant;
    free(s);
    tenant_unref(r, t);
}

static rollup_seat_day_t *day_new(tally_rollup_t *r, rollup_tenant_t *t, int32_t day)
{
    rollup_seat_day_t *d = rollup_xcalloc(1, sizeof *d);
    d->tenant = t;
    d->day = day;
    d->updated_at = INT64_MIN;
    t->refs++;
    r->n_seat_days++;
    return d;
}

void rollup_seats_free_day(tally_rollup_t *r, rollup_seat_day_t *d)
{
    rollup_tenant_t *t = d->tenant;
    free(d);
    tenant_unref(r, t);
}

/* Links d into t's day list after `after` (NULL: first). */
static void day_link(rollup_tenant_t *t, rollup_seat_day_t *after, rollup_seat_day_t *d)
{
    d->prev = after;
    d->next = after ? after->next : t->first_day;
    if (d->next)
        d->next->prev = d;
    else
        t->last_day = d;
    if (after)
        after->next = d;
    else
        t->first_day = d;
}

/* ---- seat rollups ------------------------------------------------------- */

static void mark_out(tally_rollup_t *r, rollup_seat_day_t *d)
{
    if (d->flags & NODE_OUT_DIRTY)
        return;
    d->flags |= NODE_OUT_DIRTY;
    d->out_next = NULL;
    *r->seat_out_tail = d;
    r->seat_out_tail = &d->out_next;
    r->n_seat_out++;
}

/* +1, -1 or 0: what e does to the count of assigned seats. */
static int64_t effect(const rollup_event_t *e)
{
    const rollup_seat_t *s = e->seat;
    uint8_t before = e->seat_prev ? e->seat_prev->ev.op : s->has_base ? s->base.op : RELEASED;
    return (e->ev.op == ASSIGNED) - (before == ASSIGNED);
}

static int64_t day_start(const rollup_tenant_t *t, const rollup_seat_day_t *d)
{
    return d == t->first_open ? t->base_count : d->prev->in_use;
}

static void set_day(tally_rollup_t *r, rollup_seat_day_t *d, int64_t in_use, int64_t peak,
                    int64_t updated_at, bool track)
{
    if (d->in_use == in_use && d->peak == peak && d->updated_at == updated_at)
        return;
    d->in_use = in_use;
    d->peak = peak;
    d->updated_at = updated_at;
    if (track)
        mark_out(r, d);
}

static void recompute(tally_rollup_t *r, rollup_tenant_t *t, rollup_seat_day_t *d, bool track)
{
    int64_t c = day_start(t, d), peak = c;
    for (const rollup_event_t *e = d->first; e; e = e->day_next) {
        c += effect(e);
        if (c > peak)
            peak = c;
    }
    set_day(r, d, c, peak, d->last->ev.at, track);
}

static int32_t open_from(const tally_rollup_t *r, int64_t wm)
{
    return rollup_day(wm) - (r->open_days - 1);
}

/* Folds the days that t->wm has closed into the seats' bases. */
static void fold(tally_rollup_t *r, rollup_tenant_t *t)
{
    int32_t from = open_from(r, t->wm);

    while (t->first_open && t->first_open->day < from) {
        rollup_seat_day_t *d = t->first_open;
        for (rollup_event_t *e = d->first, *next; e; e = next) {
            next = e->day_next;
            rollup_seat_t *s = e->seat; /* e is s->first: days fold in order */
            s->has_base = true;
            s->base = e->ev;
            s->first = e->seat_next;
            if (s->first)
                s->first->seat_prev = NULL;
            else
                s->last = NULL;
            event_free(r, e);
            rollup_mark_entry(r, &s->node);
            if (s->first == NULL && s->base.op == RELEASED && !(s->node.flags & NODE_DEAD)) {
                s->node.flags |= NODE_DEAD; /* released long ago: forget it */
                r->n_seats--;
            }
        }
        d->first = d->last = NULL;
        d->flags |= NODE_FOLDED;
        t->base_count = d->in_use;
        t->has_folded = true;
        t->folded_through = d->day;
        t->first_open = d->next;
    }
}

/* ---- applying an event -------------------------------------------------- */

tally_rollup_outcome_t rollup_seats_apply(tally_rollup_t *r, const tally_rollup_seat_event_t *e)
{
    if (e->tenant_id == NULL || !*e->tenant_id || e->seat_ref == NULL || !*e->seat_ref ||
        e->event_id == NULL || (e->op != TALLY_SEAT_ASSIGNED && e->op != TALLY_SEAT_RELEASED) ||
        !rollup_valid_time(e->occurred_at)) {
        r->stats.invalid++;
        return TALLY_ROLLUP_INVALID;
    }
    tally_changelog_seat_event_t key = {.at = e->occurred_at, .op = (uint8_t)e->op};
    event_id_digest(e->event_id, key.id);
    int32_t day = rollup_day(key.at);
    seat_key_t sk = {.tenant = e->tenant_id, .tenant_len = strlen(e->tenant_id),
                     .ref = e->seat_ref, .ref_len = strlen(e->seat_ref)};

    rollup_sym_t *sym = rollup_sym_find(r, sk.tenant, sk.tenant_len);
    rollup_tenant_t *t = sym ? sym->seats : NULL;
    if (t && t->has_wm) {
        int64_t wm = key.at > t->wm ? key.at : t->wm;
        if (day < open_from(r, wm) || (t->has_folded && day <= t->folded_through)) {
            r->stats.seat_events_too_late++;
            return TALLY_ROLLUP_TOO_LATE;
        }
    }

    uint64_t hash;
    rollup_seat_t *s = seat_find(r, &sk, &hash);
    if (s && !(s->node.flags & NODE_DEAD) && key.at <= t->wm) {
        const rollup_event_t *p = s->last;
        while (p && ev_cmp(&p->ev, &key) > 0)
            p = p->seat_prev;
        if (p && ev_cmp(&p->ev, &key) == 0) {
            r->stats.seat_events_duplicate++;
            return TALLY_ROLLUP_DUPLICATE;
        }
        if (p == NULL && s->has_base && ev_cmp(&s->base, &key) >= 0) {
            r->stats.seat_events_too_late++; /* older than history it folded */
            return TALLY_ROLLUP_TOO_LATE;
        }
    }

    if (t == NULL)
        t = tenant_get(r, sk.tenant, sk.tenant_len);
    if (!t->has_wm || key.at > t->wm) {
        t->wm = key.at;
        t->has_wm = true;
        fold(r, t);
    }
    if (s == NULL) {
        s = seat_new(r, t, &sk, hash);
    } else if (s->node.flags & NODE_DEAD) {
        s->node.flags &= (uint8_t)~NODE_DEAD; /* forgotten, and back */
        s->has_base = false;
        r->n_seats++;
    }

    rollup_event_t *ev = event_alloc(r);
    ev->ev = key;
    ev->seat = s;
    rollup_event_t *p = s->last;
    while (p && ev_cmp(&p->ev, &key) > 0)
        p = p->seat_prev;
    ev->seat_prev = p;
    ev->seat_next = p ? p->seat_next : s->first;
    if (ev->seat_next)
        ev->seat_next->seat_prev = ev;
    else
        s->last = ev;
    if (p)
        p->seat_next = ev;
    else
        s->first = ev;

    rollup_seat_day_t *d = t->last_day;
    while (d && d->day > day)
        d = d->prev;
    bool new_day = d == NULL || d->day != day;
    if (new_day) {
        rollup_seat_day_t *nd = day_new(r, t, day);
        day_link(t, d, nd);
        if (t->first_open == NULL || day < t->first_open->day)
            t->first_open = nd;
        d = nd;
    }
    ev->day = d;
    rollup_event_t *q = d->last;
    while (q && ev_cmp(&q->ev, &key) > 0)
        q = q->day_prev;
    ev->day_prev = q;
    ev->day_next = q ? q->day_next : d->first;
    if (ev->day_next)
        ev->day_next->day_prev = ev;
    else
        d->last = ev;
    if (q)
        q->day_next = ev;
    else
        d->first = ev;

    /* The seat's state changes from its previous event's to this one's
     * over [ev, its next event): redo this day, shift whole days in
     * between, redo the day of the next event. */
    int64_t delta = effect(ev);
    if (!new_day && ev == d->last) {
        int64_t in_use = d->in_use + delta;
        set_day(r, d, in_use, in_use > d->peak ? in_use : d->peak, key.at, true);
    } else {
        recompute(r, t, d, true);
        if (new_day)
            mark_out(r, d);
    }
    const rollup_event_t *next = ev->seat_next;
    if (delta != 0 && (next == NULL || next->day != d)) {
        for (rollup_seat_day_t *d2 = d->next; d2; d2 = d2->next) {
            if (next && d2 == next->day) {
                recompute(r, t, d2, true);
                break;
            }
            set_day(r, d2, d2->in_use + delta, d2->peak + delta, d2->updated_at, true);
        }
    }
    rollup_mark_entry(r, &s->node);
    r->stats.seat_events_applied++;
    return TALLY_ROLLUP_APPLIED;
}

/* ---- views, changelog, expiry ------------------------------------------- */

void rollup_seats_view(const rollup_seat_day_t *d, tally_seat_rollup_t *out)
{
    out->tenant_id = d->tenant->sym->str;
    out->day = d->day;
    out->seats_in_use = d->in_use;
    out->seats_peak = d->peak;
    out->updated_at = d->updated_at;
    out->closed = (d->flags & NODE_FOLDED) != 0;
}

void rollup_seats_encode_key(tally_rollup_t *r, const rollup_seat_t *s)
{
    const rollup_sym_t *t = s->tenant->sym;
    tally_changelog_key_seat(&r->kbuf, t->str, t->len, s->ref, s->ref_len);
}

void rollup_seats_encode_value(tally_rollup_t *r, const rollup_seat_t *s)
{
    size_t n = 0;
    for (const rollup_event_t *e = s->first; e; e = e->seat_next)
        n++;
    tally_changelog_value_seat(&r->vbuf, s->has_base ? &s->base : NULL, n);
    for (const rollup_event_t *e = s->first; e; e = e->seat_next)
        tally_changelog_value_seat_event(&r->vbuf, &e->ev);
}

size_t rollup_seats_expire(tally_rollup_t *r, rollup_tenant_t *t)
{
    size_t removed = 0;

    while (t->first_day && (t->first_day->flags & NODE_FOLDED)) {
        rollup_seat_day_t *d = t->first_day;
        t->first_day = d->next;
        if (d->next)
            d->next->prev = NULL;
        else
            t->last_day = NULL;
        d->prev = d->next = NULL;
        r->n_seat_days--;
        removed++;
        if (d->flags & NODE_OUT_DIRTY) {
            d->flags |= NODE_DEAD; /* still to be produced: freed by clear_changes */
        } else {
            bool last = t->refs == 1;
            rollup_seats_free_day(r, d);
            if (last)
                break; /* t is gone */
        }
    }
    return removed;
}

rollup_tenant_t *rollup_seats_tenant(tally_rollup_t *r, const char *tenant_id)
{
    rollup_sym_t *sym = rollup_sym_find(r, tenant_id, strlen(tenant_id));
    return sym ? sym->seats : NULL;
}

bool rollup_seats_assigned(tally_rollup_t *r, const char *tenant_id, const char *seat_ref)
{
    seat_key_t sk = {.tenant = tenant_id, .tenant_len = strlen(tenant_id), .ref = seat_ref,
                     .ref_len = strlen(seat_ref)};
    uint64_t hash;
    const rollup_seat_t *s = seat_find(r, &sk, &hash);

    if (s == NULL || (s->node.flags & NODE_DEAD))
        return false;
    uint8_t op = s->last ? s->last->ev.op : s->has_base ? s->base.op : RELEASED;
    return op == ASSIGNED;
}

/* ---- restore ------------------------------------------------------------ */

int rollup_seats_restore(tally_rollup_t *r, const tally_changelog_entry_t *e, char *errbuf,
                         size_t errsize)
{
    seat_key_t sk = {.tenant = e->tenant, .tenant_len = e->tenant_len, .ref = e->name,
                     .ref_len = e->name_len};
    uint64_t hash;
    rollup_seat_t *s = seat_find(r, &sk, &hash);

    if (e->tombstone) {
        if (s) {
            tally_table_remove(&r->seats, hash, s);
            rollup_seats_free_seat(r, s);
            r->n_seats--;
        }
        return 0;
    }
    if (e->tenant_len == 0 || e->name_len == 0 || (!e->has_base && e->n_events == 0)) {
        snprintf(errbuf, errsize, "changelog seat: empty tenant, seat or history");
        return -1;
    }
    tally_changelog_seat_event_t prev = e->base;
    if (e->has_base && !rollup_valid_time(prev.at))
        goto bad;
    for (size_t i = 0; i < e->n_events; i++) {
        tally_changelog_seat_event_t ev;
        tally_changelog_seat_event(e, i, &ev);
        if (!rollup_valid_time(ev.at) || ((i > 0 || e->has_base) && ev_cmp(&prev, &ev) >= 0))
            goto bad;
        prev = ev;
    }

    if (s == NULL) {
        s = seat_new(r, tenant_get(r, sk.tenant, sk.tenant_len), &sk, hash);
    } else {
        for (rollup_event_t *ev = s->first, *next; ev; ev = next) {
            next = ev->seat_next;
            event_free(r, ev);
        }
        s->first = s->last = NULL;
    }
    s->has_base = e->has_base;
    s->base = e->base;
    for (size_t i = 0; i < e->n_events; i++) {
        rollup_event_t *ev = event_alloc(r);
        tally_changelog_seat_event(e, i, &ev->ev);
        ev->seat = s;
        ev->seat_prev = s->last;
        if (s->last)
            s->last->seat_next = ev;
        else
            s->first = ev;
        s->last = ev;
    }
    return 0;
bad:
    snprintf(errbuf, errsize, "changelog seat: history out of order or out of range");
    return -1;
}

static int event_ptr_cmp(const void *a, const void *b)
{
    const rollup_event_t *x = *(rollup_event_t *const *)a, *y = *(rollup_event_t *const *)b;
    uintptr_t tx = (uintptr_t)x->seat->tenant, ty = (uintptr_t)y->seat->tenant;
    if (tx != ty)
        return tx < ty ? -1 : 1;
    return ev_cmp(&x->ev, &y->ev);
}

void rollup_seats_restore_done(tally_rollup_t *r)
{
    rollup_event_t **all = rollup_xcalloc(r->n_events ? r->n_events : 1, sizeof *all);
    size_t n = 0;

    /* Each tenant's newest time, folded days and base count come from its
     * seats; then its events, in order, make its days. */
    for (size_t i = 0; i < tally_table_capacity(&r->seats); i++) {
        rollup_seat_t *s = tally_table_at(&r->seats, i);
        if (s == NULL)
            continue;
        rollup_tenant_t *t = s->tenant;
        if (s->has_base) {
            int32_t bday = rollup_day(s->base.at);
            if (!t->has_folded || bday > t->folded_through)
                t->folded_through = bday;
            t->has_folded = true;
            if (s->base.op == ASSIGNED)
                t->base_count++;
        }
        int64_t newest = s->last ? s->last->ev.at : s->base.at;
        if (!t->has_wm || newest > t->wm)
            t->wm = newest;
        t->has_wm = true;
        for (rollup_event_t *e = s->first; e; e = e->seat_next)
            all[n++] = e;
    }
    qsort(all, n, sizeof *all, event_ptr_cmp);
    for (size_t i = 0; i < n; i++) {
        rollup_event_t *e = all[i];
        rollup_tenant_t *t = e->seat->tenant;
        int32_t day = rollup_day(e->ev.at);
        rollup_seat_day_t *d = t->last_day;
        if (d == NULL || d->day != day) {
            d = day_new(r, t, day);
            day_link(t, t->last_day, d);
            if (t->first_open == NULL)
                t->first_open = d;
        }
        e->day = d;
        e->day_prev = d->last;
        if (d->last)
            d->last->day_next = e;
        else
            d->first = e;
        d->last = e;
    }
    free(all);

    for (size_t i = 0; i < tally_table_capacity(&r->syms); i++) {
        rollup_sym_t *sym = tally_table_at(&r->syms, i);
        if (sym == NULL || sym->seats == NULL)
            continue;
        rollup_tenant_t *t = sym->seats;
        for (rollup_seat_day_t *d = t->first_open; d; d = d->next)
            recompute(r, t, d, false);
        fold(r, t); /* only if open_days shrank since the changelog was written */
    }
}

void rollup_seats_free_all(tally_rollup_t *r)
{
    for (rollup_seat_day_t *d = r->seat_out_head, *next; d; d = next) {
        next = d->out_next;
        if (d->flags & NODE_DEAD)
            free(d); /* unlinked from its tenant already */
    }
    for (size_t i = 0; i < tally_table_capacity(&r->syms); i++) {
        rollup_sym_t *sym = tally_table_at(&r->syms, i);
        if (sym == NULL || sym->seats == NULL)
            continue;
        for (rollup_seat_day_t *d = sym->seats->first_day, *next; d; d = next) {
            next = d->next;
            free(d);
        }
        free(sym->seats);
        sym->seats = NULL;
    }
    for (size_t i = 0; i < tally_table_capacity(&r->seats); i++)
        free(tally_table_at(&r->seats, i));
    for (rollup_event_chunk_t *c = r->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    r->chunks = NULL;
    r->free_events = NULL;
}
