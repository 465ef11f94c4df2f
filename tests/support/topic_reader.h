#ifndef TALLY_TEST_TOPIC_READER_H
#define TALLY_TEST_TOPIC_READER_H

/* Reading a topic of the local broker back, for the suites' checks: every
 * partition from its beginning to its end (read_committed, so up to the
 * last stable offset), and where a group stands on a topic. */

#include <stddef.h>
#include <stdint.h>

/* One header of a record (name and value copied; value NUL-terminated). */
typedef struct tally_test_header_t {
    char *name, *value;
    size_t len;
} tally_test_header_t;

/* One record read back. Key and value are NUL-terminated copies ("" when
 * absent), owned by the array; free it with tally_test_records_free. */
typedef struct tally_test_record_t {
    char *key, *value;
    size_t key_len, len;
    int value_null;                 /* no value at all (a dead letter, a tombstone) */
    int32_t partition;
    int64_t offset;
    tally_test_header_t *headers;   /* in the record's order */
    size_t n_headers;
    char *headers_text;             /* every header as "name=value\n" ("" when none) */
    size_t headers_len;
    /* The dead-letter headers the anonymizer and the aggregator write
     * (error, stage, source.topic/.partition/.offset); "" or 0 when absent. */
    char error[64], stage[32], src_topic[160];
    int32_t src_partition;
    int64_t src_offset;
} tally_test_record_t;

/* Reads every partition of topic from the beginning until each reported
 * its end with at least want records read, and then idle_ms passed with
 * nothing new; or until timeout_ms in all (the records read so far).
 * Returns the count; *out gets the records, in offset order per partition. */
size_t tally_test_topic_read(const char *topic, size_t want, int idle_ms, int timeout_ms,
                             tally_test_record_t **out);

/* Every record of topic: read until each partition reported its end; the
 * test fails after timeout_ms. No transaction may be open on the topic
 * (read_committed stops at it): stop the writers first. */
size_t tally_test_topic_read_all(const char *topic, int timeout_ms, tally_test_record_t **out);

void tally_test_records_free(tally_test_record_t *recs, size_t n);

/* The value of the last header name of r (borrowed), or NULL. */
const char *tally_test_record_header(const tally_test_record_t *r, const char *name);

/* Sums over the partitions of topics[0..n_topics) of the high watermark
 * into *end and, when committed is not NULL, of group's committed offsets
 * into *committed (-1 while a transaction's offsets are pending). group may
 * be NULL when committed is. */
void tally_test_topic_offsets(const char *group, const char *const *topics, size_t n_topics, int64_t *end,
                              int64_t *committed);

#endif
