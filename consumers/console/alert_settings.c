#include "alert_settings.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUBLIC_FILE_MAX 65536   /* far more than TALLY_WEBHOOK_KEYS_MAX lines */

int tally_alert_seal_key_load(const char *path, tally_alert_seal_key_t *out, char *errbuf, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(errbuf, errsize, "webhook public key file %s: cannot open it", path);
        return -1;
    }
    char *text = malloc(PUBLIC_FILE_MAX + 1);
    if (text == NULL) {
        fprintf(stderr, "tally-console: out of memory\n");
        abort();
    }
    size_t len = fread(text, 1, PUBLIC_FILE_MAX + 1, f);
    int failed = ferror(f);
    fclose(f);
    int rc = -1;
    if (failed)
        snprintf(errbuf, errsize, "webhook public key file %s: cannot read it", path);
    else if (len > PUBLIC_FILE_MAX)
        snprintf(errbuf, errsize, "webhook public key file %s: larger than %d bytes", path, PUBLIC_FILE_MAX);
    else
        rc = tally_webhook_public_key_parse(text, len, path, out->key_id, out->pk, errbuf, errsize);
    free(text);
    return rc;
}

int tally_alert_webhook_payload(const char *url, const tally_alert_seal_key_t *key,
                                char secret[TALLY_WEBHOOK_SECRET_TEXT_SIZE], json_t **payload, char *errbuf,
                                size_t errsize)
{
    char sealed_b64[sodium_base64_ENCODED_LEN(TALLY_WEBHOOK_SEALED_MAX, sodium_base64_VARIANT_ORIGINAL)];
    const char *key_id = "";
    secret[0] = '\0';
    sealed_b64[0] = '\0';
    *payload = NULL;
    if (*url != '\0') {
        tally_webhook_secret_t s;
        unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
        size_t sealed_len = 0;
        tally_webhook_secret_generate(&s, secret);
        tally_webhook_secret_clear(&s);
        if (tally_webhook_seal(key->pk, secret, strlen(secret), sealed, &sealed_len, errbuf, errsize) != 0) {
            sodium_memzero(secret, TALLY_WEBHOOK_SECRET_TEXT_SIZE);
            return -1;
        }
        sodium_bin2base64(sealed_b64, sizeof sealed_b64, sealed, sealed_len, sodium_base64_VARIANT_ORIGINAL);
        key_id = key->key_id;
    }
    json_t *ep = json_pack("{s:s, s:s, s:s}", "url", url, "secret_sealed", sealed_b64, "key_id", key_id);
    if (ep == NULL) {
        sodium_memzero(secret, TALLY_WEBHOOK_SECRET_TEXT_SIZE);
        snprintf(errbuf, errsize, "url: not UTF-8 text");
        return -1;
    }
    *payload = json_pack("{s:o}", "WebhookEndpointSet", ep);
    if (*payload == NULL) {
        fprintf(stderr, "tally-console: out of memory\n");
        abort();
    }
    return 0;
}

int tally_alert_rules_payload(const json_t *body, json_t **payload, char *why, size_t whysize)
{
    static const char *const fields[] = {"api_calls_percent", "nonprod_daily_percent", "seats_percent"};
    json_t *rules = json_object();
    *payload = NULL;
    for (size_t f = 0; f < 3; f++) {
        json_t *a = json_object_get(body, fields[f]);
        size_t i;
        json_t *v;
        if (!json_is_array(a) || json_array_size(a) > TALLY_ALERT_RULES_ITEMS_MAX) {
            snprintf(why, whysize, "%s: an array of at most %d percentages is required", fields[f],
                     TALLY_ALERT_RULES_ITEMS_MAX);
            json_decref(rules);
            return -1;
        }
        json_array_foreach(a, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < -2147483647 - 1 ||
                json_integer_value(v) > 2147483647) {
                snprintf(why, whysize, "%s: every entry must be an integer (a percentage)", fields[f]);
                json_decref(rules);
                return -1;
            }
        }
        json_object_set(rules, fields[f], a);
    }
    *payload = json_pack("{s:o}", "AlertRulesSet", rules);
    if (*payload == NULL) {
        fprintf(stderr, "tally-console: out of memory\n");
        abort();
    }
    return 0;
}
