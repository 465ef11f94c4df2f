/*
 * alert_list.h: the usage alerts of one month, read from
 * tally.console_alerts (the materializer's projection of tally.alerts,
 * migration 0012) as one JSON list: what GET /api/v1/alerts answers and
 * what the overview page shows, so the API and the page cannot differ.
 *
 * Who sees what is the caller's to decide (a member: their own tenant;
 * staff: every tenant, or one); this module takes the tenant to filter by.
 * A month takes in the monthly alerts of that month and the daily ones of
 * its days.
 *
 * One item:
 *   {"alert_id", "tenant_id", "environment_id" (null but for the daily
 *    non-production cap), "metric" ("MONTHLY_API_CALLS",
 *    "NONPROD_DAILY_API_CALLS", "SEATS_PEAK"), "threshold" (percent),
 *    "value", "limit", "period" ("YYYY-MM" or "YYYY-MM-DD"), "state"
 *    ("TRIGGERED" or "RESOLVED"), "at" ("YYYY-MM-DDTHH:MM:SSZ")}
 * newest first (then by alert id), at most TALLY_ALERT_LIST_MAX items.
 */
#ifndef TALLY_CONSOLE_ALERT_LIST_H
#define TALLY_CONSOLE_ALERT_LIST_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#define TALLY_ALERT_LIST_MAX 1000

/* Loads {"alerts": [items], "truncated": bool} of tenant_id (NULL: every
 * tenant) and month ("YYYY-MM", checked by the caller) on pg (borrowed).
 * Returns 0 with *out owned by the caller, or TALLY_PAGE_DB_ERROR
 * (pages.h) with errbuf set. */
int tally_alert_list_load(PGconn *pg, const char *tenant_id, const char *month, json_t **out, char *errbuf,
                          size_t errsize) __attribute__((warn_unused_result));

/* A metric's name for people ("API calls this month", ...; static). */
const char *tally_alert_list_metric_label(const char *metric);

#endif
