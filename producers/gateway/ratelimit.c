#include "ratelimit.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RL_WAYS 8                  /* entries per set */
#define RL_MAX_STRIPES 256
#define RL_MIN_CAPACITY RL_WAYS
#define RL_MAX_CAPACITY ((size_t)1 << 26)
#define RL_CACHE_LINE 64

/* Tags of the normalized address bytes hashed: never mixed up across kinds. */
#define RL_KIND_IPV4 4
#define RL_KIND_IPV6 6
#define RL_KIND_OTHER 0xfe         /* non-IP socket family */
#define RL_KIND_UNPARSED 0xff      /* text that is no address */

typedef struct {
    uint64_t tag;                  /* keyed hash of the address; 0: free */
    int64_t last_ms;               /* last refill */
    double tokens;
} rl_entry_t;

/* One mutex per cache line; the counters it guards sit beside it. */
typedef struct {
    _Alignas(RL_CACHE_LINE) pthread_mutex_t lock;
    uint64_t evictions, refused;
} rl_stripe_t;

struct tally_ratelimit_t {
    unsigned char *key;            /* sodium_malloc'd, read-only */
    double rate_per_ms, rate_per_second, burst;
    unsigned ipv6_prefix_bits;
    size_t set_mask, stripe_mask, nstripes, capacity;
    size_t footprint;
    rl_stripe_t *stripes;          /* inside this allocation */
    rl_entry_t *entries;           /* inside this allocation, capacity of them */
};

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static int check_config(const tally_ratelimit_config_t *c, char *errbuf, size_t errsize)
{
    if (!(c->rate_per_second > 0 && c->rate_per_second <= 1e6)) {
        snprintf(errbuf, errsize, "rate limit: rate must be in (0, 1000000] per second");
        return -1;
    }
    if (!(c->burst >= 1 && c->burst <= 1e9)) {
        snprintf(errbuf, errsize, "rate limit: burst must be in [1, 1000000000]");
        return -1;
    }
    if (c->capacity < RL_MIN_CAPACITY || c->capacity > RL_MAX_CAPACITY) {
        snprintf(errbuf, errsize, "rate limit: capacity must be in [%d, %zu] clients",
                 RL_MIN_CAPACITY, RL_MAX_CAPACITY);
        return -1;
    }
    if (c->ipv6_prefix_bits > 128) {
        snprintf(errbuf, errsize, "rate limit: IPv6 prefix must be 1 to 128 bits (0: 64)");
        return -1;
    }
    return 0;
}

tally_ratelimit_t *tally_ratelimit_new(const tally_ratelimit_config_t *config, char *errbuf,
                                       size_t errsize)
{
    if (check_config(config, errbuf, errsize) != 0)
        return NULL;
    if (sodium_init() < 0) {
        fputs("tally: libsodium failed to initialize\n", stderr);
        abort();
    }
    size_t sets = 1;
    while (sets * RL_WAYS < config->capacity)
        sets *= 2;
    size_t nstripes = sets < RL_MAX_STRIPES ? sets : RL_MAX_STRIPES;

    size_t head = round_up(sizeof(tally_ratelimit_t), RL_CACHE_LINE);
    size_t stripes_size = nstripes * sizeof(rl_stripe_t);
    size_t entries_size = sets * RL_WAYS * sizeof(rl_entry_t);
    size_t total = round_up(head + stripes_size + entries_size, RL_CACHE_LINE);
    unsigned char *block = aligned_alloc(RL_CACHE_LINE, total);
    if (block == NULL) {
        fprintf(stderr, "tally: out of memory (%zu bytes)\n", total);
        abort();
    }
    memset(block, 0, total);

    tally_ratelimit_t *rl = (tally_ratelimit_t *)block;
    rl->key = sodium_malloc(crypto_shorthash_KEYBYTES);
    if (rl->key == NULL) {
        fputs("tally: out of memory (guarded key)\n", stderr);
        abort();
    }
    crypto_shorthash_keygen(rl->key);
    sodium_mprotect_readonly(rl->key);
    rl->rate_per_second = config->rate_per_second;
    rl->rate_per_ms = config->rate_per_second / 1000.0;
    rl->burst = config->burst;
    rl->ipv6_prefix_bits = config->ipv6_prefix_bits ? config->ipv6_prefix_bits : 64;
    rl->set_mask = sets - 1;
    rl->nstripes = nstripes;
    rl->stripe_mask = nstripes - 1;
    rl->capacity = sets * RL_WAYS;
    rl->footprint = total;
    rl->stripes = (rl_stripe_t *)(block + head);
    rl->entries = (rl_entry_t *)(block + head + stripes_size);
    for (size_t i = 0; i < nstripes; i++)
        pthread_mutex_init(&rl->stripes[i].lock, NULL);
    return rl;
}

void tally_ratelimit_free(tally_ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < rl->nstripes; i++)
        pthread_mutex_destroy(&rl->stripes[i].lock);
    sodium_free(rl->key);
    free(rl);
}

/* Takes a token from the bucket of the hashed client; or, when !consume,
 * only says whether one is there (a client not tracked has a full bucket
 * and stays untracked). */
static bool take(tally_ratelimit_t *rl, uint64_t tag, int64_t now_ms, bool consume, int *retry_after_seconds)
{
    if (tag == 0)
        tag = 1;                   /* 0 marks a free entry */
    size_t set = (size_t)(tag >> 8) & rl->set_mask;
    rl_stripe_t *stripe = &rl->stripes[set & rl->stripe_mask];
    rl_entry_t *ways = &rl->entries[set * RL_WAYS];
    rl_entry_t *e = NULL, *free_way = NULL, *stalest = NULL;
    bool allowed;

    pthread_mutex_lock(&stripe->lock);
    for (size_t w = 0; w < RL_WAYS; w++) {
        if (ways[w].tag == tag) {
            e = &ways[w];
            break;
        }
        if (ways[w].tag == 0) {
            if (free_way == NULL)
                free_way = &ways[w];
        } else if (stalest == NULL || ways[w].last_ms < stalest->last_ms) {
            stalest = &ways[w];
        }
    }
    if (e == NULL && !consume) {
        pthread_mutex_unlock(&stripe->lock);
        return true;
    }
    if (e == NULL) {
        e = free_way;
        if (e == NULL) {
            e = stalest;
            stripe->evictions++;
        }
        e->tag = tag;
        e->tokens = rl->burst;
        e->last_ms = now_ms;
    } else if (now_ms > e->last_ms) {
        double refilled = e->tokens + (double)(now_ms - e->last_ms) * rl->rate_per_ms;
        e->tokens = refilled < rl->burst ? refilled : rl->burst;
        e->last_ms = now_ms;
    }
    allowed = e->tokens >= 1.0;
    if (allowed && consume) {
        e->tokens -= 1.0;
    } else if (!allowed) {
        stripe->refused++;
        if (retry_after_seconds != NULL) {
            double wait = (1.0 - e->tokens) / rl->rate_per_second;
            int secs = wait >= INT_MAX ? INT_MAX : (int)wait;
            if (secs < INT_MAX && (secs < wait || secs < 1))
                secs++;    /* round up: a token is back after, not before */
            *retry_after_seconds = secs;
        }
    }
    pthread_mutex_unlock(&stripe->lock);
    return allowed;
}

/* Normalized address bytes: kind, then the address (IPv6 masked). */
typedef struct {
    unsigned char bytes[1 + 16];
    size_t len;
} rl_client_t;

static void client_ipv4(rl_client_t *c, const unsigned char *addr)
{
    c->bytes[0] = RL_KIND_IPV4;
    memcpy(c->bytes + 1, addr, 4);
    c->len = 5;
}

static void client_ipv6(rl_client_t *c, const unsigned char *addr, unsigned prefix_bits)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, v4mapped, sizeof v4mapped) == 0) {
        client_ipv4(c, addr + 12);
        return;
    }
    c->bytes[0] = RL_KIND_IPV6;
    memcpy(c->bytes + 1, addr, 16);
    for (unsigned bit = prefix_bits; bit < 128; bit++)
        c->bytes[1 + bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    c->len = 17;
}

static bool take_client(tally_ratelimit_t *rl, rl_client_t *c, int64_t now_ms, bool consume,
                        int *retry_after_seconds)
{
    unsigned char hash[crypto_shorthash_BYTES];
    uint64_t tag;
    crypto_shorthash(hash, c->bytes, c->len, rl->key);
    memcpy(&tag, hash, sizeof tag);
    /* Leave no copy of the address behind on the stack. */
    sodium_memzero(c, sizeof *c);
    return take(rl, tag, now_ms, consume, retry_after_seconds);
}

static bool by_addr(tally_ratelimit_t *rl, const struct sockaddr *addr, int64_t now_ms, bool consume,
                    int *retry_after_seconds)
{
    rl_client_t c = {.bytes = {RL_KIND_OTHER}, .len = 1};
    if (addr != NULL && addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
        client_ipv4(&c, (const unsigned char *)&in->sin_addr);
    } else if (addr != NULL && addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
        client_ipv6(&c, in6->sin6_addr.s6_addr, rl->ipv6_prefix_bits);
    }
    return take_client(rl, &c, now_ms, consume, retry_after_seconds);
}

static bool by_str(tally_ratelimit_t *rl, const char *address, int64_t now_ms, bool consume,
                   int *retry_after_seconds)
{
    rl_client_t c = {.bytes = {RL_KIND_UNPARSED}, .len = 1};
    char text[INET6_ADDRSTRLEN + 2];
    unsigned char bin[16];
    const char *p = address ? address : "";
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strnlen(p, sizeof text);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
        p++;
        len -= 2;
    }
    if (len > 0 && len < sizeof text) {
        memcpy(text, p, len);
        text[len] = '\0';
        if (inet_pton(AF_INET, text, bin) == 1)
            client_ipv4(&c, bin);
        else if (inet_pton(AF_INET6, text, bin) == 1)
            client_ipv6(&c, bin, rl->ipv6_prefix_bits);
        sodium_memzero(text, sizeof text);
        sodium_memzero(bin, sizeof bin);
    }
    return take_client(rl, &c, now_ms, consume, retry_after_seconds);
}

bool tally_ratelimit_allow(tally_ratelimit_t *rl, const struct sockaddr *addr, int64_t now_ms,
                           int *retry_after_seconds)
{
    return by_addr(rl, addr, now_ms, true, retry_after_seconds);
}

bool tally_ratelimit_allow_str(tally_ratelimit_t *rl, const char *address, int64_t now_ms,
                               int *retry_after_seconds)
{
    return by_str(rl, address, now_ms, true, retry_after_seconds);
}

bool tally_ratelimit_check(tally_ratelimit_t *rl, const struct sockaddr *addr, int64_t now_ms,
                           int *retry_after_seconds)
{
    return by_addr(rl, addr, now_ms, false, retry_after_seconds);
}

bool tally_ratelimit_check_str(tally_ratelimit_t *rl, const char *address, int64_t now_ms,
                               int *retry_after_seconds)
{
    return by_str(rl, address, now_ms, false, retry_after_seconds);
}

size_t tally_ratelimit_footprint(const tally_ratelimit_t *rl)
{
    return rl->footprint;
}

void tally_ratelimit_stats(tally_ratelimit_t *rl, tally_ratelimit_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->capacity = rl->capacity;
    for (size_t s = 0; s < rl->nstripes; s++) {
        rl_stripe_t *stripe = &rl->stripes[s];
        pthread_mutex_lock(&stripe->lock);
        out->evictions += stripe->evictions;
        out->refused += stripe->refused;
        /* The sets of stripe s are s, s + nstripes, s + 2 * nstripes, ... */
        for (size_t set = s; set <= rl->set_mask; set += rl->nstripes)
            for (size_t w = 0; w < RL_WAYS; w++)
                out->tracked += rl->entries[set * RL_WAYS + w].tag != 0;
        pthread_mutex_unlock(&stripe->lock);
    }
}

int64_t tally_ratelimit_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
