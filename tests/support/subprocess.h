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

/* Sends sig; 0 when it was delivered (the process had not been reaped),
 * -1 otherwise. */
int tally_test_signal(tally_test_proc_t *p, int sig);

/* Waits up to timeout_ms for exit; returns the exit status, 128+signal when
 * killed, or -1 on timeout (the process then still runs). */
int tally_test_wait(tally_test_proc_t *p, int timeout_ms);

/* The wait status (as waitpid gives it, for WIFEXITED/WIFSIGNALED) once
 * tally_test_wait saw the exit, or -1 while the process runs. */
int tally_test_raw_status(const tally_test_proc_t *p);

/* In a forked child before exec: appends log_path=$TALLY_TEST_SANITIZER_LOGS/
 * <basename of name> to ASAN_OPTIONS and UBSAN_OPTIONS (keeping what they
 * hold), so that a sanitizer report of a spawned Tally process lands in a
 * file (name.PID) that tests/run.sh scans and fails on. Nothing without
 * TALLY_TEST_SANITIZER_LOGS (a suite run by hand: reports go to stderr). */
void tally_test_sanitizer_env(const char *name);

/* Creates $TALLY_TEST_SANITIZER_LOGS when it is set (a sanitizer cannot
 * open a log in a missing folder); call in the parent before forking. */
void tally_test_sanitizer_dir(void);

/* system(cmd) with tally_test_sanitizer_env(name) in the shell's
 * environment: for a Tally binary started through a shell command line.
 * Returns what system() would. */
int tally_test_system(const char *name, const char *cmd);

/* The log captured so far (NUL-terminated, owned by p). */
const char *tally_test_log(tally_test_proc_t *p);

/* Kills (SIGKILL) if still running, reaps, frees. NULL is a no-op. */
void tally_test_proc_free(tally_test_proc_t *p);

/* The port in a "listening on HOST:PORT" log line, or -1. */
int tally_test_port_from_line(const char *line);

#endif
