#ifndef TALLY_CLIENT_TELEMETRY_H
#define TALLY_CLIENT_TELEMETRY_H

/* Whether product analytics may be sent, and why not. Three switches turn
 * them off, any one is enough: DO_NOT_TRACK (https://consoledonottrack.com),
 * TALLY_TELEMETRY=0 and `tally telemetry disable` (the config file). Usage
 * analytics are part of the customer's contract and are not affected. */

#include <stdbool.h>

typedef enum tally_telemetry_t {
    TALLY_TELEMETRY_ON = 0,
    TALLY_TELEMETRY_OFF_DO_NOT_TRACK,  /* DO_NOT_TRACK is set (and not 0/false) */
    TALLY_TELEMETRY_OFF_ENV,           /* TALLY_TELEMETRY is 0, false, off or no */
    TALLY_TELEMETRY_OFF_CONFIG,        /* `tally telemetry disable` */
} tally_telemetry_t;

/* Decides from the two variables' values (borrowed, NULL when unset) and the
 * config file's choice (true unless disabled there). The environment wins
 * over the file, DO_NOT_TRACK over TALLY_TELEMETRY. */
tally_telemetry_t tally_telemetry_decide(const char *do_not_track, const char *tally_telemetry, bool config_enabled);

/* The same, from this process's environment. */
tally_telemetry_t tally_telemetry_from_env(bool config_enabled);

/* Why analytics are off, e.g. "DO_NOT_TRACK is set"; "" when on. Static. */
const char *tally_telemetry_reason(tally_telemetry_t t);

/* The first-run notice: what is collected and how to opt out. Static text,
 * several lines, ending with a newline. */
const char *tally_telemetry_notice(void);

#endif
