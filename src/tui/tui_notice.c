/*
 * tui_notice.c - notices into the transcript and the hint line; see tui_notice.h.
 */
#include "tui_notice.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tui.h"

void tui_notice_hint(struct tui *t, bool error, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->hint.text, sizeof t->hint.text, fmt, ap);
	va_end(ap);
	t->hint.error = error;
}

void tui_notice_clear_hint(struct tui *t)
{
	t->hint.text[0] = '\0';
}

void tui_notice_add(struct tui *t, enum transcript_kind kind, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	size_t at = t->transcript.count;
	if (t->answer.running && at > 0) {
		/* the answer streams into the last entry: keep it last, its question above it */
		at--;
		if (at > 0 && t->transcript.entries[at - 1].kind == TRANSCRIPT_USER)
			at--;
		if (kind == TRANSCRIPT_ERROR)
			tui_notice_hint(t, true, "%s", buf);
	}
	if (transcript_insert(&t->transcript, at, kind, buf, strlen(buf)) != 0)
		tui_notice_hint(t, true, "out of memory");
	t->scroll = 0;
}
