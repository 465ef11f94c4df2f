/*
 * key_lines.h: the text format of Tally's key files, shared by the
 * license signing keys (license_keys.h) and the webhook sealing keys
 * (webhook_seal.h): one key a line, "<key id> <32 bytes in hex>" (64
 * digits, either case), separated by spaces or tabs; blank lines and
 * lines starting with '#' are skipped; anything else is an error naming
 * the file and the line, never the key.
 *
 * Key ids: 1 to TALLY_KEY_ID_MAX characters of [A-Za-z0-9._-].
 */
#ifndef TALLY_COMMON_KEY_LINES_H
#define TALLY_COMMON_KEY_LINES_H

#include <stdbool.h>
#include <stddef.h>

#define TALLY_KEY_ID_MAX 64
#define TALLY_KEY_ID_SIZE (TALLY_KEY_ID_MAX + 1)

/* Whether s[0..len) (borrowed) is a key id. */
bool tally_key_id_valid(const char *s, size_t len);

/* Called once per key line, in file order, with the id and the 32 key
 * bytes (both borrowed; the key is wiped after the call). Returns 0, or
 * -1 with why set (the caller prefixes the file and line). */
typedef int (*tally_key_lines_fn)(void *ctx, const char *id, const unsigned char key[32], char *why,
                                  size_t whysize);

/* Parses text[0..len) (borrowed); name (the path) and what ("license key
 * file") are used in messages. *added counts the key lines passed to add.
 * Returns 0 or -1 with errbuf set. */
int tally_key_lines_parse(const char *text, size_t len, const char *name, const char *what, tally_key_lines_fn add,
                          void *ctx, size_t *added, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

#endif /* TALLY_COMMON_KEY_LINES_H */
