#include "license_issuer.h"

#include "gateway_event.h"
#include "license_id.h"
#include "timeutil.h"
#include "xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 50
#define DAY_S INT64_C(86400)

/* The row of a license id: its tenant, its payload (NULL: only a
 * revocation was read so far), revoked_at and the reason. */
static const char row_sql[] =
    "SELECT tenant_id, payload, to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "revoke_reason FROM tally.licenses WHERE license_id = $1::uuid";
enum { R_TENANT, R_PAYLOAD, R_REVOKED_AT, R_REASON };

/* The contract valid on day $2 (the latest if periods overlap), the
 * tenant's name and the status tally.compliance gives that period (the
 * one the Control Panel and the console's overview show). */
static const char terms_sql[] =
    "SELECT t.valid_from - DATE '1970-01-01', t.valid_until - DATE '1970-01-01', t.seats_max, "
    "       t.monthly_api_calls_max, array_to_json(t.features)::text, n.name, coalesce(c.status, 'ok') "
    "FROM tally.console_license_terms t "
    "JOIN tally.console_tenants n ON n.tenant_id = t.tenant_id "
    "LEFT JOIN tally.compliance c ON c.tenant_id = t.tenant_id AND c.valid_from = t.valid_from "
    "WHERE t.tenant_id = $1 AND t.valid_from <= $2::date AND t.valid_until >= $2::date "
    "ORDER BY t.valid_from DESC LIMIT 1";
enum { T_FROM, T_UNTIL, T_SEATS, T_MONTHLY, T_FEATURES, T_NAME, T_STATUS };

/* A member's personal-dev licenses that are valid at  and not revoked. */
static const char active_sql[] =
    "SELECT count(*) FROM tally.licenses WHERE tenant_id = $1 AND member_id = $2 AND kind = 'personal_dev' "
    "AND revoked_at IS NULL AND valid_until > to_timestamp($3::bigint)";

static const char environment_sql[] =
    "SELECT 1 FROM tally.console_environments WHERE tenant_id = $1 AND environment_id = $2";

/* Runs sql with params; NULL (errbuf set) when it failed. */
static PGresult *query(PGconn *pg, const char *sql, int n, const char *const *params, char *errbuf, size_t errsize)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(errbuf, errsize, "the database failed: %s", PQerrorMessage(pg));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* The file of a stored payload, signed again with its key. */
static int file_of_row(const tally_license_issuer_t *is, const PGresult *r, tally_textbuf_t *out, char *errbuf,
                       size_t errsize)
{
    const char *payload = PQgetvalue(r, 0, R_PAYLOAD);
    int rc = tally_license_resign(payload, (size_t)PQgetlength(r, 0, R_PAYLOAD), is->ring, NULL, out, errbuf,
                                  errsize);
    if (rc == TALLY_LICENSE_RESIGN_NO_KEY)
        return TALLY_LICENSE_ISSUE_KEY_RETIRED;
    if (rc != 0)
        return TALLY_LICENSE_ISSUE_CONFLICT;   /* the gateway checked it: never expected */
    return 0;
}

/* Looks license_id up: 1 with *out (the caller clears it) when there is a
 * row, 0 when not, or TALLY_LICENSE_ISSUE_DB. */
static int find_row(PGconn *pg, const char *license_id, PGresult **out, char *errbuf, size_t errsize)
{
    const char *params[1] = {license_id};
    PGresult *r = query(pg, row_sql, 1, params, errbuf, errsize);
    if (r == NULL)
        return TALLY_LICENSE_ISSUE_DB;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    *out = r;
    return 1;
}

/* Polls until the row of license_id satisfies what (0: it has a payload,
 * 1: it is revoked) or wait_ms passed. 1 with *out, 0 on time out, or
 * TALLY_LICENSE_ISSUE_DB. */
static int wait_row(PGconn *pg, const tally_license_issuer_t *is, const char *license_id, int revoked,
                    PGresult **out, char *errbuf, size_t errsize)
{
    long long deadline = tally_mono_ms() + is->wait_ms;
    for (;;) {
        PGresult *r = NULL;
        int rc = find_row(pg, license_id, &r, errbuf, errsize);
        if (rc < 0)
            return rc;
        if (rc == 1 && !PQgetisnull(r, 0, revoked ? R_REVOKED_AT : R_PAYLOAD)) {
            *out = r;
            return 1;
        }
        PQclear(r);
        if (tally_mono_ms() >= deadline)
            return 0;
        tally_sleep_ms(POLL_MS);
    }
}

/* Sends the event (payload taken) of tenant_id through the gateway. */
static int send_event(const tally_license_issuer_t *is, const char *tenant_id, int64_t now_ms, json_t *payload,
                      char *errbuf, size_t errsize)
{
    char why[512];
    char *text = tally_gateway_event_text(tenant_id, now_ms, payload, why, sizeof why);
    int rc = text ? tally_gateway_event_post(is->gateway_url, is->admin_token, is->gateway_timeout_ms, text, why,
                                             sizeof why)
                  : -1;
    free(text);
    if (rc != 0) {
        snprintf(errbuf, errsize, "the event log did not take the license: %s", why);
        return TALLY_LICENSE_ISSUE_GATEWAY;
    }
    return 0;
}

/* The terms row into lic (features, limits, name) and the contract's days;
 * TALLY_LICENSE_ISSUE_CONFLICT when they cannot give a license. */
static int from_terms(const PGresult *t, tally_license_t *lic, int64_t *from_day, int64_t *until_day, char *errbuf,
                      size_t errsize)
{
    if (strcmp(PQgetvalue(t, 0, T_STATUS), "over") == 0) {
        snprintf(errbuf, errsize, "the tenant is over its contract's limits: no license is issued until it is not");
        return TALLY_LICENSE_ISSUE_CONFLICT;
    }
    *from_day = strtoll(PQgetvalue(t, 0, T_FROM), NULL, 10);
    *until_day = strtoll(PQgetvalue(t, 0, T_UNTIL), NULL, 10);
    lic->seats = strtoll(PQgetvalue(t, 0, T_SEATS), NULL, 10);
    lic->monthly_api_calls = strtoll(PQgetvalue(t, 0, T_MONTHLY), NULL, 10);
    snprintf(lic->tenant_name, sizeof lic->tenant_name, "%s", PQgetvalue(t, 0, T_NAME));
    if ((size_t)PQgetlength(t, 0, T_NAME) >= sizeof lic->tenant_name) {
        snprintf(errbuf, errsize, "the tenant's name is longer than a license holds");
        return TALLY_LICENSE_ISSUE_CONFLICT;
    }
    json_error_t je;
    json_t *features = json_loads(PQgetvalue(t, 0, T_FEATURES), 0, &je), *f;
    size_t i;
    int rc = 0;
    if (!json_is_array(features) || json_array_size(features) > TALLY_LICENSE_FEATURES_MAX) {
        snprintf(errbuf, errsize, "the contract has more than %d features", TALLY_LICENSE_FEATURES_MAX);
        rc = TALLY_LICENSE_ISSUE_CONFLICT;
    }
    json_array_foreach(rc == 0 ? features : NULL, i, f) {
        if (!json_is_string(f) || json_string_length(f) >= sizeof lic->features[0]) {
            snprintf(errbuf, errsize, "a feature of the contract is longer than a license holds");
            rc = TALLY_LICENSE_ISSUE_CONFLICT;
            break;
        }
        memcpy(lic->features[i], json_string_value(f), json_string_length(f) + 1);
        lic->feature_count = i + 1;
    }
    json_decref(features);
    return rc;
}

/* The window of ask under the contract [from_day, until_day]. */
static int window(const tally_license_ask_t *ask, int64_t now, int64_t from_day, int64_t until_day,
                  tally_license_t *lic, char *errbuf, size_t errsize)
{
    if (ask->member_id != NULL) {
        if (tally_license_personal_dev_window(now, from_day, until_day, &lic->valid_from, &lic->valid_until) != 0) {
            snprintf(errbuf, errsize, "no contract is valid now");
            return TALLY_LICENSE_ISSUE_CONFLICT;
        }
        return 0;
    }
    int64_t end = (until_day + 1) * DAY_S;
    lic->valid_from = now;
    lic->valid_until = ask->valid_until ? ask->valid_until : end;
    if (lic->valid_until <= now || lic->valid_until > end) {
        char e[TALLY_LICENSE_TIME_SIZE];
        if (tally_license_time_format(end, e) != 0)
            e[0] = '\0';
        snprintf(errbuf, errsize, "valid_until must be after now and at most the contract's end, %s", e);
        return TALLY_LICENSE_ISSUE_BAD;
    }
    return 0;
}

/* Steps 2-4 of the header: checks, builds, signs and sends; 0 once the
 * gateway took the event. */
static int build_and_send(PGconn *pg, const tally_license_issuer_t *is, const tally_license_ask_t *ask,
                          const char *license_id, char *errbuf, size_t errsize)
{
    char today[16], sha[65];
    int64_t y;
    unsigned m, d;
    int64_t now = ask->now_ms / 1000, from_day = 0, until_day = 0;
    if (tally_civil_from_days(tally_utc_day(ask->now_ms), &y, &m, &d) != 0)
        abort();
    snprintf(today, sizeof today, "%04lld-%02u-%02u", (long long)y, m, d);
    if (ask->environment_id != NULL) {
        const char *params[2] = {ask->tenant_id, ask->environment_id};
        PGresult *e = query(pg, environment_sql, 2, params, errbuf, errsize);
        if (e == NULL)
            return TALLY_LICENSE_ISSUE_DB;
        int found = PQntuples(e) > 0;
        PQclear(e);
        if (!found) {
            snprintf(errbuf, errsize, "no such environment");
            return TALLY_LICENSE_ISSUE_NOT_FOUND;
        }
    }
    if (ask->member_id != NULL && is->member_max > 0) {
        char at[24];
        snprintf(at, sizeof at, "%lld", (long long)now);
        const char *active_params[3] = {ask->tenant_id, ask->member_id, at};
        PGresult *a = query(pg, active_sql, 3, active_params, errbuf, errsize);
        if (a == NULL)
            return TALLY_LICENSE_ISSUE_DB;
        long long held = atoll(PQgetvalue(a, 0, 0));
        PQclear(a);
        if (held >= is->member_max) {
            snprintf(errbuf, errsize,
                     "you hold %lld personal-dev licenses that are valid and not revoked (at most %d): use one of "
                     "them (GET /api/v1/licenses), or ask for a new one when one expires or is revoked",
                     held, is->member_max);
            return TALLY_LICENSE_ISSUE_CONFLICT;
        }
    }
    const char *params[2] = {ask->tenant_id, today};
    PGresult *t = query(pg, terms_sql, 2, params, errbuf, errsize);
    if (t == NULL)
        return TALLY_LICENSE_ISSUE_DB;
    tally_license_t *lic = tally_xcalloc(1, sizeof *lic);
    tally_textbuf_t file = {0}, payload = {0};
    int rc;
    if (PQntuples(t) == 0) {
        snprintf(errbuf, errsize, "the tenant has no license terms valid today");
        rc = TALLY_LICENSE_ISSUE_CONFLICT;
        goto cleanup;
    }
    if ((rc = from_terms(t, lic, &from_day, &until_day, errbuf, errsize)) != 0 ||
        (rc = window(ask, now, from_day, until_day, lic, errbuf, errsize)) != 0)
        goto cleanup;
    memcpy(lic->license_id, license_id, TALLY_LICENSE_UUID_SIZE);
    snprintf(lic->tenant_id, sizeof lic->tenant_id, "%s", ask->tenant_id);
    lic->kind = ask->member_id ? TALLY_LICENSE_PERSONAL_DEV : TALLY_LICENSE_ENVIRONMENT;
    snprintf(lic->subject_id, sizeof lic->subject_id, "%s", ask->member_id ? ask->member_id : ask->environment_id);
    lic->issued_at = now;
    char why[256];
    if (tally_license_sign(lic, is->ring, &file, sha, why, sizeof why) != 0 ||
        tally_license_payload(lic, &payload, why, sizeof why) != 0) {
        snprintf(errbuf, errsize, "the contract cannot be put in a license: %s", why);
        rc = TALLY_LICENSE_ISSUE_CONFLICT;
        goto cleanup;
    }
    /* The signed file is dropped here: what is handed out is made from the
     * row the event becomes. */
    json_t *ev = json_pack("{s:{s:s, s:s, s:s?, s:s?, s:I, s:I, s:s, s:s, s:s%}}", "LicenseIssued", "license_id",
                           license_id, "kind", ask->member_id ? "personal_dev" : "environment", "member_id",
                           ask->member_id, "environment_id", ask->environment_id, "valid_from",
                           (json_int_t)(lic->valid_from * 1000), "valid_until", (json_int_t)(lic->valid_until * 1000),
                           "key_id", lic->key_id, "payload_sha256", sha, "payload", payload.data, payload.len);
    rc = send_event(is, ask->tenant_id, ask->now_ms, ev, errbuf, errsize);
cleanup:
    tally_textbuf_free(&file);
    tally_textbuf_free(&payload);
    free(lic);
    PQclear(t);
    return rc;
}

int tally_license_issue(PGconn *pg, const tally_license_issuer_t *is, const tally_license_ask_t *ask,
                        tally_textbuf_t *file_out, char license_id[TALLY_LICENSE_UUID_SIZE], char *errbuf,
                        size_t errsize)
{
    char member[TALLY_LICENSE_ID_MAX + 8];
    snprintf(member, sizeof member, "%s%s", ask->member_id ? "" : "env:",
             ask->member_id ? ask->member_id : ask->environment_id);
    tally_console_license_id(ask->tenant_id, member, ask->idempotency_key, license_id);
    PGresult *r = NULL;
    int rc = find_row(pg, license_id, &r, errbuf, errsize);
    int fresh = rc == 0;
    if (rc == 0) {
        if ((rc = build_and_send(pg, is, ask, license_id, errbuf, errsize)) != 0)
            return rc;
        rc = wait_row(pg, is, license_id, 0, &r, errbuf, errsize);
        if (rc == 0) {
            snprintf(errbuf, errsize, "issued, not yet recorded: retry with the same Idempotency-Key");
            return TALLY_LICENSE_ISSUE_NOT_RECORDED;
        }
    }
    if (rc < 0)
        return rc;
    if (strcmp(PQgetvalue(r, 0, R_TENANT), ask->tenant_id) != 0 || PQgetisnull(r, 0, R_PAYLOAD)) {
        /* Another tenant's id (a hash collision) or a revocation read before
         * its issue: nothing this request may have. */
        snprintf(errbuf, errsize, "this Idempotency-Key names a license that cannot be issued; use another key");
        rc = TALLY_LICENSE_ISSUE_CONFLICT;
    } else {
        rc = file_of_row(is, r, file_out, errbuf, errsize);
        if (rc == 0)
            rc = fresh ? TALLY_LICENSE_ISSUE_NEW : TALLY_LICENSE_ISSUE_AGAIN;
    }
    PQclear(r);
    return rc;
}

int tally_license_revoke(PGconn *pg, const tally_license_issuer_t *is, const char *license_id, const char *reason,
                         int64_t now_ms, char revoked_at[TALLY_LICENSE_TIME_SIZE], char *reason_out,
                         size_t reason_size, char *errbuf, size_t errsize)
{
    PGresult *r = NULL;
    int rc = find_row(pg, license_id, &r, errbuf, errsize);
    if (rc < 0)
        return rc;
    if (rc == 0 || PQgetisnull(r, 0, R_PAYLOAD)) {
        PQclear(r);
        snprintf(errbuf, errsize, "no such license");
        return TALLY_LICENSE_ISSUE_NOT_FOUND;
    }
    int again = !PQgetisnull(r, 0, R_REVOKED_AT);
    if (!again) {
        char tenant[TALLY_LICENSE_ID_MAX + 1];
        snprintf(tenant, sizeof tenant, "%s", PQgetvalue(r, 0, R_TENANT));
        PQclear(r);
        r = NULL;
        json_t *ev = json_pack("{s:{s:s, s:s}}", "LicenseRevoked", "license_id", license_id, "reason", reason);
        if ((rc = send_event(is, tenant, now_ms, ev, errbuf, errsize)) != 0)
            return rc;
        rc = wait_row(pg, is, license_id, 1, &r, errbuf, errsize);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            snprintf(errbuf, errsize, "revoked, not yet recorded: retry");
            return TALLY_LICENSE_ISSUE_NOT_RECORDED;
        }
    }
    snprintf(revoked_at, TALLY_LICENSE_TIME_SIZE, "%s", PQgetvalue(r, 0, R_REVOKED_AT));
    snprintf(reason_out, reason_size, "%s", PQgetvalue(r, 0, R_REASON));
    PQclear(r);
    return again ? TALLY_LICENSE_ISSUE_AGAIN : TALLY_LICENSE_ISSUE_NEW;
}
