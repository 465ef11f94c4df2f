/* producers/client/telemetry and prefs: any one of DO_NOT_TRACK,
 * TALLY_TELEMETRY=0 and the config file turns product analytics off; the
 * notice says what is collected and how to opt out; the config file keeps
 * the choice, the install id and the notice, and keys it does not know. */
#include "prefs.h"
#include "telemetry.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

Test(telemetry, any_switch_turns_analytics_off)
{
    cr_assert_eq(tally_telemetry_decide(NULL, NULL, true), TALLY_TELEMETRY_ON);
    cr_assert_eq(tally_telemetry_decide("1", NULL, true), TALLY_TELEMETRY_OFF_DO_NOT_TRACK);
    cr_assert_eq(tally_telemetry_decide("true", NULL, true), TALLY_TELEMETRY_OFF_DO_NOT_TRACK);
    cr_assert_eq(tally_telemetry_decide(NULL, "0", true), TALLY_TELEMETRY_OFF_ENV);
    cr_assert_eq(tally_telemetry_decide(NULL, "false", true), TALLY_TELEMETRY_OFF_ENV);
    cr_assert_eq(tally_telemetry_decide(NULL, "OFF", true), TALLY_TELEMETRY_OFF_ENV);
    cr_assert_eq(tally_telemetry_decide(NULL, NULL, false), TALLY_TELEMETRY_OFF_CONFIG);
    cr_assert_eq(tally_telemetry_decide("1", "0", false), TALLY_TELEMETRY_OFF_DO_NOT_TRACK, "the first reason wins");
}

Test(telemetry, saying_yes_does_not_override_an_opt_out)
{
    cr_assert_eq(tally_telemetry_decide("0", NULL, true), TALLY_TELEMETRY_ON, "DO_NOT_TRACK=0 means track");
    cr_assert_eq(tally_telemetry_decide("", NULL, true), TALLY_TELEMETRY_ON);
    cr_assert_eq(tally_telemetry_decide(NULL, "1", false), TALLY_TELEMETRY_OFF_CONFIG,
                 "TALLY_TELEMETRY=1 does not undo `telemetry disable`");
}

Test(telemetry, reasons_and_notice)
{
    cr_assert_str_eq(tally_telemetry_reason(TALLY_TELEMETRY_ON), "");
    cr_assert_not_null(strstr(tally_telemetry_reason(TALLY_TELEMETRY_OFF_DO_NOT_TRACK), "DO_NOT_TRACK"));
    const char *n = tally_telemetry_notice();
    cr_assert_not_null(strstr(n, "tally telemetry disable"));
    cr_assert_not_null(strstr(n, "DO_NOT_TRACK=1"));
    cr_assert_not_null(strstr(n, "TALLY_TELEMETRY=0"));
    cr_assert_not_null(strstr(n, "IP address"));
    cr_assert_eq(n[strlen(n) - 1], '\n');
}

Test(telemetry, prefs_round_trip_and_keep_unknown_keys)
{
    char dir[64], path[256], err[256];
    snprintf(dir, sizeof dir, "/tmp/tally-test-prefs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char sub[128];
    snprintf(sub, sizeof sub, "%s/tally", dir);
    tally_prefs_t p;
    cr_assert_eq(tally_prefs_load(&p, sub, err, sizeof err), 0, "a missing file is an empty one");
    cr_assert(tally_prefs_telemetry_enabled(&p), "on by default");
    cr_assert_null(tally_prefs_install_id(&p));
    cr_assert_not(tally_prefs_notice_shown(&p));
    const char *id = tally_prefs_new_install_id(&p);
    char saved_id[64];
    snprintf(saved_id, sizeof saved_id, "%s", id);
    tally_prefs_set_telemetry(&p, false);
    tally_prefs_set_notice_shown(&p, 1767225600000);
    json_object_set_new(p.doc, "from_a_newer_version", json_string("kept"));
    cr_assert_eq(tally_prefs_save(&p, err, sizeof err), 0, "%s", err);
    tally_prefs_clear(&p);

    snprintf(path, sizeof path, "%s/config.json", sub);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "private to the user");
    cr_assert_eq(tally_prefs_load(&p, sub, err, sizeof err), 0);
    cr_assert_not(tally_prefs_telemetry_enabled(&p));
    cr_assert_str_eq(tally_prefs_install_id(&p), saved_id);
    cr_assert(tally_prefs_notice_shown(&p));
    cr_assert_eq(tally_prefs_save(&p, err, sizeof err), 0);
    tally_prefs_clear(&p);
    cr_assert_eq(tally_prefs_load(&p, sub, err, sizeof err), 0);
    cr_assert_str_eq(json_string_value(json_object_get(p.doc, "from_a_newer_version")), "kept");
    tally_prefs_clear(&p);

    FILE *f = fopen(path, "w");
    fputs("[1,2]", f);
    fclose(f);
    cr_assert_eq(tally_prefs_load(&p, sub, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "config.json"), "names the file: %s", err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}
