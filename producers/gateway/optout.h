/*
 * optout.h: the server-side opt-out list of projects.
 *
 * Product events whose project_id is on the list are dropped at the gateway
 * (the client still gets its 202; the gateway counts them). The list is a
 * file the operator keeps, one project id per line:
 *
 *   # comments start with '#', as does any field after the id
 *   3f0c1d2e-8a44-4c3e-9d1f-0a6b2c7d9e11
 *   acme-website            # requested by ticket 1234
 *
 * Ids are 1 to TALLY_OPTOUT_ID_MAX printable ASCII bytes without spaces,
 * matched exactly (case-sensitive); surrounding spaces and tabs are
 * ignored; a repeated id is harmless. A bad line fails the whole load with
 * its line number.
 *
 * Ids are kept in the clear, not as keyed hashes: they come from the
 * operator's own file, which stays readable on disk beside the process, so
 * hashing them in memory would hide nothing; the gateway holds each
 * incoming event's raw project_id anyway (pseudonyms are made downstream,
 * by the anonymizer); and an exact comparison can never drop another
 * project's events, as a hash collision could. They are never logged.
 *
 * Lookups read an immutable, sorted list through a reference count; a
 * reload builds a new list and swaps one pointer, so lookups never wait for
 * the file, and a failed reload keeps the previous list. Every function is
 * thread-safe.
 */
#ifndef TALLY_GATEWAY_OPTOUT_H
#define TALLY_GATEWAY_OPTOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest project id, in bytes. */
#define TALLY_OPTOUT_ID_MAX 256

typedef struct tally_optout_t tally_optout_t;

typedef struct tally_optout_stats_t {
    size_t projects;           /* distinct ids in the list served now */
    uint64_t reloads_ok;       /* the load in tally_optout_new included */
    uint64_t reloads_failed;
} tally_optout_stats_t;

/* Loads the list from path (copied) and returns an owned object, or NULL
 * with the reason (path, line number) in errbuf. An operator who configured
 * a list wants it honoured: failing here should stop the gateway. */
tally_optout_t *tally_optout_new(const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Frees the object and its list; NULL is a no-op. No lookup may be running
 * or start afterwards. */
void tally_optout_free(tally_optout_t *optout);

/* Reads the file again and, on success, swaps the new list in; the old one
 * is freed when its last reader is done. On failure returns -1 with the
 * reason in errbuf, logs a warning and keeps the previous list. */
int tally_optout_reload(tally_optout_t *optout, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Whether project_id (borrowed, NUL-terminated) is on the list. NULL (an
 * event without a project) is never on it. */
bool tally_optout_contains(tally_optout_t *optout, const char *project_id);

/* The same for len bytes (as from json_string_length; a NUL inside never
 * matches). */
bool tally_optout_contains_n(tally_optout_t *optout, const char *project_id, size_t len);

void tally_optout_stats(tally_optout_t *optout, tally_optout_stats_t *out);

#endif /* TALLY_GATEWAY_OPTOUT_H */
