/*
 * layout.h: the document shell of every console page. Pure: appends to a
 * tally_textbuf_t.
 *
 * A page is tally_layout_begin, the page's <main> content (its render),
 * tally_layout_end. The shell is one self-contained document: doctype,
 * lang, viewport, <title>, inline CSS (no external asset and no script), a
 * navigation with the pages the principal may see and a sign-out form
 * (a POST /signout button: no JavaScript needed). The layout does not
 * write the page's <h1>: the page does, as the first thing in <main>.
 *
 * The CSS, for the pages' markup to use:
 *   - one column under 600px wide; .cards (a grid of .card boxes) folds
 *     into one; wide tables scroll sideways in their .table-wrap;
 *   - tables: td.num/th.num right-aligned with tabular figures, captions
 *     left; td.empty for "No data" rows;
 *   - badges (html.h tally_html_badge): .badge-ok, .badge-warning,
 *     .badge-over, each with its word, not only a colour;
 *   - .reason (the one-line reason beside a badge), .muted, .downloads;
 *   - print: no navigation and no sign-out, black on white, links not
 *     underlined, table rows and charts never split across pages, table
 *     headers repeated on each page;
 *   - the charts' classes (svg_chart.h tally_chart_css).
 *
 * Navigation: from the pages given (tally_page_all(), pages.h; passed in,
 * so the layout does not depend on the pages' code). A member sees the
 * tenant pages of their tenant; staff see the vendor pages, and the tenant
 * pages too when a tenant is in context (staff looking at /t/{tenant}/).
 * Link targets are those of pages.h (tally_layout_page_href).
 */
#ifndef TALLY_CONSOLE_LAYOUT_H
#define TALLY_CONSOLE_LAYOUT_H

#include <stddef.h>

#include "pages.h"
#include "textbuf.h"

/* What the shell needs. Everything borrowed. */
typedef struct tally_layout_t {
    const char *title;          /* the page's title: <title>title · Tally</title> */
    const char *current;        /* the name of the page shown (aria-current), or NULL */
    int signed_in;              /* 0: no navigation and no sign-out form */
    int staff;                  /* the principal is vendor staff */
    const char *tenant_id;      /* the tenant in context, or NULL */
    const char *period;         /* ?period= carried to the usage, seats and product links, or NULL */
    const tally_page_t *pages;  /* the navigation, in order; may be NULL when npages is 0 */
    size_t npages;
} tally_layout_t;

/* Appends everything up to and including <main>. */
void tally_layout_begin(tally_textbuf_t *out, const tally_layout_t *l);

/* Appends </main> and the rest of the document. */
void tally_layout_end(tally_textbuf_t *out);

/* Appends the route of page name (pages.h), tenant percent-encoded:
 * "/t/acme/" (overview), "/t/acme/usage", "/vendor/tenants". Not
 * attribute-escaped (a URL: escape it where it is written). Nothing for an
 * unknown name or a tenant page without a tenant. Returns 0, or -1 when
 * nothing was written. */
int tally_layout_page_href(tally_textbuf_t *out, const char *page, const char *tenant_id)
    __attribute__((warn_unused_result));

/* The shell of page (borrowed) for the principal of q (borrowed; signed in,
 * staff, tenant and period from it), with the navigation pages[0..npages). */
tally_layout_t tally_layout_for(const tally_page_t *page, const tally_page_query_t *q, const tally_page_t *pages,
                                size_t npages);

/* Appends a whole error document: <h1>status title</h1><p>message</p> and
 * a link home. l may be NULL (no navigation: the same body for every
 * principal, e.g. the 404 of an unknown route and of another tenant's).
 * title and message are escaped. */
void tally_layout_error_page(tally_textbuf_t *out, int status, const char *title, const char *message,
                             const tally_layout_t *l);

/* Appends the inline CSS (what <style> holds). */
void tally_layout_css(tally_textbuf_t *out);

#endif
