/* The gauge of svg_chart.h: a value against its limit, with marks. */
#include "svg_chart.h"
#include "svg_chart_frame.h"

#include "html.h"

void tally_svg_gauge(tally_textbuf_t *out, const tally_gauge_t *g)
{
    enum { W = 400, H = 66 };
    const double left = 4, right = W - 4, bar_y = 26, bar_h = 18;
    static const int default_marks[] = {80, 100};
    const int *marks = g->marks ? g->marks : default_marks;
    size_t nmarks = g->marks ? g->nmarks : 2;

    /* The label: exact figures, the state in words. */
    tally_textbuf_t label = {0};
    tally_chart_put_value(&label, g->value, g->decimals, g->unit);
    long double domain;
    if (g->limit > 0) {
        tally_textbuf_puts(&label, " of ");
        tally_chart_put_value(&label, g->limit, g->decimals, g->unit);
        tally_textbuf_puts(&label, " (");
        tally_html_percent(&label, g->value < 0 ? 0 : g->value, g->limit, 1);
        tally_textbuf_puts(&label, ")");
        if (g->value > g->limit) {
            tally_textbuf_puts(&label, ", over by ");
            tally_chart_put_value(&label, g->value - g->limit, g->decimals, g->unit);
        }
        int head = 125;
        for (size_t k = 0; k < nmarks; k++)
            if (marks[k] + 5 > head && marks[k] <= 1000)
                head = marks[k] + 5;
        domain = (long double)g->limit * head / 100.0L;
    } else {
        tally_textbuf_puts(&label, " (no limit)");
        domain = (long double)tally_chart_scale(g->value, 5).top;
    }

    tally_chart_svg_open(out, "tc-gauge", W, H, g->title, label.data);
    /* The label fits the width: smaller type for a long one (digits are
     * about 0.6 em wide). */
    double size = (right - left) / (0.6 * (double)tally_chart_chars(label.data));
    if (size > 14)
        size = 14;
    tally_textbuf_printf(out, "<text class=\"tc-label\" x=\"%.1f\" y=\"17\" font-size=\"%.1f\">", left, size);
    tally_textbuf_puts(out, label.data);
    tally_textbuf_puts(out, "</text>");
    double width = right - left;
    tally_textbuf_printf(out, "<rect class=\"tc-track\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#EEEEEE\"/>",
                         left, bar_y, width, bar_h);
    long double v = g->value > 0 ? (long double)g->value : 0;
    long double within = g->limit > 0 && v > g->limit ? (long double)g->limit : v;
    double w_in = (double)(within / domain > 1 ? 1 : within / domain) * width;
    if (w_in > 0)
        tally_textbuf_printf(out,
                             "<rect class=\"tc-fill\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#0072B2\"/>",
                             left, bar_y, w_in, bar_h);
    if (g->limit > 0 && v > g->limit) {
        double end = (double)(v / domain > 1 ? 1 : v / domain) * width;
        tally_textbuf_printf(out,
                             "<rect class=\"tc-over\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"" OVER_COLOUR
                             "\"/>",
                             left + w_in, bar_y, end - w_in, bar_h);
        if (v > domain) /* clipped: a break mark at the end of the track */
            tally_textbuf_printf(out,
                                 "<path class=\"tc-clipped\" d=\"M%.1f %.1fl6 6l-6 4l6 6l-6 4\" stroke=\"#FFFFFF\" "
                                 "stroke-width=\"3\" fill=\"none\"/>",
                                 right - 14, bar_y);
    }
    if (g->limit > 0) {
        for (size_t k = 0; k < nmarks; k++) {
            if (marks[k] <= 0 || marks[k] > 1000)
                continue;
            double x = left + (double)((long double)g->limit * marks[k] / 100.0L / domain) * width;
            tally_textbuf_printf(out,
                                 "<line class=\"tc-mark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222222\" "
                                 "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d\xC2\xA0%%</text>",
                                 x, bar_y - 4, x, bar_y + bar_h + 4, x, bar_y + bar_h + 16, marks[k]);
        }
    }
    tally_textbuf_puts(out, "</svg>");
    tally_textbuf_free(&label);
}
