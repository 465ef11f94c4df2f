#include "pg_migrate.h"

#include "pg.h"

#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY "7345210011"   /* pg_advisory_lock key: "tally migrate" */
#define MIGRATE_MAX_FILE (16 * 1024 * 1024)

typedef struct {
    char *name;
    char *sql;
    char sha256[crypto_hash_sha256_BYTES * 2 + 1];
    int applied;               /* recorded in tally.schema_migrations */
} migration_t;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "tally: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static int cmp_migration(const void *a, const void *b)
{
    return strcmp(((const migration_t *)a)->name, ((const migration_t *)b)->name);
}

static void free_migrations(migration_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].name);
        free(m[i].sql);
    }
    free(m);
}

static int read_file(const char *path, char **out, char *errbuf, size_t errsize)
{
    int rc = -1;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errsize, "migration %s: %s", path, strerror(errno));
        return -1;
    }
    buf = xmalloc(MIGRATE_MAX_FILE + 1);
    size_t n = fread(buf, 1, MIGRATE_MAX_FILE + 1, f);
    if (ferror(f)) {
        snprintf(errbuf, errsize, "migration %s: read error", path);
        goto cleanup;
    }
    if (n > MIGRATE_MAX_FILE) {
        snprintf(errbuf, errsize, "migration %s: larger than %d bytes", path, MIGRATE_MAX_FILE);
        goto cleanup;
    }
    if (memchr(buf, '\0', n) != NULL) {
        snprintf(errbuf, errsize, "migration %s: contains a NUL byte (not SQL text)", path);
        goto cleanup;
    }
    buf[n] = '\0';
    *out = buf;
    buf = NULL;
    rc = 0;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

/* Lists dir's migrations in name order; every .sql file must be well named. */
static int list_migrations(const char *dir, migration_t **out, size_t *count,
                           char *errbuf, size_t errsize)
{
    int rc = -1;
    regex_t re;
    migration_t *m = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(errbuf, errsize, "migrations folder %s: %s", dir, strerror(errno));
        return -1;
    }
    if (regcomp(&re, "^[0-9]{4}_[a-z0-9_]+\\.sql$", REG_EXTENDED | REG_NOSUB) != 0)
        abort();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 4, ".sql") != 0)
            continue;
        if (regexec(&re, e->d_name, 0, NULL, 0) != 0) {
            snprintf(errbuf, errsize,
                     "migration %s/%s: name must be NNNN_lowercase_words.sql", dir, e->d_name);
            goto cleanup;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            migration_t *grown = realloc(m, cap * sizeof *m);
            if (grown == NULL)
                abort();
            m = grown;
        }
        memset(&m[n], 0, sizeof m[n]);
        m[n].name = xstrdup(e->d_name);
        n++;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (read_file(path, &m[n - 1].sql, errbuf, errsize) != 0)
            goto cleanup;
        unsigned char hash[crypto_hash_sha256_BYTES];
        crypto_hash_sha256(hash, (const unsigned char *)m[n - 1].sql, strlen(m[n - 1].sql));
        sodium_bin2hex(m[n - 1].sha256, sizeof m[n - 1].sha256, hash, sizeof hash);
    }
    if (n > 0)
        qsort(m, n, sizeof *m, cmp_migration);
    *out = m;
    *count = n;
    m = NULL;
    rc = 0;
cleanup:
    if (m != NULL)
        free_migrations(m, n);
    regfree(&re);
    closedir(d);
    return rc;
}

static migration_t *find_migration(migration_t *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return &m[i];
    return NULL;
}

static int apply_one(PGconn *conn, const migration_t *m, char *errbuf, size_t errsize)
{
    char pgerr[512];
    if (tally_pg_exec(conn, "BEGIN", pgerr, sizeof pgerr) != 0)
        goto fail;
    if (tally_pg_exec(conn, m->sql, pgerr, sizeof pgerr) != 0)
        goto fail;
    const char *params[2] = {m->name, m->sha256};
    PGresult *res = PQexecParams(conn,
        "INSERT INTO tally.schema_migrations (name, sha256) VALUES ($1, $2)",
        2, NULL, params, NULL, NULL, 0);
    int rc = tally_pg_check(res, conn, pgerr, sizeof pgerr);
    PQclear(res);
    if (rc != 0)
        goto fail;
    if (tally_pg_exec(conn, "COMMIT", pgerr, sizeof pgerr) != 0)
        goto fail;
    return 0;
fail:
    tally_pg_rollback_quietly(conn);
    snprintf(errbuf, errsize, "migration %s failed and was rolled back: %s", m->name, pgerr);
    return -1;
}

int tally_migrate_apply(PGconn *conn, const char *dir, int *applied,
                        char *errbuf, size_t errsize)
{
    int rc = -1, locked = 0, count = 0;
    migration_t *m = NULL;
    size_t n = 0;
    PGresult *res = NULL;
    char pgerr[512];

    if (sodium_init() < 0) {
        snprintf(errbuf, errsize, "libsodium failed to initialize");
        return -1;
    }
    if (list_migrations(dir, &m, &n, errbuf, errsize) != 0)
        goto cleanup;
    if (n == 0) {
        snprintf(errbuf, errsize, "migrations folder %s holds no NNNN_name.sql file", dir);
        goto cleanup;
    }
    if (tally_pg_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", pgerr, sizeof pgerr) != 0) {
        snprintf(errbuf, errsize, "migrate: cannot take the migration lock: %s", pgerr);
        goto cleanup;
    }
    locked = 1;
    if (tally_pg_exec(conn,
            "SET client_min_messages = warning;"
            "CREATE SCHEMA IF NOT EXISTS tally;"
            "CREATE TABLE IF NOT EXISTS tally.schema_migrations ("
            "  name text PRIMARY KEY, sha256 text NOT NULL,"
            "  applied_at timestamptz NOT NULL DEFAULT now())",
            pgerr, sizeof pgerr) != 0) {
        snprintf(errbuf, errsize, "migrate: cannot create tally.schema_migrations: %s", pgerr);
        goto cleanup;
    }
    res = PQexec(conn, "SELECT name, sha256 FROM tally.schema_migrations ORDER BY name");
    if (tally_pg_check(res, conn, pgerr, sizeof pgerr) != 0) {
        snprintf(errbuf, errsize, "migrate: cannot read tally.schema_migrations: %s", pgerr);
        goto cleanup;
    }
    /* Verify the recorded history before applying anything new. */
    const char *last_applied = NULL;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        migration_t *f = find_migration(m, n, name);
        if (f == NULL) {
            snprintf(errbuf, errsize, "migration %s was applied but is missing from %s", name, dir);
            goto cleanup;
        }
        if (strcmp(f->sha256, PQgetvalue(res, i, 1)) != 0) {
            snprintf(errbuf, errsize,
                     "migration %s/%s changed after it was applied (sha256 %.12s…, recorded %.12s…): "
                     "add a new migration instead of editing an applied one",
                     dir, name, f->sha256, PQgetvalue(res, i, 1));
            goto cleanup;
        }
        f->applied = 1;
        last_applied = name;
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].applied)
            continue;
        if (last_applied != NULL && strcmp(m[i].name, last_applied) < 0) {
            snprintf(errbuf, errsize,
                     "migration %s is new but sorts before the applied %s: renumber it", m[i].name,
                     last_applied);
            goto cleanup;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].applied)
            continue;
        if (apply_one(conn, &m[i], errbuf, errsize) != 0)
            goto cleanup;
        count++;
    }
    if (applied)
        *applied = count;
    rc = 0;
cleanup:
    PQclear(res);
    if (locked)
        PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
    free_migrations(m, n);
    return rc;
}
