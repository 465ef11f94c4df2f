#ifndef TALLY_TEST_SERVICES_H
#define TALLY_TEST_SERVICES_H

/* The local Kafka broker and PostgreSQL as services a disruptive test may
 * break: deploy/local/<service>.sh run with the test's environment
 * (TALLY_BROKERS, TALLY_PG_PORT, TALLY_STATE...: the very services that
 * tally_test_brokers() and tally_test_pg_url() name). Thread-safe. */

#include <stddef.h>
#include <sys/types.h>

/* Runs deploy/local/<service>.sh <command> ("kafka", "start"), its output
 * (stdout and stderr) into out (size outsize, the last part when longer;
 * may be NULL). Returns the exit status (-1: could not run). */
int tally_test_service_run(const char *service, const char *command, char *out, size_t outsize);

/* The pid of the running service (`<service>.sh pid`), or -1 when it is not
 * running. */
pid_t tally_test_service_pid(const char *service);

/* 1 while pid exists and is not a zombie (a process that is not our child
 * stays a zombie when nobody reaps it), or is a zombie main thread whose
 * other threads are still exiting (they hold its files and ports). */
int tally_test_pid_alive(pid_t pid);

/* A TCP port of 127.0.0.1 free at the moment of the call, below the
 * ephemeral range (so no outgoing connection takes it while a restarted
 * server is down); -1 when none was found. */
int tally_test_free_port(void);

/* The first of count consecutive such ports (a broker and its controller:
 * kafka.sh puts the controller on the broker's port + 1), or -1. */
int tally_test_free_ports(int count);

/* The first line of log (NUL-terminated) reporting a sanitizer error
 * (AddressSanitizer, LeakSanitizer, UBSan "runtime error:"), or NULL. */
const char *tally_test_sanitizer_report(const char *log);

#endif
