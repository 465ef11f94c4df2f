/*
 * pages_webhook.c: /t/{tenant}/webhook, where a member (or staff looking
 * at the tenant) sets where the tenant's usage alerts are POSTed. The
 * form (url) goes to POST /t/{tenant}/webhook (server_alerts_post.c),
 * which answers with this same page and, once, the new signing secret:
 * the secret is in that answer only, never in a URL, a cookie or a
 * table, so it is shown on the page that the POST returns (no-store).
 *
 * The model:
 *   {"page": "webhook", "tenant": {"id", "name"}, "configured" (webhooks
 *    can be set here), "form": {"action"} or null, and after a POST:
 *    "secret" (the new secret, or null when the webhook was removed),
 *    "url" (what was set)}
 */
#include <stdio.h>
#include <string.h>

#include "html.h"
#include "layout.h"
#include "page_defs.h"
#include "page_util.h"

int tally_page_webhook_load(PGconn *pg, const tally_page_query_t *q, json_t **model, char *errbuf, size_t errsize)
{
    json_t *tenant = NULL;
    int rc = tally_page_tenant(pg, q->tenant_id, &tenant, errbuf, errsize);
    if (rc != 0)
        return rc;
    json_t *m = tally_page_model_new("webhook", q);
    json_object_set_new(m, "tenant", tenant);
    json_object_set_new(m, "configured", json_boolean(q->webhook_setting));
    if (q->webhook_setting) {
        tally_textbuf_t action = {0};
        if (tally_layout_page_href(&action, "webhook", q->tenant_id) != 0)
            tally_textbuf_puts(&action, "");
        json_object_set_new(m, "form", json_pack("{s:s}", "action", action.data));
        tally_textbuf_free(&action);
    } else {
        json_object_set_new(m, "form", json_null());
    }
    *model = m;
    return 0;
}

void tally_page_webhook_render(const json_t *model, const tally_page_query_t *q, tally_textbuf_t *out)
{
    (void)q;
    const json_t *tenant = json_object_get(model, "tenant"), *form = json_object_get(model, "form");
    const char *name = tally_page_get_str(tenant, "name");
    tally_textbuf_puts(out, "<h1>Webhook</h1><p>Usage alerts of ");
    tally_html_text(out, name ? name : tally_page_get_str(tenant, "id"));
    tally_textbuf_puts(out, " (80 % and 100 % of the monthly API calls, for example) are POSTed to this URL, "
                            "signed the Standard Webhooks way (headers "
                            "<code>webhook-id</code>, <code>webhook-timestamp</code>, "
                            "<code>webhook-signature</code>). Only https:// URLs to public addresses.</p>");
    const char *url = tally_page_get_str(model, "url");
    const char *secret = tally_page_get_str(model, "secret");
    if (url != NULL && *url == '\0') {
        tally_textbuf_puts(out, "<p class=\"notice\" role=\"status\">The webhook was removed: no alert is sent "
                                "to the tenant any more.</p>");
    } else if (url != NULL && secret != NULL) {
        tally_textbuf_puts(out, "<div class=\"notice\" role=\"status\"><p>Alerts now go to <code>");
        tally_html_text(out, url);
        tally_textbuf_puts(out, "</code>. Its signing secret, shown this once (it is stored nowhere in the clear; "
                                "setting the webhook again makes a new one):</p><p><code class=\"secret\">");
        tally_html_text(out, secret);
        tally_textbuf_puts(out, "</code></p><p class=\"muted\">Check a signature with <code>tally webhook-listen "
                                "PORT --secret-file FILE</code>.</p></div>");
    }
    if (json_is_object(form)) {
        tally_textbuf_puts(out, "<form method=\"post\"");
        tally_html_attr(out, "action", tally_page_get_text(form, "action"));
        tally_textbuf_puts(out, "><label for=\"webhook-url\">Webhook URL</label> "
                                "<input id=\"webhook-url\" name=\"url\" type=\"url\" maxlength=\"2048\" "
                                "placeholder=\"https://example.com/tally-alerts\"> "
                                "<button type=\"submit\">Set the webhook</button>"
                                "<span class=\"muted\">Empty: remove the webhook. Each time it is set, a new "
                                "secret replaces the old one.</span></form>");
    } else {
        tally_textbuf_puts(out, "<p class=\"muted\">Webhooks cannot be set here at the moment (not "
                                "configured).</p>");
    }
}
