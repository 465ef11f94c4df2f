/*
 * notifier_input.h: tally-notifier's input records into crossing calls.
 *
 *   tally.rollups       ApiUsageRollup -> tally_crossing_api_rollup,
 *                       SeatRollup -> tally_crossing_seat_rollup (any
 *                       version of either: the writer's schema).
 *   tally.controlpanel  read as the latest ControlPanelEvent of the
 *                       catalog: LicenseTermsSet -> tally_crossing_terms
 *                       (set_at: occurred_at), EnvironmentCreated ->
 *                       tally_crossing_environment (staging and
 *                       development are non-production), AlertRulesSet ->
 *                       tally_crossing_rules; every other branch, and a
 *                       branch newer than the catalog (unknown_branch), is
 *                       not for the notifier.
 * A record that cannot be read changes nothing.
 */
#ifndef TALLY_NOTIFIER_INPUT_H
#define TALLY_NOTIFIER_INPUT_H

#include <stddef.h>

#include "crossing.h"
#include "schema_catalog.h"

typedef struct tally_notifier_input_t tally_notifier_input_t;

/* Outcomes besides -1 (cannot be read, errbuf says why). */
enum { TALLY_INPUT_APPLIED = 0, TALLY_INPUT_IGNORED = 1 };

/* cat borrowed, must outlive the input. Returns an owned input, or NULL
 * with errbuf when the catalog lacks a schema the notifier reads. */
tally_notifier_input_t *tally_notifier_input_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_notifier_input_free(tally_notifier_input_t *in);

/* A tally.rollups value (borrowed) into c; alerts appended to out. */
int tally_notifier_input_rollup(tally_notifier_input_t *in, tally_crossing_t *c, const void *value, size_t len,
                                tally_alert_list_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* A tally.controlpanel value (borrowed) into c; alerts appended to out. */
int tally_notifier_input_controlpanel(tally_notifier_input_t *in, tally_crossing_t *c, const void *value, size_t len,
                                      tally_alert_list_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif
