#include "server_internal.h"

#include "layout.h"
#include "log.h"
#include "params.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int period_n, status_n, format_n, tenant_n, issued_n;
    const char *period, *status, *format, *tenant, *issued;
} args_t;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    args_t *a = cls;
    value = value ? value : "";
    if (strcmp(key, "period") == 0) {
        a->period_n++;
        a->period = value;
    } else if (strcmp(key, "status") == 0) {
        a->status_n++;
        a->status = value;
    } else if (strcmp(key, "format") == 0) {
        a->format_n++;
        a->format = value;
    } else if (strcmp(key, "tenant") == 0) {
        a->tenant_n++;
        a->tenant = value;
    } else if (strcmp(key, "issued") == 0) {
        a->issued_n++;
        a->issued = value;
    }
    return MHD_YES;
}

/* Signed in, and allowed to see the route's tenant (or vendor page).
 * Returns 1 with *p, or 0 when an answer was queued into *res. */
static int admit(console_req_t *r, tally_principal_t *p, enum MHD_Result *res)
{
    int rc = tally_cs_principal(r, p);
    if (rc < 0) {
        tally_cs_db_release(r);
        *res = tally_cs_unavailable(r, "the database is unreachable");
        return 0;
    }
    if (rc == 0) {
        tally_cs_db_release(r);
        *res = tally_cs_unauthorized(r);
        return 0;
    }
    /* Another tenant's route, or a vendor page, is no route at all to a
     * member: the very 404 of an unknown path. */
    if (!p->staff && (r->route.vendor || strcmp(r->route.tenant, p->tenant_id) != 0)) {
        tally_cs_db_release(r);
        *res = tally_cs_not_found(r);
        return 0;
    }
    return 1;
}

/* Duplicated or malformed parameters: 0 when an answer was queued. */
static int check_args(console_req_t *r, args_t *a, int takes_period, int takes_status, int takes_format,
                      enum MHD_Result *res)
{
    char why[128];
    memset(a, 0, sizeof *a);
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect, a);
    const char *dup = a->period_n > 1   ? "period"
                      : a->status_n > 1 ? "status"
                      : a->format_n > 1 ? "format"
                      : a->tenant_n > 1 ? "tenant"
                      : a->issued_n > 1 ? "issued"
                                        : NULL;
    if (dup) {
        snprintf(why, sizeof why, "%s is given more than once", dup);
        *res = tally_cs_error(r, 400, "bad request", why);
        return 0;
    }
    if (!takes_period)
        a->period = NULL;
    if (!takes_status)
        a->status = NULL;
    if (!takes_format)
        a->format = NULL;
    if (a->period && tally_params_period_check(a->period, tally_cs_now_ms(r), why, sizeof why) != 0) {
        *res = tally_cs_error(r, 400, "bad request", why);
        return 0;
    }
    if (a->status && !tally_params_status_ok(a->status)) {
        *res = tally_cs_error(r, 400, "bad request", "status must be ok, warning or over");
        return 0;
    }
    if (a->format && strcmp(a->format, "csv") != 0 && strcmp(a->format, "json") != 0) {
        *res = tally_cs_error(r, 400, "bad request", "format must be csv or json");
        return 0;
    }
    return 1;
}

static const tally_page_t *find_page(const tally_console_server_t *srv, const char *name)
{
    for (size_t i = 0; i < srv->o.n_pages; i++)
        if (strcmp(srv->o.pages[i].name, name) == 0)
            return &srv->o.pages[i];
    return NULL;
}

static int page_takes(const char *name, const char *what)
{
    if (strcmp(what, "period") == 0)
        return strcmp(name, "usage") == 0 || strcmp(name, "seats") == 0 || strcmp(name, "product") == 0;
    if (strcmp(what, "tenant") == 0)
        return strcmp(name, "vendor-licenses") == 0;
    if (strcmp(what, "issued") == 0)
        return strcmp(name, "licenses") == 0;
    return strcmp(name, "tenants") == 0;   /* status */
}

/* Loads the page's model; once more on a fresh connection when the first
 * was found broken. Returns 0 or a TALLY_PAGE_* code with errbuf. */
static int load(console_req_t *r, const tally_page_t *page, const tally_page_query_t *q, json_t **model,
                char *err, size_t errsize)
{
    int rc = TALLY_PAGE_DB_ERROR;
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *pg = tally_cs_db(r, err, errsize);
        if (pg == NULL)
            return TALLY_PAGE_DB_ERROR;
        *model = NULL;
        rc = page->load(pg, q, model, err, errsize);
        if (rc != TALLY_PAGE_DB_ERROR)
            break;
        r->pg_failed = 1;
        tally_metric_add(r->srv->db_errors, 1);
        int broken = tally_dbpool_broken(pg);
        tally_cs_db_release(r);
        if (!broken)
            break;
    }
    tally_cs_db_release(r);
    return rc;
}

enum MHD_Result tally_cs_page(console_req_t *r)
{
    enum MHD_Result res;
    tally_principal_t p;
    args_t a;
    if (!admit(r, &p, &res))
        return res;
    const tally_page_t *page = find_page(r->srv, r->route.page);
    if (page == NULL || (page->staff_only && !p.staff) || (page->html_only && r->route.api)) {
        tally_cs_db_release(r);
        return tally_cs_not_found(r);
    }
    if (!check_args(r, &a, page_takes(page->name, "period"), page_takes(page->name, "status"), 0, &res)) {
        tally_cs_db_release(r);
        return res;
    }
    tally_page_query_t q = {
        .tenant_id = r->route.vendor ? NULL : r->route.tenant,
        .staff = p.staff,
        .member_id = p.staff ? NULL : p.member_id,
        .period = a.period,
        .status = a.status,
        /* The licenses pages check their own parameters. */
        .tenant_filter = page_takes(page->name, "tenant") ? a.tenant : NULL,
        .issued = page_takes(page->name, "issued") ? a.issued : NULL,
        .license_signing = r->srv->o.license_ring != NULL,
        .webhook_setting = r->srv->o.webhook_key != NULL && r->srv->o.admin_token != NULL,
        /* The pages' clock ticks by the minute: a model drawn from it (the
         * overview's month-end projection) and so its ETag stay the same
         * for a minute instead of changing every millisecond. */
        .now_ms = tally_cs_now_ms(r) / 60000 * 60000,
    };
    json_t *model = NULL;
    char err[512] = "";
    int rc = load(r, page, &q, &model, err, sizeof err);
    if (rc == TALLY_PAGE_NOT_FOUND)
        return tally_cs_not_found(r);
    if (rc == TALLY_PAGE_BAD_QUERY)
        return tally_cs_error(r, 400, "bad request", err);
    if (rc != 0 || model == NULL) {
        tally_log_warn("console", "%s: %s", page->name, err[0] ? err : "no model");
        json_decref(model);
        return tally_cs_unavailable(r, "the database is unreachable");
    }
    if (r->route.api) {
        char *text = json_dumps(model, JSON_COMPACT);
        json_decref(model);
        if (text == NULL)
            abort();
        char cc[48];
        snprintf(cc, sizeof cc, "private, max-age=%d", r->srv->o.api_max_age_s);
        return tally_cs_cached(r, "application/json", text, strlen(text), cc, NULL);
    }
    tally_textbuf_t doc = {0};
    tally_layout_t l = tally_layout_for(page, &q, r->srv->o.pages, r->srv->o.n_pages);
    tally_layout_begin(&doc, &l);
    page->render(model, &q, &doc);
    tally_layout_end(&doc);
    json_decref(model);
    return tally_cs_cached(r, "text/html; charset=utf-8", doc.data, doc.len, "private, no-cache", NULL);
}

enum MHD_Result tally_cs_download(console_req_t *r)
{
    enum MHD_Result res;
    tally_principal_t p;
    args_t a;
    if (!admit(r, &p, &res))
        return res;
    tally_cs_db_release(r);   /* the export reads what it needs itself */
    if (!check_args(r, &a, 1, 0, r->route.api, &res))
        return res;
    char period[16];
    if (a.period)
        snprintf(period, sizeof period, "%s", a.period);
    else
        tally_params_period_now(tally_cs_now_ms(r), period, sizeof period);
    int json = r->route.api && (a.format == NULL || strcmp(a.format, "json") == 0);
    tally_console_server_t *srv = r->srv;
    if (srv->o.download == NULL)
        return tally_cs_unavailable(r, "downloads are not configured");
    if (atomic_fetch_add(&srv->downloads, 1) >= srv->o.downloads_max) {
        atomic_fetch_sub(&srv->downloads, 1);
        tally_metric_add(srv->downloads_busy, 1);
        const char *const headers[] = {"Retry-After", "5", NULL};
        return tally_cs_error_with(r, 503, "busy", "too many downloads at once; try again shortly", headers);
    }
    tally_textbuf_t out = {0};
    char err[512] = "";
    int rc = srv->o.download(srv->o.download_arg, r->route.tenant, period, json, &out, err, sizeof err);
    atomic_fetch_sub(&srv->downloads, 1);
    if (rc != 0) {
        tally_textbuf_free(&out);
        if (rc == TALLY_PAGE_NOT_FOUND)
            return tally_cs_not_found(r);
        if (rc == TALLY_PAGE_BAD_QUERY)
            return tally_cs_error(r, 400, "bad request", err);
        tally_log_warn("console", "download: %s", err);
        return tally_cs_unavailable(r, "the export failed; try again shortly");
    }
    char disposition[160];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"tally-usage-%s-%s.%s\"", r->route.tenant, period,
             json ? "json" : "csv");
    const char *const headers[] = {"Content-Disposition", disposition, NULL};
    if (out.data == NULL)
        tally_textbuf_puts(&out, "");
    return tally_cs_cached(r, json ? "application/json" : "text/csv; charset=utf-8", out.data, out.len,
                           "private, no-cache", headers);
}
