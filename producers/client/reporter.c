#include "reporter.h"

#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tally_reporter_init(tally_reporter_t *r, const char *tenant_id, const char *environment_id, int64_t now_ms)
{
    memset(r, 0, sizeof *r);
    tally_ids_uuid4(r->reporter_id);
    r->started_at_ms = now_ms;
    snprintf(r->tenant_id, sizeof r->tenant_id, "%s", tenant_id);
    snprintf(r->environment_id, sizeof r->environment_id, "%s", environment_id);
}

static int get_count(json_t *j, const char *key, int64_t *out)
{
    json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

static int get_text(json_t *j, const char *key, char *out, size_t size, bool required)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (v == NULL)
        return required ? -1 : 0;
    if (strlen(v) >= size)
        return -1;
    snprintf(out, size, "%s", v);
    return 0;
}

int tally_reporter_load(const char *path, tally_reporter_t *r, char *errbuf, size_t errsize)
{
    char *data = NULL;
    size_t len;
    memset(r, 0, sizeof *r);
    int rc = tally_fs_read_file(path, 1 << 20, &data, &len, errbuf, errsize);
    if (rc == TALLY_FS_ENOENT)
        return TALLY_REPORTER_NONE;
    if (rc != 0)
        return -1;
    json_error_t je;
    json_t *j = json_loadb(data, len, 0, &je);
    free(data);
    int64_t ino = 0;
    const char *bad = NULL;
    if (j == NULL)
        bad = "not JSON";
    else if (get_text(j, "reporter_id", r->reporter_id, sizeof r->reporter_id, true) != 0 ||
             !tally_ids_is_uuid(r->reporter_id))
        bad = "reporter_id";
    else if (get_text(j, "tenant_id", r->tenant_id, sizeof r->tenant_id, true) != 0)
        bad = "tenant_id";
    else if (get_text(j, "environment_id", r->environment_id, sizeof r->environment_id, true) != 0)
        bad = "environment_id";
    else if (!json_is_integer(json_object_get(j, "reporter_started_at")))
        bad = "reporter_started_at";
    else if (get_count(j, "seq", &r->seq) != 0)
        bad = "seq";
    else if (get_count(j, "api_calls", &r->totals.api_calls) != 0 ||
             get_count(j, "status_4xx", &r->totals.status_4xx) != 0 ||
             get_count(j, "status_5xx", &r->totals.status_5xx) != 0 ||
             get_count(j, "exec_ms", &r->totals.exec_ms) != 0)
        bad = "counters";
    else if (get_text(j, "counter_file", r->counter_file, sizeof r->counter_file, false) != 0 ||
             (json_object_get(j, "counter_file_ino") && get_count(j, "counter_file_ino", &ino) != 0) ||
             (json_object_get(j, "counter_file_offset") &&
              get_count(j, "counter_file_offset", &r->counter_file_offset) != 0))
        bad = "counter_file";
    if (bad == NULL) {
        r->started_at_ms = json_integer_value(json_object_get(j, "reporter_started_at"));
        r->counter_file_ino = (uint64_t)ino;
    }
    json_decref(j);
    if (bad != NULL) {
        snprintf(errbuf, errsize, "%s: not a usage reporter state (%s); --reset starts a new reporter", path, bad);
        return -1;
    }
    return 0;
}

int tally_reporter_save(const char *path, const tally_reporter_t *r, char *errbuf, size_t errsize)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (tally_fs_private_dir(dir, errbuf, errsize) != 0)
            return -1;
    }
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:I}", "reporter_id", r->reporter_id,
                          "tenant_id", r->tenant_id, "environment_id", r->environment_id, "reporter_started_at",
                          (json_int_t)r->started_at_ms, "seq", (json_int_t)r->seq, "api_calls",
                          (json_int_t)r->totals.api_calls, "status_4xx", (json_int_t)r->totals.status_4xx,
                          "status_5xx", (json_int_t)r->totals.status_5xx, "exec_ms", (json_int_t)r->totals.exec_ms,
                          "counter_file", r->counter_file, "counter_file_ino", (json_int_t)r->counter_file_ino,
                          "counter_file_offset", (json_int_t)r->counter_file_offset);
    if (j == NULL)
        abort();
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (text == NULL)
        abort();
    int rc = tally_fs_write_atomic(path, text, strlen(text), 0600, errbuf, errsize);
    free(text);
    return rc;
}

static const struct {
    const char *name;
    unsigned bit;
    size_t offset;
} fields[] = {
    {"api_calls", TALLY_COUNTER_API_CALLS, offsetof(tally_counters_t, api_calls)},
    {"status_4xx", TALLY_COUNTER_STATUS_4XX, offsetof(tally_counters_t, status_4xx)},
    {"status_5xx", TALLY_COUNTER_STATUS_5XX, offsetof(tally_counters_t, status_5xx)},
    {"exec_ms", TALLY_COUNTER_EXEC_MS, offsetof(tally_counters_t, exec_ms)},
};

static int64_t *field_of(tally_counters_t *c, size_t i)
{
    return (int64_t *)((char *)c + fields[i].offset);
}

int tally_counters_parse(const char *line, size_t len, tally_counters_t *c, unsigned *mask, char *errbuf,
                         size_t errsize)
{
    memset(c, 0, sizeof *c);
    *mask = 0;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i < len && line[i] == '#')
        return 0;
    while (i < len) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == ',' || line[i] == '\r'))
            i++;
        if (i >= len)
            break;
        size_t start = i;
        while (i < len && line[i] != '=' && line[i] != ' ' && line[i] != '\t' && line[i] != ',')
            i++;
        size_t namelen = i - start;
        size_t f = 0;
        while (f < sizeof fields / sizeof fields[0] &&
               (strlen(fields[f].name) != namelen || memcmp(fields[f].name, line + start, namelen) != 0))
            f++;
        if (f == sizeof fields / sizeof fields[0]) {
            snprintf(errbuf, errsize, "unknown counter \"%.*s\" (api_calls, status_4xx, status_5xx, exec_ms)",
                     (int)(namelen > 40 ? 40 : namelen), line + start);
            return -1;
        }
        if (i >= len || line[i] != '=') {
            snprintf(errbuf, errsize, "%s: expected %s=<count>", fields[f].name, fields[f].name);
            return -1;
        }
        i++;
        int64_t v = 0;
        size_t digits = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9') {
            if (v > (INT64_MAX - 9) / 10) {
                snprintf(errbuf, errsize, "%s: too large", fields[f].name);
                return -1;
            }
            v = v * 10 + (line[i++] - '0');
            digits++;
        }
        if (digits == 0 || (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != ',' && line[i] != '\r')) {
            snprintf(errbuf, errsize, "%s: not a non-negative integer", fields[f].name);
            return -1;
        }
        if (*mask & fields[f].bit) {
            snprintf(errbuf, errsize, "%s: given twice", fields[f].name);
            return -1;
        }
        *field_of(c, f) = v;
        *mask |= fields[f].bit;
    }
    return 0;
}

int tally_reporter_apply(tally_reporter_t *r, const tally_counters_t *c, unsigned mask, bool absolute,
                         char *errbuf, size_t errsize)
{
    tally_counters_t next = r->totals, in = *c;
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        if (!(mask & fields[f].bit))
            continue;
        int64_t *cur = field_of(&next, f), v = *field_of(&in, f);
        if (absolute) {
            if (v < *cur) {
                snprintf(errbuf, errsize,
                         "%s: %lld is below the total already reported (%lld); totals only grow (a restarted "
                         "process is a new reporter: --reset)",
                         fields[f].name, (long long)v, (long long)*cur);
                return -1;
            }
            *cur = v;
        } else {
            if (*cur > INT64_MAX - v) {
                snprintf(errbuf, errsize, "%s: the total would overflow", fields[f].name);
                return -1;
            }
            *cur += v;
        }
    }
    if (next.status_4xx > next.api_calls || next.status_5xx > next.api_calls - next.status_4xx) {
        snprintf(errbuf, errsize, "status_4xx + status_5xx would exceed api_calls");
        return -1;
    }
    r->totals = next;
    return 0;
}

json_t *tally_reporter_next_report(tally_reporter_t *r, int64_t now_ms)
{
    r->seq++;
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "tenant_id", r->tenant_id, "environment_id",
                          r->environment_id, "reporter_id", r->reporter_id, "reporter_started_at",
                          (json_int_t)r->started_at_ms, "seq", (json_int_t)r->seq, "observed_at",
                          (json_int_t)now_ms, "api_calls", (json_int_t)r->totals.api_calls, "status_4xx",
                          (json_int_t)r->totals.status_4xx, "status_5xx", (json_int_t)r->totals.status_5xx,
                          "exec_ms", (json_int_t)r->totals.exec_ms);
    if (j == NULL)
        abort();
    return j;
}
