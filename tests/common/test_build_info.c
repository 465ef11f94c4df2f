/* The build a process reports: the librdkafka linked is the release
 * deploy/librdkafka.sh builds (CI fails here if a build fell back to
 * another one), the headers compiled against are that release too, and the
 * startup log and tally_build_info metric name it. */
#include "build_info.h"
#include "log.h"
#include "metrics.h"

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TALLY_LIBRDKAFKA_EXPECTED
#error "tests/CMakeLists.txt defines TALLY_LIBRDKAFKA_EXPECTED (the release cmake/librdkafka.cmake links)"
#endif

Test(build_info, the_linked_librdkafka_is_the_release_built_from_source)
{
    cr_assert_str_eq(tally_build_info_librdkafka(), TALLY_LIBRDKAFKA_EXPECTED,
                     "linked librdkafka %s, expected %s (did deploy/librdkafka.sh fail and the build fall back?)",
                     tally_build_info_librdkafka(), TALLY_LIBRDKAFKA_EXPECTED);
    cr_assert_eq(rd_kafka_version(), RD_KAFKA_VERSION, "library 0x%08x, headers 0x%08x", rd_kafka_version(),
                 RD_KAFKA_VERSION);
    cr_assert_geq(rd_kafka_version(), TALLY_LIBRDKAFKA_MIN_VERSION);
}

Test(build_info, the_metric_and_the_startup_log_name_the_librdkafka_linked)
{
    char path[] = "/tmp/tally-build-info-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    tally_log_set_fd(fd);
    tally_metrics_t *m = tally_metrics_new();
    tally_build_info_announce("test", "tally-test", m);
    tally_log_set_fd(STDERR_FILENO);

    char want[160];
    snprintf(want, sizeof want, "tally_build_info{version=\"%s\",librdkafka=\"%s\"} 1\n", TALLY_VERSION,
             TALLY_LIBRDKAFKA_EXPECTED);
    size_t len;
    char *text = tally_metrics_render(m, &len);
    cr_assert(strstr(text, want) != NULL, "no %s in:\n%s", want, text);
    cr_assert(strstr(text, "# TYPE tally_build_info gauge\n") != NULL, "%s", text);
    free(text);
    tally_metrics_free(m);

    char log[1024] = {0};
    ssize_t n = pread(fd, log, sizeof log - 1, 0);
    close(fd);
    cr_assert_gt(n, 0, "nothing logged");
    snprintf(want, sizeof want, "[test] tally-test %s starting (librdkafka %s)\n", TALLY_VERSION,
             TALLY_LIBRDKAFKA_EXPECTED);
    cr_assert(strstr(log, want) != NULL, "no \"%s\" in the log:\n%s", want, log);
    cr_assert(strstr(log, "WARN") == NULL, "a warning for the release built from source:\n%s", log);
}
