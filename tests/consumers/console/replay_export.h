#ifndef TALLY_TEST_CONSOLE_REPLAY_EXPORT_H
#define TALLY_TEST_CONSOLE_REPLAY_EXPORT_H

#include <stddef.h>

/* What the console's downloads must equal: `tally-replay export` of tenant
 * for period in format ("csv" or "json"), run as a subprocess on the
 * database at pg_url and the usage topic (the shared broker, the source
 * tree's schemas). Returns the report's bytes (malloc'd, NUL-terminated;
 * up to 1 MiB) and their count in *len; fails the running test when the
 * export exits with a status other than 0 or 1 or writes no file. */
char *console_replay_export(const char *pg_url, const char *usage_topic, const char *tenant, const char *period,
                            const char *format, size_t *len);

#endif
