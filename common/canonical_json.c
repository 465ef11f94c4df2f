#include "canonical_json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define MAX_DEPTH 32

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one
 * (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int tally_canonical_json_string(const char *str, size_t len, tally_textbuf_t *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t mark = out->len;
    tally_textbuf_putc(out, '"');
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            goto err;
        if (c >= 0x80) {
            size_t n = utf8_seq(s + i, len - i);
            if (n == 0)
                goto err;
            tally_textbuf_append(out, s + i, n);
            i += n;
            continue;
        }
        i++;
        switch (c) {
        case '"': tally_textbuf_append(out, "\\\"", 2); continue;
        case '\\': tally_textbuf_append(out, "\\\\", 2); continue;
        case '\b': tally_textbuf_append(out, "\\b", 2); continue;
        case '\t': tally_textbuf_append(out, "\\t", 2); continue;
        case '\n': tally_textbuf_append(out, "\\n", 2); continue;
        case '\f': tally_textbuf_append(out, "\\f", 2); continue;
        case '\r': tally_textbuf_append(out, "\\r", 2); continue;
        default: break;
        }
        if (c < 0x20) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            tally_textbuf_append(out, e, sizeof e);
        } else {
            tally_textbuf_putc(out, (char)c);
        }
    }
    tally_textbuf_putc(out, '"');
    return 0;
err:
    tally_textbuf_truncate(out, mark);
    return -1;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int write_value(const json_t *v, int depth, tally_textbuf_t *out, char *errbuf, size_t errsize)
{
    if (depth > MAX_DEPTH) {
        snprintf(errbuf, errsize, "nested deeper than %d levels", MAX_DEPTH);
        return -1;
    }
    switch (json_typeof(v)) {
    case JSON_NULL: tally_textbuf_puts(out, "null"); return 0;
    case JSON_TRUE: tally_textbuf_puts(out, "true"); return 0;
    case JSON_FALSE: tally_textbuf_puts(out, "false"); return 0;
    case JSON_REAL:
        snprintf(errbuf, errsize, "a number that is not an integer");
        return -1;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        if (n > TALLY_CANONICAL_INT_MAX || n < -TALLY_CANONICAL_INT_MAX) {
            snprintf(errbuf, errsize, "an integer beyond 2^53-1");
            return -1;
        }
        tally_textbuf_put_i64(out, (int64_t)n);
        return 0;
    }
    case JSON_STRING:
        if (tally_canonical_json_string(json_string_value(v), json_string_length(v), out) != 0) {
            snprintf(errbuf, errsize, "a string that is not valid UTF-8 or holds U+0000");
            return -1;
        }
        return 0;
    case JSON_ARRAY: {
        tally_textbuf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                tally_textbuf_putc(out, ',');
            if (write_value(json_array_get(v, i), depth + 1, out, errbuf, errsize) != 0)
                return -1;
        }
        tally_textbuf_putc(out, ']');
        return 0;
    }
    case JSON_OBJECT: {
        size_t n = json_object_size(v);
        const char **keys = tally_xcalloc(n ? n : 1, sizeof *keys);
        size_t k = 0;
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)v, key, member) {
            (void)member;
            size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
            if (klen == 0 || klen != strlen(key)) {
                snprintf(errbuf, errsize, "an empty key or a key holding U+0000");
                free(keys);
                return -1;
            }
            for (const unsigned char *p = (const unsigned char *)key; *p; p++)
                if (*p >= 0x80) {
                    snprintf(errbuf, errsize, "a key that is not ASCII");
                    free(keys);
                    return -1;
                }
            keys[k++] = key;
        }
        qsort(keys, k, sizeof *keys, cmp_keys);
        tally_textbuf_putc(out, '{');
        for (size_t i = 0; i < k; i++) {
            if (i > 0)
                tally_textbuf_putc(out, ',');
            if (tally_canonical_json_string(keys[i], strlen(keys[i]), out) != 0)
                abort(); /* ASCII without NUL: cannot fail */
            tally_textbuf_putc(out, ':');
            if (write_value(json_object_get(v, keys[i]), depth + 1, out, errbuf, errsize) != 0) {
                free(keys);
                return -1;
            }
        }
        tally_textbuf_putc(out, '}');
        free(keys);
        return 0;
    }
    }
    snprintf(errbuf, errsize, "an unknown JSON type");
    return -1;
}

int tally_canonical_json(const json_t *v, tally_textbuf_t *out, char *errbuf, size_t errsize)
{
    size_t mark = out->len;
    if (write_value(v, 0, out, errbuf, errsize) != 0) {
        tally_textbuf_truncate(out, mark);
        return -1;
    }
    return 0;
}

json_t *tally_canonical_json_parse(const char *text, size_t len, char *errbuf, size_t errsize)
{
    json_error_t jerr;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL) {
        snprintf(errbuf, errsize, "not JSON: %s at byte %d", jerr.text, jerr.position);
        return NULL;
    }
    tally_textbuf_t again = {0};
    char why[128];
    if (tally_canonical_json(v, &again, why, sizeof why) != 0) {
        snprintf(errbuf, errsize, "not canonical JSON: %s", why);
        goto err;
    }
    if (again.len != len || memcmp(again.data, text, len) != 0) {
        size_t at = 0;
        while (at < len && at < again.len && again.data[at] == text[at])
            at++;
        snprintf(errbuf, errsize, "not canonical JSON: differs from its canonical form at byte %zu", at);
        goto err;
    }
    tally_textbuf_free(&again);
    return v;
err:
    tally_textbuf_free(&again);
    json_decref(v);
    return NULL;
}
