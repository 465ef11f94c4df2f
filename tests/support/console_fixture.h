#ifndef TALLY_TEST_CONSOLE_FIXTURE_H
#define TALLY_TEST_CONSOLE_FIXTURE_H

/* A real tally-console process on a test database of its own: created and
 * migrated (tally-migrate's code) by the superuser, seeded with two tenants
 * (acme and globex, a member each), read by the console as tally_reader. */

#include <libpq-fe.h>
#include <stddef.h>

#include "fixtures.h"
#include "http.h"
#include "subprocess.h"

/* At least 32 characters, as the console requires. */
#define TALLY_TEST_STAFF_TOKEN "staff-token-for-tests-0123456789abcdef"
#define TALLY_TEST_CONSOLE_TOKEN_LEN 47   /* "tct_" + 43 */

typedef struct {
    char db[64];
    PGconn *admin;          /* the superuser on db: seeding and checks */
    char base_url[64];
    int port;
    tally_test_proc_t *proc;
} tally_test_console_t;

/* Creates, migrates and seeds the database (tenants "acme" and "globex",
 * members "m-acme" and "m-globex", environments, license terms, a day of
 * usage). */
void tally_test_console_db(tally_test_console_t *c);

/* The reader's URL of the test database (static buffer). */
const char *tally_test_console_reader_url(const tally_test_console_t *c);

/* Starts tally-console on a free port against the test database (as
 * tally_reader, --insecure-cookies, the test staff token) with extra_args
 * (NULL-terminated, may be NULL), and waits until it listens. */
void tally_test_console_start(tally_test_console_t *c, const char *const extra_args[]);

/* SIGTERM; returns the exit status (as tally_test_wait, within 30 s) and
 * frees the process. */
int tally_test_console_stop(tally_test_console_t *c);

/* Stops the console when it runs (asserting a clean exit) and drops the
 * database. */
void tally_test_console_teardown(tally_test_console_t *c);

/* Issues a console token of member in tenant, expiring at the SQL
 * expression expires (e.g. "now() + interval '1 day'"), the way the
 * materializer stores it: its SHA-256 only. The token text goes into token
 * (TALLY_TEST_CONSOLE_TOKEN_LEN + 1 bytes), its id into token_id (40 bytes;
 * may be NULL). */
void tally_test_console_token(tally_test_console_t *c, const char *tenant, const char *member, const char *expires,
                              char *token, char *token_id);

/* GET (or method) path with a cookie ("tally_session=..." or NULL) and a
 * bearer token (or NULL). */
tally_test_response_t tally_test_console_request(const tally_test_console_t *c, const char *method, const char *path,
                                                 const char *cookie, const char *bearer);

/* Signs in with token at GET /signin?token=, asserting a 303 with a
 * session cookie, and writes "tally_session=<id>" into cookie (96 bytes). */
void tally_test_console_signin(const tally_test_console_t *c, const char *token, char *cookie);

/* A console started with extra_args (as tally_test_console_start) and member
 * of tenant signed in on it with a token expiring in a day: the token into
 * token and the session into cookie (as above). */
void tally_test_console_member(tally_test_console_t *c, const char *tenant, const char *member,
                              const char *const extra_args[], char *token, char *cookie);

/* Runs sql as the superuser on the test database (asserting success). */
void tally_test_console_exec(const tally_test_console_t *c, const char *sql);

#endif
