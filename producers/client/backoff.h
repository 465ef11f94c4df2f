#ifndef TALLY_CLIENT_BACKOFF_H
#define TALLY_CLIENT_BACKOFF_H

/* When to try the gateway again after a failure: exponential backoff with
 * jitter, never sooner than the gateway's Retry-After. Kept in
 * <spool>/retry.json so every tally process (and the next invocation)
 * knows, for the gateway URL it was learnt from:
 *
 *   {"gateway": "<url>", "failures": 3, "next_attempt_at": <ms>, "last_error": "..."}
 */

#include <stdint.h>
#include <stddef.h>

typedef struct tally_backoff_t {
    char gateway[512];
    int failures;              /* consecutive failed attempts; 0: healthy */
    int64_t next_attempt_ms;   /* wall clock; 0: now */
    char last_error[256];
} tally_backoff_t;

/* The wait after the n-th consecutive failure (n >= 1): "equal jitter",
 * half of min(max_ms, base_ms * 2^(n-1)) plus a random part of the other
 * half (rand01 in [0, 1]: 0 gives the least, 1 the most), and at least
 * retry_after_ms (-1: none). */
int64_t tally_backoff_delay_ms(int failures, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                               double rand01);

/* Loads the state of gateway from path; a missing or unreadable file, or
 * one about another gateway, is the healthy state. Never fails. */
void tally_backoff_load(const char *path, const char *gateway, tally_backoff_t *b);

/* Saves crash-safely. 0 or -1. */
int tally_backoff_save(const char *path, const tally_backoff_t *b, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* After a failed attempt at now_ms: failures + 1, and the next attempt
 * after tally_backoff_delay_ms with a fresh random jitter. */
void tally_backoff_failed(tally_backoff_t *b, int64_t now_ms, int64_t base_ms, int64_t max_ms,
                          int64_t retry_after_ms, const char *error);

/* After a success: healthy again. */
void tally_backoff_succeeded(tally_backoff_t *b);

#endif
