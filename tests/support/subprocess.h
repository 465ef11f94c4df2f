#ifndef TALLY_TEST_SUBPROCESS_H
#define TALLY_TEST_SUBPROCESS_H

/* Child processes for black-box tests of the real binaries (not
 * common/process.h, which is what a process does in its own main). */

#include <stddef.h>
#include <sys/types.h>

typedef struct tally_test_proc_t tally_test_proc_t;

/* Starts argv[0] (a path) with argv, stderr (its log) captured; waits up to
 * timeout_ms for a log line containing ready (NULL: no wait) and copies that
 * line into line (may be NULL). Aborts the test on failure, showing the log. */
tally_test_proc_t *tally_test_spawn(char *const argv[], const char *ready, int timeout_ms, char *line,
                                    size_t linesize);

/* The binary of a tool built beside the tests ($TALLY_BIN_DIR/name); static buffer. */
const char *tally_test_bin(const char *name);

pid_t tally_test_pid(const tally_test_proc_t *p);

/* Sends sig. */
void tally_test_signal(tally_test_proc_t *p, int sig);

/* Waits up to timeout_ms for exit; returns the exit status, 128+signal when
 * killed, or -1 on timeout (the process then still runs). */
int tally_test_wait(tally_test_proc_t *p, int timeout_ms);

/* The log captured so far (NUL-terminated, owned by p). */
const char *tally_test_log(tally_test_proc_t *p);

/* Kills (SIGKILL) if still running, reaps, frees. NULL is a no-op. */
void tally_test_proc_free(tally_test_proc_t *p);

/* The port in a "listening on HOST:PORT" log line, or -1. */
int tally_test_port_from_line(const char *line);

#endif
