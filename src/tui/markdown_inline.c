/*
 * markdown_inline.c - light Markdown within a line: the line builder, and the
 * inline spans rendered into it.
 *
 * A span's markers are dropped once its closer is found on the same text; a
 * marker run with no partner stays literal, whole.  Spans nest up to MAX_NESTING
 * deep, and code spans are opaque: nothing inside them is interpreted.
 */
#include "markdown_inline.h"

#include <stdlib.h>
#include <string.h>

#include "array_grow.h"

#define MAX_NESTING 8                        /* spans inside spans, deeper stays literal */

void markdown_line_text(struct markdown_line *b, const char *text, size_t length, enum theme_element element)
{
	struct styled_line *l = &b->line;
	if (b->failed || length == 0)
		return;
	char *t = array_reserve(l->text, &b->text_capacity, l->length + length + 1, 1, 64);
	if (!t) {
		b->failed = true;
		return;
	}
	l->text = t;
	memcpy(l->text + l->length, text, length);
	if (l->run_count > 0 && l->runs[l->run_count - 1].element == element &&
	    l->runs[l->run_count - 1].start + l->runs[l->run_count - 1].length == l->length) {
		l->runs[l->run_count - 1].length += length;
	} else {
		struct styled_run *r = array_grow(l->runs, &b->run_capacity, l->run_count, sizeof *r, 4);
		if (!r) {
			b->failed = true;
			return;
		}
		l->runs = r;
		l->runs[l->run_count++] = (struct styled_run){l->length, length, element};
	}
	l->length += length;
	l->text[l->length] = '\0';
}

int markdown_line_finish(struct markdown_line *b, struct styled_lines *out)
{
	if (!b->failed && !b->line.text) {
		b->line.text = malloc(1);
		if (b->line.text)
			b->line.text[0] = '\0';
		else
			b->failed = true;
	}
	if (!b->failed) {
		struct styled_line *lines = array_grow(out->lines, &out->capacity, out->count, sizeof *lines, 16);
		if (lines)
			out->lines = lines;
		else
			b->failed = true;
	}
	if (b->failed) {
		free(b->line.text);
		free(b->line.runs);
		return -1;
	}
	out->lines[out->count++] = b->line;
	return 0;
}

void markdown_line_init(struct markdown_line *b, int indent, bool code, enum theme_element fill)
{
	memset(b, 0, sizeof *b);
	b->line.indent = indent;
	b->line.code = code;
	b->line.fill = fill;
}

void markdown_line_repeat(struct markdown_line *b, const char *text, int count, enum theme_element element)
{
	for (int i = 0; i < count; i++)
		markdown_line_text(b, text, strlen(text), element);
}

/* ---- inline spans ---- */

static bool is_ascii_letter(char c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool is_word_byte(char c)
{
	return (unsigned char)c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || is_ascii_letter(c);
}

/* ASCII punctuation: what a backslash escapes. */
static bool is_punct_byte(char c)
{
	return c > ' ' && c < 0x7f && !is_ascii_letter(c) && !(c >= '0' && c <= '9');
}

/* A code span opened by the backtick run at s[i]: returns the end of its closing
 * run (of the same length), or 0 when it has none on this line. */
static size_t code_span_end(const char *s, size_t n, size_t i)
{
	size_t r = run_length(s, n, i);
	for (size_t k = i + r; k < n;) {
		if (s[k] != '`') {
			k++;
			continue;
		}
		size_t m = run_length(s, n, k);
		if (m == r)
			return k + m;
		k += m;
	}
	return 0;
}

/* An autolink "<scheme:...>" at s[i]: returns the index after its '>', or 0. */
static size_t autolink_end(const char *s, size_t n, size_t i)
{
	size_t k = i + 1;
	if (k >= n || !is_ascii_letter(s[k]))
		return 0;
	while (k < n && (is_ascii_letter(s[k]) || (s[k] >= '0' && s[k] <= '9') || s[k] == '+' || s[k] == '.' ||
			 s[k] == '-'))
		k++;
	if (k - (i + 1) < 2 || k - (i + 1) > 32 || k >= n || s[k] != ':')
		return 0;
	for (k++; k < n && s[k] != '>'; k++)
		if ((unsigned char)s[k] <= ' ' || s[k] == '<')
			return 0;
	return k < n ? k + 1 : 0;
}

struct link {
	size_t text, text_length, url, url_length;
};

/* A link "[text](url)" at s[i] (i at the '['): returns the index after its ')',
 * or 0; a title after the url is not shown. */
static size_t link_end(const char *s, size_t n, size_t i, struct link *link)
{
	size_t k = i + 1, depth = 0, close;
	for (; k < n; k++) {
		if (s[k] == '\\' && k + 1 < n) {
			k++;
		} else if (s[k] == '`') {
			size_t e = code_span_end(s, n, k);
			k = (e ? e : k + run_length(s, n, k)) - 1;
		} else if (s[k] == '[') {
			depth++;
		} else if (s[k] == ']') {
			if (depth == 0)
				break;
			depth--;
		}
	}
	if (k + 1 >= n || s[k + 1] != '(')
		return 0;
	close = k;
	depth = 0;
	for (k = close + 2; k < n; k++) {
		if (s[k] == '\\' && k + 1 < n)
			k++;
		else if (s[k] == '(')
			depth++;
		else if (s[k] == ')' && depth-- == 0)
			break;
	}
	if (k >= n)
		return 0;
	size_t url = close + 2, url_end = k;
	while (url < url_end && is_blank_byte(s[url]))
		url++;
	if (url < url_end && s[url] == '<') {
		const char *gt = memchr(s + url, '>', url_end - url);
		url++;
		url_end = gt ? (size_t)(gt - s) : url_end;
	} else {
		size_t e = url;
		while (e < url_end && !is_blank_byte(s[e]))
			e++;
		url_end = e;
	}
	*link = (struct link){i + 1, close - i - 1, url, url_end - url};
	return k + 1;
}

/* The element of text inside a span of inner within a span of outer. */
static enum theme_element combine(enum theme_element outer, enum theme_element inner)
{
	bool outer_strong = outer == THEME_STRONG || outer == THEME_STRONG_EMPHASIS;
	bool outer_emphasis = outer == THEME_EMPHASIS || outer == THEME_STRONG_EMPHASIS;
	if (inner == THEME_CODE)
		return inner;
	if (outer == THEME_LINK)
		return outer;
	if ((inner == THEME_STRONG && outer_emphasis) || (inner == THEME_EMPHASIS && outer_strong))
		return THEME_STRONG_EMPHASIS;
	return inner;
}

/* Whether the run of r markers at s[i] can open a span: it is followed by text,
 * an underscore run does not start inside a word, strike takes two tildes. */
static bool can_open(const char *s, size_t n, size_t i, size_t r)
{
	if (i + r >= n || is_blank_byte(s[i + r]) || r > 3)
		return false;
	if (s[i] == '~')
		return r == 2;
	return s[i] != '_' || i == 0 || !is_word_byte(s[i - 1]);
}

/* Whether the run of m markers at s[k] can close: it follows text, and an
 * underscore run does not end inside a word. */
static bool can_close(const char *s, size_t n, size_t k, size_t m)
{
	if (is_blank_byte(s[k - 1]))
		return false;
	return s[k] != '_' || k + m >= n || !is_word_byte(s[k + m]);
}

/* The closer of the span opened by r markers at s[i]: a run of the same length
 * (code spans skipped), else the last r markers of a closing run of three
 * ("**bold *it***").  Returns the closer's start, or 0. */
static size_t find_closer(const char *s, size_t n, size_t i, size_t r)
{
	size_t fallback = 0;
	for (size_t k = i + r; k < n;) {
		if (s[k] == '\\' && k + 1 < n && is_punct_byte(s[k + 1])) {
			k += 2;
		} else if (s[k] == '`') {
			size_t e = code_span_end(s, n, k);
			k = e ? e : k + run_length(s, n, k);
		} else if (s[k] == s[i]) {
			size_t m = run_length(s, n, k);
			if (k > i + r && can_close(s, n, k, m)) {
				if (m == r)
					return k;
				if (m == 3 && !fallback && (k + m >= n || is_blank_byte(s[k + m]) || is_punct_byte(s[k + m])))
					fallback = k + m - r;
			}
			k += m;
		} else {
			k++;
		}
	}
	return fallback;
}

static enum theme_element span_element(char marker, size_t r)
{
	if (marker == '~')
		return THEME_STRIKE;
	return r == 1 ? THEME_EMPHASIS : r == 2 ? THEME_STRONG : THEME_STRONG_EMPHASIS;
}

static void render_inline_at(struct markdown_line *b, const char *s, size_t n, enum theme_element outer, int depth);

/* A code span's text: one space either side is dropped when both are there. */
static void code_span(struct markdown_line *b, const char *s, size_t n)
{
	size_t r = run_length(s, n, 0), a = r, z = n - r;
	bool all_spaces = true;
	for (size_t k = a; k < z; k++)
		all_spaces = all_spaces && s[k] == ' ';
	if (z - a >= 2 && s[a] == ' ' && s[z - 1] == ' ' && !all_spaces)
		a++, z--;
	markdown_line_text(b, s + a, z - a, THEME_CODE);
}

static void link_span(struct markdown_line *b, const char *s, const struct link *l, enum theme_element outer, int depth)
{
	enum theme_element element = combine(outer, THEME_LINK);
	if (l->text_length == 0) {
		markdown_line_text(b, s + l->url, l->url_length, element);
		return;
	}
	render_inline_at(b, s + l->text, l->text_length, element, depth + 1);
	if (l->url_length && !(l->url_length == l->text_length && !memcmp(s + l->url, s + l->text, l->url_length))) {
		markdown_line_text(b, " (", 2, outer);
		markdown_line_text(b, s + l->url, l->url_length, element);
		markdown_line_text(b, ")", 1, outer);
	}
}

/* Inline spans of s[0..n) into b, plain text in outer. */
static void render_inline_at(struct markdown_line *b, const char *s, size_t n, enum theme_element outer, int depth)
{
	size_t plain = 0, i = 0;
	if (depth > MAX_NESTING) {
		markdown_line_text(b, s, n, outer);
		return;
	}
	while (i < n) {
		char c = s[i];
		size_t end = 0, r = 1, close;
		struct link link;
		if (c == '\\' && i + 1 < n && is_punct_byte(s[i + 1])) {
			markdown_line_text(b, s + plain, i - plain, outer);
			plain = i + 1;    /* the escaped character starts the next plain text */
			i += 2;
			continue;
		}
		if (c == '`' && (end = code_span_end(s, n, i)) != 0) {
			markdown_line_text(b, s + plain, i - plain, outer);
			code_span(b, s + i, end - i);
		} else if (c == '<' && (end = autolink_end(s, n, i)) != 0) {
			markdown_line_text(b, s + plain, i - plain, outer);
			markdown_line_text(b, s + i + 1, end - i - 2, combine(outer, THEME_LINK));
		} else if ((c == '[' || (c == '!' && i + 1 < n && s[i + 1] == '[')) &&
			   (end = link_end(s, n, i + (c == '!'), &link)) != 0) {
			markdown_line_text(b, s + plain, i - plain, outer);
			link_span(b, s, &link, outer, depth);   /* an image shows as a link to it */
		} else if (c == '*' || c == '_' || c == '~' || c == '`') {
			r = run_length(s, n, i);
			if (c == '`' || !can_open(s, n, i, r) || (close = find_closer(s, n, i, r)) == 0) {
				i += r;   /* a marker run with no partner stays literal, whole */
				continue;
			}
			markdown_line_text(b, s + plain, i - plain, outer);
			render_inline_at(b, s + i + r, close - i - r, combine(outer, span_element(c, r)), depth + 1);
			end = close + r;
		} else {
			i++;
			continue;
		}
		i = plain = end;
	}
	markdown_line_text(b, s + plain, n - plain, outer);
}

void markdown_inline(struct markdown_line *b, const char *s, size_t n, enum theme_element outer)
{
	render_inline_at(b, s, n, outer, 0);
}
