/* tally-gateway against hostile and broken clients: a corpus of malformed
 * requests (bad JSON and UTF-8, deep nesting, huge bodies, gzip bombs, wrong
 * media types and encodings, schema and rule violations, bad credentials,
 * wrong routes and methods) sent with libcurl (protocol abuse on raw
 * sockets is test_gateway_hostile_raw.c's). Each answer must carry the
 * exact status and, when the gateway itself answers, a JSON
 * {"error","detail"} body that never echoes the offending value. At the
 * end, against the same gateway: nothing reached any of its three topics,
 * and its log holds no secret, no marker and no client address
 * (hostile_fixture.h). */
#define _GNU_SOURCE /* strcasestr */
#include "gateway_fixture.h"
#include "textbuf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "hostile_bodies.h"
#include "hostile_fixture.h"

TestSuite(gateway_hostile, .timeout = 600);

typedef struct {
    const char *name;
    const char *method;      /* NULL: POST */
    const char *path;        /* a template */
    const char *ctype;       /* Content-Type (a template); NULL: none at all */
    const char *encoding;    /* Content-Encoding, NULL: none */
    const char *auth;        /* Authorization value (a template), NULL: none */
    base_t base;             /* BASE_NONE: body is the whole body (a template) */
    const char *body;        /* with a base: a patch over it */
    const char *drop;        /* with a base: a field to remove */
    char *(*build)(size_t *len); /* builds the body instead */
    long status;
    const char *error;       /* the answer's "error"; NULL: no JSON body (HEAD) */
    const char *detail;      /* a substring of its "detail" */
    size_t rejected;         /* a 422: how many events it names (0: any) */
} hostile_case_t;

static const hostile_case_t cases[] = {
    /* Not JSON, or JSON jansson cannot take: the body as a whole is 400. */
    {"invalid JSON: truncated", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"%MARK%", .status = 400, .error = "malformed body",
     .detail = "invalid JSON"},
    {"invalid JSON: bare words", .path = PRODUCT, .ctype = JSON, .body = "{source: %MARK%}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid JSON: trailing garbage", .path = PRODUCT, .ctype = JSON, .body = "{\"event\":\"x\"} %MARK%",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"invalid JSON: two objects", .path = PRODUCT, .ctype = JSON, .body = "{}{}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid JSON: single quotes", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .body = "{'tenant_id':'%MARK%'}", .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: 0xC3 0x28", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xC3\x28%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: overlong '/' (0xC0 0xAF)", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xC0\xAF%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: overlong 3 bytes (0xE0 0x80 0xAF)", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xE0\x80\xAF%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: encoded surrogate (0xED 0xA0 0x80)", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xED\xA0\x80%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8: above U+10FFFF", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\xF4\x90\x80\x80%MARK%\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"invalid UTF-8 in a key", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"\xFF%MARK%\":1}", .status = 400, .error = "malformed body",
     .detail = "invalid JSON"},
    {"lone high surrogate \\ud800", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\\ud800%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"lone low surrogate \\udc00", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"install_id\":\"\\udc00%MARK%\"}", .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"NUL escape \\u0000 in a string", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,"
             "\"install_id\":\"a\\u0000%MARK%\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"raw NUL byte in a string", .path = PRODUCT, .ctype = JSON, .build = raw_nul_byte, .status = 400,
     .error = "malformed body", .detail = "invalid JSON"},
    {"raw control character in a string", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"install_id\":\"\x01%MARK%\"}", .status = 400, .error = "malformed body",
     .detail = "invalid JSON"},
    {"byte order mark", .path = PRODUCT, .ctype = JSON, .body = "\xEF\xBB\xBF{\"source\":\"CLI\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"integer beyond 64 bits", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":123456789012345678901234567890,"
             "\"install_id\":\"i\"}",
     .status = 400, .error = "malformed body", .detail = "invalid JSON"},
    {"nesting 10,000 arrays deep", .path = PRODUCT, .ctype = JSON, .build = nest_arrays, .status = 400,
     .error = "malformed body", .detail = "depth"},
    {"nesting 10,000 objects deep", .path = PRODUCT, .ctype = JSON, .build = nest_objects, .status = 400,
     .error = "malformed body", .detail = "depth"},
    {"empty body", .path = PRODUCT, .ctype = JSON, .body = "", .status = 400, .error = "malformed body",
     .detail = "empty body"},
    {"whitespace body", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .body = " \r\n\t\n ", .status = 400,
     .error = "malformed body", .detail = "empty body"},
    {"JSON string", .path = PRODUCT, .ctype = JSON, .body = "\"%MARK%\"", .status = 400,
     .error = "malformed body", .detail = "must be a JSON object"},
    {"JSON number", .path = PRODUCT, .ctype = JSON, .body = "7731", .status = 400, .error = "malformed body",
     .detail = "must be a JSON object"},
    {"JSON null", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .body = "null", .status = 400,
     .error = "malformed body", .detail = "must be a JSON object"},
    {"JSON true (text/plain beacon)", .path = PRODUCT, .ctype = "text/plain;charset=UTF-8", .body = "true",
     .status = 400, .error = "malformed body", .detail = "must be a JSON object"},
    {"empty array", .path = PRODUCT, .ctype = JSON, .body = "[]", .status = 400, .error = "malformed body",
     .detail = "empty batch"},
    {"empty array (usage)", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .body = " [ ] ", .status = 400,
     .error = "malformed body", .detail = "empty batch"},

    /* Too large: 413. */
    {"string of 10 MB", .path = PRODUCT, .ctype = JSON, .build = string_10mb, .status = 413,
     .error = "body too large", .detail = "1048576"},
    {"gzip bomb: 1 GiB of zeros", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .build = gzip_bomb_1g,
     .status = 413, .error = "body too large", .detail = "8388608"},
    {"gzip bomb: 9 MiB of JSON under max-body", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .build = gzip_bomb_9m, .status = 413, .error = "body too large", .detail = "8388608"},
    {"batch over --max-batch", .path = PRODUCT, .ctype = JSON, .build = batch_over_array, .status = 413,
     .error = "batch too large", .detail = "50"},
    {"NDJSON over --max-batch", .path = PRODUCT, .ctype = NDJSON, .build = batch_over_ndjson, .status = 413,
     .error = "batch too large", .detail = "50"},

    /* Media types and encodings: 415. */
    {"text/html", .path = PRODUCT, .ctype = "text/html", .body = "<p>%MARK%</p>", .status = 415,
     .error = "unsupported media type", .detail = "Content-Type"},
    {"application/xml", .path = PRODUCT, .ctype = "application/xml", .body = "<event>%MARK%</event>",
     .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"multipart/form-data", .path = PRODUCT, .ctype = "multipart/form-data; boundary=xyz",
     .body = "--xyz\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n%MARK%\r\n--xyz--\r\n", .status = 415,
     .error = "unsupported media type", .detail = "Content-Type"},
    {"form-urlencoded", .path = USAGE, .ctype = "application/x-www-form-urlencoded", .auth = BEARER_KEY,
     .body = "tenant_id=%MARK%", .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"no Content-Type", .path = PRODUCT, .ctype = NULL, .body = "{\"event\":\"%MARK%\"}", .status = 415,
     .error = "unsupported media type", .detail = "Content-Type is required"},
    {"text/plain on the usage route", .path = USAGE, .ctype = "text/plain", .auth = BEARER_KEY,
     .base = BASE_USAGE, .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"text/plain on the Control Panel route", .path = CP, .ctype = "text/plain", .auth = BEARER_ADMIN,
     .base = BASE_CP, .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"charset other than UTF-8", .path = PRODUCT, .ctype = "application/json; charset=iso-8859-1",
     .body = "{\"install_id\":\"\xE9%MARK%\"}", .status = 415, .error = "unsupported media type",
     .detail = "charset"},
    {"a marker in the Content-Type", .path = PRODUCT, .ctype = "application/%MARK%", .body = "{}",
     .status = 415, .error = "unsupported media type", .detail = "Content-Type"},
    {"Content-Encoding: br", .path = PRODUCT, .ctype = JSON, .encoding = "br", .body = "\x1b\x01%MARK%",
     .status = 415, .error = "unsupported Content-Encoding", .detail = "gzip"},
    {"Content-Encoding: deflate", .path = USAGE, .ctype = JSON, .encoding = "deflate", .auth = BEARER_KEY,
     .body = "x\x9c%MARK%", .status = 415, .error = "unsupported Content-Encoding", .detail = "gzip"},
    {"Content-Encoding: gzip, gzip", .path = PRODUCT, .ctype = JSON, .encoding = "gzip, gzip",
     .build = gzip_bad_event, .status = 415, .error = "unsupported Content-Encoding", .detail = "gzip"},

    /* gzip that is not: 400. */
    {"gzip: not gzip at all", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .body = "{\"event\":\"%MARK%\"}", .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: empty", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .body = "", .status = 400,
     .error = "malformed body", .detail = "gzip"},
    {"gzip: truncated", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .build = gzip_truncated,
     .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: trailing garbage", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .build = gzip_trailing_garbage, .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: corrupt", .path = PRODUCT, .ctype = JSON, .encoding = "gzip", .build = gzip_corrupt,
     .status = 400, .error = "malformed body", .detail = "gzip"},
    {"gzip: well formed, bad event", .path = PRODUCT, .ctype = JSON, .encoding = "gzip",
     .build = gzip_bad_event, .status = 422, .error = "invalid events", .detail = "catalog"},

    /* Wrong types and schema violations: 422, the field named, the value not. */
    {"string for a long", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"api_calls\":\"%MARK%\"}", .status = 422, .error = "invalid events", .detail = "api_calls"},
    {"float for a long", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"seq\":1.5}", .status = 422, .error = "invalid events", .detail = "seq"},
    {"boolean for a long", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"exec_ms\":true}", .status = 422, .error = "invalid events", .detail = "exec_ms"},
    {"number for a string", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"install_id\":7731}", .status = 422, .error = "invalid events", .detail = "install_id"},
    {"object for an enum", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"source\":{\"%MARK%\":\"CLI\"}}", .status = 422, .error = "invalid events", .detail = "source"},
    {"array for a map", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"properties\":[\"%MARK%\"]}", .status = 422, .error = "invalid events", .detail = "properties"},
    {"number as a map value", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"properties\":{\"region\":7731}}", .status = 422, .error = "invalid events",
     .detail = "properties"},
    {"string for a boolean", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"ci\":\"%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "ci"},
    {"string for a timestamp", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"occurred_at\":\"%MARK%\"}", .status = 422, .error = "invalid events", .detail = "occurred_at"},
    {"object for a record union", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"payload\":{\"MemberRemoved\":{\"member_id\":\"m\"},\"TenantRegistered\":{\"name\":\"%MARK%\"}}}",
     .status = 422, .error = "invalid events", .detail = "payload"},
    {"unknown union branch", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"payload\":{\"%MARK%\":{}}}", .status = 422, .error = "invalid events", .detail = "payload"},
    {"unknown event name", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"event\":\"%MARK%.start\"}", .status = 422, .error = "invalid events", .detail = "catalog"},
    {"event of another source", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"source\":\"ADMIN\"}", .status = 422, .error = "invalid events", .detail = "source"},
    {"missing required field", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .drop = "install_id",
     .status = 422, .error = "invalid events", .detail = "install_id: required field is missing"},
    {"missing required field (usage)", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .drop = "api_calls", .status = 422, .error = "invalid events", .detail = "api_calls"},
    {"unknown field", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"%MARK%\":\"x\"}",
     .status = 422, .error = "invalid events", .detail = "unknown field"},
    /* Duplicate keys: the body is well-formed JSON (RFC 8259 leaves names
     * unique only as a SHOULD), so the event alone is refused while it is
     * converted, never produced; with jansson the whole body was a 400. */
    {"duplicate keys", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,\"install_id\":\"i\","
             "\"install_id\":\"%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "duplicate field \"install_id\""},
    {"duplicate map key", .path = PRODUCT, .ctype = JSON,
     .body = "{\"source\":\"CLI\",\"event\":\"deploy.start\",\"occurred_at\":%NOW%,\"install_id\":\"i\","
             "\"properties\":{\"region\":\"eu\",\"region\":\"%MARK%\"}}",
     .status = 422, .error = "invalid events", .detail = "properties.region: duplicate map key"},
    {"duplicate tenant_id, own then another", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .body = "{\"tenant_id\":\"%TENANT%\",\"environment_id\":\"%ENV%\","
             "\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\",\"reporter_started_at\":%STARTED%,"
             "\"seq\":1,\"observed_at\":%NOW%,\"api_calls\":10,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":1,"
             "\"tenant_id\":\"tenant-%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "duplicate field \"tenant_id\""},
    {"duplicate tenant_id, another then own", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY,
     .body = "{\"tenant_id\":\"tenant-%MARK%\",\"user_id\":\"user-1\",\"op\":\"ASSIGNED\",\"occurred_at\":%NOW%,"
             "\"tenant_id\":\"%TENANT%\"}",
     .status = 403, .error = "forbidden", .detail = "another tenant"},
    {"enum symbol not in the schema", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"source\":\"%MARK%\"}", .status = 422, .error = "invalid events", .detail = "source"},
    {"enum symbol in the wrong case", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_SEAT,
     .body = "{\"op\":\"assigned\"}", .status = 422, .error = "invalid events", .detail = "op"},
    {"bad UUID", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"event_id\":\"%MARK%\"}",
     .status = 422, .error = "invalid events", .detail = "event_id"},
    {"UUID without dashes", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"reporter_id\":\"2f1c9a4e8b7d4c3a9e215d6f7a8b9c0d\"}", .status = 422, .error = "invalid events",
     .detail = "reporter_id"},
    {"property value of 100 KB", .path = PRODUCT, .ctype = JSON, .build = property_100kb, .status = 422,
     .error = "invalid events", .detail = "16384"},
    {"properties with 1000 keys", .path = PRODUCT, .ctype = JSON, .build = properties_1000_keys,
     .status = 422, .error = "invalid events", .detail = "properties"},
    {"property key of 300 bytes", .path = PRODUCT, .ctype = JSON, .build = property_key_300, .status = 422,
     .error = "invalid events", .detail = "properties"},
    {"array of 1000 items", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .build = cp_features_1000,
     .status = 422, .error = "invalid events", .detail = "features"},
    {"tenant_id too long for a key", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN,
     .build = cp_tenant_too_long, .status = 422, .error = "invalid events", .detail = "tenant_id"},
    {"date out of range", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"payload\":{\"LicenseTermsSet\":{\"seats_max\":1,\"monthly_api_calls_max\":1,"
             "\"daily_api_calls_max_nonprod\":1,\"valid_from\":\"99999-01-01\",\"valid_until\":\"2027-01-01\"}}}",
     .status = 422, .error = "invalid events", .detail = "valid_from"},

    /* Rules beyond the schema: 422. */
    {"negative counter", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"api_calls\":-1,\"status_4xx\":0,\"status_5xx\":0}", .status = 422, .error = "invalid events",
     .detail = "api_calls"},
    {"negative seq", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE, .body = "{\"seq\":-7731}",
     .status = 422, .error = "invalid events", .detail = "seq"},
    {"status_4xx > api_calls", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"api_calls\":10,\"status_4xx\":11,\"status_5xx\":0}", .status = 422, .error = "invalid events",
     .detail = "status_4xx"},
    {"status_4xx + status_5xx > api_calls", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .base = BASE_USAGE, .body = "{\"api_calls\":10,\"status_4xx\":6,\"status_5xx\":5}", .status = 422,
     .error = "invalid events", .detail = "api_calls"},
    {"reporter started after it observed", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"reporter_started_at\":%NOW%,\"observed_at\":%STARTED%}", .status = 422,
     .error = "invalid events", .detail = "reporter_started_at"},
    {"timestamp 10 years in the future", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"occurred_at\":%FUTURE%}", .status = 422, .error = "invalid events", .detail = "future"},
    {"timestamp 10 years in the past", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_SEAT,
     .body = "{\"occurred_at\":%PAST%}", .status = 422, .error = "invalid events", .detail = "older"},
    {"observed_at in the future", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"observed_at\":%FUTURE%}", .status = 422, .error = "invalid events", .detail = "observed_at"},
    {"timestamp in year 9999", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_CP,
     .body = "{\"occurred_at\":\"9999-12-31T23:59:59Z\"}", .status = 422, .error = "invalid events",
     .detail = "occurred_at"},
    {"epoch seconds instead of ms", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT,
     .body = "{\"occurred_at\":%SECS%}", .status = 422, .error = "invalid events", .detail = "occurred_at"},
    {"epoch microseconds instead of ms", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"observed_at\":%MICROS%}", .status = 422, .error = "invalid events", .detail = "observed_at"},
    {"negative timestamp", .path = PRODUCT, .ctype = JSON, .base = BASE_PRODUCT, .body = "{\"occurred_at\":-1}",
     .status = 422, .error = "invalid events", .detail = "occurred_at"},

    /* Batches where every event is bad: 422, each one named. */
    {"NDJSON with every line bad", .path = PRODUCT, .ctype = NDJSON,
     .body = "{\"source\":\"%MARK%\n7731\n\"%MARK%\"\n[]\n{\"a\":1,\"a\":\"%MARK%\"}\n"
             "{\"x\":\"\\u0000%MARK%\"}\n{\"source\":\"CLI\",\"event\":\"%MARK%\",\"occurred_at\":%NOW%,"
             "\"install_id\":\"i\"}\n",
     .status = 422, .error = "invalid events", .detail = "invalid JSON", .rejected = 7},
    {"array with every element bad", .path = PRODUCT, .ctype = JSON,
     .body = "[7731, \"%MARK%\", null, [], {}, {\"source\":\"CLI\",\"event\":\"%MARK%\",\"occurred_at\":%NOW%,"
             "\"install_id\":\"i\"}]",
     .status = 422, .error = "invalid events", .detail = "must be a JSON object", .rejected = 6},

    /* Credentials and scope: 401, 403. */
    {"usage report without Authorization", .path = USAGE, .ctype = JSON, .base = BASE_USAGE, .status = 401,
     .error = "unauthorized", .detail = "missing"},
    {"usage report with Basic auth", .path = USAGE, .ctype = JSON, .auth = "Basic dXNlcjpTRUNSRVQtTUFSS0VSLTc3MzE=",
     .base = BASE_USAGE, .status = 401, .error = "unauthorized"},
    {"usage report with an unknown key", .path = USAGE, .ctype = JSON, .auth = "Bearer tk_live_%MARK%",
     .base = BASE_USAGE, .status = 401, .error = "unauthorized", .detail = "unknown"},
    {"usage report with an empty bearer", .path = USAGE, .ctype = JSON, .auth = "Bearer ", .base = BASE_USAGE,
     .status = 401, .error = "unauthorized"},
    {"usage report with two tokens", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY " %MARK%",
     .base = BASE_USAGE, .status = 401, .error = "unauthorized"},
    {"seats without Authorization", .path = SEATS, .ctype = JSON, .base = BASE_SEAT, .status = 401,
     .error = "unauthorized"},
    {"usage report for another tenant", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .body = "{\"tenant_id\":\"tenant-%MARK%\"}", .status = 403, .error = "forbidden", .detail = "another tenant"},
    {"usage report for another environment", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .base = BASE_USAGE, .body = "{\"environment_id\":\"env-%MARK%\"}", .status = 403, .error = "forbidden",
     .detail = "environment"},
    {"usage batch: own tenant, then another", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY,
     .body = "[{\"tenant_id\":\"%TENANT%\",\"environment_id\":\"%ENV%\","
             "\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\",\"reporter_started_at\":%STARTED%,"
             "\"seq\":1,\"observed_at\":%NOW%,\"api_calls\":10,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":1},"
             "{\"tenant_id\":\"tenant-%MARK%\",\"environment_id\":\"%ENV%\","
             "\"reporter_id\":\"2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d\",\"reporter_started_at\":%STARTED%,"
             "\"seq\":1,\"observed_at\":%NOW%,\"api_calls\":10,\"status_4xx\":0,\"status_5xx\":0,\"exec_ms\":1}]",
     .status = 403, .error = "forbidden", .detail = "event 1"},
    {"seat event for another tenant", .path = SEATS, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_SEAT,
     .body = "{\"tenant_id\":\"%MARK%\"}", .status = 403, .error = "forbidden", .detail = "another tenant"},
    {"usage report without tenant_id", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .drop = "tenant_id", .status = 403, .error = "forbidden"},
    {"Control Panel without token", .path = CP, .ctype = JSON, .base = BASE_CP, .status = 401,
     .error = "unauthorized", .detail = "admin token"},
    {"Control Panel with a wrong token", .path = CP, .ctype = JSON, .auth = "Bearer %MARK%", .base = BASE_CP,
     .status = 401, .error = "unauthorized", .detail = "admin token"},
    {"Control Panel with the admin token and more", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN "x",
     .base = BASE_CP, .status = 401, .error = "unauthorized", .detail = "admin token"},
    {"Control Panel with two tokens", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN " %MARK%", .base = BASE_CP,
     .status = 401, .error = "unauthorized", .detail = "malformed"},
    {"usage report with the admin token", .path = USAGE, .ctype = JSON, .auth = BEARER_ADMIN, .base = BASE_USAGE,
     .status = 403, .error = "forbidden", .detail = "admin token"},
    {"Control Panel with an API key", .path = CP, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_CP,
     .status = 403, .error = "forbidden"},
    {"Control Panel with Basic auth", .path = CP, .ctype = JSON, .auth = "Basic YWRtaW46YWRtaW4=",
     .base = BASE_CP, .status = 401, .error = "unauthorized"},

    /* Routes and methods: 404, 405. */
    {"GET on a POST route", .method = "GET", .path = PRODUCT, .status = 405, .error = "method not allowed",
     .detail = "POST"},
    {"GET on the usage route", .method = "GET", .path = USAGE, .auth = BEARER_KEY, .status = 405,
     .error = "method not allowed", .detail = "POST"},
    {"HEAD on a POST route", .method = "HEAD", .path = SEATS, .status = 405},
    {"DELETE on the product route", .method = "DELETE", .path = PRODUCT, .status = 405,
     .error = "method not allowed", .detail = "POST"},
    {"PUT with a body", .method = "PUT", .path = USAGE, .ctype = JSON, .auth = BEARER_KEY, .base = BASE_USAGE,
     .status = 405, .error = "method not allowed", .detail = "POST"},
    {"PATCH on the Control Panel route", .method = "PATCH", .path = CP, .ctype = JSON, .auth = BEARER_ADMIN,
     .base = BASE_CP, .status = 405, .error = "method not allowed", .detail = "POST"},
    {"OPTIONS on the usage route", .method = "OPTIONS", .path = USAGE, .status = 405,
     .error = "method not allowed"},
    {"POST on /healthz", .path = "/healthz", .ctype = JSON, .body = "{}", .status = 405,
     .error = "method not allowed", .detail = "GET"},
    {"DELETE on /metrics", .method = "DELETE", .path = "/metrics", .status = 405, .error = "method not allowed",
     .detail = "GET"},
    {"POST to an unknown path", .path = "/v1/%MARK%", .ctype = JSON, .base = BASE_PRODUCT, .status = 404,
     .error = "not found"},
    {"POST with a trailing slash", .path = PRODUCT "/", .ctype = JSON, .base = BASE_PRODUCT, .status = 404,
     .error = "not found"},
    {"POST to an upper-case path", .path = "/V1/PRODUCT/EVENTS", .ctype = JSON, .base = BASE_PRODUCT,
     .status = 404, .error = "not found"},
    {"GET on an unknown path", .method = "GET", .path = "/admin/%MARK%", .status = 404, .error = "not found"},
};

/* The gateway's tally_gateway_requests_total over every route for status
 * (from its /metrics). */
static long long answered_with(int status)
{
    char url[256], want[32];
    snprintf(url, sizeof url, "%s/metrics", gw.base_url);
    snprintf(want, sizeof want, ",status=\"%d\"} ", status);
    tally_test_response_t r = tally_test_http("GET", url, NULL, NULL, 0, 1);
    long long sum = 0;
    for (const char *p = r.body; p && (p = strstr(p, "tally_gateway_requests_total{")) != NULL; p++) {
        const char *end = strchr(p, '\n'), *s = strstr(p, want);
        if (s && (end == NULL || s < end))
            sum += atoll(s + strlen(want));
    }
    tally_test_response_free(&r);
    return sum;
}

static void run_case(const hostile_case_t *c)
{
    size_t len = 0;
    char *body = NULL;
    if (c->build)
        body = c->build(&len);
    else if (c->base != BASE_NONE)
        body = patched(c->base, c->body, c->drop, &len);
    else if (c->body)
        body = expand(c->body, &len);

    char url[256], ct[256], enc[128], auth[512];
    char *path = expand(c->path, NULL);
    snprintf(url, sizeof url, "%s%s", gw.base_url, path);
    free(path);
    const char *headers[4] = {NULL};
    int h = 0;
    if (c->ctype) {
        char *v = expand(c->ctype, NULL);
        snprintf(ct, sizeof ct, "Content-Type: %s", v);
        free(v);
    } else {
        snprintf(ct, sizeof ct, "Content-Type:"); /* no Content-Type at all, not curl's default */
    }
    headers[h++] = ct;
    if (c->encoding) {
        snprintf(enc, sizeof enc, "Content-Encoding: %s", c->encoding);
        headers[h++] = enc;
    }
    if (c->auth) {
        char *v = expand(c->auth, NULL);
        snprintf(auth, sizeof auth, "Authorization: %s", v);
        free(v);
        headers[h++] = auth;
    }
    long long answered_before = answered_with(c->status);
    tally_test_response_t r = tally_test_http(c->method ? c->method : "POST", url, headers, body, len, 1);
    /* A body far over the limit: the gateway answers 413 as soon as it
     * knows, and closes while the client still sends. The reset that the
     * unread bytes cause may reach the client before it read the answer
     * (TCP discards it), so "no answer" is then allowed when the gateway
     * counted that answer: it did refuse this request. */
    int lost_answer = r.status == 0 && c->status == 413 && len > (1 << 20) &&
                      answered_with(c->status) == answered_before + 1;
    cr_expect(r.status != 0 || lost_answer, "%s: no answer (connection failed or closed)", c->name);
    if (r.status != 0)
        expect_error_body(c->name, r.status, r.body, tally_test_header(&r, "Content-Type"), c->status, c->error,
                          c->detail, c->rejected);
    if (r.status == 401) {
        const char *www = tally_test_header(&r, "WWW-Authenticate");
        cr_expect(www && strncmp(www, "Bearer", 6) == 0, "%s: a 401 carries WWW-Authenticate: Bearer (%s)", c->name,
                  www ? www : "none");
    }
    if (r.status == 405 && r.headers) {
        const char *allow = tally_test_header(&r, "Allow");
        int get_route = strcmp(c->path, "/healthz") == 0 || strcmp(c->path, "/metrics") == 0;
        cr_expect(allow && strstr(allow, get_route ? "GET" : "POST"), "%s: a 405 names the allowed methods (Allow: %s)",
                  c->name, allow ? allow : "(none)");
    }
    tally_test_response_free(&r);
    free(body);
}

Test(gateway_hostile, corpus_is_refused_and_nothing_is_produced)
{
    hostile_start();
    cr_assert_gt(sizeof cases / sizeof cases[0], 100);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    expect_healthy("the corpus");
    /* The 413s were counted (what run_case relies on when a reset ate one). */
    cr_expect_gt(answered_with(413), 0, "the gateway counted no 413");
    hostile_finish();
}
