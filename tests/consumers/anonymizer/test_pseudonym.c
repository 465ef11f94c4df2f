/* Pseudonyms: keyed BLAKE2b references with the key version inside, stable
 * for one key, different for another key, another kind of identifier or
 * another identifier; the key file's errors never echo a key. */
#include "pseudonym.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static char path[128];

static char link_path[160];

/* The key file, created with mode 0600 (never looser, not even briefly). */
static void write_keys_mode(const char *text, mode_t mode)
{
    snprintf(path, sizeof path, "/tmp/tally-test-keys-%d", (int)getpid());
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

static void write_keys(const char *text)
{
    write_keys_mode(text, 0600);
}

static tally_pseudonym_t *load(const char *text)
{
    char err[256];
    write_keys(text);
    tally_pseudonym_t *ps = tally_pseudonym_load(path, err, sizeof err);
    cr_assert_not_null(ps, "%s", err);
    return ps;
}

static void load_fails(const char *text, const char *why)
{
    char err[256] = "";
    write_keys(text);
    cr_assert_null(tally_pseudonym_load(path, err, sizeof err), "loaded: %s", text);
    cr_assert(strstr(err, why) != NULL, "error \"%s\" does not say \"%s\"", err, why);
    cr_assert(strstr(err, "0001020304") == NULL && strstr(err, "ffeeddcc") == NULL, "error echoes a key: %s", err);
}

static void teardown(void)
{
    unlink(path);
    if (link_path[0])
        unlink(link_path);
}

TestSuite(pseudonym, .fini = teardown);

Test(pseudonym, reference_is_versioned_hex_of_keyed_blake2b)
{
    tally_pseudonym_t *ps = load("1 " KEY1 "\n");
    char ref[TALLY_PSEUDONYM_REF_SIZE];
    size_t n = tally_pseudonym_ref(ps, TALLY_PSEUDONYM_INSTALL, "install-123", 11, ref);
    cr_assert_eq(n, strlen(ref));
    cr_assert_eq(n, 3 + 2 * TALLY_PSEUDONYM_HASH_BYTES);
    cr_assert_eq(strncmp(ref, "v1:", 3), 0, "%s", ref);

    /* The same computation by hand: BLAKE2b-128, keyed, personalised. */
    unsigned char key[32], h[16];
    char hex[33];
    cr_assert_eq(sodium_hex2bin(key, sizeof key, KEY1, 64, NULL, NULL, NULL), 0);
    crypto_generichash_blake2b_salt_personal(h, sizeof h, (const unsigned char *)"install-123", 11, key, sizeof key,
                                             NULL, (const unsigned char *)"tally/install-id");
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    cr_assert_str_eq(ref + 3, hex);
    tally_pseudonym_free(ps);
}

Test(pseudonym, stable_for_one_key_and_distinct_otherwise)
{
    tally_pseudonym_t *a = load("1 " KEY1 "\n");
    tally_pseudonym_t *b = load("1 " KEY2 "\n");
    char r1[TALLY_PSEUDONYM_REF_SIZE], r2[TALLY_PSEUDONYM_REF_SIZE];
    tally_pseudonym_ref(a, TALLY_PSEUDONYM_USER, "user-1", 6, r1);
    tally_pseudonym_ref(a, TALLY_PSEUDONYM_USER, "user-1", 6, r2);
    cr_assert_str_eq(r1, r2, "same key, same id: same reference");
    tally_pseudonym_ref(b, TALLY_PSEUDONYM_USER, "user-1", 6, r2);
    cr_assert_str_neq(r1, r2, "another key must give another reference");
    tally_pseudonym_ref(a, TALLY_PSEUDONYM_USER, "user-2", 6, r2);
    cr_assert_str_neq(r1, r2);
    tally_pseudonym_ref(a, TALLY_PSEUDONYM_INSTALL, "user-1", 6, r2);
    cr_assert_str_neq(r1, r2, "an install id equal to a user id must not share its reference");
    tally_pseudonym_ref(a, TALLY_PSEUDONYM_PROJECT, "user-1", 6, r2);
    cr_assert_str_neq(r1, r2);
    cr_assert(strstr(r1, "user-1") == NULL);
    tally_pseudonym_free(a);
    tally_pseudonym_free(b);
}

Test(pseudonym, rotation_uses_the_newest_version_and_keeps_older_ones)
{
    tally_pseudonym_t *ps = load("# keys\n\n2 " KEY2 "   # rotated 2024-05\n1 " KEY1 "\nseat 1\n");
    tally_pseudonym_t *old = load("1 " KEY1 "\n");
    char now[TALLY_PSEUDONYM_REF_SIZE], v1[TALLY_PSEUDONYM_REF_SIZE], before[TALLY_PSEUDONYM_REF_SIZE];
    size_t n;
    cr_assert_eq(tally_pseudonym_version(ps), 2);
    tally_pseudonym_ref(ps, TALLY_PSEUDONYM_PROJECT, "proj", 4, now);
    cr_assert_eq(strncmp(now, "v2:", 3), 0, "%s", now);
    cr_assert_eq(tally_pseudonym_ref_version(ps, 1, TALLY_PSEUDONYM_PROJECT, "proj", 4, v1, &n), 0);
    tally_pseudonym_ref(old, TALLY_PSEUDONYM_PROJECT, "proj", 4, before);
    cr_assert_str_eq(v1, before, "version 1 still computes what it computed before the rotation");
    cr_assert_eq(tally_pseudonym_ref_version(ps, 3, TALLY_PSEUDONYM_PROJECT, "proj", 4, v1, &n), -1);
    tally_pseudonym_free(ps);
    tally_pseudonym_free(old);
}

Test(pseudonym, long_keys_and_empty_ids_work)
{
    tally_pseudonym_t *ps = load("7 " KEY1 KEY2 "\n");
    char ref[TALLY_PSEUDONYM_REF_SIZE];
    tally_pseudonym_ref(ps, TALLY_PSEUDONYM_INSTALL, "", 0, ref);
    cr_assert_eq(strncmp(ref, "v7:", 3), 0);
    tally_pseudonym_free(ps);
}

Test(pseudonym, bad_key_files_are_refused_without_echoing_keys)
{
    char err[256];
    cr_assert_null(tally_pseudonym_load("/nonexistent/keys", err, sizeof err));
    cr_assert(strstr(err, "/nonexistent/keys") != NULL);
    load_fails("", "no key");
    load_fails("# only a comment\n", "no key");
    load_fails("1 0001020304\n", "32 to 64 bytes");
    load_fails("1 " KEY1 "zz\n", "32 to 64 bytes");
    load_fails("0 " KEY1 "\n", "version");
    load_fails("x " KEY1 "\n", "version");
    load_fails("1 " KEY1 " extra\n", "unexpected text");
    load_fails("1 " KEY1 "\n1 " KEY2 "\n", "appears twice");
    load_fails("1 " KEY1 "\n2 " KEY2 "x\n", ":2:");
}

/* Seat identity (pseudonym.h): a seat's reference is its identity in the
 * aggregator for the life of the seat, so a rotation must not change it.
 * Install and project references move to the new key; seat references stay
 * on the seat key. */
Test(pseudonym, seat_refs_keep_their_key_across_a_rotation)
{
    tally_pseudonym_t *before = load("1 " KEY1 "\n");
    tally_pseudonym_t *after = load("seat 1\n1 " KEY1 "\n2 " KEY2 "\n");
    char seat1[TALLY_PSEUDONYM_REF_SIZE], seat2[TALLY_PSEUDONYM_REF_SIZE];
    char inst1[TALLY_PSEUDONYM_REF_SIZE], inst2[TALLY_PSEUDONYM_REF_SIZE];
    cr_assert_eq(tally_pseudonym_seat_version(before), 1);
    cr_assert_eq(tally_pseudonym_seat_version(after), 1);
    cr_assert_eq(tally_pseudonym_version(after), 2);
    tally_pseudonym_ref(before, TALLY_PSEUDONYM_USER, "user-1", 6, seat1);
    tally_pseudonym_ref(after, TALLY_PSEUDONYM_USER, "user-1", 6, seat2);
    cr_assert_str_eq(seat2, seat1, "a rotation changed a seat reference");
    tally_pseudonym_ref(before, TALLY_PSEUDONYM_INSTALL, "inst-1", 6, inst1);
    tally_pseudonym_ref(after, TALLY_PSEUDONYM_INSTALL, "inst-1", 6, inst2);
    cr_assert_eq(strncmp(inst2, "v2:", 3), 0, "install references rotate: %s", inst2);
    cr_assert_str_neq(inst1, inst2);
    tally_pseudonym_free(before);
    tally_pseudonym_free(after);
}

/* The seat key is named once there are several keys, and can never vanish
 * from the file silently: seat references would change under every live
 * seat. */
Test(pseudonym, the_seat_key_is_named_and_must_stay_in_the_file)
{
    load_fails("1 " KEY1 "\n2 " KEY2 "\n", "no \"seat <version>\" line");
    load_fails("seat 1\n2 " KEY2 "\n", "the seat key, version 1, is not in the file");
    load_fails("seat 3\n1 " KEY1 "\n2 " KEY2 "\n", ":1: the seat key, version 3");
    load_fails("seat 1\nseat 2\n1 " KEY1 "\n2 " KEY2 "\n", "a second \"seat\" line");
    load_fails("seat x\n1 " KEY1 "\n", "expected \"seat <version");
    load_fails("seat\n1 " KEY1 "\n", "expected \"seat <version");
    load_fails("seat 1 2\n1 " KEY1 "\n", "expected \"seat <version");

    /* A chosen seat key other than the oldest: seat references use it. */
    tally_pseudonym_t *ps = load("1 " KEY1 "\n2 " KEY2 "\n3 " KEY1 KEY2 "\nseat 2  # since the 2025 contracts\n");
    tally_pseudonym_t *two = load("2 " KEY2 "\n");
    char a[TALLY_PSEUDONYM_REF_SIZE], b[TALLY_PSEUDONYM_REF_SIZE];
    cr_assert_eq(tally_pseudonym_seat_version(ps), 2);
    cr_assert_eq(tally_pseudonym_version(ps), 3);
    tally_pseudonym_ref(ps, TALLY_PSEUDONYM_USER, "u", 1, a);
    tally_pseudonym_ref(two, TALLY_PSEUDONYM_USER, "u", 1, b);
    cr_assert_str_eq(a, b);
    tally_pseudonym_ref(ps, TALLY_PSEUDONYM_PROJECT, "u", 1, a);
    cr_assert_eq(strncmp(a, "v3:", 3), 0, "%s", a);
    tally_pseudonym_free(ps);
    tally_pseudonym_free(two);
}

/* Like ssh with a private key: a key file that group or others may read
 * (or write) is refused, judged on the opened file. */
Test(pseudonym, key_file_open_to_group_or_others_is_refused)
{
    char err[256];
    static const mode_t refused[] = {0640, 0604, 0660, 0644, 0620, 0602, 0610};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        write_keys_mode("1 " KEY1 "\n", refused[i]);
        err[0] = '\0';
        tally_pseudonym_t *ps = tally_pseudonym_load(path, err, sizeof err);
        cr_assert_null(ps, "mode %04o accepted", (unsigned)refused[i]);
        cr_assert(strstr(err, path) != NULL && strstr(err, "chmod 600") != NULL, "%04o: %s", (unsigned)refused[i],
                  err);
    }
    cr_assert_null(tally_pseudonym_load("/tmp", err, sizeof err), "a directory was accepted");
    cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
    static const mode_t accepted[] = {0600, 0400};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        write_keys_mode("1 " KEY1 "\n", accepted[i]);
        tally_pseudonym_t *ps = tally_pseudonym_load(path, err, sizeof err);
        cr_assert_not_null(ps, "mode %04o refused: %s", (unsigned)accepted[i], err);
        tally_pseudonym_free(ps);
    }
}

/* A symbolic link is followed (systemd credentials and Kubernetes secrets
 * are links); what counts is the mode of the file it opens. */
Test(pseudonym, a_symlink_is_judged_by_the_file_it_opens)
{
    char err[256];
    snprintf(link_path, sizeof link_path, "/tmp/tally-test-keys-link-%d", (int)getpid());
    write_keys_mode("1 " KEY1 "\n", 0600);
    unlink(link_path);
    cr_assert_eq(symlink(path, link_path), 0);
    tally_pseudonym_t *ps = tally_pseudonym_load(link_path, err, sizeof err);
    cr_assert_not_null(ps, "%s", err);
    tally_pseudonym_free(ps);
    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_null(tally_pseudonym_load(link_path, err, sizeof err), "a link to a 0644 key file was accepted");
    cr_assert(strstr(err, "chmod 600") != NULL, "%s", err);
}
