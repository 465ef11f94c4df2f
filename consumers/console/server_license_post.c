/* server_license_post.c: the license routes that write (docs/console.md,
 * docs/licenses.md "Issuing"), through license_issuer.h:
 *
 *   POST /api/v1/licenses                  member: a personal-dev license for
 *                                          themselves, body {}; staff: an
 *                                          environment license, body
 *                                          {"tenant_id","environment_id"[,"valid_until"]};
 *                                          Idempotency-Key required; 201 (200
 *                                          on a retry) with the license file
 *   POST /api/v1/licenses/{id}/revoke      staff, body {"reason"}: 200 JSON
 *   POST /t/{tenant}/licenses              the member's form (idempotency_key):
 *                                          303 to /t/{tenant}/licenses?issued={id}
 *   POST /vendor/licenses/{id}/revoke      the staff form (reason): 303 to
 *                                          /vendor/licenses
 *
 * Input is checked before anything is asked or sent: a malformed body,
 * an unknown field, a bad key or reason is a 400 that changes nothing. A
 * member naming another tenant, and anyone but staff on a revoke route,
 * gets the unknown route's 404. The forms must come from this site
 * (tally_cs_cross_site). */
#include "server_internal.h"

#include "license_id.h"
#include "license_issuer.h"
#include "log.h"
#include "params.h"
#include "timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REASON_MAX 200
#define JSON_TYPE "application/json"
#define FORM_TYPE "application/x-www-form-urlencoded"

typedef enum { ISSUED, AGAIN, REFUSED, FAILED } outcome_t;

static void count(console_req_t *r, int revocation, outcome_t o)
{
    tally_metric_t *const *m = revocation ? r->srv->license_revocations : r->srv->licenses;
    tally_metric_add(m[o], 1);
}

static int configured(const console_req_t *r)
{
    const tally_console_server_opts_t *o = &r->srv->o;
    return o->license_ring != NULL && o->gateway_url && *o->gateway_url && o->admin_token && *o->admin_token;
}

static tally_license_issuer_t issuer_of(const console_req_t *r)
{
    const tally_console_server_opts_t *o = &r->srv->o;
    tally_license_issuer_t is = {.ring = o->license_ring, .gateway_url = o->gateway_url,
                                 .admin_token = o->admin_token, .wait_ms = o->license_wait_ms,
                                 .member_max = (int)o->license_member_max};
    return is;
}

static enum MHD_Result bad(console_req_t *r, int revocation, const char *why)
{
    count(r, revocation, REFUSED);
    return tally_cs_error(r, 400, "bad request", why);
}

/* The answer of an issue (rc from tally_license_issue). */
static enum MHD_Result issue_answer(console_req_t *r, int rc, tally_textbuf_t *file, const char *id,
                                    const char *tenant, const char *why)
{
    char where[160];
    if (rc == TALLY_LICENSE_ISSUE_NEW || rc == TALLY_LICENSE_ISSUE_AGAIN) {
        count(r, 0, rc == TALLY_LICENSE_ISSUE_NEW ? ISSUED : AGAIN);
        /* No id in the log: logs carry no raw identifier (the row has them). */
        tally_log_info("console", "a license was %s", rc == TALLY_LICENSE_ISSUE_NEW ? "issued" : "handed out again");
        if (!r->route.api) {
            tally_textbuf_free(file);
            snprintf(where, sizeof where, "/t/%s/licenses?issued=%s", tenant, id);
            return tally_cs_redirect(r, where, NULL);
        }
        snprintf(where, sizeof where, "/api/v1/licenses/%s/file", id);
        const char *const headers[] = {"Location", where, NULL};
        char *body = file->data;   /* taken by the answer */
        size_t len = file->len;
        file->data = NULL;
        file->len = 0;
        return tally_cs_answer(r, rc == TALLY_LICENSE_ISSUE_NEW ? 201 : 200, "application/x-tally-license", body, len,
                               1, headers);
    }
    tally_textbuf_free(file);
    switch (rc) {
    case TALLY_LICENSE_ISSUE_NOT_FOUND:
        count(r, 0, REFUSED);
        return tally_cs_error(r, 404, "not found", why);
    case TALLY_LICENSE_ISSUE_CONFLICT:
        count(r, 0, REFUSED);
        return tally_cs_error(r, 409, "conflict", why);
    case TALLY_LICENSE_ISSUE_BAD:
        return bad(r, 0, why);
    case TALLY_LICENSE_ISSUE_KEY_RETIRED:
        count(r, 0, FAILED);
        return tally_cs_error(r, 410, "gone", why);
    case TALLY_LICENSE_ISSUE_NOT_RECORDED: {
        count(r, 0, FAILED);
        const char *const headers[] = {"Retry-After", "1", NULL};
        return tally_cs_error_with(r, 503, "unavailable", why, headers);
    }
    case TALLY_LICENSE_ISSUE_GATEWAY:
        count(r, 0, FAILED);
        tally_log_warn("console", "license not issued: %s", why);
        return tally_cs_unavailable(r, "the event log is unavailable: no license was issued; retry with the same "
                                       "Idempotency-Key");
    default:
        count(r, 0, FAILED);
        r->pg_failed = 1;
        tally_log_warn("console", "license not issued: %s", why);
        return tally_cs_unavailable(r, "the database is unreachable: no license was handed out; retry with the "
                                       "same Idempotency-Key");
    }
}

/* Runs the issue of ask and answers it. */
static enum MHD_Result issue(console_req_t *r, tally_license_ask_t *ask)
{
    char why[512] = "", id[TALLY_LICENSE_UUID_SIZE] = "";
    tally_textbuf_t file = {0};
    PGconn *pg = tally_cs_db(r, why, sizeof why);
    if (pg == NULL) {
        count(r, 0, FAILED);
        return tally_cs_unavailable(r, "the database is unreachable");
    }
    tally_license_issuer_t is = issuer_of(r);
    ask->now_ms = tally_cs_now_ms(r);
    int rc = tally_license_issue(pg, &is, ask, &file, id, why, sizeof why);
    return issue_answer(r, rc, &file, id, ask->tenant_id, why);
}

/* The staff body's fields into ask (pointers into j). */
static int staff_ask(json_t *j, tally_license_ask_t *ask, char *why, size_t whysize)
{
    json_t *t = json_object_get(j, "tenant_id"), *e = json_object_get(j, "environment_id");
    json_t *u = json_object_get(j, "valid_until");
    if (!json_is_string(t) || !tally_route_tenant_ok(json_string_value(t), json_string_length(t))) {
        snprintf(why, whysize, "tenant_id: a tenant id is required");
        return -1;
    }
    if (!json_is_string(e) || !tally_cs_text_ok(json_string_value(e), json_string_length(e), TALLY_LICENSE_ID_MAX) ||
        json_string_length(e) > TALLY_LICENSE_ID_MAX) {
        snprintf(why, whysize, "environment_id: an environment id (1-128 bytes, no control character) is required");
        return -1;
    }
    int64_t ms = 0;
    if (u != NULL && (!json_is_string(u) ||
                      tally_rfc3339_parse(json_string_value(u), json_string_length(u), &ms) != 0 || ms % 1000)) {
        snprintf(why, whysize, "valid_until: an RFC 3339 time in whole seconds");
        return -1;
    }
    ask->tenant_id = json_string_value(t);
    ask->environment_id = json_string_value(e);
    ask->valid_until = ms / 1000;
    return 0;
}

/* POST /api/v1/licenses. */
static enum MHD_Result api_issue(console_req_t *r, const tally_principal_t *p)
{
    static const char *const member_fields[] = {"tenant_id", NULL};
    static const char *const staff_fields[] = {"tenant_id", "environment_id", "valid_until", NULL};
    char why[256];
    if (!tally_cs_content_type_is(r, JSON_TYPE)) {
        count(r, 0, REFUSED);
        return tally_cs_error(r, 415, "unsupported media type", "send the body as application/json");
    }
    const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (key == NULL || !tally_console_idempotency_key_ok(key, strlen(key)))
        return bad(r, 0, "Idempotency-Key: 1 to 64 characters of A-Z a-z 0-9 _ - are required");
    json_t *j = tally_cs_body_object(r, p->staff ? staff_fields : member_fields, why, sizeof why);
    if (j == NULL)
        return bad(r, 0, why);
    tally_license_ask_t ask = {.idempotency_key = key};
    enum MHD_Result res;
    if (p->staff) {
        res = staff_ask(j, &ask, why, sizeof why) == 0 ? issue(r, &ask) : bad(r, 0, why);
    } else {
        /* A member's own tenant is implied; naming another is the 404 of
         * anything of another tenant. */
        json_t *t = json_object_get(j, "tenant_id");
        if (t != NULL && (!json_is_string(t) || strcmp(json_string_value(t), p->tenant_id) != 0)) {
            count(r, 0, REFUSED);
            res = tally_cs_not_found(r);
        } else {
            ask.tenant_id = p->tenant_id;
            ask.member_id = p->member_id;
            res = issue(r, &ask);
        }
    }
    json_decref(j);
    return res;
}

/* POST /t/{tenant}/licenses: the member's "Get a license" form. */
static enum MHD_Result form_issue(console_req_t *r, const tally_principal_t *p)
{
    char key[TALLY_CONSOLE_IDEMPOTENCY_KEY_MAX + 2];
    if (p->staff || strcmp(p->tenant_id, r->route.tenant) != 0)
        return tally_cs_not_found(r);
    if (tally_cs_cross_site(r))
        return bad(r, 0, "a license form must be sent from this site");
    if (!tally_cs_content_type_is(r, FORM_TYPE))
        return tally_cs_error(r, 415, "unsupported media type", "send the form as " FORM_TYPE);
    if (tally_params_form_value(r->body.data ? r->body.data : "", r->body.len, "idempotency_key", key, sizeof key) !=
            1 ||
        !tally_console_idempotency_key_ok(key, strlen(key)))
        return bad(r, 0, "the form is malformed: reload the licenses page and try again");
    tally_license_ask_t ask = {.tenant_id = p->tenant_id, .member_id = p->member_id, .idempotency_key = key};
    return issue(r, &ask);
}

/* Revokes r->route.license_id for reason and answers. */
static enum MHD_Result revoke_license(console_req_t *r, const char *reason)
{
    char why[512] = "", at[TALLY_LICENSE_TIME_SIZE] = "", said[4 * REASON_MAX + 1] = "";
    PGconn *pg = tally_cs_db(r, why, sizeof why);
    if (pg == NULL) {
        count(r, 1, FAILED);
        return tally_cs_unavailable(r, "the database is unreachable");
    }
    tally_license_issuer_t is = issuer_of(r);
    int rc = tally_license_revoke(pg, &is, r->route.license_id, reason, tally_cs_now_ms(r), at, said, sizeof said,
                                  why, sizeof why);
    if (rc == TALLY_LICENSE_ISSUE_NEW || rc == TALLY_LICENSE_ISSUE_AGAIN) {
        count(r, 1, rc == TALLY_LICENSE_ISSUE_NEW ? ISSUED : AGAIN);
        tally_log_info("console", "a license %s", rc == TALLY_LICENSE_ISSUE_NEW ? "was revoked" : "was revoked already");
        if (!r->route.api)
            return tally_cs_redirect(r, "/vendor/licenses", NULL);
        json_t *j = json_pack("{s:s, s:s, s:s}", "license_id", r->route.license_id, "revoked_at", at, "reason", said);
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (body == NULL)
            abort();
        return tally_cs_answer(r, 200, JSON_TYPE, body, strlen(body), 1, NULL);
    }
    if (rc == TALLY_LICENSE_ISSUE_NOT_FOUND) {
        count(r, 1, REFUSED);
        return tally_cs_not_found(r);
    }
    count(r, 1, FAILED);
    tally_log_warn("console", "license not revoked: %s", why);
    if (rc == TALLY_LICENSE_ISSUE_DB)
        r->pg_failed = 1;
    return tally_cs_unavailable(r, rc == TALLY_LICENSE_ISSUE_DB        ? "the database is unreachable"
                                   : rc == TALLY_LICENSE_ISSUE_GATEWAY ? "the event log is unavailable: not revoked"
                                                                       : why);
}

/* POST /api/v1/licenses/{id}/revoke and /vendor/licenses/{id}/revoke. */
static enum MHD_Result revoke_route(console_req_t *r)
{
    static const char *const fields[] = {"reason", NULL};
    char why[256], reason[4 * REASON_MAX + 2];
    if (r->route.api) {
        if (!tally_cs_content_type_is(r, JSON_TYPE))
            return tally_cs_error(r, 415, "unsupported media type", "send the body as application/json");
        json_t *j = tally_cs_body_object(r, fields, why, sizeof why), *v = json_object_get(j, "reason");
        if (j == NULL)
            return bad(r, 1, why);
        int ok = json_is_string(v) && tally_cs_text_ok(json_string_value(v), json_string_length(v), REASON_MAX);
        if (ok)
            snprintf(reason, sizeof reason, "%s", json_string_value(v));
        json_decref(j);
        if (!ok)
            return bad(r, 1, "reason: 1 to 200 characters, no control character");
        return revoke_license(r, reason);
    }
    if (tally_cs_cross_site(r))
        return bad(r, 1, "a revocation form must be sent from this site");
    if (!tally_cs_content_type_is(r, FORM_TYPE))
        return tally_cs_error(r, 415, "unsupported media type", "send the form as " FORM_TYPE);
    if (tally_params_form_value(r->body.data ? r->body.data : "", r->body.len, "reason", reason, sizeof reason) != 1 ||
        !tally_cs_text_ok(reason, strlen(reason), REASON_MAX))
        return bad(r, 1, "give a reason: 1 to 200 characters");
    return revoke_license(r, reason);
}

enum MHD_Result tally_cs_license_post(console_req_t *r)
{
    tally_principal_t p;
    int who = tally_cs_principal(r, &p);
    if (who < 0)
        return tally_cs_unavailable(r, "the database is unreachable");
    if (who == 0)
        return tally_cs_unauthorized(r);
    int revocation = r->route.kind == TALLY_ROUTE_LICENSE_REVOKE;
    if (revocation && !p.staff)
        return tally_cs_not_found(r);
    if (!revocation && !r->route.api && (p.staff || strcmp(p.tenant_id, r->route.tenant) != 0))
        return tally_cs_not_found(r);
    if (!configured(r)) {
        count(r, revocation, FAILED);
        return tally_cs_unavailable(r, "license issuing not configured");
    }
    if (revocation)
        return revoke_route(r);
    return r->route.api ? api_issue(r, &p) : form_issue(r, &p);
}
