/*
 * markdown.c - light Markdown, line by line: the blocks.
 *
 * The source is split into lines; a pass over them tracks one bit of block state
 * (inside a fenced block or not) and looks ahead only where Markdown needs it: a
 * paragraph's lines for a setext underline, a table's rows for their widths.
 * Each displayed line is a styled_line whose text is what the screen shows;
 * inline markers are dropped as their spans are recognised, and an unmatched
 * marker stays literal (markdown_inline.c: the spans and the line (struct markdown_line)).
 */
#include "markdown.h"

#include <stdlib.h>
#include <string.h>

#include "markdown_inline.h"
#include "text.h"

#define QUOTE_BAR "\u2502 "                 /* one per level: "│ " */
#define QUOTE_BAR_WIDTH 2
#define RULE "\u2500"                       /* "─", repeated across the row */
#define TABLE_BAR " \u2502 "                /* between a table's columns */
#define TABLE_CROSS "\u2500\u253C\u2500"    /* "─┼─", where the rule crosses a bar */
#define TABLE_BAR_WIDTH 3
#define MAX_COLUMNS 64

int styled_lines_add_plain(struct styled_lines *out, const char *text, size_t length,
			   enum theme_element element, int indent)
{
	size_t pos = 0;
	do {
		const char *nl = memchr(text + pos, '\n', length - pos);
		size_t end = nl ? (size_t)(nl - text) : length;
		struct markdown_line b;
		markdown_line_init(&b, indent, false, THEME_TEXT);
		markdown_line_text(&b, text + pos, end - pos, element);
		if (markdown_line_finish(&b, out) != 0)
			return -1;
		pos = end + 1;
	} while (pos <= length);
	return 0;
}

/* ---- blocks ---- */

struct span {
	const char *text;
	size_t length;
};

/* Up to three spaces, the indentation a block marker may have. */
static size_t marker_indent(const char *line, size_t length)
{
	size_t i = 0;
	while (i < length && i < 3 && line[i] == ' ')
		i++;
	return i;
}

static bool is_blank(const char *line, size_t length)
{
	for (size_t i = 0; i < length; i++)
		if (!is_blank_byte(line[i]))
			return false;
	return true;
}

/* "```lang" or "~~~": its character, the length of its run, its info string. */
struct fence {
	char marker;
	size_t run;
	struct span info;
};

static bool is_fence(const char *line, size_t length, struct fence *f)
{
	size_t i = marker_indent(line, length);
	if (i >= length || (line[i] != '`' && line[i] != '~'))
		return false;
	f->marker = line[i];
	f->run = run_length(line, length, i);
	if (f->run < 3)
		return false;
	i += f->run;
	while (i < length && is_blank_byte(line[i]))
		i++;
	size_t end = length;
	while (end > i && is_blank_byte(line[end - 1]))
		end--;
	f->info = (struct span){line + i, end - i};
	/* "```a```" is a code span, not a fence */
	return f->marker == '~' || !memchr(f->info.text, '`', f->info.length);
}

static bool closes_fence(const char *line, size_t length, const struct fence *open)
{
	struct fence f;
	return is_fence(line, length, &f) && f.marker == open->marker && f.run >= open->run && f.info.length == 0;
}

/* Heading level (1-6) of "## text ##", or 0; *text gets the text without markers. */
static int heading_level(const char *line, size_t length, struct span *text)
{
	size_t i = marker_indent(line, length), level = run_length(line, length, i);
	if (i >= length || line[i] != '#' || level > 6 || (i + level < length && !is_blank_byte(line[i + level])))
		return 0;
	size_t a = i + level, z = length;
	while (a < z && is_blank_byte(line[a]))
		a++;
	while (z > a && is_blank_byte(line[z - 1]))
		z--;
	size_t hashes = z;
	while (hashes > a && line[hashes - 1] == '#')
		hashes--;
	if (hashes == a || is_blank_byte(line[hashes - 1]))
		for (z = hashes; z > a && is_blank_byte(line[z - 1]);)
			z--;   /* the optional closing run of #s */
	*text = (struct span){line + a, z - a};
	return (int)level;
}

/* "---", "***", "___" (three or more, spaces between allowed) alone on a line. */
static bool is_thematic_break(const char *line, size_t length)
{
	size_t i = marker_indent(line, length), count = 0;
	if (i >= length || (line[i] != '-' && line[i] != '*' && line[i] != '_'))
		return false;
	for (size_t k = i; k < length; k++) {
		if (line[k] == line[i])
			count++;
		else if (!is_blank_byte(line[k]))
			return false;
	}
	return count >= 3;
}

/* A setext underline, three or more '=' (level 1) or '-' (level 2); else 0. */
static int setext_level(const char *line, size_t length)
{
	size_t i = marker_indent(line, length);
	if (i >= length || (line[i] != '=' && line[i] != '-'))
		return 0;
	size_t r = run_length(line, length, i);
	if (r < 3 || !is_blank(line + i + r, length - i - r))
		return 0;
	return line[i] == '=' ? 1 : 2;
}

/* Levels of "> > text" or ">> text"; *rest gets where the text starts. */
static int quote_depth(const char *line, size_t length, size_t *rest)
{
	int depth = 0;
	size_t i = 0;
	for (;;) {
		size_t k = i + marker_indent(line + i, length - i);
		if (k >= length || line[k] != '>')
			break;
		depth++;
		i = k + 1;
		if (i < length && line[i] == ' ')
			i++;
	}
	*rest = i;
	return depth;
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

/* A line of a paragraph: text that starts no other block. */
static bool is_paragraph_line(const char *line, size_t length)
{
	struct fence f;
	struct span heading;
	size_t rest, indent = 0;
	bool bullet;
	while (indent < length && line[indent] == ' ')
		indent++;
	return !is_blank(line, length) && !is_fence(line, length, &f) && !heading_level(line, length, &heading) &&
	       !is_thematic_break(line, length) && !quote_depth(line, length, &rest) &&
	       !list_marker(line, length, indent, &bullet);
}

struct render {
	const struct span *lines;
	size_t count;
	int width;
	enum theme_element base;
	struct styled_lines *out;
};

/* One line outside code blocks and tables, its quote bars first: a heading, a
 * rule, a list item, or text in element. */
static int render_line(const struct render *m, const char *line, size_t length, enum theme_element element)
{
	struct markdown_line b;
	struct span heading;
	size_t rest, indent = 0;
	bool bullet;
	int depth = quote_depth(line, length, &rest);

	line += rest, length -= rest;
	if (depth)
		element = THEME_QUOTE;
	markdown_line_init(&b, depth * QUOTE_BAR_WIDTH, false, THEME_TEXT);
	markdown_line_repeat(&b, QUOTE_BAR, depth, THEME_QUOTE);
	if (heading_level(line, length, &heading)) {
		markdown_inline(&b, heading.text, heading.length, THEME_HEADING);
	} else if (is_thematic_break(line, length)) {
		int columns = m->width - depth * QUOTE_BAR_WIDTH;
		markdown_line_repeat(&b, RULE, columns > 1 ? columns : 1, THEME_RULE);
	} else {
		while (indent < length && line[indent] == ' ')
			indent++;
		size_t mlen = list_marker(line, length, indent, &bullet);
		if (mlen) {
			b.line.indent += (int)(indent + mlen);
			markdown_line_text(&b, line, indent, element);
			if (bullet)
				markdown_line_text(&b, "\u2022 ", strlen("\u2022 "), element);
			else
				markdown_line_text(&b, line + indent, mlen, element);
			line += indent + mlen, length -= indent + mlen;
		}
		markdown_inline(&b, line, length, element);
	}
	return markdown_line_finish(&b, m->out);
}

/* ---- tables ---- */

enum align { ALIGN_LEFT, ALIGN_CENTER, ALIGN_RIGHT };

/* The cells of a table row, trimmed, outer pipes dropped; "\|" does not split.
 * Returns how many (up to max + 1, which means too many), 0 without a pipe. */
static size_t split_cells(const char *line, size_t length, struct span *cells, size_t max)
{
	size_t a = 0, z = length, count = 0;
	bool pipe = false;
	for (size_t k = 0; k < length; k++) {
		if (line[k] == '\\')
			k++;
		else if (line[k] == '|')
			pipe = true;
	}
	if (!pipe)
		return 0;
	while (a < z && is_blank_byte(line[a]))
		a++;
	while (z > a && is_blank_byte(line[z - 1]))
		z--;
	if (a < z && line[a] == '|')
		a++;
	if (z > a && line[z - 1] == '|' && !(z - 1 > a && line[z - 2] == '\\'))
		z--;
	for (size_t start = a, k = a; k <= z; k++) {
		if (k < z && line[k] == '\\') {
			k++;
			continue;
		}
		if (k < z && line[k] != '|')
			continue;
		size_t s = start, e = k < z ? k : z;
		while (s < e && is_blank_byte(line[s]))
			s++;
		while (e > s && is_blank_byte(line[e - 1]))
			e--;
		if (count == max)
			return max + 1;
		cells[count++] = (struct span){line + s, e - s};
		start = k + 1;
	}
	return count;
}

/* Whether line is a delimiter row ("|---|:---:|") of columns cells; their alignments. */
static bool is_delimiter_row(const char *line, size_t length, size_t columns, enum align *aligns)
{
	struct span cells[MAX_COLUMNS];
	if (split_cells(line, length, cells, MAX_COLUMNS) != columns)
		return false;
	for (size_t c = 0; c < columns; c++) {
		const char *t = cells[c].text;
		size_t n = cells[c].length, a = 0, z = n;
		bool left = n > 0 && t[0] == ':', right = n > 1 && t[n - 1] == ':';
		a += left, z -= right;
		if (a >= z || run_length(t, z, a) != z - a || t[a] != '-')
			return false;
		aligns[c] = left && right ? ALIGN_CENTER : right ? ALIGN_RIGHT : ALIGN_LEFT;
	}
	return true;
}

/* Lines of the table starting at line i (header, delimiter row, body rows), or 0. */
static size_t table_rows(const struct render *m, size_t i, size_t *columns, enum align *aligns)
{
	struct span cells[MAX_COLUMNS];
	if (i + 1 >= m->count || !is_paragraph_line(m->lines[i].text, m->lines[i].length))
		return 0;
	*columns = split_cells(m->lines[i].text, m->lines[i].length, cells, MAX_COLUMNS);
	if (*columns == 0 || *columns > MAX_COLUMNS ||
	    !is_delimiter_row(m->lines[i + 1].text, m->lines[i + 1].length, *columns, aligns))
		return 0;
	size_t k = i + 2;
	while (k < m->count && is_paragraph_line(m->lines[k].text, m->lines[k].length) &&
	       split_cells(m->lines[k].text, m->lines[k].length, cells, MAX_COLUMNS) > 0)
		k++;
	return k - i;
}

/* Display width of a cell's rendered text, or -1 when out of memory. */
static int cell_width(const struct span *cell)
{
	struct markdown_line b;
	markdown_line_init(&b, 0, false, THEME_TEXT);
	markdown_inline(&b, cell->text, cell->length, THEME_TEXT);
	int width = b.failed ? -1 : text_width(b.line.text ? b.line.text : "", b.line.length);
	free(b.line.text);
	free(b.line.runs);
	return width;
}

/* Column widths of the table's rows into widths; returns its width in columns,
 * 0 when a row has more cells than the header, or -1 when out of memory. */
static int table_width(const struct render *m, size_t first, size_t rows, size_t columns, int *widths)
{
	struct span cells[MAX_COLUMNS];
	int total = (int)(columns - 1) * TABLE_BAR_WIDTH;
	for (size_t c = 0; c < columns; c++)
		widths[c] = 1;
	for (size_t k = first; k < first + rows; k++) {
		if (k == first + 1)
			continue;   /* the delimiter row */
		size_t n = split_cells(m->lines[k].text, m->lines[k].length, cells, MAX_COLUMNS);
		if (n > columns)
			return 0;
		for (size_t c = 0; c < n; c++) {
			int w = cell_width(&cells[c]);
			if (w < 0)
				return -1;
			if (w > widths[c])
				widths[c] = w;
		}
	}
	for (size_t c = 0; c < columns; c++)
		total += widths[c];
	return total;
}

static int table_row(const struct render *m, const struct span *line, bool header, size_t columns,
		     const int *widths, const enum align *aligns)
{
	struct span cells[MAX_COLUMNS];
	struct markdown_line b;
	size_t n = split_cells(line->text, line->length, cells, MAX_COLUMNS);
	markdown_line_init(&b, 0, false, THEME_TEXT);
	for (size_t c = 0; c < columns; c++) {
		struct span cell = c < n ? cells[c] : (struct span){"", 0};
		int width = cell_width(&cell), pad = widths[c] - width;
		if (width < 0)
			b.failed = true;
		int before = aligns[c] == ALIGN_RIGHT ? pad : aligns[c] == ALIGN_CENTER ? pad / 2 : 0;
		if (c > 0)
			markdown_line_text(&b, TABLE_BAR, strlen(TABLE_BAR), THEME_RULE);
		markdown_line_repeat(&b, " ", before, m->base);
		markdown_inline(&b, cell.text, cell.length, header ? THEME_STRONG : m->base);
		markdown_line_repeat(&b, " ", pad - before, m->base);
	}
	return markdown_line_finish(&b, m->out);
}

static int table_rule(const struct render *m, size_t columns, const int *widths)
{
	struct markdown_line b;
	markdown_line_init(&b, 0, false, THEME_TEXT);
	for (size_t c = 0; c < columns; c++) {
		if (c > 0)
			markdown_line_text(&b, TABLE_CROSS, strlen(TABLE_CROSS), THEME_RULE);
		markdown_line_repeat(&b, RULE, widths[c], THEME_RULE);
	}
	return markdown_line_finish(&b, m->out);
}

/* The table of rows lines from first: aligned, or its raw lines when it does not fit. */
static int render_table(const struct render *m, size_t first, size_t rows, size_t columns, const enum align *aligns)
{
	int widths[MAX_COLUMNS];
	int total = table_width(m, first, rows, columns, widths);
	if (total < 0)
		return -1;
	for (size_t k = first; k < first + rows; k++) {
		const struct span *line = &m->lines[k];
		int rc;
		if (total == 0 || total > m->width)
			rc = render_line(m, line->text, line->length, m->base);
		else if (k == first + 1)
			rc = table_rule(m, columns, widths);
		else
			rc = table_row(m, line, k == first, columns, widths, aligns);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---- the whole text ---- */

/* A fence's row (padding, the opening one naming the language) or a code line. */
static int code_row(const struct render *m, const char *text, size_t length, bool fence)
{
	struct markdown_line b;
	markdown_line_init(&b, fence ? 0 : 1, true, THEME_CODE_BLOCK);
	if (!fence || length)
		markdown_line_text(&b, " ", 1, THEME_CODE_BLOCK);
	markdown_line_text(&b, text, length, THEME_CODE_BLOCK);
	return markdown_line_finish(&b, m->out);
}

/* The paragraph starting at line i: its lines, a heading when a setext underline
 * follows them.  Returns the lines used, or 0 when out of memory. */
static size_t render_paragraph(const struct render *m, size_t i)
{
	size_t columns, j = i + 1;
	enum align aligns[MAX_COLUMNS];
	while (j < m->count && !setext_level(m->lines[j].text, m->lines[j].length) &&
	       is_paragraph_line(m->lines[j].text, m->lines[j].length) && !table_rows(m, j, &columns, aligns))
		j++;
	bool heading = j < m->count && setext_level(m->lines[j].text, m->lines[j].length);
	for (size_t k = i; k < j; k++)
		if (render_line(m, m->lines[k].text, m->lines[k].length, heading ? THEME_HEADING : m->base) != 0)
			return 0;
	return j - i + heading;   /* the underline is not shown */
}

static int render_lines(const struct render *m)
{
	struct fence fence = {0};
	bool in_code = false;
	for (size_t i = 0; i < m->count;) {
		const char *line = m->lines[i].text;
		size_t length = m->lines[i].length, rows, columns;
		enum align aligns[MAX_COLUMNS];
		int rc = 0;
		if (in_code) {
			in_code = !closes_fence(line, length, &fence);
			rc = in_code ? code_row(m, line, length, false) : code_row(m, "", 0, true);
			i++;
		} else if (is_fence(line, length, &fence)) {
			in_code = true;
			rc = code_row(m, fence.info.text, fence.info.length, true);
			i++;
		} else if ((rows = table_rows(m, i, &columns, aligns)) != 0) {
			rc = render_table(m, i, rows, columns, aligns);
			i += rows;
		} else if (is_paragraph_line(line, length)) {
			rows = render_paragraph(m, i);
			rc = rows ? 0 : -1;
			i += rows;
		} else {
			rc = render_line(m, line, length, m->base);
			i++;
		}
		if (rc != 0)
			return -1;
	}
	return 0;
}

int markdown_render(const char *text, size_t length, enum theme_element base, int width, struct styled_lines *out)
{
	size_t count = 1, k = 0;
	for (size_t i = 0; i < length; i++)
		count += text[i] == '\n';
	struct span *lines = malloc(count * sizeof *lines);
	if (!lines)
		return -1;
	for (size_t pos = 0; k < count; k++) {
		const char *nl = memchr(text + pos, '\n', length - pos);
		size_t end = nl ? (size_t)(nl - text) : length;
		lines[k] = (struct span){text + pos, end - pos};
		pos = end + 1;
	}
	struct render m = {lines, count, width < 1 ? 1 : width, base, out};
	int rc = render_lines(&m);
	free(lines);
	return rc;
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
	struct fence open;
	size_t pos = 0, block_start = 0;
	*count = 0;
	while (pos < length) {
		const char *nl = memchr(text + pos, '\n', length - pos);
		size_t end = nl ? (size_t)(nl - text) : length;
		if (in_code && closes_fence(text + pos, end - pos, &open)) {
			/* the block ends before the newline ahead of this fence */
			code_block_seen(n, block_start, pos > block_start ? pos - 1 - block_start : 0, count, start,
					block_length);
			in_code = false;
		} else if (!in_code && is_fence(text + pos, end - pos, &open)) {
			block_start = nl ? end + 1 : length;
			in_code = true;
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
