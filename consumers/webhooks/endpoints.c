#include "endpoints.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "xalloc.h"

struct tally_endpoints_t {
    pthread_mutex_t lock;
    json_t *by_tenant; /* tenant -> {"url", "sealed" (base64), "key_id"} */
};

tally_endpoints_t *tally_endpoints_new(void)
{
    tally_endpoints_t *t = tally_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->by_tenant = json_object();
    if (t->by_tenant == NULL)
        abort();
    return t;
}

void tally_endpoints_free(tally_endpoints_t *t)
{
    if (t == NULL)
        return;
    json_decref(t->by_tenant);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

int tally_endpoints_set(tally_endpoints_t *t, const char *tenant, const char *url, const char *sealed_b64,
                        const char *key_id, char *errbuf, size_t errsize)
{
    if (*url == '\0') {
        pthread_mutex_lock(&t->lock);
        json_object_del(t->by_tenant, tenant);
        pthread_mutex_unlock(&t->lock);
        return 0;
    }
    if (strlen(url) > TALLY_WEBHOOK_URL_MAX || !tally_key_id_valid(key_id, strlen(key_id))) {
        tally_errbuf_set(errbuf, errsize, "WebhookEndpointSet: url over %d bytes or a bad key_id",
                         TALLY_WEBHOOK_URL_MAX);
        return -1;
    }
    unsigned char sealed[TALLY_WEBHOOK_SEALED_MAX];
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(sealed, sizeof sealed, sealed_b64, strlen(sealed_b64), NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        *end != '\0' || n < TALLY_WEBHOOK_SEAL_OVERHEAD + TALLY_WEBHOOK_SEALED_TEXT_MIN) {
        tally_errbuf_set(errbuf, errsize, "WebhookEndpointSet: secret_sealed is not base64 of a sealed secret");
        return -1;
    }
    json_t *e = json_pack("{s:s, s:s, s:s}", "url", url, "sealed", sealed_b64, "key_id", key_id);
    if (e == NULL)
        abort();
    pthread_mutex_lock(&t->lock);
    json_object_set_new(t->by_tenant, tenant, e);
    pthread_mutex_unlock(&t->lock);
    return 0;
}

static int str_of(avro_value_t *rec, const char *name, const char **s)
{
    avro_value_t f;
    size_t n = 0;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0 || avro_value_get_type(&f) != AVRO_STRING ||
        avro_value_get_string(&f, s, &n) != 0 || n == 0 || memchr(*s, '\0', n - 1) != NULL)
        return -1;
    return 0;
}

int tally_endpoints_apply(tally_endpoints_t *t, avro_value_t *event, char *errbuf, size_t errsize)
{
    avro_value_t payload, branch;
    int disc = 0;
    if (avro_value_get_by_name(event, "payload", &payload, NULL) != 0 ||
        avro_value_get_discriminant(&payload, &disc) != 0 || avro_value_get_current_branch(&payload, &branch) != 0)
        return 0;
    const char *name = avro_schema_name(avro_value_get_schema(&branch));
    if (name == NULL || strcmp(name, "WebhookEndpointSet") != 0)
        return 0;
    const char *tenant = NULL, *url = NULL, *sealed = NULL, *key_id = NULL;
    if (str_of(event, "tenant_id", &tenant) != 0 || str_of(&branch, "url", &url) != 0 ||
        str_of(&branch, "secret_sealed", &sealed) != 0 || str_of(&branch, "key_id", &key_id) != 0) {
        tally_errbuf_set(errbuf, errsize, "WebhookEndpointSet: a field is missing or not a string");
        return -1;
    }
    return tally_endpoints_set(t, tenant, url, sealed, key_id, errbuf, errsize) == 0 ? 1 : -1;
}

int tally_endpoints_get(tally_endpoints_t *t, const char *tenant, tally_endpoint_t *out)
{
    int found = 0;
    pthread_mutex_lock(&t->lock);
    json_t *e = json_object_get(t->by_tenant, tenant);
    if (e != NULL) {
        const char *sealed = json_string_value(json_object_get(e, "sealed"));
        snprintf(out->url, sizeof out->url, "%s", json_string_value(json_object_get(e, "url")));
        snprintf(out->key_id, sizeof out->key_id, "%s", json_string_value(json_object_get(e, "key_id")));
        found = sodium_base642bin(out->sealed, sizeof out->sealed, sealed, strlen(sealed), NULL, &out->sealed_len,
                                  NULL, sodium_base64_VARIANT_ORIGINAL) == 0;
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

size_t tally_endpoints_count(tally_endpoints_t *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = json_object_size(t->by_tenant);
    pthread_mutex_unlock(&t->lock);
    return n;
}
