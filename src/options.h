/*
 * options.h - the command line, parsed into one struct.
 *
 * GNU-style long options (getopt_long).  Parsing never exits: it returns a status
 * and an error message, and main() decides what to print.  Every flag accepted here
 * must appear in man/llmchat.1 (a test checks it).
 */
#ifndef LLMCHAT_OPTIONS_H
#define LLMCHAT_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

enum run_mode {
	MODE_AUTO,        /* TUI when stdin and stdout are terminals, else pipe */
	MODE_PIPE,        /* --no-tui or stdin not a terminal */
	MODE_TOKENIZE,    /* --tokenize */
	MODE_DETOKENIZE,  /* --detokenize */
	MODE_PRINT_PROMPT,/* --print-prompt */
	MODE_PERPLEXITY,  /* --perplexity FILE */
	MODE_BENCH,       /* --bench */
	MODE_HELP,
	MODE_VERSION,
	MODE_LIST_PRESETS,/* --list-presets */
	MODE_LIST_THEMES, /* --list-themes */
};

/* Sampling settings; a negative value (or NAN for floats) means "not given":
 * the model's generation_config.json or the built-in default applies. */
struct sampling_options {
	float temperature;
	float top_p;
	float min_p;
	float repeat_penalty;
	int top_k;
	int max_tokens;
	bool have_seed;
	uint64_t seed;
};

struct options {
	enum run_mode mode;
	const char *model;          /* -m: folder or Hugging Face repo id */
	const char *tokenizer_file; /* --tokenizer: tokenizer.json or tiktoken file */
	const char *system_prompt;  /* --system */
	const char *perplexity_file;
	const char *dummy_weights;  /* --dummy-weights: a config.json (or its folder) */
	bool raw;                   /* --raw: no chat template */
	bool force_cpu;             /* --cpu */
	int context_length;         /* --ctx; 0 = what fits */
	int threads;                /* --threads; 0 = all cores */
	int ranks;                  /* --gpus / --tp; 0 = the backend's default */
	enum engine_comm comm;      /* --comm */
	enum engine_kv_cache kv_cache; /* --kv-cache; default bf16 */
	struct sampling_options sampling;
	const char *preset;         /* --preset: a built-in or user preset */
	const char *theme;          /* --theme: the TUI's colours */
	bool no_color;              /* --no-color */
	bool resume;                /* --resume: reopen the last conversation */
};

/* The numeric settings that flags, the config file and presets share, each with one
 * range that every source checks: temp, top_p, min_p, repeat_penalty, top_k,
 * max_tokens, ctx, threads (as flags spelled with '-': --top-p). */
struct option_number {
	const char *key;     /* as files spell it: "top_p" */
	double min, max;
	bool min_excluded;   /* (min, max] rather than [min, max] */
	bool integer;
};

/* The setting named key ("top_p"), or NULL when there is none of that name. */
const struct option_number *options_find_number(const char *key);

/* Parses text, all of it, as a value of setting: an integer or a number, in range.
 * Returns 0, or -1 with "expected a number in (0, 1], got '0'" in err; the caller
 * adds where the text came from (the flag, or the file and line). */
int options_parse_number(const struct option_number *setting, const char *text, double *out,
			 char *err, size_t err_size);

/* Fills *opts from argv.  Returns 0, or -1 with a one-line message in err. */
int options_parse(struct options *opts, int argc, char **argv, char *err, size_t err_size);

/* The short help text (the man page is the long form). */
const char *options_usage(void);

#endif
