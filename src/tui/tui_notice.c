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
	/* an answer streaming meanwhile goes on in its own entry, above the notice */
	if (t->answer.running && kind == TRANSCRIPT_ERROR)
		tui_notice_hint(t, true, "%s", buf);   /* to be seen at once */
	if (transcript_add(&t->transcript, kind, buf, strlen(buf)) != 0)
		tui_notice_hint(t, true, "out of memory");
	t->scroll = 0;
}
