#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "tally-materializer: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

#define GROW(arr, n, cap)                                                    \
    do {                                                                     \
        if ((n) == (cap)) {                                                  \
            (cap) = (cap) ? 2 * (cap) : 64;                                  \
            (arr) = xrealloc((arr), (cap) * sizeof *(arr));                  \
        }                                                                    \
    } while (0)

tally_batch_t *tally_batch_new(void)
{
    tally_batch_t *b = calloc(1, sizeof *b);
    if (b == NULL) {
        fprintf(stderr, "tally-materializer: out of memory\n");
        abort();
    }
    return b;
}

void tally_batch_free(tally_batch_t *b)
{
    if (b == NULL)
        return;
    tally_textbuf_free(&b->arena);
    tally_textbuf_free(&b->product_rows);
    free(b->api);
    free(b->seat);
    free(b->api_slots);
    free(b->seat_slots);
    free(b->groups);
    free(b->installs);
    free(b->group_slots);
    free(b->install_slots);
    tally_textbuf_free(&b->key);
    free(b->cp);
    free(b->dlq);
    free(b->progress);
    free(b);
}

void tally_batch_reset(tally_batch_t *b)
{
    tally_textbuf_reset(&b->arena);
    tally_textbuf_reset(&b->product_rows);
    if (b->n_api && b->api_slots)
        memset(b->api_slots, 0, b->api_slots_cap * sizeof *b->api_slots);
    if (b->n_seat && b->seat_slots)
        memset(b->seat_slots, 0, b->seat_slots_cap * sizeof *b->seat_slots);
    if (b->n_groups && b->group_slots)
        memset(b->group_slots, 0, b->group_slots_cap * sizeof *b->group_slots);
    if (b->n_installs && b->install_slots)
        memset(b->install_slots, 0, b->install_slots_cap * sizeof *b->install_slots);
    b->n_groups = b->n_installs = 0;
    b->n_api = b->n_seat = b->n_product = b->n_cp = 0;
    b->n_dlq = b->dlq_sent = 0;
    b->n_progress = 0;
    b->records = b->bytes = 0;
    b->first_ms = 0;
}

void tally_batch_track(tally_batch_t *b, tally_topic_role_t role, int32_t partition, int64_t offset,
                       int64_t expected, size_t value_bytes, int64_t now_ms)
{
    if (b->records == 0)
        b->first_ms = now_ms;
    b->records++;
    b->bytes += value_bytes;
    for (size_t i = b->n_progress; i-- > 0;) {
        tally_batch_progress_t *p = &b->progress[i];
        if (p->role == role && p->partition == partition) {
            p->next = offset + 1;
            return;
        }
    }
    GROW(b->progress, b->n_progress, b->cap_progress);
    b->progress[b->n_progress++] = (tally_batch_progress_t){role, partition, expected, offset + 1};
}

size_t tally_batch_strdup(tally_batch_t *b, const char *s, size_t n)
{
    size_t off = b->arena.len;
    tally_textbuf_append(&b->arena, s, n);
    tally_textbuf_putc(&b->arena, '\0');
    return off;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t key_hash(const char *a, size_t alen, const char *c, size_t clen, int32_t day)
{
    uint64_t h = 14695981039346656037ULL;
    h = fnv1a(h, a, alen);
    h = fnv1a(h, "|", 1);
    h = fnv1a(h, c, clen);
    h = fnv1a(h, "|", 1);
    return fnv1a(h, &day, sizeof day);
}

static int str_eq(const tally_batch_t *b, size_t off, const char *s, size_t n)
{
    const char *a = b->arena.data + off;
    return strncmp(a, s, n) == 0 && a[n] == '\0';
}

/* Whether the record (partition, offset, updated_at) supersedes the kept one. */
static int newer(int32_t kept_partition, int64_t kept_offset, int64_t kept_updated, int32_t partition,
                 int64_t offset, int64_t updated)
{
    if (kept_partition == partition)
        return offset >= kept_offset;
    return updated >= kept_updated;
}

/* Makes room for one more entry: doubles a slot table that would be half
 * full and re-inserts the n_entries it indexes. */
static void slots_fit(uint32_t **slots, size_t *cap, size_t n_entries, uint64_t (*hash_of)(const void *, size_t),
                      const void *entries)
{
    if (*cap && (n_entries + 1) * 2 < *cap)
        return;
    size_t ncap = *cap ? *cap * 2 : 256;
    while ((n_entries + 1) * 2 >= ncap)
        ncap *= 2;
    uint32_t *ns = xrealloc(*slots, ncap * sizeof *ns);
    memset(ns, 0, ncap * sizeof *ns);
    for (size_t i = 0; i < n_entries; i++) {
        size_t j = (size_t)hash_of(entries, i) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = (uint32_t)(i + 1);
    }
    *slots = ns;
    *cap = ncap;
}

static uint64_t api_hash_at(const void *entries, size_t i)
{
    return ((const tally_api_rollup_t *)entries)[i].hash;
}

static uint64_t seat_hash_at(const void *entries, size_t i)
{
    return ((const tally_seat_rollup_t *)entries)[i].hash;
}

void tally_batch_put_api(tally_batch_t *b, const char *tenant, size_t tenant_len, const char *environment,
                         size_t environment_len, const tally_api_rollup_t *v)
{
    uint64_t h = key_hash(tenant, tenant_len, environment, environment_len, v->day);
    slots_fit(&b->api_slots, &b->api_slots_cap, b->n_api, api_hash_at, b->api);
    size_t mask = b->api_slots_cap - 1, j = (size_t)h & mask;
    for (; b->api_slots[j]; j = (j + 1) & mask) {
        tally_api_rollup_t *e = &b->api[b->api_slots[j] - 1];
        if (e->hash == h && e->day == v->day && str_eq(b, e->tenant, tenant, tenant_len) &&
            str_eq(b, e->environment, environment, environment_len)) {
            if (newer(e->partition, e->offset, e->updated_at_ms, v->partition, v->offset, v->updated_at_ms)) {
                size_t t = e->tenant, en = e->environment;
                *e = *v;
                e->tenant = t;
                e->environment = en;
                e->hash = h;
            }
            return;
        }
    }
    GROW(b->api, b->n_api, b->cap_api);
    tally_api_rollup_t *e = &b->api[b->n_api];
    *e = *v;
    e->hash = h;
    e->tenant = tally_batch_strdup(b, tenant, tenant_len);
    e->environment = tally_batch_strdup(b, environment, environment_len);
    b->api_slots[j] = (uint32_t)++b->n_api;
}

void tally_batch_put_seat(tally_batch_t *b, const char *tenant, size_t tenant_len, const tally_seat_rollup_t *v)
{
    uint64_t h = key_hash(tenant, tenant_len, "", 0, v->day);
    slots_fit(&b->seat_slots, &b->seat_slots_cap, b->n_seat, seat_hash_at, b->seat);
    size_t mask = b->seat_slots_cap - 1, j = (size_t)h & mask;
    for (; b->seat_slots[j]; j = (j + 1) & mask) {
        tally_seat_rollup_t *e = &b->seat[b->seat_slots[j] - 1];
        if (e->hash == h && e->day == v->day && str_eq(b, e->tenant, tenant, tenant_len)) {
            if (newer(e->partition, e->offset, e->updated_at_ms, v->partition, v->offset, v->updated_at_ms)) {
                size_t t = e->tenant;
                *e = *v;
                e->tenant = t;
                e->hash = h;
            }
            return;
        }
    }
    GROW(b->seat, b->n_seat, b->cap_seat);
    tally_seat_rollup_t *e = &b->seat[b->n_seat];
    *e = *v;
    e->hash = h;
    e->tenant = tally_batch_strdup(b, tenant, tenant_len);
    b->seat_slots[j] = (uint32_t)++b->n_seat;
}

/* day, source, event, version and install, NUL-separated. */
static void install_key(const tally_batch_t *b, const tally_product_group_t *g, const char *install,
                        size_t install_len, tally_textbuf_t *out, uint64_t *hash)
{
    const char *event = b->arena.data + g->event, *version = b->arena.data + g->version;
    tally_textbuf_reset(out);
    tally_textbuf_append(out, &g->day, sizeof g->day);
    tally_textbuf_append(out, g->source, strlen(g->source) + 1);
    tally_textbuf_append(out, event, strlen(event) + 1);
    tally_textbuf_append(out, version, strlen(version) + 1);
    tally_textbuf_append(out, install, install_len);
    *hash = fnv1a(14695981039346656037ULL, out->data, out->len);
}

void tally_batch_install_key(const tally_batch_t *b, size_t i, tally_textbuf_t *out, uint64_t *hash)
{
    const tally_product_install_t *in = &b->installs[i];
    const char *install = b->arena.data + in->install;
    install_key(b, &b->groups[in->group], install, strlen(install), out, hash);
}

static uint64_t group_hash_at(const void *entries, size_t i)
{
    return ((const tally_product_group_t *)entries)[i].hash;
}

static uint64_t install_hash_at(const void *entries, size_t i)
{
    return ((const tally_product_install_t *)entries)[i].hash;
}

void tally_batch_count_product(tally_batch_t *b, int32_t day, const char *source, const char *event, size_t event_len,
                               const char *version, size_t version_len, const char *install, size_t install_len)
{
    if (version == NULL) {
        version = "";
        version_len = 0;
    }
    uint64_t h = fnv1a(key_hash(event, event_len, version, version_len, day), source, strlen(source));
    slots_fit(&b->group_slots, &b->group_slots_cap, b->n_groups, group_hash_at, b->groups);
    size_t mask = b->group_slots_cap - 1, j = (size_t)h & mask;
    uint32_t g = 0;
    for (; b->group_slots[j]; j = (j + 1) & mask) {
        tally_product_group_t *e = &b->groups[b->group_slots[j] - 1];
        if (e->hash == h && e->day == day && strcmp(e->source, source) == 0 && str_eq(b, e->event, event, event_len) &&
            str_eq(b, e->version, version, version_len)) {
            g = b->group_slots[j];
            break;
        }
    }
    if (g == 0) {
        GROW(b->groups, b->n_groups, b->cap_groups);
        tally_product_group_t *e = &b->groups[b->n_groups];
        e->hash = h;
        e->day = day;
        e->source = source;
        e->events = 0;
        e->event = tally_batch_strdup(b, event, event_len);
        e->version = tally_batch_strdup(b, version, version_len);
        g = b->group_slots[j] = (uint32_t)++b->n_groups;
    }
    b->groups[g - 1].events++;

    uint64_t ih = fnv1a(h ^ (uint64_t)g * 0x9E3779B97F4A7C15ULL, install, install_len);
    slots_fit(&b->install_slots, &b->install_slots_cap, b->n_installs, install_hash_at, b->installs);
    mask = b->install_slots_cap - 1;
    for (j = (size_t)ih & mask; b->install_slots[j]; j = (j + 1) & mask) {
        const tally_product_install_t *e = &b->installs[b->install_slots[j] - 1];
        if (e->hash == ih && e->group == g - 1 && str_eq(b, e->install, install, install_len))
            return;
    }
    if (b->known != NULL) {
        uint64_t kh;
        install_key(b, &b->groups[g - 1], install, install_len, &b->key, &kh);
        if (tally_seen_contains(b->known, b->key.data, b->key.len, kh))
            return;
    }
    GROW(b->installs, b->n_installs, b->cap_installs);
    tally_product_install_t *e = &b->installs[b->n_installs];
    e->hash = ih;
    e->group = g - 1;
    e->install = tally_batch_strdup(b, install, install_len);
    b->install_slots[j] = (uint32_t)++b->n_installs;
}

tally_cp_event_t *tally_batch_add_cp(tally_batch_t *b, tally_cp_kind_t kind)
{
    GROW(b->cp, b->n_cp, b->cap_cp);
    tally_cp_event_t *e = &b->cp[b->n_cp++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    return e;
}

void tally_batch_add_dlq(tally_batch_t *b, tally_topic_role_t role, int32_t partition, int64_t offset,
                         const char *error, const char *detail)
{
    GROW(b->dlq, b->n_dlq, b->cap_dlq);
    b->dlq[b->n_dlq++] = (tally_dlq_entry_t){role, partition, offset, error,
                                             tally_batch_strdup(b, detail, strlen(detail))};
}
