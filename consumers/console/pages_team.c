/*
 * pages_team.c: a tenant's environments, with their kind, and its members,
 * with their role.
 *
 * Names and e-mails are shown to that tenant's own members only: for vendor
 * staff the members query does not even select them, and the model says
 * "personal_data": false. Deleted environments and removed members are
 * left out (the views of 0009). Each list is bounded (TALLY_TEAM_MAX_ROWS;
 * the model says when one was cut).
 */
#include <stdio.h>
#include <string.h>

#include "page_defs.h"
#include "page_util.h"

#define TALLY_TEAM_MAX_ROWS 1000
#define UTC_TEXT(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char environments_sql[] =
    "SELECT environment_id, name, kind, " UTC_TEXT("created_at") " FROM tally.console_environments "
    "WHERE tenant_id = $1 ORDER BY CASE kind WHEN 'production' THEN 1 WHEN 'staging' THEN 2 ELSE 3 END, name, "
    "environment_id LIMIT $2";

static const char members_sql[] =
    "SELECT member_id, role, " UTC_TEXT("added_at") ", first_name, last_name, email FROM tally.console_members "
    "WHERE tenant_id = $1 ORDER BY last_name, first_name, member_id LIMIT $2";

static const char members_staff_sql[] =
    "SELECT member_id, role, " UTC_TEXT("added_at") " FROM tally.console_members "
    "WHERE tenant_id = $1 ORDER BY member_id LIMIT $2";

int tally_page_team_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf, size_t errsize)
{
    json_t *tenant = NULL;
    int rc = tally_page_tenant(pg, q->tenant_id, &tenant, errbuf, errsize);
    if (rc != 0)
        return rc;
    int personal = !q->staff && q->member_id != NULL;
    char limit[16];
    snprintf(limit, sizeof limit, "%d", TALLY_TEAM_MAX_ROWS + 1);
    const char *params[2] = {q->tenant_id, limit};
    PGresult *e = NULL, *mb = NULL;
    rc = tally_page_sql(pg, environments_sql, 2, params, &e, errbuf, errsize);
    if (rc == 0)
        rc = tally_page_sql(pg, personal ? members_sql : members_staff_sql, 2, params, &mb, errbuf, errsize);
    if (rc != 0) {
        PQclear(e);
        json_decref(tenant);
        return rc;
    }
    json_t *envs = json_array(), *members = json_array();
    int ne = PQntuples(e) > TALLY_TEAM_MAX_ROWS ? TALLY_TEAM_MAX_ROWS : PQntuples(e);
    for (int i = 0; i < ne; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", tally_page_cell_str(e, i, 0));
        json_object_set_new(o, "name", tally_page_cell_str(e, i, 1));
        json_object_set_new(o, "kind", tally_page_cell_str(e, i, 2));
        json_object_set_new(o, "created_at", tally_page_cell_str(e, i, 3));
        json_array_append_new(envs, o);
    }
    int nm = PQntuples(mb) > TALLY_TEAM_MAX_ROWS ? TALLY_TEAM_MAX_ROWS : PQntuples(mb);
    for (int i = 0; i < nm; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "id", tally_page_cell_str(mb, i, 0));
        json_object_set_new(o, "role", tally_page_cell_str(mb, i, 1));
        json_object_set_new(o, "added_at", tally_page_cell_str(mb, i, 2));
        if (personal) {
            json_object_set_new(o, "first_name", tally_page_cell_str(mb, i, 3));
            json_object_set_new(o, "last_name", tally_page_cell_str(mb, i, 4));
            json_object_set_new(o, "email", tally_page_cell_str(mb, i, 5));
        }
        json_array_append_new(members, o);
    }
    json_t *m = tally_page_model_new("team", q);
    json_object_set_new(m, "tenant", tenant);
    json_object_set_new(m, "personal_data", json_boolean(personal));
    json_object_set_new(m, "environments", envs);
    json_object_set_new(m, "members", members);
    json_object_set_new(m, "truncated", json_boolean(PQntuples(e) > ne || PQntuples(mb) > nm));
    PQclear(e);
    PQclear(mb);
    *model = m;
    return 0;
}

void tally_page_team_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)model;
    (void)q;
    (void)out;
}
