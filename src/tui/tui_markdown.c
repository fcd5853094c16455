/*
 * tui_markdown.c - light Markdown, line by line.
 *
 * The renderer is a single pass over the lines with one bit of state (inside a
 * fenced block or not).  Each line becomes a styled_line whose text is what the
 * screen shows; inline markers are dropped as their spans are recognised.
 */
#include "tui_markdown.h"

#include <stdlib.h>
#include <string.h>

/* A growing styled_line under construction. */
struct line_builder {
	struct styled_line line;
	size_t text_capacity, run_capacity;
	bool failed;
};

static void builder_text(struct line_builder *b, const char *text, size_t length, enum theme_element element)
{
	struct styled_line *l = &b->line;
	if (b->failed || length == 0)
		return;
	if (l->length + length + 1 > b->text_capacity) {
		size_t cap = (l->length + length + 1) * 2;
		char *t = realloc(l->text, cap);
		if (!t) {
			b->failed = true;
			return;
		}
		l->text = t;
		b->text_capacity = cap;
	}
	memcpy(l->text + l->length, text, length);
	if (l->run_count > 0 && l->runs[l->run_count - 1].element == element &&
	    l->runs[l->run_count - 1].start + l->runs[l->run_count - 1].length == l->length) {
		l->runs[l->run_count - 1].length += length;
	} else {
		if (l->run_count == b->run_capacity) {
			size_t cap = b->run_capacity ? 2 * b->run_capacity : 4;
			struct styled_run *r = realloc(l->runs, cap * sizeof *r);
			if (!r) {
				b->failed = true;
				return;
			}
			l->runs = r;
			b->run_capacity = cap;
		}
		l->runs[l->run_count++] = (struct styled_run){l->length, length, element};
	}
	l->length += length;
	l->text[l->length] = '\0';
}

static int builder_finish(struct line_builder *b, struct styled_lines *out)
{
	if (!b->failed && !b->line.text) {
		b->line.text = malloc(1);
		if (b->line.text)
			b->line.text[0] = '\0';
		else
			b->failed = true;
	}
	if (!b->failed && out->count == out->capacity) {
		size_t cap = out->capacity ? 2 * out->capacity : 16;
		struct styled_line *lines = realloc(out->lines, cap * sizeof *lines);
		if (lines) {
			out->lines = lines;
			out->capacity = cap;
		} else {
			b->failed = true;
		}
	}
	if (b->failed) {
		free(b->line.text);
		free(b->line.runs);
		return -1;
	}
	out->lines[out->count++] = b->line;
	return 0;
}

static void builder_init(struct line_builder *b, int indent, bool code, enum theme_element fill)
{
	memset(b, 0, sizeof *b);
	b->line.indent = indent;
	b->line.code = code;
	b->line.fill = fill;
}

int styled_lines_add_plain(struct styled_lines *out, const char *text, size_t length,
			   enum theme_element element, int indent)
{
	size_t pos = 0;
	do {
		const char *nl = memchr(text + pos, '\n', length - pos);
		size_t end = nl ? (size_t)(nl - text) : length;
		struct line_builder b;
		builder_init(&b, indent, false, THEME_TEXT);
		builder_text(&b, text + pos, end - pos, element);
		if (builder_finish(&b, out) != 0)
			return -1;
		pos = end + 1;
	} while (pos <= length);
	return 0;
}

/* Finds the closing marker for a span opened at text[open] (marker of mlen bytes):
 * returns its offset, or 0 when there is none on this line. */
static size_t find_close(const char *text, size_t length, size_t open, const char *marker, size_t mlen)
{
	size_t inner = open + mlen;
	if (inner >= length || text[inner] == ' ')
		return 0;     /* "* item" and "a * b" are not emphasis */
	for (size_t i = inner + 1; i + mlen <= length; i++) {
		if (memcmp(text + i, marker, mlen) != 0)
			continue;
		if (marker[0] != '`' && text[i - 1] == ' ')
			continue;
		if (mlen == 1 && marker[0] != '`' && i + 1 < length && text[i + 1] == marker[0])
			continue;  /* "*a **b** c*": the single star closes later */
		if (marker[0] == '_' && i + 1 < length &&
		    (text[i + 1] == '_' || (unsigned char)text[i + 1] >= 0x80 ||
		     (text[i + 1] >= '0' && text[i + 1] <= '9') || ((text[i + 1] | 0x20) >= 'a' && (text[i + 1] | 0x20) <= 'z')))
			continue;  /* snake_case_names are not emphasis */
		return i;
	}
	return 0;
}

static bool is_word_byte(char c)
{
	return (unsigned char)c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Inline spans of text[0..length) into b. */
static void render_inline(struct line_builder *b, const char *text, size_t length, enum theme_element base)
{
	size_t plain = 0, i = 0;
	while (i < length) {
		const char *marker = NULL;
		size_t mlen = 0;
		enum theme_element element = base;
		if (text[i] == '`') {
			marker = "`", mlen = 1, element = THEME_CODE;
		} else if (text[i] == '*' && i + 1 < length && text[i + 1] == '*') {
			marker = "**", mlen = 2, element = THEME_STRONG;
		} else if (text[i] == '*') {
			marker = "*", mlen = 1, element = THEME_EMPHASIS;
		} else if (text[i] == '_' && (i == 0 || !is_word_byte(text[i - 1]))) {
			if (i + 1 < length && text[i + 1] == '_')
				marker = "__", mlen = 2, element = THEME_STRONG;
			else
				marker = "_", mlen = 1, element = THEME_EMPHASIS;
		}
		size_t close = marker ? find_close(text, length, i, marker, mlen) : 0;
		if (!close) {
			/* a backtick run with no partner stays literal, whole */
			i += marker ? mlen : 1;
			continue;
		}
		builder_text(b, text + plain, i - plain, base);
		builder_text(b, text + i + mlen, close - i - mlen, element);
		i = close + mlen;
		plain = i;
	}
	builder_text(b, text + plain, length - plain, base);
}

/* "```lang" (up to three spaces first): returns true and the info string. */
static bool is_fence(const char *line, size_t length, const char **info, size_t *info_length)
{
	size_t i = 0;
	while (i < length && i < 3 && line[i] == ' ')
		i++;
	if (i + 3 > length || memcmp(line + i, "```", 3) != 0)
		return false;
	i += 3;
	while (i < length && line[i] == '`')
		i++;
	while (i < length && line[i] == ' ')
		i++;
	*info = line + i;
	*info_length = length - i;
	while (*info_length > 0 && (*info)[*info_length - 1] == ' ')
		(*info_length)--;
	return true;
}

/* Heading level (1-6) of "## text", or 0. */
static int heading_level(const char *line, size_t length, size_t *text_start)
{
	int level = 0;
	while ((size_t)level < length && line[level] == '#')
		level++;
	if (level == 0 || level > 6 || ((size_t)level < length && line[level] != ' '))
		return 0;
	size_t i = (size_t)level;
	while (i < length && line[i] == ' ')
		i++;
	*text_start = i;
	return level;
}

/* A list item: returns the marker's length ("- ", "12. ") after the indentation, or 0. */
static size_t list_marker(const char *line, size_t length, size_t indent, bool *bullet)
{
	size_t i = indent;
	if (i + 1 < length && (line[i] == '-' || line[i] == '*' || line[i] == '+') && line[i + 1] == ' ') {
		*bullet = true;
		return 2;
	}
	while (i < length && line[i] >= '0' && line[i] <= '9' && i - indent < 9)
		i++;
	if (i > indent && i + 1 < length && (line[i] == '.' || line[i] == ')') && line[i + 1] == ' ') {
		*bullet = false;
		return i + 2 - indent;
	}
	return 0;
}

static int render_line(const char *line, size_t length, enum theme_element base, struct styled_lines *out)
{
	struct line_builder b;
	size_t start, indent = 0;
	bool bullet;
	int level = heading_level(line, length, &start);

	if (level) {
		builder_init(&b, 0, false, THEME_TEXT);
		render_inline(&b, line + start, length - start, THEME_HEADING);
		return builder_finish(&b, out);
	}
	while (indent < length && line[indent] == ' ')
		indent++;
	size_t mlen = list_marker(line, length, indent, &bullet);
	if (mlen) {
		builder_init(&b, (int)(indent + mlen), false, THEME_TEXT);
		builder_text(&b, line, indent, base);
		if (bullet)
			builder_text(&b, "\u2022 ", strlen("\u2022 "), base);
		else
			builder_text(&b, line + indent, mlen, base);
		render_inline(&b, line + indent + mlen, length - indent - mlen, base);
		return builder_finish(&b, out);
	}
	builder_init(&b, 0, false, THEME_TEXT);
	render_inline(&b, line, length, base);
	return builder_finish(&b, out);
}

int markdown_render(const char *text, size_t length, enum theme_element base, struct styled_lines *out)
{
	bool in_code = false;
	size_t pos = 0;
	do {
		const char *nl = memchr(text + pos, '\n', length - pos);
		size_t end = nl ? (size_t)(nl - text) : length;
		const char *line = text + pos, *info;
		size_t line_length = end - pos, info_length;
		struct line_builder b;
		int rc;

		if (is_fence(line, line_length, &info, &info_length)) {
			/* the fence itself becomes the block's padding row, naming its language */
			builder_init(&b, 0, true, THEME_CODE_BLOCK);
			if (!in_code && info_length) {
				builder_text(&b, " ", 1, THEME_CODE_BLOCK);
				builder_text(&b, info, info_length, THEME_CODE_BLOCK);
			}
			in_code = !in_code;
			rc = builder_finish(&b, out);
		} else if (in_code) {
			builder_init(&b, 1, true, THEME_CODE_BLOCK);
			builder_text(&b, " ", 1, THEME_CODE_BLOCK);
			builder_text(&b, line, line_length, THEME_CODE_BLOCK);
			rc = builder_finish(&b, out);
		} else {
			rc = render_line(line, line_length, base, out);
		}
		if (rc != 0)
			return -1;
		pos = end + 1;
	} while (pos <= length);
	return 0;
}

void styled_lines_free(struct styled_lines *lines)
{
	for (size_t i = 0; i < lines->count; i++) {
		free(lines->lines[i].text);
		free(lines->lines[i].runs);
	}
	free(lines->lines);
	lines->lines = NULL;
	lines->count = lines->capacity = 0;
}

/* One more block, text[start, start + length): kept when it is the nth (n 0: every
 * one, so the last stays). */
static void code_block_seen(size_t n, size_t start, size_t length, size_t *count, size_t *out_start,
			    size_t *out_length)
{
	++*count;
	if (n == 0 || *count == n) {
		*out_start = start;
		*out_length = length;
	}
}

int markdown_code_block(const char *text, size_t length, size_t n, size_t *start, size_t *block_length,
			size_t *count)
{
	bool in_code = false;
	size_t pos = 0, block_start = 0;
	*count = 0;
	while (pos < length) {
		const char *nl = memchr(text + pos, '\n', length - pos);
		size_t end = nl ? (size_t)(nl - text) : length, info_length;
		const char *info;
		if (is_fence(text + pos, end - pos, &info, &info_length)) {
			if (in_code)   /* the block ends before the newline ahead of this fence */
				code_block_seen(n, block_start, pos > block_start ? pos - 1 - block_start : 0, count, start,
						block_length);
			else
				block_start = nl ? end + 1 : length;
			in_code = !in_code;
		}
		pos = end + 1;
	}
	if (in_code) {
		/* unclosed (a cut answer): the rest of the text, as the screen shows it */
		size_t rest = length - block_start;
		if (rest > 0 && text[length - 1] == '\n')
			rest--;
		code_block_seen(n, block_start, rest, count, start, block_length);
	}
	return *count > 0 && n <= *count ? 0 : -1;
}
