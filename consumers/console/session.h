/*
 * session.h: the console's signed-in sessions, in memory.
 *
 * A session is created when a console token (or the staff token) is
 * exchanged at /signin, and named by 32 random bytes, sent as 64 hex
 * characters in the tally_session cookie. The store holds at most
 * max_sessions; when full, the session nearest its end makes room (and is
 * counted). A session ends at sign-out, at its expiry (the sign-in plus
 * --session-ttl, and never later than its console token's own expiry), or
 * when its token no longer authenticates: a member session remembers the
 * token's SHA-256, and tally_session_get asks the caller to check it again
 * once it is older than recheck_ms, so a revoked token, a removed member or
 * an expired token ends its sessions within that time.
 *
 * Sessions live in one process: behind several console instances a client
 * must stick to one (or sign in on each). A restart ends every session.
 *
 * Thread-safe: one mutex; lookups compare ids in constant time.
 */
#ifndef TALLY_CONSOLE_SESSION_H
#define TALLY_CONSOLE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "route.h"

/* Hex characters of a session id (and of a SHA-256). */
#define TALLY_SESSION_ID_HEX 64
#define TALLY_MEMBER_ID_MAX 128

/* Who is signed in: what a session (or a bearer token) stands for. */
typedef struct tally_principal_t {
    int staff;                                   /* 1: vendor staff; tenant and member empty */
    char tenant_id[TALLY_ROUTE_TENANT_MAX + 1];
    char member_id[TALLY_MEMBER_ID_MAX + 1];
    char token_sha256[TALLY_SESSION_ID_HEX + 1]; /* the member's console token; "" for staff */
    int64_t token_expires_ms;                    /* the console token's expiry; 0 for staff */
} tally_principal_t;

typedef struct tally_sessions_t tally_sessions_t;

/* Returns an owned, empty store. ttl_ms: a session's longest life;
 * recheck_ms: how old a member session's last token check may grow. */
tally_sessions_t *tally_sessions_new(size_t max_sessions, int64_t ttl_ms, int64_t recheck_ms);

/* Frees the store and every session; NULL is a no-op. */
void tally_sessions_free(tally_sessions_t *s);

/* Creates a session for p (copied) at wall-clock now_ms; writes its id
 * (64 hex characters and a NUL) into id and its lifetime in seconds into
 * *max_age_s (for the cookie's Max-Age). Returns 1 when another session
 * had to be ended to make room, else 0. */
int tally_sessions_create(tally_sessions_t *s, const tally_principal_t *p, int64_t now_ms,
                          char id[TALLY_SESSION_ID_HEX + 1], int64_t *max_age_s);

/* tally_sessions_get's results. */
enum {
    TALLY_SESSION_NONE = 0,      /* no such session (unknown, ended or expired) */
    TALLY_SESSION_OK = 1,        /* *p is filled */
    TALLY_SESSION_RECHECK = 2,   /* *p is filled; check its token, then call tally_sessions_checked */
};

/* Looks the session id up at now_ms (an id that is not 64 hex characters
 * is simply unknown). Expired sessions are removed on the way. */
int tally_sessions_get(tally_sessions_t *s, const char *id, int64_t now_ms, tally_principal_t *p);

/* After a RECHECK: ok 1 keeps the session (checked now), 0 ends it. */
void tally_sessions_checked(tally_sessions_t *s, const char *id, int ok, int64_t now_ms);

/* Ends the session id; returns 1 when there was one. */
int tally_sessions_end(tally_sessions_t *s, const char *id);

/* Sessions held now (expired ones may count until the next sweep). */
size_t tally_sessions_count(tally_sessions_t *s);

/* Removes expired sessions at now_ms; returns how many. */
size_t tally_sessions_sweep(tally_sessions_t *s, int64_t now_ms);

#endif
