/*
 * license.h: signed license files, pure (no clock, no network, no
 * database: the time is an argument, the keys and the revocation list are
 * values), so the issuer (tally-console) and the verifier (`tally license
 * verify`) share the very same code. docs/licenses.md is the reference
 * for other implementations; it has a worked example, the test vector of
 * tests/data/licenses/.
 *
 * The file is the envelope of common/license_armor.h under the label
 * "TALLY LICENSE": the base64 of the payload on one line, the base64 of
 * the detached Ed25519 signature of "TALLY LICENSE\n" || payload on the
 * next. At most TALLY_LICENSE_FILE_MAX bytes.
 *
 * The payload is canonical JSON (common/canonical_json.h: RFC 8785 with
 * integers only; keys sorted, no whitespace, one escaping) of one object
 * with exactly these members, at most TALLY_LICENSE_PAYLOAD_MAX bytes:
 *
 *   format          1 (this layout; another number is refused as unsupported)
 *   license_id      UUID, lower-case 8-4-4-4-12 hex
 *   tenant_id       id text (below)
 *   tenant_name     1-256 bytes of UTF-8, no U+0000 (other control
 *                   characters are allowed and escaped)
 *   kind            "environment" or "personal-dev"
 *   environment_id  id text; present exactly when kind is "environment"
 *   member_id       id text; present exactly when kind is "personal-dev"
 *   features        array of id texts, sorted by bytes, no duplicates, at
 *                   most 64 (a set: the signer sorts it)
 *   limits          {"monthly_api_calls": int, "seats": int}, each 0..2^53-1
 *   issued_at, valid_from, valid_until
 *                   "YYYY-MM-DDTHH:MM:SSZ": UTC, second precision, exactly
 *                   20 characters (years 1970-9999); valid_from <
 *                   valid_until and issued_at < valid_until
 *   key_id          the signing key's id (common/license_keys.h)
 *
 * Id text: 1-128 bytes of UTF-8 without control characters (U+0000-U+001F,
 * U+007F). Anything else (a missing or unknown member, a member of the
 * wrong kind, null, a real number, non-canonical bytes) is malformed.
 *
 * Validity. A license is valid at instant t (seconds) when
 *     valid_from - skew <= t < valid_until + skew
 * with skew TALLY_LICENSE_SKEW_S (300 s) by default: the clocks of the
 * issuer and of the verifier may differ by that much. Outside: NOT_YET_VALID
 * before, EXPIRED after.
 *
 * Verification order (tally_license_check): the envelope and payload must
 * parse (MALFORMED), the key id must be among the verifier's public keys
 * (UNKNOWN_KEY), the signature must verify (BAD_SIGNATURE), the license id
 * must not be in the revocation list when one is given (REVOKED), then the
 * validity window (NOT_YET_VALID, EXPIRED). The first failure is the answer.
 * Exit codes of `tally license verify` (tally_license_exit_code): 0 valid;
 * 1 malformed, unknown key or bad signature; 6 expired or not yet valid;
 * 7 revoked.
 */
#ifndef TALLY_COMMON_LICENSE_H
#define TALLY_COMMON_LICENSE_H

#include <stddef.h>
#include <stdint.h>

#include "license_keys.h"
#include "textbuf.h"

#define TALLY_LICENSE_FORMAT 1
#define TALLY_LICENSE_LABEL "TALLY LICENSE"
#define TALLY_LICENSE_SKEW_S 300
#define TALLY_LICENSE_FILE_MAX 16384
#define TALLY_LICENSE_PAYLOAD_MAX 8192
#define TALLY_LICENSE_UUID_SIZE 37
#define TALLY_LICENSE_ID_MAX 128
#define TALLY_LICENSE_NAME_MAX 256
#define TALLY_LICENSE_FEATURES_MAX 64
/* "2026-12-07T02:53:19Z" and its NUL. */
#define TALLY_LICENSE_TIME_SIZE 21

typedef enum tally_license_kind_t {
    TALLY_LICENSE_ENVIRONMENT = 1,  /* "environment": subject_id is an environment id */
    TALLY_LICENSE_PERSONAL_DEV = 2, /* "personal-dev": subject_id is a member id */
} tally_license_kind_t;

/* A license's payload. Times are seconds since 1970-01-01T00:00:00Z. */
typedef struct tally_license_t {
    int format;
    char license_id[TALLY_LICENSE_UUID_SIZE];
    char tenant_id[TALLY_LICENSE_ID_MAX + 1];
    char tenant_name[TALLY_LICENSE_NAME_MAX + 1];
    tally_license_kind_t kind;
    char subject_id[TALLY_LICENSE_ID_MAX + 1]; /* environment_id or member_id, by kind */
    size_t feature_count;
    char features[TALLY_LICENSE_FEATURES_MAX][TALLY_LICENSE_ID_MAX + 1];
    int64_t seats;
    int64_t monthly_api_calls;
    int64_t issued_at;
    int64_t valid_from;
    int64_t valid_until;
    char key_id[TALLY_LICENSE_KEY_ID_SIZE];
} tally_license_t;

/* A parsed file: the payload decoded, its exact bytes, the signature. */
typedef struct tally_license_file_t {
    tally_license_t license;
    size_t payload_len;
    unsigned char payload[TALLY_LICENSE_PAYLOAD_MAX];
    unsigned char signature[TALLY_LICENSE_SIGNATURE_BYTES];
} tally_license_file_t;

typedef enum tally_license_status_t {
    TALLY_LICENSE_VALID = 0,
    TALLY_LICENSE_MALFORMED,
    TALLY_LICENSE_UNKNOWN_KEY,
    TALLY_LICENSE_BAD_SIGNATURE,
    TALLY_LICENSE_REVOKED,
    TALLY_LICENSE_NOT_YET_VALID,
    TALLY_LICENSE_EXPIRED,
} tally_license_status_t;

struct tally_license_revoked_t;

/* The exit code of `tally license verify` for status: 0, 1, 6 or 7. */
int tally_license_exit_code(tally_license_status_t status);

/* A static word for status ("valid", "malformed", "unknown key", "bad
 * signature", "revoked", "not yet valid", "expired"). */
const char *tally_license_status_name(tally_license_status_t status);

/* "environment" / "personal-dev" (static), or NULL for another value. */
const char *tally_license_kind_name(tally_license_kind_t kind);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" of seconds t; -1 (buf "") outside
 * 1970-9999. */
int tally_license_time_format(int64_t t, char buf[TALLY_LICENSE_TIME_SIZE]) __attribute__((warn_unused_result));

/* Parses exactly that shape (20 bytes of s, borrowed). Returns 0 or -1. */
int tally_license_time_parse(const char *s, size_t len, int64_t *t) __attribute__((warn_unused_result));

/* Appends the canonical payload of lic (borrowed) to out, after checking
 * every rule above (features must already be sorted). Returns 0, or -1
 * with errbuf naming the field (out unchanged). */
int tally_license_payload(const tally_license_t *lic, tally_textbuf_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Signs lic with the ring's newest key: sets lic->format to
 * TALLY_LICENSE_FORMAT and lic->key_id to that key's id, sorts
 * lic->features, then appends the license file to out. When sha256_hex is
 * not NULL it receives the lower-case hex SHA-256 of the payload bytes
 * (LicenseIssued.payload_sha256). Returns 0, or -1 with errbuf set (out
 * unchanged): a field breaks a rule, or a feature appears twice. */
int tally_license_sign(tally_license_t *lic, const tally_license_keyring_t *ring, tally_textbuf_t *out,
                       char sha256_hex[65], char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Parses the file text[0..len) (borrowed) into *out, strictly (the format
 * above; the signature is NOT checked). Returns 0, or -1 with errbuf
 * saying what is wrong. */
int tally_license_parse(const char *text, size_t len, tally_license_file_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Parses a payload alone, payload[0..len) (borrowed), into *out, as
 * strictly as tally_license_parse does (canonical bytes, every rule above):
 * what the gateway checks in a LicenseIssued event. Returns 0, or -1 with
 * errbuf saying what is wrong. */
int tally_license_payload_parse(const void *payload, size_t len, tally_license_t *out, char *errbuf, size_t errsize)
    __attribute__((warn_unused_result));

/* Checks the signature of a parsed file with the public key of its key id:
 * VALID, UNKNOWN_KEY or BAD_SIGNATURE (errbuf says which key). */
tally_license_status_t tally_license_verify_signature(const tally_license_file_t *file,
                                                      const tally_license_pubkeys_t *keys, char *errbuf,
                                                      size_t errsize);

/* VALID, NOT_YET_VALID or EXPIRED at now (seconds) with skew seconds of
 * allowance on each side (see above). */
tally_license_status_t tally_license_check_window(const tally_license_t *lic, int64_t now, int64_t skew);

/* Everything, in the order above: parses text[0..len), verifies it with
 * keys, looks its id up in revoked (NULL: not checked) and checks the
 * window at now with TALLY_LICENSE_SKEW_S. The parsed file goes to *out
 * (may be NULL) whenever it parsed. errbuf says why when not VALID. */
tally_license_status_t tally_license_check(const char *text, size_t len, const tally_license_pubkeys_t *keys,
                                           const struct tally_license_revoked_t *revoked, int64_t now,
                                           tally_license_file_t *out, char *errbuf, size_t errsize);

/* A personal-dev license lasts at most this long (issue 14). */
#define TALLY_LICENSE_PERSONAL_DEV_MAX_S (30 * 86400)

/* The window of a personal-dev license issued at now (seconds) under the
 * tenant's license terms running from contract_from_day to
 * contract_until_day (days since 1970-01-01, both INCLUSIVE, as
 * tally.license_terms.valid_from/valid_until): *valid_from = now and
 * *valid_until = the earlier of now + TALLY_LICENSE_PERSONAL_DEV_MAX_S and
 * the end of the contract (00:00:00Z of the day after contract_until_day),
 * so the license never outlives the contract. Returns 0, or -1 (outputs
 * untouched) when now is outside the contract. (Whether the tenant may get
 * one at all, e.g. not while "over", is the issuer's rule.) */
int tally_license_personal_dev_window(int64_t now, int64_t contract_from_day, int64_t contract_until_day,
                                      int64_t *valid_from, int64_t *valid_until) __attribute__((warn_unused_result));

/* tally_license_resign's answers besides 0. */
#define TALLY_LICENSE_RESIGN_MALFORMED (-1)
#define TALLY_LICENSE_RESIGN_NO_KEY (-2)

/* The license file of a stored payload, payload[0..len) (borrowed: e.g.
 * tally.licenses.payload, the bytes a LicenseIssued event carried), signed
 * again with the key its key_id names, the newest or an older one of ring.
 * Ed25519 is deterministic, so the file is byte for byte the one
 * tally_license_sign gave at issue. Appends it to out and, when lic is not
 * NULL, the parsed payload to *lic. Returns 0;
 * TALLY_LICENSE_RESIGN_MALFORMED when the payload is not a canonical
 * license payload (tally_license_payload_parse); TALLY_LICENSE_RESIGN_NO_KEY
 * when the ring no longer holds its key (retired). errbuf says why; out is
 * unchanged on failure. */
int tally_license_resign(const void *payload, size_t len, const tally_license_keyring_t *ring, tally_license_t *lic,
                         tally_textbuf_t *out, char *errbuf, size_t errsize) __attribute__((warn_unused_result));

/* Lower-case hex SHA-256 of the file's payload bytes. */
void tally_license_payload_sha256(const tally_license_file_t *file, char hex[65]);

#endif /* TALLY_COMMON_LICENSE_H */
