/*
 * test_tui_text.c - clusters, widths and wrapping: CJK, emoji and combining marks
 * line up, and no row is wider than asked.
 */
#include <string.h>

#include "tap.h"
#include "text.h"

static int clusters(const char *s)
{
	int n = 0, w;
	for (size_t pos = 0, len = strlen(s); pos < len; n++)
		pos += text_next_grapheme(s, len, pos, &w, NULL);
	return n;
}

/* The rows of s wrapped at width, joined with '|'. */
static const char *wrap(const char *s, int width, int indent, bool by_word)
{
	static char out[1024];
	struct text_rows rows = {0};
	size_t len = 0;
	out[0] = '\0';
	if (text_wrap(s, strlen(s), width, indent, by_word, &rows) != 0)
		return "(out of memory)";
	for (size_t i = 0; i < rows.count; i++) {
		len += (size_t)snprintf(out + len, sizeof out - len, "%s%.*s", i ? "|" : "",
					(int)(rows.rows[i].end - rows.rows[i].start), s + rows.rows[i].start);
	}
	text_rows_free(&rows);
	return out;
}

/* Every row of s at width fits (indent included). */
static int rows_fit(const char *s, int width, int indent, bool by_word)
{
	struct text_rows rows = {0};
	int ok = text_wrap(s, strlen(s), width, indent, by_word, &rows) == 0;
	for (size_t i = 0; ok && i < rows.count; i++)
		ok = rows.rows[i].indent + text_width(s + rows.rows[i].start, rows.rows[i].end - rows.rows[i].start) <= width;
	text_rows_free(&rows);
	return ok;
}

int main(void)
{
	tap_ok(text_width("hello", 5) == 5, "ASCII is one column a character");
	tap_ok(text_width("日本語", strlen("日本語")) == 6, "CJK ideographs are two columns each");
	tap_ok(text_width("한국어", strlen("한국어")) == 6, "Hangul syllables are two columns each");
	tap_ok(text_width("\xF0\x9F\x98\x80", 4) == 2, "an emoji is two columns");
	tap_ok(text_width("e\xCC\x81", 3) == 1, "e + combining acute is one column");
	tap_ok(clusters("e\xCC\x81") == 1, "e + combining acute is one cluster");
	tap_ok(clusters("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7") == 1, "a flag (two regional indicators) is one cluster");
	tap_ok(clusters("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7") == 1,
	       "a ZWJ family emoji is one cluster");
	tap_ok(clusters("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD") == 1, "an emoji with a skin tone is one cluster");
	tap_ok(clusters("a\xFF" "b") == 3 && text_width("a\xFF" "b", 3) == 3, "an invalid byte is a cluster of one column");
	tap_ok(text_width("a\tb", 3) == 2 + TEXT_TAB_WIDTH, "a tab is TEXT_TAB_WIDTH columns");
	tap_ok(text_width("\x1b[31m", 5) == 5, "escape and other controls are one column each (drawn as U+FFFD)");

	enum text_glyph glyph;
	int w;

	/* emoji sequences are as wide as terminals draw them, not their code points added up */
	const char *thumb_tone = "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD";                        /* U+1F44D U+1F3FD */
	const char *coder = "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB";                /* woman ZWJ laptop */
	const char *family = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7";
	const char *flag = "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7";                              /* FR */
	const char *keycap = "1\xEF\xB8\x8F\xE2\x83\xA3";                                    /* 1 VS16 U+20E3 */
	const char *heart = "\xE2\x9D\xA4\xEF\xB8\x8F";                                      /* U+2764 VS16 */
	tap_ok(text_width(thumb_tone, strlen(thumb_tone)) == 2, "an emoji with a skin tone is two columns");
	tap_ok(text_width(coder, strlen(coder)) == 2, "a ZWJ sequence (woman + laptop) is two columns");
	tap_ok(text_width(family, strlen(family)) == 2, "a ZWJ family is two columns");
	tap_ok(text_width(flag, strlen(flag)) == 2, "a flag is two columns");
	tap_ok(text_width(keycap, strlen(keycap)) == 2 && clusters(keycap) == 1, "a keycap is one cluster of two columns");
	tap_ok(text_width(heart, strlen(heart)) == 2, "VS16 makes a narrow symbol two columns");
	tap_ok(text_width("\xE2\x9D\xA4", 3) == 1, "the same symbol without VS16 is one column");
	tap_ok(text_width("\xF0\x9F\x87\xAB", 4) == 1, "a lone regional indicator is one column");
	tap_ok(text_width("a\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD" "b\xE4\xB8\xAD", 13) == 6,
	       "a, thumb with skin tone, b, CJK: 1 + 2 + 1 + 2 columns");
	text_next_grapheme(thumb_tone, strlen(thumb_tone), 0, &w, &glyph);
	tap_ok(glyph == TEXT_GLYPH_CLUSTER, "an emoji with a skin tone is drawn as one cell");
	text_next_grapheme(flag, strlen(flag), 0, &w, &glyph);
	tap_ok(glyph == TEXT_GLYPH_PLAIN, "a flag is drawn cell by cell (its two indicators fill its two columns)");
	text_next_grapheme("e\xCC\x81", 3, 0, &w, &glyph);
	tap_ok(glyph == TEXT_GLYPH_PLAIN && w == 1, "a base and its mark are drawn as they are");
	tap_ok(!strcmp(wrap("ab\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD" "cd", 3, 0, false),
		       "ab|\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD" "c|d"), "wrapping counts a skin-tone emoji as two columns, whole");
	tap_ok(!strcmp(wrap("\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7x", 5, 0, false),
		       "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7x"), "two flags and a letter fill five columns");
	text_next_grapheme("\xCC\x81x", 3, 0, &w, &glyph);
	tap_ok(glyph == TEXT_GLYPH_COMBINING && w == 1, "a lone combining mark gets a base and one column");

	const char *s = "ae\xCC\x81" "b";
	tap_ok(text_prev_grapheme(s, 4) == 1, "previous cluster of a combining sequence starts at its base");
	tap_ok(text_prev_grapheme("ab\ncd", 3) == 2, "previous cluster across a newline is the newline");
	const char *flags = "ab\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7";
	tap_ok(text_prev_grapheme(flags, 18) == 10, "previous cluster of two flags in a row is the second flag");
	tap_ok(text_prev_grapheme("xy e\xCC\x81", 6) == 3, "previous cluster after ASCII is the base with its mark");
	/* every position: prev agrees with walking forward from the start */
	const char *mix = "ab日本e\xCC\x81 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD!!\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7 z";
	size_t len = strlen(mix), starts[64], n = 0;
	int agree = 1, cw;
	for (size_t p = 0; p < len; p += text_next_grapheme(mix, len, p, &cw, NULL))
		starts[n++] = p;
	starts[n] = len;
	for (size_t i = 1; i <= n; i++)
		agree &= text_prev_grapheme(mix, starts[i]) == starts[i - 1];
	tap_ok(agree, "text_prev_grapheme agrees with a forward walk at every cluster");

	tap_ok(!strcmp(wrap("hello world", 5, 0, true), "hello|world"), "words wrap at spaces (%s)", wrap("hello world", 5, 0, true));
	tap_ok(!strcmp(wrap("hello world foo", 11, 0, true), "hello world|foo"), "a row takes as many words as fit");
	tap_ok(!strcmp(wrap("the quick brown fox", 12, 2, true), "the quick|brown fox"), "continuation rows are indented");
	tap_ok(!strcmp(wrap("abcdefghij", 4, 0, true), "abcd|efgh|ij"), "a word longer than the row breaks at clusters");
	tap_ok(!strcmp(wrap("日本語のテキスト", 6, 0, true), "日本語|のテキ|スト"), "CJK breaks between characters (%s)",
	       wrap("日本語のテキスト", 6, 0, true));
	tap_ok(!strcmp(wrap("a日本", 2, 0, false), "a|日|本"), "a wide character never straddles the edge (%s)",
	       wrap("a日本", 2, 0, false));
	tap_ok(!strcmp(wrap("e\xCC\x81" "e\xCC\x81" "e\xCC\x81", 2, 0, false), "e\xCC\x81" "e\xCC\x81|e\xCC\x81"),
	       "combining marks stay with their base");
	tap_ok(!strcmp(wrap("", 10, 0, true), ""), "empty text is one empty row");
	tap_ok(!strcmp(wrap("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80", 5, 0, false),
		       "\xF0\x9F\x98\x80\xF0\x9F\x98\x80|\xF0\x9F\x98\x80"), "emoji wrap two to a row of five");
	tap_ok(!strcmp(wrap("日", 1, 0, false), "日"), "a cluster wider than the row gets a row of its own");

	const char *mixed[] = {
		"Réponse: 東京は日本の首都です。😀 and some English words to wrap around",
		"\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 family, 한국어 텍스트, e\xCC\x81t\xC3\xA9",
		"averyveryverylongwordwithoutanyspaceatallthatmustbreak 中文中文中文中文",
	};
	for (int width = 8; width <= 40; width += 3)
		for (int i = 0; i < 3; i++)
			tap_ok(rows_fit(mixed[i], width, width > 8 ? 2 : 0, i != 2), "mixed text %d fits in %d columns", i, width);
	return tap_done();
}
