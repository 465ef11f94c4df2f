/* Unit tests of common/textbuf: every append keeps the text NUL-terminated
 * and exact (growth across many appends, binary bytes, printf, the extreme
 * integers), truncate undoes a partial write, reset keeps the memory. */
#include "textbuf.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(textbuf, appends_grow_and_stay_terminated)
{
    tally_textbuf_t b = {0};
    for (int i = 0; i < 10000; i++)
        tally_textbuf_putc(&b, (char)('a' + i % 26));
    cr_assert_eq(b.len, 10000);
    cr_assert_eq(b.data[b.len], '\0');
    cr_assert_eq(b.data[9999], (char)('a' + 9999 % 26));
    tally_textbuf_append(&b, "x\0y", 3);   /* binary bytes, a NUL inside */
    cr_assert_eq(b.len, 10003);
    cr_assert_eq(memcmp(b.data + 10000, "x\0y", 3), 0);
    tally_textbuf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len + b.cap, 0);
}

Test(textbuf, printf_integers_and_truncate)
{
    tally_textbuf_t b = {0};
    tally_textbuf_puts(&b, "n=");
    tally_textbuf_put_i64(&b, INT64_MIN);
    tally_textbuf_putc(&b, ' ');
    tally_textbuf_put_i64(&b, INT64_MAX);
    tally_textbuf_putc(&b, ' ');
    tally_textbuf_put_i64(&b, 0);
    cr_assert_str_eq(b.data, "n=-9223372036854775808 9223372036854775807 0");
    size_t mark = b.len;
    tally_textbuf_printf(&b, " %s-%05d", "tail", 42);
    cr_assert_str_eq(b.data + mark, " tail-00042");
    tally_textbuf_truncate(&b, mark);
    cr_assert_eq(b.len, mark);
    cr_assert_str_eq(b.data, "n=-9223372036854775808 9223372036854775807 0");
    tally_textbuf_truncate(&b, mark + 5);   /* past the end: nothing */
    cr_assert_eq(b.len, mark);
    char *kept = b.data;
    size_t cap = b.cap;
    tally_textbuf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    tally_textbuf_puts(&b, "again");
    cr_assert_eq(b.data, kept, "reset keeps the memory");
    cr_assert_eq(b.cap, cap);
    tally_textbuf_free(&b);
}
