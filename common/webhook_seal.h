/*
 * webhook_seal.h: the webhook secrets at rest. A tenant's webhook secret
 * never reaches a topic or a table in the clear: the gateway seals it
 * with crypto_box_seal to the delivery worker's X25519 public key
 * (WebhookEndpointSet.secret_sealed, with the key_id that sealed it), and
 * only tally-webhooks, which holds the private keys, opens it.
 *
 * The key file (--webhook-keys, secret): "<key id> <hex 32-byte seed>"
 * lines in the format of common/key_lines.h; the keypair of a seed is
 * crypto_box_seed_keypair's; the LAST line is the current key (the one the
 * gateway seals with); older lines stay to open what they sealed. Rotation:
 * append a line, restart tally-webhooks, publish the new public key to the
 * gateway. A file with no key, a key id twice, a bad seed, more than
 * TALLY_WEBHOOK_KEYS_MAX keys, or a mode that lets group or others read it
 * (common/secret_file.h) is refused.
 *
 * The public key file (for the gateway, not secret): "<key id> <hex public
 * key>" lines, what tally_webhook_keyring_write_public writes; the last
 * line is the one to seal with.
 *
 * What is sealed: the secret's text, "whsec_<base64>" (webhook_sign.h),
 * TALLY_WEBHOOK_SEALED_TEXT_MIN..MAX bytes; so a sealed value is
 * crypto_box_SEALBYTES more, which is what the gateway checks.
 *
 * Memory: private keys and opened secrets are wiped (sodium_memzero).
 */
#ifndef TALLY_COMMON_WEBHOOK_SEAL_H
#define TALLY_COMMON_WEBHOOK_SEAL_H

#include <stddef.h>

#include "key_lines.h"
#include "textbuf.h"
#include "webhook_sign.h"

#define TALLY_WEBHOOK_KEYS_MAX 64
#define TALLY_WEBHOOK_PUBLIC_KEY_BYTES 32
#define TALLY_WEBHOOK_SEALED_TEXT_MIN 32
#define TALLY_WEBHOOK_SEALED_TEXT_MAX 64
/* crypto_box_SEALBYTES, as a constant for buffers. */
#define TALLY_WEBHOOK_SEAL_OVERHEAD 48
#define TALLY_WEBHOOK_SEALED_MAX (TALLY_WEBHOOK_SEALED_TEXT_MAX + TALLY_WEBHOOK_SEAL_OVERHEAD)

typedef struct tally_webhook_keyring_t tally_webhook_keyring_t;

/* Loads the key file at path (owner-only). Returns an owned ring
 * (tally_webhook_keyring_free), or NULL with errbuf naming the file and
 * line (never a seed). */
tally_webhook_keyring_t *tally_webhook_keyring_load(const char *path, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* The same from text[0..len) (borrowed), without the mode check; name in
 * messages. */
tally_webhook_keyring_t *tally_webhook_keyring_parse(const char *text, size_t len, const char *name, char *errbuf,
                                                     size_t errsize) __attribute__((warn_unused_result));

/* Wipes and frees; NULL is a no-op. */
void tally_webhook_keyring_free(tally_webhook_keyring_t *ring);

/* The current key's id (the last line), borrowed from the ring. */
const char *tally_webhook_keyring_current_id(const tally_webhook_keyring_t *ring);

/* The public key of key_id (borrowed, NUL-terminated), borrowed from the
 * ring, or NULL. */
const unsigned char *tally_webhook_keyring_public(const tally_webhook_keyring_t *ring, const char *key_id);

/* Appends "<key id> <hex public key>\n" for every key, in file order. */
void tally_webhook_keyring_write_public(const tally_webhook_keyring_t *ring, tally_textbuf_t *out);

/* Reads a public key file's text[0..len) (borrowed): the last key line's
 * id and key into key_id and pk. Returns 0, or -1 with errbuf set. */
int tally_webhook_public_key_parse(const char *text, size_t len, const char *name, char key_id[TALLY_KEY_ID_SIZE],
                                   unsigned char pk[TALLY_WEBHOOK_PUBLIC_KEY_BYTES], char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Seals text[0..len) (borrowed), a "whsec_" secret of
 * TALLY_WEBHOOK_SEALED_TEXT_MIN..MAX bytes that parses
 * (tally_webhook_secret_parse), to pk: writes len +
 * TALLY_WEBHOOK_SEAL_OVERHEAD bytes into out (TALLY_WEBHOOK_SEALED_MAX
 * bytes) and their count into *out_len. Returns 0, or -1 with errbuf
 * set (a secret of the wrong form). Randomised: sealing twice differs. */
int tally_webhook_seal(const unsigned char pk[TALLY_WEBHOOK_PUBLIC_KEY_BYTES], const char *text, size_t len,
                       unsigned char out[TALLY_WEBHOOK_SEALED_MAX], size_t *out_len, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Opens sealed[0..len) (borrowed) with the ring's key key_id and parses
 * the secret into *out. Returns 0, or -1 with errbuf: unknown key id (a
 * retired key), wrong size, not openable (another key, tampered), or not a
 * webhook secret. */
int tally_webhook_seal_open(const tally_webhook_keyring_t *ring, const char *key_id, const unsigned char *sealed,
                            size_t len, tally_webhook_secret_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

#endif /* TALLY_COMMON_WEBHOOK_SEAL_H */
