/* license_seed.c: licenses into a console test database through the
 * materializer's projection (license_seed.h). The event encoding is the
 * one of tests/consumers/projection/test_licenses.c. */
#include "license_seed.h"

#include "batch.h"
#include "inbound.h"
#include "license_id.h"
#include "writer.h"

#include "../materializer/mat_fixture.h"

struct license_seed_t {
    tally_writer_t *w;
    tally_batch_t *b;
    tally_catalog_t *cat;
    tally_inbound_t *in;
    int64_t next_offset;   /* of the next event; the one before is where the stored offset stands */
};

license_seed_t *license_seed_new(const char *db)
{
    char err[1024];
    license_seed_t *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    /* A consumer group of its own: a second seeder on the database starts
     * from no stored offset. */
    static int serial;
    char group[64];
    snprintf(group, sizeof group, "license-seed-%d-%d", (int)getpid(), ++serial);
    tally_writer_opts_t o = {.conninfo = tally_test_pg_url(db), .schema = "tally", .group = group,
                             .application_name = "tally-test-license-seed",
                             .topics = {"t.rollups", "t.product", "t.cp"}};
    s->w = tally_writer_new(&o);
    cr_assert_eq(tally_writer_connect(s->w, err, sizeof err), 0, "%s", err);
    s->b = tally_batch_new();
    s->cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(s->cat, "%s", err);
    s->in = tally_inbound_new(s->cat, err, sizeof err);
    cr_assert_not_null(s->in, "%s", err);
    return s;
}

void license_seed_free(license_seed_t *s)
{
    if (s == NULL)
        return;
    tally_inbound_free(s->in);
    tally_catalog_free(s->cat);
    tally_batch_free(s->b);
    tally_writer_free(s->w);
    free(s);
}

/* Encodes v (a ControlPanelEvent v3; released here), decodes and projects
 * it as the materializer does, and writes it in a batch of its own. */
static void apply(license_seed_t *s, avro_value_t *v)
{
    char err[1024];
    const tally_catalog_entry_t *v3 = tally_catalog_get(s->cat, "ControlPanelEvent", 3);
    tally_encoder_t *enc = tally_encoder_new(v3);
    const void *buf;
    size_t len;
    const char *error = NULL;
    cr_assert_eq(tally_encoder_encode(enc, v, &buf, &len, err, sizeof err), 0, "%s", err);
    int64_t offset = s->next_offset++;
    cr_assert_eq(tally_inbound_add(s->in, s->b, TALLY_ROLE_CONTROLPANEL, 0, offset, buf, len, &error, err, sizeof err),
                 0, "%s: %s", error ? error : "", err);
    tally_batch_track(s->b, TALLY_ROLE_CONTROLPANEL, 0, offset, offset == 0 ? -1 : offset, len, 0);
    tally_encoder_free(enc);
    avro_value_decref(v);
    cr_assert_eq(tally_writer_write(s->w, s->b, err, sizeof err), 0, "%s", err);
    tally_batch_reset(s->b);
}

void license_seed_issue(license_seed_t *s, const tally_license_keyring_t *ring, const license_seed_spec_t *spec,
                        char id[TALLY_LICENSE_UUID_SIZE], tally_textbuf_t *file)
{
    char err[512], sha[65], subject[160];
    tally_license_t *lic = calloc(1, sizeof *lic);
    cr_assert_not_null(lic);
    int personal = spec->member_id != NULL;
    /* The console's derivation: an environment license's "member" is
     * "env:" + its environment id. */
    snprintf(subject, sizeof subject, "%s%s", personal ? "" : "env:",
             personal ? spec->member_id : spec->environment_id);
    tally_console_license_id(spec->tenant_id, subject, spec->idempotency_key, lic->license_id);
    snprintf(lic->tenant_id, sizeof lic->tenant_id, "%s", spec->tenant_id);
    snprintf(lic->tenant_name, sizeof lic->tenant_name, "%s", spec->tenant_name);
    lic->kind = personal ? TALLY_LICENSE_PERSONAL_DEV : TALLY_LICENSE_ENVIRONMENT;
    snprintf(lic->subject_id, sizeof lic->subject_id, "%s", personal ? spec->member_id : spec->environment_id);
    lic->feature_count = 2;
    snprintf(lic->features[0], sizeof lic->features[0], "seats");
    snprintf(lic->features[1], sizeof lic->features[1], "api");
    lic->seats = 10;
    lic->monthly_api_calls = 100000;
    lic->issued_at = spec->valid_from;
    lic->valid_from = spec->valid_from;
    lic->valid_until = spec->valid_until;
    size_t before = file->len;
    cr_assert_eq(tally_license_sign(lic, ring, file, sha, err, sizeof err), 0, "%s", err);
    tally_license_file_t *parsed = calloc(1, sizeof *parsed);
    cr_assert_not_null(parsed);
    cr_assert_eq(tally_license_parse(file->data + before, file->len - before, parsed, err, sizeof err), 0, "%s", err);
    char *payload = calloc(1, parsed->payload_len + 1);
    cr_assert_not_null(payload);
    memcpy(payload, parsed->payload, parsed->payload_len);

    avro_value_t v, f;
    avro_value_t p = mat_cp_value(tally_catalog_get(s->cat, "ControlPanelEvent", 3), &v, spec->tenant_id,
                                  spec->valid_from * 1000, "LicenseIssued");
    mat_set_str(&p, "license_id", lic->license_id);
    cr_assert_eq(avro_value_get_by_name(&p, "kind", &f, NULL), 0);
    cr_assert_eq(avro_value_set_enum(&f, personal ? 1 : 0), 0);
    mat_set_opt_str(&p, "member_id", spec->member_id);
    mat_set_opt_str(&p, "environment_id", personal ? NULL : spec->environment_id);
    mat_set_long(&p, "valid_from", spec->valid_from * 1000);
    mat_set_long(&p, "valid_until", spec->valid_until * 1000);
    mat_set_str(&p, "key_id", lic->key_id);
    mat_set_str(&p, "payload_sha256", sha);
    mat_set_str(&p, "payload", payload);
    apply(s, &v);
    snprintf(id, TALLY_LICENSE_UUID_SIZE, "%s", lic->license_id);
    free(payload);
    free(parsed);
    free(lic);
}

void license_seed_revoke(license_seed_t *s, const char *tenant_id, const char *license_id, const char *reason,
                         int64_t at_ms)
{
    avro_value_t v;
    avro_value_t p = mat_cp_value(tally_catalog_get(s->cat, "ControlPanelEvent", 3), &v, tenant_id, at_ms,
                                  "LicenseRevoked");
    mat_set_str(&p, "license_id", license_id);
    mat_set_str(&p, "reason", reason);
    apply(s, &v);
}
