#include "backoff.h"

#include "fsutil.h"
#include "ids.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t tally_backoff_delay_ms(int failures, int64_t base_ms, int64_t max_ms, int64_t retry_after_ms,
                               double rand01)
{
    if (failures < 1)
        failures = 1;
    int64_t cap = base_ms;
    for (int i = 1; i < failures && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    if (rand01 < 0)
        rand01 = 0;
    if (rand01 > 1)
        rand01 = 1;
    int64_t half = cap / 2;
    int64_t delay = half + (int64_t)((double)(cap - half) * rand01);
    return retry_after_ms > delay ? retry_after_ms : delay;
}

void tally_backoff_load(const char *path, const char *gateway, tally_backoff_t *b)
{
    char *data = NULL, why[256];
    size_t len;
    memset(b, 0, sizeof *b);
    snprintf(b->gateway, sizeof b->gateway, "%s", gateway);
    if (tally_fs_read_file(path, 65536, &data, &len, why, sizeof why) != 0)
        return;
    json_t *j = json_loadb(data, len, 0, NULL);
    free(data);
    const char *g = json_string_value(json_object_get(j, "gateway"));
    if (g != NULL && strcmp(g, gateway) == 0) {
        b->failures = (int)json_integer_value(json_object_get(j, "failures"));
        b->next_attempt_ms = json_integer_value(json_object_get(j, "next_attempt_at"));
        const char *e = json_string_value(json_object_get(j, "last_error"));
        snprintf(b->last_error, sizeof b->last_error, "%s", e ? e : "");
    }
    json_decref(j);
}

int tally_backoff_save(const char *path, const tally_backoff_t *b, char *errbuf, size_t errsize)
{
    json_t *j = json_pack("{s:s,s:i,s:I,s:s}", "gateway", b->gateway, "failures", b->failures, "next_attempt_at",
                          (json_int_t)b->next_attempt_ms, "last_error", b->last_error);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        abort();
    int rc = tally_fs_write_atomic(path, text, strlen(text), 0600, errbuf, errsize);
    free(text);
    return rc;
}

void tally_backoff_failed(tally_backoff_t *b, int64_t now_ms, int64_t base_ms, int64_t max_ms,
                          int64_t retry_after_ms, const char *error)
{
    if (b->failures < 1000)
        b->failures++;
    double r = (double)tally_ids_random(1000001) / 1000000.0;
    b->next_attempt_ms = now_ms + tally_backoff_delay_ms(b->failures, base_ms, max_ms, retry_after_ms, r);
    snprintf(b->last_error, sizeof b->last_error, "%s", error ? error : "");
}

void tally_backoff_succeeded(tally_backoff_t *b)
{
    b->failures = 0;
    b->next_attempt_ms = 0;
    b->last_error[0] = '\0';
}
