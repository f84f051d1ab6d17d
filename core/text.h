/* Vietnamese text helpers. Search ignores diacritics and case: "nguyen van an"
 * finds "Nguyễn Văn An", so names are stored with a folded copy. */
#ifndef CORE_TEXT_H
#define CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-cases, strips Vietnamese (and other Latin) diacritics, maps đ to d,
 * drops combining marks, collapses runs of white space to one space and
 * trims. Output is ASCII for Vietnamese input. Returns the output length;
 * out is always NUL-terminated (truncated to outlen - 1). */
size_t text_fold(const char *in, char *out, size_t outlen);
/* True if s is valid UTF-8 without control characters other than tab/newline. */
bool text_valid_utf8(const char *s, size_t len);

#endif
