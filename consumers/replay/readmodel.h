/*
 * readmodel.h: what tally-replay reads from a PostgreSQL read model schema
 * (deploy/postgres/migrations): the daily usage rows, whether a tenant is
 * known, and the offsets a consumer group stored. Read-only.
 */
#ifndef TALLY_REPLAY_READMODEL_H
#define TALLY_REPLAY_READMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "rows.h"

/* Whether schema holds the read model tables tally-replay reads. Returns
 * 0, or -1 with errbuf naming what is missing. conn borrowed. */
int tally_readmodel_check(PGconn *conn, const char *schema, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Appends the rows of api_usage_daily (and seat_usage_daily when seats)
 * of schema, of tenant (NULL: all) on days from_day..to_day (INT32_MIN,
 * INT32_MAX: unbounded), to out. Returns 0 or -1 with errbuf. */
int tally_readmodel_load(PGconn *conn, const char *schema, const char *tenant, int32_t from_day, int32_t to_day,
                         bool seats, tally_replay_rows_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Sets *known: whether tenant is registered (tenants) or has usage rows.
 * Returns 0 or -1 with errbuf. */
int tally_readmodel_tenant_known(PGconn *conn, const char *schema, const char *tenant, bool *known, char *errbuf,
                                 size_t errsize) __attribute__((warn_unused_result));

/* One stored offset: the next offset of topic/partition for a group. */
typedef struct tally_readmodel_offset_t {
    char topic[256];
    int32_t partition;
    int64_t next_offset;
} tally_readmodel_offset_t;

/* The offsets stored in schema.kafka_offsets for group. *rows is malloc'd
 * (the caller frees it; NULL when *n is 0). Returns 0 or -1 with errbuf. */
int tally_readmodel_offsets(PGconn *conn, const char *schema, const char *group, tally_readmodel_offset_t **rows,
                            size_t *n, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* schema as a quoted SQL identifier in out (size out_size >= 2 * strlen +
 * 3): the name is configuration, never SQL. */
void tally_readmodel_quote(const char *name, char *out, size_t out_size);

#endif
