/* license_html.c: the licenses pages' badge and table (license_html.h). */
#include "license_html.h"

#include <string.h>

#include "html.h"
#include "layout.h"
#include "page_util.h"

void tally_license_html_status(tally_textbuf_t *out, const char *status)
{
    static const struct {
        const char *status, *cls, *text;
    } known[] = {
        {"valid", "badge badge-ok", "Valid"},
        {"expired", "badge badge-unknown", "Expired"},
        {"revoked", "badge badge-over", "Revoked"},
        {"not yet valid", "badge badge-warning", "Not yet valid"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (status && strcmp(status, known[i].status) == 0) {
            tally_html_elem(out, "span", known[i].cls, known[i].text);
            return;
        }
    tally_html_elem(out, "span", "badge badge-unknown", status ? status : "unknown");
}

/* "2026-12-07T05:44:50Z" as "2026-12-07 05:44 UTC"; anything else as it is. */
static void when(tally_textbuf_t *out, const char *t)
{
    if (t == NULL) {
        tally_textbuf_puts(out, "\xE2\x80\x93");
        return;
    }
    if (strlen(t) == 20 && t[10] == 'T' && t[19] == 'Z') {
        char text[32];
        memcpy(text, t, 10);
        text[10] = ' ';
        memcpy(text + 11, t + 11, 5);
        memcpy(text + 16, " UTC", 5);
        tally_html_text(out, text);
        return;
    }
    tally_html_text(out, t);
}

static void td_when(tally_textbuf_t *out, const json_t *it, const char *key)
{
    tally_textbuf_puts(out, "<td class=\"num\">");
    when(out, tally_page_get_str(it, key));
    tally_textbuf_puts(out, "</td>");
}

static void td_text(tally_textbuf_t *out, const char *text)
{
    tally_textbuf_puts(out, "<td>");
    tally_html_text(out, text);
    tally_textbuf_puts(out, "</td>");
}

/* "Ada Acme (m-acme)", or the id alone when the name is gone. */
static void named(tally_textbuf_t *out, const char *name, const char *id)
{
    if (name && *name) {
        tally_html_text(out, name);
        tally_textbuf_puts(out, " <span class=\"muted\">(");
        tally_html_text(out, id);
        tally_textbuf_puts(out, ")</span>");
    } else {
        tally_html_text(out, id);
    }
}

static void download(tally_textbuf_t *out, const json_t *it)
{
    tally_textbuf_puts(out, "<td>");
    tally_textbuf_puts(out, "<a download href=\"");
    tally_html_text(out, tally_page_get_text(it, "file"));
    tally_textbuf_puts(out, "\">Download</a></td>");
}

static void revoke_cell(tally_textbuf_t *out, const json_t *it)
{
    const char *id = tally_page_get_text(it, "license_id");
    tally_textbuf_puts(out, "<td>");
    if (!tally_page_is_null(it, "revoked_at")) {
        tally_textbuf_puts(out, "Revoked ");
        when(out, tally_page_get_str(it, "revoked_at"));
        const char *reason = tally_page_get_str(it, "revoke_reason");
        if (reason && *reason) {
            tally_textbuf_puts(out, ": ");
            tally_html_text(out, reason);
        }
        tally_textbuf_puts(out, "</td>");
        return;
    }
    tally_textbuf_puts(out, "<form class=\"inline\" method=\"post\" action=\"/vendor/licenses/");
    tally_html_url_component(out, id);
    tally_textbuf_puts(out, "/revoke\"><label>Reason <input type=\"text\" name=\"reason\" required "
                            "minlength=\"1\" maxlength=\"200\" size=\"16\"></label>"
                            "<button type=\"submit\">Revoke</button></form></td>");
}

static void staff_row(tally_textbuf_t *out, const json_t *it, int downloads)
{
    tally_textbuf_puts(out, "<tr><th scope=\"row\"><code>");
    tally_html_text(out, tally_page_get_text(it, "license_id"));
    tally_textbuf_puts(out, "</code></th><td>");
    const char *tenant = tally_page_get_text(it, "tenant_id");
    tally_textbuf_t href = {0};
    if (tally_layout_page_href(&href, "licenses", tenant) == 0) {
        tally_textbuf_puts(out, "<a href=\"");
        tally_html_text(out, href.data);
        tally_textbuf_puts(out, "\">");
        named(out, tally_page_get_str(it, "tenant_name"), tenant);
        tally_textbuf_puts(out, "</a>");
    } else {
        named(out, tally_page_get_str(it, "tenant_name"), tenant);
    }
    tally_textbuf_free(&href);
    tally_textbuf_puts(out, "</td><td>");
    if (strcmp(tally_page_get_text(it, "kind"), "environment") == 0) {
        tally_textbuf_puts(out, "Environment ");
        named(out, tally_page_get_str(it, "environment_name"), tally_page_get_text(it, "environment_id"));
    } else {
        tally_textbuf_puts(out, "Member ");
        named(out, tally_page_get_str(it, "member_name"), tally_page_get_text(it, "member_id"));
    }
    tally_textbuf_puts(out, "</td><td>");
    tally_license_html_status(out, tally_page_get_str(it, "status"));
    tally_textbuf_puts(out, "</td>");
    td_when(out, it, "issued_at");
    td_when(out, it, "valid_until");
    td_text(out, tally_page_get_str(it, "key_id"));
    if (downloads)
        download(out, it);
    else
        td_text(out, "\xE2\x80\x93");
    revoke_cell(out, it);
    tally_textbuf_puts(out, "</tr>");
}

static void member_row(tally_textbuf_t *out, const json_t *it, int downloads)
{
    tally_textbuf_puts(out, "<tr><th scope=\"row\"><code>");
    tally_html_text(out, tally_page_get_text(it, "license_id"));
    tally_textbuf_puts(out, "</code></th><td>");
    tally_license_html_status(out, tally_page_get_str(it, "status"));
    tally_textbuf_puts(out, "</td>");
    td_when(out, it, "valid_from");
    td_when(out, it, "valid_until");
    td_text(out, tally_page_get_str(it, "key_id"));
    if (downloads && tally_page_is_null(it, "revoked_at"))
        download(out, it);
    else
        td_text(out, "\xE2\x80\x93");
    tally_textbuf_puts(out, "</tr>");
}

void tally_license_html_table(tally_textbuf_t *out, const json_t *licenses, int staff, int downloads,
                              const char *caption)
{
    static const tally_html_column_t member_cols[] = {
        {"License", 0}, {"Status", 0}, {"Valid from", 1}, {"Valid until", 1}, {"Key", 0}, {"File", 0}};
    static const tally_html_column_t staff_cols[] = {
        {"License", 0}, {"Tenant", 0},      {"Holder", 0}, {"Status", 0}, {"Issued", 1},
        {"Valid until", 1}, {"Key", 0}, {"File", 0},   {"Revocation", 0}};
    size_t ncols = staff ? sizeof staff_cols / sizeof staff_cols[0] : sizeof member_cols / sizeof member_cols[0];
    tally_html_table_open(out, staff ? "wide" : NULL, caption, staff ? staff_cols : member_cols, ncols);
    size_t i;
    const json_t *it;
    json_array_foreach(licenses, i, it) {
        if (staff)
            staff_row(out, it, downloads);
        else
            member_row(out, it, downloads);
    }
    if (json_array_size(licenses) == 0)
        tally_textbuf_printf(out, "<tr><td colspan=\"%zu\" class=\"empty\">No license</td></tr>", ncols);
    tally_html_table_close(out);
}
