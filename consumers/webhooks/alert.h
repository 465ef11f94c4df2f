/*
 * alert.h: a UsageAlert (schemas/UsageAlert) as tally-webhooks sends it:
 * read from the decoded Avro record, and written as the webhook body, a
 * JSON object with "type": "usage.alert" and the schema's fields under the
 * schema's names, in the schema's order (environment_id null unless set,
 * at in ms since the epoch).
 */
#ifndef TALLY_WEBHOOKS_ALERT_H
#define TALLY_WEBHOOKS_ALERT_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "textbuf.h"

typedef struct tally_alert_t {
    char alert_id[128];
    char tenant_id[128];
    char environment_id[128];
    int has_environment;
    char metric[32];
    int32_t threshold;
    int64_t value, limit, at;
    char period[16];
    char state[16];
} tally_alert_t;

/* Reads the UsageAlert record rec (borrowed) into *a. Returns 0, or -1
 * with errbuf (a field missing, of another type, or too long). */
int tally_alert_from_avro(avro_value_t *rec, tally_alert_t *a, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Writes the webhook body of a into out (reset first). */
void tally_alert_body(const tally_alert_t *a, tally_textbuf_t *out);

#endif /* TALLY_WEBHOOKS_ALERT_H */
