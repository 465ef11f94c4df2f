/*
 * process.h: what the main() of every Tally process does around its own
 * wiring: parse the command line, turn signals into flags (the signal
 * handler only sets a flag; the loop acts on it), name the instance.
 */
#ifndef TALLY_COMMON_PROCESS_H
#define TALLY_COMMON_PROCESS_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

/* tally_process_parse's answer when the process should go on. */
#define TALLY_PROCESS_RUN (-1)

/* Parses argv (borrowed) with cfg after the arguments defaults[0..n)
 * (e.g. "-Xconsumer.queued.min.messages=1000000": given first, so the
 * operator's own win), then sets the log level from log_level (a
 * tally_log_level_t, or -1 to leave it). Returns TALLY_PROCESS_RUN, or
 * the exit code: 0 after --help or --version, 2 after a usage error or a
 * positional argument, printed as "<program>: <reason> (see --help)". */
int tally_process_parse(tally_config_t *cfg, const char *program, int argc, char **argv,
                        const char *const *defaults, size_t n_defaults, const int *log_level)
    __attribute__((warn_unused_result));

/* Ignores SIGPIPE; SIGTERM and SIGINT set *stop to the signal's number,
 * SIGHUP sets *hup when hup is not NULL (and is left alone otherwise).
 * The flags must outlive the process's loop (static storage). */
void tally_process_signals(volatile sig_atomic_t *stop, volatile sig_atomic_t *hup);

/* The instance's name: given when set, else the host name, else
 * fallback; in buf (size bytes) when not given. */
const char *tally_process_instance_id(const char *given, const char *fallback, char *buf, size_t size);

#endif /* TALLY_COMMON_PROCESS_H */
