#ifndef TALLY_CLIENT_COMMANDS_H
#define TALLY_CLIENT_COMMANDS_H

/* The `tally` commands. Each takes the arguments after its name
 * (borrowed) and returns the process's exit status (TALLY_EXIT_*),
 * having printed what the user needs to know. */

#include "app.h"

#include <signal.h>
#include <stddef.h>

/* send KIND [JSON...]: events from the arguments, or stdin when there are
 * none or for an argument "-". */
int tally_cmd_send(tally_app_t *app, size_t argc, const char *const argv[]);

/* flush: the spool, now. */
int tally_cmd_flush(tally_app_t *app, size_t argc, const char *const argv[]);

/* spool: what the spool holds and when the next retry is due. */
int tally_cmd_spool(tally_app_t *app, size_t argc, const char *const argv[]);

/* telemetry status|enable|disable. */
int tally_cmd_telemetry(tally_app_t *app, size_t argc, const char *const argv[]);

/* report-usage: the usage reporter (cmd_report.c). */
int tally_cmd_report_usage(tally_app_t *app, size_t argc, const char *const argv[]);

/* license verify|show FILE: a signed license file, offline (cmd_license.c).
 * Needs only the settings: no spool, no network. */
int tally_cmd_license(const tally_client_settings_t *s, size_t argc, const char *const argv[]);

/* license fetch (cmd_license_fetch.c): the arguments after "fetch". */
int tally_license_fetch(const tally_client_settings_t *s, size_t argc, const char *const argv[]);

/* webhook-listen PORT --secret-file F (cmd_webhook_listen.c): a local
 * receiver of signed webhooks until *stop (borrowed) is set. Needs only
 * the settings: no spool, no network but its own port. */
int tally_cmd_webhook_listen(const tally_client_settings_t *s, size_t argc, const char *const argv[],
                             volatile sig_atomic_t *stop);

#endif
