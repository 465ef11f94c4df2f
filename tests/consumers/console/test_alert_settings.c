/* alert_settings: the WebhookEndpointSet payload carries the secret only
 * sealed, openable with the delivery worker's key ring (and not with
 * another), the plain text nowhere in it; a removal carries no secret; the
 * AlertRulesSet payload takes exactly three arrays of integers; the public
 * key file is what tally-webhooks --print-public-key writes. */
#include "alert_settings.h"

#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char ring_text[] =
    "old 0101010101010101010101010101010101010101010101010101010101010101\n"
    "cur 4c1f0e6a9b8d7c6b5a4938271605f4e3d2c1b0a99887766554433221100ffeed\n";

/* The ring and its public key file, as --print-public-key writes it. */
static tally_webhook_keyring_t *ring_and_key(tally_alert_seal_key_t *key)
{
    char err[256], path[] = "/tmp/tally-webhook-pub-XXXXXX";
    tally_webhook_keyring_t *ring = tally_webhook_keyring_parse(ring_text, strlen(ring_text), "test", err, sizeof err);
    cr_assert_not_null(ring, "%s", err);
    tally_textbuf_t pub = {0};
    tally_webhook_keyring_write_public(ring, &pub);
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, pub.data, pub.len), (ssize_t)pub.len);
    close(fd);
    tally_textbuf_free(&pub);
    cr_assert_eq(tally_alert_seal_key_load(path, key, err, sizeof err), 0, "%s", err);
    unlink(path);
    cr_assert_str_eq(key->key_id, "cur", "the last line seals");
    return ring;
}

Test(alert_settings, a_webhook_secret_is_sent_sealed_and_opens_with_the_ring_only)
{
    cr_assert(sodium_init() >= 0);
    tally_alert_seal_key_t key;
    tally_webhook_keyring_t *ring = ring_and_key(&key);
    char secret[TALLY_WEBHOOK_SECRET_TEXT_SIZE], other[TALLY_WEBHOOK_SECRET_TEXT_SIZE], err[256];
    json_t *p = NULL, *q = NULL;
    cr_assert_eq(tally_alert_webhook_payload("https://hooks.example.com/a", &key, secret, &p, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(strncmp(secret, "whsec_", 6), 0);
    cr_assert_eq(strlen(secret), 6 + 44, "base64 of 32 bytes: %s", secret);
    json_t *ep = json_object_get(p, "WebhookEndpointSet");
    cr_assert_str_eq(json_string_value(json_object_get(ep, "url")), "https://hooks.example.com/a");
    cr_assert_str_eq(json_string_value(json_object_get(ep, "key_id")), "cur");
    char *text = json_dumps(p, JSON_COMPACT);
    cr_assert_null(strstr(text, secret), "the plain secret is not in the event");
    cr_assert_null(strstr(text, secret + 6), "nor its base64 part");
    free(text);

    /* It opens with the ring's key to exactly that secret. */
    const char *b64 = json_string_value(json_object_get(ep, "secret_sealed"));
    unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
    size_t n = 0;
    cr_assert_eq(sodium_base642bin(sealed, sizeof sealed, b64, strlen(b64), NULL, &n, NULL,
                                   sodium_base64_VARIANT_ORIGINAL), 0);
    cr_assert_eq(n, strlen(secret) + TALLY_WEBHOOK_SEAL_OVERHEAD);
    tally_webhook_secret_t opened, want;
    cr_assert_eq(tally_webhook_seal_open(ring, "cur", sealed, n, &opened, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tally_webhook_secret_parse(secret, strlen(secret), &want, err, sizeof err), 0);
    cr_assert_eq(opened.len, want.len);
    cr_assert_eq(memcmp(opened.key, want.key, want.len), 0);
    /* Not with the ring's other key. */
    cr_assert_neq(tally_webhook_seal_open(ring, "old", sealed, n, &opened, err, sizeof err), 0);

    /* A second set: another secret. */
    cr_assert_eq(tally_alert_webhook_payload("https://hooks.example.com/a", &key, other, &q, err, sizeof err), 0);
    cr_assert_str_neq(other, secret);
    json_decref(q);
    json_decref(p);

    /* A removal: no secret at all. */
    cr_assert_eq(tally_alert_webhook_payload("", &key, secret, &p, err, sizeof err), 0);
    cr_assert_str_eq(secret, "");
    ep = json_object_get(p, "WebhookEndpointSet");
    cr_assert_str_eq(json_string_value(json_object_get(ep, "url")), "");
    cr_assert_str_eq(json_string_value(json_object_get(ep, "secret_sealed")), "");
    json_decref(p);
    tally_webhook_keyring_free(ring);
}

Test(alert_settings, a_public_key_file_must_hold_a_key)
{
    tally_alert_seal_key_t key;
    char err[256], path[] = "/tmp/tally-webhook-pub-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "# nothing\n", 10), 10);
    close(fd);
    cr_assert_neq(tally_alert_seal_key_load(path, &key, err, sizeof err), 0);
    unlink(path);
    cr_assert_neq(tally_alert_seal_key_load("/nonexistent/tally.pub", &key, err, sizeof err), 0);
    cr_assert(strstr(err, "cannot open"), "%s", err);
}

Test(alert_settings, alert_rules_take_three_arrays_of_integers)
{
    char why[256];
    json_t *p = NULL;
    json_t *ok = json_loads("{\"tenant_id\":\"acme\",\"api_calls_percent\":[50,90],\"nonprod_daily_percent\":[],"
                            "\"seats_percent\":[100]}", 0, NULL);
    cr_assert_eq(tally_alert_rules_payload(ok, &p, why, sizeof why), 0, "%s", why);
    char *text = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"AlertRulesSet\":{\"api_calls_percent\":[50,90],\"nonprod_daily_percent\":[],"
                           "\"seats_percent\":[100]}}");
    free(text);
    json_decref(p);
    json_decref(ok);
    static const char *const bad[] = {
        "{\"api_calls_percent\":[80],\"nonprod_daily_percent\":[]}",                       /* one missing */
        "{\"api_calls_percent\":\"80\",\"nonprod_daily_percent\":[],\"seats_percent\":[]}", /* not an array */
        "{\"api_calls_percent\":[80.5],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"api_calls_percent\":[\"80\"],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"api_calls_percent\":[4294967296],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
        "{\"api_calls_percent\":[null],\"nonprod_daily_percent\":[],\"seats_percent\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        cr_assert_not_null(j, "%s", bad[i]);
        p = NULL;
        cr_assert_neq(tally_alert_rules_payload(j, &p, why, sizeof why), 0, "%s", bad[i]);
        cr_assert_null(p);
        cr_assert(strstr(why, "_percent"), "names the field: %s", why);
        json_decref(j);
    }
    /* Too many entries. */
    json_t *many = json_pack("{s:[], s:[], s:[]}", "api_calls_percent", "nonprod_daily_percent", "seats_percent");
    for (int i = 0; i <= TALLY_ALERT_RULES_ITEMS_MAX; i++)
        json_array_append_new(json_object_get(many, "seats_percent"), json_integer(i + 1));
    cr_assert_neq(tally_alert_rules_payload(many, &p, why, sizeof why), 0);
    cr_assert(strstr(why, "seats_percent"), "%s", why);
    json_decref(many);
}
