/*
 * crossing_internal.h: the crossing state's types, shared by crossing.c
 * (the rules) and crossing_state.c (its changelog format) and nothing else.
 */
#ifndef TALLY_NOTIFIER_CROSSING_INTERNAL_H
#define TALLY_NOTIFIER_CROSSING_INTERNAL_H

#include "crossing.h"

/* Thresholds a series remembers (current and dropped rules together). */
#define CX_SERIES_THRESHOLDS 24

typedef struct {
    int32_t from, until;
    int64_t seats_max, monthly_max, nonprod_max, set_at;
} cx_terms_t;

typedef struct {
    int percent;
    bool reached;
    uint32_t crossings;             /* TRIGGERED so far */
} cx_threshold_t;

typedef struct {
    tally_alert_metric_t metric;
    char *env;                      /* NONPROD only; owned */
    char period[11];
    int32_t last_day;               /* of the period: what retention compares */
    size_t n;
    cx_threshold_t th[CX_SERIES_THRESHOLDS];
} cx_series_t;

typedef struct {
    char *env;                      /* owned */
    int32_t day;
    int64_t calls;
} cx_api_t;

typedef struct {
    int32_t day;
    int64_t peak;
} cx_seat_t;

typedef struct {
    char *env;                      /* owned */
    bool nonprod;
    int64_t at;                     /* the time of the kind in force */
} cx_env_t;

typedef struct cx_tenant_t {
    char *id;
    struct cx_tenant_t *next;       /* hash chain */
    cx_terms_t *terms;
    size_t n_terms, cap_terms;
    bool has_rules;
    tally_alert_rules_t rules;
    int64_t rules_at;               /* the time of the rules in force */
    cx_env_t *envs;
    size_t n_envs, cap_envs;
    cx_api_t *api;
    size_t n_api, cap_api;
    cx_seat_t *seats;
    size_t n_seats, cap_seats;
    cx_series_t *series;
    size_t n_series, cap_series;
    int32_t max_day;                /* newest rollup day (retention), INT32_MIN: none */
    bool dirty;                     /* rollups or series changed since the last flush */
} cx_tenant_t;

struct tally_crossing_t {
    tally_alert_rules_t defaults;
    cx_tenant_t **buckets;
    size_t n_buckets, count;
};

/* The tenant named id, created empty when create (else NULL if none). */
cx_tenant_t *cx_tenant(tally_crossing_t *c, const char *id, bool create);

/* Frees a tenant's rollups and series (not terms, rules, environments). */
void cx_tenant_clear_state(cx_tenant_t *t);

/* Appends a series (zeroed thresholds) and returns it. */
cx_series_t *cx_series_add(cx_tenant_t *t, tally_alert_metric_t metric, const char *env, const char *period,
                           int32_t last_day);

/* Sets (env, day)'s api total / day's seat peak, replacing any earlier;
 * true when that changed something. */
bool cx_api_set(cx_tenant_t *t, const char *env, int32_t day, int64_t calls);
bool cx_seat_set(cx_tenant_t *t, int32_t day, int64_t peak);

#endif
