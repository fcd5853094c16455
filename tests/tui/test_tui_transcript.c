/*
 * test_tui_transcript.c - the transcript model: entries become rows for a width,
 * a blank row between entries, streamed text and a new width re-wrap; streamed
 * text goes to the answer even after a notice.
 */
#include <string.h>

#include "tap.h"
#include "transcript.h"

/* Row index of the transcript as text ("" for a separator). */
static const char *row_text(const struct transcript *t, size_t index)
{
	static char out[256];
	const struct transcript_entry *e;
	const struct transcript_row *r;
	if (!transcript_row_at(t, index, &e, &r))
		return "";
	const struct styled_line *l = &e->lines.lines[r->line];
	snprintf(out, sizeof out, "%*s%.*s", r->indent, "", (int)(r->end - r->start), l->text + r->start);
	return out;
}

int main(void)
{
	struct transcript t;
	transcript_init(&t);
	transcript_add(&t, TRANSCRIPT_USER, "hello world again", strlen("hello world again"));
	transcript_layout(&t, 14);
	tap_ok(transcript_row_count(&t) == 2, "a user message wraps into two rows at 14 columns");
	tap_ok(!strcmp(row_text(&t, 0), "> hello world"), "the first row starts with the prompt (%s)", row_text(&t, 0));
	tap_ok(!strcmp(row_text(&t, 1), "  again"), "the next row hangs under the text (%s)", row_text(&t, 1));

	transcript_add(&t, TRANSCRIPT_ASSISTANT, "", 0);
	transcript_append(&t, TRANSCRIPT_ASSISTANT, "**Hi** there", 12);
	transcript_layout(&t, 14);
	tap_ok(transcript_row_count(&t) == 4, "a blank row separates entries (%zu rows)", transcript_row_count(&t));
	tap_ok(!strcmp(row_text(&t, 2), ""), "the separator row is blank");
	tap_ok(!strcmp(row_text(&t, 3), "Hi there"), "the answer's Markdown markers are hidden (%s)", row_text(&t, 3));
	transcript_append(&t, TRANSCRIPT_ASSISTANT, ", and more words", 16);
	transcript_layout(&t, 14);
	tap_ok(transcript_row_count(&t) == 5, "streamed text re-wraps its entry (%zu rows)", transcript_row_count(&t));
	tap_ok(!strcmp(transcript_last(&t, TRANSCRIPT_ASSISTANT)->text, "**Hi** there, and more words"),
	       "the entry keeps the raw text");

	transcript_layout(&t, 80);
	tap_ok(transcript_row_count(&t) == 3, "a wider screen re-wraps every entry");

	transcript_add(&t, TRANSCRIPT_USER, "a\nb", 3);
	transcript_layout(&t, 80);
	tap_ok(!strcmp(row_text(&t, 4), "> a") && !strcmp(row_text(&t, 5), "  b"), "a multi-line message keeps its lines");
	transcript_remove_last(&t);
	tap_ok(t.count == 2 && transcript_row_count(&t) == 3, "removing the last entry removes its rows");
	tap_ok(transcript_last(&t, TRANSCRIPT_INFO) == NULL, "no info entry yet");
	transcript_clear(&t);
	tap_ok(transcript_row_count(&t) == 0, "clear empties it");

	/* Markdown laid out for the width: a table that fits, one that does not, a rule, a quote */
	const char *md = "| a | b |\n|---|---|\n| 1 | 22 |\n\n---\n> a quoted line that wraps";
	transcript_add(&t, TRANSCRIPT_ASSISTANT, md, strlen(md));
	transcript_layout(&t, 12);
	tap_ok(!strcmp(row_text(&t, 0), "a \xE2\x94\x82 b ") && !strcmp(row_text(&t, 2), "1 \xE2\x94\x82 22"),
	       "a table that fits is aligned (%s / %s)", row_text(&t, 0), row_text(&t, 2));
	tap_ok(!strcmp(row_text(&t, 4), "\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80"
					"\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80\xE2\x94\x80"),
	       "a rule spans the row, in one row (%s)", row_text(&t, 4));
	tap_ok(!strcmp(row_text(&t, 5), "\xE2\x94\x82 a quoted") && !strcmp(row_text(&t, 6), "  line that"),
	       "a quote's wrapped rows hang under its text (%s / %s)", row_text(&t, 5), row_text(&t, 6));
	transcript_layout(&t, 5);
	tap_ok(!strcmp(row_text(&t, 0), "| a |") && !strcmp(row_text(&t, 1), "b |"),
	       "on a narrower screen the table shows its raw lines, wrapped (%s / %s)", row_text(&t, 0), row_text(&t, 1));
	tap_ok(!strcmp(transcript_last(&t, TRANSCRIPT_ASSISTANT)->text, md), "the entry keeps the raw text");
	transcript_clear(&t);
	tap_ok(transcript_append(&t, TRANSCRIPT_ASSISTANT, "lost", 4) == -1 && t.count == 0,
	       "streamed text with no answer entry (a cleared transcript) is refused, nothing added");

	/* a notice added while an answer streams (/help, /stats) stays after the answer,
	 * and the answer's text stays whole in its own entry */
	transcript_add(&t, TRANSCRIPT_USER, "question", 8);
	transcript_add(&t, TRANSCRIPT_ASSISTANT, "", 0);
	transcript_append(&t, TRANSCRIPT_ASSISTANT, "The answer ", 11);
	transcript_add(&t, TRANSCRIPT_INFO, "Commands: /help", 15);
	transcript_append(&t, TRANSCRIPT_ASSISTANT, "goes on.", 8);
	tap_ok(t.count == 3 && !strcmp(t.entries[1].text, "The answer goes on.") &&
	       !strcmp(t.entries[2].text, "Commands: /help"),
	       "text streamed after a notice goes to the answer, not the notice (%s | %s)", t.entries[1].text,
	       t.entries[2].text);
	transcript_layout(&t, 80);
	tap_ok(transcript_row_count(&t) == 5 && !strcmp(row_text(&t, 2), "The answer goes on.") &&
	       !strcmp(row_text(&t, 4), "Commands: /help"),
	       "... and the answer's rows are wrapped again above the notice (%zu rows)", transcript_row_count(&t));
	tap_ok(!strcmp(transcript_last(&t, TRANSCRIPT_ASSISTANT)->text, "The answer goes on."),
	       "the last answer is the whole answer (what /copy copies)");
	transcript_remove_last_of(&t, TRANSCRIPT_ASSISTANT);
	transcript_remove_last_of(&t, TRANSCRIPT_USER);
	tap_ok(t.count == 1 && t.entries[0].kind == TRANSCRIPT_INFO && !strcmp(t.entries[0].text, "Commands: /help"),
	       "removing the last answer and question keeps the notice after them");
	transcript_layout(&t, 80);
	tap_ok(transcript_row_count(&t) == 1, "... and its rows alone remain");
	transcript_remove_last_of(&t, TRANSCRIPT_USER);
	tap_ok(t.count == 1, "removing a kind not there removes nothing");
	transcript_free(&t);
	return tap_done();
}
