/*
 * build_info.h: what a process says about its own build at start: Tally's
 * version and the librdkafka it runs with, in its startup log and as the
 * gauge tally_build_info{version="0.1.0",librdkafka="2.12.1"} 1 on its
 * /metrics, so that an operator (and the tests) can see which librdkafka a
 * running process actually links: the engine relies on fixes that older
 * releases lack (docs/architecture.md).
 */
#ifndef TALLY_COMMON_BUILD_INFO_H
#define TALLY_COMMON_BUILD_INFO_H

#include "metrics.h"

/* The oldest librdkafka with every fix the engine relies on instead of a
 * workaround of its own (2.12.0: the header double free of a failed
 * produce, librdkafka#4627). An older one is reported loudly. */
#define TALLY_LIBRDKAFKA_MIN_VERSION 0x020c0000

/* The librdkafka linked ("2.12.1"), as the library itself reports it. */
const char *tally_build_info_librdkafka(void);

/* Logs "<program> <version> starting (librdkafka X)" at info level under
 * component, and a warning when the library is older than
 * TALLY_LIBRDKAFKA_MIN_VERSION or is not the release the headers were
 * (a build that mixed two installations). When metrics is not NULL,
 * registers tally_build_info there (value 1). Call once, early in main. */
void tally_build_info_announce(const char *component, const char *program, tally_metrics_t *metrics);

#endif /* TALLY_COMMON_BUILD_INFO_H */
