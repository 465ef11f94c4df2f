/* The console's HTML writer: escaping (the five characters, invalid UTF-8,
 * control characters), URL encoding, numbers, "< 5", badges, links and
 * tables; and the markup checker the console's suites rely on. */
#include "html.h"
#include "markup.h"

#include <criterion/criterion.h>
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

TestSuite(html, .init = setup, .fini = teardown);

/* The text written by f(arg) into a fresh buffer. */
#define WRITE(call)                                                                                                  \
    (tally_textbuf_reset(&buf), (call), buf.data ? buf.data : "")

static void assert_well_formed(const char *doc)
{
    char err[256];
    cr_assert_eq(tally_test_markup_check(doc, err, sizeof err), 0, "%s\n%s", err, doc);
}

/* Names a page may get from the database or a request. */
static const char *const HOSTILE[] = {
    "<script>alert(1)</script>",
    "\"><script>alert('x')</script>",
    "' onmouseover='alert(1)",
    "a & b &amp; c &#60; &lt",
    "\xC0\xAF\xE2\x82\xED\xA0\x80\xF5\x80\x80\x80\xFF<script",
    "tab\tnew\nline\rcr\x01\x1B\x7F\xC2\x85",
    "]]><!-- --><![CDATA[",
    "%s%n%x%p",
    "\xEF\xBF\xBE\xEF\xBF\xBF",
    "",
};
#define NHOSTILE (sizeof HOSTILE / sizeof HOSTILE[0])

Test(html, escapes_the_five_characters)
{
    cr_assert_str_eq(WRITE(tally_html_text(&buf, "<a href=\"x\">Tom & Jerry's</a>")),
                     "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    cr_assert_str_eq(WRITE(tally_html_text(&buf, "plain text")), "plain text");
    cr_assert_str_eq(WRITE(tally_html_text(&buf, NULL)), "");
}

Test(html, keeps_valid_utf8_as_it_is)
{
    const char *s = "Z\xC3\xBCrich \xE2\x82\xAC \xF0\x9D\x84\x9E \xE4\xB8\xAD";
    cr_assert_str_eq(WRITE(tally_html_text(&buf, s)), s);
}

Test(html, replaces_invalid_utf8_with_the_replacement_character)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a\xC0\xAF" "b", "a\xEF\xBF\xBD\xEF\xBF\xBD" "b"},           /* overlong '/' */
        {"\x80", "\xEF\xBF\xBD"},                                       /* lone continuation */
        {"x\xE2\x82", "x\xEF\xBF\xBD\xEF\xBF\xBD"},                     /* truncated at the end */
        {"\xE2\x82<", "\xEF\xBF\xBD\xEF\xBF\xBD&lt;"},                  /* truncated before '<' */
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},       /* a surrogate */
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}, /* above U+10FFFF */
        {"\xFF\xFE", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xEF\xBF\xBE", "\xEF\xBF\xBD"},                               /* U+FFFE */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_str_eq(WRITE(tally_html_text(&buf, cases[i].in)), cases[i].out, "case %zu", i);
}

Test(html, replaces_control_characters_but_keeps_tab_and_newline)
{
    cr_assert_str_eq(WRITE(tally_html_text(&buf, "a\tb\nc\rd\x01" "e\x1B" "f\x7Fg\xC2\x85h")),
                     "a\tb\nc\xEF\xBF\xBD" "d\xEF\xBF\xBD" "e\xEF\xBF\xBD" "f\xEF\xBF\xBDg\xEF\xBF\xBDh");
    /* NUL bytes inside a counted string. */
    cr_assert_str_eq(WRITE(tally_html_text_n(&buf, "a\0b", 3)), "a\xEF\xBF\xBD" "b");
}

Test(html, every_hostile_name_comes_out_as_well_formed_text)
{
    for (size_t i = 0; i < NHOSTILE; i++) {
        tally_textbuf_reset(&buf);
        tally_textbuf_puts(&buf, "<p title=\"");
        tally_html_text(&buf, HOSTILE[i]);
        tally_textbuf_puts(&buf, "\" data-x='");
        tally_html_text(&buf, HOSTILE[i]);
        tally_textbuf_puts(&buf, "'>");
        tally_html_text(&buf, HOSTILE[i]);
        tally_textbuf_puts(&buf, "</p>");
        assert_well_formed(buf.data);
        cr_assert_null(strstr(buf.data, "<script"), "%s", buf.data);
        cr_assert_null(strstr(buf.data, "<!"), "%s", buf.data);
    }
}

Test(html, url_component_encodes_all_but_unreserved)
{
    cr_assert_str_eq(WRITE(tally_html_url_component(&buf, "a b/c?d#e&f=g+h%\xC3\xBC\"<")),
                     "a%20b%2Fc%3Fd%23e%26f%3Dg%2Bh%25%C3%BC%22%3C");
    cr_assert_str_eq(WRITE(tally_html_url_component(&buf, "AZaz09-._~")), "AZaz09-._~");
    cr_assert_str_eq(WRITE(tally_html_url_component(&buf, "\xFF\x01")), "%FF%01");
}

Test(html, link_encodes_the_query_and_escapes_the_rest)
{
    tally_textbuf_t path = {0};
    tally_textbuf_puts(&path, "/t/");
    tally_html_url_component(&path, "ac/me?&\"");
    tally_textbuf_puts(&path, "/usage");
    tally_html_param_t params[] = {{"period", "2026-12"}, {"skip", NULL}, {"q", "a&b=c <d>"}};
    (void)WRITE(tally_html_link(&buf, path.data, params, 3, "Usage <next>", "nav\"x"));
    cr_assert_str_eq(buf.data, "<a href=\"/t/ac%2Fme%3F%26%22/usage?period=2026-12&amp;q=a%26b%3Dc%20%3Cd%3E\" "
                               "class=\"nav&quot;x\">Usage &lt;next&gt;</a>");
    assert_well_formed(buf.data);
    cr_assert_str_eq(WRITE(tally_html_link(&buf, "/vendor/tenants", NULL, 0, "Tenants", NULL)),
                     "<a href=\"/vendor/tenants\">Tenants</a>");
    /* A path with markup cannot leave its attribute. */
    (void)WRITE(tally_html_link(&buf, "\"><script>", NULL, 0, "x", NULL));
    cr_assert_null(strstr(buf.data, "<script"));
    assert_well_formed(buf.data);
    tally_textbuf_free(&path);
}

Test(html, integers_have_thousands_separators)
{
    cr_assert_str_eq(WRITE(tally_html_int(&buf, 0)), "0");
    cr_assert_str_eq(WRITE(tally_html_int(&buf, 999)), "999");
    cr_assert_str_eq(WRITE(tally_html_int(&buf, 1000)), "1,000");
    cr_assert_str_eq(WRITE(tally_html_int(&buf, -1234567)), "-1,234,567");
    cr_assert_str_eq(WRITE(tally_html_int(&buf, INT64_C(1) << 50)), "1,125,899,906,842,624");
    cr_assert_str_eq(WRITE(tally_html_int(&buf, INT64_MAX)), "9,223,372,036,854,775,807");
    cr_assert_str_eq(WRITE(tally_html_int(&buf, INT64_MIN)), "-9,223,372,036,854,775,808");
}

Test(html, fixed_point_values)
{
    cr_assert_str_eq(WRITE(tally_html_fixed(&buf, 123456, 2)), "1,234.56");
    cr_assert_str_eq(WRITE(tally_html_fixed(&buf, -5, 2)), "-0.05");
    cr_assert_str_eq(WRITE(tally_html_fixed(&buf, 7, 0)), "7");
    cr_assert_str_eq(WRITE(tally_html_fixed(&buf, 1000000, 3)), "1,000.000");
    cr_assert_str_eq(WRITE(tally_html_fixed(&buf, INT64_MIN, 6)), "-9,223,372,036,854.775808");
}

Test(html, percentages)
{
    cr_assert_str_eq(WRITE(tally_html_percent(&buf, 1, 8, 1)), "12.5\xC2\xA0%");
    cr_assert_str_eq(WRITE(tally_html_percent(&buf, 2, 3, 2)), "66.67\xC2\xA0%");
    cr_assert_str_eq(WRITE(tally_html_percent(&buf, 3, 2, 0)), "150\xC2\xA0%");
    cr_assert_str_eq(WRITE(tally_html_percent(&buf, 0, 5, 1)), "0.0\xC2\xA0%");
    cr_assert_str_eq(WRITE(tally_html_percent(&buf, INT64_MAX, INT64_MAX, 1)), "100.0\xC2\xA0%");
    cr_assert_str_eq(WRITE(tally_html_percent(&buf, 1, 0, 1)), "\xE2\x80\x93");
    cr_assert_str_eq(WRITE(tally_html_percent(&buf, -1, 5, 1)), "\xE2\x80\x93");
}

Test(html, suppressed_counts_say_less_than_five)
{
    cr_assert_str_eq(WRITE(tally_html_count(&buf, 3, 1)), "&lt;\xC2\xA0" "5");
    cr_assert_str_eq(WRITE(tally_html_count(&buf, 12345, 0)), "12,345");
    /* The hidden figure is not in the output at all. */
    cr_assert_null(strstr(WRITE(tally_html_count(&buf, 3, 1)), "3"));
}

Test(html, badges_carry_their_word)
{
    cr_assert_str_eq(WRITE(tally_html_badge(&buf, "ok")), "<span class=\"badge badge-ok\">OK</span>");
    cr_assert_str_eq(WRITE(tally_html_badge(&buf, "warning")), "<span class=\"badge badge-warning\">Warning</span>");
    cr_assert_str_eq(WRITE(tally_html_badge(&buf, "over")), "<span class=\"badge badge-over\">Over limit</span>");
    cr_assert_str_eq(WRITE(tally_html_badge(&buf, "<b>x")), "<span class=\"badge badge-unknown\">&lt;b&gt;x</span>");
    cr_assert_str_eq(WRITE(tally_html_badge(&buf, NULL)), "<span class=\"badge badge-unknown\">unknown</span>");
}

Test(html, elements)
{
    cr_assert_str_eq(WRITE(tally_html_elem(&buf, "h2", "a\"b", "x<y")), "<h2 class=\"a&quot;b\">x&lt;y</h2>");
    cr_assert_str_eq(WRITE((tally_html_open(&buf, "p", NULL), tally_html_close(&buf, "p"))), "<p></p>");
    cr_assert_str_eq(WRITE(tally_html_attr(&buf, "title", "'")), " title=\"&#39;\"");
}

Test(html, tables_have_caption_scopes_and_numeric_cells)
{
    const tally_html_column_t cols[] = {{"Environment", 0}, {"Calls", 1}, {"5xx rate", 1}, {"Installs", 1}};
    tally_html_cell_t cells[] = {
        tally_html_cell_text("prod"),    tally_html_cell_int(1234567), tally_html_cell_percent(1, 8, 1),
        tally_html_cell_count(3, 1),     tally_html_cell_text("dev & <test>"), tally_html_cell_int(0),
        tally_html_cell_none(),          tally_html_cell_count(42, 0),
    };
    cells[4].href = "/t/a/usage?x=1&y=2";
    tally_html_table(&buf, "env", "Per environment", cols, 4, cells, 2, 1, NULL);
    assert_well_formed(buf.data);
    cr_assert_str_eq(
        buf.data,
        "<div class=\"table-wrap\"><table class=\"env\"><caption>Per environment</caption><thead><tr><th scope=\"col\">Environment</th>"
        "<th scope=\"col\" class=\"num\">Calls</th><th scope=\"col\" class=\"num\">5xx rate</th>"
        "<th scope=\"col\" class=\"num\">Installs</th></tr></thead><tbody>"
        "<tr><th scope=\"row\">prod</th><td class=\"num\">1,234,567</td><td class=\"num\">12.5\xC2\xA0%</td>"
        "<td class=\"num\">&lt;\xC2\xA0" "5</td></tr>"
        "<tr><th scope=\"row\"><a href=\"/t/a/usage?x=1&amp;y=2\">dev &amp; &lt;test&gt;</a></th>"
        "<td class=\"num\">0</td><td class=\"num\">\xE2\x80\x93</td><td class=\"num\">42</td></tr>"
        "</tbody></table></div>");
}

Test(html, an_empty_table_says_so_across_its_columns)
{
    const tally_html_column_t cols[] = {{"Day", 0}, {"Calls", 1}};
    tally_html_table(&buf, NULL, NULL, cols, 2, NULL, 0, 0, "No calls this month");
    assert_well_formed(buf.data);
    cr_assert_not_null(strstr(buf.data, "<td colspan=\"2\" class=\"empty\">No calls this month</td>"));
}

Test(html, hostile_names_in_every_part_of_a_table)
{
    for (size_t i = 0; i < NHOSTILE; i++) {
        tally_textbuf_reset(&buf);
        const tally_html_column_t cols[] = {{HOSTILE[i], 0}, {HOSTILE[i], 1}};
        tally_html_cell_t cells[] = {tally_html_cell_text(HOSTILE[i]), tally_html_cell_int(1)};
        cells[0].href = HOSTILE[i];
        tally_html_table(&buf, HOSTILE[i], HOSTILE[i], cols, 2, cells, 1, 1, HOSTILE[i]);
        tally_html_table(&buf, HOSTILE[i], HOSTILE[i], cols, 2, cells, 0, 1, HOSTILE[i]);
        assert_well_formed(buf.data);
        cr_assert_null(strstr(buf.data, "<script"), "%s", buf.data);
    }
}

/* The checker the console's suites use must catch what it claims to. */
Test(markup_check, rejects_malformed_markup)
{
    static const char *const bad[] = {
        "<p>", "<p></b>", "</p>", "<p>a < b</p>", "<p>a & b</p>", "<p title=x>a</p>", "<p title=\"<\">a</p>",
        "<script>1</script>", "<p onclick=\"x\">a</p>", "<p>\x01</p>", "<p>\xC0\xAF</p>", "<p a=\"1\" a=\"2\"></p>",
        "<style>p<b</style>", "<p>&#;</p>", "<svg><rect></svg>",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(tally_test_markup_check(bad[i], err, sizeof err), -1, "accepted: %s", bad[i]);
    static const char *const good[] = {
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><style>a>b{}</style></head>"
        "<body><p class='x'>a &amp; b &#39; &#x27; \xE2\x82\xAC</p><br><svg><rect x=\"1\"/></svg></body></html>",
        "<!-- c --><button disabled>x</button>",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(tally_test_markup_check(good[i], err, sizeof err), 0, "%s: %s", err, good[i]);
}

Test(html, a_table_written_row_by_row)
{
    const tally_html_column_t cols[] = {{"Version", 0}, {"Success", 1}};
    tally_html_table_open(&buf, NULL, NULL, cols, 2);
    for (int i = 0; i < 3; i++) {
        tally_html_cell_t cells[2] = {tally_html_cell_text("1.2.3"), tally_html_cell_percent(i, 3, 0)};
        tally_html_table_row(&buf, cols, 2, cells, 0);
    }
    tally_html_table_close(&buf);
    assert_well_formed(buf.data);
    cr_assert_null(strstr(buf.data, "<caption>"));
    cr_assert_null(strstr(buf.data, "scope=\"row\""));
    cr_assert_eq(tally_test_count(buf.data, "<tr>"), 4);
    cr_assert_not_null(strstr(buf.data, "<td>1.2.3</td><td class=\"num\">67\xC2\xA0%</td>"), "%s", buf.data);
}

/* Any bytes at all: the escaped text is valid UTF-8, well-formed, and
 * unchanged when it needed no escaping. */
Test(html, random_bytes_always_come_out_well_formed)
{
    unsigned state = 12345;
    char in[65];
    for (int round = 0; round < 5000; round++) {
        size_t n = (state = state * 1103515245u + 12345u) % 65;
        int plain = 1;
        for (size_t i = 0; i < n; i++) {
            state = state * 1103515245u + 12345u;
            /* Mostly the troublesome bytes: markup, controls, high bytes. */
            static const char pick[] = "<>&\"'\x01\x1B\x7F\x80\xBF\xC0\xC2\xE2\xED\xF0\xF4\xFF" "a \t\n";
            in[i] = (state >> 16) % 3 ? pick[(state >> 8) % (sizeof pick - 1)] : (char)(1 + (state >> 8) % 255);
            unsigned char c = (unsigned char)in[i];
            if (c < 0x20 || c >= 0x7F || strchr("<>&\"'", c))
                plain = 0;
        }
        in[n] = '\0';
        tally_textbuf_reset(&buf);
        tally_textbuf_puts(&buf, "<p title=\"");
        tally_html_text(&buf, in);
        tally_textbuf_puts(&buf, "\">");
        size_t at = buf.len;
        tally_html_text(&buf, in);
        if (plain)
            cr_assert_eq(memcmp(buf.data + at, in, n), 0);
        tally_textbuf_puts(&buf, "</p>");
        assert_well_formed(buf.data);
    }
}
