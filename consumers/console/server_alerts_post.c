/* server_alerts_post.c: the routes that set a tenant's usage alert
 * settings (docs/console.md "Usage alerts"), each one Control Panel event
 * sent through the gateway as the license routes do (gateway_event.h);
 * neither has a table in the read model, so the answer is 202 once the
 * gateway has acknowledged the event (durable in tally.controlpanel):
 *
 *   PUT|POST /api/v1/webhook     a member for their tenant ({"url"}; staff
 *                                name it: {"tenant_id","url"}); url ""
 *                                removes the webhook. WebhookEndpointSet
 *                                with a fresh secret sealed to the webhook
 *                                public key (alert_settings.h); the answer
 *                                carries the plain secret, once.
 *   POST /api/v1/alert-rules     staff: {"tenant_id", "api_calls_percent",
 *                                "nonprod_daily_percent", "seats_percent"}:
 *                                AlertRulesSet; the gateway's rules on the
 *                                values answer 422 with its reason.
 *   POST /t/{tenant}/webhook     the webhook page's form (url): the page
 *                                again, with the secret, once.
 *
 * Setting is idempotent in effect: the latest event of a tenant wins, so
 * a retry leaves the tenant with the webhook (and the secret) of the last
 * answer received. Input is checked before anything is sent: a malformed
 * body, an unknown field, a wrong type or a URL the webhook policy refuses
 * (common/webhook_url.h: https only, no credentials, no private address)
 * is a 4xx and nothing is sent. A member naming another tenant, or asking
 * for the staff route, gets the unknown route's 404. The secret is never
 * logged; the console keeps no copy of it. */
#include "server_internal.h"

#include "alert_settings.h"
#include "gateway_event.h"
#include "layout.h"
#include "log.h"
#include "page_util.h"
#include "params.h"
#include "webhook_url.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_TYPE "application/json"
#define FORM_TYPE "application/x-www-form-urlencoded"

typedef enum { SET_WEBHOOK, SET_RULES, REFUSED, FAILED } outcome_t;

static void count(console_req_t *r, outcome_t o)
{
    tally_metric_add(r->srv->alert_settings[o], 1);
}

static enum MHD_Result bad(console_req_t *r, int status, const char *why)
{
    count(r, REFUSED);
    return tally_cs_error(r, status, status == 422 ? "unprocessable" : "bad request", why);
}

/* Whether tenant_id is a tenant of the read model: 1 yes, 0 no, -1 the
 * database failed. */
static int tenant_exists(console_req_t *r, const char *tenant_id)
{
    char why[256];
    PGconn *pg = tally_cs_db(r, why, sizeof why);
    if (pg == NULL)
        return -1;
    json_t *t = NULL;
    int rc = tally_page_tenant(pg, tenant_id, &t, why, sizeof why);
    json_decref(t);
    if (rc == TALLY_PAGE_NOT_FOUND)
        return 0;
    if (rc != 0) {
        r->pg_failed = 1;
        return -1;
    }
    return 1;
}

/* Sends payload (taken) as tenant_id's event. 0 sent; else an answer was
 * queued into *res. */
static int send_event(console_req_t *r, const char *tenant_id, json_t *payload, enum MHD_Result *res)
{
    const tally_console_server_opts_t *o = &r->srv->o;
    char why[512] = "";
    char *text = tally_gateway_event_text(tenant_id, tally_cs_now_ms(r), payload, why, sizeof why);
    if (text == NULL) {
        *res = bad(r, 400, why);
        return -1;
    }
    int rc = tally_gateway_event_post_rules(o->gateway_url, o->admin_token, 0, text, why, sizeof why);
    free(text);
    if (rc == 0)
        return 0;
    if (rc == TALLY_GATEWAY_EVENT_ERR_INVALID) {
        *res = bad(r, 422, why);
        return -1;
    }
    count(r, FAILED);
    tally_log_warn("console", "alert settings not sent: %s", why);
    *res = tally_cs_unavailable(r, "the event log is unavailable: nothing was set; try again");
    return -1;
}

/* Checks url (NUL-terminated, len bytes) against the webhook policy. */
static int url_ok(const console_req_t *r, const char *url, size_t len, char *why, size_t whysize)
{
    if (len == 0)
        return 1;   /* removes the webhook */
    if (len > TALLY_WEBHOOK_URL_MAX || strlen(url) != len) {
        snprintf(why, whysize, "url: at most %d bytes of text", TALLY_WEBHOOK_URL_MAX);
        return 0;
    }
    tally_webhook_url_t u;
    char reason[256];
    unsigned flags = r->srv->o.webhook_allow_http_loopback ? TALLY_WEBHOOK_URL_ALLOW_LOOPBACK : 0;
    if (tally_webhook_url_check(url, flags, &u, reason, sizeof reason) != 0) {
        snprintf(why, whysize, "url refused: %s", reason);
        return 0;
    }
    return 1;
}

/* Sets tenant_id's webhook to url (checked). 0 with the new secret in
 * secret ("" when removed); else *res holds the answer. */
static int set_webhook(console_req_t *r, const char *tenant_id, const char *url,
                       char secret[TALLY_WEBHOOK_SECRET_TEXT_SIZE], enum MHD_Result *res)
{
    char why[256];
    int exists = tenant_exists(r, tenant_id);
    if (exists < 0) {
        count(r, FAILED);
        *res = tally_cs_unavailable(r, "the database is unreachable");
        return -1;
    }
    if (exists == 0) {
        count(r, REFUSED);
        *res = tally_cs_not_found(r);
        return -1;
    }
    tally_cs_db_release(r);   /* not held while the gateway is asked */
    json_t *payload = NULL;
    if (tally_alert_webhook_payload(url, r->srv->o.webhook_key, secret, &payload, why, sizeof why) != 0) {
        *res = bad(r, 400, why);
        return -1;
    }
    if (send_event(r, tenant_id, payload, res) != 0) {
        sodium_memzero(secret, TALLY_WEBHOOK_SECRET_TEXT_SIZE);
        return -1;
    }
    count(r, SET_WEBHOOK);
    /* Neither the tenant, the URL nor the secret: logs carry no identifier or secret. */
    tally_log_info("console", "a webhook was %s", *url ? "set" : "removed");
    return 0;
}

/* PUT|POST /api/v1/webhook. */
static enum MHD_Result api_webhook(console_req_t *r, const tally_principal_t *p)
{
    static const char *const fields[] = {"tenant_id", "url", NULL};
    char why[256], secret[TALLY_WEBHOOK_SECRET_TEXT_SIZE];
    enum MHD_Result res;
    if (!tally_cs_content_type_is(r, JSON_TYPE)) {
        count(r, REFUSED);
        return tally_cs_error(r, 415, "unsupported media type", "send the body as application/json");
    }
    json_t *j = tally_cs_body_object(r, fields, why, sizeof why);
    if (j == NULL)
        return bad(r, 400, why);
    json_t *t = json_object_get(j, "tenant_id"), *u = json_object_get(j, "url");
    const char *tenant = p->tenant_id;
    if (p->staff) {
        if (!json_is_string(t) || !tally_route_tenant_ok(json_string_value(t), json_string_length(t))) {
            json_decref(j);
            return bad(r, 400, "tenant_id: a tenant id is required");
        }
        tenant = json_string_value(t);
    } else if (t != NULL && (!json_is_string(t) || strcmp(json_string_value(t), p->tenant_id) != 0)) {
        /* A member's own tenant is implied; naming another is the 404 of
         * anything of another tenant. */
        json_decref(j);
        count(r, REFUSED);
        return tally_cs_not_found(r);
    }
    if (!json_is_string(u)) {
        json_decref(j);
        return bad(r, 400, "url: a string is required (\"\" removes the webhook)");
    }
    const char *url = json_string_value(u);
    if (!url_ok(r, url, json_string_length(u), why, sizeof why)) {
        json_decref(j);
        return bad(r, 422, why);
    }
    if (set_webhook(r, tenant, url, secret, &res) != 0) {
        json_decref(j);
        return res;
    }
    json_t *a = json_pack("{s:s, s:s, s:s*, s:s*}", "tenant_id", tenant, "url", url, "secret",
                          *secret ? secret : NULL, "key_id", *url ? r->srv->o.webhook_key->key_id : NULL);
    char *body = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_t *s = json_object_get(a, "secret");
    if (json_is_string(s))   /* wiped before jansson frees it */
        sodium_memzero((char *)json_string_value(s), json_string_length(s));
    json_decref(a);
    json_decref(j);
    sodium_memzero(secret, sizeof secret);
    if (body == NULL)
        abort();
    return tally_cs_answer(r, 202, JSON_TYPE, body, strlen(body), 1, NULL);
}

/* POST /api/v1/alert-rules (staff). */
static enum MHD_Result api_rules(console_req_t *r)
{
    static const char *const fields[] = {"tenant_id", "api_calls_percent", "nonprod_daily_percent", "seats_percent",
                                         NULL};
    char why[256];
    enum MHD_Result res;
    if (!tally_cs_content_type_is(r, JSON_TYPE)) {
        count(r, REFUSED);
        return tally_cs_error(r, 415, "unsupported media type", "send the body as application/json");
    }
    json_t *j = tally_cs_body_object(r, fields, why, sizeof why), *payload = NULL;
    if (j == NULL)
        return bad(r, 400, why);
    json_t *t = json_object_get(j, "tenant_id");
    if (!json_is_string(t) || !tally_route_tenant_ok(json_string_value(t), json_string_length(t))) {
        json_decref(j);
        return bad(r, 400, "tenant_id: a tenant id is required");
    }
    if (tally_alert_rules_payload(j, &payload, why, sizeof why) != 0) {
        json_decref(j);
        return bad(r, 400, why);
    }
    const char *tenant = json_string_value(t);
    int exists = tenant_exists(r, tenant);
    if (exists <= 0) {
        json_decref(payload);
        json_decref(j);
        count(r, exists < 0 ? FAILED : REFUSED);
        return exists < 0 ? tally_cs_unavailable(r, "the database is unreachable") : tally_cs_not_found(r);
    }
    tally_cs_db_release(r);
    json_t *rules = json_incref(json_object_get(payload, "AlertRulesSet"));
    if (send_event(r, tenant, payload, &res) != 0) {
        json_decref(rules);
        json_decref(j);
        return res;
    }
    count(r, SET_RULES);
    tally_log_info("console", "alert rules were set");
    json_object_set(rules, "tenant_id", t);
    char *body = json_dumps(rules, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(rules);
    json_decref(j);
    if (body == NULL)
        abort();
    return tally_cs_answer(r, 202, JSON_TYPE, body, strlen(body), 1, NULL);
}

/* The webhook page with what was set (url, and secret unless removed). */
static enum MHD_Result form_answer(console_req_t *r, const tally_principal_t *p, const char *url, const char *secret)
{
    char why[256] = "";
    const tally_page_t *page = tally_page_find("webhook");
    if (page == NULL)
        abort();   /* pages.c lists it */
    PGconn *pg = tally_cs_db(r, why, sizeof why);
    tally_page_query_t q = {.tenant_id = r->route.tenant, .staff = p->staff,
                            .member_id = p->staff ? NULL : p->member_id, .webhook_setting = 1,
                            .now_ms = tally_cs_now_ms(r)};
    json_t *model = NULL;
    if (pg == NULL || page->load(pg, &q, &model, why, sizeof why) != 0) {
        /* It was set: say so, even without the page around it. */
        json_decref(model);
        model = json_pack("{s:s, s:{s:s}, s:b, s:n}", "page", "webhook", "tenant", "id", r->route.tenant,
                          "configured", 1, "form");
    }
    json_object_set_new(model, "url", json_string(url));
    json_object_set_new(model, "secret", *secret ? json_string(secret) : json_null());
    tally_textbuf_t doc = {0};
    tally_layout_t l = tally_layout_for(page, &q, r->srv->o.pages, r->srv->o.n_pages);
    tally_layout_begin(&doc, &l);
    page->render(model, &q, &doc);
    tally_layout_end(&doc);
    json_t *s = json_object_get(model, "secret");
    if (json_is_string(s))   /* wiped before jansson frees it */
        sodium_memzero((char *)json_string_value(s), json_string_length(s));
    json_decref(model);
    return tally_cs_answer(r, 200, "text/html; charset=utf-8", doc.data, doc.len, 1, NULL);
}

/* POST /t/{tenant}/webhook: the page's form (url). */
static enum MHD_Result form_webhook(console_req_t *r, const tally_principal_t *p)
{
    char url[TALLY_WEBHOOK_URL_MAX + 2], why[320], secret[TALLY_WEBHOOK_SECRET_TEXT_SIZE];
    enum MHD_Result res;
    if (tally_cs_cross_site(r))
        return bad(r, 400, "the webhook form must be sent from this site");
    if (!tally_cs_content_type_is(r, FORM_TYPE)) {
        count(r, REFUSED);
        return tally_cs_error(r, 415, "unsupported media type", "send the form as " FORM_TYPE);
    }
    if (tally_params_form_value(r->body.data ? r->body.data : "", r->body.len, "url", url, sizeof url) != 1)
        return bad(r, 400, "the form is malformed: reload the webhook page and try again");
    if (!url_ok(r, url, strlen(url), why, sizeof why))
        return bad(r, 422, why);
    if (set_webhook(r, r->route.tenant, url, secret, &res) != 0)
        return res;
    res = form_answer(r, p, url, secret);
    sodium_memzero(secret, sizeof secret);
    return res;
}

enum MHD_Result tally_cs_alert_settings_post(console_req_t *r)
{
    tally_principal_t p;
    int who = tally_cs_principal(r, &p);
    if (who < 0)
        return tally_cs_unavailable(r, "the database is unreachable");
    if (who == 0)
        return tally_cs_unauthorized(r);
    int rules = r->route.kind == TALLY_ROUTE_ALERT_RULES;
    if (rules && !p.staff)
        return tally_cs_not_found(r);
    if (!r->route.api && !p.staff && strcmp(p.tenant_id, r->route.tenant) != 0)
        return tally_cs_not_found(r);
    const tally_console_server_opts_t *o = &r->srv->o;
    if (!o->gateway_url || !*o->gateway_url || !o->admin_token || !*o->admin_token ||
        (!rules && o->webhook_key == NULL)) {
        count(r, FAILED);
        return tally_cs_unavailable(r, rules ? "alert rules cannot be set: the gateway is not configured"
                                             : "webhooks cannot be set: --webhook-public-key is not configured");
    }
    if (rules)
        return api_rules(r);
    return r->route.api ? api_webhook(r, &p) : form_webhook(r, &p);
}
