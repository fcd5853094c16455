/*
 * chat_template.c - the three Llama 3 chat templates, rendered without a Jinja engine.
 *
 * The templates (tests/data/chat_templates/, one .jinja file each) are simple once their tools
 * branches are gone: llmchat never passes tools, so what remains is a fixed
 * sequence of special tokens and text.  Both outputs are built from one list of
 * pieces, each a special token or a span of text, so the rendered text and the
 * token ids cannot drift apart:
 *
 *   LLAMA3   for each message i: (i == 0: <|begin_of_text|>)
 *            <|start_header_id|> role <|end_header_id|> "\n\n" trim(content) <|eot_id|>
 *   LLAMA31  <|begin_of_text|> <|start_header_id|> system <|end_header_id|>
 *            "\n\nCutting Knowledge Date: December 2023\nToday Date: " DATE "\n\n"
 *            trim(first message's content if its role is system) <|eot_id|>
 *            then every other message as in LLAMA3 (no <|begin_of_text|>)
 *   LLAMA32  as LLAMA31 with DATE = strftime_now("%d %b %Y")
 * and the generation prompt <|start_header_id|> assistant <|end_header_id|> "\n\n".
 *
 * The Jinja whitespace control ({{- / {%-, and transformers' trim_blocks) removes
 * every newline of the template source, so the only whitespace emitted is that of
 * the string literals, reproduced above.
 */
#include "chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <utf8proc.h>

#include "array_grow.h"
#include "chat_template_pieces.h"

#define BEGIN_OF_TEXT "<|begin_of_text|>"
#define START_HEADER "<|start_header_id|>"
#define END_HEADER "<|end_header_id|>"
#define END_OF_TURN "<|eot_id|>"

/* ---- trimming: Jinja's trim filter is Python's str.strip() ------------------ */

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs (the rule
 * CPython's makeunicodedata.py applies).  This differs from JavaScript's trim() on
 * U+001C..U+001F and U+0085 (space in Python, not in JS) and U+FEFF (the reverse);
 * transformers renders with Python, so Python's rule is what the model saw. */
static bool is_python_space(utf8proc_int32_t cp)
{
	const utf8proc_property_t *p = utf8proc_get_property(cp);
	return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
	       p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* Length of the valid UTF-8 sequence starting at s (len bytes left) and its code
 * point, or 0 when the bytes there are not valid UTF-8 (trimming stops there). */
static size_t decode_one(const char *s, size_t len, utf8proc_int32_t *cp)
{
	utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s,
					      (utf8proc_ssize_t)(len < 4 ? len : 4), cp);
	return n > 0 ? (size_t)n : 0;
}

/* The code point that ends at s + len, or 0 length when the tail is not valid UTF-8. */
static size_t decode_last(const char *s, size_t len, utf8proc_int32_t *cp)
{
	for (size_t back = 1; back <= 4 && back <= len; back++) {
		unsigned char c = (unsigned char)s[len - back];
		if ((c & 0xC0) == 0x80)
			continue;   /* a continuation byte: the sequence starts further back */
		return decode_one(s + len - back, back, cp) == back ? back : 0;
	}
	return 0;
}

/* Narrows text to the span str.strip() keeps: *start is an offset, *len a length. */
static void python_strip(const char *text, size_t *start, size_t *len)
{
	size_t begin = 0, end = strlen(text), n;
	utf8proc_int32_t cp;
	while (begin < end && (n = decode_one(text + begin, end - begin, &cp)) && is_python_space(cp))
		begin += n;
	while (end > begin && (n = decode_last(text + begin, end - begin, &cp)) && is_python_space(cp))
		end -= n;
	*start = begin;
	*len = end - begin;
}

/* ---- the prompt as a list of pieces ---------------------------------------- */

static int piece_add(struct chat_pieces *list, const char *special, const char *text, size_t length)
{
	struct chat_piece *items = array_grow(list->items, &list->capacity, list->count, sizeof *items, 32);
	if (!items)
		return -1;
	list->items = items;
	list->items[list->count++] = (struct chat_piece){ special, text, length };
	return 0;
}

static int add_special(struct chat_pieces *list, const char *special)
{
	return piece_add(list, special, NULL, 0);
}

static int add_text(struct chat_pieces *list, const char *text, size_t length)
{
	return length ? piece_add(list, NULL, text, length) : 0;
}

static int add_string(struct chat_pieces *list, const char *text)
{
	return add_text(list, text, strlen(text));
}

static const char *role_name(enum chat_role role)
{
	switch (role) {
	case CHAT_ROLE_SYSTEM: return "system";
	case CHAT_ROLE_USER: return "user";
	case CHAT_ROLE_ASSISTANT: return "assistant";
	}
	return NULL;
}

/* <|start_header_id|>ROLE<|end_header_id|>\n\n */
static int add_header(struct chat_pieces *list, const char *role)
{
	return add_special(list, START_HEADER) || add_string(list, role) ||
	       add_special(list, END_HEADER) || add_string(list, "\n\n");
}

/* Content trimmed as the template's `message['content'] | trim` does. */
static int add_trimmed(struct chat_pieces *list, const char *content)
{
	size_t start, length;
	python_strip(content, &start, &length);
	return add_text(list, content + start, length);
}

/* One message as every form writes it: header, trimmed content, <|eot_id|>. */
static int add_message(struct chat_pieces *list, const struct chat_message *message)
{
	return add_header(list, role_name(message->role)) || add_trimmed(list, message->content) ||
	       add_special(list, END_OF_TURN);
}

/* The system block of 3.1/3.2, always present (tools never are, so no
 * "Environment: ipython" line): the first message is its content only when that
 * message's role is system.  Returns how many messages it consumed (0 or 1). */
static int add_system_block(struct chat_pieces *list, const struct chat_message *messages,
			    size_t count, const char *date, size_t *consumed)
{
	*consumed = count > 0 && messages[0].role == CHAT_ROLE_SYSTEM ? 1 : 0;
	if (add_header(list, "system") ||
	    add_string(list, "Cutting Knowledge Date: December 2023\nToday Date: ") ||
	    add_string(list, date) || add_string(list, "\n\n"))
		return -1;
	if (*consumed && add_trimmed(list, messages[0].content))
		return -1;
	return add_special(list, END_OF_TURN);
}

static int check_messages(enum chat_template_kind kind, const struct chat_message *messages,
			  size_t count, char *err, size_t err_size)
{
	if (kind != CHAT_TEMPLATE_LLAMA3 && kind != CHAT_TEMPLATE_LLAMA31 && kind != CHAT_TEMPLATE_LLAMA32) {
		snprintf(err, err_size, "chat template: unknown template kind %d", (int)kind);
		return -1;
	}
	/* The 3.1/3.2 templates read messages[0]['role'], which Jinja refuses on an
	 * empty list; Llama 3's template alone renders one. */
	if (count == 0 && kind != CHAT_TEMPLATE_LLAMA3) {
		snprintf(err, err_size, "chat template: the Llama 3.1/3.2 templates need at least one message");
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (!role_name(messages[i].role) || !messages[i].content) {
			snprintf(err, err_size, "chat template: message %zu has %s", i,
				 messages[i].content ? "an unknown role" : "no content");
			return -1;
		}
	}
	return 0;
}

/* The whole prompt as pieces; date (LLAMA31/32) must outlive the list. */
static int build_pieces(enum chat_template_kind kind, const struct chat_message *messages,
			size_t count, bool add_generation_prompt, const char *date,
			struct chat_pieces *list)
{
	size_t first = 0;
	if (kind == CHAT_TEMPLATE_LLAMA3) {
		/* Llama 3's template writes bos_token inside its loop, before message 0. */
		if (count > 0 && add_special(list, BEGIN_OF_TEXT))
			return -1;
	} else if (add_special(list, BEGIN_OF_TEXT) ||
		   add_system_block(list, messages, count, date, &first)) {
		return -1;
	}
	for (size_t i = first; i < count; i++)
		if (add_message(list, &messages[i]))
			return -1;
	if (add_generation_prompt && add_header(list, "assistant"))
		return -1;
	return 0;
}

int chat_pieces_build(enum chat_template_kind kind, const struct chat_message *messages, size_t count,
		      bool add_generation_prompt, const char *today, struct chat_pieces *pieces,
		      char *err, size_t err_size)
{
	*pieces = (struct chat_pieces){ 0 };
	if (check_messages(kind, messages, count, err, err_size) != 0)
		return -1;
	if (kind == CHAT_TEMPLATE_LLAMA32 && today)
		snprintf(pieces->date, sizeof pieces->date, "%s", today);
	else
		chat_template_date(kind, pieces->date, sizeof pieces->date);
	if (build_pieces(kind, messages, count, add_generation_prompt, pieces->date, pieces) != 0) {
		chat_pieces_free(pieces);
		snprintf(err, err_size, "chat template: out of memory");
		return -1;
	}
	return 0;
}

void chat_pieces_free(struct chat_pieces *pieces)
{
	free(pieces->items);
	pieces->items = NULL;
	pieces->count = pieces->capacity = 0;
}

/* ---- public functions ------------------------------------------------------- */

void chat_template_date(enum chat_template_kind kind, char *out, size_t out_size)
{
	/* Not strftime: its %b follows LC_TIME, which a program that calls setlocale
	 * (as ncurses needs) takes from the environment.  Python under transformers
	 * never sets LC_TIME, so its %b is the C locale's English abbreviation. */
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	if (out_size == 0)
		return;
	if (kind == CHAT_TEMPLATE_LLAMA31) {
		snprintf(out, out_size, "26 Jul 2024");
	} else if (kind == CHAT_TEMPLATE_LLAMA32) {
		time_t now = time(NULL);
		struct tm local;
		if (localtime_r(&now, &local))
			snprintf(out, out_size, "%02d %s %d", local.tm_mday, months[local.tm_mon],
				 local.tm_year + 1900);
		else
			snprintf(out, out_size, "26 Jul 2024");
	} else {
		out[0] = '\0';
	}
}

int chat_template_render(enum chat_template_kind kind, const struct chat_message *messages,
			 size_t count, bool add_generation_prompt, const char *today,
			 char **out, char *err, size_t err_size)
{
	struct chat_pieces list;
	*out = NULL;
	if (chat_pieces_build(kind, messages, count, add_generation_prompt, today, &list, err, err_size) != 0)
		return -1;
	size_t total = 0;
	for (size_t i = 0; i < list.count; i++)
		total += list.items[i].special ? strlen(list.items[i].special) : list.items[i].length;
	char *text = malloc(total + 1);
	if (!text) {
		chat_pieces_free(&list);
		snprintf(err, err_size, "chat template: out of memory");
		return -1;
	}
	size_t at = 0;
	for (size_t i = 0; i < list.count; i++) {
		const struct chat_piece *p = &list.items[i];
		size_t n = p->special ? strlen(p->special) : p->length;
		memcpy(text + at, p->special ? p->special : p->text, n);
		at += n;
	}
	text[at] = '\0';
	chat_pieces_free(&list);
	*out = text;
	return 0;
}
