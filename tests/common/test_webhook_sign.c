/* Unit tests of common/webhook_sign: Standard Webhooks signatures.
 *
 * The vectors are the specification's published ones, from the reference
 * libraries of github.com/standard-webhooks/standard-webhooks:
 * libraries/go/webhook_test.go (TestWebhookSign: secret
 * whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, id msg_p5jXN8AQM9LWM0D4loKWxJek,
 * timestamp 1614265330, body {"test": 2432232314}, signature
 * v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=; TestWebhook: the
 * "invalid signature" v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=, the
 * multi-signature header with a v2 entry, tolerance 5 minutes either way). */
#include "webhook_sign.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define TS 1614265330
#define TS_TEXT "1614265330"
#define BODY "{\"test\": 2432232314}"
#define GOOD "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define OTHER "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
#define TOLERANCE 300

static tally_webhook_secret_t secret(void)
{
    tally_webhook_secret_t s;
    char err[256];
    cr_assert_eq(tally_webhook_secret_parse(SECRET, strlen(SECRET), &s, err, sizeof err), 0, "%s", err);
    return s;
}

static tally_webhook_verdict_t verify(const char *id, const char *ts, const char *sig, const char *body, int64_t now)
{
    tally_webhook_secret_t s = secret();
    return tally_webhook_verify(&s, id, ts, sig, body, strlen(body), now, TOLERANCE);
}

Test(webhook_sign, specification_vector_signs_exactly)
{
    tally_webhook_secret_t s = secret();
    cr_assert_eq(s.len, 24);
    char sig[TALLY_WEBHOOK_SIGNATURE_SIZE];
    tally_webhook_sign(&s, MSG_ID, TS, BODY, strlen(BODY), sig);
    cr_assert_str_eq(sig, GOOD);
}

Test(webhook_sign, specification_vector_verifies)
{
    cr_assert_eq(verify(MSG_ID, TS_TEXT, GOOD, BODY, TS), TALLY_WEBHOOK_VALID);
}

Test(webhook_sign, invalid_signature_is_refused)
{
    cr_assert_eq(verify(MSG_ID, TS_TEXT, OTHER, BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
}

Test(webhook_sign, any_matching_v1_entry_of_several_is_enough)
{
    cr_assert_eq(verify(MSG_ID, TS_TEXT, OTHER " v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= " GOOD " " OTHER, BODY,
                        TS),
                 TALLY_WEBHOOK_VALID);
    /* The good MAC under another version tag does not count. */
    cr_assert_eq(verify(MSG_ID, TS_TEXT, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", BODY, TS),
                 TALLY_WEBHOOK_BAD_SIGNATURE);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, OTHER " " OTHER, BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
}

Test(webhook_sign, tampered_body_id_or_timestamp_is_refused)
{
    cr_assert_eq(verify(MSG_ID, TS_TEXT, GOOD, "{\"test\": 2432232315}", TS), TALLY_WEBHOOK_BAD_SIGNATURE);
    cr_assert_eq(verify("msg_p5jXN8AQM9LWM0D4loKWxJeK", TS_TEXT, GOOD, BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
    cr_assert_eq(verify(MSG_ID, "1614265331", GOOD, BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
    /* The same instant written with a leading zero is other signed text. */
    cr_assert_eq(verify(MSG_ID, "01614265330", GOOD, BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
}

Test(webhook_sign, timestamp_tolerance_is_five_minutes_either_way)
{
    cr_assert_eq(verify(MSG_ID, TS_TEXT, GOOD, BODY, TS + TOLERANCE), TALLY_WEBHOOK_VALID);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, GOOD, BODY, TS - TOLERANCE), TALLY_WEBHOOK_VALID);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, GOOD, BODY, TS + TOLERANCE + 1), TALLY_WEBHOOK_STALE);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, GOOD, BODY, TS - TOLERANCE - 1), TALLY_WEBHOOK_STALE);
}

Test(webhook_sign, missing_and_malformed_headers_are_refused)
{
    cr_assert_eq(verify(NULL, TS_TEXT, GOOD, BODY, TS), TALLY_WEBHOOK_MISSING);
    cr_assert_eq(verify(MSG_ID, NULL, GOOD, BODY, TS), TALLY_WEBHOOK_MISSING);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, NULL, BODY, TS), TALLY_WEBHOOK_MISSING);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, "", BODY, TS), TALLY_WEBHOOK_MISSING);
    cr_assert_eq(verify(MSG_ID, "16142x5330", GOOD, BODY, TS), TALLY_WEBHOOK_MALFORMED);
    cr_assert_eq(verify(MSG_ID, "-1614265330", GOOD, BODY, TS), TALLY_WEBHOOK_MALFORMED);
    cr_assert_eq(verify(MSG_ID, "99999999999999999999999", GOOD, BODY, TS), TALLY_WEBHOOK_MALFORMED);
    cr_assert_eq(verify("a.b", TS_TEXT, GOOD, BODY, TS), TALLY_WEBHOOK_MALFORMED);
    cr_assert_eq(verify("a\nb", TS_TEXT, GOOD, BODY, TS), TALLY_WEBHOOK_MALFORMED);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, "v1,", BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, "v1,!!!!", BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
    cr_assert_eq(verify(MSG_ID, TS_TEXT, GOOD "AAAA", BODY, TS), TALLY_WEBHOOK_BAD_SIGNATURE);
}

Test(webhook_sign, secrets_need_the_prefix_base64_and_24_to_64_bytes)
{
    tally_webhook_secret_t s;
    char err[256];
    static const char *const refused[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",          /* no prefix */
        "whsec_",                                    /* empty */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",     /* not base64 (length) */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w",    /* URL-safe alphabet */
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAA",        /* 21 bytes */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw junk", /* trailing text */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        err[0] = '\0';
        cr_assert_neq(tally_webhook_secret_parse(refused[i], strlen(refused[i]), &s, err, sizeof err), 0, "%s",
                      refused[i]);
        cr_assert_neq(err[0], '\0');
        cr_assert_null(strstr(err, "MfKQ"), "the message shows the secret: %s", err);
    }
    char big[200] = "whsec_";
    for (int i = 0; i < 88; i++)
        strcat(big, "A"); /* 66 bytes */
    cr_assert_neq(tally_webhook_secret_parse(big, strlen(big), &s, err, sizeof err), 0);
    cr_assert_eq(tally_webhook_secret_parse(SECRET "\n", strlen(SECRET) + 1, &s, err, sizeof err), 0, "%s", err);
}

Test(webhook_sign, generated_secrets_round_trip)
{
    tally_webhook_secret_t a, b;
    char text[TALLY_WEBHOOK_SECRET_TEXT_SIZE], err[256];
    tally_webhook_secret_generate(&a, text);
    cr_assert_eq(strncmp(text, "whsec_", 6), 0);
    cr_assert_eq(tally_webhook_secret_parse(text, strlen(text), &b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(a.len, 32);
    cr_assert_eq(memcmp(a.key, b.key, a.len), 0);
    char sig[TALLY_WEBHOOK_SIGNATURE_SIZE];
    tally_webhook_sign(&a, "alert-1", 1000, "x", 1, sig);
    cr_assert_eq(tally_webhook_verify(&b, "alert-1", "1000", sig, "x", 1, 1000, TOLERANCE), TALLY_WEBHOOK_VALID);
    tally_webhook_secret_clear(&b);
    cr_assert_eq(b.len, 0);
}

Test(webhook_sign, secret_file_must_be_owner_only)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "/tmp/tally-test-whsec-%d", (int)getpid());
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0, "%s", strerror(errno));
    cr_assert_eq(write(fd, SECRET "\n", strlen(SECRET) + 1), (ssize_t)strlen(SECRET) + 1);
    close(fd);
    tally_webhook_secret_t s;
    cr_assert_eq(tally_webhook_secret_load(path, &s, err, sizeof err), 0, "%s", err);
    cr_assert_eq(s.len, 24);
    cr_assert_eq(chmod(path, 0644), 0);
    cr_assert_neq(tally_webhook_secret_load(path, &s, err, sizeof err), 0);
    cr_assert_not_null(strstr(err, "chmod 600"), "%s", err);
    unlink(path);
}
