#ifndef TALLY_TEST_FIXTURES_H
#define TALLY_TEST_FIXTURES_H

/* Helpers for integration suites, which run against the real local Kafka
 * broker and PostgreSQL that tests/run.sh starts. */

#include <libpq-fe.h>
#include <stddef.h>

/* tally_test_topic_read and its records, declared here before the reader
 * had a file of its own: the suites that read a topic include only this. */
#include "topic_reader.h"

/* Kafka bootstrap servers: $TALLY_BROKERS or 127.0.0.1:19092. */
const char *tally_test_brokers(void);

/* URL of database db on the local server ($TALLY_PG_HOST/PORT); static buffer. */
const char *tally_test_pg_url(const char *db);

/* Creates a fresh, empty database named prefix_<pid>_<counter>, writes its
 * name into name (size namesize) and returns a connection to it. Aborts the
 * test if PostgreSQL is unreachable. */
PGconn *tally_test_db_create(const char *prefix, char *name, size_t namesize);

/* Closes conn (may be NULL) and drops database name. */
void tally_test_db_drop(PGconn *conn, const char *name);

/* A unique name for a topic or group of one test: prefix.<pid>.<counter>. */
void tally_test_unique_name(const char *prefix, char *out, size_t size);

/* tally_test_unique_name of prefix followed by suffix (e.g. ".usage"). */
void tally_test_unique_name2(const char *prefix, const char *suffix, char *out, size_t size);

/* Creates a topic with the given partition count on the local broker. */
void tally_test_topic_create(const char *topic, int partitions);

/* Milliseconds of the monotonic clock (for deadlines). */
long long tally_test_mono_ms(void);

/* Skips the running test visibly: "SKIPPED: suite::test: reason" on
 * stderr, which tests/run.sh counts and lists (Criterion itself shows a
 * skip only with --verbose: a skipped test looked like a passed one). For
 * use in a Test body, which includes criterion.h and stdio.h. */
#define TALLY_TEST_SKIP(reason)                                                                              \
    do {                                                                                                     \
        fprintf(stderr, "SKIPPED: %s::%s: %s\n", criterion_current_test->category, criterion_current_test->name, \
                (reason));                                                                                   \
        cr_skip_test("%s", (reason));                                                                        \
    } while (0)

/* Path below the repository ($TALLY_SOURCE_DIR); static buffer. */
const char *tally_test_source_path(const char *relative);

#endif
