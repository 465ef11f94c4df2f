/* Signed licenses from ControlPanelEvent version 3 into tally.licenses,
 * through the materializer's own decoding (inbound), projection and writer,
 * against the real PostgreSQL:
 *   - an issue inserts once: a second LicenseIssued of the same license id,
 *     even with another payload, changes nothing (the first wins);
 *   - a revocation sets revoked_at and revoke_reason once (the first wins),
 *     also when it is read before its issue (in one batch or two);
 *   - a tenant cannot revoke or overwrite another tenant's license;
 *   - events the table would refuse (kind and ids disagreeing, a window
 *     ending before it starts, a hash that is not the payload's) are refused
 *     before PostgreSQL ("invalid") and leave the batch as it was. */
#include "batch.h"
#include "inbound.h"
#include "projection.h"
#include "writer.h"

#include "../materializer/mat_fixture.h"

#include "gateway_fixture.h"

#include <sodium.h>

#define T0 INT64_C(1796601600000)   /* 2026-12-07T00:00:00Z */
#define DAY INT64_C(86400000)
#define LIC1 "11111111-1111-4111-8111-111111111111"
#define LIC2 "22222222-2222-4222-8222-222222222222"
#define PAYLOAD_A "{\"format\":1,\"license_id\":\"a\"}"
#define PAYLOAD_B "{\"format\":1,\"license_id\":\"b\"}"

static char db[96];
static PGconn *conn;
static tally_writer_t *w;
static tally_batch_t *b;
static tally_catalog_t *cat;
static tally_inbound_t *in;
static int64_t next_offset, batch_start;
static char err[1024];

static void setup(void)
{
    conn = tally_test_db_create("tally_test_licenses", db, sizeof db);
    mat_migrate(conn);
    tally_writer_opts_t o = {.conninfo = tally_test_pg_url(db), .schema = "tally", .group = "g1",
                             .application_name = "tally-test-licenses", .topics = {"t.rollups", "t.product", "t.cp"}};
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

TestSuite(licenses, .init = setup, .fini = teardown, .timeout = 60);

/* ---- events, encoded as the gateway would (version 3) ------------------ */

static int add(avro_value_t *v, const char **error)
{
    const tally_catalog_entry_t *v3 = tally_catalog_get(cat, "ControlPanelEvent", 3);
    tally_encoder_t *enc = tally_encoder_new(v3);
    const void *buf;
    size_t len;
    const char *ignored;
    cr_assert_eq(tally_encoder_encode(enc, v, &buf, &len, err, sizeof err), 0, "%s", err);
    int rc = tally_inbound_add(in, b, TALLY_ROLE_CONTROLPANEL, 0, next_offset, buf, len, error ? error : &ignored,
                               err, sizeof err);
    tally_batch_track(b, TALLY_ROLE_CONTROLPANEL, 0, next_offset, batch_start, len, 0);
    next_offset++;
    tally_encoder_free(enc);
    avro_value_decref(v);
    return rc;
}

typedef struct {
    const char *tenant, *license, *kind, *member, *env, *key, *payload, *sha; /* sha NULL: the payload's */
    int64_t at, from, until;
} issue_t;

static int issue_license(issue_t i, const char **error)
{
    avro_value_t v, f;
    char hex[65];
    avro_value_t p = mat_cp_value(tally_catalog_get(cat, "ControlPanelEvent", 3), &v, i.tenant, i.at,
                                  "LicenseIssued");
    mat_set_str(&p, "license_id", i.license);
    cr_assert_eq(avro_value_get_by_name(&p, "kind", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, strcmp(i.kind, "environment") == 0 ? 0 : 1), 0);
    mat_set_opt_str(&p, "member_id", i.member);
    mat_set_opt_str(&p, "environment_id", i.env);
    mat_set_long(&p, "valid_from", i.from);
    mat_set_long(&p, "valid_until", i.until);
    mat_set_str(&p, "key_id", i.key ? i.key : "2026-12");
    tally_test_sha256_hex(i.payload, hex);
    mat_set_str(&p, "payload_sha256", i.sha ? i.sha : hex);
    mat_set_str(&p, "payload", i.payload);
    return add(&v, error);
}

/* A personal-dev license of member m1 of acme issued at T0 + at. */
static issue_t personal(const char *license, int64_t at, const char *payload)
{
    return (issue_t){.tenant = "acme", .license = license, .kind = "personal_dev", .member = "m1",
                     .payload = payload, .at = T0 + at, .from = T0 + at, .until = T0 + at + 30 * DAY};
}

static int revoke_license(const char *tenant, int64_t at, const char *license, const char *reason, const char **error)
{
    avro_value_t v;
    avro_value_t p = mat_cp_value(tally_catalog_get(cat, "ControlPanelEvent", 3), &v, tenant, at, "LicenseRevoked");
    mat_set_str(&p, "license_id", license);
    mat_set_str(&p, "reason", reason);
    return add(&v, error);
}

static void write_batch(void)
{
    cr_assert_eq(tally_writer_write(w, b, err, sizeof err), 0, "%s", err);
    tally_batch_reset(b);
    batch_start = next_offset;
}

static const char *ms(const char *col)
{
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "coalesce((extract(epoch FROM %s) * 1000)::bigint::text, '-')", col);
    return buf[k];
}

static const char *row(const char *license)
{
    return mat_text(conn,
                    "SELECT tenant_id || ' ' || coalesce(kind, '-') || ' ' || coalesce(member_id, '-') || ' ' || "
                    "coalesce(environment_id, '-') || ' ' || %s || ' ' || %s || ' ' || %s || ' ' || "
                    "coalesce(key_id, '-') || ' ' || coalesce(payload, '-') || ' ' || %s || ' ' || "
                    "coalesce(revoke_reason, '-') FROM tally.licenses WHERE license_id = '%s'",
                    ms("valid_from"), ms("valid_until"), ms("issued_at"), ms("revoked_at"), license);
}

static const char *digest(void)
{
    return mat_text(conn, "SELECT count(*) || ':' || coalesce(md5(string_agg(l::text, ',' ORDER BY l::text)), '-') "
                          "FROM tally.licenses l");
}

/* ---- tests ------------------------------------------------------------- */

Test(licenses, an_issue_inserts_once_and_the_first_payload_wins)
{
    char want[512], hex[65];
    cr_assert_eq(issue_license(personal(LIC1, 10, PAYLOAD_A), NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme personal_dev m1 - %lld %lld %lld 2026-12 %s - -", (long long)(T0 + 10),
             (long long)(T0 + 10 + 30 * DAY), (long long)(T0 + 10), PAYLOAD_A);
    cr_assert_str_eq(row(LIC1), want);
    tally_test_sha256_hex(PAYLOAD_A, hex);
    cr_assert_str_eq(mat_text(conn, "SELECT payload_sha256 FROM tally.licenses"), hex);
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.licenses WHERE payload_sha256 = "
                                  "encode(sha256(convert_to(payload, 'UTF8')), 'hex')"), 1);

    /* A replay, and another payload under the same id: nothing moves. */
    cr_assert_eq(issue_license(personal(LIC1, 10, PAYLOAD_A), NULL), 0, "%s", err);
    issue_t other = personal(LIC1, 50, PAYLOAD_B);
    other.key = "2027-01";
    cr_assert_eq(issue_license(other, NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(row(LIC1), want);
    /* Even in the batch of the first issue, the first wins. */
    cr_assert_eq(issue_license(personal(LIC2, 10, PAYLOAD_B), NULL), 0, "%s", err);
    cr_assert_eq(issue_license(personal(LIC2, 20, PAYLOAD_A), NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(mat_text(conn, "SELECT payload FROM tally.licenses WHERE license_id = '" LIC2 "'"), PAYLOAD_B);
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.licenses"), 2);
}

Test(licenses, an_environment_license_records_its_environment)
{
    issue_t e = {.tenant = "acme", .license = LIC1, .kind = "environment", .env = "prod", .payload = PAYLOAD_A,
                 .at = T0, .from = T0 + DAY, .until = T0 + 365 * DAY, .key = "k9"};
    cr_assert_eq(issue_license(e, NULL), 0, "%s", err);
    write_batch();
    char want[512];
    snprintf(want, sizeof want, "acme environment - prod %lld %lld %lld k9 %s - -", (long long)(T0 + DAY),
             (long long)(T0 + 365 * DAY), (long long)T0, PAYLOAD_A);
    cr_assert_str_eq(row(LIC1), want);
}

Test(licenses, a_revocation_is_set_once_and_the_first_wins)
{
    char want[512];
    cr_assert_eq(issue_license(personal(LIC1, 10, PAYLOAD_A), NULL), 0, "%s", err);
    cr_assert_eq(revoke_license("acme", T0 + 100, LIC1, "left the team", NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme personal_dev m1 - %lld %lld %lld 2026-12 %s %lld left the team",
             (long long)(T0 + 10), (long long)(T0 + 10 + 30 * DAY), (long long)(T0 + 10), PAYLOAD_A,
             (long long)(T0 + 100));
    cr_assert_str_eq(row(LIC1), want);
    cr_assert_eq(revoke_license("acme", T0 + 200, LIC1, "again", NULL), 0, "%s", err);
    cr_assert_eq(issue_license(personal(LIC1, 10, PAYLOAD_A), NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(row(LIC1), want);
}

Test(licenses, a_revocation_read_before_its_issue_still_wins)
{
    char want[512];
    /* Two batches. */
    cr_assert_eq(revoke_license("acme", T0 + 5, LIC1, "leaked", NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme - - - - - - - - %lld leaked", (long long)(T0 + 5));
    cr_assert_str_eq(row(LIC1), want);
    cr_assert_eq(issue_license(personal(LIC1, 10, PAYLOAD_A), NULL), 0, "%s", err);
    write_batch();
    snprintf(want, sizeof want, "acme personal_dev m1 - %lld %lld %lld 2026-12 %s %lld leaked", (long long)(T0 + 10),
             (long long)(T0 + 10 + 30 * DAY), (long long)(T0 + 10), PAYLOAD_A, (long long)(T0 + 5));
    cr_assert_str_eq(row(LIC1), want);

    /* One batch; then the whole history again changes nothing. */
    cr_assert_eq(revoke_license("acme", T0 + 20, LIC2, "leaked", NULL), 0, "%s", err);
    cr_assert_eq(issue_license(personal(LIC2, 30, PAYLOAD_B), NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(mat_text(conn, "SELECT payload || ' ' || revoke_reason FROM tally.licenses WHERE license_id = '"
                                    LIC2 "'"), PAYLOAD_B " leaked");
    char before[256];
    snprintf(before, sizeof before, "%s", digest());
    cr_assert_eq(revoke_license("acme", T0 + 5, LIC1, "leaked", NULL), 0, "%s", err);
    cr_assert_eq(issue_license(personal(LIC1, 10, PAYLOAD_A), NULL), 0, "%s", err);
    cr_assert_eq(revoke_license("acme", T0 + 20, LIC2, "leaked", NULL), 0, "%s", err);
    cr_assert_eq(issue_license(personal(LIC2, 30, PAYLOAD_B), NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(digest(), before);
}

Test(licenses, a_tenant_cannot_touch_another_tenants_license)
{
    cr_assert_eq(issue_license(personal(LIC1, 10, PAYLOAD_A), NULL), 0, "%s", err);
    write_batch();
    char before[256];
    snprintf(before, sizeof before, "%s", digest());
    issue_t theirs = personal(LIC1, 20, PAYLOAD_B);
    theirs.tenant = "globex";
    cr_assert_eq(issue_license(theirs, NULL), 0, "%s", err);
    cr_assert_eq(revoke_license("globex", T0 + 30, LIC1, "hostile", NULL), 0, "%s", err);
    write_batch();
    cr_assert_str_eq(digest(), before);
}

Test(licenses, events_the_table_would_refuse_are_refused_first)
{
    const char *error = NULL;
    size_t before = b->n_cp;
    struct {
        issue_t e;
        const char *names;
    } bad[] = {
        {{.kind = "personal_dev", .member = NULL}, "member_id"},
        {{.kind = "personal_dev", .member = "m1", .env = "prod"}, "environment_id"},
        {{.kind = "environment", .member = "m1"}, "environment_id"},
        {{.kind = "personal_dev", .member = ""}, "member_id"},
        {{.kind = "personal_dev", .member = "m1", .from = T0 + DAY, .until = T0 + DAY}, "valid_until"},
        {{.kind = "personal_dev", .member = "m1", .sha = "00"}, "payload_sha256"},
        {{.kind = "personal_dev", .member = "m1",
          .sha = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "payload_sha256"},
        {{.kind = "personal_dev", .member = "m1", .license = "not-a-uuid"}, "license_id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        issue_t e = bad[i].e;
        e.tenant = "acme";
        e.license = e.license ? e.license : LIC1;
        e.payload = PAYLOAD_A;
        e.at = T0;
        if (e.until == 0) {
            e.from = T0;
            e.until = T0 + DAY;
        }
        error = NULL;
        cr_assert_eq(issue_license(e, &error), -1, "case %zu", i);
        cr_assert_str_eq(error, "invalid", "case %zu", i);
        cr_assert(strstr(err, bad[i].names) != NULL, "case %zu: %s", i, err);
    }
    cr_assert_eq(revoke_license("acme", T0, "x", "r", &error), -1);
    cr_assert_str_eq(error, "invalid");
    cr_assert_eq(b->n_cp, before, "a refused event leaves the batch as it was");
    write_batch();
    cr_assert_eq(mat_scalar(conn, "SELECT count(*) FROM tally.licenses"), 0);
}
