/*
 * pages_licenses.c: /t/{tenant}/licenses. A member sees their own
 * personal-dev licenses (license_list.h: the very list of
 * GET /api/v1/licenses), each with its status and a download, and a
 * "Get a license" form: POST /t/{tenant}/licenses with a hidden
 * idempotency_key made at render, so a form sent twice (a double click, a
 * reload that re-posts) names one license. ?issued={license id} (where the
 * POST sends the browser back) says that license was issued.
 *
 * Staff looking at a tenant see every license of that tenant, in staff's
 * table (with revoke forms) and without the form: staff issue environment
 * licenses through the API.
 *
 * The model:
 *   {"page": "licenses", "tenant": {"id", "name"}, "member_id" (null for
 *    staff), "licenses": [...], "truncated", "issued" (the id of ?issued=
 *    when it is one of the licenses listed, else null), "signing" (license
 *    signing configured), "form": {"action", "idempotency_key"} or null}
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "layout.h"
#include "license_html.h"
#include "license_list.h"
#include "page_defs.h"
#include "page_util.h"
#include "route.h"

int tally_page_licenses_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf, size_t errsize)
{
    if (q->issued && !tally_route_license_id_ok(q->issued, strlen(q->issued))) {
        snprintf(errbuf, errsize, "issued must be a license id (a lower-case UUID)");
        return TALLY_PAGE_BAD_QUERY;
    }
    json_t *tenant = NULL;
    int rc = tally_page_tenant(pg, q->tenant_id, &tenant, errbuf, errsize);
    if (rc != 0)
        return rc;
    tally_license_list_query_t lq = {
        .tenant_id = q->tenant_id,
        .member_id = q->staff ? NULL : q->member_id,
        .staff = q->staff,
        .now_ms = q->now_ms,
    };
    json_t *list = NULL;
    rc = tally_license_list_load(pg, &lq, &list, errbuf, errsize);
    if (rc != 0) {
        json_decref(tenant);
        return rc;
    }
    json_t *m = tally_page_model_new("licenses", q);
    json_object_set_new(m, "tenant", tenant);
    json_object_set_new(m, "member_id", q->staff ? json_null() : tally_page_json_str(q->member_id));
    json_t *licenses = json_object_get(list, "licenses");
    json_object_set(m, "licenses", licenses);
    json_object_set(m, "truncated", json_object_get(list, "truncated"));
    json_t *issued = json_null();
    size_t i;
    json_t *it;
    json_array_foreach(licenses, i, it) {
        if (q->issued && strcmp(tally_page_get_text(it, "license_id"), q->issued) == 0) {
            json_decref(issued);
            issued = json_string(q->issued);
        }
    }
    json_decref(list);
    json_object_set_new(m, "issued", issued);
    json_object_set_new(m, "signing", json_boolean(q->license_signing));
    if (!q->staff && q->license_signing) {
        /* A fresh key per page shown: the POST derives the license id from
         * it (license_id.h), so the same form sent again is the same
         * license, and a new visit asks for a new one. */
        unsigned char raw[16];
        char key[2 * sizeof raw + 1];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(key, sizeof key, raw, sizeof raw);
        tally_textbuf_t action = {0};
        if (tally_layout_page_href(&action, "licenses", q->tenant_id) != 0)
            tally_textbuf_puts(&action, "");
        json_object_set_new(m, "form", json_pack("{s:s, s:s}", "action", action.data, "idempotency_key", key));
        tally_textbuf_free(&action);
    } else {
        json_object_set_new(m, "form", json_null());
    }
    *model = m;
    return 0;
}

void tally_page_licenses_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)q;
    const json_t *tenant = json_object_get(model, "tenant"), *licenses = json_object_get(model, "licenses");
    const json_t *form = json_object_get(model, "form");
    int staff = tally_page_is_null(model, "member_id");
    int signing = tally_page_get_bool(model, "signing");
    const char *name = tally_page_get_str(tenant, "name");
    tally_textbuf_puts(out, "<h1>Licenses</h1><p>");
    if (staff) {
        tally_textbuf_puts(out, "Every license issued to ");
        tally_html_text(out, name ? name : tally_page_get_str(tenant, "id"));
        tally_textbuf_puts(out, ": personal development licenses of its members and licenses of its "
                                "environments.");
    } else {
        tally_textbuf_puts(out, "Your personal development licenses at ");
        tally_html_text(out, name ? name : tally_page_get_str(tenant, "id"));
        tally_textbuf_puts(out, ". A license file is checked offline with <code>tally license verify</code> "
                                "and the vendor's <a href=\"/api/v1/licenses/keys?format=pub\">public keys</a>.");
    }
    tally_textbuf_puts(out, "</p>");
    const char *issued = tally_page_get_str(model, "issued");
    if (issued) {
        tally_textbuf_puts(out, "<p class=\"notice\" role=\"status\">License <code>");
        tally_html_text(out, issued);
        tally_textbuf_puts(out, "</code> issued. ");
        if (signing) {
            tally_textbuf_puts(out, "<a download href=\"/api/v1/licenses/");
            tally_html_url_component(out, issued);
            tally_textbuf_puts(out, "/file\">Download it</a>.");
        }
        tally_textbuf_puts(out, "</p>");
    }
    if (json_is_object(form)) {
        tally_textbuf_puts(out, "<form class=\"inline\" method=\"post\"");
        tally_html_attr(out, "action", tally_page_get_text(form, "action"));
        tally_textbuf_puts(out, "><input type=\"hidden\" name=\"idempotency_key\"");
        tally_html_attr(out, "value", tally_page_get_text(form, "idempotency_key"));
        tally_textbuf_puts(out, "><button type=\"submit\">Get a license</button>"
                                "<span class=\"muted\">For your own development environment: valid for 30 "
                                "days, never past your contract.</span></form>");
    } else if (!signing) {
        tally_textbuf_puts(out, "<p class=\"muted\">Licenses cannot be issued or downloaded here at the moment "
                                "(license signing is not configured).</p>");
    }
    if (tally_page_get_bool(model, "truncated"))
        tally_textbuf_puts(out, "<p class=\"muted\">Only the 1,000 newest licenses are shown.</p>");
    tally_license_html_table(out, licenses, staff, signing, staff ? "Licenses, newest first" : "Your licenses, newest first");
}
