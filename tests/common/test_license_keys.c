/* Unit tests of common/license_keys: the signing key file is read only
 * when owner-only (0600/0400; 0644 and 0640 refused), the LAST key line
 * signs, malformed files (bad hex, short or long seed, duplicate id, bad
 * id, extra text, no key) are refused with the file and line named and
 * never the seed; public keys derive from the seeds (RFC 8032 TEST 1),
 * public key files and directories load, and conflicts are refused. */
#include "license_keys.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEED1 "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define PUB1 "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define SEED2 "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
#define PUB2 "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"

static char path[128], dir[128];

static void write_file(const char *p, const char *text, mode_t mode)
{
    unlink(p);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0, "%s: %s", p, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

static void setup(void)
{
    snprintf(path, sizeof path, "/tmp/tally-test-license-keys-%d", (int)getpid());
    snprintf(dir, sizeof dir, "/tmp/tally-test-license-pub-%d", (int)getpid());
}

static void teardown(void)
{
    unlink(path);
    char p[256];
    static const char *const names[] = {"a.pub", "b.pub", "README", ".hidden.pub", "c.pub"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

TestSuite(license_keys, .init = setup, .fini = teardown);

Test(license_keys, key_file_must_be_owner_only)
{
    char err[256];
    static const mode_t refused[] = {0644, 0640, 0604, 0660};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        write_file(path, "k1 " SEED1 "\n", refused[i]);
        cr_assert_null(tally_license_keyring_load(path, err, sizeof err), "mode %04o accepted", (unsigned)refused[i]);
        cr_assert(strstr(err, "license key file") && strstr(err, path) && strstr(err, "chmod 600"), "%s", err);
    }
    static const mode_t accepted[] = {0600, 0400};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        write_file(path, "k1 " SEED1 "\n", accepted[i]);
        tally_license_keyring_t *ring = tally_license_keyring_load(path, err, sizeof err);
        cr_assert_not_null(ring, "mode %04o refused: %s", (unsigned)accepted[i], err);
        cr_assert_str_eq(tally_license_keyring_newest_id(ring), "k1");
        tally_license_keyring_free(ring);
    }
    cr_assert_null(tally_license_keyring_load("/nonexistent/keys", err, sizeof err));
}

/* The newest key is the last line, whatever the ids look like. */
Test(license_keys, the_last_line_signs_and_public_keys_derive_from_seeds)
{
    char err[256];
    write_file(path, "# keys, oldest first\n\nz-old " SEED1 "\n  \t\na-new\t" SEED2 "  \n", 0600);
    tally_license_keyring_t *ring = tally_license_keyring_load(path, err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    cr_assert_eq(tally_license_keyring_count(ring), 2);
    cr_assert_str_eq(tally_license_keyring_newest_id(ring), "a-new");
    tally_license_pubkeys_t *pub = tally_license_keyring_public(ring);
    tally_textbuf_t t = {0};
    tally_license_pubkeys_write(pub, &t);
    cr_assert_str_eq(t.data, "z-old " PUB1 "\na-new " PUB2 "\n", "RFC 8032 TEST 1 and TEST 2 public keys");
    unsigned char sig[TALLY_LICENSE_SIGNATURE_BYTES];
    tally_license_keyring_sign(ring, (const unsigned char *)"msg", 3, sig);
    cr_assert_eq(crypto_sign_verify_detached(sig, (const unsigned char *)"msg", 3,
                                             tally_license_pubkeys_find(pub, "a-new", 5)), 0);
    cr_assert_neq(crypto_sign_verify_detached(sig, (const unsigned char *)"msg", 3,
                                              tally_license_pubkeys_find(pub, "z-old", 5)), 0);
    tally_textbuf_free(&t);
    tally_license_pubkeys_free(pub);
    tally_license_keyring_free(ring);
}

Test(license_keys, malformed_key_files_are_refused_with_the_line)
{
    struct {
        const char *text, *why;
    } cases[] = {
        {"", "no key"},
        {"# only a comment\n\n", "no key"},
        {"k1 " SEED1 "\nk1 " SEED2 "\n", ":2: key id k1 appears twice"},
        {"k1 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f6g\n", ":1: the key must be exactly 32"},
        {"k1 9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f\n", ":1: the key must be exactly 32"},
        {"k1 " SEED1 "00\n", ":1: the key must be exactly 32"},
        {"k1 " SEED1 " extra\n", ":1: expected"},
        {"k1\n", ":1: expected"},
        {"k/1 " SEED1 "\n", ":1: a key id is"},
        {"k1 " SEED1 "\nkey id " SEED2 "\n", ":2: expected"},
        {"0123456789012345678901234567890123456789012345678901234567890123x " SEED1 "\n", ":1: a key id is"},
        {"k1 " SEED1 "\n\0k2\n", ":2: a NUL"},
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].text) + (strstr(cases[i].why, "NUL") ? 4 : 0);
        err[0] = '\0';
        tally_license_keyring_t *ring = tally_license_keyring_parse(cases[i].text, len, "keys.txt", err, sizeof err);
        cr_assert_null(ring, "case %zu accepted", i);
        cr_assert(strstr(err, "license key file keys.txt") != NULL, "case %zu: %s", i, err);
        cr_assert(strstr(err, cases[i].why) != NULL, "case %zu: %s", i, err);
        cr_assert(strstr(err, "9d61b19d") == NULL && strstr(err, "4ccd089b") == NULL, "a seed in: %s", err);
    }
    /* A 64-character id is the longest. */
    const char *longest = "0123456789012345678901234567890123456789012345678901234567890123 " SEED1;
    tally_license_keyring_t *ring = tally_license_keyring_parse(longest, strlen(longest), "k", err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    tally_license_keyring_free(ring);
}

Test(license_keys, key_ids)
{
    cr_assert(tally_license_key_id_valid("2026-12", 7));
    cr_assert(tally_license_key_id_valid("A.b_c-9", 7));
    cr_assert_not(tally_license_key_id_valid("", 0));
    cr_assert_not(tally_license_key_id_valid("a b", 3));
    cr_assert_not(tally_license_key_id_valid("a/b", 3));
    cr_assert_not(tally_license_key_id_valid("caf\xc3\xa9", 5));
}

Test(license_keys, public_key_files_and_directories)
{
    char err[256], p[256];
    cr_assert_eq(mkdir(dir, 0700), 0, "%s", strerror(errno));
    snprintf(p, sizeof p, "%s/a.pub", dir);
    write_file(p, "k1 " PUB1 "\n", 0644);
    snprintf(p, sizeof p, "%s/b.pub", dir);
    write_file(p, "# both, as GET /api/v1/licenses/keys serves them\nk1 " PUB1 "\nk2 " PUB2 "\n", 0644);
    snprintf(p, sizeof p, "%s/README", dir);
    write_file(p, "not a key\n", 0644);
    snprintf(p, sizeof p, "%s/.hidden.pub", dir);
    write_file(p, "garbage\n", 0644);
    tally_license_pubkeys_t *set = tally_license_pubkeys_new();
    cr_assert_eq(tally_license_pubkeys_load_dir(set, dir, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_license_pubkeys_count(set), 2, "k1 twice with the same key counts once");
    cr_assert_not_null(tally_license_pubkeys_find(set, "k2", 2));
    cr_assert_null(tally_license_pubkeys_find(set, "k3", 2));
    cr_assert_null(tally_license_pubkeys_find(set, "k", 1));
    tally_license_pubkeys_free(set);
    /* The same id with another key is refused. */
    snprintf(p, sizeof p, "%s/c.pub", dir);
    write_file(p, "k2 " PUB1 "\n", 0644);
    set = tally_license_pubkeys_new();
    cr_assert_eq(tally_license_pubkeys_load_dir(set, dir, err, sizeof err), -1);
    cr_assert(strstr(err, "c.pub:1: key id k2 appears with two different public keys") != NULL, "%s", err);
    tally_license_pubkeys_free(set);
    /* One file. */
    set = tally_license_pubkeys_new();
    snprintf(p, sizeof p, "%s/a.pub", dir);
    cr_assert_eq(tally_license_pubkeys_load_file(set, p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_license_pubkeys_count(set), 1);
    snprintf(p, sizeof p, "%s/README", dir);
    cr_assert_eq(tally_license_pubkeys_load_file(set, p, err, sizeof err), -1);
    cr_assert(strstr(err, "README:1: expected") != NULL, "%s", err);
    tally_license_pubkeys_free(set);
    /* A directory without keys. */
    snprintf(p, sizeof p, "%s/a.pub", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/b.pub", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/c.pub", dir);
    unlink(p);
    set = tally_license_pubkeys_new();
    cr_assert_eq(tally_license_pubkeys_load_dir(set, dir, err, sizeof err), -1);
    cr_assert(strstr(err, "no \"*.pub\" file") != NULL, "%s", err);
    cr_assert_eq(tally_license_pubkeys_load_dir(set, "/nonexistent/dir", err, sizeof err), -1);
    tally_license_pubkeys_free(set);
}

Test(license_keys, public_key_text_rules)
{
    char err[256];
    tally_license_pubkeys_t *set = tally_license_pubkeys_new();
    const char *empty = "\n# nothing\n";
    cr_assert_eq(tally_license_pubkeys_parse(set, empty, strlen(empty), "x.pub", err, sizeof err), -1);
    cr_assert(strstr(err, "no key") != NULL, "%s", err);
    const char *short_key = "k1 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f70751\n";
    cr_assert_eq(tally_license_pubkeys_parse(set, short_key, strlen(short_key), "x.pub", err, sizeof err), -1);
    unsigned char pk[32] = {0};
    cr_assert_eq(tally_license_pubkeys_add(set, "bad id", pk, err, sizeof err), -1);
    cr_assert_eq(tally_license_pubkeys_count(set), 0);
    const char *upper = "K1 D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A";
    cr_assert_eq(tally_license_pubkeys_parse(set, upper, strlen(upper), "x.pub", err, sizeof err), 0, "%s", err);
    tally_textbuf_t t = {0};
    tally_license_pubkeys_write(set, &t);
    cr_assert_str_eq(t.data, "K1 " PUB1 "\n", "written in lower case");
    tally_textbuf_free(&t);
    tally_license_pubkeys_free(set);
}
