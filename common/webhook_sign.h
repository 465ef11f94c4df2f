/*
 * webhook_sign.h: Standard Webhooks signatures (https://www.standardwebhooks.com,
 * the "symmetric" scheme), for the sender (tally-webhooks) and a receiver
 * (`tally webhook-listen`).
 *
 * A webhook carries three headers:
 *   webhook-id:        the message id (here the alert_id); the same on
 *                      every retry, so a receiver dedupes by it;
 *   webhook-timestamp: unix seconds when this attempt was signed;
 *   webhook-signature: space-separated "<version>,<base64>" entries; each
 *                      "v1" entry is base64(HMAC-SHA256(key, id "." ts "." body)).
 * A receiver accepts when ANY v1 entry matches (several entries let a
 * sender rotate keys); entries of other versions are skipped; a list with
 * no match, or a malformed one, is refused.
 *
 * Secret: "whsec_" followed by the key in standard base64 (with padding);
 * the key is the decoded bytes, TALLY_WEBHOOK_KEY_MIN..MAX of them (the
 * specification recommends 24 to 64). Without the prefix the text is
 * refused, so a raw password cannot be mistaken for a key.
 *
 * Timestamp tolerance: a receiver refuses a timestamp more than
 * tolerance seconds away from its clock, either way (replays of an old
 * capture, and clocks set wrong). The timestamp is checked before the
 * signature is computed, but both are always reported separately.
 *
 * Comparisons of signatures are constant-time (sodium_memcmp). Keys are
 * wiped when a secret is cleared (tally_webhook_secret_clear).
 */
#ifndef TALLY_COMMON_WEBHOOK_SIGN_H
#define TALLY_COMMON_WEBHOOK_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_WEBHOOK_KEY_MIN 24
#define TALLY_WEBHOOK_KEY_MAX 64
/* "v1," + base64 of 32 bytes (44) + NUL. */
#define TALLY_WEBHOOK_SIGNATURE_SIZE 48
/* A webhook-id: 1..TALLY_WEBHOOK_ID_MAX bytes of printable ASCII but
 * '.', space and ',' (they would make the signed text or the header
 * ambiguous). */
#define TALLY_WEBHOOK_ID_MAX 255
/* "whsec_" + base64 of TALLY_WEBHOOK_KEY_MAX bytes + NUL. */
#define TALLY_WEBHOOK_SECRET_TEXT_SIZE (6 + 4 * ((TALLY_WEBHOOK_KEY_MAX + 2) / 3) + 1)

typedef struct tally_webhook_secret_t {
    size_t len;
    unsigned char key[TALLY_WEBHOOK_KEY_MAX];
} tally_webhook_secret_t;

typedef enum tally_webhook_verdict_t {
    TALLY_WEBHOOK_VALID = 0,
    TALLY_WEBHOOK_MISSING = -1,       /* a header is absent or empty */
    TALLY_WEBHOOK_MALFORMED = -2,     /* id or timestamp not as above */
    TALLY_WEBHOOK_STALE = -3,         /* timestamp outside the tolerance */
    TALLY_WEBHOOK_BAD_SIGNATURE = -4, /* no v1 entry matches */
} tally_webhook_verdict_t;

/* Parses text[0..len) (borrowed) "whsec_<base64>" into *out. Returns 0,
 * or -1 with errbuf set (never containing the secret). Trailing '\n' or
 * "\r\n" (a secret file's last line) is ignored. */
int tally_webhook_secret_parse(const char *text, size_t len, tally_webhook_secret_t *out, char *errbuf,
                               size_t errsize) __attribute__((warn_unused_result));

/* Reads a secret file (owner-only, common/secret_file.h) holding one
 * "whsec_..." line. Returns 0 or -1 with errbuf naming the file. */
int tally_webhook_secret_load(const char *path, tally_webhook_secret_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* A new random secret of TALLY_WEBHOOK_KEY_MIN + 8 (32) bytes, into *out and,
 * when text is not NULL, its "whsec_" form into text. */
void tally_webhook_secret_generate(tally_webhook_secret_t *out, char text[TALLY_WEBHOOK_SECRET_TEXT_SIZE]);

/* Wipes the key. */
void tally_webhook_secret_clear(tally_webhook_secret_t *s);

/* Whether id (borrowed, NUL-terminated) may be a webhook-id (see above). */
int tally_webhook_id_valid(const char *id);

/* Writes "v1,<base64 signature>" of (id, timestamp, body[0..len)) into
 * out. id must be valid (tally_webhook_id_valid). */
void tally_webhook_sign(const tally_webhook_secret_t *s, const char *id, int64_t timestamp, const void *body,
                        size_t len, char out[TALLY_WEBHOOK_SIGNATURE_SIZE]);

/* Verifies a received webhook: the three header values (borrowed,
 * NUL-terminated, NULL when absent), the body, the receiver's clock now
 * and tolerance (seconds). Returns TALLY_WEBHOOK_VALID or why not. */
tally_webhook_verdict_t tally_webhook_verify(const tally_webhook_secret_t *s, const char *id, const char *timestamp,
                                             const char *signature, const void *body, size_t len, int64_t now,
                                             int64_t tolerance);

/* A short English phrase for v ("bad signature", ...), static. */
const char *tally_webhook_verdict_text(tally_webhook_verdict_t v);

#endif /* TALLY_COMMON_WEBHOOK_SIGN_H */
