#include "session.h"

#include "xalloc.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char id[32];
    tally_principal_t who;
    int64_t expires_ms;
    int64_t checked_ms;
} session_t;

struct tally_sessions_t {
    pthread_mutex_t lock;
    session_t *items;        /* dense: [0, n) */
    size_t n, max;
    int64_t ttl_ms, recheck_ms;
};

tally_sessions_t *tally_sessions_new(size_t max_sessions, int64_t ttl_ms, int64_t recheck_ms)
{
    if (sodium_init() < 0)
        abort();
    tally_sessions_t *s = tally_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->max = max_sessions ? max_sessions : 1;
    s->items = tally_xcalloc(s->max, sizeof *s->items);
    s->ttl_ms = ttl_ms;
    s->recheck_ms = recheck_ms;
    return s;
}

void tally_sessions_free(tally_sessions_t *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s->items, s->max * sizeof *s->items);
    free(s->items);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void remove_at(tally_sessions_t *s, size_t i)
{
    s->items[i] = s->items[s->n - 1];
    sodium_memzero(&s->items[s->n - 1], sizeof s->items[0]);
    s->n--;
}

int tally_sessions_create(tally_sessions_t *s, const tally_principal_t *p, int64_t now_ms,
                          char id[TALLY_SESSION_ID_HEX + 1], int64_t *max_age_s)
{
    session_t one;
    memset(&one, 0, sizeof one);
    randombytes_buf(one.id, sizeof one.id);
    one.who = *p;
    one.expires_ms = now_ms + s->ttl_ms;
    if (!p->staff && p->token_expires_ms > 0 && p->token_expires_ms < one.expires_ms)
        one.expires_ms = p->token_expires_ms;
    one.checked_ms = now_ms;
    sodium_bin2hex(id, TALLY_SESSION_ID_HEX + 1, one.id, sizeof one.id);
    int64_t left = one.expires_ms - now_ms;
    *max_age_s = left > 0 ? (left + 999) / 1000 : 0;
    int evicted = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n;)
        if (s->items[i].expires_ms <= now_ms)
            remove_at(s, i);
        else
            i++;
    if (s->n == s->max) {
        size_t oldest = 0;
        for (size_t i = 1; i < s->n; i++)
            if (s->items[i].expires_ms < s->items[oldest].expires_ms)
                oldest = i;
        remove_at(s, oldest);
        evicted = 1;
    }
    s->items[s->n++] = one;
    pthread_mutex_unlock(&s->lock);
    sodium_memzero(&one, sizeof one);
    return evicted;
}

static int parse_id(const char *hex, unsigned char out[32])
{
    size_t bin_len = 0;
    if (hex == NULL || strlen(hex) != TALLY_SESSION_ID_HEX)
        return -1;
    for (const char *c = hex; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return -1;
    if (sodium_hex2bin(out, 32, hex, TALLY_SESSION_ID_HEX, NULL, &bin_len, NULL) != 0 || bin_len != 32)
        return -1;
    return 0;
}

/* Index of the session id, or -1; under the lock. */
static long find(tally_sessions_t *s, const unsigned char id[32])
{
    long found = -1;
    for (size_t i = 0; i < s->n; i++)
        if (sodium_memcmp(s->items[i].id, id, 32) == 0)
            found = (long)i;
    return found;
}

int tally_sessions_get(tally_sessions_t *s, const char *hex, int64_t now_ms, tally_principal_t *p)
{
    unsigned char id[32];
    if (parse_id(hex, id) != 0)
        return TALLY_SESSION_NONE;
    int rc = TALLY_SESSION_NONE;
    pthread_mutex_lock(&s->lock);
    long i = find(s, id);
    if (i >= 0 && s->items[i].expires_ms <= now_ms) {
        remove_at(s, (size_t)i);
        i = -1;
    }
    if (i >= 0) {
        *p = s->items[i].who;
        rc = !p->staff && now_ms - s->items[i].checked_ms >= s->recheck_ms ? TALLY_SESSION_RECHECK
                                                                          : TALLY_SESSION_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void tally_sessions_checked(tally_sessions_t *s, const char *hex, int ok, int64_t now_ms)
{
    unsigned char id[32];
    if (parse_id(hex, id) != 0)
        return;
    pthread_mutex_lock(&s->lock);
    long i = find(s, id);
    if (i >= 0) {
        if (ok)
            s->items[i].checked_ms = now_ms;
        else
            remove_at(s, (size_t)i);
    }
    pthread_mutex_unlock(&s->lock);
}

int tally_sessions_end(tally_sessions_t *s, const char *hex)
{
    unsigned char id[32];
    if (parse_id(hex, id) != 0)
        return 0;
    pthread_mutex_lock(&s->lock);
    long i = find(s, id);
    if (i >= 0)
        remove_at(s, (size_t)i);
    pthread_mutex_unlock(&s->lock);
    return i >= 0;
}

size_t tally_sessions_count(tally_sessions_t *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

size_t tally_sessions_sweep(tally_sessions_t *s, int64_t now_ms)
{
    size_t removed = 0;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n;)
        if (s->items[i].expires_ms <= now_ms) {
            remove_at(s, i);
            removed++;
        } else {
            i++;
        }
    pthread_mutex_unlock(&s->lock);
    return removed;
}
