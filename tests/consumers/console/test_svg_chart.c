/* The console's SVG charts: the y scale (1-2-5 ticks), axis labels, the
 * gauge (under, at, over and far over its limit, no limit, custom marks),
 * daily stacked bars (an empty month, all zero, a single day, values over
 * the cap, 2^50), lines with gaps, the chart's table, and escaping of every
 * name drawn. */
#include "html.h"
#include "markup.h"
#include "svg_chart.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
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

TestSuite(svg_chart, .init = setup, .fini = teardown);

#define P50 (INT64_C(1) << 50)

static const char *const HOSTILE[] = {
    "<script>alert(1)</script>",
    "\"><script>alert('x')</script>",
    "' onload='alert(1)",
    "a & b &amp; &lt",
    "\xC0\xAF\xE2\x82\xED\xA0\x80\xFF<script",
    "c\x01\x1B\x7F\xC2\x85\r",
    "]]><!--",
    "%s%n",
};
#define NHOSTILE (sizeof HOSTILE / sizeof HOSTILE[0])

static void assert_sound(const char *doc)
{
    char err[256];
    cr_assert_eq(tally_test_markup_check(doc, err, sizeof err), 0, "%s\n%s", err, doc);
    cr_assert_null(strstr(doc, "<script"), "%s", doc);
    cr_assert_null(strstr(doc, "nan"), "a NaN coordinate: %s", doc);
    cr_assert_null(strstr(doc, "inf"), "an infinite coordinate: %s", doc);
}

/* Every svg of doc opens with role="img", an aria-label and a <title>. */
static void assert_accessible(const char *doc)
{
    int n = 0;
    for (const char *p = strstr(doc, "<svg"); p; p = strstr(p + 1, "<svg"), n++) {
        const char *end = strchr(p, '>');
        cr_assert_not_null(end);
        char head[512];
        snprintf(head, sizeof head, "%.*s", (int)(end - p), p);
        cr_assert_not_null(strstr(head, " role=\"img\""), "%s", head);
        cr_assert_not_null(strstr(head, " aria-label=\""), "%s", head);
        cr_assert_not_null(strstr(head, " viewBox=\"0 0 "), "%s", head);
        cr_assert_not_null(strstr(head, " width=\"100%\""), "%s", head);
        cr_assert_eq(strncmp(end + 1, "<title>", 7), 0, "%s", end);
    }
    cr_assert_gt(n, 0);
}

/* The numeric attribute name of the k-th (0-based) element starting with
 * tag_prefix (e.g. "<rect class=\"tc-bar"), or NAN. */
static double attr_of(const char *doc, const char *tag_prefix, int k, const char *name)
{
    const char *p = doc;
    for (int i = 0; p; i++) {
        p = strstr(p, tag_prefix);
        if (!p)
            return NAN;
        if (i == k)
            break;
        p++;
    }
    const char *end = strchr(p, '>');
    char key[32];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *a = strstr(p, key);
    if (!a || a > end)
        return NAN;
    return strtod(a + strlen(key), NULL);
}

Test(svg_chart, scale_ticks_are_1_2_5_steps)
{
    static const struct {
        int64_t max, step, top;
        int nsteps;
    } cases[] = {
        {0, 1, 1, 1},       {-5, 1, 1, 1},     {1, 1, 1, 1},           {5, 1, 5, 5},
        {7, 2, 8, 4},       {10, 2, 10, 5},    {11, 5, 15, 3},         {23, 5, 25, 5},
        {99, 20, 100, 5},   {100, 20, 100, 5}, {101, 50, 150, 3},      {1234, 500, 1500, 3},
        {999999, 200000, 1000000, 5},          {P50, INT64_C(500000000000000), INT64_C(1500000000000000), 3},
        {INT64_MAX, INT64_C(1000000000000000000), INT64_C(5000000000000000000), 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_chart_scale_t s = tally_chart_scale(cases[i].max, 5);
        cr_assert_eq(s.step, cases[i].step, "max %lld: step %lld", (long long)cases[i].max, (long long)s.step);
        cr_assert_eq(s.top, cases[i].top, "max %lld: top %lld", (long long)cases[i].max, (long long)s.top);
        cr_assert_eq(s.nsteps, cases[i].nsteps, "max %lld", (long long)cases[i].max);
    }
    /* Other targets. */
    tally_chart_scale_t s = tally_chart_scale(100, 10);
    cr_assert_eq(s.step, 10);
    cr_assert_eq(s.top, 100);
    s = tally_chart_scale(100, 0); /* out of range: 5 */
    cr_assert_eq(s.step, 20);
}

Test(svg_chart, scale_properties_for_many_maxima)
{
    for (int64_t max = 1; max < INT64_C(4000000000000000000); max = max * 3 + 7) {
        for (int target = 2; target <= 12; target += 5) {
            tally_chart_scale_t s = tally_chart_scale(max, target);
            cr_assert_geq(s.top, max);
            cr_assert_leq(s.nsteps, target);
            cr_assert_eq(s.top, s.step * s.nsteps);
            cr_assert_lt(s.top - s.step, max, "not the smallest top for %lld", (long long)max);
            int64_t m = s.step;
            while (m % 10 == 0)
                m /= 10;
            cr_assert(m == 1 || m == 2 || m == 5, "step %lld", (long long)s.step);
        }
    }
}

Test(svg_chart, axis_labels_abbreviate_only_large_counts)
{
    static const struct {
        int64_t v;
        int decimals;
        const char *want;
    } cases[] = {
        {0, 0, "0"},         {950, 0, "950"},         {9999, 0, "9,999"},   {12000, 0, "12k"},
        {1500000, 0, "1.5M"}, {200000000, 0, "200M"}, {P50, 0, "1.12P"},    {INT64_C(3) * 1000000000, 0, "3B"},
        {50, 2, "0.5"},      {1234, 2, "12.34"},      {1000, 2, "10"},      {-2500, 0, "-2,500"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tally_textbuf_reset(&buf);
        tally_chart_axis_label(&buf, cases[i].v, cases[i].decimals);
        cr_assert_str_eq(buf.data, cases[i].want, "%lld", (long long)cases[i].v);
    }
}

Test(svg_chart, gauge_under_the_limit_shows_marks_and_no_over_part)
{
    tally_gauge_t g = {.title = "API calls this month", .value = 50000, .limit = 100000};
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    assert_accessible(buf.data);
    cr_assert_not_null(strstr(buf.data, "50,000 of 100,000 (50.0\xC2\xA0%)"), "%s", buf.data);
    cr_assert_eq(tally_test_count(buf.data, "class=\"tc-mark\""), 2);
    cr_assert_not_null(strstr(buf.data, ">80\xC2\xA0%<"));
    cr_assert_not_null(strstr(buf.data, ">100\xC2\xA0%<"));
    cr_assert_null(strstr(buf.data, "tc-over"));
    /* The 100 % mark sits at the limit, the fill at half of it. */
    double x100 = attr_of(buf.data, "<line class=\"tc-mark\"", 1, "x1");
    double x80 = attr_of(buf.data, "<line class=\"tc-mark\"", 0, "x1");
    double left = attr_of(buf.data, "<rect class=\"tc-fill\"", 0, "x");
    double fill = attr_of(buf.data, "<rect class=\"tc-fill\"", 0, "width");
    cr_assert_float_eq(left + fill, left + (x100 - left) / 2, 0.2);
    cr_assert_float_eq(x80 - left, (x100 - left) * 0.8, 0.2);
}

Test(svg_chart, gauge_over_the_limit_shows_the_over_part_and_the_truth)
{
    tally_gauge_t g = {.title = "API calls", .value = 115000, .limit = 100000};
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "115,000 of 100,000 (115.0\xC2\xA0%), over by 15,000"), "%s", buf.data);
    double x100 = attr_of(buf.data, "<line class=\"tc-mark\"", 1, "x1");
    double over_x = attr_of(buf.data, "<rect class=\"tc-over\"", 0, "x");
    double over_w = attr_of(buf.data, "<rect class=\"tc-over\"", 0, "width");
    cr_assert_float_eq(over_x, x100, 0.2, "the over part starts at the limit");
    cr_assert_gt(over_w, 0);
    cr_assert_null(strstr(buf.data, "tc-clipped"));

    /* Far over: capped at the end of the track, with a break mark; the label is exact. */
    tally_textbuf_reset(&buf);
    g.value = P50;
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "1,125,899,906,842,624 of 100,000"), "%s", buf.data);
    cr_assert_not_null(strstr(buf.data, "class=\"tc-clipped\""));
    double track_w = attr_of(buf.data, "<rect class=\"tc-track\"", 0, "width");
    double track_x = attr_of(buf.data, "<rect class=\"tc-track\"", 0, "x");
    over_x = attr_of(buf.data, "<rect class=\"tc-over\"", 0, "x");
    over_w = attr_of(buf.data, "<rect class=\"tc-over\"", 0, "width");
    cr_assert_float_eq(over_x + over_w, track_x + track_w, 0.2, "the bar stops at the end of the track");
}

Test(svg_chart, gauge_without_a_limit)
{
    tally_gauge_t g = {.title = "Seats", .value = 7, .limit = 0};
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "7 (no limit)"));
    cr_assert_null(strstr(buf.data, "tc-mark"));
    cr_assert_null(strstr(buf.data, "tc-over"));
    tally_textbuf_reset(&buf);
    g.value = 0;
    g.limit = -1;
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "0 (no limit)"));
    cr_assert_null(strstr(buf.data, "tc-fill"), "nothing to fill");
}

Test(svg_chart, gauge_marks_are_configurable)
{
    static const int marks[] = {50, 90, 150};
    tally_gauge_t g = {.title = "Peak", .value = 10, .limit = 100, .marks = marks, .nmarks = 3};
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_eq(tally_test_count(buf.data, "class=\"tc-mark\""), 3);
    cr_assert_not_null(strstr(buf.data, ">150\xC2\xA0%<"));
    double track_x = attr_of(buf.data, "<rect class=\"tc-track\"", 0, "x");
    double track_w = attr_of(buf.data, "<rect class=\"tc-track\"", 0, "width");
    double x150 = attr_of(buf.data, "<line class=\"tc-mark\"", 2, "x1");
    cr_assert_lt(x150, track_x + track_w, "a mark beyond 125 % widens the track");
}

/* A month of days 1..n for 3 environments. */
static const char *const ENVS[] = {"production", "staging", "development"};
static char day_labels[31][16];
static const char *day_ptrs[31];

static tally_chart_t month(size_t ndays, int64_t values[3][31], tally_chart_series_t series[3])
{
    for (size_t d = 0; d < 31; d++) {
        snprintf(day_labels[d], sizeof day_labels[d], "2026-12-%02zu", d + 1);
        day_ptrs[d] = day_labels[d];
    }
    for (size_t s = 0; s < 3; s++)
        series[s] = (tally_chart_series_t){.name = ENVS[s], .values = values[s]};
    return (tally_chart_t){.title = "API calls per day", .npoints = ndays, .x = day_ptrs, .series = series,
                           .nseries = 3, .total_column = 1};
}

Test(svg_chart, an_empty_month_renders_an_axis_and_says_no_data)
{
    int64_t v[3][31] = {{0}};
    tally_chart_series_t series[3];
    tally_chart_t c = month(0, v, series);
    tally_svg_stacked_bars(&buf, &c);
    assert_sound(buf.data);
    assert_accessible(buf.data);
    cr_assert_not_null(strstr(buf.data, ">No data</text>"));
    cr_assert_null(strstr(buf.data, "<rect class=\"tc-bar"));
    tally_textbuf_reset(&buf);
    tally_chart_table(&buf, &c);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "class=\"empty\">No data</td>"));

    /* Thirty days of zeros: the days are on the axis, no bar, still "No data". */
    tally_textbuf_reset(&buf);
    c = month(30, v, series);
    tally_svg_stacked_bars(&buf, &c);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, ">No data</text>"));
    cr_assert_null(strstr(buf.data, "<rect class=\"tc-bar"));
    cr_assert_not_null(strstr(buf.data, ">2026-12-01</text>"));
    tally_textbuf_reset(&buf);
    tally_chart_table(&buf, &c);
    cr_assert_eq(tally_test_count(buf.data, "<tr><th scope=\"row\">"), 30);
}

Test(svg_chart, a_single_day)
{
    int64_t v[3][31] = {{40}, {10}, {0}};
    tally_chart_series_t series[3];
    tally_chart_t c = month(1, v, series);
    tally_svg_stacked_bars(&buf, &c);
    assert_sound(buf.data);
    cr_assert_null(strstr(buf.data, "No data"));
    cr_assert_eq(tally_test_count(buf.data, "<rect class=\"tc-bar"), 2, "no bar for a zero value");
    double h0 = attr_of(buf.data, "<rect class=\"tc-bar", 0, "height");
    double h1 = attr_of(buf.data, "<rect class=\"tc-bar", 1, "height");
    double y0 = attr_of(buf.data, "<rect class=\"tc-bar", 0, "y");
    double y1 = attr_of(buf.data, "<rect class=\"tc-bar", 1, "y");
    cr_assert_float_eq(h0, 4 * h1, 0.05, "heights in proportion: %f %f", h0, h1);
    cr_assert_float_eq(y1 + h1, y0, 0.05, "staging sits on production");
    cr_assert_not_null(strstr(buf.data, "<title>2026-12-01 \xE2\x80\x93 production: 40</title>"));
    double w = attr_of(buf.data, "<rect class=\"tc-bar", 0, "width");
    double x = attr_of(buf.data, "<rect class=\"tc-bar", 0, "x");
    const char *label = strstr(buf.data, "tc-xaxis\"><text x=\"");
    cr_assert_not_null(label);
    double label_x = strtod(label + strlen("tc-xaxis\"><text x=\""), NULL);
    cr_assert(w > 10 && w <= 48, "a lone day is a bar, not a wall: %f", w);
    cr_assert_float_eq(x + w / 2, label_x, 0.1, "the bar stands over its label");
    cr_assert_gt(label_x, 300, "in the middle of the plot");
    tally_textbuf_reset(&buf);
    tally_chart_table(&buf, &c);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "<tr><th scope=\"row\">2026-12-01</th><td class=\"num\">40</td>"
                                        "<td class=\"num\">10</td><td class=\"num\">0</td><td class=\"num\">50</td></tr>"),
                       "%s", buf.data);
}

Test(svg_chart, days_over_the_cap_are_marked_and_the_cap_is_drawn)
{
    int64_t v[3][31] = {{0}};
    for (int d = 0; d < 31; d++)
        v[0][d] = 100, v[1][d] = d;            /* totals 100..130 */
    tally_chart_series_t series[3];
    tally_chart_t c = month(31, v, series);
    tally_chart_line_t cap = {.name = "Daily cap", .value = 120, .is_cap = 1};
    c.lines = &cap;
    c.nlines = 1;
    tally_svg_stacked_bars(&buf, &c);
    assert_sound(buf.data);
    cr_assert_eq(tally_test_count(buf.data, "<rect class=\"tc-over\""), 10, "days 22..31 are over 120");
    cr_assert_not_null(strstr(buf.data, "Daily cap 120</text>"));
    cr_assert_not_null(strstr(buf.data, "<title>2026-12-31: 10 over Daily cap</title>"), "%s", buf.data);
    /* The over part starts at the cap line. */
    double cap_y = attr_of(buf.data, "<line x1=", 0, "y1");
    double over_y = attr_of(buf.data, "<rect class=\"tc-over\"", 0, "y");
    double over_h = attr_of(buf.data, "<rect class=\"tc-over\"", 0, "height");
    cr_assert_float_eq(over_y + over_h, cap_y, 0.05);
    tally_textbuf_reset(&buf);
    tally_chart_table(&buf, &c);
    cr_assert_not_null(strstr(buf.data, "<caption>API calls per day (Daily cap: 120)</caption>"), "%s", buf.data);

    /* A cap far above the data keeps the scale up to the cap: the line is on the chart. */
    tally_textbuf_reset(&buf);
    cap.value = 1000000;
    tally_svg_stacked_bars(&buf, &c);
    assert_sound(buf.data);
    cr_assert_null(strstr(buf.data, "tc-over"));
    cr_assert_not_null(strstr(buf.data, ">1M</text>"), "the top tick is the cap");
}

Test(svg_chart, huge_values_draw_inside_the_chart_and_stay_exact)
{
    int64_t v[3][31] = {{P50, 1}, {P50, 0}, {P50, 0}};
    tally_chart_series_t series[3];
    tally_chart_t c = month(2, v, series);
    tally_svg_stacked_bars(&buf, &c);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "production: 1,125,899,906,842,624</title>"));
    cr_assert_not_null(strstr(buf.data, ">4P</text>"), "%s", buf.data); /* 3 * 2^50 = 3.38P: top 4P */
    for (int k = 0; k < 3; k++) {
        double y = attr_of(buf.data, "<rect class=\"tc-bar", k, "y");
        double h = attr_of(buf.data, "<rect class=\"tc-bar", k, "height");
        cr_assert(y >= 0 && h >= 0 && y + h <= 300, "bar %d: y %f h %f", k, y, h);
    }
    tally_textbuf_reset(&buf);
    tally_chart_table(&buf, &c);
    cr_assert_not_null(strstr(buf.data, "<td class=\"num\">3,377,699,720,527,872</td>"), "the exact total");

    /* Sums that overflow int64 saturate instead of wrapping negative. */
    int64_t w[3][31] = {{INT64_MAX}, {INT64_MAX}, {5}};
    c = month(1, w, series);
    tally_textbuf_reset(&buf);
    tally_svg_stacked_bars(&buf, &c);
    assert_sound(buf.data);
    for (int k = 0; k < tally_test_count(buf.data, "<rect class=\"tc-bar"); k++) {
        double y = attr_of(buf.data, "<rect class=\"tc-bar", k, "y");
        double h = attr_of(buf.data, "<rect class=\"tc-bar", k, "height");
        cr_assert(y >= 0 && h >= 0, "bar %d: y %f h %f", k, y, h);
    }
    tally_textbuf_reset(&buf);
    tally_chart_table(&buf, &c);
    cr_assert_not_null(strstr(buf.data, "9,223,372,036,854,775,807</td></tr>"), "a saturated total");
}

Test(svg_chart, rates_as_lines_with_gaps_for_days_without_calls)
{
    const int64_t r4[5] = {120, 250, TALLY_CHART_MISSING, 50, 75}; /* basis points */
    const int64_t r5[5] = {0, 10, TALLY_CHART_MISSING, TALLY_CHART_MISSING, 5};
    const tally_chart_series_t s[2] = {{"4xx", r4}, {"5xx", r5}};
    const char *const x[5] = {"1", "2", "3", "4", "5"};
    tally_chart_t c = {.title = "Error rates", .npoints = 5, .x = x, .series = s, .nseries = 2, .decimals = 2,
                       .unit = "%"};
    tally_svg_lines(&buf, &c);
    assert_sound(buf.data);
    assert_accessible(buf.data);
    cr_assert_eq(tally_test_count(buf.data, "<polyline"), 3, "4xx in two pieces, 5xx: one piece and a lone dot");
    cr_assert_eq(tally_test_count(buf.data, "<circle"), 7);
    cr_assert_not_null(strstr(buf.data, "<title>2 \xE2\x80\x93 4xx: 2.50\xC2\xA0%</title>"), "%s", buf.data);
    cr_assert_not_null(strstr(buf.data, "highest 2.50\xC2\xA0% (4xx, 2)"));
    tally_textbuf_reset(&buf);
    tally_chart_table(&buf, &c);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "<th scope=\"col\" class=\"num\">4xx (%)</th>"));
    cr_assert_not_null(strstr(buf.data, "<tr><th scope=\"row\">3</th><td class=\"num\">\xE2\x80\x93</td>"));
    cr_assert_not_null(strstr(buf.data, "<td class=\"num\">0.75</td>"));
}

Test(svg_chart, seats_with_peak_and_seats_max_lines)
{
    int64_t in_use[40], peak[40];
    for (int i = 0; i < 40; i++)
        in_use[i] = 10 + i % 7, peak[i] = 12 + i % 7;
    const tally_chart_series_t s[2] = {{"Seats in use", in_use}, {"Daily peak", peak}};
    const tally_chart_line_t lines[2] = {{"Peak", 18, 0}, {"seats_max", 15, 1}};
    tally_chart_t c = {.title = "Seats", .npoints = 40, .series = s, .nseries = 2, .lines = lines, .nlines = 2};
    tally_svg_lines(&buf, &c);
    assert_sound(buf.data);
    cr_assert_eq(tally_test_count(buf.data, "<polyline"), 2);
    cr_assert_not_null(strstr(buf.data, ">Peak 18</text>"));
    cr_assert_not_null(strstr(buf.data, ">seats_max 15</text>"));
    /* Long series: no dot per point. */
    tally_textbuf_reset(&buf);
    int64_t many[400];
    for (int i = 0; i < 400; i++)
        many[i] = i;
    const tally_chart_series_t m = {"Seats", many};
    c = (tally_chart_t){.title = "Seats", .npoints = 400, .series = &m, .nseries = 1};
    tally_svg_lines(&buf, &c);
    assert_sound(buf.data);
    cr_assert_eq(tally_test_count(buf.data, "<circle"), 0);
    cr_assert_lt(tally_test_count(buf.data, "<text x="), 60, "x labels thinned out");
}

Test(svg_chart, every_name_drawn_is_escaped)
{
    for (size_t i = 0; i < NHOSTILE; i++) {
        const char *h = HOSTILE[i];
        const int64_t v1[3] = {5, 200, 0}, v2[3] = {TALLY_CHART_MISSING, 300, 1};
        const tally_chart_series_t s[2] = {{h, v1}, {h, v2}};
        const tally_chart_line_t l[1] = {{h, 100, 1}};
        const char *const x[3] = {h, h, h};
        tally_chart_t c = {.title = h, .x_title = h, .npoints = 3, .x = x, .x_short = x, .series = s,
                           .nseries = 2, .lines = l, .nlines = 1, .unit = h, .total_column = 1};
        tally_textbuf_reset(&buf);
        tally_textbuf_puts(&buf, "<div>");
        tally_svg_stacked_bars(&buf, &c);
        tally_svg_lines(&buf, &c);
        tally_chart_table(&buf, &c);
        tally_gauge_t g = {.title = h, .value = 150, .limit = 100, .unit = h};
        tally_svg_gauge(&buf, &g);
        tally_textbuf_puts(&buf, "</div>");
        assert_sound(buf.data);
        assert_accessible(buf.data);
    }
}

Test(svg_chart, the_css_covers_the_palette_and_print)
{
    tally_chart_css(&buf);
    for (int i = 0; i < TALLY_CHART_PALETTE; i++) {
        char cls[16];
        snprintf(cls, sizeof cls, ".tc-s%d{", i);
        cr_assert_not_null(strstr(buf.data, cls), "%s", cls);
    }
    cr_assert_not_null(strstr(buf.data, "@media print"));
    cr_assert_null(strchr(buf.data, '<'));
}

Test(svg_chart, gauge_edge_values)
{
    /* Exactly at the limit: no over part, 100.0 %. */
    tally_gauge_t g = {.title = "Calls", .value = 100, .limit = 100};
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "100 of 100 (100.0\xC2\xA0%)"));
    cr_assert_null(strstr(buf.data, "tc-over"));
    /* A negative value (never in the read model) draws nothing and says what it is. */
    tally_textbuf_reset(&buf);
    g.value = -3;
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "-3 of 100"));
    cr_assert_null(strstr(buf.data, "tc-fill"));
    /* Marks out of range are left out; a huge limit stays finite. */
    static const int marks[] = {0, -10, 5000, 80};
    tally_textbuf_reset(&buf);
    g = (tally_gauge_t){.title = "Calls", .value = INT64_MAX, .limit = INT64_MAX - 1, .marks = marks, .nmarks = 4};
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_eq(tally_test_count(buf.data, "class=\"tc-mark\""), 1);
    cr_assert_not_null(strstr(buf.data, "9,223,372,036,854,775,807 of 9,223,372,036,854,775,806"), "%s", buf.data);
    /* Fixed-point with a unit. */
    tally_textbuf_reset(&buf);
    g = (tally_gauge_t){.title = "Rate", .value = 250, .limit = 500, .decimals = 2, .unit = "%"};
    tally_svg_gauge(&buf, &g);
    assert_sound(buf.data);
    cr_assert_not_null(strstr(buf.data, "2.50\xC2\xA0% of 5.00\xC2\xA0% (50.0\xC2\xA0%)"), "%s", buf.data);
}

Test(svg_chart, x_labels_thin_out_and_stay_inside_the_chart)
{
    static int64_t v[396];
    static char lab[396][16];
    static const char *x[396];
    for (int d = 0; d < 396; d++) {
        v[d] = d;
        snprintf(lab[d], sizeof lab[d], "day-%04d-xx", d);
        x[d] = lab[d];
    }
    const tally_chart_series_t s = {"Seats", v};
    tally_chart_t c = {.title = "Seats", .npoints = 396, .x = x, .series = &s, .nseries = 1};
    tally_svg_lines(&buf, &c);
    assert_sound(buf.data);
    const char *axis = strstr(buf.data, "<g class=\"tc-xaxis\">");
    cr_assert_not_null(axis);
    int n = 0;
    double prev = -1000;
    for (const char *p = strstr(axis, "<text x=\""); p && p < strstr(axis, "</g>"); p = strstr(p + 1, "<text x=\"")) {
        double xpos = strtod(p + 9, NULL);
        cr_assert_gt(xpos - prev, 11 * 7.0, "labels overlap: %f after %f", xpos, prev);
        cr_assert(xpos - 5.5 * 7.2 >= 0 && xpos + 5.5 * 7.2 <= 720, "label at %f is cut", xpos);
        prev = xpos;
        n++;
    }
    cr_assert(n >= 4 && n <= 12, "%d labels", n);
}
