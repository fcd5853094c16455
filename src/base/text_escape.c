/*
 * text_escape.c - see text_escape.h.
 */
#include "text_escape.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <utf8proc.h>

size_t text_escape(const char *text, size_t length, char *out, size_t out_size)
{
	size_t done = 0, used = 0;
	while (done < length) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + done,
						      (utf8proc_ssize_t)(length - done), &cp);
		bool escape = n <= 0 || utf8proc_category(cp) == UTF8PROC_CATEGORY_CC;
		if (n <= 0)
			n = 1;   /* not UTF-8: this one byte is escaped, then decoding goes on */
		size_t need = escape ? 4 * (size_t)n : (size_t)n;
		if (used + need >= out_size)
			break;
		for (utf8proc_ssize_t i = 0; i < n; i++) {
			if (escape)
				snprintf(out + used + 4 * (size_t)i, 5, "\\x%02x", (unsigned char)text[done + (size_t)i]);
			else
				out[used + (size_t)i] = text[done + (size_t)i];
		}
		used += need;
		done += (size_t)n;
	}
	out[used] = '\0';
	return done;
}
