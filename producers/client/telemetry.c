#include "telemetry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Set and not a "no" value: DO_NOT_TRACK=1, =true, =yes all opt out. */
static bool says_yes(const char *v)
{
    return v != NULL && *v != '\0' && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 &&
           strcasecmp(v, "no") != 0 && strcasecmp(v, "off") != 0;
}

static bool says_no(const char *v)
{
    return v != NULL && (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
                         strcasecmp(v, "off") == 0);
}

tally_telemetry_t tally_telemetry_decide(const char *do_not_track, const char *tally_telemetry, bool config_enabled)
{
    if (says_yes(do_not_track))
        return TALLY_TELEMETRY_OFF_DO_NOT_TRACK;
    if (says_no(tally_telemetry))
        return TALLY_TELEMETRY_OFF_ENV;
    if (!config_enabled)
        return TALLY_TELEMETRY_OFF_CONFIG;
    return TALLY_TELEMETRY_ON;
}

tally_telemetry_t tally_telemetry_from_env(bool config_enabled)
{
    return tally_telemetry_decide(getenv("DO_NOT_TRACK"), getenv("TALLY_TELEMETRY"), config_enabled);
}

const char *tally_telemetry_reason(tally_telemetry_t t)
{
    switch (t) {
    case TALLY_TELEMETRY_OFF_DO_NOT_TRACK:
        return "DO_NOT_TRACK is set";
    case TALLY_TELEMETRY_OFF_ENV:
        return "TALLY_TELEMETRY=0 is set";
    case TALLY_TELEMETRY_OFF_CONFIG:
        return "disabled with `tally telemetry disable`";
    case TALLY_TELEMETRY_ON:
        break;
    }
    return "";
}

const char *tally_telemetry_notice(void)
{
    return "tally: notice: this tool sends anonymous product analytics to help improve the product:\n"
           "  event names from the published event catalog (e.g. deploy.start) with the few\n"
           "  properties listed there, a random id of this installation, the tool version and\n"
           "  whether it runs in CI. Never an IP address, file contents or personal data, and\n"
           "  nothing goes to third parties. Usage reports (`send usage|seat`, `report-usage`)\n"
           "  are part of your license contract and are not affected.\n"
           "  To opt out: `tally telemetry disable`, or set DO_NOT_TRACK=1 or TALLY_TELEMETRY=0.\n"
           "  What is collected and why: docs/telemetry.md. This notice is shown once.\n";
}
