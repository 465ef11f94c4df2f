/*
 * token.h: the console token itself, pure (no I/O): how one is made, how
 * it is stored (its SHA-256 only) and how a presented one is checked for
 * shape before any lookup.
 *
 * A token is "tct_" followed by the URL-safe base64 (no padding) of 32
 * random bytes: 47 characters. token_sha256 is the lower-case hex SHA-256
 * of the whole token text, prefix included; tally.console_tokens holds
 * that and never the token. A token id is a random (version 4) UUID.
 */
#ifndef TALLY_CONSOLE_TOKEN_H
#define TALLY_CONSOLE_TOKEN_H

#include <stddef.h>

#define TALLY_CONSOLE_TOKEN_PREFIX "tct_"
#define TALLY_CONSOLE_TOKEN_LEN 47          /* "tct_" + 43 base64url characters */
#define TALLY_CONSOLE_TOKEN_SIZE 48         /* with the NUL */
#define TALLY_CONSOLE_TOKEN_ID_SIZE 37      /* a UUID and its NUL */
#define TALLY_CONSOLE_SHA256_SIZE 65        /* 64 hex digits and the NUL */

/* A new random token into out (TALLY_CONSOLE_TOKEN_SIZE bytes) and a new
 * token id into id (TALLY_CONSOLE_TOKEN_ID_SIZE bytes). libsodium must be
 * initialised (sodium_init); aborts otherwise. */
void tally_console_token_new(char out[TALLY_CONSOLE_TOKEN_SIZE], char id[TALLY_CONSOLE_TOKEN_ID_SIZE]);

/* The lower-case hex SHA-256 of token[0..len) into out. */
void tally_console_token_sha256(const char *token, size_t len, char out[TALLY_CONSOLE_SHA256_SIZE]);

/* 1 when s[0..len) has a token's shape ("tct_" and 43 base64url
 * characters), else 0: what a sign-in checks before it looks anything up,
 * so no garbage reaches the database. Constant in the bytes it reads. */
int tally_console_token_well_formed(const char *s, size_t len);

#endif
