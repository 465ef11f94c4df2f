/* bench_materializer_load: the input of tests/bench/materializer.sh.
 *
 *   bench_materializer_load --brokers=B --topic=T --records=N --schemas=DIR --copy-out=FILE
 *
 * Produces N clean product events (ProductEventClean, encoded with the
 * project's codec, keyed by install like the anonymizer) to topic T, and
 * writes the very rows the materializer will write for them, in COPY text
 * format, to FILE (through the materializer's own decoder), so the script
 * can time a raw COPY of the same rows. Events vary like real ones: 2000
 * installs, 12 event names, 2 sources, 4 versions (one of them absent),
 * 3 days, a property or two, an error on one in 50. Prints one
 * "LOAD records=N bytes=B seconds=S" line.
 *
 *   bench_materializer_load --brokers=B --delete=T1,T2,...
 *
 * deletes the benchmark's topics when it is done.
 */
#include "batch.h"
#include "codec.h"
#include "inbound.h"
#include "kafka.h"
#include "schema_catalog.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int delete_topics(const char *brokers, const char *list)
{
    char err[512], names[4096];
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, brokers, "bench-materializer-admin", NULL,
                                                 NULL, err, sizeof err);
    rd_kafka_t *rk = conf ? tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err) : NULL;
    if (rk == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    snprintf(names, sizeof names, "%s", list);
    rd_kafka_DeleteTopic_t *del[16];
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(names, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
        del[n++] = rd_kafka_DeleteTopic_new(t);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, del, n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = ev && rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : 1;
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy_array(del, n);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static void set_str(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f;
    avro_value_get_by_name(rec, name, &f, NULL);
    avro_value_set_string(&f, v);
}

static void set_opt_str(avro_value_t *rec, const char *name, const char *v)
{
    avro_value_t f, b;
    avro_value_get_by_name(rec, name, &f, NULL);
    avro_value_set_branch(&f, v ? 1 : 0, &b);
    if (v)
        avro_value_set_string(&b, v);
    else
        avro_value_set_null(&b);
}

static void set_opt_bool(avro_value_t *rec, const char *name, int v)
{
    avro_value_t f, b;
    avro_value_get_by_name(rec, name, &f, NULL);
    avro_value_set_branch(&f, v < 0 ? 0 : 1, &b);
    if (v < 0)
        avro_value_set_null(&b);
    else
        avro_value_set_boolean(&b, v);
}

int main(int argc, char **argv)
{
    bench_program = "bench_materializer_load";
    char err[512];
    const char *brokers = bench_arg(argc, argv, "--brokers");
    if (bench_opt_arg(argc, argv, "--delete"))
        return delete_topics(brokers, bench_opt_arg(argc, argv, "--delete"));
    const char *topic = bench_arg(argc, argv, "--topic");
    long records = atol(bench_arg(argc, argv, "--records"));
    tally_catalog_t *cat = tally_catalog_load(bench_arg(argc, argv, "--schemas"), err, sizeof err);
    if (cat == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    FILE *out = fopen(bench_arg(argc, argv, "--copy-out"), "w");
    if (out == NULL) {
        perror("copy-out");
        return 1;
    }
    const tally_catalog_entry_t *schema = tally_catalog_latest(cat, "ProductEventClean");
    tally_encoder_t *enc = tally_encoder_new(schema);
    tally_inbound_t *in = tally_inbound_new(cat, err, sizeof err);
    tally_batch_t *batch = tally_batch_new();
    avro_value_t v, f, item;
    if (in == NULL || tally_codec_value_new(schema, &v, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, brokers, "bench-materializer-load", NULL,
                                                 NULL, err, sizeof err);
    if (conf == NULL || rd_kafka_conf_set(conf, "queue.buffering.max.messages", "1000000", err, sizeof err) != 0 ||
        rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    rd_kafka_t *rk = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static const char *const events[] = {"cli.init", "cli.deploy", "cli.login", "cli.build", "cli.dev",
                                         "cli.export", "admin.page_view", "admin.save", "admin.publish",
                                         "admin.upload", "admin.search", "admin.login"};
    static const char *const versions[] = {"5.1.0", "5.2.0", "5.2.1", NULL};
    const int64_t t0 = INT64_C(1709251200000);
    double start = bench_now_s();
    size_t bytes = 0;
    for (long i = 0; i < records; i++) {
        char id[64], install[64], project[64];
        long inst = (i * 7919) % 2000;
        snprintf(id, sizeof id, "%08lx-0000-4000-8000-%012lx", (unsigned long)(i >> 16) & 0xffffffffUL,
                 (unsigned long)i);
        snprintf(install, sizeof install, "i1.%016lx", (unsigned long)inst * 2654435761UL);
        snprintf(project, sizeof project, "p1.%016lx", (unsigned long)(inst % 300) * 40503UL);
        avro_value_reset(&v);
        set_str(&v, "event_id", id);
        avro_value_get_by_name(&v, "source", &f, NULL);
        int admin = (int)(inst % 2);
        avro_value_set_enum(&f, admin);
        set_str(&v, "event", events[admin * 6 + (int)(i % 6)]);
        avro_value_get_by_name(&v, "occurred_at", &f, NULL);
        avro_value_set_long(&f, t0 + (i % 3) * 86400000 + (i % 86400000));
        avro_value_get_by_name(&v, "received_at", &f, NULL);
        avro_value_set_long(&f, t0 + (i % 3) * 86400000 + (i % 86400000) + 250);
        set_str(&v, "install_ref", install);
        set_opt_str(&v, "project_ref", i % 4 ? project : NULL);
        set_opt_str(&v, "version", versions[inst % 4]);
        set_opt_bool(&v, "ci", (int)(i % 3 == 0));
        set_opt_bool(&v, "new_user", i % 10 ? -1 : 1);
        avro_value_get_by_name(&v, "properties", &f, NULL);
        avro_value_add(&f, "command", &item, NULL, NULL);
        avro_value_set_string(&item, events[i % 6] + 4);
        if (i % 2) {
            avro_value_add(&f, "url", &item, NULL, NULL);
            avro_value_set_string(&item, "https://cms.example.com");
        }
        avro_value_get_by_name(&v, "error", &f, NULL);
        avro_value_t b;
        avro_value_set_branch(&f, i % 50 == 0 ? 1 : 0, &b);
        if (i % 50 == 0) {
            set_str(&b, "message", "ENOENT: no such file or directory, open '[REDACTED:home]/cms.config.js'");
            set_opt_str(&b, "stack", "at Object.openSync (node:fs:601:3)\n    at load (cli.js:12:9)");
        } else {
            avro_value_set_null(&b);
        }
        const void *buf;
        size_t len;
        if (tally_encoder_encode(enc, &v, &buf, &len, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        bytes += len;
        const char *error;
        if (tally_inbound_add(in, batch, TALLY_ROLE_PRODUCT, 0, i, buf, len, &error, err, sizeof err) != 0) {
            fprintf(stderr, "record %ld: %s: %s\n", i, error, err);
            return 1;
        }
        if (batch->product_rows.len > (1 << 20)) {
            fwrite(batch->product_rows.data, 1, batch->product_rows.len, out);
            tally_batch_reset(batch);
        }
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                                      RD_KAFKA_V_KEY(install, strlen(install)),
                                                      RD_KAFKA_V_VALUE((void *)buf, len),
                                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 10);
                continue;
            }
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
                fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    fwrite(batch->product_rows.data, 1, batch->product_rows.len, out);
    fclose(out);
    int left = tally_kafka_producer_close(rk, 120000);
    printf("LOAD records=%ld bytes=%zu seconds=%.2f\n", records, bytes, bench_now_s() - start);
    avro_value_decref(&v);
    tally_encoder_free(enc);
    tally_inbound_free(in);
    tally_batch_free(batch);
    tally_catalog_free(cat);
    return left == 0 ? 0 : 1;
}
