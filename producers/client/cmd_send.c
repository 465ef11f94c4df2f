/* tally send KIND [JSON...] */
#include "commands.h"

#include "fsutil.h"
#include "input.h"
#include "kinds.h"
#include "telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads every event of the arguments (or stdin) into events. 0 or -1. */
static int read_events(size_t argc, const char *const argv[], json_t *events)
{
    char err[512], origin[32];
    bool from_stdin = argc == 0;
    for (size_t i = 0; i < argc; i++)
        if (strcmp(argv[i], "-") == 0)
            from_stdin = true;
    for (size_t i = 0; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0)
            continue;
        snprintf(origin, sizeof origin, "argument %zu", i + 1);
        if (tally_input_parse(argv[i], strlen(argv[i]), origin, events, err, sizeof err) != 0) {
            fprintf(stderr, "tally send: %s\n", err);
            return -1;
        }
    }
    if (from_stdin) {
        char *text = NULL;
        size_t len = 0;
        if (isatty(STDIN_FILENO))
            fprintf(stderr, "tally send: reading events from stdin (end with Ctrl-D)\n");
        if (tally_fs_read_fd(STDIN_FILENO, TALLY_INPUT_MAX, &text, &len, err, sizeof err) != 0 ||
            tally_input_parse(text, len, "stdin", events, err, sizeof err) != 0) {
            fprintf(stderr, "tally send: %s\n", err);
            free(text);
            return -1;
        }
        free(text);
    }
    return 0;
}

/* The first-run notice, once; and this installation's id. */
static void first_run(tally_app_t *app, tally_fill_t *fill)
{
    char err[512];
    bool changed = false;
    if (!tally_prefs_notice_shown(&app->prefs)) {
        fputs(tally_telemetry_notice(), stderr);
        tally_prefs_set_notice_shown(&app->prefs, tally_app_now(app));
        changed = true;
    }
    fill->install_id = tally_prefs_install_id(&app->prefs);
    if (fill->install_id == NULL) {
        fill->install_id = tally_prefs_new_install_id(&app->prefs);
        fill->new_user = true;
        changed = true;
    }
    /* --dry-run changes nothing: the notice shows again next time. */
    if (changed && !app->s->dry_run && tally_prefs_save(&app->prefs, err, sizeof err) != 0)
        fprintf(stderr, "tally: warning: %s (the notice will show again)\n", err);
}

int tally_cmd_send(tally_app_t *app, size_t argc, const char *const argv[])
{
    char err[512];
    tally_kind_t kind;
    int rc = TALLY_EXIT_USAGE;
    if (argc < 1) {
        fprintf(stderr, "tally send: which kind? product, usage, seat or controlpanel (see --help)\n");
        return TALLY_EXIT_USAGE;
    }
    if (tally_kind_parse(argv[0], &kind) != 0) {
        fprintf(stderr, "tally send: unknown kind \"%.40s\": expected product, usage, seat or controlpanel\n",
                argv[0]);
        return TALLY_EXIT_USAGE;
    }
    json_t *events = json_array();
    if (read_events(argc - 1, argv + 1, events) != 0)
        goto cleanup;
    tally_credential_t cred = tally_kind_credential(kind);
    if (cred == TALLY_CREDENTIAL_API_KEY && app->deliver.api_key == NULL) {
        fprintf(stderr, "tally send %s: needs the environment's API key: --api-key or TALLY_API_KEY\n",
                tally_kind_name(kind));
        goto cleanup;
    }
    if (cred == TALLY_CREDENTIAL_ADMIN_TOKEN && app->deliver.admin_token == NULL) {
        fprintf(stderr, "tally send %s: needs the Control Panel admin token: --admin-token or TALLY_ADMIN_TOKEN\n",
                tally_kind_name(kind));
        goto cleanup;
    }
    tally_fill_t fill = {.now_ms = tally_app_now(app), .ci = tally_kind_detect_ci()};
    bool allowed = true;
    const char *why = "";
    if (kind == TALLY_KIND_PRODUCT) {
        if ((rc = tally_app_load_prefs(app)) != TALLY_EXIT_OK)
            goto cleanup;
        rc = TALLY_EXIT_USAGE;
        allowed = tally_app_product_allowed(app, &why);
    }
    /* Checked even when nothing will be sent: a script learns of bad input
     * whatever the user's choice. */
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev) {
        if (tally_kind_prepare(kind, ev, &fill, err, sizeof err) != 0) {
            fprintf(stderr, "tally send %s: event %zu: %s\n", tally_kind_name(kind), i + 1, err);
            goto cleanup;
        }
    }
    if (!allowed) {
        if (app->s->verbose || app->s->dry_run)
            fprintf(stderr, "tally: product analytics are off (%s): nothing %s\n", why,
                    app->s->dry_run ? "would be sent" : "sent");
        if (!app->s->dry_run)
            tally_app_discard_product(app);
        rc = TALLY_EXIT_OK;
        goto cleanup;
    }
    if (kind == TALLY_KIND_PRODUCT) {
        first_run(app, &fill);
        json_array_foreach(events, i, ev) {
            if (json_object_get(ev, "install_id") == NULL) {
                json_object_set_new(ev, "install_id", json_string(fill.install_id));
                if (json_object_get(ev, "new_user") == NULL)
                    json_object_set_new(ev, "new_user", json_boolean(fill.new_user));
            }
        }
    }
    rc = tally_app_send(app, kind, events);
cleanup:
    json_decref(events);
    return rc;
}
