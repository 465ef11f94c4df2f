/* license_list.c: the licenses a principal may see (license_list.h). One
 * query, parameterised; the names come from the console's views, so a
 * member removed since, or an environment deleted, shows as its id. */
#include "license_list.h"

#include <stdio.h>
#include <string.h>

#include "page_util.h"
#include "pages.h"

#define UTC_TEXT(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define EPOCH_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

static const char list_sql[] =
    "SELECT l.license_id::text, l.tenant_id, t.name, l.kind, l.member_id, "
    "       nullif(btrim(coalesce(m.first_name, '') || ' ' || coalesce(m.last_name, '')), ''), "
    "       l.environment_id, e.name, " UTC_TEXT("l.valid_from") ", " UTC_TEXT("l.valid_until") ", "
    "       " UTC_TEXT("l.issued_at") ", " UTC_TEXT("l.revoked_at") ", " EPOCH_MS("l.valid_from") ", "
    "       " EPOCH_MS("l.valid_until") ", l.key_id, l.revoke_reason "
    "FROM tally.licenses l "
    "LEFT JOIN tally.console_tenants t ON t.tenant_id = l.tenant_id "
    "LEFT JOIN tally.console_members m ON m.tenant_id = l.tenant_id AND m.member_id = l.member_id "
    "LEFT JOIN tally.console_environments e ON e.tenant_id = l.tenant_id AND e.environment_id = l.environment_id "
    "WHERE l.kind IS NOT NULL AND ($1::text IS NULL OR l.tenant_id = $1::text) "
    "  AND ($2::text IS NULL OR (l.kind = 'personal_dev' AND l.member_id = $2::text)) "
    "ORDER BY l.issued_at DESC, l.license_id LIMIT $3::int";

enum {
    C_ID, C_TENANT, C_TENANT_NAME, C_KIND, C_MEMBER, C_MEMBER_NAME, C_ENV, C_ENV_NAME, C_FROM, C_UNTIL, C_ISSUED,
    C_REVOKED, C_FROM_MS, C_UNTIL_MS, C_KEY, C_REASON
};

const char *tally_license_list_status(int64_t now_ms, int64_t valid_from_ms, int64_t valid_until_ms, int revoked)
{
    if (revoked)
        return "revoked";
    if (now_ms < valid_from_ms)
        return "not yet valid";
    if (now_ms >= valid_until_ms)
        return "expired";
    return "valid";
}

static json_t *item(const PGresult *r, int i, const tally_license_list_query_t *q)
{
    json_t *o = json_object();
    const char *id = PQgetvalue(r, i, C_ID);
    json_object_set_new(o, "license_id", tally_page_cell_str(r, i, C_ID));
    json_object_set_new(o, "tenant_id", tally_page_cell_str(r, i, C_TENANT));
    json_object_set_new(o, "tenant_name", tally_page_cell_str(r, i, C_TENANT_NAME));
    int personal = strcmp(PQgetvalue(r, i, C_KIND), "personal_dev") == 0;
    json_object_set_new(o, "kind", json_string(personal ? "personal-dev" : "environment"));
    json_object_set_new(o, "member_id", tally_page_cell_str(r, i, C_MEMBER));
    json_object_set_new(o, "member_name", tally_page_cell_str(r, i, C_MEMBER_NAME));
    json_object_set_new(o, "environment_id", tally_page_cell_str(r, i, C_ENV));
    json_object_set_new(o, "environment_name", tally_page_cell_str(r, i, C_ENV_NAME));
    json_object_set_new(o, "valid_from", tally_page_cell_str(r, i, C_FROM));
    json_object_set_new(o, "valid_until", tally_page_cell_str(r, i, C_UNTIL));
    json_object_set_new(o, "issued_at", tally_page_cell_str(r, i, C_ISSUED));
    json_object_set_new(o, "revoked_at", tally_page_cell_str(r, i, C_REVOKED));
    json_object_set_new(o, "key_id", tally_page_cell_str(r, i, C_KEY));
    const char *status = tally_license_list_status(q->now_ms, tally_page_cell_i64(r, i, C_FROM_MS),
                                                   tally_page_cell_i64(r, i, C_UNTIL_MS), !PQgetisnull(r, i, C_REVOKED));
    json_object_set_new(o, "status", json_string(status));
    char file[80];
    snprintf(file, sizeof file, "/api/v1/licenses/%s/file", id);
    json_object_set_new(o, "file", json_string(file));
    if (q->staff)
        json_object_set_new(o, "revoke_reason", tally_page_cell_str(r, i, C_REASON));
    return o;
}

int tally_license_list_load(PGconn *pg, const tally_license_list_query_t *q, json_t **out, char *errbuf,
                            size_t errsize)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", TALLY_LICENSE_LIST_MAX + 1);
    const char *params[3] = {q->tenant_id, q->member_id, limit};
    PGresult *r;
    int rc = tally_page_sql(pg, list_sql, 3, params, &r, errbuf, errsize);
    if (rc != 0)
        return rc;
    int n = PQntuples(r);
    int shown = n > TALLY_LICENSE_LIST_MAX ? TALLY_LICENSE_LIST_MAX : n;
    json_t *list = json_array();
    for (int i = 0; i < shown; i++)
        json_array_append_new(list, item(r, i, q));
    PQclear(r);
    *out = json_pack("{s:o, s:b}", "licenses", list, "truncated", n > TALLY_LICENSE_LIST_MAX);
    return 0;
}
