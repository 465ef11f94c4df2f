/* The fixture of the keys suites (keys_fixture.h). */
#include "keys_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char dir[64], path[128], errbuf[1024];
char tenant[TALLY_KEYS_ID_SIZE], env[TALLY_KEYS_ID_SIZE];

void keys_setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/tally-test-keys-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/api_keys", dir);
}

void keys_teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

const char *hex_of(const char *key)
{
    static char hex[4][TALLY_KEYS_HEX_SIZE];
    static int next;
    char *out = hex[next++ % 4];
    tally_keys_hash_hex(key, strlen(key), out);
    return out;
}

void write_file(const char *file, const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rename(tmp, file), 0);
}

void write_keys(const char *file, const char *key_a, const char *ids_a, const char *key_b,
                       const char *ids_b)
{
    char text[1024];
    snprintf(text, sizeof text, "# active keys\n%s %s\n%s%s%s\n", hex_of(key_a), ids_a,
             key_b ? hex_of(key_b) : "", key_b ? " " : "", key_b ? ids_b : "");
    write_file(file, text);
}

int lookup(tally_keys_t *keys, const char *header)
{
    tenant[0] = env[0] = '\0';
    return tally_keys_lookup(keys, header, tenant, sizeof tenant, env, sizeof env);
}

tally_keys_t *loaded(const char *text)
{
    write_file(path, text);
    tally_keys_t *keys = tally_keys_new_file(path);
    cr_assert_eq(tally_keys_refresh(keys, errbuf, sizeof errbuf), 0, "%s", errbuf);
    return keys;
}

int identify(tally_keys_t *keys, const char *header, tally_keys_identity_t *id)
{
    return tally_keys_identify_n(keys, header, strlen(header), id);
}

void expect_kind(tally_keys_t *keys, const char *key, tally_keys_kind_t kind)
{
    char header[128];
    tally_keys_identity_t id;
    snprintf(header, sizeof header, "Bearer %s", key);
    cr_assert_eq(identify(keys, header, &id), TALLY_KEYS_OK, "%s", key);
    cr_assert_eq(id.kind, kind, "%s: kind %d, want %d", key, (int)id.kind, (int)kind);
}
