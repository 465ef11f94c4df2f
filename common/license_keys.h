/*
 * license_keys.h: the Ed25519 keys that sign and verify license files and
 * the revocation list (common/license.h, docs/licenses.md).
 *
 * Key ids: 1 to 64 characters of [A-Za-z0-9._-] (e.g. "2026-12"). A key id
 * is written into every license it signs; it is how a verifier finds the
 * public key, so an id is never reused for another key.
 *
 * The signing key file (secret): one key a line, "<key id> <seed>", the
 * seed the 32-byte Ed25519 seed in hex (64 digits, either case), the two
 * separated by spaces or tabs; blank lines and lines starting with '#'
 * are skipped; anything else is an error naming the file and the line
 * (common/key_lines.h, the format shared with the webhook keys).
 * Generate a seed with `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'`.
 * The NEWEST key is the LAST key line of the file: it signs everything
 * issued; the lines above it are older keys, kept so that their public keys
 * are still published (tally_license_keyring_public). Rotation: append a
 * line with a new id and restart the issuer. A file with no key, with a
 * key id twice, a seed not exactly 64 hex digits, or more than
 * TALLY_LICENSE_KEYS_MAX keys is refused. The file must be a regular file
 * that only its owner may access (common/secret_file.h: mode 0600 or
 * 0400), or it is refused.
 *
 * Public key files (for verifiers; not secret): one or more lines
 * "<key id> <public key>", the public key 32 bytes in hex, same syntax as
 * above (what tally_license_pubkeys_write produces, and what
 * GET /api/v1/licenses/keys will serve). A directory of public keys is
 * every regular file in it whose name ends in ".pub" and does not start
 * with '.'; other files are ignored. The same id with the same key twice
 * (e.g. one file per key and the whole list) counts once; the same id
 * with two different keys is refused.
 *
 * Memory: secret keys are wiped (sodium_memzero) when freed; the key file
 * is read into one buffer that is wiped too.
 */
#ifndef TALLY_COMMON_LICENSE_KEYS_H
#define TALLY_COMMON_LICENSE_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "textbuf.h"

#define TALLY_LICENSE_KEY_ID_MAX 64
#define TALLY_LICENSE_KEY_ID_SIZE (TALLY_LICENSE_KEY_ID_MAX + 1)
#define TALLY_LICENSE_PUBLIC_KEY_BYTES 32
#define TALLY_LICENSE_SIGNATURE_BYTES 64
/* Keys in one key file, or in one public key set. */
#define TALLY_LICENSE_KEYS_MAX 256
/* Bytes of a key file or public key file. */
#define TALLY_LICENSE_KEY_FILE_MAX 65536

typedef struct tally_license_keyring_t tally_license_keyring_t;
typedef struct tally_license_pubkeys_t tally_license_pubkeys_t;

/* Whether s[0..len) (borrowed) is a key id: [A-Za-z0-9._-]{1,64}. */
bool tally_license_key_id_valid(const char *s, size_t len);

/* Loads the signing key file at path (owner-only, see above). Returns an
 * owned keyring (tally_license_keyring_free), or NULL with errbuf naming
 * the file, the line and the problem (never a seed). */
tally_license_keyring_t *tally_license_keyring_load(const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The same from text[0..len) (borrowed), without the file mode check;
 * name is used in messages in place of the path. */
tally_license_keyring_t *tally_license_keyring_parse(const char *text, size_t len, const char *name, char *errbuf,
                                                     size_t errsize) __attribute__((warn_unused_result));

/* Wipes the secret keys and frees; NULL is a no-op. */
void tally_license_keyring_free(tally_license_keyring_t *ring);

size_t tally_license_keyring_count(const tally_license_keyring_t *ring);

/* The id of the newest key (the file's last key line), the one that signs;
 * borrowed from the ring. */
const char *tally_license_keyring_newest_id(const tally_license_keyring_t *ring);

/* Signs msg[0..len) with the newest key: a detached Ed25519 signature
 * (crypto_sign_detached), deterministic for the same key and message. */
void tally_license_keyring_sign(const tally_license_keyring_t *ring, const unsigned char *msg, size_t len,
                                unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES]);

/* Signs msg[0..len) with the key called key_id (borrowed, NUL-terminated),
 * the newest or an older one: re-signing a stored license payload with the
 * key it names gives the very file first handed out (Ed25519 is
 * deterministic). Returns 0, or -1 (sig untouched) when the ring has no
 * such key (it was retired). */
int tally_license_keyring_sign_with(const tally_license_keyring_t *ring, const char *key_id, const unsigned char *msg,
                                    size_t len, unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES])
    __attribute__((warn_unused_result));

/* A new owned set holding the public key of every key of the ring, in the
 * file's order (what the issuer publishes). */
tally_license_pubkeys_t *tally_license_keyring_public(const tally_license_keyring_t *ring);

/* An empty owned set of public keys; free with tally_license_pubkeys_free
 * (NULL is a no-op). */
tally_license_pubkeys_t *tally_license_pubkeys_new(void);
void tally_license_pubkeys_free(tally_license_pubkeys_t *set);

/* Adds key id (borrowed, NUL-terminated) with public key pk (copied).
 * Returns 0 (also when the same id with the same key is there already), or
 * -1 with errbuf set: a bad id, the id with another key, or a full set. */
int tally_license_pubkeys_add(tally_license_pubkeys_t *set, const char *id,
                              const unsigned char pk[TALLY_LICENSE_PUBLIC_KEY_BYTES], char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Adds every line of public key text[0..len) (borrowed; name for
 * messages). Returns 0, or -1 with errbuf naming the line; a text with no
 * key line is refused. On failure the set may hold the lines before. */
int tally_license_pubkeys_parse(tally_license_pubkeys_t *set, const char *text, size_t len, const char *name,
                                char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Adds the keys of the public key file at path. Returns 0 or -1. */
int tally_license_pubkeys_load_file(tally_license_pubkeys_t *set, const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Adds the keys of every "*.pub" file of directory dir (in name order).
 * Returns 0, or -1 when the directory cannot be read, a file is refused,
 * or no key was found. */
int tally_license_pubkeys_load_dir(tally_license_pubkeys_t *set, const char *dir, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

size_t tally_license_pubkeys_count(const tally_license_pubkeys_t *set);

/* The public key of id[0..len) (borrowed from the set), or NULL. */
const unsigned char *tally_license_pubkeys_find(const tally_license_pubkeys_t *set, const char *id, size_t len);

/* Appends "<key id> <lower-case hex public key>\n" for every key, in the
 * order added: a public key file. */
void tally_license_pubkeys_write(const tally_license_pubkeys_t *set, tally_textbuf_t *out);

#endif /* TALLY_COMMON_LICENSE_KEYS_H */
