/*
 * crossing.h: usage threshold crossings, pure (no Kafka, no I/O, no clock:
 * every time comes from the inputs). tally-notifier wraps it in Kafka
 * transactions; the tests drive it directly.
 *
 * Inputs, per tenant: license terms (LicenseTermsSet), alert rules
 * (AlertRulesSet; a tenant without them uses the deployment's defaults),
 * environment kinds (EnvironmentCreated) -- the three kept so that reading
 * a Control Panel record again, even after newer ones, changes nothing
 * (terms by valid_from and set_at, rules and kinds by time) -- and the
 * rollups of tally.rollups (ApiUsageRollup per environment and day,
 * SeatRollup per day: the last value of a key is the truth, so a rollup
 * replaces the one before it).
 *
 * Values, each a *series* (tenant, metric, environment, period):
 *   MONTHLY_API_CALLS        period YYYY-MM: the sum over the tenant's
 *                            environments of the latest api_calls of each
 *                            (environment, day) of that calendar month
 *                            inside the contract that governs the month
 *                            (the latest-starting terms overlapping it),
 *                            against its monthly_api_calls_max.
 *   NONPROD_DAILY_API_CALLS  period YYYY-MM-DD, per environment whose kind
 *                            (EnvironmentCreated) is staging or development:
 *                            the day's api_calls against
 *                            daily_api_calls_max_nonprod of the terms
 *                            covering the day. An environment of unknown
 *                            kind is not checked.
 *   SEATS_PEAK               period YYYY-MM of the contract's valid_from:
 *                            the highest seats_peak of the contract's days,
 *                            against seats_max.
 *   No terms governing a day: no value, no alert. Terms with the same
 *   valid_from replace each other (the latest set_at wins), as in the read
 *   model's tally.license_terms.
 *
 * Crossings. A threshold t (percent) is reached when value * 100 >= limit
 * * t (exact: 128-bit products, no overflow); with limit 0, as soon as
 * value > 0. After every input the tenant's series are evaluated against
 * the current rules and terms: t newly reached gives TRIGGERED (several at
 * once: one each, ascending); a reached t no longer reached (a lower seat
 * peak after a late release, terms raised mid-period) gives RESOLVED
 * (descending). The same value again, a duplicate rollup, a rule or term
 * event that changes nothing: no alert. crossing_no counts the TRIGGERED of
 * a (series, t): trigger, resolve, trigger again gives crossing_no 1, 1, 2.
 * The alert id is the UUID-shaped hex of the first 16 bytes of SHA-256 over
 * "tenant|metric|environment|period|threshold|state|crossing_no", so the
 * same inputs in the same order give the same ids, in any process.
 * A threshold dropped from the rules keeps its state and emits nothing.
 *
 * Retention: a tenant's rollups and series of months before the one
 * preceding its newest rollup's month are dropped (a rollup for such a day
 * changes nothing), so a tenant's state stays within two months.
 *
 * Not thread-safe; one object per notifier.
 */
#ifndef TALLY_NOTIFIER_CROSSING_H
#define TALLY_NOTIFIER_CROSSING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Thresholds per metric at most (as cp_rules.h allows), percent 1..1000. */
#define TALLY_CROSSING_RULES_MAX 8
#define TALLY_CROSSING_PERCENT_MAX 1000

typedef enum {
    TALLY_ALERT_MONTHLY_API_CALLS,
    TALLY_ALERT_NONPROD_DAILY_API_CALLS,
    TALLY_ALERT_SEATS_PEAK,
    TALLY_ALERT_METRICS,
} tally_alert_metric_t;

typedef enum { TALLY_ALERT_TRIGGERED, TALLY_ALERT_RESOLVED } tally_alert_state_t;

/* Thresholds in percent per metric, ascending, distinct, 1..1000. */
typedef struct tally_alert_rules_t {
    size_t n[TALLY_ALERT_METRICS];
    int percent[TALLY_ALERT_METRICS][TALLY_CROSSING_RULES_MAX];
} tally_alert_rules_t;

/* One alert. Strings are owned by the list that holds it. */
typedef struct tally_alert_t {
    char alert_id[37];
    char *tenant;
    char *environment;              /* NONPROD_DAILY_API_CALLS only; else NULL */
    tally_alert_metric_t metric;
    int threshold;                  /* percent */
    int64_t value, limit;
    char period[11];                /* YYYY-MM or YYYY-MM-DD */
    tally_alert_state_t state;
    uint32_t crossing_no;
    int64_t at;                     /* ms: the input's time */
} tally_alert_t;

/* Alerts produced by the calls below, appended in order. */
typedef struct tally_alert_list_t {
    tally_alert_t *items;
    size_t count, cap;
} tally_alert_list_t;

/* Frees the alerts' strings and empties the list (keeps its buffer). */
void tally_alert_list_clear(tally_alert_list_t *l);
/* Frees everything; a zeroed list is a no-op. */
void tally_alert_list_free(tally_alert_list_t *l);

/* The metric's Avro symbol ("MONTHLY_API_CALLS", ...), the state's. */
const char *tally_alert_metric_name(tally_alert_metric_t m);
const char *tally_alert_state_name(tally_alert_state_t s);

/* Parses "80,100,150" (ascending, distinct, 1..1000, at most 8; "" is no
 * threshold) into percent/n. Returns 0, or -1 with errbuf. */
int tally_alert_percents_parse(const char *text, int percent[TALLY_CROSSING_RULES_MAX], size_t *n, char *errbuf,
                               size_t errsize) __attribute__((warn_unused_result));

/* Checks one metric's thresholds against the rules above. 0 or -1. */
int tally_alert_percents_check(const int *percent, size_t n) __attribute__((warn_unused_result));

typedef struct tally_crossing_t tally_crossing_t;

/* Returns an owned, empty state using defaults (copied) for tenants
 * without rules. */
tally_crossing_t *tally_crossing_new(const tally_alert_rules_t *defaults);

/* NULL is a no-op. */
void tally_crossing_free(tally_crossing_t *c);

/* License terms of tenant (days since the epoch, inclusive; set_at ms
 * orders terms of the same valid_from). Re-evaluates the tenant. */
void tally_crossing_terms(tally_crossing_t *c, const char *tenant, int32_t valid_from, int32_t valid_until,
                          int64_t seats_max, int64_t monthly_max, int64_t nonprod_daily_max, int64_t set_at,
                          tally_alert_list_t *out);

/* The tenant's rules (copied; must pass tally_alert_percents_check per
 * metric) set at time at: the latest wins, rules older than those in force
 * change nothing (a Control Panel record read twice). Re-evaluates the
 * tenant with them. */
void tally_crossing_rules(tally_crossing_t *c, const char *tenant, const tally_alert_rules_t *rules, int64_t at,
                          tally_alert_list_t *out);

/* The kind of an environment set at time at: nonprod true for staging
 * and development; a kind older than the one in force changes nothing.
 * Re-evaluates the tenant at time at. */
void tally_crossing_environment(tally_crossing_t *c, const char *tenant, const char *environment, bool nonprod,
                                int64_t at, tally_alert_list_t *out);

/* An ApiUsageRollup: the total of (tenant, environment, day). */
void tally_crossing_api_rollup(tally_crossing_t *c, const char *tenant, const char *environment, int32_t day,
                               int64_t api_calls, int64_t updated_at, tally_alert_list_t *out);

/* A SeatRollup: the seats peak of (tenant, day). */
void tally_crossing_seat_rollup(tally_crossing_t *c, const char *tenant, int32_t day, int64_t seats_peak,
                                int64_t updated_at, tally_alert_list_t *out);

/* Re-evaluates every tenant at time at (after a restore, so that terms or
 * rules read meanwhile take effect). */
void tally_crossing_evaluate_all(tally_crossing_t *c, int64_t at, tally_alert_list_t *out);

/* ---- persistence (crossing_state.c): the tenants' rollups and series,
 * not their terms, rules or environments (those are re-read from the
 * Control Panel topic). */

/* Calls fn(arg, tenant, value, len) for each tenant changed since the last
 * call (value NULL: the tenant has no state left, a tombstone), then
 * marks them clean. value is borrowed for the call. Returns the first
 * non-zero fn result, or 0. */
int tally_crossing_flush(tally_crossing_t *c, int (*fn)(void *arg, const char *tenant, const void *value, size_t len),
                         void *arg) __attribute__((warn_unused_result));

/* Restores one tenant's state from a value written by flush (NULL/0: a
 * tombstone, the tenant's state removed). Returns 0, or -1 with errbuf
 * for a malformed value (nothing changed). */
int tally_crossing_restore(tally_crossing_t *c, const char *tenant, const void *value, size_t len, char *errbuf,
                           size_t errsize) __attribute__((warn_unused_result));

/* Forgets every tenant's rollups and series (before a restore); terms,
 * rules and environments stay. */
void tally_crossing_reset_state(tally_crossing_t *c);

#endif
