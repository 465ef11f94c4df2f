/* The foundation end to end on the real services: a UsageReport encoded
 * with the codec, produced to the local Kafka broker (idempotent, acks=all),
 * consumed (read_committed) and decoded, written to PostgreSQL together with
 * its offset in one transaction, and read back equal. */
#include "codec.h"
#include "fixtures.h"
#include "kafka.h"
#include "pg.h"
#include "pg_migrate.h"
#include "schema_catalog.h"

#include "avro_fields.h"
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char tenant_id[64], environment_id[64], reporter_id[40];
    int64_t reporter_started_at, seq, observed_at, api_calls, status_4xx, status_5xx, exec_ms;
} report_t;

static void get_string(avro_value_t *rec, const char *field, char *out, size_t size)
{
    avro_value_t f;
    const char *s;
    size_t n;
    cr_assert_eq(avro_value_get_by_name(rec, field, &f, NULL), 0, "%s", field);
    cr_assert_eq(avro_value_get_string(&f, &s, &n), 0, "%s", field);
    snprintf(out, size, "%s", s);
}

static int64_t get_long(avro_value_t *rec, const char *field)
{
    avro_value_t f;
    int64_t v;
    cr_assert_eq(avro_value_get_by_name(rec, field, &f, NULL), 0, "%s", field);
    cr_assert_eq(avro_value_get_long(&f, &v), 0, "%s", field);
    return v;
}

static void assert_reports_equal(const report_t *a, const report_t *b)
{
    cr_assert_str_eq(a->tenant_id, b->tenant_id);
    cr_assert_str_eq(a->environment_id, b->environment_id);
    cr_assert_str_eq(a->reporter_id, b->reporter_id);
    cr_assert_eq(a->reporter_started_at, b->reporter_started_at);
    cr_assert_eq(a->seq, b->seq);
    cr_assert_eq(a->observed_at, b->observed_at);
    cr_assert_eq(a->api_calls, b->api_calls);
    cr_assert_eq(a->status_4xx, b->status_4xx);
    cr_assert_eq(a->status_5xx, b->status_5xx);
    cr_assert_eq(a->exec_ms, b->exec_ms);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    *(rd_kafka_resp_err_t *)m->_private = m->err;
}

Test(usage_roundtrip, report_travels_kafka_and_postgres_unchanged, .timeout = 120)
{
    char err[1024], topic[128], group[128], db[128];
    const report_t sent = {
        .tenant_id = "tenant-acme", .environment_id = "env-prod-1",
        .reporter_id = "2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d",
        .reporter_started_at = 1714550400000, .seq = 42, .observed_at = 1714557600123,
        .api_calls = 1234567890123, .status_4xx = 321, .status_5xx = 7, .exec_ms = 98765432,
    };

    tally_catalog_t *cat = tally_catalog_load(tally_test_source_path("schemas"), err, sizeof err);
    cr_assert_not_null(cat, "%s", err);
    const tally_catalog_entry_t *schema = tally_catalog_latest(cat, "UsageReport");
    cr_assert_not_null(schema);

    /* Encode. */
    avro_value_t rec;
    cr_assert_eq(tally_codec_value_new(schema, &rec, err, sizeof err), 0, "%s", err);
    tally_test_avro_set_string(&rec, "tenant_id", sent.tenant_id);
    tally_test_avro_set_string(&rec, "environment_id", sent.environment_id);
    tally_test_avro_set_string(&rec, "reporter_id", sent.reporter_id);
    tally_test_avro_set_long(&rec, "reporter_started_at", sent.reporter_started_at);
    tally_test_avro_set_long(&rec, "seq", sent.seq);
    tally_test_avro_set_long(&rec, "observed_at", sent.observed_at);
    tally_test_avro_set_long(&rec, "api_calls", sent.api_calls);
    tally_test_avro_set_long(&rec, "status_4xx", sent.status_4xx);
    tally_test_avro_set_long(&rec, "status_5xx", sent.status_5xx);
    tally_test_avro_set_long(&rec, "exec_ms", sent.exec_ms);
    tally_encoder_t *enc = tally_encoder_new(schema);
    const void *buf;
    size_t len;
    cr_assert_eq(tally_encoder_encode(enc, &rec, &buf, &len, err, sizeof err), 0, "%s", err);

    /* Produce and wait for the broker's acknowledgement. */
    tally_test_unique_name("tally.test.roundtrip", topic, sizeof topic);
    tally_test_topic_create(topic, 3);
    rd_kafka_conf_t *conf = tally_kafka_conf_new(TALLY_KAFKA_PRODUCER, tally_test_brokers(), "roundtrip",
                                                 NULL, NULL, err, sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *producer = tally_kafka_new(TALLY_KAFKA_PRODUCER, conf, err, sizeof err);
    cr_assert_not_null(producer, "%s", err);
    rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    cr_assert_eq(rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic),
                                   RD_KAFKA_V_KEY(sent.tenant_id, strlen(sent.tenant_id)),
                                   RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_OPAQUE(&delivered), RD_KAFKA_V_END),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(tally_kafka_producer_close(producer, 30000), 0, "the record must be acknowledged");
    cr_assert_eq(delivered, RD_KAFKA_RESP_ERR_NO_ERROR, "%s", rd_kafka_err2str(delivered));

    /* Consume and decode. */
    tally_test_unique_name("tally-test-roundtrip", group, sizeof group);
    conf = tally_kafka_conf_new(TALLY_KAFKA_CONSUMER, tally_test_brokers(), "roundtrip", group, NULL, err,
                                sizeof err);
    cr_assert_not_null(conf, "%s", err);
    rd_kafka_t *consumer = tally_kafka_new(TALLY_KAFKA_CONSUMER, conf, err, sizeof err);
    cr_assert_not_null(consumer, "%s", err);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    cr_assert_eq(rd_kafka_subscribe(consumer, subs), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(subs);
    rd_kafka_message_t *msg = NULL;
    for (int i = 0; i < 60 && msg == NULL; i++) {
        msg = rd_kafka_consumer_poll(consumer, 1000);
        if (msg && msg->err) {
            rd_kafka_message_destroy(msg);
            msg = NULL;
        }
    }
    cr_assert_not_null(msg, "the record never arrived");
    cr_assert_eq(msg->len, len);
    cr_assert_eq(memcmp(msg->payload, buf, len), 0, "the bytes on the broker are the bytes produced");

    tally_decoder_t *dec = tally_decoder_new(cat, schema);
    avro_value_t *got;
    const tally_catalog_entry_t *writer;
    cr_assert_eq(tally_decoder_decode(dec, msg->payload, msg->len, &got, &writer, err, sizeof err), 0, "%s", err);
    cr_assert_eq(writer, schema);
    report_t decoded;
    memset(&decoded, 0, sizeof decoded);
    get_string(got, "tenant_id", decoded.tenant_id, sizeof decoded.tenant_id);
    get_string(got, "environment_id", decoded.environment_id, sizeof decoded.environment_id);
    get_string(got, "reporter_id", decoded.reporter_id, sizeof decoded.reporter_id);
    decoded.reporter_started_at = get_long(got, "reporter_started_at");
    decoded.seq = get_long(got, "seq");
    decoded.observed_at = get_long(got, "observed_at");
    decoded.api_calls = get_long(got, "api_calls");
    decoded.status_4xx = get_long(got, "status_4xx");
    decoded.status_5xx = get_long(got, "status_5xx");
    decoded.exec_ms = get_long(got, "exec_ms");
    assert_reports_equal(&sent, &decoded);

    /* Write it, and its offset, in one transaction; read both back. */
    PGconn *pg = tally_test_db_create("tally_test_roundtrip", db, sizeof db);
    cr_assert_eq(tally_migrate_apply(pg, tally_test_source_path("deploy/postgres/migrations"), NULL, err,
                                     sizeof err), 0, "%s", err);
    cr_assert_eq(tally_pg_exec(pg,
                               "CREATE TEMP TABLE reports (tenant_id text, environment_id text, reporter_id uuid,"
                               " reporter_started_at timestamptz, seq bigint, observed_at timestamptz,"
                               " api_calls bigint, status_4xx bigint, status_5xx bigint, exec_ms bigint)",
                               err, sizeof err), 0, "%s", err);
    char v[10][64];
    snprintf(v[0], 64, "%s", decoded.tenant_id);
    snprintf(v[1], 64, "%s", decoded.environment_id);
    snprintf(v[2], 64, "%s", decoded.reporter_id);
    snprintf(v[3], 64, "%" PRId64, decoded.reporter_started_at);
    snprintf(v[4], 64, "%" PRId64, decoded.seq);
    snprintf(v[5], 64, "%" PRId64, decoded.observed_at);
    snprintf(v[6], 64, "%" PRId64, decoded.api_calls);
    snprintf(v[7], 64, "%" PRId64, decoded.status_4xx);
    snprintf(v[8], 64, "%" PRId64, decoded.status_5xx);
    snprintf(v[9], 64, "%" PRId64, decoded.exec_ms);
    const char *params[14];
    for (int i = 0; i < 10; i++)
        params[i] = v[i];
    char part[16], next[32];
    snprintf(part, sizeof part, "%" PRId32, msg->partition);
    snprintf(next, sizeof next, "%" PRId64, msg->offset + 1);
    params[10] = group;
    params[11] = topic;
    params[12] = part;
    params[13] = next;
    cr_assert_eq(tally_pg_exec(pg, "BEGIN", err, sizeof err), 0, "%s", err);
    PGresult *res = PQexecParams(pg,
        "WITH r AS (INSERT INTO reports VALUES ($1, $2, $3, to_timestamp($4::bigint / 1000.0), $5,"
        " to_timestamp($6::bigint / 1000.0), $7, $8, $9, $10))"
        " INSERT INTO tally.kafka_offsets (consumer_group, topic, partition, next_offset)"
        " VALUES ($11, $12, $13, $14)",
        14, NULL, params, NULL, NULL, 0);
    cr_assert_eq(tally_pg_check(res, pg, err, sizeof err), 0, "%s", err);
    PQclear(res);
    cr_assert_eq(tally_pg_exec(pg, "COMMIT", err, sizeof err), 0, "%s", err);

    res = PQexec(pg, "SELECT tenant_id, environment_id, reporter_id::text,"
                     " (extract(epoch FROM reporter_started_at) * 1000)::bigint, seq,"
                     " (extract(epoch FROM observed_at) * 1000)::bigint, api_calls, status_4xx, status_5xx, exec_ms"
                     " FROM reports");
    cr_assert_eq(tally_pg_check(res, pg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(PQntuples(res), 1);
    report_t stored;
    memset(&stored, 0, sizeof stored);
    snprintf(stored.tenant_id, sizeof stored.tenant_id, "%s", PQgetvalue(res, 0, 0));
    snprintf(stored.environment_id, sizeof stored.environment_id, "%s", PQgetvalue(res, 0, 1));
    snprintf(stored.reporter_id, sizeof stored.reporter_id, "%s", PQgetvalue(res, 0, 2));
    stored.reporter_started_at = atoll(PQgetvalue(res, 0, 3));
    stored.seq = atoll(PQgetvalue(res, 0, 4));
    stored.observed_at = atoll(PQgetvalue(res, 0, 5));
    stored.api_calls = atoll(PQgetvalue(res, 0, 6));
    stored.status_4xx = atoll(PQgetvalue(res, 0, 7));
    stored.status_5xx = atoll(PQgetvalue(res, 0, 8));
    stored.exec_ms = atoll(PQgetvalue(res, 0, 9));
    PQclear(res);
    assert_reports_equal(&sent, &stored);

    res = PQexec(pg, "SELECT next_offset FROM tally.kafka_offsets");
    cr_assert_eq(tally_pg_check(res, pg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(PQntuples(res), 1);
    cr_assert_eq(atoll(PQgetvalue(res, 0, 0)), msg->offset + 1);
    PQclear(res);

    tally_test_db_drop(pg, db);
    rd_kafka_message_destroy(msg);
    tally_kafka_consumer_close(consumer);
    tally_decoder_free(dec);
    tally_encoder_free(enc);
    avro_value_decref(&rec);
    tally_catalog_free(cat);
}
