/*
 * chat_reference.h - reading the JSON lines of tests/chat/render_reference.mjs
 * (shared by tests/chat/chat_conformance.c and tests/chat/chat_encode_conformance.c).
 */
#ifndef LLMCHAT_TESTS_CHAT_REFERENCE_H
#define LLMCHAT_TESTS_CHAT_REFERENCE_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"

/* One reference case; messages borrow the strings of the JSON object. */
struct chat_reference {
	const char *template_name;
	const char *name;
	const char *today;
	const char *expected;
	enum chat_template_kind kind;
	bool add_generation_prompt;
	struct chat_message *messages;   /* malloc'd */
	size_t count;
};

static inline int chat_reference_kind(const char *name, enum chat_template_kind *kind)
{
	if (strcmp(name, "llama-3-instruct") == 0)
		*kind = CHAT_TEMPLATE_LLAMA3;
	else if (strcmp(name, "llama-3.1-instruct") == 0)
		*kind = CHAT_TEMPLATE_LLAMA31;
	else if (strcmp(name, "llama-3.2-instruct") == 0)
		*kind = CHAT_TEMPLATE_LLAMA32;
	else
		return -1;
	return 0;
}

static inline int chat_reference_role(const char *name, enum chat_role *role)
{
	if (strcmp(name, "system") == 0)
		*role = CHAT_ROLE_SYSTEM;
	else if (strcmp(name, "user") == 0)
		*role = CHAT_ROLE_USER;
	else if (strcmp(name, "assistant") == 0)
		*role = CHAT_ROLE_ASSISTANT;
	else
		return -1;
	return 0;
}

/* Fills *ref from one parsed line; returns 0, or -1 when the line is malformed. */
static inline int chat_reference_read(json_t *line, struct chat_reference *ref)
{
	*ref = (struct chat_reference){ 0 };
	ref->template_name = json_string_value(json_object_get(line, "template"));
	ref->name = json_string_value(json_object_get(line, "name"));
	ref->today = json_string_value(json_object_get(line, "today"));
	ref->expected = json_string_value(json_object_get(line, "expected"));
	ref->add_generation_prompt = json_is_true(json_object_get(line, "add_generation_prompt"));
	json_t *list = json_object_get(line, "messages");
	if (!ref->template_name || !ref->name || !ref->expected || !json_is_array(list) ||
	    chat_reference_kind(ref->template_name, &ref->kind) != 0)
		return -1;
	ref->count = json_array_size(list);
	ref->messages = calloc(ref->count ? ref->count : 1, sizeof *ref->messages);
	for (size_t i = 0; i < ref->count; i++) {
		json_t *m = json_array_get(list, i);
		const char *role = json_string_value(json_object_get(m, "role"));
		ref->messages[i].content = json_string_value(json_object_get(m, "content"));
		if (!role || chat_reference_role(role, &ref->messages[i].role) != 0 || !ref->messages[i].content) {
			free(ref->messages);
			ref->messages = NULL;
			return -1;
		}
	}
	return 0;
}

static inline void chat_reference_free(struct chat_reference *ref)
{
	free(ref->messages);
	ref->messages = NULL;
}

#endif
