#include "route.h"

#include <string.h>

/* The bytes a routed path may hold at all. */
static int path_byte_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '~' || c == '/';
}

int tally_route_tenant_ok(const char *s, size_t len)
{
    if (len == 0 || len > TALLY_ROUTE_TENANT_MAX)
        return 0;
    if (s[0] == '.' || s[0] == '-')     /* never ".", "..", or an option-looking id */
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int tally_route_license_id_ok(const char *s, size_t len)
{
    if (len != 36)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* Splits path (after the leading '/') into at most max segments. Returns
 * the count, or -1 on an empty, "." or ".." segment or too many segments.
 * A trailing '/' gives a last, empty segment, reported in *trailing. */
static int split(const char *p, const char *seg[], size_t len[], int max, int *trailing)
{
    int n = 0;
    *trailing = 0;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t l = slash ? (size_t)(slash - p) : strlen(p);
        if (l == 0) {
            if (slash == NULL && n > 0) {   /* "a/b/": trailing slash */
                *trailing = 1;
                return n;
            }
            return -1;
        }
        if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
            return -1;
        if (n == max)
            return -1;
        seg[n] = p;
        len[n] = l;
        n++;
        if (slash == NULL)
            return n;
        p = slash + 1;
        if (*p == '\0') {
            *trailing = 1;
            return n;
        }
    }
}

static int is(const char *seg, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(seg, word, len) == 0;
}

static const char *const tenant_pages[] = {"overview", "usage", "seats", "team", NULL};
static const char *const vendor_pages[] = {"tenants", "product", NULL};

static const char *page_named(const char *const *names, const char *seg, size_t len)
{
    for (size_t i = 0; names[i]; i++)
        if (is(seg, len, names[i]))
            return names[i];
    return NULL;
}

/* A lower-case UUID (8-4-4-4-12 hex digits), copied into out->license_id. */
static int set_license_id(tally_route_t *out, const char *seg, size_t len)
{
    if (!tally_route_license_id_ok(seg, len))
        return 0;
    memcpy(out->license_id, seg, len);
    out->license_id[len] = '\0';
    return 1;
}

static tally_route_kind_t set_tenant(tally_route_t *out, const char *seg, size_t len, tally_route_kind_t kind)
{
    if (!tally_route_tenant_ok(seg, len)) {
        memset(out, 0, sizeof *out);
        return TALLY_ROUTE_UNKNOWN;
    }
    memcpy(out->tenant, seg, len);
    out->tenant[len] = '\0';
    out->kind = kind;
    return kind;
}

static tally_route_kind_t parse(const char *path, tally_route_t *out)
{
    memset(out, 0, sizeof *out);
    size_t plen = strnlen(path, TALLY_ROUTE_PATH_MAX + 1);
    if (plen == 0 || plen > TALLY_ROUTE_PATH_MAX || path[0] != '/')
        return TALLY_ROUTE_UNKNOWN;
    for (size_t i = 0; i < plen; i++)
        if (!path_byte_ok((unsigned char)path[i]))
            return TALLY_ROUTE_UNKNOWN;
    const char *seg[6];
    size_t len[6];
    int trailing;
    int n = split(path + 1, seg, len, 6, &trailing);
    if (n < 0)
        return TALLY_ROUTE_UNKNOWN;
    if (n == 0)
        return out->kind = TALLY_ROUTE_ROOT;
    if (n == 1 && !trailing) {
        if (is(seg[0], len[0], "healthz"))
            return out->kind = TALLY_ROUTE_HEALTHZ;
        if (is(seg[0], len[0], "readyz"))
            return out->kind = TALLY_ROUTE_READYZ;
        if (is(seg[0], len[0], "metrics"))
            return out->kind = TALLY_ROUTE_METRICS;
        if (is(seg[0], len[0], "signin"))
            return out->kind = TALLY_ROUTE_SIGNIN;
        if (is(seg[0], len[0], "signout"))
            return out->kind = TALLY_ROUTE_SIGNOUT;
        return TALLY_ROUTE_UNKNOWN;
    }
    if (is(seg[0], len[0], "t")) {
        /* /t/{tenant}/ is the overview; /t/{tenant}/{page} the others. */
        if (n == 2 && trailing) {
            out->page = "overview";
            return set_tenant(out, seg[1], len[1], TALLY_ROUTE_PAGE);
        }
        if (n != 3 || trailing)
            return TALLY_ROUTE_UNKNOWN;
        if (is(seg[2], len[2], "licenses")) {   /* an HTML page only: its API is /api/v1/licenses */
            out->page = "licenses";
            return set_tenant(out, seg[1], len[1], TALLY_ROUTE_PAGE);
        }
        if (is(seg[2], len[2], "webhook")) {   /* an HTML page only: its API is /api/v1/webhook */
            out->page = "webhook";
            return set_tenant(out, seg[1], len[1], TALLY_ROUTE_PAGE);
        }
        if (is(seg[2], len[2], "usage.csv"))
            return set_tenant(out, seg[1], len[1], TALLY_ROUTE_DOWNLOAD);
        const char *page = page_named(tenant_pages + 1, seg[2], len[2]);
        if (page == NULL)
            return TALLY_ROUTE_UNKNOWN;
        out->page = page;
        return set_tenant(out, seg[1], len[1], TALLY_ROUTE_PAGE);
    }
    if (is(seg[0], len[0], "vendor")) {
        if (n == 2 && !trailing && is(seg[1], len[1], "licenses")) {
            out->page = "vendor-licenses";
            out->vendor = 1;
            return out->kind = TALLY_ROUTE_PAGE;
        }
        if (n == 4 && !trailing && is(seg[1], len[1], "licenses") && is(seg[3], len[3], "revoke") &&
            set_license_id(out, seg[2], len[2])) {
            out->vendor = 1;
            return out->kind = TALLY_ROUTE_LICENSE_REVOKE;
        }
        const char *page = n == 2 && !trailing ? page_named(vendor_pages, seg[1], len[1]) : NULL;
        if (page == NULL)
            return TALLY_ROUTE_UNKNOWN;
        out->page = page;
        out->vendor = 1;
        return out->kind = TALLY_ROUTE_PAGE;
    }
    if (n >= 3 && !trailing && is(seg[0], len[0], "api") && is(seg[1], len[1], "v1")) {
        out->api = 1;
        if (n == 4 && is(seg[2], len[2], "licenses") && is(seg[3], len[3], "keys"))
            return out->kind = TALLY_ROUTE_LICENSE_KEYS;
        if (n == 3 && is(seg[2], len[2], "licenses"))
            return out->kind = TALLY_ROUTE_LICENSES;
        if (n == 3 && is(seg[2], len[2], "webhook"))
            return out->kind = TALLY_ROUTE_WEBHOOK;
        if (n == 3 && is(seg[2], len[2], "alert-rules"))
            return out->kind = TALLY_ROUTE_ALERT_RULES;
        if (n == 3 && is(seg[2], len[2], "alerts"))
            return out->kind = TALLY_ROUTE_ALERTS;
        if (n == 4 && is(seg[2], len[2], "licenses") && is(seg[3], len[3], "revoked"))
            return out->kind = TALLY_ROUTE_LICENSES_REVOKED;
        if (n == 5 && is(seg[2], len[2], "licenses") && is(seg[4], len[4], "file") &&
            set_license_id(out, seg[3], len[3]))
            return out->kind = TALLY_ROUTE_LICENSE_FILE;
        if (n == 5 && is(seg[2], len[2], "licenses") && is(seg[4], len[4], "revoke") &&
            set_license_id(out, seg[3], len[3]))
            return out->kind = TALLY_ROUTE_LICENSE_REVOKE;
        if (n == 4 && is(seg[2], len[2], "vendor")) {
            const char *page = page_named(vendor_pages, seg[3], len[3]);
            if (page == NULL)
                return out->kind = TALLY_ROUTE_UNKNOWN;
            out->page = page;
            out->vendor = 1;
            return out->kind = TALLY_ROUTE_PAGE;
        }
        if (is(seg[2], len[2], "tenants")) {
            if (n == 6 && is(seg[4], len[4], "usage") && is(seg[5], len[5], "export")) {
                set_tenant(out, seg[3], len[3], TALLY_ROUTE_DOWNLOAD);
                out->api = 1;        /* unknown or not, answered as the API */
                return out->kind;
            }
            const char *page = n == 5 ? page_named(tenant_pages, seg[4], len[4]) : NULL;
            if (page != NULL) {
                out->page = page;
                set_tenant(out, seg[3], len[3], TALLY_ROUTE_PAGE);
                out->api = 1;       /* an unknown API path is still answered as the API */
                if (out->kind == TALLY_ROUTE_UNKNOWN)
                    out->page = NULL;
                return out->kind;
            }
        }
        return out->kind = TALLY_ROUTE_UNKNOWN;
    }
    return TALLY_ROUTE_UNKNOWN;
}

tally_route_kind_t tally_route_parse(const char *path, tally_route_t *out)
{
    if (parse(path, out) == TALLY_ROUTE_UNKNOWN) {
        /* Whatever is unknown under /api/ is answered as the API (JSON). */
        memset(out, 0, sizeof *out);
        out->api = strncmp(path, "/api/", 5) == 0;
    }
    return out->kind;
}

const char *tally_route_label(const tally_route_t *r)
{
    switch (r->kind) {
    case TALLY_ROUTE_ROOT:
        return "root";
    case TALLY_ROUTE_HEALTHZ:
        return "healthz";
    case TALLY_ROUTE_READYZ:
        return "readyz";
    case TALLY_ROUTE_METRICS:
        return "metrics";
    case TALLY_ROUTE_SIGNIN:
        return "signin";
    case TALLY_ROUTE_SIGNOUT:
        return "signout";
    case TALLY_ROUTE_DOWNLOAD:
        return r->api ? "api:export" : "html:usage.csv";
    case TALLY_ROUTE_LICENSE_KEYS:
        return "api:license-keys";
    case TALLY_ROUTE_LICENSES:
        return "api:licenses";
    case TALLY_ROUTE_ALERTS:
        return "api:alerts";
    case TALLY_ROUTE_LICENSE_FILE:
        return "api:license-file";
    case TALLY_ROUTE_LICENSES_REVOKED:
        return "api:licenses-revoked";
    case TALLY_ROUTE_LICENSE_REVOKE:
        return r->api ? "api:license-revoke" : "html:license-revoke";
    case TALLY_ROUTE_WEBHOOK:
        return "api:webhook";
    case TALLY_ROUTE_ALERT_RULES:
        return "api:alert-rules";
    case TALLY_ROUTE_PAGE:
        break;
    default:
        return "other";
    }
    static const struct {
        const char *page, *html, *api;
    } labels[] = {
        {"overview", "html:overview", "api:overview"}, {"usage", "html:usage", "api:usage"},
        {"seats", "html:seats", "api:seats"},          {"team", "html:team", "api:team"},
        {"tenants", "html:tenants", "api:tenants"},    {"product", "html:product", "api:product"},
        {"licenses", "html:licenses", "other"},          {"vendor-licenses", "html:vendor-licenses", "other"},
        {"webhook", "html:webhook", "other"},
    };
    for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++)
        if (r->page && strcmp(r->page, labels[i].page) == 0)
            return r->api ? labels[i].api : labels[i].html;
    return "other";
}
