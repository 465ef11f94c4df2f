/* The writer against the real PostgreSQL, batches built by hand: the offset
 * fence (a batch whose start is not what is stored changes nothing), the
 * rollup guard (an older record never overwrites a newer one, whichever
 * group or tool writes it), duplicate product events counted once on the
 * slow path, and Control Panel events applied twice or out of order. */
#include "batch.h"
#include "writer.h"

#include "../materializer/mat_fixture.h"

static char db[96];
static PGconn *conn;
static tally_writer_t *w;
static tally_batch_t *b;
static char err[1024];

static tally_writer_t *writer_for(const char *group)
{
    tally_writer_opts_t o = {.conninfo = tally_test_pg_url(db), .schema = "tally", .group = group,
                             .application_name = "tally-test-writer",
                             .topics = {"t.rollups", "t.product", "t.cp"}};
    tally_writer_t *x = tally_writer_new(&o);
    cr_assert_eq(tally_writer_connect(x, err, sizeof err), 0, "%s", err);
    return x;
}

static void setup(void)
{
    conn = tally_test_db_create("tally_test_writer", db, sizeof db);
    mat_migrate(conn);
    w = writer_for("g1");
    b = tally_batch_new();
}

static void teardown(void)
{
    tally_batch_free(b);
    tally_writer_free(w);
    tally_test_db_drop(conn, db);
}

TestSuite(writer, .init = setup, .fini = teardown, .timeout = 60);

static void put_api(int64_t calls, int32_t partition, int64_t offset, int64_t updated_ms)
{
    tally_api_rollup_t r = {.day = MAT_DAY(2024, 3, 1), .api_calls = calls, .status_4xx = 1, .status_5xx = 2,
                            .exec_ms = 3, .updated_at_ms = updated_ms, .partition = partition, .offset = offset};
    tally_batch_put_api(b, "t", 1, "prod", 4, &r);
    tally_batch_track(b, TALLY_ROLE_ROLLUPS, partition, offset, -1, 10, 0);
}

static void product_row(const char *id, const char *install)
{
    char line[512];
    snprintf(line, sizeof line, "%s\tCLI\tcli.init\t2024-03-01T10:00:00Z\t2024-03-01T10:00:01Z\t%s\t\\N\t1.0\t"
                                "f\t\\N\t{}\t\\N\t\\N\n", id, install);
    tally_textbuf_puts(&b->product_rows, line);
    b->n_product++;
    tally_batch_count_product(b, MAT_DAY(2024, 3, 1), "CLI", "cli.init", 8, "1.0", 3, install, strlen(install));
}

Test(writer, offsets_fence_a_batch_that_does_not_start_at_the_stored_offset)
{
    put_api(100, 0, 9, 1000);
    b->progress[0].expected = -1;   /* no row yet */
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mat_scalar(conn, "SELECT next_offset FROM tally.kafka_offsets WHERE consumer_group = 'g1'"), 10);

    /* The same batch again (a commit whose answer was lost, retried): fenced. */
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), TALLY_WRITER_FENCED);
    cr_assert(strstr(err, "0 of 1") != NULL, "%s", err);

    /* A zombie that believes offset 5 is stored: fenced, nothing changes. */
    tally_batch_reset(b);
    put_api(1, 0, 12, 5000);
    b->progress[0].expected = 5;
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), TALLY_WRITER_FENCED);
    cr_assert_eq(mat_scalar(conn, "SELECT api_calls FROM tally.api_usage_daily"), 100);
    cr_assert_eq(mat_scalar(conn, "SELECT next_offset FROM tally.kafka_offsets"), 10);

    /* The rightful next batch. */
    b->progress[0].expected = 10;
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mat_scalar(conn, "SELECT next_offset FROM tally.kafka_offsets"), 13);
    cr_assert_eq(mat_scalar(conn, "SELECT api_calls FROM tally.api_usage_daily"), 1);

    /* Offsets are per group: g2 starts from nothing. */
    tally_writer_t *w2 = writer_for("g2");
    tally_stored_offset_t *rows;
    size_t n;
    cr_assert_eq(tally_writer_load_offsets(w2, &rows, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 0);
    free(rows);
    cr_assert_eq(tally_writer_load_offsets(w, &rows, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 1);
    cr_assert_eq(rows[0].role, TALLY_ROLE_ROLLUPS);
    cr_assert_eq(rows[0].next_offset, 13);
    free(rows);
    tally_writer_free(w2);
}

Test(writer, an_older_rollup_never_overwrites_a_newer_one)
{
    put_api(500, 0, 20, 2000);
    b->progress[0].expected = -1;
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    /* Another group replays older offsets into the same database. */
    tally_writer_t *w2 = writer_for("replayer");
    tally_batch_reset(b);
    put_api(300, 0, 15, 9999);   /* older offset on the same partition, even with a later clock */
    b->progress[0].expected = -1;
    cr_assert_eq(tally_writer_write(w2, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mat_scalar(conn, "SELECT api_calls FROM tally.api_usage_daily"), 500);
    /* A later offset moves it, even downwards (a correction). */
    tally_batch_reset(b);
    put_api(450, 0, 21, 1500);
    b->progress[0].expected = 16;
    cr_assert_eq(tally_writer_write(w2, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mat_scalar(conn, "SELECT api_calls FROM tally.api_usage_daily"), 450);
    cr_assert_eq(mat_scalar(conn, "SELECT kafka_offset FROM tally.api_usage_daily"), 21);
    tally_writer_free(w2);
}

Test(writer, duplicate_product_events_count_once)
{
    product_row("00000000-0000-4000-8000-000000000001", "i1");
    product_row("00000000-0000-4000-8000-000000000002", "i2");
    tally_batch_track(b, TALLY_ROLE_PRODUCT, 0, 1, -1, 10, 0);
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);   /* fast path */
    cr_assert_str_eq(mat_text(conn, "SELECT events || '/' || installs FROM tally.product_daily"), "2/2");

    /* A batch repeating one of them, twice, plus a new one: slow path. */
    tally_batch_reset(b);
    product_row("00000000-0000-4000-8000-000000000002", "i2");
    product_row("00000000-0000-4000-8000-000000000003", "i3");
    product_row("00000000-0000-4000-8000-000000000003", "i3");
    tally_batch_track(b, TALLY_ROLE_PRODUCT, 0, 4, 2, 10, 0);
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.product_events"), 3);
    cr_assert_str_eq(mat_text(conn, "SELECT events || '/' || installs FROM tally.product_daily"), "3/3");
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.product_daily_installs"), 3);
    /* The connection is fine after the failed fast path. */
    cr_assert(tally_writer_connected(w));
}

/* A Control Panel event with text parameters. */
static void cp(tally_cp_kind_t kind, const char *const params[])
{
    tally_cp_event_t *e = tally_batch_add_cp(b, kind);
    for (int i = 0; params[i]; i++)
        e->param[e->nparams++] = tally_batch_strdup(b, params[i], strlen(params[i]));
}

static void apply_all(int64_t expected, int64_t next)
{
    tally_batch_track(b, TALLY_ROLE_CONTROLPANEL, 0, next - 1, expected, 10, 0);
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    tally_batch_reset(b);
}

Test(writer, control_panel_events_applied_twice_or_late_change_nothing)
{
    const char *t1 = "2024-03-01T00:00:01Z", *t2 = "2024-03-01T00:00:02Z", *t3 = "2024-03-01T00:00:03Z";
    cp(TALLY_CP_TENANT_REGISTERED, (const char *[]){"acme", "Acme", t1, NULL});
    cp(TALLY_CP_ENVIRONMENT_CREATED, (const char *[]){"acme", "e1", "Prod", "production", "m1", t1, NULL});
    cp(TALLY_CP_MEMBER_ADDED, (const char *[]){"acme", "m1", "Ada", "L", "a@x.org", "admin", t1, NULL});
    cp(TALLY_CP_MEMBER_REMOVED, (const char *[]){"acme", "m1", t2, NULL});
    cp(TALLY_CP_ENVIRONMENT_DELETED, (const char *[]){"acme", "e1", t2, NULL});
    cp(TALLY_CP_API_KEY_ISSUED, (const char *[]){"acme", "k1", "e1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", t1,
                                                 NULL});
    cp(TALLY_CP_API_KEY_REVOKED, (const char *[]){"acme", "k1", t2, NULL});
    cp(TALLY_CP_LICENSE_TERMS_SET, (const char *[]){"acme", "2024-01-01", "2024-12-31", "5", "100", "10", "{}", t2,
                                                   NULL});
    apply_all(-1, 8);
    char before[2048];
    snprintf(before, sizeof before, "%s", mat_tables_digest(conn));

    /* Everything again, and each creation or addition late, after its
     * removal: nothing moves. */
    cp(TALLY_CP_TENANT_REGISTERED, (const char *[]){"acme", "Acme", t1, NULL});
    cp(TALLY_CP_ENVIRONMENT_CREATED, (const char *[]){"acme", "e1", "Prod", "production", "m1", t1, NULL});
    cp(TALLY_CP_MEMBER_ADDED, (const char *[]){"acme", "m1", "Ada", "L", "a@x.org", "admin", t1, NULL});
    cp(TALLY_CP_MEMBER_REMOVED, (const char *[]){"acme", "m1", t3, NULL});
    cp(TALLY_CP_ENVIRONMENT_DELETED, (const char *[]){"acme", "e1", t3, NULL});
    cp(TALLY_CP_API_KEY_ISSUED, (const char *[]){"acme", "k1", "e1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", t1,
                                                 NULL});
    cp(TALLY_CP_API_KEY_REVOKED, (const char *[]){"acme", "k1", t3, NULL});
    cp(TALLY_CP_LICENSE_TERMS_SET, (const char *[]){"acme", "2024-01-01", "2024-06-30", "1", "1", "1", "{}", t1,
                                                   NULL});
    apply_all(8, 16);
    cr_assert_str_eq(mat_tables_digest(conn), before);

    /* Newer events do move things: a member added again, newer terms. */
    cp(TALLY_CP_MEMBER_ADDED, (const char *[]){"acme", "m1", "Ada", "L", "a@x.org", "owner", t3, NULL});
    cp(TALLY_CP_LICENSE_TERMS_SET, (const char *[]){"acme", "2024-01-01", "2024-12-31", "7", "100", "10",
                                                   "{\"sso\"}", t3, NULL});
    apply_all(16, 18);
    cr_assert_str_eq(mat_text(conn, "SELECT role || coalesce(removed_at::text, '-') FROM tally.members"), "owner-");
    cr_assert_str_eq(mat_text(conn, "SELECT seats_max || features::text FROM tally.license_terms"), "7{sso}");

    /* A statement PostgreSQL refuses fails the batch, and nothing of it stays. */
    cp(TALLY_CP_TENANT_REGISTERED, (const char *[]){"acme", "Renamed", t3, NULL});
    cp(TALLY_CP_ENVIRONMENT_CREATED, (const char *[]){"acme", "e2", "X", "nonsense-kind", "m1", t3, NULL});
    tally_batch_track(b, TALLY_ROLE_CONTROLPANEL, 0, 19, 18, 10, 0);
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), TALLY_WRITER_FAILED);
    cr_assert_str_eq(mat_text(conn, "SELECT name FROM tally.tenants"), "Acme");
    cr_assert_eq(mat_scalar(conn, "SELECT next_offset FROM tally.kafka_offsets"), 18);
    cr_assert(tally_writer_connected(w), "a refused statement does not cost the connection");
}
