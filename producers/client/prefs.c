#include "prefs.h"

#include "fsutil.h"
#include "ids.h"
#include "timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFS_MAX (1 << 20)

int tally_prefs_load(tally_prefs_t *p, const char *config_dir, char *errbuf, size_t errsize)
{
    char *data = NULL;
    size_t len = 0;
    memset(p, 0, sizeof *p);
    p->path = tally_fs_join(config_dir, "config.json");
    int rc = tally_fs_read_file(p->path, PREFS_MAX, &data, &len, errbuf, errsize);
    if (rc == TALLY_FS_ENOENT) {
        p->doc = json_object();
        return 0;
    }
    if (rc != 0)
        goto fail;
    json_error_t je;
    p->doc = json_loadb(data, len, 0, &je);
    free(data);
    if (p->doc == NULL || !json_is_object(p->doc)) {
        snprintf(errbuf, errsize, "%s: not a JSON object (line %d: %s); fix or remove it", p->path, je.line,
                 p->doc ? "another JSON type" : je.text);
        goto fail;
    }
    return 0;
fail:
    tally_prefs_clear(p);
    return -1;
}

int tally_prefs_save(const tally_prefs_t *p, char *errbuf, size_t errsize)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", p->path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir)
        *slash = '\0';
    if (tally_fs_mkdirs(dir, 0700, errbuf, errsize) != 0)
        return -1;
    char *text = json_dumps(p->doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text == NULL)
        abort();
    size_t len = strlen(text);
    char *withnl = malloc(len + 2);
    if (withnl == NULL)
        abort();
    memcpy(withnl, text, len);
    withnl[len] = '\n';
    int rc = tally_fs_write_atomic(p->path, withnl, len + 1, 0600, errbuf, errsize);
    free(withnl);
    free(text);
    return rc;
}

void tally_prefs_clear(tally_prefs_t *p)
{
    free(p->path);
    json_decref(p->doc);
    memset(p, 0, sizeof *p);
}

bool tally_prefs_telemetry_enabled(const tally_prefs_t *p)
{
    return !json_is_false(json_object_get(p->doc, "telemetry"));
}

void tally_prefs_set_telemetry(tally_prefs_t *p, bool enabled)
{
    json_object_set_new(p->doc, "telemetry", json_boolean(enabled));
}

const char *tally_prefs_install_id(const tally_prefs_t *p)
{
    const char *id = json_string_value(json_object_get(p->doc, "install_id"));
    return id != NULL && *id != '\0' ? id : NULL;
}

const char *tally_prefs_new_install_id(tally_prefs_t *p)
{
    char id[TALLY_UUID_SIZE];
    tally_ids_uuid4(id);
    json_object_set_new(p->doc, "install_id", json_string(id));
    return tally_prefs_install_id(p);
}

bool tally_prefs_notice_shown(const tally_prefs_t *p)
{
    return json_object_get(p->doc, "notice_shown_at") != NULL;
}

void tally_prefs_set_notice_shown(tally_prefs_t *p, long long now_ms)
{
    char stamp[TALLY_RFC3339_SIZE];
    if (tally_rfc3339_format(now_ms, stamp) != 0)
        snprintf(stamp, sizeof stamp, "%lld", now_ms);
    json_object_set_new(p->doc, "notice_shown_at", json_string(stamp));
}
