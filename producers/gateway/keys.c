#include "keys.h"

#include "keys_pg.h"
#include "linefile.h"
#include "log.h"
#include "pg.h"
#include "snapshot.h"
#include "timeutil.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define KEYS_DIGEST_BYTES crypto_hash_sha256_BYTES
#define KEYS_LINE_MAX 1024
#define KEYS_VIEW "tally.gateway_keys"
#define KEYS_QUERY "SELECT key_sha256, tenant_id, environment_id, environment_kind FROM " KEYS_VIEW

static const char *const kind_names[] = {"production", "staging", "development"};

typedef struct {
    unsigned char digest[KEYS_DIGEST_BYTES];
    uint32_t tenant;           /* offsets into the table's strings */
    uint32_t env;
    tally_keys_kind_t kind;
} key_entry_t;

/* A tally_snapshot_alloc block: immutable once published. */
typedef struct {
    size_t count, cap;
    key_entry_t *entries;
    size_t mask;               /* slots - 1 */
    uint32_t *slots;           /* entry index + 1; 0 is empty */
    char *strings;
    size_t strings_len, strings_cap;
    long *origin;              /* while building: line or row of each entry */
    long kindless;             /* while building: file lines without a kind */
} key_table_t;

typedef enum { KEYS_SOURCE_FILE, KEYS_SOURCE_POSTGRES } keys_source_t;

struct tally_keys_t {
    keys_source_t source;
    char *location;            /* path or conninfo */

    tally_snapshot_t *tables;  /* the key_table_t served now */
    tally_keys_limits_t limits;
    atomic_int_fast64_t loaded_ms; /* monotonic time of the last successful load; 0: none */

    pthread_mutex_t refresh_lock; /* serializes refreshes; guards pg */
    tally_keys_pg_t *pg;
    long kindless_said;        /* file lines without a kind at the last load */
    atomic_uint_fast64_t refreshes_ok, refreshes_failed;
    int stop_pipe[2];          /* readable while a stop is requested */

    pthread_mutex_t thread_lock; /* guards the fields below */
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stopping, requested;
    int64_t interval_ms;
};

static void sodium_init_or_abort(void)
{
    if (sodium_init() < 0) {
        fputs("tally: libsodium failed to initialize\n", stderr);
        abort();
    }
}

/* ---- tables ------------------------------------------------------------ */

/* The snapshot's destroy callback. */
static void table_destroy(void *table)
{
    key_table_t *t = table;
    /* Digests of keys are credentials' fingerprints: wipe them. */
    if (t->entries != NULL)
        sodium_memzero(t->entries, t->cap * sizeof *t->entries);
    free(t->entries);
    free(t->slots);
    free(t->strings);
    free(t->origin);
}

static key_table_t *table_new(void)
{
    return tally_snapshot_alloc(sizeof(key_table_t), table_destroy);
}

static uint32_t table_intern(key_table_t *t, const char *s, size_t len)
{
    if (t->strings_len + len + 1 > t->strings_cap) {
        t->strings_cap = (t->strings_len + len + 1) * 2 + 256;
        if (t->strings_cap > UINT32_MAX) {
            fputs("tally: api key table strings exceed 4 GiB\n", stderr);
            abort();
        }
        t->strings = tally_xrealloc(t->strings, t->strings_cap, 1);
    }
    uint32_t off = (uint32_t)t->strings_len;
    memcpy(t->strings + off, s, len);
    t->strings[off + len] = '\0';
    t->strings_len += len + 1;
    return off;
}

/* SHA-256 output is uniform, so its first bytes make a good slot index. */
static size_t digest_slot(const unsigned char *digest, size_t mask)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & mask;
}

static void table_append(key_table_t *t, long origin, const unsigned char *digest,
                         const char *tenant, size_t tenant_len, const char *env, size_t env_len,
                         tally_keys_kind_t kind)
{
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->entries = tally_xrealloc(t->entries, t->cap, sizeof *t->entries);
        t->origin = tally_xrealloc(t->origin, t->cap, sizeof *t->origin);
    }
    t->origin[t->count] = origin;
    key_entry_t *e = &t->entries[t->count++];
    memcpy(e->digest, digest, KEYS_DIGEST_BYTES);
    e->tenant = table_intern(t, tenant, tenant_len);
    e->env = table_intern(t, env, env_len);
    e->kind = kind;
}

static const key_entry_t *table_find(const key_table_t *t, const unsigned char *digest)
{
    for (size_t i = digest_slot(digest, t->mask);; i = (i + 1) & t->mask) {
        uint32_t slot = t->slots[i];
        if (slot == 0)
            return NULL;
        const key_entry_t *e = &t->entries[slot - 1];
        if (sodium_memcmp(e->digest, digest, KEYS_DIGEST_BYTES) == 0)
            return e;
    }
}

/* Builds the open-addressing index (load factor <= 1/2). Returns 0, or -1
 * naming by line or row (never by hash) an entry that repeats an earlier one. */
static int table_index(key_table_t *t, const char *source, const char *unit, char *errbuf,
                       size_t errsize)
{
    size_t n = 16;
    while (n < t->count * 2)
        n *= 2;
    t->mask = n - 1;
    t->slots = tally_xcalloc(n, sizeof *t->slots);
    for (size_t k = 0; k < t->count; k++) {
        size_t i = digest_slot(t->entries[k].digest, t->mask);
        for (; t->slots[i] != 0; i = (i + 1) & t->mask)
            if (sodium_memcmp(t->entries[t->slots[i] - 1].digest, t->entries[k].digest,
                              KEYS_DIGEST_BYTES) == 0) {
                snprintf(errbuf, errsize, "%s %s %ld: same key as %s %ld", source, unit,
                         t->origin[k], unit, t->origin[t->slots[i] - 1]);
                return -1;
            }
        t->slots[i] = (uint32_t)(k + 1);
    }
    free(t->origin);
    t->origin = NULL;
    return 0;
}

/* Ids are printable ASCII without spaces, 1..TALLY_KEYS_ID_MAX bytes. */
static bool id_valid(const char *s, size_t len)
{
    if (len == 0 || len > TALLY_KEYS_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Exactly 64 hex digits (either case) into 32 bytes. */
static bool hex_digest(const char *hex, size_t len, unsigned char *digest)
{
    size_t bin_len = 0;
    const char *end = NULL;
    if (len != KEYS_DIGEST_BYTES * 2)
        return false;
    if (sodium_hex2bin(digest, KEYS_DIGEST_BYTES, hex, len, NULL, &bin_len, &end) != 0)
        return false;
    return bin_len == KEYS_DIGEST_BYTES && end == hex + len;
}

/* production, staging or development (exactly, lowercase) into *kind. */
static bool kind_parse(const char *s, size_t len, tally_keys_kind_t *kind)
{
    for (size_t k = 0; k < sizeof kind_names / sizeof kind_names[0]; k++)
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], s, len) == 0) {
            *kind = (tally_keys_kind_t)k;
            return true;
        }
    return false;
}

/* ---- file source ------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits line into at most 5 fields (a 5th means too many); a field
 * starting with '#' ends the line. Returns the number of fields. */
static int split_fields(char *line, const char **field, size_t *len)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (is_blank(*p))
            p++;
        if (*p == '\0' || *p == '#' || n == 5)
            return n;
        field[n] = p;
        while (*p != '\0' && !is_blank(*p))
            p++;
        len[n] = (size_t)(p - field[n]);
        n++;
    }
}

/* A tally_linefile_fn: one "<sha256-hex> <tenant_id> <environment_id> [<kind>]". */
static int load_line(void *cls, char *line, size_t len, long lineno, char *errbuf,
                     size_t errsize)
{
    key_table_t *t = cls;
    const char *field[5];
    size_t flen[5];
    unsigned char digest[KEYS_DIGEST_BYTES];
    tally_keys_kind_t kind = TALLY_KEYS_PRODUCTION;
    (void)len;
    int nf = split_fields(line, field, flen);
    if (nf == 0)
        return 0;
    if (nf != 3 && nf != 4) {
        snprintf(errbuf, errsize,
                 "expected <sha256-hex> <tenant_id> <environment_id> [<kind>], found %s%d field(s)",
                 nf > 4 ? "more than " : "", nf > 4 ? 4 : nf);
        return -1;
    }
    if (nf == 4 && !kind_parse(field[3], flen[3], &kind)) {
        snprintf(errbuf, errsize, "the kind (4th field) must be production, staging or development");
        return -1;
    }
    t->kindless += nf == 3;
    int rc = -1;
    if (!hex_digest(field[0], flen[0], digest)) {
        snprintf(errbuf, errsize, "first field is not a SHA-256 in hex (64 hex digits)");
        goto cleanup;
    }
    if (!id_valid(field[1], flen[1]) || !id_valid(field[2], flen[2])) {
        snprintf(errbuf, errsize,
                 "tenant_id and environment_id must be 1 to %d printable ASCII bytes",
                 TALLY_KEYS_ID_MAX);
        goto cleanup;
    }
    table_append(t, lineno, digest, field[1], flen[1], field[2], flen[2], kind);
    rc = 0;
cleanup:
    sodium_memzero(digest, sizeof digest);
    return rc;
}

static int load_file(const char *path, key_table_t *t, char *errbuf, size_t errsize)
{
    return tally_linefile_read(path, "api keys", KEYS_LINE_MAX, load_line, t, errbuf, errsize);
}

/* ---- PostgreSQL source ------------------------------------------------- */

static int load_postgres(tally_keys_t *keys, key_table_t *t, char *errbuf, size_t errsize)
{
    char pgerr[512];
    unsigned char digest[KEYS_DIGEST_BYTES];
    long skipped = 0;
    int first_skipped = -1;
    PGresult *res = tally_keys_pg_query(keys->pg, KEYS_QUERY, keys->limits.timeout_ms, keys->stop_pipe[0],
                                        pgerr, sizeof pgerr);
    if (res == NULL) {
        snprintf(errbuf, errsize, "api keys: reading " KEYS_VIEW " failed: %s", pgerr);
        return -1;
    }
    if (PQnfields(res) != 4) {
        snprintf(errbuf, errsize, "api keys: " KEYS_VIEW " returned %d columns, expected 4", PQnfields(res));
        PQclear(res);
        return -1;
    }
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *hex = PQgetvalue(res, r, 0);
        const char *tenant = PQgetvalue(res, r, 1);
        const char *env = PQgetvalue(res, r, 2);
        size_t tenant_len = (size_t)PQgetlength(res, r, 1);
        size_t env_len = (size_t)PQgetlength(res, r, 2);
        tally_keys_kind_t kind;
        if (!hex_digest(hex, (size_t)PQgetlength(res, r, 0), digest) ||
            !id_valid(tenant, tenant_len) || !id_valid(env, env_len) ||
            !kind_parse(PQgetvalue(res, r, 3), (size_t)PQgetlength(res, r, 3), &kind)) {
            /* One odd row must not lock every other reporter out. */
            if (skipped++ == 0)
                first_skipped = r;
            continue;
        }
        table_append(t, r + 1, digest, tenant, tenant_len, env, env_len, kind);
    }
    if (skipped > 0)
        tally_log_warn("gateway",
                       "api keys: skipped %ld row(s) of " KEYS_VIEW " with an id that is not 1 to %d "
                       "printable ASCII bytes or an unknown kind (first: row %d of the result)",
                       skipped, TALLY_KEYS_ID_MAX, first_skipped);
    sodium_memzero(digest, sizeof digest);
    PQclear(res);
    return 0;
}

/* ---- store ------------------------------------------------------------- */

static tally_keys_t *keys_new(keys_source_t source, const char *location)
{
    sodium_init_or_abort();
    tally_keys_t *keys = tally_xcalloc(1, sizeof *keys);
    keys->source = source;
    keys->location = tally_xstrdup(location);
    keys->tables = tally_snapshot_new();
    keys->limits.timeout_ms = TALLY_KEYS_DEFAULT_TIMEOUT_MS;
    keys->limits.max_stale_ms = 0;
    atomic_init(&keys->loaded_ms, 0);
    if (source == KEYS_SOURCE_POSTGRES)
        keys->pg = tally_keys_pg_new(location);
    if (pipe(keys->stop_pipe) != 0) {
        fprintf(stderr, "tally: pipe: %s\n", strerror(errno));
        abort();
    }
    for (int i = 0; i < 2; i++) {
        fcntl(keys->stop_pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(keys->stop_pipe[i], F_SETFL, O_NONBLOCK);
    }
    pthread_mutex_init(&keys->refresh_lock, NULL);
    pthread_mutex_init(&keys->thread_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&keys->wake, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&keys->refreshes_ok, 0);
    atomic_init(&keys->refreshes_failed, 0);
    return keys;
}

tally_keys_t *tally_keys_new_file(const char *path)
{
    return keys_new(KEYS_SOURCE_FILE, path);
}

tally_keys_t *tally_keys_new_postgres(const char *conninfo)
{
    return keys_new(KEYS_SOURCE_POSTGRES, conninfo);
}

void tally_keys_free(tally_keys_t *keys)
{
    if (keys == NULL)
        return;
    tally_keys_stop_refresh(keys);
    tally_snapshot_free(keys->tables);
    tally_keys_pg_free(keys->pg);
    close(keys->stop_pipe[0]);
    close(keys->stop_pipe[1]);
    pthread_cond_destroy(&keys->wake);
    pthread_mutex_destroy(&keys->thread_lock);
    pthread_mutex_destroy(&keys->refresh_lock);
    /* conninfo may carry a password. */
    sodium_memzero(keys->location, strlen(keys->location));
    free(keys->location);
    free(keys);
}

/* Whether tally_keys_stop_refresh asked the refresh to end. */
static bool stop_pending(tally_keys_t *keys)
{
    struct pollfd pfd = {.fd = keys->stop_pipe[0], .events = POLLIN};
    return poll(&pfd, 1, 0) == 1;
}

void tally_keys_configure(tally_keys_t *keys, const tally_keys_limits_t *limits)
{
    if (limits->timeout_ms >= 100)
        keys->limits.timeout_ms = limits->timeout_ms;
    if (limits->max_stale_ms >= 0)
        keys->limits.max_stale_ms = limits->max_stale_ms;
}

int tally_keys_refresh(tally_keys_t *keys, char *errbuf, size_t errsize)
{
    int rc = -1;
    char msg[1024], source[640];
    bool file = keys->source == KEYS_SOURCE_FILE;
    key_table_t *t = table_new();
    /* Held to the swap: refreshes publish in the order they read. */
    pthread_mutex_lock(&keys->refresh_lock);
    if (file)
        rc = load_file(keys->location, t, msg, sizeof msg);
    else
        rc = load_postgres(keys, t, msg, sizeof msg);
    if (rc != 0)
        goto cleanup;
    snprintf(source, sizeof source, "%s%s", file ? "api keys file " : "api keys:",
             file ? keys->location : "");
    rc = table_index(t, source, file ? "line" : KEYS_VIEW " row", msg, sizeof msg);
    if (rc != 0)
        goto cleanup;
    tally_log_debug("gateway", "api keys: %zu active key(s) loaded", t->count);
    /* Said once, not at every refresh: again only when the count changes. */
    if (t->kindless > 0 && t->kindless != keys->kindless_said)
        tally_log_info("gateway", "api keys file: %ld line(s) without a kind count as production keys "
                       "(they may send seat events); add production, staging or development as a 4th field",
                       t->kindless);
    keys->kindless_said = t->kindless;
    atomic_store(&keys->loaded_ms, tally_mono_ms());
    /* The old table is freed once its last reader is done. */
    tally_snapshot_replace(keys->tables, t);
    t = NULL;
    atomic_fetch_add(&keys->refreshes_ok, 1);
cleanup:
    if (rc != 0 && stop_pending(keys)) {
        tally_log_debug("gateway", "api keys: refresh abandoned: stopping");
        snprintf(errbuf, errsize, "%s", msg);
    } else if (rc != 0) {
        atomic_fetch_add(&keys->refreshes_failed, 1);
        const key_table_t *served = tally_snapshot_acquire(keys->tables);
        if (served != NULL)
            tally_log_warn("gateway", "api keys: refresh failed, keeping the %zu key(s) "
                           "loaded before: %s", served->count, msg);
        else
            tally_log_warn("gateway", "api keys: refresh failed, no keys loaded yet: %s", msg);
        tally_snapshot_release(served);
        snprintf(errbuf, errsize, "%s", msg);
    }
    pthread_mutex_unlock(&keys->refresh_lock);
    tally_snapshot_release(t);
    return rc;
}

static void *refresh_main(void *arg)
{
    tally_keys_t *keys = arg;
    char err[1024];
    pthread_mutex_lock(&keys->thread_lock);
    while (!keys->stopping) {
        keys->requested = false;
        pthread_mutex_unlock(&keys->thread_lock);
        if (tally_keys_refresh(keys, err, sizeof err) != 0) {
            /* Logged inside; the previous table stays. */
        }
        pthread_mutex_lock(&keys->thread_lock);
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += keys->interval_ms / 1000;
        deadline.tv_nsec += (keys->interval_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        int wait_rc = 0;
        while (!keys->stopping && !keys->requested && wait_rc != ETIMEDOUT)
            wait_rc = pthread_cond_timedwait(&keys->wake, &keys->thread_lock, &deadline);
    }
    pthread_mutex_unlock(&keys->thread_lock);
    return NULL;
}

/* Empties the stop pipe: no stop is pending any more. */
static void drain_stop(tally_keys_t *keys)
{
    char buf[16];
    while (read(keys->stop_pipe[0], buf, sizeof buf) > 0) {
    }
}

int tally_keys_start_refresh(tally_keys_t *keys, int64_t interval_ms, char *errbuf,
                             size_t errsize)
{
    int rc = -1;
    if (interval_ms < 10) {
        snprintf(errbuf, errsize, "api keys: refresh interval must be at least 10 ms");
        return -1;
    }
    pthread_mutex_lock(&keys->thread_lock);
    if (keys->running) {
        snprintf(errbuf, errsize, "api keys: refresh thread already running");
        goto cleanup;
    }
    keys->interval_ms = interval_ms;
    keys->stopping = false;
    keys->requested = false;
    drain_stop(keys);
    int err = pthread_create(&keys->thread, NULL, refresh_main, keys);
    if (err != 0) {
        snprintf(errbuf, errsize, "api keys: cannot start refresh thread: %s", strerror(err));
        goto cleanup;
    }
    keys->running = true;
    rc = 0;
cleanup:
    pthread_mutex_unlock(&keys->thread_lock);
    return rc;
}

int tally_keys_request_refresh(tally_keys_t *keys)
{
    pthread_mutex_lock(&keys->thread_lock);
    int rc = keys->running ? 0 : -1;
    keys->requested = true;
    pthread_cond_broadcast(&keys->wake);
    pthread_mutex_unlock(&keys->thread_lock);
    return rc;
}

void tally_keys_stop_refresh(tally_keys_t *keys)
{
    pthread_mutex_lock(&keys->thread_lock);
    if (!keys->running) {
        pthread_mutex_unlock(&keys->thread_lock);
        return;
    }
    keys->stopping = true;
    pthread_cond_broadcast(&keys->wake);
    pthread_mutex_unlock(&keys->thread_lock);
    /* Cuts a PostgreSQL read short (keys_pg.c polls this pipe). */
    if (write(keys->stop_pipe[1], "x", 1) < 0) {
        /* Full already: a stop is pending anyway. */
    }
    pthread_join(keys->thread, NULL);
    drain_stop(keys);
    pthread_mutex_lock(&keys->thread_lock);
    keys->running = false;
    keys->stopping = false;
    pthread_mutex_unlock(&keys->thread_lock);
}

/* Whether the table published now is past max_stale_ms. */
static bool is_stale(tally_keys_t *keys, int64_t *age_ms)
{
    int64_t loaded = atomic_load(&keys->loaded_ms);
    *age_ms = loaded ? tally_mono_ms() - loaded : -1;
    return loaded && keys->limits.max_stale_ms > 0 && *age_ms > keys->limits.max_stale_ms;
}

int tally_keys_ready(tally_keys_t *keys, char *why, size_t whysize)
{
    int64_t age;
    const key_table_t *t = tally_snapshot_acquire(keys->tables);
    bool loaded = t != NULL;
    tally_snapshot_release(t);
    if (!loaded) {
        snprintf(why, whysize, "API keys not loaded yet");
        return -1;
    }
    if (is_stale(keys, &age)) {
        snprintf(why, whysize, "API keys are stale: last loaded %" PRId64 " s ago, more than the %" PRId64
                 " s allowed (--keys-max-stale)", age / 1000, keys->limits.max_stale_ms / 1000);
        return -1;
    }
    return 0;
}

/* ---- lookup ------------------------------------------------------------ */

static bool is_b64token_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

/* Finds the key in a header value; see keys.h for the accepted form. */
int tally_keys_parse_bearer(const char *v, size_t len, const char **key, size_t *key_len)
{
    if (v == NULL)
        return TALLY_KEYS_MISSING;
    if (len > TALLY_KEYS_HEADER_MAX || memchr(v, '\0', len) != NULL)
        return TALLY_KEYS_MALFORMED;
    while (len > 0 && is_blank(v[0])) {
        v++;
        len--;
    }
    while (len > 0 && is_blank(v[len - 1]))
        len--;
    if (len == 0)
        return TALLY_KEYS_MISSING;
    if (len < 7 || strncasecmp(v, "bearer", 6) != 0 || v[6] != ' ')
        return TALLY_KEYS_MALFORMED;
    size_t i = 7;
    while (i < len && v[i] == ' ')
        i++;
    size_t start = i;
    while (i < len && is_b64token_char((unsigned char)v[i]))
        i++;
    if (i == start)
        return TALLY_KEYS_MALFORMED;
    while (i < len && v[i] == '=')
        i++;
    if (i != len)
        return TALLY_KEYS_MALFORMED;
    *key = v + start;
    *key_len = len - start;
    return TALLY_KEYS_OK;
}

int tally_keys_identify_n(tally_keys_t *keys, const char *authorization, size_t len,
                          tally_keys_identity_t *out)
{
    const char *key = NULL;
    size_t key_len = 0;
    int64_t age;
    unsigned char digest[KEYS_DIGEST_BYTES];
    int rc = tally_keys_parse_bearer(authorization, len, &key, &key_len);
    if (rc != TALLY_KEYS_OK)
        return rc;
    crypto_hash_sha256(digest, (const unsigned char *)key, key_len);
    const key_table_t *t = tally_snapshot_acquire(keys->tables);
    if (t == NULL) {
        rc = TALLY_KEYS_UNAVAILABLE;
        goto cleanup;
    }
    if (is_stale(keys, &age)) {
        rc = TALLY_KEYS_STALE;
        goto cleanup;
    }
    const key_entry_t *e = table_find(t, digest);
    if (e == NULL) {
        rc = TALLY_KEYS_UNKNOWN;
        goto cleanup;
    }
    /* Ids are at most TALLY_KEYS_ID_MAX bytes (id_valid), so they fit. */
    snprintf(out->tenant, sizeof out->tenant, "%s", t->strings + e->tenant);
    snprintf(out->env, sizeof out->env, "%s", t->strings + e->env);
    out->kind = e->kind;
    rc = TALLY_KEYS_OK;
cleanup:
    tally_snapshot_release(t);
    sodium_memzero(digest, sizeof digest);
    return rc;
}

int tally_keys_lookup_n(tally_keys_t *keys, const char *authorization, size_t len,
                        char *tenant, size_t tenant_size, char *env, size_t env_size)
{
    tally_keys_identity_t id;
    int rc = tally_keys_identify_n(keys, authorization, len, &id);
    if (rc != TALLY_KEYS_OK)
        return rc;
    size_t tl = strlen(id.tenant), el = strlen(id.env);
    if (tl >= tenant_size || el >= env_size)
        return TALLY_KEYS_TOO_SMALL;
    memcpy(tenant, id.tenant, tl + 1);
    memcpy(env, id.env, el + 1);
    return TALLY_KEYS_OK;
}

int tally_keys_lookup(tally_keys_t *keys, const char *authorization, char *tenant,
                      size_t tenant_size, char *env, size_t env_size)
{
    /* strnlen: a huge header is refused without reading all of it. */
    size_t len = authorization ? strnlen(authorization, TALLY_KEYS_HEADER_MAX + 1) : 0;
    return tally_keys_lookup_n(keys, authorization, len, tenant, tenant_size, env, env_size);
}

int tally_keys_check_admin_token(const char *token, char *errbuf, size_t errsize)
{
    size_t len = strlen(token);
    if (len < TALLY_KEYS_ADMIN_TOKEN_MIN) {
        snprintf(errbuf, errsize, "the admin token is %zu characters long; at least %d are required "
                 "(e.g. head -c 32 /dev/urandom | base64)", len, TALLY_KEYS_ADMIN_TOKEN_MIN);
        return -1;
    }
    if (len > TALLY_KEYS_HEADER_MAX - 7) {
        snprintf(errbuf, errsize, "the admin token is longer than %d characters", TALLY_KEYS_HEADER_MAX - 7);
        return -1;
    }
    const char *tok = NULL;
    size_t tok_len = 0;
    char header[TALLY_KEYS_HEADER_MAX + 1];
    int n = snprintf(header, sizeof header, "Bearer %s", token);
    int rc = tally_keys_parse_bearer(header, (size_t)n, &tok, &tok_len);
    sodium_memzero(header, sizeof header);
    if (rc != TALLY_KEYS_OK || tok_len != len) {
        snprintf(errbuf, errsize, "the admin token may hold only letters, digits and - . _ ~ + / "
                 "(then = padding): a client could not send it as a bearer token");
        return -1;
    }
    return 0;
}

const char *tally_keys_kind_name(tally_keys_kind_t kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0] ? kind_names[kind] : "unknown";
}

const char *tally_keys_describe(int status)
{
    switch (status) {
    case TALLY_KEYS_OK:
        return "ok";
    case TALLY_KEYS_MISSING:
        return "missing bearer token";
    case TALLY_KEYS_MALFORMED:
        return "malformed Authorization header: expected \"Bearer <key>\"";
    case TALLY_KEYS_UNKNOWN:
        return "unknown or revoked API key";
    case TALLY_KEYS_UNAVAILABLE:
        return "API keys not loaded yet";
    case TALLY_KEYS_TOO_SMALL:
        return "internal error: id buffer too small";
    case TALLY_KEYS_STALE:
        return "API keys are stale: they could not be refreshed within --keys-max-stale";
    default:
        return "unknown status";
    }
}

void tally_keys_stats(tally_keys_t *keys, tally_keys_stats_t *out)
{
    const key_table_t *t = tally_snapshot_acquire(keys->tables);
    out->active = t ? t->count : 0;
    tally_snapshot_release(t);
    out->refreshes_ok = atomic_load(&keys->refreshes_ok);
    out->refreshes_failed = atomic_load(&keys->refreshes_failed);
    int64_t loaded = atomic_load(&keys->loaded_ms);
    out->age_ms = loaded ? tally_mono_ms() - loaded : -1;
}

void tally_keys_hash_hex(const char *key, size_t len, char hex[TALLY_KEYS_HEX_SIZE])
{
    unsigned char digest[KEYS_DIGEST_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)key, len);
    sodium_bin2hex(hex, TALLY_KEYS_HEX_SIZE, digest, sizeof digest);
    sodium_memzero(digest, sizeof digest);
}
