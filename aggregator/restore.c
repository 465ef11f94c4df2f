/*
 * Restoring the aggregator's state from its changelog: the shared reader
 * (common/changelog_reader.h) with the aggregator's record kinds.
 */
#include "restore.h"

#include "changelog.h"
#include "changelog_reader.h"
#include "xalloc.h"

#include <stdlib.h>

struct tally_restore_t {
    tally_changelog_reader_t *reader;
};

tally_restore_t *tally_restore_new(const tally_restore_opts_t *o, char *errbuf, size_t errsize)
{
    tally_changelog_reader_t *reader = tally_changelog_reader_new(o, errbuf, errsize);
    if (reader == NULL)
        return NULL;
    tally_restore_t *r = tally_xcalloc(1, sizeof *r);
    r->reader = reader;
    return r;
}

void tally_restore_free(tally_restore_t *r)
{
    if (r == NULL)
        return;
    tally_changelog_reader_free(r->reader);
    free(r);
}

int tally_restore_partition_count(tally_restore_t *r, const char *topic, int timeout_ms, int *count,
                                  char *errbuf, size_t errsize)
{
    return tally_changelog_reader_partition_count(r->reader, topic, timeout_ms, count, errbuf, errsize);
}

int tally_restore_stable_ends(tally_restore_t *r, const int32_t *partitions, size_t n, int64_t *ends,
                              int timeout_ms, char *errbuf, size_t errsize)
{
    return tally_changelog_reader_stable_ends(r->reader, partitions, n, ends, timeout_ms, errbuf, errsize);
}

typedef struct {
    tally_rollup_t *const *states;
    int64_t *positions;
} apply_ctx_t;

/* A position record (changelog.h) gives the input offset the state
 * belongs to; every other record is rollup state. */
static int apply(void *arg, size_t i, const void *key, size_t key_len, const void *value, size_t value_len,
                 char *why, size_t whysize)
{
    apply_ctx_t *ctx = arg;
    tally_changelog_record_t rec = {key, key_len, value, value_len};
    if (key_len > 0 && *(const unsigned char *)key == TALLY_CHANGELOG_POSITION) {
        tally_changelog_entry_t e;
        if (tally_changelog_decode(rec.key, rec.key_len, rec.value, rec.value_len, &e, why, whysize) != 0)
            return -1;
        ctx->positions[i] = e.tombstone ? -1 : e.next_offset;
        return 0;
    }
    return tally_rollup_restore(ctx->states[i], &rec, why, whysize);
}

int tally_restore_read(tally_restore_t *r, const int32_t *partitions, size_t n, const int64_t *ends,
                       tally_rollup_t *const *states, int64_t *positions, int timeout_ms, uint64_t *records,
                       char *errbuf, size_t errsize)
{
    apply_ctx_t ctx = {states, positions};
    for (size_t i = 0; i < n; i++)
        positions[i] = -1;
    if (tally_changelog_reader_read(r->reader, partitions, n, ends, apply, &ctx, timeout_ms, records, errbuf,
                                    errsize) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        tally_rollup_restore_done(states[i]);
    return 0;
}
