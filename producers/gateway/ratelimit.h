/*
 * ratelimit.h: a token bucket per client address, for the product route
 * (every request takes a token) and for failed authentications on the
 * credentialed routes (a 401 takes a token; a client with none left gets
 * 429 before its credential is even looked at).
 *
 * Each client may send `burst` requests at once, then `rate_per_second` on
 * average. Client addresses are never stored: an entry is found by a 64-bit
 * keyed hash (libsodium crypto_shorthash, SipHash-2-4) of the normalized
 * address, under a random key made by tally_ratelimit_new and kept in
 * libsodium's guarded memory (locked, left out of core dumps).
 * Normalization: an IPv4-mapped IPv6 address counts as its IPv4 address,
 * and IPv6 addresses are grouped by their first ipv6_prefix_bits bits (one
 * subscriber usually holds a whole /64, so limiting single IPv6 addresses
 * would not limit anyone).
 *
 * Memory is fixed at creation: a set-associative table of `capacity`
 * entries (8 per set). A new client takes a free way of its set or evicts
 * the stalest one (least recently seen); an evicted client starts again
 * with a full bucket, so a flood of new addresses can at worst reset other
 * clients' buckets, never grow memory. Sets are spread over up to 256
 * mutexes (lock striping), so concurrent threads rarely contend, and a
 * request allocates nothing. Every function is thread-safe.
 */
#ifndef TALLY_GATEWAY_RATELIMIT_H
#define TALLY_GATEWAY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct tally_ratelimit_t tally_ratelimit_t;

typedef struct tally_ratelimit_config_t {
    double rate_per_second;    /* refill rate, in (0, 1e6] */
    double burst;              /* bucket size, in [1, 1e9] */
    size_t capacity;           /* clients tracked, in [8, 2^26]; rounded up
                                  to a power of two */
    unsigned ipv6_prefix_bits; /* 1..128; 0 means 64 */
} tally_ratelimit_config_t;

typedef struct tally_ratelimit_stats_t {
    size_t capacity;           /* entries, after rounding */
    size_t tracked;            /* entries in use */
    uint64_t evictions;        /* entries taken over by a new client */
    uint64_t refused;          /* requests answered "no" */
} tally_ratelimit_stats_t;

/* Returns an owned limiter (config copied), or NULL with the reason in
 * errbuf when a config value is out of range. Allocation failure aborts. */
tally_ratelimit_t *tally_ratelimit_new(const tally_ratelimit_config_t *config,
                                       char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees the limiter; NULL is a no-op. No call may be running. */
void tally_ratelimit_free(tally_ratelimit_t *rl);

/* Takes one token from the bucket of addr (borrowed; AF_INET or AF_INET6;
 * any other family shares one bucket) at now_ms, a monotonic clock in
 * milliseconds (see tally_ratelimit_now_ms; a clock going back refills
 * nothing). Returns true if the request may go on. On false, and if
 * retry_after_seconds is not NULL, stores the whole seconds (>= 1) until a
 * token is back, for a Retry-After header. */
bool tally_ratelimit_allow(tally_ratelimit_t *rl, const struct sockaddr *addr, int64_t now_ms,
                           int *retry_after_seconds);

/* The same for an address in text (borrowed), such as the client entry of
 * X-Forwarded-For picked by the caller when the proxy is trusted: IPv4
 * dotted quad or IPv6, optionally in brackets, surrounding spaces or tabs
 * ignored. Text that is no address (a port, a zone, garbage) shares one
 * bucket, so a client cannot make fresh buckets by varying it. */
bool tally_ratelimit_allow_str(tally_ratelimit_t *rl, const char *address, int64_t now_ms,
                               int *retry_after_seconds);

/* Whether the bucket of addr (or address, as above) holds a token now,
 * without taking it: a client not tracked yet has a full bucket and is not
 * tracked by asking. Used where only failures take tokens (the gateway's
 * limit of 401s per client): check before the work, allow after a failure.
 * retry_after_seconds as above. */
bool tally_ratelimit_check(tally_ratelimit_t *rl, const struct sockaddr *addr, int64_t now_ms,
                           int *retry_after_seconds);
bool tally_ratelimit_check_str(tally_ratelimit_t *rl, const char *address, int64_t now_ms,
                               int *retry_after_seconds);

/* Size in bytes of the limiter's one allocation (the table included), which
 * never changes after tally_ratelimit_new; the key lives apart. For tests and
 * a memory gauge. The object starts at rl. */
size_t tally_ratelimit_footprint(const tally_ratelimit_t *rl);

/* Counters, summed over the stripes (locks each one in turn). */
void tally_ratelimit_stats(tally_ratelimit_t *rl, tally_ratelimit_stats_t *out);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t tally_ratelimit_now_ms(void);

#endif /* TALLY_GATEWAY_RATELIMIT_H */
