#ifndef TALLY_TEST_MARKUP_H
#define TALLY_TEST_MARKUP_H

#include <stddef.h>

/* A strict well-formedness check of the console's HTML and SVG (for unit
 * and browser-free page tests; no libxml2 needed). doc passes when:
 *   - it is valid UTF-8 without control characters (tab, LF, CR allowed);
 *   - every element is closed in order, except HTML's void elements (meta,
 *     br, input, ...) and <x/> forms;
 *   - attribute values are quoted and hold no '<'; no attribute twice;
 *   - every '&' starts an entity: &name; &#digits; or &#xhex;
 *   - no '<' in text that does not start a tag, comment or <!doctype>;
 *   - there is no <script> element and no on...= attribute;
 *   - <style> holds no '<'.
 * Returns 0, or -1 with the reason and byte offset in err. */
int tally_test_markup_check(const char *doc, char *err, size_t errsize);

/* The number of non-overlapping occurrences of needle in hay. */
int tally_test_count(const char *hay, const char *needle);

#endif
