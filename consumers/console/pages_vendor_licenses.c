/*
 * pages_vendor_licenses.c: /vendor/licenses, vendor staff only. Every
 * license issued (license_list.h: the list of GET /api/v1/licenses as
 * staff see it), newest first, with its tenant, holder, status and
 * revocation; ?tenant= keeps one tenant's (an empty value: all; a
 * malformed one is a 400). Every license not revoked has a revoke form
 * (license_html.h). The counts per status are of the licenses listed.
 *
 * The model:
 *   {"page": "vendor-licenses", "tenant": the filter or null, "tenants":
 *    [{"id", "name"}] (for the filter), "licenses": [...], "truncated",
 *    "counts": {"valid", "expired", "revoked", "not yet valid"},
 *    "signing"}
 */
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "license_html.h"
#include "license_list.h"
#include "page_defs.h"
#include "page_util.h"
#include "route.h"

#define TENANTS_MAX 1000

static const char tenants_sql[] =
    "SELECT tenant_id, name FROM tally.console_tenants ORDER BY name, tenant_id LIMIT $1::int";

int tally_page_vendor_licenses_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf,
                                    size_t errsize)
{
    if (!q->staff) {
        snprintf(errbuf, errsize, "vendor staff only");
        return TALLY_PAGE_NOT_FOUND;
    }
    const char *filter = q->tenant_filter && q->tenant_filter[0] ? q->tenant_filter : NULL;
    if (filter && !tally_route_tenant_ok(filter, strlen(filter))) {
        snprintf(errbuf, errsize, "tenant must be a tenant id ([A-Za-z0-9._-], 1-64)");
        return TALLY_PAGE_BAD_QUERY;
    }
    char limit[16];
    snprintf(limit, sizeof limit, "%d", TENANTS_MAX);
    const char *params[1] = {limit};
    PGresult *r;
    int rc = tally_page_sql(pg, tenants_sql, 1, params, &r, errbuf, errsize);
    if (rc != 0)
        return rc;
    json_t *tenants = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(tenants, json_pack("{s:o, s:o}", "id", tally_page_cell_str(r, i, 0), "name",
                                                 tally_page_cell_str(r, i, 1)));
    PQclear(r);
    tally_license_list_query_t lq = {.tenant_id = filter, .staff = 1, .now_ms = q->now_ms};
    json_t *list = NULL;
    rc = tally_license_list_load(pg, &lq, &list, errbuf, errsize);
    if (rc != 0) {
        json_decref(tenants);
        return rc;
    }
    json_t *licenses = json_object_get(list, "licenses");
    json_int_t n_valid = 0, n_expired = 0, n_revoked = 0, n_later = 0;
    size_t i;
    json_t *it;
    json_array_foreach(licenses, i, it) {
        const char *s = tally_page_get_text(it, "status");
        n_valid += strcmp(s, "valid") == 0;
        n_expired += strcmp(s, "expired") == 0;
        n_revoked += strcmp(s, "revoked") == 0;
        n_later += strcmp(s, "not yet valid") == 0;
    }
    json_t *m = tally_page_model_new("vendor-licenses", q);
    json_object_set_new(m, "tenant", filter ? json_string(filter) : json_null());
    json_object_set_new(m, "tenants", tenants);
    json_object_set(m, "licenses", licenses);
    json_object_set(m, "truncated", json_object_get(list, "truncated"));
    json_object_set_new(m, "counts", json_pack("{s:I, s:I, s:I, s:I}", "valid", n_valid, "expired", n_expired,
                                               "revoked", n_revoked, "not yet valid", n_later));
    json_object_set_new(m, "signing", json_boolean(q->license_signing));
    json_decref(list);
    *model = m;
    return 0;
}

void tally_page_vendor_licenses_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)q;
    const char *filter = tally_page_get_str(model, "tenant");
    const json_t *tenants = json_object_get(model, "tenants"), *counts = json_object_get(model, "counts");
    tally_textbuf_puts(out, "<h1>Issued licenses</h1><p>Every license issued, newest first. A revoked license "
                            "is named in the signed <a href=\"/api/v1/licenses/revoked\">revocation list</a> "
                            "that <code>tally license verify --online</code> checks.</p>");
    /* The tenant filter: a GET form, no script. */
    tally_textbuf_puts(out, "<form class=\"inline\" method=\"get\" action=\"/vendor/licenses\">"
                            "<label>Tenant <select name=\"tenant\"><option value=\"\">All tenants</option>");
    size_t i;
    const json_t *t;
    json_array_foreach(tenants, i, t) {
        const char *id = tally_page_get_text(t, "id"), *name = tally_page_get_str(t, "name");
        tally_textbuf_puts(out, "<option");
        tally_html_attr(out, "value", id);
        if (filter && strcmp(filter, id) == 0)
            tally_textbuf_puts(out, " selected");
        tally_textbuf_putc(out, '>');
        tally_html_text(out, name && *name ? name : id);
        tally_textbuf_puts(out, "</option>");
    }
    tally_textbuf_puts(out, "</select></label><button type=\"submit\">Show</button></form>");
    tally_textbuf_printf(out, "<p>%lld valid, %lld expired, %lld revoked", (long long)tally_page_get_i64(counts, "valid"),
                         (long long)tally_page_get_i64(counts, "expired"),
                         (long long)tally_page_get_i64(counts, "revoked"));
    int64_t later = tally_page_get_i64(counts, "not yet valid");
    if (later > 0)
        tally_textbuf_printf(out, ", %lld not yet valid", (long long)later);
    tally_textbuf_puts(out, ".</p>");
    if (tally_page_get_bool(model, "truncated"))
        tally_textbuf_puts(out, "<p class=\"muted\">Only the 1,000 newest licenses are shown.</p>");
    if (!tally_page_get_bool(model, "signing"))
        tally_textbuf_puts(out, "<p class=\"muted\">License signing is not configured: no download here.</p>");
    tally_license_html_table(out, json_object_get(model, "licenses"), 1, tally_page_get_bool(model, "signing"),
                             filter ? "Licenses of the tenant chosen, newest first" : "Licenses, newest first");
}
