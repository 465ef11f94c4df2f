/* Unit tests of common/webhook_seal: the webhook key ring (owner-only file,
 * last line current, older keys still open what they sealed, malformed
 * files refused with file and line and never the seed) and sealed webhook
 * secrets (round trip through the published public key, wrong key,
 * tampering, sizes, the plain secret absent from the sealed bytes). */
#define _GNU_SOURCE
#include "webhook_seal.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEED1 "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define SEED2 "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define KEYS "# webhook keys\nold " SEED1 "\n\nnew\t" SEED2 "\n"

static char path[128];

static void setup(void)
{
    snprintf(path, sizeof path, "/tmp/tally-test-webhook-keys-%d", (int)getpid());
}

static void teardown(void)
{
    unlink(path);
}

TestSuite(webhook_seal, .init = setup, .fini = teardown);

static void write_file(const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

static tally_webhook_keyring_t *ring_of(const char *text)
{
    char err[256];
    tally_webhook_keyring_t *ring = tally_webhook_keyring_parse(text, strlen(text), "keys", err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    return ring;
}

Test(webhook_seal, key_file_must_be_owner_only_and_last_line_is_current)
{
    char err[256];
    write_file(KEYS, 0644);
    cr_assert_null(tally_webhook_keyring_load(path, err, sizeof err));
    cr_assert_not_null(strstr(err, "chmod 600"), "%s", err);
    write_file(KEYS, 0600);
    tally_webhook_keyring_t *ring = tally_webhook_keyring_load(path, err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    cr_assert_str_eq(tally_webhook_keyring_current_id(ring), "new");
    cr_assert_not_null(tally_webhook_keyring_public(ring, "old"));
    cr_assert_null(tally_webhook_keyring_public(ring, "gone"));
    tally_webhook_keyring_free(ring);
    tally_webhook_keyring_free(NULL);
}

Test(webhook_seal, malformed_key_files_are_refused_without_the_seed)
{
    static const char *const bad[] = {
        "",                                /* no key */
        "# only a comment\n",              /* no key */
        "k1 " SEED1 "\nk1 " SEED2 "\n",    /* id twice */
        "k1 " SEED1 "00\n",                /* long seed */
        "k1 9d61b19deffd5a60\n",           /* short seed */
        "k/1 " SEED1 "\n",                 /* bad id */
        "k1 " SEED1 " extra\n",            /* extra text */
        "k1 zz61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[256] = "";
        cr_assert_null(tally_webhook_keyring_parse(bad[i], strlen(bad[i]), "f.keys", err, sizeof err), "%zu", i);
        cr_assert_not_null(strstr(err, "webhook key file f.keys"), "%s", err);
        cr_assert_null(strstr(err, "9d61b1"), "the message shows the seed: %s", err);
    }
    char err[256];
    cr_assert_null(tally_webhook_keyring_parse("k1 " SEED1 "\nk1 " SEED2 "\n", 140, "f.keys", err, sizeof err));
    cr_assert_not_null(strstr(err, ":2:"), "the line is named: %s", err);
}

Test(webhook_seal, a_secret_sealed_to_the_published_key_opens_with_the_ring)
{
    tally_webhook_keyring_t *ring = ring_of(KEYS);
    tally_textbuf_t pub = {0};
    tally_webhook_keyring_write_public(ring, &pub);
    char id[TALLY_KEY_ID_SIZE], err[256];
    unsigned char pk[TALLY_WEBHOOK_PUBLIC_KEY_BYTES];
    cr_assert_eq(tally_webhook_public_key_parse(pub.data, pub.len, "pub", id, pk, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(id, "new");
    cr_assert_null(strstr(pub.data, SEED2));

    unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
    size_t n = 0;
    cr_assert_eq(tally_webhook_seal(pk, SECRET, strlen(SECRET), sealed, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, strlen(SECRET) + 48);
    cr_assert_null(memmem(sealed, n, "MfKQ9r8G", 8), "the plain secret shows in the sealed bytes");
    unsigned char again[TALLY_WEBHOOK_SEALED_MAX];
    size_t n2 = 0;
    cr_assert_eq(tally_webhook_seal(pk, SECRET, strlen(SECRET), again, &n2, err, sizeof err), 0);
    cr_assert_neq(memcmp(sealed, again, n), 0, "sealing is randomised");

    tally_webhook_secret_t s;
    cr_assert_eq(tally_webhook_seal_open(ring, "new", sealed, n, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.len, 24);
    tally_webhook_secret_t want;
    cr_assert_eq(tally_webhook_secret_parse(SECRET, strlen(SECRET), &want, err, sizeof err), 0);
    cr_assert_eq(memcmp(s.key, want.key, 24), 0);

    /* Under the other key id, or a retired one: refused. */
    cr_assert_neq(tally_webhook_seal_open(ring, "old", sealed, n, &s, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "does not open"), "%s", err);
    cr_assert_neq(tally_webhook_seal_open(ring, "retired", sealed, n, &s, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "retired"), "%s", err);
    /* Tampered: refused. */
    sealed[n - 1] ^= 1;
    cr_assert_neq(tally_webhook_seal_open(ring, "new", sealed, n, &s, err, sizeof err), 0);
    /* Sizes. */
    cr_assert_neq(tally_webhook_seal_open(ring, "new", sealed, 48 + 31, &s, err, sizeof err), 0);
    cr_assert_neq(tally_webhook_seal_open(ring, "new", sealed, 48 + 65, &s, err, sizeof err), 0);
    tally_textbuf_free(&pub);
    tally_webhook_keyring_free(ring);
}

Test(webhook_seal, an_older_key_still_opens_what_it_sealed)
{
    tally_webhook_keyring_t *ring = ring_of(KEYS);
    unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
    size_t n = 0;
    char err[256];
    cr_assert_eq(tally_webhook_seal(tally_webhook_keyring_public(ring, "old"), SECRET, strlen(SECRET), sealed, &n, err,
                                    sizeof err),
                 0);
    tally_webhook_secret_t s;
    cr_assert_eq(tally_webhook_seal_open(ring, "old", sealed, n, &s, err, sizeof err), 0, "%s", err);
    tally_webhook_keyring_free(ring);
}

Test(webhook_seal, only_webhook_secrets_of_32_to_64_characters_are_sealed)
{
    tally_webhook_keyring_t *ring = ring_of(KEYS);
    const unsigned char *pk = tally_webhook_keyring_public(ring, "new");
    unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
    size_t n = 0;
    char err[256];
    static const char *const bad[] = {
        "short",
        "not-a-webhook-secret-but-long-enough-to-pass",
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 66 chars */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_neq(tally_webhook_seal(pk, bad[i], strlen(bad[i]), sealed, &n, err, sizeof err), 0, "%s", bad[i]);
    tally_webhook_keyring_free(ring);
}
