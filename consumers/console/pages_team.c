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

#include "html.h"
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

/* ---- render -------------------------------------------------------------- */

void tally_page_team_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)q;
    const json_t *envs = json_object_get(model, "environments"), *members = json_object_get(model, "members");
    size_t ne = json_array_size(envs), nm = json_array_size(members);
    int personal = tally_page_get_bool(model, "personal_data");
    tally_textbuf_puts(out, "<h1>Team and environments: ");
    tally_html_text(out, tally_page_get_str(json_object_get(model, "tenant"), "name"));
    tally_textbuf_puts(out, "</h1>");
    if (tally_page_get_bool(model, "truncated"))
        tally_textbuf_puts(out, "<p class=\"muted\">Only the first 1,000 of each list are shown.</p>");

    static const tally_html_column_t ecols[] = {{"Environment", 0}, {"Id", 0}, {"Kind", 0}, {"Created", 0}};
    tally_html_elem(out, "h2", NULL, "Environments");
    tally_html_table_open(out, NULL, "Environments", ecols, 4);
    for (size_t i = 0; i < ne; i++) {
        const json_t *e = json_array_get(envs, i);
        tally_html_cell_t c[4] = {tally_html_cell_text(tally_page_get_str(e, "name")),
                                  tally_html_cell_text(tally_page_get_str(e, "id")),
                                  tally_html_cell_text(tally_page_get_str(e, "kind")),
                                  tally_html_cell_text(tally_page_get_str(e, "created_at"))};
        tally_html_table_row(out, ecols, 4, c, 1);
    }
    if (ne == 0)
        tally_textbuf_puts(out, "<tr><td colspan=\"4\" class=\"empty\">No environment</td></tr>");
    tally_html_table_close(out);

    tally_html_elem(out, "h2", NULL, "Members");
    if (personal) {
        static const tally_html_column_t cols[] = {{"Name", 0}, {"E-mail", 0}, {"Role", 0}, {"Added", 0}};
        tally_html_table_open(out, NULL, "Members of the team", cols, 4);
        for (size_t i = 0; i < nm; i++) {
            const json_t *m = json_array_get(members, i);
            char name[512];
            snprintf(name, sizeof name, "%s %s", tally_page_get_text(m, "first_name"),
                     tally_page_get_text(m, "last_name"));
            tally_html_cell_t c[4] = {tally_html_cell_text(name),
                                      tally_html_cell_text(tally_page_get_str(m, "email")),
                                      tally_html_cell_text(tally_page_get_str(m, "role")),
                                      tally_html_cell_text(tally_page_get_str(m, "added_at"))};
            tally_html_table_row(out, cols, 4, c, 1);
        }
        if (nm == 0)
            tally_textbuf_puts(out, "<tr><td colspan=\"4\" class=\"empty\">No member</td></tr>");
    } else {
        tally_textbuf_puts(out, "<p class=\"muted\">Names and e-mails are shown to the tenant's own members "
                                "only.</p>");
        static const tally_html_column_t cols[] = {{"Member", 0}, {"Role", 0}, {"Added", 0}};
        tally_html_table_open(out, NULL, "Members of the team", cols, 3);
        for (size_t i = 0; i < nm; i++) {
            const json_t *m = json_array_get(members, i);
            tally_html_cell_t c[3] = {tally_html_cell_text(tally_page_get_str(m, "id")),
                                      tally_html_cell_text(tally_page_get_str(m, "role")),
                                      tally_html_cell_text(tally_page_get_str(m, "added_at"))};
            tally_html_table_row(out, cols, 3, c, 1);
        }
        if (nm == 0)
            tally_textbuf_puts(out, "<tr><td colspan=\"3\" class=\"empty\">No member</td></tr>");
    }
    tally_html_table_close(out);
}
