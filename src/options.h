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

#include "chat_session.h"   /* struct sampling_overrides */
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

/* What --bench's profiler range (cudaProfilerStart / Stop, for bench/profile_decode.sh)
 * holds: the first timed run of the greedy steps at 128 of context, of the 1 + 8 token
 * verify pass, or the first prefill of 2048 tokens. */
enum bench_profile { BENCH_PROFILE_DECODE, BENCH_PROFILE_VERIFY, BENCH_PROFILE_PREFILL };

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
	enum comm_kind comm;      /* --comm */
	enum engine_kv_cache kv_cache; /* --kv-cache; default bf16 */
	struct sampling_overrides sampling;
	bool lookup;                /* --lookup: speculative decoding from prompt lookup */
	const char *draft_model;    /* --draft-model: speculative decoding from a small model */
	int draft_tokens;           /* --draft: tokens proposed a step; 0: adaptive */
	const char *preset;         /* --preset: a built-in or user preset */
	const char *theme;          /* --theme: the TUI's colours */
	bool no_color;              /* --no-color */
	bool resume;                /* --resume: reopen the last conversation */
	bool mouse;                 /* the config file's mouse = on: the interface takes mouse reports */
	const char *resume_from;    /* --resume=ID|FILE: that one instead (history_find) */
	/* from the environment (options_read_environment), for tests and demos */
	long stream_delay_ms;       /* $LLMCHAT_STREAM_DELAY_MS: a pause after each streamed piece */
	enum bench_profile bench_profile; /* $LLMCHAT_BENCH_PROFILE: what --bench's profiler range holds */
	struct engine_test_hooks engine_test_hooks; /* $LLMCHAT_TEST_FAIL_RANK, $LLMCHAT_CUDA_GRAPH */
};

/* Fills *opts from argv.  Returns 0, or -1 with a one-line message in err. */
int options_parse(struct options *opts, int argc, char **argv, char *err, size_t err_size);

/* Fills the settings the environment gives (the test hooks above), once, where the
 * options are read: nothing below the program reads the environment for them.
 * Returns 0, or -1 with a message naming the variable and its bad value. */
int options_read_environment(struct options *opts, char *err, size_t err_size);

struct config_file;
struct preset;
struct model_runtime_settings;
struct model_runtime;

/* What opts asks of the engine and of the model runtime (model_runtime.h); *runtime
 * points into *engine and opts, which must outlive it. */
void options_runtime_settings(const struct options *opts, struct engine_options *engine,
			      struct model_runtime_settings *runtime);

struct draft_model;

/* Opens --draft-model's folder as a draft for rt's model (draft_model.h), with the
 * engine settings opts gives rt; *out NULL without the flag.  Returns 0, or -1 with
 * a message. */
int options_open_draft(const struct options *opts, const struct model_runtime *rt, struct draft_model **out,
		       char *err, size_t err_size);

/* The speculative decoding opts asks for (--lookup, or --draft-model with draft
 * opened by options_open_draft; --draft) as chat_session.h's settings; propose
 * NULL when none. */
void options_speculation(const struct options *opts, struct draft_model *draft, struct speculation *out);

/* model_runtime_open (model_runtime.h) with what opts asks: pipe mode and perplexity
 * open their model this way.  Returns 0, or -1 with a message. */
int options_open_runtime(const struct options *opts, struct model_runtime *rt, char *err, size_t err_size);

/* Fills what the command line left unset in opts from the config file cfg (which
 * must outlive opts). */
void options_apply_config(struct options *opts, const struct config_file *cfg);

/* Gives opts the preset's system prompt and settings where the command line (and
 * config file) left them unset: flags win.  The preset must outlive opts.  Pipe
 * mode and --print-prompt take --preset this way; the TUI keeps the preset apart
 * so that /preset can switch. */
void options_apply_preset(struct options *opts, const struct preset *preset);

/* The short help text (the man page is the long form). */
const char *options_usage(void);

#endif
