/* The console's document shell: a self-contained document (doctype, lang,
 * viewport, title, inline CSS, no script or external asset), the
 * navigation each principal gets, the sign-out form, page routes and the
 * error page. */
#include "layout.h"
#include "markup.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static tally_textbuf_t buf;

static void setup(void)
{
    memset(&buf, 0, sizeof buf);
}

static void teardown(void)
{
    tally_textbuf_free(&buf);
}

TestSuite(layout, .init = setup, .fini = teardown);

/* The navigation as pages.h lists it (the pages' code is not linked here). */
static const tally_page_t PAGES[] = {
    {.name = "overview", .title = "Overview"}, {.name = "usage", .title = "Usage"},
    {.name = "seats", .title = "Seats"},       {.name = "team", .title = "Team"},
    {.name = "tenants", .title = "Tenants", .staff_only = 1},
    {.name = "product", .title = "Product analytics", .staff_only = 1},
};
#define NPAGES (sizeof PAGES / sizeof PAGES[0])

static void assert_well_formed(const char *doc)
{
    char err[256];
    cr_assert_eq(tally_test_markup_check(doc, err, sizeof err), 0, "%s\n%s", err, doc);
}

static const char *render(const tally_layout_t *l, const char *content)
{
    tally_textbuf_reset(&buf);
    tally_layout_begin(&buf, l);
    tally_textbuf_puts(&buf, content);
    tally_layout_end(&buf);
    assert_well_formed(buf.data);
    return buf.data;
}

/* The <nav> element of doc, copied (static buffer), or "". */
static const char *nav_of(const char *doc)
{
    static char nav[4096];
    const char *a = strstr(doc, "<nav"), *b = strstr(doc, "</nav>");
    if (!a || !b)
        return "";
    snprintf(nav, sizeof nav, "%.*s", (int)(b - a), a);
    return nav;
}

Test(layout, a_self_contained_document)
{
    tally_layout_t l = {.title = "Usage", .current = "usage", .signed_in = 1, .tenant_id = "acme",
                        .pages = PAGES, .npages = NPAGES};
    const char *doc = render(&l, "<h1>Usage</h1>");
    cr_assert_eq(strncmp(doc, "<!doctype html>\n<html lang=\"en\">", 32), 0, "%s", doc);
    cr_assert_not_null(strstr(doc, "<meta charset=\"utf-8\">"));
    cr_assert_not_null(strstr(doc, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
    cr_assert_not_null(strstr(doc, "<title>Usage \xC2\xB7 Tally</title>"));
    cr_assert_not_null(strstr(doc, "<main><h1>Usage</h1></main></body></html>"));
    /* No script, no external asset. */
    cr_assert_null(strstr(doc, "<script"));
    cr_assert_null(strstr(doc, "<link"));
    cr_assert_null(strstr(doc, "src="));
    cr_assert_null(strstr(doc, "@import"));
    cr_assert_null(strstr(doc, "url("));
    cr_assert_null(strstr(doc, "http:"));
    cr_assert_null(strstr(doc, "https:"));
}

Test(layout, the_css_folds_to_one_column_prints_and_styles_badges_and_charts)
{
    tally_layout_css(&buf);
    const char *css = buf.data;
    cr_assert_not_null(strstr(css, "@media (max-width:600px){"));
    cr_assert_not_null(strstr(css, ".cards{grid-template-columns:1fr}"));
    cr_assert_not_null(strstr(css, "@media print{header.site,nav,form.signout{display:none}"));
    cr_assert_not_null(strstr(css, "tr,caption{break-inside:avoid}"));
    cr_assert_not_null(strstr(css, "thead{display:table-header-group}"));
    cr_assert_not_null(strstr(css, ".badge-ok{"));
    cr_assert_not_null(strstr(css, ".badge-warning{"));
    cr_assert_not_null(strstr(css, ".badge-over{"));
    cr_assert_not_null(strstr(css, ".num{text-align:right"));
    /* Wide tables fit 1,280 px: numeric headers wrap, a smaller font, names wrap. */
    cr_assert_not_null(strstr(css, "thead th.num{white-space:normal}"));
    cr_assert_not_null(strstr(css, "table.wide{font-size:.875rem}"));
    cr_assert_not_null(strstr(css, "table.wide th[scope=row]{white-space:normal}"));
    cr_assert_not_null(strstr(css, ".tc-s0{"), "the charts' palette");
    cr_assert_null(strchr(css, '<'));
}

Test(layout, a_member_sees_the_tenant_pages_only)
{
    tally_layout_t l = {.title = "Overview", .current = "overview", .signed_in = 1, .tenant_id = "acme",
                        .pages = PAGES, .npages = NPAGES};
    const char *nav = nav_of(render(&l, ""));
    cr_assert_not_null(strstr(nav, "<li><a href=\"/t/acme/\" aria-current=\"page\">Overview</a></li>"), "%s", nav);
    cr_assert_not_null(strstr(nav, "<li><a href=\"/t/acme/usage\">Usage</a></li>"), "%s", nav);
    cr_assert_not_null(strstr(nav, "<li><a href=\"/t/acme/seats\">Seats</a></li>"));
    cr_assert_not_null(strstr(nav, "<li><a href=\"/t/acme/team\">Team</a></li>"));
    cr_assert_null(strstr(nav, "/vendor/"), "%s", nav);
    cr_assert_eq(tally_test_count(nav, "aria-current"), 1);
}

Test(layout, staff_see_the_vendor_pages_and_a_tenant_in_context)
{
    tally_layout_t l = {.title = "Tenants", .current = "tenants", .signed_in = 1, .staff = 1,
                        .pages = PAGES, .npages = NPAGES};
    const char *nav = nav_of(render(&l, ""));
    cr_assert_not_null(strstr(nav, "<a href=\"/vendor/tenants\" aria-current=\"page\">Tenants</a>"), "%s", nav);
    cr_assert_not_null(strstr(nav, "<a href=\"/vendor/product\">Product analytics</a>"));
    cr_assert_null(strstr(nav, "/t/"), "no tenant in context: %s", nav);

    l.tenant_id = "globex";
    l.current = "overview";
    nav = nav_of(render(&l, ""));
    cr_assert_not_null(strstr(nav, "<a href=\"/t/globex/\" aria-current=\"page\">Overview</a>"), "%s", nav);
    cr_assert_not_null(strstr(nav, "<a href=\"/vendor/tenants\">Tenants</a>"));
}

Test(layout, links_carry_the_period_and_encode_the_tenant)
{
    tally_layout_t l = {.title = "Usage", .signed_in = 1, .tenant_id = "a/b?c&\"<x>", .period = "2026-11",
                        .pages = PAGES, .npages = NPAGES};
    const char *nav = nav_of(render(&l, ""));
    cr_assert_not_null(strstr(nav, "<a href=\"/t/a%2Fb%3Fc%26%22%3Cx%3E/usage?period=2026-11\">"), "%s", nav);
    cr_assert_not_null(strstr(nav, "<a href=\"/t/a%2Fb%3Fc%26%22%3Cx%3E/team\">"), "no period on team: %s", nav);
    l.period = "x&y=<1>";
    nav = nav_of(render(&l, ""));
    cr_assert_not_null(strstr(nav, "/seats?period=x%26y%3D%3C1%3E\">"), "%s", nav);
}

Test(layout, sign_out_is_a_form_that_posts)
{
    tally_layout_t l = {.title = "Team", .signed_in = 1, .tenant_id = "acme", .pages = PAGES, .npages = NPAGES};
    const char *doc = render(&l, "");
    cr_assert_not_null(strstr(doc, "<form class=\"signout\" method=\"post\" action=\"/signout\">"
                                   "<button type=\"submit\">Sign out</button></form>"));
    l.signed_in = 0;
    doc = render(&l, "");
    cr_assert_null(strstr(doc, "<nav"));
    cr_assert_null(strstr(doc, "<form"));
}

Test(layout, hostile_titles_are_escaped)
{
    tally_page_t pages[1] = {{.name = "usage", .title = "<script>x</script>"}};
    tally_layout_t l = {.title = "\"><script>alert(1)</script>\xFF", .signed_in = 1, .tenant_id = "t",
                        .pages = pages, .npages = 1};
    const char *doc = render(&l, "");
    cr_assert_null(strstr(doc, "<script"));
}

Test(layout, page_routes_follow_pages_h)
{
    static const struct {
        const char *page, *tenant, *want;
    } cases[] = {
        {"overview", "acme", "/t/acme/"}, {"usage", "acme", "/t/acme/usage"},  {"seats", "acme", "/t/acme/seats"},
        {"team", "acme", "/t/acme/team"}, {"tenants", NULL, "/vendor/tenants"}, {"product", "acme", "/vendor/product"},
        {"team", "a b", "/t/a%20b/team"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_textbuf_reset(&buf);
        cr_assert_eq(tally_layout_page_href(&buf, cases[i].page, cases[i].tenant), 0);
        cr_assert_str_eq(buf.data, cases[i].want);
    }
    tally_textbuf_reset(&buf);
    cr_assert_eq(tally_layout_page_href(&buf, "usage", NULL), -1, "a tenant page needs a tenant");
    cr_assert_eq(tally_layout_page_href(&buf, "usage", ""), -1);
    cr_assert_eq(tally_layout_page_href(&buf, "nope", "acme"), -1);
    cr_assert_eq(tally_layout_page_href(&buf, NULL, "acme"), -1);
    cr_assert_eq(buf.len, 0, "nothing written on failure");
}

Test(layout, the_error_page)
{
    tally_layout_error_page(&buf, 404, "Not found", "No page <here> & \"there\"", NULL);
    assert_well_formed(buf.data);
    cr_assert_not_null(strstr(buf.data, "<title>404 Not found \xC2\xB7 Tally</title>"));
    cr_assert_not_null(strstr(buf.data, "<h1>404 Not found</h1><p>No page &lt;here&gt; &amp; &quot;there&quot;</p>"));
    cr_assert_null(strstr(buf.data, "<nav"));
    /* The same body whoever asks and for whichever route: nothing to tell two 404s apart. */
    char *first = strdup(buf.data);
    tally_textbuf_reset(&buf);
    tally_layout_error_page(&buf, 404, "Not found", "No page <here> & \"there\"", NULL);
    cr_assert_str_eq(first, buf.data);
    free(first);
    /* With a principal, the navigation comes along. */
    tally_layout_t l = {.signed_in = 1, .tenant_id = "acme", .pages = PAGES, .npages = NPAGES};
    tally_textbuf_reset(&buf);
    tally_layout_error_page(&buf, 503, "Unavailable", "The database is down.", &l);
    assert_well_formed(buf.data);
    cr_assert_not_null(strstr(buf.data, "<h1>503 Unavailable</h1>"));
    cr_assert_not_null(strstr(buf.data, "/t/acme/usage"));
}

Test(layout, the_shell_of_a_page_for_a_request)
{
    tally_page_query_t q = {.tenant_id = "acme", .member_id = "m1", .period = "2026-10"};
    tally_layout_t l = tally_layout_for(&PAGES[1], &q, PAGES, NPAGES);
    cr_assert_str_eq(l.title, "Usage");
    cr_assert_str_eq(l.current, "usage");
    cr_assert_eq(l.signed_in, 1);
    cr_assert_eq(l.staff, 0);
    const char *nav = nav_of(render(&l, ""));
    cr_assert_not_null(strstr(nav, "<a href=\"/t/acme/usage?period=2026-10\" aria-current=\"page\">Usage</a>"), "%s",
                       nav);
    cr_assert_null(strstr(nav, "/vendor/"));

    tally_page_query_t staff = {.staff = 1, .status = "over"};
    l = tally_layout_for(&PAGES[4], &staff, PAGES, NPAGES);
    nav = nav_of(render(&l, ""));
    cr_assert_not_null(strstr(nav, "<a href=\"/vendor/tenants\" aria-current=\"page\">Tenants</a>"), "%s", nav);
    cr_assert_null(strstr(nav, "/t/"));

    l = tally_layout_for(NULL, NULL, PAGES, NPAGES);
    cr_assert_eq(l.signed_in, 0);
    cr_assert_null(strstr(render(&l, ""), "<nav"));
}
