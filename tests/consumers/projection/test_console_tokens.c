/* Console tokens from ControlPanelEvent version 2 into tally.console_tokens,
 * through the materializer's own decoding (inbound), projection and writer,
 * against the real PostgreSQL:
 *   - an issue inserts once, a revocation sets revoked_at once, replays
 *     change nothing;
 *   - a revocation read before its issue still wins (in one batch or two);
 *   - an issue for a member of another tenant, a removed member, or with a
 *     hash already taken writes nothing and does not fail the batch; a
 *     tenant cannot revoke another tenant's token;
 *   - values PostgreSQL would refuse are refused before it ("invalid");
 *   - a later version's unknown branch is skipped (unknown_branch), while
 *     its known branches are projected; a catalog without the writer's
 *     version dead-letters it (unknown_schema). */
#include "batch.h"
#include "inbound.h"
#include "projection.h"
#include "writer.h"

#include "../materializer/mat_fixture.h"

#define T0 INT64_C(1709251200000)   /* 2024-03-01T00:00:00Z */
#define DAY INT64_C(86400000)
#define TOK1 "11111111-1111-4111-8111-111111111111"
#define TOK2 "22222222-2222-4222-8222-222222222222"
#define TOK3 "33333333-3333-4333-8333-333333333333"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static char db[96];
static PGconn *conn;
static tally_writer_t *w;
static tally_batch_t *b;
static tally_catalog_t *cat;
static tally_inbound_t *in;
static int64_t next_offset, batch_start;   /* batch_start: what PostgreSQL stores */
static char err[1024];

static void setup(void)
{
    conn = tally_test_db_create("tally_test_tokens", db, sizeof db);
    mat_migrate(conn);
    tally_writer_opts_t o = {.conninfo = tally_test_pg_url(db), .schema = "tally", .group = "g1",
                             .application_name = "tally-test-tokens", .topics = {"t.rollups", "t.product", "t.cp"}};
    w = tally_writer_new(&o);
    cr_assert_eq(tally_writer_connect(w, err, sizeof err), 0, "%s", err);
    b = tally_batch_new();
    cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    in = tally_inbound_new(cat, err, sizeof err);
    cr_assert_not_null(in, "%s", err);
    next_offset = 0;
    batch_start = -1;
}

static void teardown(void)
{
    tally_inbound_free(in);
    tally_catalog_free(cat);
    tally_batch_free(b);
    tally_writer_free(w);
    tally_test_db_drop(conn, db);
}

TestSuite(console_tokens, .init = setup, .fini = teardown, .timeout = 60);

/* ---- events, encoded as the gateway would ---------------------------- */

typedef struct {
    const tally_catalog_entry_t *schema;
    avro_value_t v, branch;
} event_t;

static event_t begin(const tally_catalog_entry_t *schema, const char *tenant, int64_t at, const char *kind)
{
    event_t e = {.schema = schema};
    e.branch = mat_cp_value(schema, &e.v, tenant, at, kind);
    return e;
}

/* Encodes e, frees its value, adds the record to the batch; returns
 * tally_inbound_add's result (*error set when not 0). */
static int add(event_t *e, const char **error)
{
    tally_encoder_t *enc = tally_encoder_new(e->schema);
    const void *buf;
    size_t len;
    cr_assert_eq(tally_encoder_encode(enc, &e->v, &buf, &len, err, sizeof err), 0, "%s", err);
    const char *ignored;
    int rc = tally_inbound_add(in, b, TALLY_ROLE_CONTROLPANEL, 0, next_offset, buf, len, error ? error : &ignored,
                               err, sizeof err);
    tally_batch_track(b, TALLY_ROLE_CONTROLPANEL, 0, next_offset, batch_start, len, 0);
    next_offset++;
    tally_encoder_free(enc);
    avro_value_decref(&e->v);
    return rc;
}

static const tally_catalog_entry_t *v2(void)
{
    const tally_catalog_entry_t *e = tally_catalog_get(cat, "ControlPanelEvent", 2);
    cr_assert_not_null(e);
    return e;
}

static void member(const char *tenant, int64_t at, const char *id, int added)
{
    event_t e = begin(v2(), tenant, at, added ? "MemberAdded" : "MemberRemoved");
    mat_set_str(&e.branch, "member_id", id);
    if (added) {
        mat_set_str(&e.branch, "first_name", "Ada");
        mat_set_str(&e.branch, "last_name", "Lovelace");
        mat_set_str(&e.branch, "email", "ada@example.com");
        mat_set_str(&e.branch, "role", "admin");
    }
    cr_assert_eq(add(&e, NULL), 0, "%s", err);
}

static int issue_token(const char *tenant, int64_t at, const char *token, const char *member_id, const char *sha,
                 int64_t expires, const char **error)
{
    event_t e = begin(v2(), tenant, at, "ConsoleTokenIssued");
    mat_set_str(&e.branch, "token_id", token);
    mat_set_str(&e.branch, "member_id", member_id);
    mat_set_str(&e.branch, "token_sha256", sha);
    mat_set_long(&e.branch, "expires_at", expires);
    return add(&e, error);
}

static int revoke_token(const char *tenant, int64_t at, const char *token, const char **error)
{
    event_t e = begin(v2(), tenant, at, "ConsoleTokenRevoked");
    mat_set_str(&e.branch, "token_id", token);
    return add(&e, error);
}

/* Writes the batch (the offsets continue from the previous one). */
static void write_batch(void)
{
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    tally_batch_reset(b);
    batch_start = next_offset;
}

static const char *token_row(const char *token)
{
    return mat_text(conn,
                    "SELECT tenant_id || ' ' || coalesce(member_id, '-') || ' ' || coalesce(token_sha256, '-') || ' ' "
                    "|| coalesce((extract(epoch FROM issued_at) * 1000)::bigint::text, '-') || ' ' || "
                    "coalesce((extract(epoch FROM expires_at) * 1000)::bigint::text, '-') || ' ' || "
                    "coalesce((extract(epoch FROM revoked_at) * 1000)::bigint::text, '-') "
                    "FROM tally.console_tokens WHERE token_id = '%s'",
                    token);
}

static const char *tokens_digest(void)
{
    return mat_text(conn, "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') "
                          "FROM tally.console_tokens t");
}

/* ---- tests ------------------------------------------------------------- */

Test(console_tokens, issue_inserts_once_and_revoke_sets_revoked_at_once)
{
    char want[512];
    member("acme", T0, "m1", 1);
    cr_assert_eq(issue_token("acme", T0 + 10, TOK1, "m1", SHA_A, T0 + 10 + DAY, NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme m1 %s %lld %lld -", SHA_A, (long long)(T0 + 10), (long long)(T0 + 10 + DAY));
    cr_assert_str_eq(token_row(TOK1), want);

    /* The same issue again (a replay), even with other values: nothing moves. */
    cr_assert_eq(issue_token("acme", T0 + 10, TOK1, "m1", SHA_A, T0 + 10 + DAY, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("acme", T0 + 50, TOK1, "m1", SHA_B, T0 + 2 * DAY, NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(token_row(TOK1), want);

    cr_assert_eq(revoke_token("acme", T0 + 100, TOK1, NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme m1 %s %lld %lld %lld", SHA_A, (long long)(T0 + 10), (long long)(T0 + 10 + DAY),
             (long long)(T0 + 100));
    cr_assert_str_eq(token_row(TOK1), want);
    /* Revoked once: a later revocation and a replayed issue change nothing. */
    cr_assert_eq(revoke_token("acme", T0 + 200, TOK1, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("acme", T0 + 10, TOK1, "m1", SHA_A, T0 + 10 + DAY, NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(token_row(TOK1), want);
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.console_tokens"), 1);
}

Test(console_tokens, a_revocation_read_before_its_issue_still_wins)
{
    char want[512];
    member("acme", T0, "m1", 1);
    /* Two batches: the revocation first. */
    cr_assert_eq(revoke_token("acme", T0 + 5, TOK1, NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme - - - - %lld", (long long)(T0 + 5));
    cr_assert_str_eq(token_row(TOK1), want);
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.console_tokens WHERE token_sha256 = '" SHA_A "'"), 0);
    cr_assert_eq(issue_token("acme", T0 + 10, TOK1, "m1", SHA_A, T0 + DAY, NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme m1 %s %lld %lld %lld", SHA_A, (long long)(T0 + 10), (long long)(T0 + DAY),
             (long long)(T0 + 5));
    cr_assert_str_eq(token_row(TOK1), want);

    /* One batch, the same order; then the whole history replayed changes nothing. */
    cr_assert_eq(revoke_token("acme", T0 + 20, TOK2, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("acme", T0 + 30, TOK2, "m1", SHA_B, T0 + DAY, NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme m1 %s %lld %lld %lld", SHA_B, (long long)(T0 + 30), (long long)(T0 + DAY),
             (long long)(T0 + 20));
    cr_assert_str_eq(token_row(TOK2), want);
    char before[256];
    snprintf(before, sizeof before, "%s", tokens_digest());
    member("acme", T0, "m1", 1);
    cr_assert_eq(revoke_token("acme", T0 + 5, TOK1, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("acme", T0 + 10, TOK1, "m1", SHA_A, T0 + DAY, NULL), 0, "%s", err);
    cr_assert_eq(revoke_token("acme", T0 + 20, TOK2, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("acme", T0 + 30, TOK2, "m1", SHA_B, T0 + DAY, NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(tokens_digest(), before);
}

Test(console_tokens, only_a_current_member_of_the_tenant_gets_a_token)
{
    member("acme", T0, "m1", 1);
    member("globex", T0, "g1", 1);
    member("acme", T0, "m2", 1);
    member("acme", T0 + 1, "m2", 0);
    /* globex's member, a removed member, an unknown member: no row, and
     * the batch, with a good issue after them, commits. */
    cr_assert_eq(issue_token("acme", T0 + 10, TOK1, "g1", SHA_A, T0 + DAY, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("acme", T0 + 10, TOK2, "m2", SHA_B, T0 + DAY, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("acme", T0 + 10, TOK3, "nobody", SHA_C, T0 + DAY, NULL), 0, "%s", err);
    cr_assert_eq(issue_token("globex", T0 + 10, TOK3, "g1", SHA_C, T0 + DAY, NULL), 0, "%s", err);
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.console_tokens"), 1);
    cr_assert_str_eq(mat_text(conn, "SELECT tenant_id || ' ' || member_id FROM tally.console_tokens"), "globex g1");

    /* A hash already taken (another token id) changes nothing and fails nothing. */
    cr_assert_eq(issue_token("acme", T0 + 20, TOK1, "m1", SHA_C, T0 + DAY, NULL), 0, "%s", err);
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.console_tokens"), 1);

    /* acme cannot revoke globex's token. */
    cr_assert_eq(revoke_token("acme", T0 + 30, TOK3, NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(mat_text(conn, "SELECT coalesce(revoked_at::text, '-') FROM tally.console_tokens"), "-");
}

Test(console_tokens, values_postgresql_would_refuse_are_refused_first)
{
    const char *error = NULL;
    member("acme", T0, "m1", 1);
    size_t before = b->n_cp;
    cr_assert_eq(issue_token("acme", T0, TOK1, "m1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", T0 + DAY,
                       &error), -1);
    cr_assert_str_eq(error, "invalid");
    cr_assert(strstr(err, "token_sha256") != NULL, "%s", err);
    cr_assert_eq(issue_token("acme", T0, "not-a-uuid", "m1", SHA_A, T0 + DAY, &error), -1);
    cr_assert(strstr(err, "token_id") != NULL, "%s", err);
    cr_assert_eq(issue_token("acme", T0, TOK1, "m1", SHA_A, T0, &error), -1);
    cr_assert(strstr(err, "expires_at") != NULL, "%s", err);
    cr_assert_eq(revoke_token("acme", T0, "x", &error), -1);
    cr_assert_str_eq(error, "invalid");
    cr_assert_eq(b->n_cp, before, "a refused event leaves the batch as it was");
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.console_tokens"), 0);
}

Test(console_tokens, a_later_versions_new_branch_is_skipped_its_known_ones_projected)
{
    char dir[256];
    const char *error = NULL;
    mat_schemas_variant(dir, sizeof dir, 1);
    tally_catalog_t *c3 = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(c3, "%s", err);
    const tally_catalog_entry_t *v3 = tally_catalog_get(c3, "ControlPanelEvent", MAT_CP_FUTURE_VERSION);
    cr_assert_not_null(v3);
    cr_assert_eq(tally_catalog_latest(c3, "ControlPanelEvent"), v3);
    tally_inbound_free(in);
    in = tally_inbound_new(c3, err, sizeof err);
    cr_assert_not_null(in, "%s", err);

    event_t e = begin(v3, "acme", T0, "MemberAdded");
    mat_set_str(&e.branch, "member_id", "m1");
    mat_set_str(&e.branch, "first_name", "Ada");
    mat_set_str(&e.branch, "last_name", "L");
    mat_set_str(&e.branch, "email", "a@x.org");
    mat_set_str(&e.branch, "role", "admin");
    cr_assert_eq(add(&e, NULL), 0, "%s", err);
    e = begin(v3, "acme", T0 + 1, "ConsoleFuture");
    mat_set_str(&e.branch, "note", "from the future");
    size_t cp_before = b->n_cp, dlq_before = b->n_dlq;
    cr_assert_eq(add(&e, &error), TALLY_INBOUND_UNKNOWN_BRANCH, "%s", err);
    cr_assert_str_eq(error, "unknown_branch");
    cr_assert(strstr(err, "ConsoleFuture") != NULL, "%s", err);
    cr_assert_eq(b->n_cp, cp_before);
    cr_assert_eq(b->n_dlq, dlq_before);
    e = begin(v3, "acme", T0 + 2, "ConsoleTokenIssued");
    mat_set_str(&e.branch, "token_id", TOK1);
    mat_set_str(&e.branch, "member_id", "m1");
    mat_set_str(&e.branch, "token_sha256", SHA_A);
    mat_set_long(&e.branch, "expires_at", T0 + DAY);
    cr_assert_eq(add(&e, NULL), 0, "%s", err);
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.console_tokens WHERE token_sha256 = '" SHA_A "'"), 1);
    cr_assert_eq(mat_scalar(conn, "SELECT next_offset FROM tally.kafka_offsets"), next_offset,
                 "the skipped record's offset is passed");
    tally_inbound_free(in);
    in = NULL;
    tally_catalog_free(c3);
    mat_rm_dir(dir);
}

Test(console_tokens, a_catalog_without_v2_dead_letters_v2_records)
{
    char dir[256];
    const char *error = NULL;
    mat_schemas_variant(dir, sizeof dir, 0);
    tally_catalog_t *c1 = tally_catalog_load(dir, err, sizeof err);
    cr_assert_not_null(c1, "%s", err);
    tally_inbound_free(in);
    in = tally_inbound_new(c1, err, sizeof err);
    cr_assert_not_null(in, "%s", err);
    cr_assert_eq(issue_token("acme", T0, TOK1, "m1", SHA_A, T0 + DAY, &error), -1);
    cr_assert_str_eq(error, "unknown_schema");
    tally_inbound_free(in);
    in = NULL;
    tally_catalog_free(c1);
    mat_rm_dir(dir);
}
