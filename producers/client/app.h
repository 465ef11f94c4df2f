#ifndef TALLY_CLIENT_APP_H
#define TALLY_CLIENT_APP_H

/* What every `tally` command shares: the settings, the folders, the
 * preferences, the spool, the one HTTP transport, delivery with backoff
 * and --retry-for, the summary messages and the exit status. */

#include "backoff.h"
#include "deliver.h"
#include "prefs.h"
#include "spool.h"
#include "transport.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Exit statuses (also in `tally --help`). When several apply, the first in
 * this order wins: ERROR, USAGE, REJECTED, REFUSED, DEFERRED. */
enum {
    TALLY_EXIT_OK = 0,        /* delivered, or nothing to send (analytics off) */
    TALLY_EXIT_ERROR = 1,     /* an event is lost (spool unwritable), or another failure */
    TALLY_EXIT_USAGE = 2,     /* bad command line or input: nothing was sent or spooled */
    TALLY_EXIT_REJECTED = 3,  /* the gateway rejected events as invalid: they were dropped */
    TALLY_EXIT_REFUSED = 4,   /* 401/403/404: events kept; fix the credential or --gateway */
    TALLY_EXIT_DEFERRED = 5,  /* the gateway is unavailable: events spooled for a retry */
};

/* The command line's options (main.c's table writes them). */
typedef struct tally_client_settings_t {
    char *gateway, *api_key, *admin_token, *config_dir, *state_dir, *at;
    char *tenant, *environment, *reporter_state, *counters;
    int64_t request_timeout_ms, connect_timeout_ms, batch_size, spool_max_events, spool_max_bytes;
    int64_t retry_for_ms, retry_base_ms, retry_max_ms, interval_ms;
    bool debug, dry_run, verbose, once, reset, any_key;
    int counter_mode;   /* 0 increment, 1 absolute */
    char *public_key, *public_keys, *revoked, *now; /* license verify|show */
    char *console_url, *token, *out, *idempotency_key; /* license fetch */
    bool force;                                          /* license fetch */
    bool online;                                         /* license verify: GET the revocation list */
    char *secret_file;                                   /* webhook-listen */
} tally_client_settings_t;

typedef struct tally_app_t {
    const tally_client_settings_t *s;    /* borrowed */
    char config_dir[4096], state_dir[4096], spool_dir[4200], retry_path[4300];
    tally_prefs_t prefs;                 /* loaded on demand: tally_app_load_prefs */
    bool prefs_loaded;
    tally_spool_t *spool;                /* NULL when the spool folder is unusable */
    tally_transport_t *transport;
    tally_deliver_t deliver;
    volatile sig_atomic_t *stop;         /* borrowed; set by SIGINT/SIGTERM */
    bool has_at;
    int64_t at_ms;                       /* --at */
    tally_deliver_stats_t total;         /* over every run of this command */
    bool spool_error;                    /* the spool could not be read */
    bool flushing;                       /* `tally flush`: report waiting events too */
} tally_app_t;

/* Resolves the folders, parses --at, opens the spool (a failure there is a
 * warning: sends then go without a safety net) and creates the transport.
 * Borrows s and stop. Returns 0 or an exit status with a message printed. */
int tally_app_init(tally_app_t *app, const tally_client_settings_t *s, volatile sig_atomic_t *stop);
void tally_app_clear(tally_app_t *app);

/* Loads <config-dir>/config.json once. 0, or an exit status (printed). */
int tally_app_load_prefs(tally_app_t *app);

/* Milliseconds since the epoch: --at when given, else the clock. */
int64_t tally_app_now(const tally_app_t *app);

/* Whether product analytics may be sent now (env and config). */
bool tally_app_product_allowed(tally_app_t *app, const char **reason);

/* Spools and sends new prepared events of kind (borrowed): held back while
 * the gateway is in backoff, the rest of the spool flushed after a success,
 * retried in the foreground for --retry-for, the cap enforced, the backoff
 * state updated and a summary printed. Returns the exit status. */
int tally_app_send(tally_app_t *app, tally_kind_t kind, json_t *events);

/* `tally flush`: the whole spool now, then --retry-for. Exit status. */
int tally_app_flush(tally_app_t *app);

/* Opens the spool (new, tally_spool_free) after checking that the state
 * folder and the spool folder are the user's own and nobody else may write
 * them; NULL with a message naming the folder. */
tally_spool_t *tally_app_open_spool(tally_app_t *app, char *errbuf, size_t errsize);

/* Discards spooled product events (analytics were turned off). */
void tally_app_discard_product(tally_app_t *app);

/* Sleeps ms, or less when *stop is set. */
void tally_app_sleep(const tally_app_t *app, int64_t ms);

/* Monotonic milliseconds. */
int64_t tally_app_monotonic_ms(void);

#endif
