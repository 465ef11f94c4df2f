/*
 * pages.h: the console's pages, each one model and two faces.
 *
 * A page loads its figures from the read model (as tally_reader) into one
 * JSON document, its model. /api/v1 serves that model as it is; the HTML
 * page is rendered from the same model, never from a second query, so the
 * page and the API cannot show different numbers.
 *
 *   name        HTML route                   API route
 *   overview    /t/{tenant}/                 /api/v1/tenants/{tenant}/overview
 *   usage       /t/{tenant}/usage?period=    /api/v1/tenants/{tenant}/usage?period=
 *   seats       /t/{tenant}/seats?period=    /api/v1/tenants/{tenant}/seats?period=
 *   team        /t/{tenant}/team             /api/v1/tenants/{tenant}/team
 *   tenants     /vendor/tenants?status=      /api/v1/vendor/tenants?status=   (staff only)
 *   product     /vendor/product?period=      /api/v1/vendor/product?period=   (staff only)
 *   licenses    /t/{tenant}/licenses?issued=  (HTML only; the list is GET /api/v1/licenses)
 *   vendor-licenses /vendor/licenses?tenant=  (HTML only, staff only; the same)
 *
 * The server (server*.c) owns authentication, the tenant check (a member
 * of another tenant gets 404 before a page is loaded), caching headers and
 * errors; a page owns its queries and its markup.
 */
#ifndef TALLY_CONSOLE_PAGES_H
#define TALLY_CONSOLE_PAGES_H

#include <stdint.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "textbuf.h"

/* Results of a page's load besides 0 (success). */
enum {
    TALLY_PAGE_NOT_FOUND = -1,   /* no such tenant, or nothing to show: 404 */
    TALLY_PAGE_BAD_QUERY = -2,   /* a query parameter is malformed or out of range: 400, errbuf says why */
    TALLY_PAGE_DB_ERROR = -3,    /* the database failed: 503, errbuf says why (logged, not shown) */
};

/* What a request asks for, already authenticated and checked by the server
 * (all strings borrowed for the call). */
typedef struct tally_page_query_t {
    const char *tenant_id;   /* the tenant in the route; NULL on vendor pages */
    int staff;               /* 1: vendor staff (sees every tenant and the vendor pages) */
    const char *member_id;   /* the signed-in member; NULL for staff */
    const char *period;      /* ?period=YYYY-MM as given, or NULL: the current one */
    const char *status;      /* ?status= on the vendor tenants page, or NULL */
    const char *tenant_filter; /* ?tenant= on the vendor licenses page, or NULL */
    const char *issued;      /* ?issued= on the licenses page (the license just issued), or NULL */
    int license_signing;     /* 1: the console signs licenses (--license-keys): downloads and issuing */
    int webhook_setting;     /* 1: the console can set webhooks (--webhook-public-key and the gateway) */
    int64_t now_ms;          /* the request's wall clock (tests pin it) */
} tally_page_query_t;

typedef struct tally_page_t {
    const char *name;        /* "overview", "usage", ... as above */
    const char *title;       /* shown in the navigation and <title> */
    int staff_only;          /* vendor pages */
    /* Loads the model. Returns 0 with *model owned by the caller, or a
     * TALLY_PAGE_* code with errbuf set. pg is borrowed. */
    int (*load)(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf, size_t errsize);
    /* Appends the page's <main> content (not the document shell) for model
     * (borrowed) to out. Never fails; every text is escaped. */
    void (*render)(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out);
    int html_only;           /* no /api/v1 face (the licenses pages: their list is GET /api/v1/licenses) */
} tally_page_t;

/* The page called name, or NULL. Static; never freed. */
const tally_page_t *tally_page_find(const char *name);

/* Every page, in navigation order; *n gets the count. Static. */
const tally_page_t *tally_page_all(size_t *n);

#endif
