/* Unit tests of common/log: line format, levels, truncation, whole lines
 * under concurrency, the librdkafka adapter. Each test runs in its own
 * process (Criterion forks), so logger state starts fresh. */
#include "log.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* An unlinked temporary file the logger writes to. */
static int capture_start(void)
{
    char path[] = "/tmp/tally_test_log_XXXXXX";
    int fd = mkstemp(path);

    cr_assert(fd >= 0, "mkstemp failed");
    unlink(path);
    tally_log_set_fd(fd);
    return fd;
}

/* Everything written so far, NUL-terminated; caller frees. */
static char *capture_read(int fd, size_t *len_out)
{
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)size + 1);
    size_t done = 0;

    cr_assert(buf != NULL);
    cr_assert(lseek(fd, 0, SEEK_SET) == 0);
    while (done < (size_t)size) {
        ssize_t n = read(fd, buf + done, (size_t)size - done);

        cr_assert(n > 0, "read failed");
        done += (size_t)n;
    }
    buf[done] = '\0';
    if (len_out != NULL)
        *len_out = done;
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;

    cr_assert(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) == 0, "bad regex %s", pattern);
    cr_assert(regexec(&re, text, 0, NULL, 0) == 0, "\"%s\" does not match %s", text, pattern);
    regfree(&re);
}

Test(log, line_has_utc_rfc3339_time_level_component_and_message)
{
    int fd = capture_start();
    time_t before = time(NULL);
    struct tm tm = {0};
    char *out;

    tally_log_info("gateway", "accepted %d events from %s", 42, "batch");
    out = capture_read(fd, NULL);
    assert_matches(out, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                        "INFO  \\[gateway\\] accepted 42 events from batch\n$");

    /* The time is UTC: read back as UTC, it is now. */
    cr_assert_eq(sscanf(out, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                        &tm.tm_hour, &tm.tm_min, &tm.tm_sec), 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    cr_assert(labs((long)(timegm(&tm) - before)) <= 2, "timestamp is not current UTC: %s", out);
    free(out);
    close(fd);
}

Test(log, component_is_optional)
{
    int fd = capture_start();
    char *out;

    tally_log_write(TALLY_LOG_WARN, NULL, "plain");
    out = capture_read(fd, NULL);
    assert_matches(out, "^[0-9T:.Z-]{24} WARN  plain\n$");
    free(out);
    close(fd);
}

Test(log, each_level_has_its_label)
{
    int fd = capture_start();
    char *out;

    tally_log_set_level(TALLY_LOG_DEBUG);
    tally_log_debug("c", "d");
    tally_log_info("c", "i");
    tally_log_warn("c", "w");
    tally_log_error("c", "e");
    out = capture_read(fd, NULL);
    assert_matches(out, "^[^\n]* DEBUG \\[c\\] d\n[^\n]* INFO  \\[c\\] i\n"
                        "[^\n]* WARN  \\[c\\] w\n[^\n]* ERROR \\[c\\] e\n$");
    free(out);
    close(fd);
}

Test(log, default_level_is_info_and_filters_below)
{
    int fd = capture_start();
    char *out;

    cr_assert_eq(tally_log_get_level(), TALLY_LOG_INFO);
    cr_assert(!tally_log_enabled(TALLY_LOG_DEBUG));
    cr_assert(tally_log_enabled(TALLY_LOG_INFO));
    tally_log_debug("c", "hidden");
    tally_log_info("c", "shown");
    out = capture_read(fd, NULL);
    cr_assert_eq(count_lines(out), 1);
    cr_assert(strstr(out, "shown") != NULL);
    cr_assert(strstr(out, "hidden") == NULL);
    free(out);
    close(fd);
}

Test(log, level_filtering_at_each_threshold)
{
    for (int level = TALLY_LOG_DEBUG; level <= TALLY_LOG_ERROR; level++) {
        int fd = capture_start();
        char *out;

        tally_log_set_level((tally_log_level_t)level);
        tally_log_debug("c", "debug");
        tally_log_info("c", "info");
        tally_log_warn("c", "warn");
        tally_log_error("c", "error");
        out = capture_read(fd, NULL);
        cr_assert_eq(count_lines(out), (size_t)(4 - level), "level %d wrote %zu lines", level,
                     count_lines(out));
        for (int below = TALLY_LOG_DEBUG; below < level; below++) {
            char needle[32];

            snprintf(needle, sizeof needle, "] %s\n", tally_log_level_names[below]);
            cr_assert(strstr(out, needle) == NULL, "level %d let %s through", level,
                      tally_log_level_names[below]);
        }
        free(out);
        close(fd);
    }
}

Test(log, level_names_parse_in_any_case)
{
    static const struct {
        const char *name;
        tally_log_level_t level;
    } cases[] = {
        {"debug", TALLY_LOG_DEBUG}, {"info", TALLY_LOG_INFO},   {"warn", TALLY_LOG_WARN},
        {"warning", TALLY_LOG_WARN}, {"error", TALLY_LOG_ERROR}, {"DEBUG", TALLY_LOG_DEBUG},
        {"Error", TALLY_LOG_ERROR},
    };
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_log_level_t level = (tally_log_level_t)-1;

        cr_assert_eq(tally_log_parse_level(cases[i].name, &level, err, sizeof err), 0,
                     "%s", cases[i].name);
        cr_assert_eq(level, cases[i].level, "%s", cases[i].name);
    }
    cr_assert_eq(tally_log_set_level_name("debug", err, sizeof err), 0);
    cr_assert_eq(tally_log_get_level(), TALLY_LOG_DEBUG);
    cr_assert_str_eq(tally_log_level_names[TALLY_LOG_WARN], "warn");
    cr_assert_null(tally_log_level_names[TALLY_LOG_ERROR + 1]);
}

Test(log, bad_level_name_is_a_clear_error_and_changes_nothing)
{
    const char *bad[] = {"verbose", "", "inf", "debug "};
    char err[256];

    tally_log_set_level(TALLY_LOG_WARN);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tally_log_level_t level = TALLY_LOG_ERROR;
        char quoted[64];

        err[0] = '\0';
        cr_assert_lt(tally_log_parse_level(bad[i], &level, err, sizeof err), 0, "%s", bad[i]);
        cr_assert_eq(level, TALLY_LOG_ERROR, "output changed on error");
        snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
        cr_assert(strstr(err, quoted) != NULL, "error does not name %s: %s", quoted, err);
        cr_assert(strstr(err, "debug, info, warn or error") != NULL, "%s", err);

        cr_assert_lt(tally_log_set_level_name(bad[i], err, sizeof err), 0);
        cr_assert_eq(tally_log_get_level(), TALLY_LOG_WARN, "level changed on error");
    }
}

/* Length of the "<time> INFO  [c] " prefix. */
static size_t prefix_len(void)
{
    int fd = capture_start();
    size_t len;
    char *out;

    tally_log_info("c", "%s", "");
    out = capture_read(fd, &len);
    free(out);
    close(fd);
    return len - 1;
}

Test(log, message_that_fits_exactly_is_not_truncated)
{
    size_t room = TALLY_LOG_LINE_MAX - 1 - prefix_len();
    char *msg = malloc(room + 1);
    size_t len;
    int fd;
    char *out;

    memset(msg, 'x', room);
    msg[room] = '\0';
    fd = capture_start();
    tally_log_info("c", "%s", msg);
    out = capture_read(fd, &len);
    cr_assert_eq(len, (size_t)TALLY_LOG_LINE_MAX);
    cr_assert(strstr(out, TALLY_LOG_TRUNCATED) == NULL);
    cr_assert_eq(out[len - 2], 'x');
    cr_assert_eq(count_lines(out), 1);
    free(out);
    free(msg);
    close(fd);
}

Test(log, long_message_is_truncated_with_marker_on_one_line)
{
    size_t room = TALLY_LOG_LINE_MAX - 1 - prefix_len();
    size_t sizes[] = {room + 1, 10000, 100000};

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        char *msg = malloc(sizes[s] + 1);
        size_t len, marker = sizeof TALLY_LOG_TRUNCATED - 1;
        int fd;
        char *out;

        memset(msg, 'y', sizes[s]);
        msg[sizes[s]] = '\0';
        fd = capture_start();
        tally_log_error("c", "%s", msg);
        tally_log_error("c", "next");
        out = capture_read(fd, &len);
        cr_assert_eq(count_lines(out), 2);
        cr_assert_eq(strchr(out, '\n') - out + 1, TALLY_LOG_LINE_MAX,
                     "truncated line is not TALLY_LOG_LINE_MAX bytes");
        cr_assert_eq(strncmp(out + TALLY_LOG_LINE_MAX - 1 - marker, TALLY_LOG_TRUNCATED "\n",
                             marker + 1), 0, "no truncation marker");
        cr_assert(strstr(out + TALLY_LOG_LINE_MAX, "] next\n") != NULL);
        free(out);
        free(msg);
        close(fd);
    }
}

Test(log, truncation_never_splits_a_utf8_character)
{
    /* "é" is two bytes; try both parities of the cut point. */
    for (int shift = 0; shift < 2; shift++) {
        char msg[12001];
        char *p = msg;
        size_t len;
        int fd;
        char *out;

        if (shift)
            *p++ = 'a';
        for (int i = 0; i < 5000; i++) {
            *p++ = '\xc3';
            *p++ = '\xa9';
        }
        *p = '\0';
        fd = capture_start();
        tally_log_info("c", "%s", msg);
        out = capture_read(fd, &len);
        {
            char *end = strstr(out, TALLY_LOG_TRUNCATED);
            int lead = 0, cont = 0;

            cr_assert(end != NULL);
            for (char *q = strstr(out, "] ") + 2; q < end; q++) {
                unsigned char c = (unsigned char)*q;

                lead += (c & 0xE0) == 0xC0;
                cont += (c & 0xC0) == 0x80;
            }
            cr_assert_eq(lead, cont, "a UTF-8 sequence was cut (shift %d)", shift);
        }
        free(out);
        close(fd);
    }
}

Test(log, embedded_newlines_cannot_forge_lines)
{
    int fd = capture_start();
    char *out;

    tally_log_warn("c", "first\nINFO [c] forged\r\tend");
    out = capture_read(fd, NULL);
    cr_assert_eq(count_lines(out), 1);
    cr_assert(strstr(out, "first INFO [c] forged  end\n") != NULL, "%s", out);
    free(out);
    close(fd);
}

Test(log, default_output_is_stderr_and_fd_can_be_set)
{
    char path[] = "/tmp/tally_test_log_XXXXXX";
    int saved = dup(STDERR_FILENO);
    int tmp = mkstemp(path);
    char *out;

    cr_assert_eq(tally_log_get_fd(), STDERR_FILENO);
    unlink(path);
    cr_assert(dup2(tmp, STDERR_FILENO) >= 0);
    tally_log_info("c", "to stderr");
    dup2(saved, STDERR_FILENO);
    close(saved);
    out = capture_read(tmp, NULL);
    cr_assert(strstr(out, "] to stderr\n") != NULL);
    free(out);

    {
        int fd = capture_start();

        cr_assert_eq(tally_log_get_fd(), fd);
        tally_log_info("c", "to file");
        out = capture_read(fd, NULL);
        cr_assert(strstr(out, "] to file\n") != NULL);
        free(out);
        close(fd);
    }
    close(tmp);
}

#define THREADS 8
#define PER_THREAD 1000

static void *log_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    char payload[1200];

    for (int i = 0; i < PER_THREAD; i++) {
        /* Varying lengths, up to ~1 KiB, make torn writes likely if unlocked. */
        size_t n = (size_t)((i * 37 + t * 11) % 1000) + 1;

        memset(payload, 'a' + t, n);
        payload[n] = '\0';
        tally_log_info("worker", "t=%d i=%d n=%zu %s end", t, i, n, payload);
    }
    return NULL;
}

Test(log, lines_from_8_threads_are_never_interleaved)
{
    int fd = capture_start();
    pthread_t threads[THREADS];
    static bool seen[THREADS][PER_THREAD];
    size_t lines = 0;
    char *out, *line, *save = NULL;

    for (int t = 0; t < THREADS; t++)
        cr_assert_eq(pthread_create(&threads[t], NULL, log_worker, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(threads[t], NULL);

    out = capture_read(fd, NULL);
    cr_assert_eq(count_lines(out), (size_t)(THREADS * PER_THREAD));
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        const char *msg = strstr(line, "] t=");
        int t, i, consumed = 0;
        size_t n;

        cr_assert(msg != NULL, "line without a message: %.80s", line);
        cr_assert_eq(msg - line, 24 + 1 + 5 + 1 + 7, "bad prefix: %.80s", line);
        cr_assert_eq(sscanf(msg, "] t=%d i=%d n=%zu %n", &t, &i, &n, &consumed), 3,
                     "torn line: %.80s", line);
        cr_assert(t >= 0 && t < THREADS && i >= 0 && i < PER_THREAD);
        cr_assert_eq(strspn(msg + consumed, (char[]){(char)('a' + t), '\0'}), n,
                     "payload of t=%d i=%d is torn", t, i);
        cr_assert_str_eq(msg + consumed + n, " end", "tail of t=%d i=%d is torn", t, i);
        cr_assert(!seen[t][i], "t=%d i=%d twice", t, i);
        seen[t][i] = true;
        lines++;
    }
    cr_assert_eq(lines, (size_t)(THREADS * PER_THREAD));
    free(out);
    close(fd);
}

Test(log, rdkafka_levels_map_from_syslog)
{
    static const char *const expected[8] = {"ERROR", "ERROR", "ERROR", "ERROR",
                                            "WARN ", "INFO ", "INFO ", "DEBUG"};
    int fd = capture_start();
    char *out, *line, *save = NULL;
    int n = 0;

    tally_log_set_level(TALLY_LOG_DEBUG);
    for (int level = 0; level < 8; level++) {
        char buf[32];

        snprintf(buf, sizeof buf, "message %d", level);
        tally_log_rdkafka_cb(NULL, level, "FAC", buf);
    }
    out = capture_read(fd, NULL);
    for (line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char want[64];

        snprintf(want, sizeof want, " %s [rdkafka] - FAC: message %d", expected[n], n);
        cr_assert(strstr(line, want) != NULL, "level %d: %s", n, line);
        n++;
    }
    cr_assert_eq(n, 8);
    free(out);
    close(fd);
}

static void run_rdkafka_client(void)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    char err[512];

    /* No bootstrap.servers: librdkafka logs a CONFWARN notice at creation. */
    rd_kafka_conf_set_log_cb(conf, tally_log_rdkafka_cb);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert(rk != NULL, "rd_kafka_new: %s", err);
    rd_kafka_destroy(rk);
}

Test(log, rdkafka_callback_works_with_a_real_client_and_is_filtered)
{
    int fd = capture_start();
    char *out;

    run_rdkafka_client();
    out = capture_read(fd, NULL);
    assert_matches(out, "INFO  \\[rdkafka\\] rdkafka#producer-[0-9]+ CONFWARN: [^\n]*"
                        "bootstrap.servers");
    free(out);
    close(fd);

    fd = capture_start();
    tally_log_set_level(TALLY_LOG_WARN);
    run_rdkafka_client();
    out = capture_read(fd, NULL);
    cr_assert(strstr(out, "CONFWARN") == NULL, "notice passed a warn filter: %s", out);
    free(out);
    close(fd);
}
