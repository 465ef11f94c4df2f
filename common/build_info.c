#include "build_info.h"

#include "log.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>

const char *tally_build_info_librdkafka(void)
{
    return rd_kafka_version_str();
}

void tally_build_info_announce(const char *component, const char *program, tally_metrics_t *metrics)
{
    const char *rdk = tally_build_info_librdkafka();
    tally_log_info(component, "%s %s starting (librdkafka %s)", program, TALLY_VERSION, rdk);
    if (rd_kafka_version() < TALLY_LIBRDKAFKA_MIN_VERSION)
        tally_log_warn(component,
                       "librdkafka %s is older than 2.12: it lacks fixes this engine relies on "
                       "(cooperative close hang, duplicate fetch after resume, header double free); "
                       "deploy/librdkafka.sh builds the release Tally is tested with",
                       rdk);
    /* The header's release decides struct layouts and constants compiled in:
     * a library of another release at run time is a broken installation. */
    if (rd_kafka_version() != RD_KAFKA_VERSION)
        tally_log_warn(component, "librdkafka %s at run time, but built against the headers of 0x%08x", rdk,
                       (unsigned)RD_KAFKA_VERSION);
    if (metrics != NULL) {
        char labels[160];
        snprintf(labels, sizeof labels, "version=\"%s\",librdkafka=\"%s\"", TALLY_VERSION, rdk);
        tally_metric_set(tally_metrics_get(metrics, TALLY_METRIC_GAUGE, "tally_build_info",
                                           "Tally's version and the librdkafka it runs with (always 1)", labels,
                                           NULL, 0),
                         1);
    }
}
