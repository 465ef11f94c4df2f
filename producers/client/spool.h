#ifndef TALLY_CLIENT_SPOOL_H
#define TALLY_CLIENT_SPOOL_H

/* The spool: events not yet delivered, on disk, so they survive a crash or
 * a restart and are retried with the same event_id.
 *
 * Events are written to the spool before they are first sent (a write-ahead
 * log) and removed once the gateway answered for them. One segment file
 * holds a batch of events of one kind that need the same credential:
 *
 *   <dir>/seg-<created ms>-<pid>-<n>-<random>.ndjson
 *     {"tally_spool":1,"kind":"seat","auth":"<fingerprint>","created_at":<ms>}
 *
 * auth is the fingerprint (ids.h) of the API key or admin token the events
 * were sent with: a flush sends a segment with the credential it is given
 * only when the fingerprints match (a spool may hold several tenants'
 * events), or when auth is "" (its own credential was refused: 401/403)
 * and the header's "refused" list does not hold theirs.
 *     <one event a line, compact JSON>
 *
 * Names sort oldest first. A segment is written to a temporary name, synced
 * and renamed, so it is whole or absent. Whoever works on a segment holds an
 * exclusive flock(2) on it: two tally processes never send the same
 * segment, and a crashed one's lock vanishes with it. A partly delivered
 * segment is rewritten (again crash-safely) with the events still due.
 *
 * The spool is capped by events and bytes: past the cap the oldest events
 * are dropped (tally_spool_enforce_cap), never the newest. */

#include "ids.h"
#include "kinds.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* tally_spool_claim results besides 0 and -1. */
#define TALLY_SPOOL_BUSY 1     /* another process holds it, or it is gone */
#define TALLY_SPOOL_CORRUPT 2  /* unreadable: moved aside as bad-<name> */

typedef struct tally_spool_limits_t {
    size_t max_events;
    size_t max_bytes;
} tally_spool_limits_t;

typedef struct tally_spool_t tally_spool_t;

/* A segment held (locked) by this process. */
typedef struct tally_segment_t {
    char *path;                             /* owned */
    int fd;                                 /* holds the lock */
    tally_kind_t kind;
    char auth[TALLY_FINGERPRINT_SIZE];      /* "" when the kind needs no credential */
    int64_t created_ms;
    json_t *refused;                        /* fingerprints refused for it (array, owned) */
    json_t *events;                         /* array, owned */
} tally_segment_t;

typedef struct tally_spool_stats_t {
    size_t segments, events, bytes;
    size_t events_by_kind[TALLY_KIND_COUNT];
    int64_t oldest_ms;                      /* 0 when empty */
} tally_spool_stats_t;

/* Opens (creating it, mode 0700) the spool folder dir (copied); refuses a
 * folder that is a link, another user's, or writable by group or others
 * (tally_fs_private_dir). Segment and lock files are opened without
 * following links: a link among the segments is refused (claim) and left. */
tally_spool_t *tally_spool_open(const char *dir, const tally_spool_limits_t *limits, char *errbuf, size_t errsize);
void tally_spool_free(tally_spool_t *s);
const char *tally_spool_dir(const tally_spool_t *s);
const tally_spool_limits_t *tally_spool_limits(const tally_spool_t *s);

/* Writes events[first .. first+count) (borrowed) as a new segment of kind
 * and credential fingerprint auth and returns it held in *out (release
 * with tally_spool_release). Durable when this returns 0. */
int tally_spool_add(tally_spool_t *s, tally_kind_t kind, const char *auth, json_t *events, size_t first,
                    size_t count, int64_t now_ms, tally_segment_t **out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The segment file names, oldest first: a new array of new strings (free
 * with tally_spool_names_free). 0 or -1. */
int tally_spool_list(const tally_spool_t *s, char ***names, size_t *count, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));
void tally_spool_names_free(char **names, size_t count);

/* Takes segment name for this process: 0 and *out, TALLY_SPOOL_BUSY,
 * TALLY_SPOOL_CORRUPT (message in errbuf), or -1. Never waits. */
int tally_spool_claim(tally_spool_t *s, const char *name, tally_segment_t **out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Records which events of a held segment are still due: keep[i] for
 * events[i]. None kept: the file is removed. Some: it is rewritten with
 * those alone (seg->events follows). The segment stays held. 0 or -1. */
int tally_spool_settle(tally_spool_t *s, tally_segment_t *seg, const bool *keep, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Records that the gateway refused (401/403) the credential of this
 * fingerprint for a held segment, and rewrites it: its auth becomes "" so
 * other credentials may try it, but not this one again. */
int tally_spool_refuse(tally_spool_t *s, tally_segment_t *seg, const char *fingerprint, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Whether the credential of this fingerprint was refused for seg. */
bool tally_spool_refused_by(const tally_segment_t *seg, const char *fingerprint);

/* Unlocks and frees. NULL is a no-op. */
void tally_spool_release(tally_segment_t *seg);

/* Counts what the spool holds (segments held by others included). */
int tally_spool_stats(const tally_spool_t *s, tally_spool_stats_t *st, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Drops the oldest events until the spool is within its limits, skipping
 * segments other processes hold; *dropped gets how many. 0 or -1. */
int tally_spool_enforce_cap(tally_spool_t *s, size_t *dropped, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
