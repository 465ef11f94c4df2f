#include "delivery.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"
#include "xalloc.h"

int tally_delivery_key(const char *alert_id, const char *target, char key[TALLY_DELIVERY_KEY_MAX + 1])
{
    int n = snprintf(key, TALLY_DELIVERY_KEY_MAX + 1, "%s/%s", alert_id, target);
    return n > 0 && n <= TALLY_DELIVERY_KEY_MAX ? 0 : -1;
}

const char *tally_delivery_key_target(const char *key)
{
    const char *slash = strrchr(key, '/');
    if (slash == NULL || slash == key)
        return NULL;
    if (strcmp(slash + 1, "tenant") != 0 && strcmp(slash + 1, "vendor") != 0)
        return NULL;
    return slash + 1;
}

void tally_delivery_init_pending(tally_delivery_t *d, const char *key, const char *tenant_id, const char *body,
                                 int64_t now)
{
    memset(d, 0, sizeof *d);
    snprintf(d->key, sizeof d->key, "%s", key);
    snprintf(d->tenant_id, sizeof d->tenant_id, "%s", tenant_id);
    d->state = TALLY_DELIVERY_PENDING;
    d->first_at = now;
    d->next_at = now;
    d->body = tally_xstrdup(body);
}

void tally_delivery_clear(tally_delivery_t *d)
{
    free(d->body);
    d->body = NULL;
}

int64_t tally_delivery_backoff_ms(int n, const tally_delivery_policy_t *p, double rand01)
{
    int64_t ceiling = p->backoff_min_ms;
    for (int i = 1; i < n && ceiling < p->backoff_max_ms; i++)
        ceiling *= 2;
    if (ceiling > p->backoff_max_ms)
        ceiling = p->backoff_max_ms;
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 > 1)
        rand01 = 1;
    return (int64_t)((double)ceiling * rand01);
}

static void set_dead(tally_delivery_t *d, int64_t now, const char *why)
{
    d->state = TALLY_DELIVERY_DEAD;
    d->at = now;
    snprintf(d->reason, sizeof d->reason, "%s", why);
    tally_delivery_clear(d);
}

void tally_delivery_apply(tally_delivery_t *d, const tally_delivery_outcome_t *o, int64_t now,
                          const tally_delivery_policy_t *p, double rand01)
{
    char why[TALLY_DELIVERY_REASON_MAX + 1];
    if (o->permanent) {
        set_dead(d, now, o->error ? o->error : "refused");
        return;
    }
    d->attempts++;
    if (o->http_status >= 200 && o->http_status <= 299) {
        d->state = TALLY_DELIVERY_DELIVERED;
        d->status = o->http_status;
        d->at = now;
        d->reason[0] = '\0';
        tally_delivery_clear(d);
        return;
    }
    if (o->http_status == 410) {
        set_dead(d, now, "endpoint gone (410)");
        return;
    }
    if (o->http_status != 0)
        snprintf(why, sizeof why, "HTTP %d", o->http_status);
    else
        snprintf(why, sizeof why, "%s", o->error ? o->error : "no answer");
    int64_t next = now + tally_delivery_backoff_ms(d->attempts, p, rand01);
    if (next > d->first_at + p->retry_for_ms) {
        char dead[TALLY_DELIVERY_REASON_MAX + 1];
        snprintf(dead, sizeof dead, "gave up after %d attempts over %lld s; last: %.120s", d->attempts,
                 (long long)((now - d->first_at) / 1000), why);
        set_dead(d, now, dead);
        return;
    }
    d->next_at = next;
    snprintf(d->reason, sizeof d->reason, "%s", why);
}

const char *tally_delivery_state_name(tally_delivery_state_t s)
{
    switch (s) {
    case TALLY_DELIVERY_PENDING:
        return "pending";
    case TALLY_DELIVERY_DELIVERED:
        return "delivered";
    case TALLY_DELIVERY_DEAD:
        return "dead";
    }
    return "unknown";
}

void tally_delivery_encode(const tally_delivery_t *d, tally_textbuf_t *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "v", json_integer(1));
    json_object_set_new(o, "state", json_string(tally_delivery_state_name(d->state)));
    json_object_set_new(o, "tenant_id", json_string(d->tenant_id));
    json_object_set_new(o, "attempts", json_integer(d->attempts));
    json_object_set_new(o, "first_at", json_integer(d->first_at));
    if (d->state == TALLY_DELIVERY_PENDING) {
        json_object_set_new(o, "next_at", json_integer(d->next_at));
        json_object_set_new(o, "last_error", json_string(d->reason));
        json_object_set_new(o, "body", json_string(d->body ? d->body : ""));
    } else {
        json_object_set_new(o, "at", json_integer(d->at));
        if (d->state == TALLY_DELIVERY_DELIVERED)
            json_object_set_new(o, "status", json_integer(d->status));
        else
            json_object_set_new(o, "reason", json_string(d->reason));
    }
    char *text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        abort();
    tally_textbuf_reset(out);
    tally_textbuf_puts(out, text);
    free(text);
    json_decref(o);
}

static int get_int(json_t *o, const char *name, int64_t *v)
{
    json_t *j = json_object_get(o, name);
    if (!json_is_integer(j))
        return -1;
    *v = json_integer_value(j);
    return 0;
}

static int get_str(json_t *o, const char *name, char *dst, size_t size)
{
    json_t *j = json_object_get(o, name);
    if (!json_is_string(j) || json_string_length(j) >= size)
        return -1;
    memcpy(dst, json_string_value(j), json_string_length(j) + 1);
    return 0;
}

int tally_delivery_decode(const void *key, size_t key_len, const void *value, size_t len, tally_delivery_t *d,
                          char *errbuf, size_t errsize)
{
    memset(d, 0, sizeof *d);
    if (key == NULL || key_len == 0 || key_len > TALLY_DELIVERY_KEY_MAX || memchr(key, '\0', key_len) != NULL) {
        tally_errbuf_set(errbuf, errsize, "a delivery key is 1 to %d bytes", TALLY_DELIVERY_KEY_MAX);
        return -1;
    }
    memcpy(d->key, key, key_len);
    d->key[key_len] = '\0';
    if (tally_delivery_key_target(d->key) == NULL) {
        tally_errbuf_set(errbuf, errsize, "a delivery key is <alert_id>/tenant or <alert_id>/vendor");
        return -1;
    }
    json_error_t jerr;
    json_t *o = value ? json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    int rc = -1;
    int64_t v = 0, attempts = 0;
    const char *state = o ? json_string_value(json_object_get(o, "state")) : NULL;
    if (o == NULL || !json_is_object(o) || get_int(o, "v", &v) != 0 || v != 1 || state == NULL ||
        get_str(o, "tenant_id", d->tenant_id, sizeof d->tenant_id) != 0 || get_int(o, "attempts", &attempts) != 0 ||
        attempts < 0 || attempts > 1000000 || get_int(o, "first_at", &d->first_at) != 0) {
        tally_errbuf_set(errbuf, errsize, "a delivery value is {\"v\":1,\"state\":...} with its fields");
        goto done;
    }
    d->attempts = (int)attempts;
    if (strcmp(state, "pending") == 0) {
        json_t *body = json_object_get(o, "body");
        if (get_int(o, "next_at", &d->next_at) != 0 || get_str(o, "last_error", d->reason, sizeof d->reason) != 0 ||
            !json_is_string(body)) {
            tally_errbuf_set(errbuf, errsize, "a pending delivery has next_at, last_error and body");
            goto done;
        }
        d->state = TALLY_DELIVERY_PENDING;
        d->body = tally_xstrdup(json_string_value(body));
    } else if (strcmp(state, "delivered") == 0) {
        int64_t status = 0;
        if (get_int(o, "at", &d->at) != 0 || get_int(o, "status", &status) != 0) {
            tally_errbuf_set(errbuf, errsize, "a delivered delivery has at and status");
            goto done;
        }
        d->state = TALLY_DELIVERY_DELIVERED;
        d->status = (int)status;
    } else if (strcmp(state, "dead") == 0) {
        if (get_int(o, "at", &d->at) != 0 || get_str(o, "reason", d->reason, sizeof d->reason) != 0) {
            tally_errbuf_set(errbuf, errsize, "a dead delivery has at and reason");
            goto done;
        }
        d->state = TALLY_DELIVERY_DEAD;
    } else {
        tally_errbuf_set(errbuf, errsize, "unknown delivery state");
        goto done;
    }
    rc = 0;
done:
    json_decref(o);
    return rc;
}
