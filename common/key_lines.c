#include "key_lines.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

bool tally_key_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > TALLY_KEY_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int tally_key_lines_parse(const char *text, size_t len, const char *name, const char *what, tally_key_lines_fn add,
                          void *ctx, size_t *added, char *errbuf, size_t errsize)
{
    char why[160];
    size_t lineno = 0, pos = 0;
    *added = 0;
    while (pos < len) {
        lineno++;
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (memchr(line, '\0', n) != NULL) {
            snprintf(errbuf, errsize, "%s %s:%zu: a NUL byte", what, name, lineno);
            return -1;
        }
        size_t i = 0;
        while (i < n && blank(line[i]))
            i++;
        if (i == n || line[i] == '#')
            continue;
        size_t id_at = i;
        while (i < n && !blank(line[i]))
            i++;
        size_t id_len = i - id_at;
        while (i < n && blank(line[i]))
            i++;
        size_t hex_at = i;
        while (i < n && !blank(line[i]))
            i++;
        size_t hex_len = i - hex_at;
        while (i < n && blank(line[i]))
            i++;
        if (hex_len == 0 || i != n) {
            snprintf(errbuf, errsize, "%s %s:%zu: expected \"<key id> <64 hex digits>\"", what, name, lineno);
            return -1;
        }
        if (!tally_key_id_valid(line + id_at, id_len)) {
            snprintf(errbuf, errsize, "%s %s:%zu: a key id is 1 to %d characters of A-Z a-z 0-9 . _ -", what, name,
                     lineno, TALLY_KEY_ID_MAX);
            return -1;
        }
        unsigned char key[32];
        size_t bin_len = 0;
        if (hex_len != 64 || sodium_hex2bin(key, sizeof key, line + hex_at, hex_len, NULL, &bin_len, NULL) != 0 ||
            bin_len != 32) {
            sodium_memzero(key, sizeof key);
            snprintf(errbuf, errsize, "%s %s:%zu: the key must be exactly 32 bytes in hex (64 digits 0-9 a-f)", what,
                     name, lineno);
            return -1;
        }
        char id[TALLY_KEY_ID_SIZE];
        memcpy(id, line + id_at, id_len);
        id[id_len] = '\0';
        int rc = add(ctx, id, key, why, sizeof why);
        sodium_memzero(key, sizeof key);
        if (rc != 0) {
            snprintf(errbuf, errsize, "%s %s:%zu: %s", what, name, lineno, why);
            return -1;
        }
        (*added)++;
    }
    return 0;
}
