/* server_license.c: the license routes that read (docs/console.md,
 * docs/licenses.md); issuing and revoking are POSTs of their own.
 *
 *   GET /api/v1/licenses/keys     anyone: the public keys of the signing
 *                                 keyring (--license-keys), for verifiers:
 *                                 JSON [{"key_id","public_key"}] in the
 *                                 keyring's order (oldest first, the
 *                                 signing key last), or with ?format=pub
 *                                 the public key file format ("<id> <hex>"
 *                                 lines) `tally license verify --public-key`
 *                                 reads. Cacheable (ETag, max-age 300).
 *   GET /api/v1/licenses/revoked  anyone: the signed list of every revoked
 *                                 license id (common/license_revoked.h),
 *                                 issued now; cacheable (max-age 300).
 *   GET /api/v1/licenses          signed in: the licenses the principal may
 *                                 see (license_list.h); staff may filter
 *                                 with ?tenant=.
 *   GET /api/v1/licenses/{id}/file  signed in: the license file, signed
 *                                 again from tally.licenses.payload with
 *                                 the key it names (Ed25519 is
 *                                 deterministic: the very file issued);
 *                                 410 once that key left the keyring.
 *
 * Without --license-keys the routes that sign answer 503. A member asking
 * for a license not their own gets the 404 of an unknown route. */
#include "server_internal.h"

#include "license.h"
#include "license_keys.h"
#include "license_list.h"
#include "license_revoked.h"
#include "log.h"
#include "page_util.h"
#include "xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cache_control[] = "public, max-age=300";

enum MHD_Result tally_cs_license_keys(console_req_t *r)
{
    const tally_license_pubkeys_t *keys = r->srv->o.license_keys;
    if (keys == NULL)
        return tally_cs_error(r, 503, "unavailable", "license signing not configured");
    const char *format = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "format");
    if (format != NULL && strcmp(format, "pub") != 0 && strcmp(format, "json") != 0)
        return tally_cs_error(r, 400, "bad parameter", "format: pub or json");
    tally_textbuf_t text = {0};
    tally_license_pubkeys_write(keys, &text);
    size_t len = text.len;
    char *pub = text.data;   /* taken: the answer frees it, or below */
    if (format != NULL && strcmp(format, "pub") == 0)
        return tally_cs_cached(r, "text/plain; charset=utf-8", pub, len, cache_control, NULL);
    /* The JSON face from the same lines: "<id> <hex>\n" each. */
    json_t *list = json_array();
    for (char *line = pub; line < pub + len;) {
        char *nl = memchr(line, '\n', (size_t)(pub + len - line));
        char *sp = memchr(line, ' ', (size_t)((nl ? nl : pub + len) - line));
        if (nl == NULL || sp == NULL)
            break;
        json_array_append_new(list, json_pack("{s:s%,s:s%}", "key_id", line, (size_t)(sp - line), "public_key",
                                              sp + 1, (size_t)(nl - sp - 1)));
        line = nl + 1;
    }
    free(pub);
    char *body = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return tally_cs_cached(r, "application/json", body, strlen(body), cache_control, NULL);
}

/* ---- GET /api/v1/licenses/revoked ---------------------------------------- */

/* Every revoked license id (also one whose revocation was read before its
 * issue), at most one past the list's limit so that too many shows. */
static const char revoked_sql[] = "SELECT license_id::text FROM tally.licenses WHERE revoked_at IS NOT NULL "
                                  "ORDER BY license_id LIMIT $1::int";

enum MHD_Result tally_cs_licenses_revoked(console_req_t *r)
{
    const tally_license_keyring_t *ring = r->srv->o.license_ring;
    if (ring == NULL)
        return tally_cs_error(r, 503, "unavailable", "license signing not configured");
    /* The list says it holds every revocation recorded before issued_at:
     * so the instant is taken before the query, never after. */
    int64_t issued_at = tally_cs_now_ms(r) / 1000;
    char err[512] = "", limit[16];
    snprintf(limit, sizeof limit, "%d", TALLY_LICENSE_REVOKED_MAX + 1);
    const char *params[1] = {limit};
    PGresult *res = NULL;
    PGconn *pg = tally_cs_db(r, err, sizeof err);
    if (pg == NULL || tally_page_sql(pg, revoked_sql, 1, params, &res, err, sizeof err) != 0) {
        r->pg_failed = pg != NULL;
        tally_metric_add(r->srv->db_errors, 1);
        tally_cs_db_release(r);
        tally_log_warn("console", "revocation list: %s", err);
        return tally_cs_unavailable(r, "the database is unreachable");
    }
    tally_cs_db_release(r);
    int n = PQntuples(res);
    if (n > TALLY_LICENSE_REVOKED_MAX) {
        PQclear(res);
        tally_log_error("console", "revocation list: more than %d revoked licenses", TALLY_LICENSE_REVOKED_MAX);
        return tally_cs_unavailable(r, "the revocation list is larger than its format allows");
    }
    const char **ids = tally_xcalloc((size_t)n + 1, sizeof *ids);
    for (int i = 0; i < n; i++)
        ids[i] = PQgetvalue(res, i, 0);
    tally_textbuf_t out = {0};
    int rc = tally_license_revoked_sign(ids, (size_t)n, issued_at, ring, &out, err, sizeof err);
    free(ids);
    PQclear(res);
    if (rc != 0) {
        tally_textbuf_free(&out);
        tally_log_error("console", "revocation list: %s", err);
        return tally_cs_error(r, 500, "internal error", "the revocation list could not be signed");
    }
    const char *const headers[] = {"Cache-Control", cache_control, NULL};
    return tally_cs_answer(r, 200, "application/x-tally-revoked-licenses", out.data, out.len, 1, headers);
}

/* ---- who asks -------------------------------------------------------------- */

/* Signed in: 1 with *p; else 0 with the answer (401, 503) queued in *res. */
static int signed_in(console_req_t *r, tally_principal_t *p, enum MHD_Result *res)
{
    int rc = tally_cs_principal(r, p);
    if (rc > 0)
        return 1;
    tally_cs_db_release(r);
    *res = rc < 0 ? tally_cs_unavailable(r, "the database is unreachable") : tally_cs_unauthorized(r);
    return 0;
}

/* ---- GET /api/v1/licenses/{license_id}/file ------------------------------- */

static const char file_sql[] = "SELECT tenant_id, kind, member_id, payload, revoked_at IS NOT NULL "
                               "FROM tally.licenses WHERE license_id = $1::uuid AND payload IS NOT NULL";

enum MHD_Result tally_cs_license_file(console_req_t *r)
{
    enum MHD_Result res;
    tally_principal_t p;
    const tally_license_keyring_t *ring = r->srv->o.license_ring;
    if (ring == NULL)
        return tally_cs_error(r, 503, "unavailable", "license signing not configured");
    if (!signed_in(r, &p, &res))
        return res;
    char err[512] = "";
    const char *params[1] = {r->route.license_id};
    PGresult *row = NULL;
    PGconn *pg = tally_cs_db(r, err, sizeof err);
    if (pg == NULL || tally_page_sql(pg, file_sql, 1, params, &row, err, sizeof err) != 0) {
        r->pg_failed = pg != NULL;
        tally_metric_add(r->srv->db_errors, 1);
        tally_cs_db_release(r);
        tally_log_warn("console", "license file: %s", err);
        return tally_cs_unavailable(r, "the database is unreachable");
    }
    tally_cs_db_release(r);
    /* Someone else's license is no license at all to a member: the 404 of
     * an unknown route, as for another tenant's pages. */
    int mine = PQntuples(row) == 1 &&
               (p.staff || (strcmp(PQgetvalue(row, 0, 0), p.tenant_id) == 0 &&
                            strcmp(PQgetvalue(row, 0, 1), "personal_dev") == 0 &&
                            strcmp(PQgetvalue(row, 0, 2), p.member_id) == 0));
    if (!mine) {
        PQclear(row);
        return tally_cs_not_found(r);
    }
    /* A revoked license is not handed out again to its member: offline, a
     * verifier without the revocation list would still accept it. Staff
     * may fetch it (audit). */
    if (!p.staff && strcmp(PQgetvalue(row, 0, 4), "t") == 0) {
        PQclear(row);
        return tally_cs_error(r, 410, "gone", "this license was revoked");
    }
    tally_textbuf_t out = {0};
    tally_license_t *lic = tally_xcalloc(1, sizeof *lic);
    const char *payload = PQgetvalue(row, 0, 3);
    int rc = tally_license_resign(payload, (size_t)PQgetlength(row, 0, 3), ring, lic, &out, err, sizeof err);
    /* The row and the payload agree (the gateway checked the event): a
     * payload naming another license or tenant is refused all the same. */
    if (rc == 0 && (strcmp(lic->license_id, r->route.license_id) != 0 ||
                    strcmp(lic->tenant_id, PQgetvalue(row, 0, 0)) != 0)) {
        snprintf(err, sizeof err, "the stored payload names another license or tenant");
        rc = TALLY_LICENSE_RESIGN_MALFORMED;
    }
    free(lic);
    PQclear(row);
    if (rc == TALLY_LICENSE_RESIGN_NO_KEY) {
        tally_textbuf_free(&out);
        return tally_cs_error(r, 410, "key retired",
                              "the key that signed this license is no longer in use; ask for a new license");
    }
    if (rc != 0) {
        tally_textbuf_free(&out);
        tally_log_error("console", "license file: %s", err);
        return tally_cs_error(r, 500, "internal error", "the stored license cannot be signed again");
    }
    char disposition[96];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"tally-%s.license\"", r->route.license_id);
    const char *const headers[] = {"Content-Disposition", disposition, "Cache-Control", "private, no-store", NULL};
    return tally_cs_answer(r, 200, "application/x-tally-license", out.data, out.len, 1, headers);
}

/* ---- GET /api/v1/licenses ------------------------------------------------- */

typedef struct {
    int tenant_n;
    const char *tenant;
} list_args_t;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    list_args_t *a = cls;
    if (strcmp(key, "tenant") == 0) {
        a->tenant_n++;
        a->tenant = value ? value : "";
    }
    return MHD_YES;
}

enum MHD_Result tally_cs_licenses_list(console_req_t *r)
{
    enum MHD_Result res;
    tally_principal_t p;
    if (!signed_in(r, &p, &res))
        return res;
    list_args_t a = {0, NULL};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect, &a);
    if (a.tenant_n > 1) {
        tally_cs_db_release(r);
        return tally_cs_error(r, 400, "bad request", "tenant is given more than once");
    }
    if (a.tenant && !tally_route_tenant_ok(a.tenant, strlen(a.tenant))) {
        tally_cs_db_release(r);
        return tally_cs_error(r, 400, "bad request", "tenant must be a tenant id ([A-Za-z0-9._-], 1-64)");
    }
    /* A member asking for another tenant's list: no such thing. */
    if (!p.staff && a.tenant && strcmp(a.tenant, p.tenant_id) != 0) {
        tally_cs_db_release(r);
        return tally_cs_not_found(r);
    }
    tally_license_list_query_t q = {
        .tenant_id = p.staff ? a.tenant : p.tenant_id,
        .member_id = p.staff ? NULL : p.member_id,
        .staff = p.staff,
        .now_ms = tally_cs_now_ms(r),
    };
    json_t *list = NULL;
    char err[512] = "";
    PGconn *pg = tally_cs_db(r, err, sizeof err);
    if (pg == NULL || tally_license_list_load(pg, &q, &list, err, sizeof err) != 0) {
        r->pg_failed = pg != NULL;
        tally_metric_add(r->srv->db_errors, 1);
        tally_cs_db_release(r);
        tally_log_warn("console", "licenses: %s", err);
        return tally_cs_unavailable(r, "the database is unreachable");
    }
    tally_cs_db_release(r);
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    if (text == NULL)
        abort();
    return tally_cs_cached(r, "application/json", text, strlen(text), "private, no-cache", NULL);
}
