/*
 * keys.h: environment API keys for the usage and seat routes.
 *
 * Reporters send "Authorization: Bearer <key>". The gateway never holds a
 * key: it knows the SHA-256 of every valid key, each mapped to the
 * (tenant_id, environment_id, environment kind) it was issued for, from one
 * of two sources:
 *
 *   - PostgreSQL, the view tally.gateway_keys (migration 0005): keys not
 *     revoked, of environments not deleted, of tenants that exist; the
 *     gateway needs nothing else, so it can connect as the tally_gateway
 *     role, which may read that view only;
 *   - a file, for a setup without PostgreSQL: one key per line,
 *       <sha256 hex, 64 digits> <tenant_id> <environment_id> [<kind>]
 *     where kind is production, staging or development. A line without a
 *     kind (the format before it existed) is a production key, so key
 *     files written for earlier versions keep working as they did; the load
 *     says how many such lines it found. Fields are separated by spaces or
 *     tabs; blank lines are skipped and a field starting with '#' starts a
 *     comment that runs to the end of the line. A bad line fails the whole
 *     load with its line number (never its content: the line carries a
 *     hash).
 *
 * The environment kind decides what a key may write. Seat events change a
 * tenant's licensed seat count, which is tenant-wide, so they need a key of
 * a production environment: a staging or development key gets 403 (the
 * gateway checks this before reading the body). Usage reports go to the
 * key's own environment, whatever its kind.
 *
 * Lookups read an immutable table through a reference count; a refresh
 * builds a new table away from the readers and swaps one pointer, so a
 * lookup never waits for the database or the file, and a failed refresh
 * keeps serving the previous table (and logs a warning without secrets) --
 * but not forever: once the last successful load is older than max_stale_ms
 * (tally_keys_configure), lookups answer TALLY_KEYS_STALE (503), since a key
 * revoked since then would still pass. Refreshes run on their own thread
 * (tally_keys_start_refresh, tally_keys_request_refresh); a PostgreSQL read
 * gives up after timeout_ms, and stopping the thread interrupts it at once
 * (keys_pg.h), so a hung database never holds up a shutdown.
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
/* Shortest admin token accepted (tally_keys_check_admin_token). */
#define TALLY_KEYS_ADMIN_TOKEN_MIN 32
/* Defaults of tally_keys_limits_t. */
#define TALLY_KEYS_DEFAULT_TIMEOUT_MS 10000

/* tally_keys_lookup results, with the HTTP answer each one calls for. */
typedef enum tally_keys_status_t {
    TALLY_KEYS_OK = 0,
    TALLY_KEYS_MISSING = -1,     /* no header, or an empty one: 401 */
    TALLY_KEYS_MALFORMED = -2,   /* not "Bearer <key>" as above: 401 */
    TALLY_KEYS_UNKNOWN = -3,     /* well formed, not an active key: 401 */
    TALLY_KEYS_UNAVAILABLE = -4, /* no table loaded yet: 503 + Retry-After */
    TALLY_KEYS_TOO_SMALL = -5,   /* caller's id buffer too small: a bug, 500 */
    TALLY_KEYS_STALE = -6,       /* last load older than max_stale_ms: 503 + Retry-After */
} tally_keys_status_t;

/* The kind of the environment a key was issued for. */
typedef enum tally_keys_kind_t {
    TALLY_KEYS_PRODUCTION = 0,
    TALLY_KEYS_STAGING = 1,
    TALLY_KEYS_DEVELOPMENT = 2,
} tally_keys_kind_t;

/* Who a key speaks for. */
typedef struct tally_keys_identity_t {
    char tenant[TALLY_KEYS_ID_SIZE];
    char env[TALLY_KEYS_ID_SIZE];
    tally_keys_kind_t kind;
} tally_keys_identity_t;

typedef struct tally_keys_t tally_keys_t;

typedef struct tally_keys_limits_t {
    int64_t timeout_ms;        /* a PostgreSQL refresh (connect and query) at
                                  most; >= 100 (default 10 s) */
    int64_t max_stale_ms;      /* lookups answer TALLY_KEYS_STALE once the last
                                  successful load is older; 0: never (default) */
} tally_keys_limits_t;

typedef struct tally_keys_stats_t {
    size_t active;             /* keys in the table served now */
    uint64_t refreshes_ok;
    uint64_t refreshes_failed;
    int64_t age_ms;            /* since the last successful load; -1: none yet */
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

/* Sets the limits (copied) before any refresh; values out of range keep
 * their defaults. */
void tally_keys_configure(tally_keys_t *keys, const tally_keys_limits_t *limits);

/* Loads the source again and, on success, swaps the new table in; the old
 * one is freed when its last reader is done. On failure, returns -1 with
 * the reason in errbuf (line numbers, the server's message; never a key or
 * hash), logs a warning and keeps the previous table. Refreshes are
 * serialized; the PostgreSQL connection is kept between them and reopened
 * after an error. */
int tally_keys_refresh(tally_keys_t *keys, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Starts a thread calling tally_keys_refresh at once, then every
 * interval_ms (>= 10) and whenever tally_keys_request_refresh asks. Returns
 * 0, or -1 with the reason in errbuf (already running, bad interval, thread
 * creation failed). */
int tally_keys_start_refresh(tally_keys_t *keys, int64_t interval_ms,
                             char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Asks the refresh thread for a refresh now (SIGHUP) and returns at once;
 * a request made during a refresh gets one more after it. Returns -1 when
 * no thread runs. */
int tally_keys_request_refresh(tally_keys_t *keys);

/* Wakes the refresh thread and joins it; a PostgreSQL refresh in flight is
 * abandoned at once (its connection closed), a file read finishes first.
 * A no-op when no thread runs. */
void tally_keys_stop_refresh(tally_keys_t *keys);

/* Whether lookups can succeed now: 0, or -1 with the reason in why (no
 * table loaded yet; the table is stale, with its age). For /readyz. */
int tally_keys_ready(tally_keys_t *keys, char *why, size_t whysize);

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

/* The same, with the environment's kind: fills *out on TALLY_KEYS_OK. */
int tally_keys_identify_n(tally_keys_t *keys, const char *authorization, size_t len,
                          tally_keys_identity_t *out) __attribute__((warn_unused_result));

/* Finds the token of an Authorization value of len bytes (borrowed; NULL
 * when absent) in the form above: TALLY_KEYS_OK with *token pointing into
 * it, or TALLY_KEYS_MISSING / TALLY_KEYS_MALFORMED. */
int tally_keys_parse_bearer(const char *authorization, size_t len, const char **token, size_t *token_len)
    __attribute__((warn_unused_result));

/* Checks an admin token (borrowed) at startup: at least
 * TALLY_KEYS_ADMIN_TOKEN_MIN characters, each one a bearer token may hold
 * (see above), or -1 with the reason in errbuf (never the token). */
int tally_keys_check_admin_token(const char *token, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* "production", "staging" or "development". */
const char *tally_keys_kind_name(tally_keys_kind_t kind);

/* A short, constant description of a tally_keys_status_t value for the
 * "detail" of an error answer ("missing bearer token", ...). */
const char *tally_keys_describe(int status);

/* Counters for /metrics and /readyz. */
void tally_keys_stats(tally_keys_t *keys, tally_keys_stats_t *out);

/* Writes the lowercase hex SHA-256 of key (len bytes, borrowed) into hex,
 * as stored in tally.api_keys.key_sha256 and in key files. */
void tally_keys_hash_hex(const char *key, size_t len, char hex[TALLY_KEYS_HEX_SIZE]);

#endif /* TALLY_GATEWAY_KEYS_H */
