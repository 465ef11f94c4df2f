#include "seen.h"

#include "copy_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One slot: 16 bytes, so a probe reads one cache line. len == 0: free
 * (an empty key is never held). */
typedef struct {
    uint64_t hash;
    uint32_t off, len;   /* key in the arena */
} seen_entry_t;

struct tally_seen_t {
    size_t max, n, cap;    /* cap: slots, a power of two, > 2 * n; grows up to > 2 * max */
    seen_entry_t *slots;
    tally_textbuf_t arena;
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "tally-materializer: out of memory\n");
        abort();
    }
    return p;
}

tally_seen_t *tally_seen_new(size_t max_entries)
{
    tally_seen_t *s = xcalloc(1, sizeof *s);
    s->max = max_entries ? max_entries : 1;
    s->cap = 1024;   /* grows with the keys: memory follows what is held */
    s->slots = xcalloc(s->cap, sizeof *s->slots);
    return s;
}

void tally_seen_free(tally_seen_t *s)
{
    if (s == NULL)
        return;
    free(s->slots);
    tally_textbuf_free(&s->arena);
    free(s);
}

int tally_seen_contains(const tally_seen_t *s, const void *key, size_t len, uint64_t hash)
{
    if (s == NULL || len == 0)
        return 0;
    for (size_t j = (size_t)hash & (s->cap - 1); s->slots[j].len; j = (j + 1) & (s->cap - 1)) {
        const seen_entry_t *e = &s->slots[j];
        if (e->hash == hash && e->len == len && memcmp(s->arena.data + e->off, key, len) == 0)
            return 1;
    }
    return 0;
}

/* Doubles the slots, re-placing every key (its hash is kept). */
static void grow(tally_seen_t *s)
{
    size_t ncap = s->cap * 2;
    seen_entry_t *ns = xcalloc(ncap, sizeof *ns);
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->slots[i].len)
            continue;
        size_t j = (size_t)s->slots[i].hash & (ncap - 1);
        while (ns[j].len)
            j = (j + 1) & (ncap - 1);
        ns[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
}

void tally_seen_add(tally_seen_t *s, const void *key, size_t len, uint64_t hash)
{
    if (len == 0 || len > UINT32_MAX || tally_seen_contains(s, key, len, hash))
        return;
    /* Full, or the arena past what a slot can point at: start over. */
    if (s->n == s->max || s->arena.len + len > UINT32_MAX) {
        memset(s->slots, 0, s->cap * sizeof *s->slots);
        tally_textbuf_reset(&s->arena);
        s->n = 0;
    }
    if (2 * (s->n + 1) >= s->cap)
        grow(s);
    size_t j = (size_t)hash & (s->cap - 1);
    while (s->slots[j].len)
        j = (j + 1) & (s->cap - 1);
    s->slots[j] = (seen_entry_t){hash, (uint32_t)s->arena.len, (uint32_t)len};
    tally_textbuf_append(&s->arena, key, len);
    s->n++;
}

size_t tally_seen_count(const tally_seen_t *s)
{
    return s->n;
}
