/* producers/gateway/linefile: the line reader of the key and opt-out
 * files: line ends removed, line numbers counted, long lines, NUL bytes
 * and missing files refused with the file and line named, a callback's
 * error prefixed likewise. */
#include "linefile.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64], errbuf[1024];

static void setup(void)
{
    snprintf(path, sizeof path, "/tmp/tally-test-linefile-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void teardown(void)
{
    cr_assert_eq(unlink(path), 0);
}

static void write_file(const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

typedef struct {
    char seen[512];
    long fail_at;              /* lineno whose callback fails, 0 none */
} collect_t;

/* Appends "<lineno>:<line>|" for every line. */
static int collect(void *cls, char *line, size_t len, long lineno, char *errbuf_, size_t errsize)
{
    collect_t *c = cls;
    cr_assert_eq(strlen(line), len);
    if (lineno == c->fail_at) {
        snprintf(errbuf_, errsize, "not what was expected");
        return -1;
    }
    size_t used = strlen(c->seen);
    snprintf(c->seen + used, sizeof c->seen - used, "%ld:%s|", lineno, line);
    return 0;
}

TestSuite(linefile, .init = setup, .fini = teardown);

Test(linefile, lines_come_without_their_ends_and_numbered)
{
    const char text[] = "a\nb c\r\n\n last";
    write_file(text, sizeof text - 1);
    collect_t c = {.fail_at = 0};
    cr_assert_eq(tally_linefile_read(path, "test", 64, collect, &c, errbuf, sizeof errbuf), 0, "%s", errbuf);
    cr_assert_str_eq(c.seen, "1:a|2:b c|3:|4: last|");
}

/* Reads text with a callback failing at line fail_at (0: none) and expects
 * the error "test file <path>: <want>". */
static void expect_error(const char *text, size_t len, size_t line_max, long fail_at, const char *want)
{
    write_file(text, len);
    collect_t c = {.fail_at = fail_at};
    cr_assert_eq(tally_linefile_read(path, "test", line_max, collect, &c, errbuf, sizeof errbuf), -1);
    char full[256];
    snprintf(full, sizeof full, "test file %s %s", path, want);
    cr_assert_str_eq(errbuf, full);
}

Test(linefile, callback_error_names_file_and_line)
{
    expect_error("a\nb\nc\n", 6, 64, 2, "line 2: not what was expected");
}

Test(linefile, reading_stops_at_a_failing_line)
{
    write_file("a\nb\nc\n", 6);
    collect_t c = {.fail_at = 2};
    cr_assert_eq(tally_linefile_read(path, "test", 64, collect, &c, errbuf, sizeof errbuf), -1);
    cr_assert_str_eq(c.seen, "1:a|");
}

Test(linefile, long_line_is_refused)
{
    expect_error("short\n0123456789\n", 17, 8, 0, "line 2: longer than 8 bytes");
}

Test(linefile, nul_byte_is_refused)
{
    expect_error("ok\nb\0d\n", 7, 64, 0, "line 2: contains a NUL byte");
}

Test(linefile, missing_file_is_named)
{
    collect_t c = {.fail_at = 0};
    cr_assert_eq(tally_linefile_read("/nonexistent/tally/lines", "test", 64, collect, &c, errbuf, sizeof errbuf),
                 -1);
    cr_assert(strstr(errbuf, "test file /nonexistent/tally/lines: ") == errbuf, "%s", errbuf);
}
