/* tally-telemetry-doc: writes docs/telemetry.md, the page a customer reads,
 * from the schema catalog, the product-event catalog and topics.conf, so it
 * can never drift from what the code collects. `make telemetry-doc`
 * regenerates it; tests check the checked-in page is current. */
#include "config.h"
#include "event_catalog.h"
#include "kafka_topics.h"
#include "schema_catalog.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *schemas, *catalog, *topics, *output;
} doc_settings_t;

static const char *type_name(const json_t *t, char *buf, size_t size)
{
    if (json_is_string(t))
        return json_string_value(t);
    if (json_is_array(t)) {
        /* ["null", T]: optional T */
        const json_t *other = NULL;
        size_t i;
        json_t *b;
        int has_null = 0;
        json_array_foreach(t, i, b) {
            if (json_is_string(b) && strcmp(json_string_value(b), "null") == 0)
                has_null = 1;
            else
                other = b;
        }
        if (has_null && json_array_size(t) == 2) {
            char inner[128];
            snprintf(buf, size, "optional %s", type_name(other, inner, sizeof inner));
            return buf;
        }
        return "one of several records";
    }
    const char *logical = json_string_value(json_object_get(t, "logicalType"));
    const char *type = json_string_value(json_object_get(t, "type"));
    if (logical && strcmp(logical, "timestamp-millis") == 0)
        return "timestamp";
    if (logical && strcmp(logical, "date") == 0)
        return "date";
    if (logical && strcmp(logical, "uuid") == 0)
        return "random id (UUID)";
    if (type && strcmp(type, "enum") == 0) {
        size_t n = (size_t)snprintf(buf, size, "one of");
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(t, "symbols"), i, s)
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s %s", i ? "," : "", json_string_value(s));
        return buf;
    }
    if (type && strcmp(type, "map") == 0)
        return "text properties";
    if (type && strcmp(type, "array") == 0)
        return "list";
    if (type && strcmp(type, "record") == 0)
        return json_string_value(json_object_get(t, "name"));
    return type ? type : "?";
}

static void fields_table(FILE *out, const tally_catalog_t *cat, const char *name)
{
    const tally_catalog_entry_t *e = tally_catalog_latest(cat, name);
    if (e == NULL) {
        fprintf(out, "(schema %s not found)\n\n", name);
        return;
    }
    fprintf(out, "%s\n\n| field | kind | what it is |\n| --- | --- | --- |\n",
            json_string_value(json_object_get(e->json, "doc")) ? json_string_value(json_object_get(e->json, "doc")) : "");
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(e->json, "fields"), i, f) {
        char buf[256];
        const char *doc = json_string_value(json_object_get(f, "doc"));
        fprintf(out, "| `%s` | %s | %s |\n", json_string_value(json_object_get(f, "name")),
                type_name(json_object_get(f, "type"), buf, sizeof buf), doc ? doc : "");
    }
    fprintf(out, "\n");
    /* A union of records (the Control Panel's payload): each record's fields. */
    json_array_foreach(json_object_get(e->json, "fields"), i, f) {
        json_t *t = json_object_get(f, "type");
        if (!json_is_array(t) || json_array_size(t) < 3)
            continue;
        size_t k;
        json_t *rec;
        json_array_foreach(t, k, rec) {
            if (!json_is_object(rec))
                continue;
            fprintf(out, "`%s.%s`:", json_string_value(json_object_get(f, "name")),
                    json_string_value(json_object_get(rec, "name")));
            size_t j;
            json_t *rf;
            json_array_foreach(json_object_get(rec, "fields"), j, rf) {
                char buf[256];
                const char *doc = json_string_value(json_object_get(rf, "doc"));
                fprintf(out, "%s `%s` (%s%s%s)", j ? "," : "", json_string_value(json_object_get(rf, "name")),
                        type_name(json_object_get(rf, "type"), buf, sizeof buf), doc ? ": " : "", doc ? doc : "");
            }
            fprintf(out, ".\n\n");
        }
    }
}

static void retention(FILE *out, const tally_topic_list_t *topics, const char *name, const char *what)
{
    for (size_t i = 0; i < topics->count; i++) {
        const tally_topic_spec_t *t = &topics->topics[i];
        if (strcmp(t->name, name) != 0)
            continue;
        if (t->retention_ms < 0)
            fprintf(out, "| %s | `%s` | kept for the contract's audit period (no automatic expiry)%s |\n", what, name,
                    strcmp(t->cleanup_policy, "compact") == 0 ? ", latest value per key" : "");
        else if (t->retention_ms < 86400000LL * 2)
            fprintf(out, "| %s | `%s` | %lld hours |\n", what, name, t->retention_ms / 3600000);
        else
            fprintf(out, "| %s | `%s` | %lld days |\n", what, name, t->retention_ms / 86400000);
    }
}

static void write_doc(FILE *out, const tally_catalog_t *cat, const tally_event_catalog_t *ev,
                      const tally_topic_list_t *topics)
{
    fprintf(out,
            "<!-- Generated by tally-telemetry-doc from schemas/, schemas/product-events.json and\n"
            "     deploy/kafka/topics.conf. Do not edit: run `cmake --build build --target telemetry-doc`. -->\n"
            "# What Tally collects, and why\n\n"
            "Tally carries three kinds of data from your CMS to the vendor's Control Panel. Nothing goes to\n"
            "third parties. Client IP addresses, secrets and free text that carries personal data never reach\n"
            "a stored topic or table.\n\n"
            "| data | sources | optional? |\n| --- | --- | --- |\n"
            "| Product analytics | the CMS command-line tool (CLI) and the Admin app | **optional**: opt out any time |\n"
            "| Usage analytics | every running CMS API | mandatory: it checks the contract (API calls, seats) |\n"
            "| Accounts and environments | the Control Panel | mandatory: it runs your account |\n\n"
            "## How to opt out of product analytics\n\n"
            "Any one of these stops product analytics; nothing is sent at all:\n\n"
            "- set `DO_NOT_TRACK=1` in the environment (the common convention);\n"
            "- set `TALLY_TELEMETRY=0` in the environment;\n"
            "- run `tally telemetry disable` (kept in `~/.config/tally/`; `tally telemetry status` shows it);\n"
            "- ask the vendor to put your project on the server-side opt-out list: the gateway then drops\n"
            "  every product event of the project on arrival.\n\n"
            "Usage analytics and account data are part of the contract and cannot be turned off; they are\n"
            "kept as counts only.\n\n"
            "## Product analytics (optional)\n\n"
            "### Events\n\n"
            "Only these events exist; the gateway refuses any other name. Each may carry only the properties\n"
            "listed for it; any other property is dropped before storage.\n\n");
    for (size_t i = 0; i < tally_event_catalog_count(ev); i++) {
        int e = (int)i;
        fprintf(out, "#### `%s`\n\n%s\n\nSent by: %s%s%s.\n\n", tally_event_catalog_name(ev, e),
                tally_event_catalog_purpose(ev, e),
                tally_event_catalog_source_allowed(ev, e, TALLY_SOURCE_CLI) ? "the CLI" : "",
                tally_event_catalog_source_allowed(ev, e, TALLY_SOURCE_CLI) &&
                        tally_event_catalog_source_allowed(ev, e, TALLY_SOURCE_ADMIN) ? " and " : "",
                tally_event_catalog_source_allowed(ev, e, TALLY_SOURCE_ADMIN) ? "the Admin app" : "");
        size_t np = tally_event_catalog_property_count(ev, e);
        if (np == 0) {
            fprintf(out, "Properties: none.\n\n");
            continue;
        }
        fprintf(out, "| property | why |\n| --- | --- |\n");
        for (size_t p = 0; p < np; p++)
            fprintf(out, "| `%s` | %s |\n", tally_event_catalog_property_name(ev, e, p),
                    tally_event_catalog_property_purpose(ev, e, p));
        fprintf(out, "\n");
    }
    fprintf(out, "### Fields of every product event, as sent\n\n");
    fields_table(out, cat, "ProductEvent");
    fprintf(out,
            "### What is kept\n\n"
            "Before anything is stored, the anonymizer replaces `install_id` and `project_id` with keyed\n"
            "pseudonyms (they cannot be turned back into the ids without the vendor's secret key), keeps only\n"
            "the scheme and host of URLs, and removes e-mail addresses, IP addresses, user names in home\n"
            "folders, tokens, keys and passwords from error messages and property values.\n\n");
    fields_table(out, cat, "ProductEventClean");
    fprintf(out, "## Usage analytics (mandatory)\n\n### API usage reports\n\n");
    fields_table(out, cat, "UsageReport");
    fprintf(out, "### User seats\n\n");
    fields_table(out, cat, "SeatEvent");
    fprintf(out, "The user id is replaced by a keyed pseudonym before storage:\n\n");
    fields_table(out, cat, "SeatEventClean");
    fprintf(out, "### What the Control Panel shows\n\nDaily totals per environment and seats per day:\n\n");
    fields_table(out, cat, "ApiUsageRollup");
    fields_table(out, cat, "SeatRollup");
    fprintf(out, "## Accounts and environments (mandatory)\n\n");
    fields_table(out, cat, "ControlPanelEvent");
    fprintf(out,
            "Team members' names and e-mail addresses are kept only in the Control Panel's own tables, never\n"
            "in analytics.\n\n"
            "## How long data is kept\n\n| data | topic | kept |\n| --- | --- | --- |\n");
    retention(out, topics, "tally.product.raw", "Product events before anonymization");
    retention(out, topics, "tally.usage.raw", "Usage and seats before anonymization");
    retention(out, topics, "tally.product", "Anonymized product events");
    retention(out, topics, "tally.usage", "Anonymized usage reports and seat events");
    retention(out, topics, "tally.rollups", "Daily usage totals");
    retention(out, topics, "tally.controlpanel", "Account and environment changes");
    retention(out, topics, "tally.dlq", "Records that could not be processed (without their content)");
}

int main(int argc, char **argv)
{
    doc_settings_t s = {0};
    const tally_config_option_t options[] = {
        TALLY_CONFIG_STR("schemas", &s.schemas, "schemas", "the schema catalog folder"),
        TALLY_CONFIG_STR("catalog", &s.catalog, "schemas/product-events.json", "the product-event catalog"),
        TALLY_CONFIG_STR("topics", &s.topics, "deploy/kafka/topics.conf", "the topics file (for retention)"),
        TALLY_CONFIG_STR("output", &s.output, "-", "where to write the page (- for stdout)"),
    };
    char err[1024];
    int rc = 1;
    tally_catalog_t *cat = NULL;
    tally_event_catalog_t *ev = NULL;
    tally_topic_list_t topics = {0};
    tally_config_t *cfg = tally_config_new("tally-telemetry-doc", TALLY_VERSION,
                                           "Writes the customer-facing telemetry page from the catalogs.", options,
                                           sizeof options / sizeof options[0]);
    int prc = tally_config_parse(cfg, argc, argv, err, sizeof err);
    if (prc > 0) {
        rc = 0;
        goto cleanup;
    }
    if (prc < 0) {
        fprintf(stderr, "tally-telemetry-doc: %s\n", err);
        rc = 2;
        goto cleanup;
    }
    if ((cat = tally_catalog_load(s.schemas, err, sizeof err)) == NULL ||
        (ev = tally_event_catalog_load(s.catalog, err, sizeof err)) == NULL ||
        tally_topics_load(s.topics, &topics, err, sizeof err) != 0) {
        fprintf(stderr, "tally-telemetry-doc: %s\n", err);
        goto cleanup;
    }
    FILE *out = strcmp(s.output, "-") == 0 ? stdout : fopen(s.output, "w");
    if (out == NULL) {
        fprintf(stderr, "tally-telemetry-doc: cannot write %s\n", s.output);
        goto cleanup;
    }
    write_doc(out, cat, ev, &topics);
    if (out != stdout && fclose(out) != 0) {
        fprintf(stderr, "tally-telemetry-doc: cannot write %s\n", s.output);
        goto cleanup;
    }
    rc = 0;
cleanup:
    tally_topics_free(&topics);
    tally_event_catalog_free(ev);
    tally_catalog_free(cat);
    tally_config_free(cfg);
    return rc;
}
