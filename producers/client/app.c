#include "app.h"

#include "fsutil.h"
#include "telemetry.h"
#include "timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t tally_app_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t tally_app_now(const tally_app_t *app)
{
    return app->has_at ? app->at_ms : wall_ms();
}

void tally_app_sleep(const tally_app_t *app, int64_t ms)
{
    int64_t end = tally_app_monotonic_ms() + ms;
    for (;;) {
        if (app->stop != NULL && *app->stop)
            return;
        int64_t left = end - tally_app_monotonic_ms();
        if (left <= 0)
            return;
        if (left > 100)
            left = 100; /* re-check the stop flag at least this often */
        struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* --at: epoch milliseconds or RFC 3339. */
static int parse_time(const char *text, int64_t *ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (*text != '\0' && *end == '\0' && errno == 0) {
        *ms = v;
        return 0;
    }
    return tally_rfc3339_parse(text, strlen(text), ms) == 0 ? 0 : -1;
}

int tally_app_init(tally_app_t *app, const tally_client_settings_t *s, volatile sig_atomic_t *stop)
{
    char err[512];
    memset(app, 0, sizeof *app);
    app->s = s;
    app->stop = stop;
    if (s->config_dir != NULL && *s->config_dir != '\0')
        snprintf(app->config_dir, sizeof app->config_dir, "%s", s->config_dir);
    else if (tally_fs_xdg_dir("XDG_CONFIG_HOME", ".config", app->config_dir, sizeof app->config_dir, err,
                              sizeof err) != 0) {
        fprintf(stderr, "tally: no config folder: %s (use --config-dir)\n", err);
        return TALLY_EXIT_USAGE;
    }
    if (s->state_dir != NULL && *s->state_dir != '\0')
        snprintf(app->state_dir, sizeof app->state_dir, "%s", s->state_dir);
    else if (tally_fs_xdg_dir("XDG_STATE_HOME", ".local/state", app->state_dir, sizeof app->state_dir, err,
                              sizeof err) != 0) {
        fprintf(stderr, "tally: no state folder: %s (use --state-dir)\n", err);
        return TALLY_EXIT_USAGE;
    }
    snprintf(app->spool_dir, sizeof app->spool_dir, "%s/spool", app->state_dir);
    snprintf(app->retry_path, sizeof app->retry_path, "%s/retry.json", app->spool_dir);
    if (s->at != NULL && *s->at != '\0') {
        if (parse_time(s->at, &app->at_ms) != 0) {
            fprintf(stderr, "tally: --at: expected epoch milliseconds or an RFC 3339 time "
                            "(2026-05-01T12:00:00Z)\n");
            return TALLY_EXIT_USAGE;
        }
        app->has_at = true;
    }
    if (strncmp(s->gateway, "http://", 7) != 0 && strncmp(s->gateway, "https://", 8) != 0) {
        fprintf(stderr, "tally: --gateway: expected an http:// or https:// URL\n");
        return TALLY_EXIT_USAGE;
    }
    /* "http://host/" + "/v1/..." would be another path. */
    char *g = s->gateway;
    for (size_t n = strlen(g); n > 0 && g[n - 1] == '/'; n--)
        g[n - 1] = '\0';
    tally_transport_opts_t to = {
        .base_url = s->gateway,
        .timeout_ms = s->request_timeout_ms,
        .connect_timeout_ms = s->connect_timeout_ms,
        .debug = s->debug ? stderr : NULL,
    };
    if ((app->transport = tally_transport_new(&to, err, sizeof err)) == NULL) {
        fprintf(stderr, "tally: %s\n", err);
        return TALLY_EXIT_ERROR;
    }
    tally_deliver_t *d = &app->deliver;
    d->transport = app->transport;
    d->base_url = s->gateway;
    d->api_key = s->api_key && *s->api_key ? s->api_key : NULL;
    d->admin_token = s->admin_token && *s->admin_token ? s->admin_token : NULL;
    d->batch_size = (size_t)s->batch_size;
    d->dry_run = s->dry_run ? stdout : NULL;
    d->debug = s->debug ? stderr : NULL;
    d->verbose = s->verbose;
    d->stop = stop;
    d->product_allowed = true;
    d->any_credential = s->any_key;
    if ((d->api_key != NULL || d->admin_token != NULL) && tally_transport_cleartext_remote(s->gateway))
        fprintf(stderr,
                "tally: warning: --gateway is a cleartext http:// URL to another machine: the %s would cross the "
                "network unencrypted; use https:// (http:// is for a gateway on this machine)\n",
                d->api_key && d->admin_token ? "API key and admin token" : d->api_key ? "API key" : "admin token");
    return TALLY_EXIT_OK;
}

void tally_app_clear(tally_app_t *app)
{
    if (app->prefs_loaded)
        tally_prefs_clear(&app->prefs);
    tally_spool_free(app->spool);
    tally_transport_free(app->transport);
    memset(app, 0, sizeof *app);
}

int tally_app_load_prefs(tally_app_t *app)
{
    char err[512];
    if (app->prefs_loaded)
        return TALLY_EXIT_OK;
    if (tally_prefs_load(&app->prefs, app->config_dir, err, sizeof err) != 0) {
        fprintf(stderr, "tally: %s\n", err);
        return TALLY_EXIT_ERROR;
    }
    app->prefs_loaded = true;
    return TALLY_EXIT_OK;
}

bool tally_app_product_allowed(tally_app_t *app, const char **reason)
{
    bool config_on = true;
    if (tally_app_load_prefs(app) == TALLY_EXIT_OK)
        config_on = tally_prefs_telemetry_enabled(&app->prefs);
    tally_telemetry_t t = tally_telemetry_from_env(config_on);
    if (reason != NULL)
        *reason = tally_telemetry_reason(t);
    return t == TALLY_TELEMETRY_ON;
}

tally_spool_t *tally_app_open_spool(tally_app_t *app, char *errbuf, size_t errsize)
{
    /* Whoever may write the state folder could swap the spool folder. */
    if (tally_fs_private_dir(app->state_dir, errbuf, errsize) != 0)
        return NULL;
    tally_spool_limits_t lim = {(size_t)app->s->spool_max_events, (size_t)app->s->spool_max_bytes};
    return tally_spool_open(app->spool_dir, &lim, errbuf, errsize);
}

/* Opens the spool when first needed. A spool that cannot be opened is a
 * warning: events then go without a safety net. */
static void ensure_spool(tally_app_t *app)
{
    char err[512];
    if (app->spool != NULL || app->s->dry_run)
        return;
    app->spool = tally_app_open_spool(app, err, sizeof err);
    if (app->spool == NULL)
        fprintf(stderr, "tally: warning: no spool: %s\n", err);
    app->deliver.spool = app->spool;
}

static void merge(tally_deliver_stats_t *total, const tally_deliver_stats_t *run)
{
    total->delivered += run->delivered;
    total->rejected += run->rejected;
    total->discarded += run->discarded;
    total->lost += run->lost;
    total->requests += run->requests;
    /* The rest describes what is left: the latest run says. */
    total->deferred = run->deferred;
    total->refused = run->refused;
    total->waiting = run->waiting;
    total->interrupted = total->interrupted || run->interrupted;
    if (run->deferred > 0 || run->refused > 0)
        snprintf(total->last_error, sizeof total->last_error, "%s", run->last_error);
    if (run->retry_after_ms > total->retry_after_ms)
        total->retry_after_ms = run->retry_after_ms;
}

/* Only the gateway's health drives the backoff: a refused credential is
 * not the gateway's fault and retrying it sooner changes nothing. */
static void update_backoff(tally_app_t *app, const tally_deliver_stats_t *run)
{
    char err[512];
    if (run->requests == 0 || app->spool == NULL || run->interrupted)
        return;
    tally_backoff_t b;
    tally_backoff_load(app->retry_path, app->s->gateway, &b);
    if (run->deferred > 0) {
        tally_backoff_failed(&b, wall_ms(), app->s->retry_base_ms, app->s->retry_max_ms, run->retry_after_ms,
                             run->last_error);
    } else if (b.failures > 0) {
        tally_backoff_succeeded(&b);
    } else {
        return;
    }
    if (tally_backoff_save(app->retry_path, &b, err, sizeof err) != 0)
        fprintf(stderr, "tally: warning: %s\n", err);
}

static void run_flush(tally_app_t *app)
{
    tally_deliver_reset(&app->deliver);
    app->deliver.product_allowed = tally_app_product_allowed(app, NULL);
    if (tally_deliver_flush(&app->deliver) != 0)
        app->spool_error = true;
    merge(&app->total, &app->deliver.stats);
    update_backoff(app, &app->deliver.stats);
}

/* --retry-for: flush again at each backoff deadline until nothing waits
 * for the gateway or the time is up. */
static void retry_loop(tally_app_t *app)
{
    int64_t deadline = tally_app_monotonic_ms() + app->s->retry_for_ms;
    while (app->s->retry_for_ms > 0 && app->total.deferred > 0 && !(app->stop && *app->stop)) {
        tally_backoff_t b;
        tally_backoff_load(app->retry_path, app->s->gateway, &b);
        int64_t wait = b.next_attempt_ms - wall_ms();
        if (wait < 0)
            wait = 0;
        if (tally_app_monotonic_ms() + wait > deadline)
            break;
        if (app->s->verbose)
            fprintf(stderr, "tally: retrying in %.1f s (attempt %d)\n", (double)wait / 1000.0, b.failures + 1);
        tally_app_sleep(app, wait);
        if (app->stop && *app->stop)
            break;
        run_flush(app);
    }
}

static void enforce_cap(tally_app_t *app)
{
    char err[512];
    size_t dropped = 0;
    if (app->spool == NULL)
        return;
    if (tally_spool_enforce_cap(app->spool, &dropped, err, sizeof err) != 0)
        fprintf(stderr, "tally: warning: %s\n", err);
    if (dropped > 0) {
        const tally_spool_limits_t *l = tally_spool_limits(app->spool);
        fprintf(stderr, "tally: warning: the spool is full (at most %zu events, %zu bytes): dropped the %zu "
                        "oldest event(s)\n", l->max_events, l->max_bytes, dropped);
    }
}

static int exit_status(const tally_app_t *app)
{
    const tally_deliver_stats_t *t = &app->total;
    if (t->lost > 0 || app->spool_error)
        return TALLY_EXIT_ERROR;
    if (t->rejected > 0)
        return TALLY_EXIT_REJECTED;
    if (t->refused > 0)
        return TALLY_EXIT_REFUSED;
    if (t->deferred > 0 || t->interrupted)
        return TALLY_EXIT_DEFERRED;
    return TALLY_EXIT_OK;
}

static void summarize(tally_app_t *app)
{
    const tally_deliver_stats_t *t = &app->total;
    if (app->s->verbose && t->delivered > 0)
        fprintf(stderr, "tally: %zu event(s) delivered in %zu request(s)\n", t->delivered, t->requests);
    if (t->lost > 0)
        fprintf(stderr, "tally: error: %zu event(s) lost: not delivered and the spool is not writable\n", t->lost);
    if (t->interrupted)
        fprintf(stderr, "tally: interrupted: what was not delivered stays in the spool %s\n", app->spool_dir);
    if (t->deferred > 0 && !t->interrupted) {
        tally_backoff_t b;
        char when[TALLY_RFC3339_SIZE] = "";
        tally_backoff_load(app->retry_path, app->s->gateway, &b);
        if (b.next_attempt_ms > 0 && tally_rfc3339_format(b.next_attempt_ms, when) != 0)
            when[0] = '\0';
        fprintf(stderr,
                "tally: the gateway is unavailable (%s): %zu event(s) wait in the spool %s; `tally flush` or "
                "the next tally command%s%s retries them\n",
                t->last_error[0] ? t->last_error : "backing off after recent failures", t->deferred,
                app->spool_dir, when[0] ? " after " : "", when);
    }
    if (t->refused > 0)
        fprintf(stderr,
                "tally: the gateway refused the request (%s): %zu event(s) kept in the spool; check --gateway "
                "and the API key or admin token, then run `tally flush`\n",
                t->last_error, t->refused);
    if (t->waiting > 0 && (app->flushing || app->s->verbose))
        fprintf(stderr, "tally: %zu spooled event(s) need another API key or admin token than the one given\n",
                t->waiting);
    if (t->discarded > 0 && app->s->verbose) {
        const char *why = "";
        tally_app_product_allowed(app, &why);
        fprintf(stderr, "tally: discarded %zu spooled product event(s): product analytics are off (%s)\n",
                t->discarded, why);
    }
}

int tally_app_send(tally_app_t *app, tally_kind_t kind, json_t *events)
{
    ensure_spool(app);
    tally_deliver_t *d = &app->deliver;
    memset(&app->total, 0, sizeof app->total);
    app->total.retry_after_ms = -1;
    tally_backoff_t b;
    tally_backoff_load(app->retry_path, app->s->gateway, &b);
    bool attempt = b.failures == 0 || wall_ms() >= b.next_attempt_ms;
    if (!attempt && app->s->verbose)
        fprintf(stderr, "tally: the gateway failed recently (%s): spooling without trying\n", b.last_error);
    tally_deliver_reset(d);
    d->product_allowed = tally_app_product_allowed(app, NULL);
    /* -1 means some events were lost: stats.lost counts them, and the exit
     * status and the summary say so. */
    if (tally_deliver_new(d, kind, events, tally_app_now(app), attempt) != 0 && app->s->verbose)
        fprintf(stderr, "tally: some events could be neither spooled nor delivered\n");
    if (app->s->dry_run)
        return TALLY_EXIT_OK;
    merge(&app->total, &d->stats);
    if (!attempt && d->stats.deferred > 0 && app->total.last_error[0] == '\0')
        snprintf(app->total.last_error, sizeof app->total.last_error, "backing off after: %.200s", b.last_error);
    if (attempt)
        update_backoff(app, &d->stats);
    /* The gateway answered: deliver what earlier runs left behind too. */
    if (attempt && d->stats.requests > 0 && d->stats.deferred == 0 && d->stats.refused == 0 &&
        !(app->stop && *app->stop)) {
        tally_spool_stats_t st;
        char err[256];
        if (app->spool != NULL && tally_spool_stats(app->spool, &st, err, sizeof err) == 0 && st.events > 0) {
            tally_deliver_stats_t own = app->total;
            run_flush(app);
            /* This command's own events were delivered: the older ones do
             * not change its exit status (a rejected one is still reported
             * as it is dropped; the others simply stay spooled). */
            app->total.deferred = own.deferred;
            app->total.refused = own.refused;
            app->total.rejected = own.rejected;
        }
    }
    retry_loop(app);
    if (app->total.deferred > 0 || app->total.refused > 0)
        enforce_cap(app);
    summarize(app);
    return exit_status(app);
}

int tally_app_flush(tally_app_t *app)
{
    ensure_spool(app);
    if (app->spool == NULL && !app->s->dry_run)
        return TALLY_EXIT_ERROR;
    if (app->s->dry_run) {
        /* Read-only: print what would be sent. */
        char err[512];
        app->spool = tally_app_open_spool(app, err, sizeof err);
        if (app->spool == NULL) {
            fprintf(stderr, "tally: %s\n", err);
            return TALLY_EXIT_ERROR;
        }
        app->deliver.spool = app->spool;
        tally_deliver_reset(&app->deliver);
        app->deliver.product_allowed = tally_app_product_allowed(app, NULL);
        return tally_deliver_flush(&app->deliver) == 0 ? TALLY_EXIT_OK : TALLY_EXIT_ERROR;
    }
    memset(&app->total, 0, sizeof app->total);
    app->total.retry_after_ms = -1;
    app->flushing = true;
    run_flush(app);
    retry_loop(app);
    summarize(app);
    if (app->s->verbose) {
        tally_spool_stats_t st;
        char err[256];
        if (tally_spool_stats(app->spool, &st, err, sizeof err) == 0)
            fprintf(stderr, "tally: the spool holds %zu event(s)\n", st.events);
    }
    return exit_status(app);
}

void tally_app_discard_product(tally_app_t *app)
{
    ensure_spool(app);
    if (app->spool == NULL)
        return;
    tally_deliver_reset(&app->deliver);
    if (tally_deliver_purge_product(&app->deliver) != 0)
        fprintf(stderr, "tally: warning: some spooled product events could not be removed\n");
    if (app->deliver.stats.discarded > 0 && app->s->verbose)
        fprintf(stderr, "tally: discarded %zu spooled product event(s)\n", app->deliver.stats.discarded);
}
