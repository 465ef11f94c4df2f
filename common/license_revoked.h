/*
 * license_revoked.h: the signed list of revoked license ids (what
 * GET /api/v1/licenses/revoked will serve and `tally license verify
 * --revoked LIST` reads). Pure, like common/license.h.
 *
 * The text is the envelope of common/license_armor.h under the label
 * "TALLY REVOKED LICENSES"; the signature is over
 * "TALLY REVOKED LICENSES\n" || payload. The payload is canonical JSON
 * (common/canonical_json.h) of exactly:
 *
 *   {"format":1,"issued_at":"YYYY-MM-DDTHH:MM:SSZ","key_id":"<id>",
 *    "revoked":["<license id>",...]}
 *
 * revoked: lower-case UUIDs sorted by bytes, each once (the signer sorts
 * and drops repeats), at most TALLY_LICENSE_REVOKED_MAX; may be empty.
 * issued_at says how fresh the list is: a verifier should warn when it is
 * older than TALLY_LICENSE_REVOKED_MAX_AGE_S (7 days), since a license
 * revoked after it was made is not in it. The list is verified with the
 * same public keys as licenses (common/license_keys.h).
 */
#ifndef TALLY_COMMON_LICENSE_REVOKED_H
#define TALLY_COMMON_LICENSE_REVOKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "license_keys.h"
#include "textbuf.h"

#define TALLY_LICENSE_REVOKED_LABEL "TALLY REVOKED LICENSES"
#define TALLY_LICENSE_REVOKED_MAX 100000
#define TALLY_LICENSE_REVOKED_PAYLOAD_MAX (4 * 1024 * 1024)
#define TALLY_LICENSE_REVOKED_FILE_MAX (6 * 1024 * 1024)
#define TALLY_LICENSE_REVOKED_MAX_AGE_S (7 * 86400)

typedef struct tally_license_revoked_t tally_license_revoked_t;

/* Appends the signed list of ids[0..n) (borrowed; any order, repeats
 * dropped) issued at issued_at (seconds) to out, signed with the ring's
 * newest key. Returns 0, or -1 with errbuf set (out unchanged): an id that
 * is not a lower-case UUID, too many ids, or a time outside 1970-9999. */
int tally_license_revoked_sign(const char *const *ids, size_t n, int64_t issued_at,
                               const tally_license_keyring_t *ring, tally_textbuf_t *out, char *errbuf,
                               size_t errsize) __attribute__((warn_unused_result));

/* Parses text[0..len) (borrowed) strictly and verifies its signature with
 * keys. Returns an owned list (tally_license_revoked_free), or NULL with
 * errbuf saying why: malformed, unknown key, or a bad signature. */
tally_license_revoked_t *tally_license_revoked_read(const char *text, size_t len,
                                                    const tally_license_pubkeys_t *keys, char *errbuf,
                                                    size_t errsize) __attribute__((warn_unused_result));

void tally_license_revoked_free(tally_license_revoked_t *list);

/* When the list was issued (seconds), and the key that signed it (borrowed). */
int64_t tally_license_revoked_issued_at(const tally_license_revoked_t *list);
const char *tally_license_revoked_key_id(const tally_license_revoked_t *list);
size_t tally_license_revoked_count(const tally_license_revoked_t *list);

/* Whether license_id (borrowed) is in the list (binary search). */
bool tally_license_revoked_contains(const tally_license_revoked_t *list, const char *license_id);

#endif /* TALLY_COMMON_LICENSE_REVOKED_H */
