/*
 * page_defs.h: each page's load and render (pages.h says what they do),
 * defined in its own pages_*.c file and listed by pages.c. Only pages.c
 * and the page files include this; the rest of the console finds a page by
 * name (tally_page_find).
 */
#ifndef TALLY_CONSOLE_PAGE_DEFS_H
#define TALLY_CONSOLE_PAGE_DEFS_H

#include "pages.h"

#define TALLY_PAGE_DECLARE(name)                                                                               \
    int tally_page_##name##_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf,      \
                                 size_t errsize) __attribute__((warn_unused_result));                         \
    void tally_page_##name##_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)

TALLY_PAGE_DECLARE(overview);   /* pages_overview.c */
TALLY_PAGE_DECLARE(usage);      /* pages_usage.c */
TALLY_PAGE_DECLARE(seats);      /* pages_seats.c */
TALLY_PAGE_DECLARE(team);       /* pages_team.c */
TALLY_PAGE_DECLARE(tenants);    /* pages_vendor_tenants.c */
TALLY_PAGE_DECLARE(product);    /* pages_vendor_product.c */
TALLY_PAGE_DECLARE(licenses);   /* pages_licenses.c */
TALLY_PAGE_DECLARE(vendor_licenses);   /* pages_vendor_licenses.c */
TALLY_PAGE_DECLARE(webhook);    /* pages_webhook.c */

#endif
