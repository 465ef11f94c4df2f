#include "layout.h"

#include "html.h"
#include "svg_chart.h"

#include <string.h>

/* The pages whose route takes ?period=. */
static int takes_period(const char *name)
{
    return strcmp(name, "usage") == 0 || strcmp(name, "seats") == 0 || strcmp(name, "product") == 0;
}

static int is_vendor_page(const char *name)
{
    return strcmp(name, "tenants") == 0 || strcmp(name, "product") == 0 || strcmp(name, "vendor-licenses") == 0;
}

int tally_layout_page_href(tally_textbuf_t *out, const char *page, const char *tenant_id)
{
    static const char *const tenant_pages[] = {"overview", "usage", "seats", "team", "licenses", "webhook"};
    if (!page)
        return -1;
    if (strcmp(page, "vendor-licenses") == 0) {   /* its route is not its name */
        tally_textbuf_puts(out, "/vendor/licenses");
        return 0;
    }
    if (is_vendor_page(page)) {
        tally_textbuf_puts(out, "/vendor/");
        tally_textbuf_puts(out, page);
        return 0;
    }
    for (size_t i = 0; i < sizeof tenant_pages / sizeof tenant_pages[0]; i++) {
        if (strcmp(page, tenant_pages[i]) != 0)
            continue;
        if (!tenant_id || !*tenant_id)
            return -1;
        tally_textbuf_puts(out, "/t/");
        tally_html_url_component(out, tenant_id);
        tally_textbuf_putc(out, '/');
        if (i > 0)
            tally_textbuf_puts(out, page);
        return 0;
    }
    return -1;
}

void tally_layout_css(tally_textbuf_t *out)
{
    tally_textbuf_puts(
        out,
        ":root{color-scheme:light}"
        "*{box-sizing:border-box}"
        "body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1B1B1B;"
        "background:#FFF}"
        "header.site{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.5rem 1rem;"
        "background:#102A43;color:#FFF}"
        "header.site a{color:#FFF}"
        ".brand{font-weight:700;margin-right:auto}"
        "nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;margin:0;padding:0}"
        "nav a[aria-current=page]{font-weight:700;text-decoration:underline}"
        "form.signout{margin:0}"
        "form.signout button{font:inherit;padding:.25rem .75rem;cursor:pointer}"
        "main{max-width:72rem;margin:0 auto;padding:1rem}"
        "h1{font-size:1.5rem;margin:.5rem 0 1rem}"
        "h2{font-size:1.2rem;margin:1.5rem 0 .5rem}"
        ".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:1rem}"
        ".card{border:1px solid #D9E2EC;border-radius:6px;padding:.75rem 1rem}.card h2{margin-top:0}"
        ".table-wrap{overflow-x:auto}"
        "table{border-collapse:collapse;margin:.5rem 0 1rem;min-width:50%}"
        "caption{text-align:left;font-weight:600;padding:.25rem 0}"
        "th,td{padding:.3rem .6rem;border-bottom:1px solid #D9E2EC;text-align:left;vertical-align:top}"
        "thead th{border-bottom:2px solid #829AB1}th[scope=row]{white-space:nowrap}"
        ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
        "thead th.num{white-space:normal}"
        "table.wide{font-size:.875rem}table.wide th,table.wide td{padding:.3rem .4rem}"
        "table.wide th[scope=row]{white-space:normal}"
        "td.empty{color:#52606D;font-style:italic}"
        ".badge{display:inline-block;padding:.1rem .5rem;border-radius:4px;font-weight:700;border:2px solid}"
        ".badge-ok{background:#E3F9E5;color:#05400A;border-color:#31A24C}"
        ".badge-warning{background:#FFF3C4;color:#5C3C00;border-color:#C99A06}"
        ".badge-over{background:#FFE3E3;color:#610404;border-color:#B00020}"
        ".badge-unknown{background:#EEE;color:#222;border-color:#888}"
        ".badge-warning::before{content:'! '}"
        ".badge-over::before{content:'\\2716  '}"
        ".reason{margin-left:.5rem}"
        ".muted{color:#52606D}"
        ".downloads a{margin-right:1rem}"
        "form.inline{display:flex;flex-wrap:wrap;gap:.4rem;align-items:center;margin:0}"
        "main input[type=text],main select{font:inherit;padding:.2rem .4rem;border:1px solid #829AB1;border-radius:4px}"
        "main button{font:inherit;padding:.25rem .75rem;cursor:pointer}"
        ".notice{border-left:4px solid #31A24C;background:#E3F9E5;padding:.5rem .75rem;margin:.5rem 0 1rem}"
        "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85em}"
        ".nowrap,table.wide th.nowrap{white-space:nowrap}th .muted{font-weight:400}"
        "@media (max-width:600px){th.nowrap,table.wide th.nowrap{white-space:normal}}"
        "@media print{main form{display:none}}"
        "@media (max-width:600px){body{font-size:15px}main{padding:.5rem}.cards{grid-template-columns:1fr}"
        "header.site{padding:.5rem}table{font-size:.9rem}th,td{padding:.25rem .4rem}}"
        "@media print{header.site,nav,form.signout{display:none}"
        "body{color:#000;background:#FFF;font-size:11pt}main{max-width:none;padding:0}"
        "a{color:#000;text-decoration:none}"
        ".card{border-color:#000;break-inside:avoid}"
        "table{break-inside:auto}tr,caption{break-inside:avoid}thead{display:table-header-group}"
        "th,td{border-color:#000}"
        ".badge{background:#FFF!important;color:#000!important;border-color:#000!important}"
        ".table-wrap{overflow:visible}}");
    tally_chart_css(out);
}

static void nav_link(tally_textbuf_t *out, const tally_layout_t *l, const tally_page_t *p)
{
    tally_textbuf_t href = {0};
    if (tally_layout_page_href(&href, p->name, l->tenant_id) != 0) {
        tally_textbuf_free(&href);
        return;
    }
    if (l->period && takes_period(p->name)) {
        tally_textbuf_puts(&href, "?period=");
        tally_html_url_component(&href, l->period);
    }
    tally_textbuf_puts(out, "<li><a href=\"");
    tally_html_text(out, href.data);
    tally_textbuf_putc(out, '"');
    if (l->current && strcmp(l->current, p->name) == 0)
        tally_textbuf_puts(out, " aria-current=\"page\"");
    tally_textbuf_putc(out, '>');
    tally_html_text(out, p->title ? p->title : p->name);
    tally_textbuf_puts(out, "</a></li>");
    tally_textbuf_free(&href);
}

static void header(tally_textbuf_t *out, const tally_layout_t *l)
{
    tally_textbuf_puts(out, "<header class=\"site\"><span class=\"brand\">Tally console</span>");
    if (l && l->signed_in) {
        tally_textbuf_puts(out, "<nav aria-label=\"Pages\"><ul>");
        for (size_t i = 0; i < l->npages; i++) {
            const tally_page_t *p = &l->pages[i];
            if (!p->name)
                continue;
            int vendor = p->staff_only || is_vendor_page(p->name);
            if (vendor ? !l->staff : !l->tenant_id)
                continue;
            nav_link(out, l, p);
        }
        tally_textbuf_puts(out, "</ul></nav>"
                                "<form class=\"signout\" method=\"post\" action=\"/signout\">"
                                "<button type=\"submit\">Sign out</button></form>");
    }
    tally_textbuf_puts(out, "</header>");
}

static void begin(tally_textbuf_t *out, const char *title, const tally_layout_t *l)
{
    tally_textbuf_puts(out, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                            "<meta name=\"referrer\" content=\"no-referrer\"><title>");
    if (title && *title) {
        tally_html_text(out, title);
        tally_textbuf_puts(out, " \xC2\xB7 ");
    }
    tally_textbuf_puts(out, "Tally</title><style>");
    tally_layout_css(out);
    tally_textbuf_puts(out, "</style></head><body>");
    header(out, l);
    tally_textbuf_puts(out, "<main>");
}

void tally_layout_begin(tally_textbuf_t *out, const tally_layout_t *l)
{
    begin(out, l->title, l);
}

void tally_layout_end(tally_textbuf_t *out)
{
    tally_textbuf_puts(out, "</main></body></html>\n");
}

void tally_layout_error_page(tally_textbuf_t *out, int status, const char *title, const char *message,
                             const tally_layout_t *l)
{
    tally_textbuf_t full = {0};
    tally_textbuf_printf(&full, "%d ", status);
    tally_textbuf_puts(&full, title ? title : "Error");
    begin(out, full.data, l);
    tally_html_elem(out, "h1", NULL, full.data);
    tally_html_elem(out, "p", NULL, message);
    tally_textbuf_puts(out, "<p><a href=\"/\">Back to the start page</a></p>");
    tally_layout_end(out);
    tally_textbuf_free(&full);
}

tally_layout_t tally_layout_for(const tally_page_t *page, const tally_page_query_t *q, const tally_page_t *pages,
                                size_t npages)
{
    return (tally_layout_t){.title = page ? page->title : NULL,
                            .current = page ? page->name : NULL,
                            .signed_in = q != NULL,
                            .staff = q ? q->staff : 0,
                            .tenant_id = q ? q->tenant_id : NULL,
                            .period = q ? q->period : NULL,
                            .pages = pages,
                            .npages = npages};
}
