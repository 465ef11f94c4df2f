/*
 * log.c: one line per message, one write(2) per line, one mutex.
 *
 * The line is built on the caller's stack, so the mutex is held only for the
 * write itself. The mutex (not just O_APPEND or PIPE_BUF atomicity) is what
 * keeps lines whole: a write to a pipe longer than PIPE_BUF, or a partial
 * write to a full pipe, would otherwise let another thread's bytes in.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *const tally_log_level_names[] = {"debug", "info", "warn", "error", NULL};

/* Fixed-width labels keep messages aligned. */
static const char *const level_labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

static atomic_int log_level = TALLY_LOG_INFO;
/* Read and written under log_mutex, so that after tally_log_set_fd returns
 * no writer still holds the old fd. */
static int log_fd = STDERR_FILENO;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

void tally_log_set_level(tally_log_level_t level)
{
    if (level < TALLY_LOG_DEBUG)
        level = TALLY_LOG_DEBUG;
    if (level > TALLY_LOG_ERROR)
        level = TALLY_LOG_ERROR;
    atomic_store(&log_level, (int)level);
}

tally_log_level_t tally_log_get_level(void)
{
    return (tally_log_level_t)atomic_load(&log_level);
}

int tally_log_parse_level(const char *name, tally_log_level_t *level,
                          char *errbuf, size_t errsize)
{
    if (name != NULL) {
        for (int i = 0; tally_log_level_names[i] != NULL; i++) {
            if (strcasecmp(name, tally_log_level_names[i]) == 0) {
                *level = (tally_log_level_t)i;
                return 0;
            }
        }
        if (strcasecmp(name, "warning") == 0) {
            *level = TALLY_LOG_WARN;
            return 0;
        }
    }
    snprintf(errbuf, errsize,
             "unknown log level \"%.64s\" (expected debug, info, warn or error)",
             name != NULL ? name : "(null)");
    return -1;
}

int tally_log_set_level_name(const char *name, char *errbuf, size_t errsize)
{
    tally_log_level_t level;

    if (tally_log_parse_level(name, &level, errbuf, errsize) < 0)
        return -1;
    tally_log_set_level(level);
    return 0;
}

void tally_log_set_fd(int fd)
{
    pthread_mutex_lock(&log_mutex);
    log_fd = fd;
    pthread_mutex_unlock(&log_mutex);
}

int tally_log_get_fd(void)
{
    int fd;

    pthread_mutex_lock(&log_mutex);
    fd = log_fd;
    pthread_mutex_unlock(&log_mutex);
    return fd;
}

int tally_log_enabled(tally_log_level_t level)
{
    return (int)level >= atomic_load(&log_level);
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars) into buf; returns its length. */
static size_t format_timestamp(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    size_t len;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    len = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    len += (size_t)snprintf(buf + len, size - len, ".%03dZ",
                            (int)(ts.tv_nsec / 1000000));
    return len;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

void tally_log_vwrite(tally_log_level_t level, const char *component,
                      const char *fmt, va_list ap)
{
    /* One spare byte for vsnprintf's terminating NUL. */
    char line[TALLY_LOG_LINE_MAX + 1];
    size_t len, msg_start, room;
    int n;

    if (level < TALLY_LOG_DEBUG || level > TALLY_LOG_ERROR)
        level = TALLY_LOG_ERROR;
    if (!tally_log_enabled(level))
        return;

    len = format_timestamp(line, sizeof line);
    if (component != NULL)
        len += (size_t)snprintf(line + len, sizeof line - len, " %s [%.64s] ",
                                level_labels[level], component);
    else
        len += (size_t)snprintf(line + len, sizeof line - len, " %s ",
                                level_labels[level]);
    msg_start = len;

    /* Room for the message, keeping the last byte of the line for '\n'. */
    room = TALLY_LOG_LINE_MAX - 1 - msg_start;
    n = vsnprintf(line + msg_start, room + 1, fmt, ap);
    if (n < 0) {
        n = snprintf(line + msg_start, room + 1, "(unformattable message)");
    }
    if ((size_t)n > room) {
        size_t cut = TALLY_LOG_LINE_MAX - 1 - (sizeof TALLY_LOG_TRUNCATED - 1);

        /* Do not leave half a UTF-8 sequence before the marker. */
        while (cut > msg_start && ((unsigned char)line[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(line + cut, TALLY_LOG_TRUNCATED, sizeof TALLY_LOG_TRUNCATED - 1);
        len = cut + sizeof TALLY_LOG_TRUNCATED - 1;
    } else {
        len = msg_start + (size_t)n;
    }

    /* One call, one line: no embedded newline may start a forged one. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];

        if (c < 0x20 || c == 0x7f)
            line[i] = ' ';
    }
    line[len++] = '\n';

    pthread_mutex_lock(&log_mutex);
    write_all(log_fd, line, len);
    pthread_mutex_unlock(&log_mutex);
}

void tally_log_write(tally_log_level_t level, const char *component,
                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tally_log_vwrite(level, component, fmt, ap);
    va_end(ap);
}

void tally_log_debug(const char *component, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tally_log_vwrite(TALLY_LOG_DEBUG, component, fmt, ap);
    va_end(ap);
}

void tally_log_info(const char *component, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tally_log_vwrite(TALLY_LOG_INFO, component, fmt, ap);
    va_end(ap);
}

void tally_log_warn(const char *component, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tally_log_vwrite(TALLY_LOG_WARN, component, fmt, ap);
    va_end(ap);
}

void tally_log_error(const char *component, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tally_log_vwrite(TALLY_LOG_ERROR, component, fmt, ap);
    va_end(ap);
}

void tally_log_rdkafka_cb(const rd_kafka_t *rk, int level, const char *fac,
                          const char *buf)
{
    tally_log_level_t mapped;

    if (level <= 3)         /* LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR */
        mapped = TALLY_LOG_ERROR;
    else if (level == 4)    /* LOG_WARNING */
        mapped = TALLY_LOG_WARN;
    else if (level <= 6)    /* LOG_NOTICE, LOG_INFO */
        mapped = TALLY_LOG_INFO;
    else                    /* LOG_DEBUG */
        mapped = TALLY_LOG_DEBUG;

    tally_log_write(mapped, "rdkafka", "%s %s: %s",
                    rk != NULL ? rd_kafka_name(rk) : "-",
                    fac != NULL ? fac : "-", buf != NULL ? buf : "");
}
