/*
 * page_util.h: what the page loaders and renderers share: running a
 * parameterised query as the console's role, reading its cells into the
 * JSON model, reading the model back, the tenant header, the limit status
 * rule and the small-count rule.
 *
 * Every query goes through tally_page_sql: PQexecParams, text parameters,
 * never a value pasted into SQL text.
 */
#ifndef TALLY_CONSOLE_PAGE_UTIL_H
#define TALLY_CONSOLE_PAGE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "pages.h"
#include "period.h"
#include "timeutil.h"

/* The longest tenant id looked up; a longer one is no tenant. */
#define TALLY_PAGE_TENANT_MAX 256

/* A figure computed from fewer installations than this is not shown. */
#define TALLY_PAGE_MIN_INSTALLS 5

/* Runs sql with nparams text parameters (borrowed; a NULL one is SQL NULL)
 * on pg (borrowed). Returns 0 with *res owned by the caller (PQclear it) and
 * its status PGRES_TUPLES_OK, or TALLY_PAGE_DB_ERROR with the server's
 * message in errbuf and nothing to free. */
int tally_page_sql(PGconn *pg, const char *sql, int nparams, const char *const *params, PGresult **res,
                   char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Cell (row, col) of res as a number (0 when NULL or not a number), as a
 * JSON integer or null, as a JSON string or null (all new references). */
int64_t tally_page_cell_i64(const PGresult *res, int row, int col);
json_t *tally_page_cell_int(const PGresult *res, int row, int col);
json_t *tally_page_cell_str(const PGresult *res, int row, int col);
/* A date cell "YYYY-MM-DD" as days since 1970-01-01, or -1 when NULL or
 * malformed. */
int64_t tally_page_cell_day(const PGresult *res, int row, int col);

/* A string the model can hold: s itself when it is valid UTF-8, else a
 * replacement (jansson refuses invalid UTF-8). New reference; NULL s gives
 * JSON null. */
json_t *tally_page_json_str(const char *s);

/* The model's skeleton: {"page": name}. New reference. No clock in it: a
 * model is the same until its figures change, so its ETag is too (the
 * overview's projection moves with the clock, the other pages do not). */
json_t *tally_page_model_new(const char *name, const tally_page_query_t *q);

/* Loads {"id", "name"} of tenant_id into *tenant (new reference). Returns 0,
 * TALLY_PAGE_NOT_FOUND (no such tenant; also NULL, empty, longer than
 * TALLY_PAGE_TENANT_MAX or not UTF-8, without a query) or
 * TALLY_PAGE_DB_ERROR. */
int tally_page_tenant(PGconn *pg, const char *tenant_id, json_t **tenant, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The start of a tenant's monthly page (usage, seats): q->period parsed
 * into *p (BAD_QUERY), the tenant loaded into *tenant as tally_page_tenant
 * does, and the month's first and last day as YYYY-MM-DD. Returns 0 with
 * *tenant owned by the caller, or a TALLY_PAGE_* code with errbuf set. */
int tally_page_tenant_month(PGconn *pg, const tally_page_query_t *q, tally_period_t *p, json_t **tenant,
                            char first[TALLY_DATE_SIZE], char last[TALLY_DATE_SIZE], char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The model of such a page: name, tenant (taken), period, first_day and
 * last_day. */
json_t *tally_page_tenant_month_model(const char *name, const tally_page_query_t *q, const tally_period_t *p,
                                      json_t *tenant, const char *first, const char *last);

/* The limit status of used against maximum, the rule of
 * tally.compliance_detail (0004): "over" above the maximum, "warning" from
 * 80 % up to it (nothing used is never a warning), else "ok". */
const char *tally_page_status(int64_t used, int64_t maximum);

/* 1 when a figure computed from installs distinct installations must be
 * hidden: 1 to TALLY_PAGE_MIN_INSTALLS - 1 of them. A figure from no
 * installation at all is 0 and identifies nobody. */
int tally_page_suppressed(int64_t installs);

/* a + b, saturating at INT64_MAX (the views saturate the same way). */
int64_t tally_page_add(int64_t a, int64_t b);

/* days as "YYYY-MM-DD" (a new JSON string; "" outside the years 0-9999). */
json_t *tally_page_day_json(int64_t day);

/* Reading the model back (renderers): the member key of obj as a number
 * (0 when missing or not a number), a string (NULL when missing or not a
 * string), or an array/object (NULL when missing). */
int64_t tally_page_get_i64(const json_t *obj, const char *key);
const char *tally_page_get_str(const json_t *obj, const char *key);
/* The same, "" instead of NULL (for text that is printed). */
const char *tally_page_get_text(const json_t *obj, const char *key);
int tally_page_get_bool(const json_t *obj, const char *key);
int tally_page_is_null(const json_t *obj, const char *key);

#endif
