/* The migration runner against the real PostgreSQL: each migration applied
 * once and in order; a tampered, missing, misnamed or failing migration is
 * refused with an error naming it, and changes nothing it should not. */
#include "fixtures.h"
#include "pg.h"
#include "pg_migrate.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char db[128], dir[256], errbuf[1024];
static PGconn *conn;

static void setup(void)
{
    conn = tally_test_db_create("tally_test_migrate", db, sizeof db);
    snprintf(dir, sizeof dir, "/tmp/tally-migrations-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    tally_test_db_drop(conn, db);
}

static void put(const char *name, const char *sql)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(sql, f);
    fclose(f);
}

static long long scalar(const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(res));
    long long v = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static int apply(int *applied)
{
    errbuf[0] = '\0';
    return tally_migrate_apply(conn, dir, applied, errbuf, sizeof errbuf);
}

TestSuite(pg_migrate, .init = setup, .fini = teardown);

Test(pg_migrate, applies_in_order_exactly_once)
{
    int applied = -1;
    put("0002_b.sql", "INSERT INTO tally.t VALUES (2);");
    put("0001_a.sql", "CREATE TABLE tally.t (v int); INSERT INTO tally.t VALUES (1);");
    put("README.md", "not a migration");
    cr_assert_eq(apply(&applied), 0, "%s", errbuf);
    cr_assert_eq(applied, 2);
    cr_assert_eq(scalar("SELECT count(*) FROM tally.t"), 2);
    cr_assert_eq(scalar("SELECT count(*) FROM tally.schema_migrations"), 2);

    cr_assert_eq(apply(&applied), 0, "%s", errbuf);
    cr_assert_eq(applied, 0, "a second run must apply nothing");
    cr_assert_eq(scalar("SELECT count(*) FROM tally.t"), 2);

    put("0003_c.sql", "INSERT INTO tally.t VALUES (3);");
    cr_assert_eq(apply(&applied), 0, "%s", errbuf);
    cr_assert_eq(applied, 1);
    cr_assert_eq(scalar("SELECT sum(v) FROM tally.t"), 6);
}

Test(pg_migrate, failing_migration_is_rolled_back_and_named)
{
    int applied = -1;
    put("0001_a.sql", "CREATE TABLE tally.t (v int);");
    put("0002_broken.sql", "CREATE TABLE tally.u (v int); INSERT INTO tally.nope VALUES (1);");
    cr_assert_neq(apply(&applied), 0);
    cr_assert(strstr(errbuf, "0002_broken.sql") != NULL, "%s", errbuf);
    cr_assert(strstr(errbuf, "nope") != NULL, "the server's reason is kept: %s", errbuf);
    cr_assert_eq(scalar("SELECT count(*) FROM tally.schema_migrations"), 1);
    cr_assert_eq(scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'tally' AND tablename = 'u'"), 0,
                 "the failed migration's first statement must be rolled back");
    /* Fixed, it applies. */
    put("0002_broken.sql", "CREATE TABLE tally.u (v int);");
    cr_assert_eq(apply(&applied), 0, "%s", errbuf);
    cr_assert_eq(applied, 1);
}

Test(pg_migrate, changed_after_apply_is_refused)
{
    put("0001_a.sql", "CREATE TABLE tally.t (v int);");
    cr_assert_eq(apply(NULL), 0, "%s", errbuf);
    put("0001_a.sql", "CREATE TABLE tally.t (v bigint);");
    put("0002_b.sql", "CREATE TABLE tally.u (v int);");
    cr_assert_neq(apply(NULL), 0);
    cr_assert(strstr(errbuf, "0001_a.sql") != NULL && strstr(errbuf, "changed") != NULL, "%s", errbuf);
    cr_assert_eq(scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'u'"), 0, "nothing new applied");
}

Test(pg_migrate, missing_applied_migration_is_refused)
{
    char path[512];
    put("0001_a.sql", "CREATE TABLE tally.t (v int);");
    put("0002_b.sql", "CREATE TABLE tally.u (v int);");
    cr_assert_eq(apply(NULL), 0, "%s", errbuf);
    snprintf(path, sizeof path, "%s/0002_b.sql", dir);
    cr_assert_eq(unlink(path), 0);
    cr_assert_neq(apply(NULL), 0);
    cr_assert(strstr(errbuf, "0002_b.sql") != NULL && strstr(errbuf, "missing") != NULL, "%s", errbuf);
}

Test(pg_migrate, new_migration_before_applied_one_is_refused)
{
    put("0002_b.sql", "CREATE TABLE tally.u (v int);");
    cr_assert_eq(apply(NULL), 0, "%s", errbuf);
    put("0001_a.sql", "CREATE TABLE tally.t (v int);");
    cr_assert_neq(apply(NULL), 0);
    cr_assert(strstr(errbuf, "0001_a.sql") != NULL, "%s", errbuf);
    cr_assert_eq(scalar("SELECT count(*) FROM pg_tables WHERE tablename = 't'"), 0);
}

Test(pg_migrate, bad_names_and_folders_are_refused)
{
    put("1_short.sql", "SELECT 1;");
    cr_assert_neq(apply(NULL), 0);
    cr_assert(strstr(errbuf, "1_short.sql") != NULL, "%s", errbuf);
    cr_assert_eq(scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'tally'"), 0,
                 "nothing is created before the folder is valid");

    char path[512];
    snprintf(path, sizeof path, "%s/1_short.sql", dir);
    unlink(path);
    cr_assert_neq(apply(NULL), 0, "an empty folder is an error");
    cr_assert(strstr(errbuf, dir) != NULL, "%s", errbuf);

    errbuf[0] = '\0';
    cr_assert_neq(tally_migrate_apply(conn, "/nonexistent/migrations", NULL, errbuf, sizeof errbuf), 0);
    cr_assert(strstr(errbuf, "/nonexistent/migrations") != NULL, "%s", errbuf);
}

Test(pg_migrate, binary_file_is_refused)
{
    char path[512];
    snprintf(path, sizeof path, "%s/0001_bin.sql", dir);
    FILE *f = fopen(path, "wb");
    fwrite("SELECT\0\1\2", 1, 9, f);
    fclose(f);
    cr_assert_neq(apply(NULL), 0);
    cr_assert(strstr(errbuf, "0001_bin.sql") != NULL, "%s", errbuf);
}

Test(pg_migrate, project_migrations_apply_cleanly)
{
    int applied = 0;
    cr_assert_eq(tally_migrate_apply(conn, tally_test_source_path("deploy/postgres/migrations"), &applied,
                                     errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert(applied >= 1);
    cr_assert_eq(scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'tally' AND tablename = 'kafka_offsets'"), 1);
}
