/*
 * hexdigit.h: the value of one hexadecimal digit, for the parsers that
 * read hex (URL %-escapes, UUIDs, JSON \u escapes).
 */
#ifndef TALLY_HEXDIGIT_H
#define TALLY_HEXDIGIT_H

/* 0-15 for '0'-'9', 'a'-'f' or 'A'-'F'; -1 for any other character. */
int tally_hex_digit(char c);

#endif
