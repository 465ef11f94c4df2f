/*
 * fuzz_license_parse.c: what `tally license verify` reads from a stranger,
 * on any bytes: a license file (common/license.c, license_armor.c), a
 * payload alone (what the gateway checks in a LicenseIssued event) and a
 * revocation list (common/license_revoked.c).
 *
 * Input: one selector byte, then the text. Selector % 3: 0 a license file,
 * 1 a payload, 2 a revocation list.
 *
 * Properties:
 *   - nothing is read past the text (a heap copy of its exact size, no NUL
 *     after it), nothing crashes or leaks;
 *   - a refusal always says why (errbuf not empty);
 *   - a parsed file's payload is canonical: tally_license_payload of the
 *     parsed license gives back exactly its bytes, and tally_license_payload_parse
 *     of those bytes accepts them; the envelope written again from the
 *     payload and signature is byte-identical to the input (one spelling
 *     per file: no second text verifies as the same license);
 *   - tally_license_check of a parsed file with the test vector's public
 *     key (tests/data/licenses/vector.pub) answers VALID only when the
 *     signature verifies (tally_license_verify_signature agrees), and its
 *     window answer is the one tally_license_check_window gives;
 *   - an accepted payload alone re-encodes to itself;
 *   - a revocation list read with the vector key names at most 100000 ids.
 */
#include "fuzz_util.h"

#include "license.h"
#include "license_armor.h"
#include "license_revoked.h"
#include "textbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tally_license_pubkeys_t *keys;
static tally_license_file_t file;   /* large: kept out of the stack */
static tally_license_t payload_lic;

static void load_keys(void)
{
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/tests/data/licenses/vector.pub", fuzz_source_dir());
    keys = tally_license_pubkeys_new();
    if (tally_license_pubkeys_load_file(keys, path, err, sizeof err) != 0)
        fuzz_fail("cannot load %s: %s", path, err);
}

static void check_file(const char *text, size_t len)
{
    char err[512] = "";
    if (tally_license_parse(text, len, &file, err, sizeof err) != 0) {
        if (err[0] == '\0')
            fuzz_fail("tally_license_parse refused without a reason");
        return;
    }
    /* The payload is canonical: written again from its fields, the same bytes. */
    tally_textbuf_t again = {0};
    if (tally_license_payload(&file.license, &again, err, sizeof err) != 0)
        fuzz_fail("a parsed payload does not write again: %s", err);
    if (again.len != file.payload_len || memcmp(again.data, file.payload, again.len) != 0)
        fuzz_fail("a parsed payload writes again as other bytes (%zu, %zu)", again.len, file.payload_len);
    if (tally_license_payload_parse(file.payload, file.payload_len, &payload_lic, err, sizeof err) != 0)
        fuzz_fail("the payload of a parsed file is refused alone: %s", err);
    /* One spelling per file: the envelope written again is the input. */
    tally_textbuf_reset(&again);
    tally_license_armor_write(TALLY_LICENSE_LABEL, file.payload, file.payload_len, file.signature, &again);
    if (again.len != len || memcmp(again.data, text, len) != 0)
        fuzz_fail("an accepted file is not the one spelling of its payload and signature");
    tally_textbuf_free(&again);

    tally_license_status_t sig = tally_license_verify_signature(&file, keys, err, sizeof err);
    if (sig != TALLY_LICENSE_VALID && sig != TALLY_LICENSE_UNKNOWN_KEY && sig != TALLY_LICENSE_BAD_SIGNATURE)
        fuzz_fail("verify_signature answered %d", (int)sig);
    int64_t now = file.license.valid_from + 1;
    tally_license_status_t all = tally_license_check(text, len, keys, NULL, now, NULL, err, sizeof err);
    tally_license_status_t want =
        sig != TALLY_LICENSE_VALID ? sig : tally_license_check_window(&file.license, now, TALLY_LICENSE_SKEW_S);
    if (all != want)
        fuzz_fail("tally_license_check answered %s, its parts %s", tally_license_status_name(all),
                  tally_license_status_name(want));
}

static void check_payload(const char *text, size_t len)
{
    char err[512] = "";
    if (tally_license_payload_parse(text, len, &payload_lic, err, sizeof err) != 0) {
        if (err[0] == '\0')
            fuzz_fail("tally_license_payload_parse refused without a reason");
        return;
    }
    tally_textbuf_t again = {0};
    if (tally_license_payload(&payload_lic, &again, err, sizeof err) != 0)
        fuzz_fail("an accepted payload does not write again: %s", err);
    if (again.len != len || memcmp(again.data, text, len) != 0)
        fuzz_fail("an accepted payload writes again as other bytes");
    tally_textbuf_free(&again);
}

static void check_revoked(const char *text, size_t len)
{
    char err[512] = "";
    tally_license_revoked_t *list = tally_license_revoked_read(text, len, keys, err, sizeof err);
    if (list == NULL) {
        if (err[0] == '\0')
            fuzz_fail("tally_license_revoked_read refused without a reason");
        return;
    }
    if (tally_license_revoked_count(list) > 100000)
        fuzz_fail("a revocation list of %zu ids", tally_license_revoked_count(list));
    tally_license_revoked_free(list);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (keys == NULL)
        load_keys();
    if (size < 1)
        return 0;
    /* An exact-size heap copy: ASan catches a read past the end. */
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (text == NULL)
        fuzz_fail("out of memory");
    memcpy(text, data + 1, len);
    switch (data[0] % 3) {
    case 0:
        check_file(text, len);
        break;
    case 1:
        check_payload(text, len);
        break;
    default:
        check_revoked(text, len);
        break;
    }
    free(text);
    return 0;
}
