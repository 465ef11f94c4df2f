#include "kinds.h"

#include "ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name, *path;
    tally_credential_t credential;
    const char *const *required;
} kind_info_t;

static const char *const product_required[] = {"event", NULL};
static const char *const usage_required[] = {"tenant_id", "environment_id", "reporter_id", "reporter_started_at",
                                             "seq", "api_calls", "status_4xx", "status_5xx", "exec_ms", NULL};
static const char *const seat_required[] = {"tenant_id", "user_id", "op", NULL};
static const char *const controlpanel_required[] = {"tenant_id", "payload", NULL};

static const kind_info_t kinds[TALLY_KIND_COUNT] = {
    {"product", "/v1/product/events", TALLY_CREDENTIAL_NONE, product_required},
    {"usage", "/v1/usage/reports", TALLY_CREDENTIAL_API_KEY, usage_required},
    {"seat", "/v1/usage/seats", TALLY_CREDENTIAL_API_KEY, seat_required},
    {"controlpanel", "/v1/controlpanel/events", TALLY_CREDENTIAL_ADMIN_TOKEN, controlpanel_required},
};

int tally_kind_parse(const char *name, tally_kind_t *kind)
{
    for (int k = 0; k < TALLY_KIND_COUNT; k++)
        if (name != NULL && strcmp(name, kinds[k].name) == 0) {
            *kind = (tally_kind_t)k;
            return 0;
        }
    return -1;
}

const char *tally_kind_name(tally_kind_t kind)
{
    return kinds[kind].name;
}

const char *tally_kind_path(tally_kind_t kind)
{
    return kinds[kind].path;
}

tally_credential_t tally_kind_credential(tally_kind_t kind)
{
    return kinds[kind].credential;
}

static void fill(json_t *event, const char *key, json_t *value)
{
    if (json_object_get(event, key) == NULL)
        json_object_set_new(event, key, value);
    else
        json_decref(value);
}

static void fill_event_id(json_t *event)
{
    if (json_object_get(event, "event_id") == NULL) {
        char id[TALLY_UUID_SIZE];
        tally_ids_uuid4(id);
        json_object_set_new(event, "event_id", json_string(id));
    }
}

int tally_kind_prepare(tally_kind_t kind, json_t *event, const tally_fill_t *f, char *errbuf, size_t errsize)
{
    for (const char *const *k = kinds[kind].required; *k != NULL; k++) {
        json_t *v = json_object_get(event, *k);
        if (v == NULL || json_is_null(v)) {
            snprintf(errbuf, errsize, "missing key \"%s\" (a %s event needs it)", *k, kinds[kind].name);
            return -1;
        }
    }
    json_t *id = json_object_get(event, "event_id");
    if (id != NULL && kind != TALLY_KIND_USAGE && !tally_ids_is_uuid(json_string_value(id))) {
        snprintf(errbuf, errsize, "\"event_id\" must be a UUID (or left out: the client assigns one)");
        return -1;
    }
    switch (kind) {
    case TALLY_KIND_PRODUCT:
        if (!json_is_string(json_object_get(event, "event"))) {
            snprintf(errbuf, errsize, "\"event\" must be a string, a name from the event catalog");
            return -1;
        }
        fill_event_id(event);
        fill(event, "source", json_string("CLI"));
        fill(event, "occurred_at", json_integer(f->now_ms));
        if (json_object_get(event, "install_id") == NULL && f->install_id != NULL) {
            json_object_set_new(event, "install_id", json_string(f->install_id));
            fill(event, "new_user", json_boolean(f->new_user));
        }
        fill(event, "ci", json_boolean(f->ci));
        break;
    case TALLY_KIND_USAGE:
        fill(event, "observed_at", json_integer(f->now_ms));
        break;
    case TALLY_KIND_SEAT:
    case TALLY_KIND_CONTROLPANEL:
        fill_event_id(event);
        fill(event, "occurred_at", json_integer(f->now_ms));
        break;
    default:
        abort();
    }
    return 0;
}

static bool set_and_not_false(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

bool tally_kind_detect_ci(void)
{
    return set_and_not_false("CI") || set_and_not_false("CONTINUOUS_INTEGRATION") ||
           set_and_not_false("BUILD_NUMBER") || set_and_not_false("RUN_ID");
}
