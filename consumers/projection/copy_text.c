#include "copy_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

void tally_textbuf_copy_field(tally_textbuf_t *b, const char *s, size_t n)
{
    /* What follows the backslash of each byte COPY escapes; 0: as is. */
    static const char escape[256] = {['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r'};
    /* Worst case every byte doubles. */
    tally_textbuf_reserve(b, 2 * n);
    char *out = b->data + b->len;
    size_t i = 0;
    while (i < n) {
        /* The run up to the next byte to escape goes in one copy. */
        size_t run = i;
        while (run < n && !escape[(unsigned char)s[run]])
            run++;
        if (run > i) {
            memcpy(out, s + i, run - i);
            out += run - i;
        }
        if (run == n)
            break;
        *out++ = '\\';
        *out++ = escape[(unsigned char)s[run]];
        i = run + 1;
    }
    b->len = (size_t)(out - b->data);
    b->data[b->len] = '\0';
}

void tally_textbuf_copy_json_string(tally_textbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case: a control byte becomes \\u00XX (7 bytes). */
    tally_textbuf_reserve(b, 7 * n + 2);
    char *out = b->data + b->len;
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            *out++ = '\\'; *out++ = '\\'; *out++ = '"';            /* JSON \" , COPY-escaped */
        } else if (c == '\\') {
            *out++ = '\\'; *out++ = '\\'; *out++ = '\\'; *out++ = '\\';   /* JSON \\ */
        } else if (c < 0x20) {
            *out++ = '\\'; *out++ = '\\'; *out++ = 'u'; *out++ = '0'; *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        } else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    b->data[b->len] = '\0';
}

void tally_textbuf_array_element(tally_textbuf_t *b, const char *s, size_t n)
{
    tally_textbuf_reserve(b, 2 * n + 2);
    char *out = b->data + b->len;
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            *out++ = '\\';
        *out++ = s[i];
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
    b->data[b->len] = '\0';
}

bool tally_text_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        /* Eight bytes at a time while they are plain ASCII, none NUL. */
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, sizeof w);
            if ((w & UINT64_C(0x8080808080808080)) == 0 &&
                ((w - UINT64_C(0x0101010101010101)) & ~w & UINT64_C(0x8080808080808080)) == 0) {
                p += 8;
                continue;
            }
        }
        unsigned char c = *p;
        if (c >= 0x01 && c < 0x80) {
            p++;
            continue;
        }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;   /* NUL, stray continuation byte, overlong lead, > U+10FFFF lead */
        }
        if ((size_t)(end - p) <= need)
            return false;
        for (size_t i = 1; i <= need; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += need + 1;
    }
    return true;
}

static bool is_hex(char c, bool lower_only)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (!lower_only && c >= 'A' && c <= 'F');
}

bool tally_text_is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i], false)) {
            return false;
        }
    }
    return true;
}

bool tally_text_is_sha256_hex(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!is_hex(s[i], true))
            return false;
    return true;
}
