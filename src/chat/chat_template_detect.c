/*
 * chat_template_detect.c - which of the Llama 3 forms a model folder's template is.
 *
 * A template is recognised as one of the forms only when it is byte for byte a
 * template Meta shipped (the table below, by length and FNV-1a hash): llmchat renders
 * those forms in C, so a template that differs in any byte may render differently,
 * and the user is told so once.  A template that holds Llama 3's header tokens but
 * differs (a fine-tuner's edit) is rendered as the closest form, judged by what only
 * that form contains; anything else (ChatML, Llama 2's [INST], no template at all)
 * gets the Llama 3.1 form.  What llmchat does is never silent: the notice names the
 * file and the form used.
 *
 * Files are read through file_read.h: a FIFO or device is refused at once, the size
 * is bounded, and tokenizer_config.json's model_max_length 1e30 (an integer past 64
 * bits, in every Llama 3.0 folder) is accepted.  A file that exists but cannot be
 * read is an error, never a silent fallback.
 */
#include "chat_template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file_read.h"

#define START_HEADER "<|start_header_id|>"
#define END_HEADER "<|end_header_id|>"

/* The templates Meta shipped, byte for byte (tests/data/chat_templates/ holds the
 * current three; tests/chat/test_chat_template.c derives the older ones from them and
 * checks every entry).  The older copies render what the current ones render when no
 * tools are passed, which llmchat never does. */
static const struct known_template {
	size_t length;
	uint64_t hash;                  /* FNV-1a 64 of the bytes */
	enum chat_template_kind kind;
} known_templates[] = {
	{389, 0x0e60067a5537498eull, CHAT_TEMPLATE_LLAMA3},   /* Meta-Llama-3-*-Instruct */
	/* the first Llama 3 template (April 2024): the generation prompt always, which
	 * llmchat always asks for */
	{348, 0x74891e390e614ae2ull, CHAT_TEMPLATE_LLAMA3},
	{4734, 0xa9ad841576605e3bull, CHAT_TEMPLATE_LLAMA31}, /* Llama 3.1 and 3.3 Instruct */
	/* earlier 3.1 copies: tool results end in <|eot_id|> alone, and the first of them
	 * also lacks the `tools = none` default */
	{4614, 0x60848a05837ce656ull, CHAT_TEMPLATE_LLAMA31},
	{4542, 0x104a4b13144daee3ull, CHAT_TEMPLATE_LLAMA31},
	{3827, 0x0ac29b9538e2befaull, CHAT_TEMPLATE_LLAMA32}, /* Llama 3.2 Instruct */
};

static uint64_t fnv1a64(const char *bytes, size_t length)
{
	uint64_t hash = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < length; i++) {
		hash ^= (unsigned char)bytes[i];
		hash *= 0x100000001b3ull;
	}
	return hash;
}

const char *chat_template_kind_name(enum chat_template_kind kind)
{
	switch (kind) {
	case CHAT_TEMPLATE_LLAMA3: return "Llama 3";
	case CHAT_TEMPLATE_LLAMA31: return "Llama 3.1";
	case CHAT_TEMPLATE_LLAMA32: return "Llama 3.2";
	}
	return "?";
}

/* The closest form of a Llama 3 template, by what only that form contains. */
static enum chat_template_kind closest_form(const char *source)
{
	if (strstr(source, "strftime_now"))
		return CHAT_TEMPLATE_LLAMA32;
	if (strstr(source, "Cutting Knowledge Date") || strstr(source, "date_string"))
		return CHAT_TEMPLATE_LLAMA31;
	return CHAT_TEMPLATE_LLAMA3;
}

/* A guess at what a foreign template is, for the notice: "" when none. */
static const char *foreign_guess(const char *source)
{
	if (strstr(source, "<|im_start|>"))
		return " (ChatML?)";
	if (strstr(source, "[INST]"))
		return " (Llama 2 or Mistral [INST]?)";
	if (strstr(source, "<start_of_turn>"))
		return " (Gemma?)";
	return "";
}

/* Classifies SOURCE (LENGTH bytes) read from WHERE ("PATH" or "PATH: chat_template"). */
static void classify(const char *source, size_t length, const char *where, struct chat_template_detection *out)
{
	for (size_t i = 0; i < sizeof known_templates / sizeof known_templates[0]; i++) {
		if (known_templates[i].length == length && known_templates[i].hash == fnv1a64(source, length)) {
			out->kind = known_templates[i].kind;
			out->match = CHAT_TEMPLATE_EXACT;
			out->notice[0] = '\0';
			return;
		}
	}
	/* strstr stops at a NUL byte: what follows one cannot make a template Llama 3's */
	if (strstr(source, START_HEADER) && strstr(source, END_HEADER)) {
		out->kind = closest_form(source);
		out->match = CHAT_TEMPLATE_EDITED;
		snprintf(out->notice, sizeof out->notice, "%s is a Llama 3 template edited (not one Meta shipped): "
			 "rendering the closest form, %s's", where, chat_template_kind_name(out->kind));
		return;
	}
	out->kind = CHAT_TEMPLATE_LLAMA31;
	out->match = CHAT_TEMPLATE_FOREIGN;
	snprintf(out->notice, sizeof out->notice, "%s is not a Llama 3 template%s; rendering the Llama 3.1 form",
		 where, foreign_guess(source));
}

static void absent(const char *why, struct chat_template_detection *out)
{
	out->kind = CHAT_TEMPLATE_LLAMA31;
	out->match = CHAT_TEMPLATE_ABSENT;
	snprintf(out->notice, sizeof out->notice, "%s; rendering the Llama 3.1 form (a base model? --raw feeds "
		 "text as it is)", why);
}

/* tokenizer_config.json's chat_template: a string, or a list of {name, template} of
 * which the entry named "default" is the chat template.  Returns NULL when there is
 * none, with the reason in why. */
static json_t *config_template(json_t *config, const char **why)
{
	json_t *value = json_object_get(config, "chat_template");
	*why = "has no chat_template";
	if (json_is_string(value))
		return value;
	if (json_is_array(value)) {
		size_t i;
		json_t *entry;
		json_array_foreach(value, i, entry) {
			const char *name = json_string_value(json_object_get(entry, "name"));
			json_t *source = json_object_get(entry, "template");
			if (name && strcmp(name, "default") == 0 && json_is_string(source))
				return source;
		}
		*why = "lists no chat_template named default";
	} else if (value && !json_is_null(value)) {
		*why = "has a chat_template that is neither a string nor a list of {name, template}";
	}
	return NULL;
}

static int detect_in_config(const char *model_dir, struct chat_template_detection *out, char *err, size_t err_size)
{
	char path[4096], where[4200];
	if ((size_t)snprintf(path, sizeof path, "%s/tokenizer_config.json", model_dir) >= sizeof path) {
		snprintf(err, err_size, "%s: path too long", model_dir);
		return -1;
	}
	bool missing;
	json_t *config = json_read_file(path, FILE_LIMIT_SMALL, &missing, err, err_size);
	if (!config && missing) {
		snprintf(where, sizeof where, "%s: no chat template (no chat_template.jinja, no tokenizer_config.json)",
			 model_dir);
		absent(where, out);
		return 0;
	}
	if (!config)
		return -1;
	if (!json_is_object(config)) {
		snprintf(err, err_size, "%s: not a JSON object", path);
		json_decref(config);
		return -1;
	}
	const char *why;
	json_t *source = config_template(config, &why);
	if (source) {
		snprintf(where, sizeof where, "%s: chat_template", path);
		classify(json_string_value(source), json_string_length(source), where, out);
	} else {
		snprintf(where, sizeof where, "%s %s", path, why);
		absent(where, out);
	}
	json_decref(config);
	return 0;
}

int chat_template_detect(const char *model_dir, struct chat_template_detection *out, char *err, size_t err_size)
{
	char path[4096];
	memset(out, 0, sizeof *out);
	if ((size_t)snprintf(path, sizeof path, "%s/chat_template.jinja", model_dir) >= sizeof path) {
		snprintf(err, err_size, "%s: path too long", model_dir);
		return -1;
	}
	char *source;
	size_t length;
	bool missing;
	if (file_read_all(path, FILE_LIMIT_SMALL, &source, &length, &missing, err, err_size) == 0) {
		classify(source, length, path, out);
		free(source);
		return 0;
	}
	if (!missing)
		return -1;
	return detect_in_config(model_dir, out, err, err_size);
}
