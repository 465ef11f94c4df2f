#include "license_armor.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define B64 sodium_base64_VARIANT_ORIGINAL

static void put_b64(const void *bin, size_t len, tally_textbuf_t *out)
{
    size_t n = sodium_base64_encoded_len(len, B64);
    tally_textbuf_reserve(out, n);
    sodium_bin2base64(out->data + out->len, n, bin, len, B64);
    out->len += n - 1;
}

void tally_license_armor_write(const char *label, const void *payload, size_t len,
                               const unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES], tally_textbuf_t *out)
{
    tally_textbuf_printf(out, "-----BEGIN %s-----\n", label);
    put_b64(payload, len, out);
    tally_textbuf_putc(out, '\n');
    put_b64(sig, TALLY_LICENSE_SIGNATURE_BYTES, out);
    tally_textbuf_printf(out, "\n-----END %s-----\n", label);
}

void tally_license_armor_signed_bytes(const char *label, const void *payload, size_t len, tally_textbuf_t *out)
{
    tally_textbuf_puts(out, label);
    tally_textbuf_putc(out, '\n');
    tally_textbuf_append(out, payload, len);
}

/* Decodes the canonical base64 line s[0..n) into bin[0..cap). */
static int get_b64(const char *s, size_t n, unsigned char *bin, size_t cap, size_t *bin_len)
{
    if (n == 0 || n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                  c == '/' || (c == '=' && i >= n - 2);
        if (!ok)
            return -1;
    }
    const char *end = NULL;
    if (sodium_base642bin(bin, cap, s, n, NULL, bin_len, &end, B64) != 0 || end != s + n)
        return -1;
    /* Canonical: the bytes encode back to the very same text. */
    size_t elen = sodium_base64_encoded_len(*bin_len, B64);
    if (elen - 1 != n)
        return -1;
    char *again = tally_xcalloc(elen, 1);
    sodium_bin2base64(again, elen, bin, *bin_len, B64);
    int rc = memcmp(again, s, n) == 0 ? 0 : -1;
    free(again);
    return rc;
}

/* The next line of text[*pos..len), without its LF; -1 when there is no LF. */
static int next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    const char *nl = memchr(text + *pos, '\n', len - *pos);
    if (nl == NULL)
        return -1;
    *line = text + *pos;
    *n = (size_t)(nl - *line);
    *pos += *n + 1;
    return 0;
}

int tally_license_armor_read(const char *label, const char *text, size_t len, unsigned char *payload, size_t cap,
                             size_t *payload_len, unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES], char *errbuf,
                             size_t errsize)
{
    char begin[96], end[96];
    snprintf(begin, sizeof begin, "-----BEGIN %s-----", label);
    snprintf(end, sizeof end, "-----END %s-----", label);
    const char *cr = memchr(text, '\r', len);
    if (cr != NULL) {
        snprintf(errbuf, errsize, "a carriage return at byte %zu: the file must have LF line ends only",
                 (size_t)(cr - text));
        return -1;
    }
    size_t pos = 0, n = 0;
    const char *line = NULL;
    if (next_line(text, len, &pos, &line, &n) != 0 || n != strlen(begin) || memcmp(line, begin, n) != 0) {
        snprintf(errbuf, errsize, "the first line is not \"%s\"", begin);
        return -1;
    }
    if (next_line(text, len, &pos, &line, &n) != 0 || get_b64(line, n, payload, cap, payload_len) != 0) {
        snprintf(errbuf, errsize, "line 2 is not the payload in canonical base64 on one line (at most %zu bytes)",
                 cap);
        return -1;
    }
    size_t sig_len = 0;
    unsigned char sigbuf[TALLY_LICENSE_SIGNATURE_BYTES + 3];
    if (next_line(text, len, &pos, &line, &n) != 0 || get_b64(line, n, sigbuf, sizeof sigbuf, &sig_len) != 0 ||
        sig_len != TALLY_LICENSE_SIGNATURE_BYTES) {
        snprintf(errbuf, errsize, "line 3 is not a %d-byte signature in canonical base64",
                 TALLY_LICENSE_SIGNATURE_BYTES);
        return -1;
    }
    memcpy(sig, sigbuf, TALLY_LICENSE_SIGNATURE_BYTES);
    if (next_line(text, len, &pos, &line, &n) != 0 || n != strlen(end) || memcmp(line, end, n) != 0) {
        snprintf(errbuf, errsize, "line 4 is not \"%s\" followed by a line end", end);
        return -1;
    }
    if (pos != len) {
        snprintf(errbuf, errsize, "%zu bytes after the \"%s\" line", len - pos, end);
        return -1;
    }
    return 0;
}
