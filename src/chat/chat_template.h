/*
 * chat_template.h - the Llama 3 chat templates, rendered byte-exact in C.
 *
 * Three forms exist as the models ship them (see ../shared/data/chat_templates):
 *   LLAMA3   Meta-Llama-3-*-Instruct: no default system block;
 *   LLAMA31  Llama 3.1 / 3.3: system block always, with "Cutting Knowledge Date:
 *            December 2023" and "Today Date: 26 Jul 2024";
 *   LLAMA32  Llama 3.2: as 3.1 but today's date, strftime("%d %b %Y").
 * Message contents are trimmed as the templates do.  Special tokens (headers,
 * <|eot_id|>) enter the token stream by id only: text a user typed is encoded as
 * plain text even when it spells a special token.
 */
#ifndef LLMCHAT_CHAT_TEMPLATE_H
#define LLMCHAT_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bpe;

enum chat_template_kind { CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_LLAMA32 };

enum chat_role { CHAT_ROLE_SYSTEM, CHAT_ROLE_USER, CHAT_ROLE_ASSISTANT };

struct chat_message {
	enum chat_role role;
	const char *content;   /* UTF-8 (or any bytes), NUL-terminated */
};

/* How the folder's template relates to the form llmchat renders. */
enum chat_template_match {
	CHAT_TEMPLATE_EXACT,    /* byte for byte one of the templates Meta shipped */
	CHAT_TEMPLATE_EDITED,   /* a Llama 3 template (its header tokens) edited: the closest form */
	CHAT_TEMPLATE_FOREIGN,  /* not a Llama 3 template (ChatML, Llama 2, ...): LLAMA31 */
	CHAT_TEMPLATE_ABSENT,   /* no template in the folder (a base model?): LLAMA31 */
};

struct chat_template_detection {
	enum chat_template_kind kind;    /* the form llmchat renders */
	enum chat_template_match match;
	char notice[4608];               /* for stderr, once: which file, what llmchat does
					  * instead; "" for an exact match */
};

/* Which form the model folder uses: chat_template.jinja beside tokenizer_config.json
 * wins, else tokenizer_config.json's chat_template (a string, or a list whose
 * "default" entry is used).  A template is the Llama 3, 3.1 or 3.2 form when it is
 * byte for byte one Meta shipped; one that holds Llama 3's header tokens but differs
 * is rendered as the closest form (by what only that form contains); anything else,
 * or no template, gets the Llama 3.1 form, and out->notice says so.  A missing file
 * is absence; a file that exists but cannot be read (permission, broken JSON, a
 * directory or FIFO) is an error: -1 with the file, line and reason in err. */
int chat_template_detect(const char *model_dir, struct chat_template_detection *out, char *err, size_t err_size);

/* "Llama 3", "Llama 3.1", "Llama 3.2": the form's name in messages. */
const char *chat_template_kind_name(enum chat_template_kind kind);

/* The date line the template writes: "26 Jul 2024" for LLAMA31, today's date for
 * LLAMA32 (from the local clock), "" for LLAMA3.  Exposed for tests. */
void chat_template_date(enum chat_template_kind kind, char *out, size_t out_size);

/* Renders the prompt as text with special tokens spelled out ("<|begin_of_text|>...").
 * today overrides the LLAMA32 date when not NULL.  *out is malloc'd.  Contents are
 * trimmed by Python's str.strip() rule (what transformers' Jinja does).  As in the
 * templates, LLAMA31/32 refuse an empty message list; LLAMA3 renders it as the
 * generation prompt alone. */
int chat_template_render(enum chat_template_kind kind, const struct chat_message *messages,
			 size_t count, bool add_generation_prompt, const char *today,
			 char **out, char *err, size_t err_size);

/* The same prompt as token ids: special tokens by id, contents through bpe_encode.
 * Appends to *ids (realloc'd). */
int chat_template_encode(enum chat_template_kind kind, const struct bpe *bpe,
			 const struct chat_message *messages, size_t count,
			 bool add_generation_prompt, const char *today,
			 int32_t **ids, size_t *id_count, size_t *id_capacity,
			 char *err, size_t err_size);

#endif
