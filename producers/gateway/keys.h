/*
 * keys.h: environment API keys for the usage and seat routes.
 *
 * Reporters send "Authorization: Bearer <key>". The gateway never holds a
 * key: it knows the SHA-256 of every active key, each mapped to the
 * (tenant_id, environment_id) it was issued for, from one of two sources:
 *
 *   - PostgreSQL, table tally.api_keys (active: revoked_at IS NULL);
 *   - a file, for a setup without PostgreSQL: one key per line,
 *       <sha256 hex, 64 digits> <tenant_id> <environment_id>
 *     fields separated by spaces or tabs; blank lines are skipped and a
 *     field starting with '#' starts a comment that runs to the end of the
 *     line. A bad line fails the whole load with its line number (never its
 *     content: the line carries a hash).
 *
 * Lookups read an immutable table through a reference count; a refresh
 * builds a new table away from the readers and swaps one pointer, so a
 * lookup never waits for the database or the file, and a failed refresh
 * keeps serving the previous table (and logs a warning without secrets).
 * Every function is thread-safe.
 *
 * Accepted header value (decided here; RFC 7235 / RFC 6750 style):
 *   - optional leading and trailing spaces or tabs (HTTP's OWS);
 *   - the scheme "Bearer", in any case ("bearer", "BEARER");
 *   - one or more spaces (only SP, as in RFC 7235's 1*SP);
 *   - the key: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
 *     *"=" (RFC 6750's b64token); nothing else may follow.
 * Anything else (other scheme, no key, two tokens, CR, LF, NUL, control or
 * non-ASCII bytes, more than TALLY_KEYS_HEADER_MAX bytes) is MALFORMED and
 * is rejected before any hashing.
 */
#ifndef TALLY_GATEWAY_KEYS_H
#define TALLY_GATEWAY_KEYS_H

#include <stddef.h>
#include <stdint.h>

/* Longest Authorization header value looked at, in bytes. */
#define TALLY_KEYS_HEADER_MAX 512
/* Longest tenant_id or environment_id, in bytes; ids are printable ASCII
 * without spaces. Buffers of TALLY_KEYS_ID_SIZE bytes always suffice. */
#define TALLY_KEYS_ID_MAX 128
#define TALLY_KEYS_ID_SIZE (TALLY_KEYS_ID_MAX + 1)
/* Size of a key's SHA-256 in lowercase hex, NUL included. */
#define TALLY_KEYS_HEX_SIZE 65

/* tally_keys_lookup results, with the HTTP answer each one calls for. */
typedef enum tally_keys_status_t {
    TALLY_KEYS_OK = 0,
    TALLY_KEYS_MISSING = -1,     /* no header, or an empty one: 401 */
    TALLY_KEYS_MALFORMED = -2,   /* not "Bearer <key>" as above: 401 */
    TALLY_KEYS_UNKNOWN = -3,     /* well formed, not an active key: 401 */
    TALLY_KEYS_UNAVAILABLE = -4, /* no table loaded yet: 503 + Retry-After */
    TALLY_KEYS_TOO_SMALL = -5,   /* caller's id buffer too small: a bug, 500 */
} tally_keys_status_t;

typedef struct tally_keys_t tally_keys_t;

typedef struct tally_keys_stats_t {
    size_t active;             /* keys in the table served now */
    uint64_t refreshes_ok;
    uint64_t refreshes_failed;
} tally_keys_stats_t;

/* Returns an owned key store reading path (copied) or PostgreSQL at
 * conninfo (copied; a postgresql:// URL or key=value list). Nothing is
 * loaded yet: until the first successful tally_keys_refresh every lookup
 * answers TALLY_KEYS_UNAVAILABLE. Never NULL (allocation failure aborts). */
tally_keys_t *tally_keys_new_file(const char *path);
tally_keys_t *tally_keys_new_postgres(const char *conninfo);

/* Stops the refresh thread if running, frees every table. NULL is a no-op.
 * No lookup may be running or start afterwards. */
void tally_keys_free(tally_keys_t *keys);

/* Loads the source again and, on success, swaps the new table in; the old
 * one is freed when its last reader is done. On failure, returns -1 with
 * the reason in errbuf (line numbers, the server's message; never a key or
 * hash), logs a warning and keeps the previous table. Refreshes are
 * serialized; the PostgreSQL connection is kept between them and reopened
 * after an error. */
int tally_keys_refresh(tally_keys_t *keys, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Starts a thread calling tally_keys_refresh every interval_ms (>= 10)
 * after waiting interval_ms, so do the first refresh yourself. Returns 0,
 * or -1 with the reason in errbuf (already running, bad interval, thread
 * creation failed). */
int tally_keys_start_refresh(tally_keys_t *keys, int64_t interval_ms,
                             char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Wakes the refresh thread and joins it; it finishes a refresh in flight
 * first. A no-op when no thread runs. */
void tally_keys_stop_refresh(tally_keys_t *keys);

/* Authenticates an Authorization header value (borrowed; NULL when the
 * header is absent). On TALLY_KEYS_OK copies the key's tenant_id and
 * environment_id, NUL-terminated, into tenant and env (caller's buffers,
 * TALLY_KEYS_ID_SIZE bytes suffice); on any other result leaves them
 * alone. The presented key is hashed with SHA-256 and compared with the
 * stored digests in constant time. Never logs. */
int tally_keys_lookup(tally_keys_t *keys, const char *authorization,
                      char *tenant, size_t tenant_size, char *env, size_t env_size)
    __attribute__((warn_unused_result));

/* The same for a value of len bytes that may contain NUL bytes (as from
 * MHD_lookup_connection_value_n): a NUL inside makes it MALFORMED. */
int tally_keys_lookup_n(tally_keys_t *keys, const char *authorization, size_t len,
                        char *tenant, size_t tenant_size, char *env, size_t env_size)
    __attribute__((warn_unused_result));

/* A short, constant description of a tally_keys_status_t value for the
 * "detail" of an error answer ("missing bearer token", ...). */
const char *tally_keys_describe(int status);

/* Counters for /metrics and /readyz. */
void tally_keys_stats(tally_keys_t *keys, tally_keys_stats_t *out);

/* Writes the lowercase hex SHA-256 of key (len bytes, borrowed) into hex,
 * as stored in tally.api_keys.key_sha256 and in key files. */
void tally_keys_hash_hex(const char *key, size_t len, char hex[TALLY_KEYS_HEX_SIZE]);

#endif /* TALLY_GATEWAY_KEYS_H */
