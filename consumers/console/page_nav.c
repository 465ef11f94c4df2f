/* page_nav.c: previous and next month links (page_nav.h). */
#include "page_nav.h"

#include <stdio.h>

#include "html.h"
#include "layout.h"
#include "period.h"

/* One link to page at the month holding day, if the server takes it. */
static void link_to(tally_textbuf_t *out, const char *page, const char *tenant_id, int64_t day, int64_t now_ms,
                    int before)
{
    tally_period_t p, check;
    char err[128];
    if (tally_period_of_day(day, &p) != 0 || tally_period_parse(p.text, now_ms, &check, err, sizeof err) != 0)
        return;
    tally_textbuf_t href = {0};
    if (tally_layout_page_href(&href, page, tenant_id) == 0) {
        char text[64];
        snprintf(text, sizeof text, before ? "\xE2\x86\x90 %s" : "%s \xE2\x86\x92", p.text);   /* arrows */
        tally_html_param_t param = {"period", p.text};
        tally_html_link(out, href.data, &param, 1, text, NULL);
    }
    tally_textbuf_free(&href);
}

void tally_page_period_nav(tally_textbuf_t *out, const char *page, const char *tenant_id, const char *period,
                           int64_t now_ms)
{
    tally_period_t p;
    char err[128];
    if (period == NULL || tally_period_parse(period, now_ms, &p, err, sizeof err) != 0)
        return;
    tally_textbuf_puts(out, "<nav class=\"downloads\" aria-label=\"Months\">");
    link_to(out, page, tenant_id, p.first_day - 1, now_ms, 1);
    link_to(out, page, tenant_id, p.last_day + 1, now_ms, 0);
    tally_textbuf_puts(out, "</nav>");
}
