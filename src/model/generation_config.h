/*
 * generation_config.h - the sampling and length defaults of a model folder's
 * generation_config.json.
 *
 * Keys read (transformers' GenerationConfig names and meanings):
 *   do_sample           false: greedy (temperature 0), whatever temperature says
 *   temperature         [0, 100]; 0 is greedy
 *   top_p               (0, 1]
 *   top_k               integer >= 0; 0 is off
 *   min_p               [0, 1]
 *   repetition_penalty  [0.01, 100]; 1 is off
 *   max_new_tokens      integer >= 1: tokens an answer may have
 *   max_length          integer >= 1: prompt and answer together, in tokens (an answer
 *                       ends when the conversation reaches it); max_new_tokens, when
 *                       set, wins, as in transformers
 * bos_token_id and eos_token_id are read with config.json's (model_config.c).  Other
 * keys (num_beams, transformers_version, ...) are ignored.  A value out of range is an
 * error naming the file, the key and the value.  Command-line flags, the config file
 * and a preset take precedence (chat_session.h says the order).
 */
#ifndef LLMCHAT_GENERATION_CONFIG_H
#define LLMCHAT_GENERATION_CONFIG_H

#include <stddef.h>

#include <jansson.h>

struct model_config;

/* Fills config's default_* fields from GENERATION (the parsed file, or NULL when the
 * folder has none: every default then absent).  PATH names the file in messages.
 * Returns 0, or -1 with "PATH: KEY VALUE is not in RANGE" in err. */
int generation_config_parse(const json_t *generation, const char *path, struct model_config *config,
			    char *err, size_t err_size);

#endif
