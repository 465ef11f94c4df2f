/*
 * cp_table.h: tally.controlpanel read whole, as a global table, on every
 * tally-notifier instance. The topic is keyed by tenant but has its own
 * partition count (3, where tally.rollups has 6) and tally.rollups is keyed
 * by tenant|environment|day, so no partition of one lines up with a
 * partition of the other: every instance needs every tenant's terms and
 * rules. A plain consumer (never a group member, never committing),
 * read_committed, assigned every partition from the beginning.
 */
#ifndef TALLY_NOTIFIER_CP_TABLE_H
#define TALLY_NOTIFIER_CP_TABLE_H

#include <stddef.h>

#include "config.h"

typedef struct tally_cp_table_t tally_cp_table_t;

/* One record's value (borrowed for the call; NULL/0 for a null value). */
typedef void (*tally_cp_table_fn)(void *arg, const void *value, size_t len);

/* Creates the consumer and assigns every partition of topic from the
 * beginning (waiting up to timeout_ms for its metadata). cfg's -X pairs
 * without a role prefix and "controlpanel.<key>" apply (borrowed, may be
 * NULL). Returns an owned table, or NULL with errbuf. */
tally_cp_table_t *tally_cp_table_new(const char *brokers, const char *topic, const char *client_id,
                                     const tally_config_t *cfg, int timeout_ms, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_cp_table_free(tally_cp_table_t *t);

/* Passes every record up to the end of each partition (its last stable
 * offset, as read_committed readers see it) to fn. Returns 0, or -1 with
 * errbuf when a partition did not reach its end within timeout_ms. */
int tally_cp_table_load(tally_cp_table_t *t, tally_cp_table_fn fn, void *arg, int timeout_ms, char *errbuf,
                        size_t errsize) __attribute__((warn_unused_result));

/* Passes what arrived since, without waiting, to fn; returns how many. */
size_t tally_cp_table_poll(tally_cp_table_t *t, tally_cp_table_fn fn, void *arg);

#endif
