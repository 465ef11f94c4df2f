/*
 * log.h: the one process-wide logger.
 *
 * Every line is "<RFC 3339 UTC time> <LEVEL> [<component>] <message>\n",
 * for example "2024-05-01T12:34:56.789Z WARN  [gateway] queue is 90% full".
 * A line is formatted on the caller's stack and written with one write(2)
 * under a mutex, so lines from different threads (librdkafka calls its log
 * callback on its own threads) never interleave. Control characters in a
 * message become spaces, so one call is always exactly one line; a message
 * longer than TALLY_LOG_LINE_MAX is cut and ends with TALLY_LOG_TRUNCATED.
 *
 * Logs must never carry secrets (API keys, tokens, passwords), client IP
 * addresses or raw identifiers (user ids, install ids, e-mail addresses):
 * the logger cannot tell them apart from other text, so keeping them out is
 * the caller's duty. Log pseudonyms, counts, topic/partition/offset instead.
 */
#ifndef TALLY_LOG_H
#define TALLY_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

/* Longest line written, '\n' included. */
#define TALLY_LOG_LINE_MAX 4096
/* Ends a message that did not fit in TALLY_LOG_LINE_MAX. */
#define TALLY_LOG_TRUNCATED "...[truncated]"

/* Ordered: a logger at level L writes messages of level >= L. */
typedef enum tally_log_level_t {
    TALLY_LOG_DEBUG = 0,
    TALLY_LOG_INFO = 1,
    TALLY_LOG_WARN = 2,
    TALLY_LOG_ERROR = 3,
} tally_log_level_t;

/* Names in level order, NULL-terminated: usable as a config enum's choices,
 * whose index is then the tally_log_level_t value. */
extern const char *const tally_log_level_names[];

/* Minimum level written; TALLY_LOG_INFO until changed. Thread-safe. */
void tally_log_set_level(tally_log_level_t level);
tally_log_level_t tally_log_get_level(void);

/* Parses "debug", "info", "warn" (or "warning") or "error", any case, into
 * *level. On a bad name, returns -1, leaves *level alone and writes a message
 * naming the bad value into errbuf. */
int tally_log_parse_level(const char *name, tally_log_level_t *level,
                          char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* tally_log_parse_level, then tally_log_set_level; the level is unchanged
 * on error. */
int tally_log_set_level_name(const char *name, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Borrows fd (default STDERR_FILENO): the caller keeps it open while it is
 * set. Once this returns no thread writes to the previous fd any more, so
 * the caller may close that one. */
void tally_log_set_fd(int fd);
int tally_log_get_fd(void);

/* Whether a message of this level would be written: lets a caller skip
 * costly argument preparation. */
int tally_log_enabled(tally_log_level_t level);

/* Writes one line if level is enabled. component (borrowed, may be NULL)
 * names the module or process, e.g. "gateway" or "anonymizer". Write errors
 * are ignored: there is nowhere left to report them. */
void tally_log_write(tally_log_level_t level, const char *component,
                     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tally_log_vwrite(tally_log_level_t level, const char *component,
                      const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void tally_log_debug(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tally_log_info(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tally_log_warn(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tally_log_error(const char *component, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* For rd_kafka_conf_set_log_cb(conf, tally_log_rdkafka_cb). Maps syslog
 * levels (0-3 error, 4 warn, 5-6 info, 7 debug) and writes
 * "[rdkafka] <client name> <facility>: <text>". librdkafka's text names
 * brokers (infrastructure addresses, not personal data) and never carries
 * the values of its sensitive properties. Thread-safe. */
void tally_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac,
                          const char *buf);

#endif /* TALLY_LOG_H */
