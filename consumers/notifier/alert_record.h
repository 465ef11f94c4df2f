/*
 * alert_record.h: a tally_alert_t as a UsageAlert record (the catalog's
 * latest version), Avro single-object encoding, key = tenant_id.
 */
#ifndef TALLY_NOTIFIER_ALERT_RECORD_H
#define TALLY_NOTIFIER_ALERT_RECORD_H

#include <stddef.h>

#include "crossing.h"
#include "schema_catalog.h"

typedef struct tally_alert_encoder_t tally_alert_encoder_t;

/* cat borrowed, must outlive the encoder. Returns an owned encoder, or
 * NULL with errbuf (no UsageAlert in the catalog). */
tally_alert_encoder_t *tally_alert_encoder_new(const tally_catalog_t *cat, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* NULL is a no-op. */
void tally_alert_encoder_free(tally_alert_encoder_t *e);

/* Encodes a (borrowed); *out is the encoder's buffer, valid until the next
 * call. Returns 0, or -1 with errbuf. */
int tally_alert_encode(tally_alert_encoder_t *e, const tally_alert_t *a, const void **out, size_t *len,
                       char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif
