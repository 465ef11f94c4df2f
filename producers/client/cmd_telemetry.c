/* tally telemetry status|enable|disable */
#include "commands.h"

#include "ids.h"
#include "kinds.h"
#include "telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int status(tally_app_t *app)
{
    const char *why = "";
    bool on = tally_app_product_allowed(app, &why);
    json_t *choice = json_object_get(app->prefs.doc, "telemetry");
    const char *id = tally_prefs_install_id(&app->prefs);
    printf("product analytics: %s%s%s%s\n", on ? "on" : "off", on ? "" : " (", why, on ? "" : ")");
    printf("config file: %s (%s)\n", app->prefs.path,
           choice == NULL ? "no choice recorded: on by default" : json_is_false(choice) ? "disabled" : "enabled");
    printf("install id: %s\n", id ? id : "(none yet)");
    printf("opt out: `tally telemetry disable`, DO_NOT_TRACK=1 or TALLY_TELEMETRY=0\n");
    return TALLY_EXIT_OK;
}

/* The one event that records a change of mind (the catalog's
 * telemetry.enabled / telemetry.disabled). */
static json_t *marker(tally_app_t *app, const char *name)
{
    const char *id = tally_prefs_install_id(&app->prefs);
    char err[256];
    if (id == NULL)
        return NULL; /* never sent anything: nothing to record */
    json_t *ev = json_pack("{s:s,s:s}", "event", name, "install_id", id);
    tally_fill_t fill = {.now_ms = tally_app_now(app), .ci = tally_kind_detect_ci()};
    if (tally_kind_prepare(TALLY_KIND_PRODUCT, ev, &fill, err, sizeof err) != 0)
        abort(); /* our own event */
    return ev;
}

static int enable(tally_app_t *app)
{
    char err[512];
    bool was_on = tally_prefs_telemetry_enabled(&app->prefs);
    if (!app->s->dry_run) {
        tally_prefs_set_telemetry(&app->prefs, true);
        if (tally_prefs_save(&app->prefs, err, sizeof err) != 0) {
            fprintf(stderr, "tally: %s\n", err);
            return TALLY_EXIT_ERROR;
        }
    }
    printf("product analytics: enabled in %s\n", app->prefs.path);
    tally_telemetry_t t = tally_telemetry_from_env(true);
    if (t != TALLY_TELEMETRY_ON) {
        printf("note: %s, which still turns them off\n", tally_telemetry_reason(t));
        return TALLY_EXIT_OK;
    }
    json_t *ev = was_on ? NULL : marker(app, "telemetry.enabled");
    if (ev == NULL)
        return TALLY_EXIT_OK;
    json_t *events = json_array();
    json_array_append_new(events, ev);
    int rc = tally_app_send(app, TALLY_KIND_PRODUCT, events);
    json_decref(events);
    /* The choice is saved; the marker is spooled if it could not go. */
    return rc == TALLY_EXIT_DEFERRED ? TALLY_EXIT_OK : rc;
}

/* The choice is saved first, so it holds even if the marker hangs. The
 * marker (telemetry.disabled: "once and last", so opt-out rates are known)
 * is sent once, best effort, never spooled: nothing may go out later. It
 * is not sent when DO_NOT_TRACK or TALLY_TELEMETRY=0 already opt out. */
static int disable(tally_app_t *app)
{
    char err[512];
    bool was_on = tally_app_product_allowed(app, NULL);
    if (!app->s->dry_run) {
        tally_prefs_set_telemetry(&app->prefs, false);
        if (tally_prefs_save(&app->prefs, err, sizeof err) != 0) {
            fprintf(stderr, "tally: %s\n", err);
            return TALLY_EXIT_ERROR;
        }
        tally_app_discard_product(app);
    }
    printf("product analytics: disabled in %s\n", app->prefs.path);
    json_t *ev = was_on ? marker(app, "telemetry.disabled") : NULL;
    if (ev == NULL)
        return TALLY_EXIT_OK;
    json_t *batch = json_array();
    json_array_append_new(batch, ev);
    char *body = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    if (body == NULL)
        abort();
    if (app->s->dry_run) {
        tally_transport_print_request(stdout, app->s->gateway, tally_kind_path(TALLY_KIND_PRODUCT), NULL, body,
                                      strlen(body));
    } else {
        tally_response_t resp;
        int sent = tally_transport_post(app->transport, tally_kind_path(TALLY_KIND_PRODUCT), NULL, NULL, body,
                                        strlen(body), &resp);
        if (app->s->verbose)
            fprintf(stderr, "tally: telemetry.disabled %s (%s)\n",
                    sent == 0 && resp.status == 202 ? "recorded" : "not recorded, and not retried",
                    sent == 0 ? "answered" : resp.error);
        tally_response_clear(&resp);
    }
    free(body);
    return TALLY_EXIT_OK;
}

int tally_cmd_telemetry(tally_app_t *app, size_t argc, const char *const argv[])
{
    if (argc != 1) {
        fprintf(stderr, "tally telemetry: expected status, enable or disable\n");
        return TALLY_EXIT_USAGE;
    }
    int rc = tally_app_load_prefs(app);
    if (rc != TALLY_EXIT_OK)
        return rc;
    if (strcmp(argv[0], "status") == 0)
        return status(app);
    if (strcmp(argv[0], "enable") == 0)
        return enable(app);
    if (strcmp(argv[0], "disable") == 0)
        return disable(app);
    fprintf(stderr, "tally telemetry: unknown \"%.40s\": expected status, enable or disable\n", argv[0]);
    return TALLY_EXIT_USAGE;
}
