/*
 * license_armor.h: the text envelope of a signed document (a license file,
 * the revocation list: common/license.h, common/license_revoked.h), and
 * the exact bytes signed. Pure: no I/O.
 *
 * The text is exactly, with LF line ends and nothing before or after:
 *
 *     -----BEGIN <LABEL>-----\n
 *     <base64 of the payload>\n
 *     <base64 of the 64-byte Ed25519 signature>\n
 *     -----END <LABEL>-----\n
 *
 * base64 is RFC 4648 section 4 (alphabet A-Z a-z 0-9 + /, '=' padding),
 * each on ONE line, not wrapped, and canonical: the unused bits of the
 * last digit are zero (re-encoding the decoded bytes gives the same text).
 * The signature line is thus always 88 characters. A CR anywhere (a file
 * converted to CRLF), a missing final LF, a blank line, spaces, or any
 * byte after the END line is refused: one document has one text.
 *
 * The bytes signed are the label, a LF, and the payload:
 *     "<LABEL>\n" || payload
 * The label separates the kinds of document, so a signature made for one
 * kind never verifies as another.
 */
#ifndef TALLY_COMMON_LICENSE_ARMOR_H
#define TALLY_COMMON_LICENSE_ARMOR_H

#include <stddef.h>

#include "license_keys.h"
#include "textbuf.h"

/* Appends the envelope of payload[0..len) and sig (both borrowed) under
 * label (e.g. "TALLY LICENSE") to out. */
void tally_license_armor_write(const char *label, const void *payload, size_t len,
                               const unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES], tally_textbuf_t *out);

/* Reads the envelope text[0..len) (borrowed) under label: the payload into
 * payload[0..cap) (its length in *payload_len) and the signature into sig.
 * Returns 0, or -1 with errbuf saying what is wrong (and where) when the
 * text is not exactly as above or the payload is longer than cap. */
int tally_license_armor_read(const char *label, const char *text, size_t len, unsigned char *payload, size_t cap,
                             size_t *payload_len, unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES], char *errbuf,
                             size_t errsize) __attribute__((warn_unused_result));

/* Appends the bytes signed, "<label>\n" || payload[0..len), to out. */
void tally_license_armor_signed_bytes(const char *label, const void *payload, size_t len, tally_textbuf_t *out);

#endif /* TALLY_COMMON_LICENSE_ARMOR_H */
