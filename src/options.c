/*
 * options.c - getopt_long over the flags documented in man/llmchat.1.
 *
 * Numbers are parsed strictly (the whole argument must be a number in range), so
 * "--ctx 4k" is an error that names the flag rather than a silent zero.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"
#include "draft_model.h"
#include "model_runtime.h"
#include "presets.h"
#include "prompt_lookup.h"
#include "setting_ranges.h"
#include "tensor_parallel.h"

enum {
	OPT_TOKENIZER = 256, OPT_TOKENIZE, OPT_DETOKENIZE, OPT_PRINT_PROMPT, OPT_SYSTEM,
	OPT_NO_TUI, OPT_RAW, OPT_PERPLEXITY, OPT_CPU, OPT_CTX, OPT_THREADS, OPT_TEMP,
	OPT_TOP_K, OPT_TOP_P, OPT_MIN_P, OPT_REPEAT_PENALTY, OPT_SEED, OPT_MAX_TOKENS,
	OPT_VERSION, OPT_BENCH, OPT_DUMMY_WEIGHTS,
	OPT_PRESET = 300, OPT_LIST_PRESETS, OPT_THEME, OPT_LIST_THEMES, OPT_NO_COLOR, OPT_RESUME,
	OPT_GPUS = 320, OPT_TP, OPT_COMM, OPT_KV_CACHE,
	OPT_LOOKUP = 340, OPT_DRAFT, OPT_DRAFT_MODEL,
};

static const struct option long_options[] = {
	{"model", required_argument, NULL, 'm'},
	{"tokenizer", required_argument, NULL, OPT_TOKENIZER},
	{"tokenize", no_argument, NULL, OPT_TOKENIZE},
	{"detokenize", no_argument, NULL, OPT_DETOKENIZE},
	{"print-prompt", no_argument, NULL, OPT_PRINT_PROMPT},
	{"system", required_argument, NULL, OPT_SYSTEM},
	{"no-tui", no_argument, NULL, OPT_NO_TUI},
	{"raw", no_argument, NULL, OPT_RAW},
	{"perplexity", required_argument, NULL, OPT_PERPLEXITY},
	{"cpu", no_argument, NULL, OPT_CPU},
	{"ctx", required_argument, NULL, OPT_CTX},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"gpus", required_argument, NULL, OPT_GPUS},
	{"tp", required_argument, NULL, OPT_TP},
	{"comm", required_argument, NULL, OPT_COMM},
	{"kv-cache", required_argument, NULL, OPT_KV_CACHE},
	{"temp", required_argument, NULL, OPT_TEMP},
	{"top-k", required_argument, NULL, OPT_TOP_K},
	{"top-p", required_argument, NULL, OPT_TOP_P},
	{"min-p", required_argument, NULL, OPT_MIN_P},
	{"repeat-penalty", required_argument, NULL, OPT_REPEAT_PENALTY},
	{"seed", required_argument, NULL, OPT_SEED},
	{"max-tokens", required_argument, NULL, OPT_MAX_TOKENS},
	{"lookup", no_argument, NULL, OPT_LOOKUP},
	{"draft", required_argument, NULL, OPT_DRAFT},
	{"draft-model", required_argument, NULL, OPT_DRAFT_MODEL},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{"bench", no_argument, NULL, OPT_BENCH},
	{"dummy-weights", required_argument, NULL, OPT_DUMMY_WEIGHTS},
	{"preset", required_argument, NULL, OPT_PRESET},
	{"list-presets", no_argument, NULL, OPT_LIST_PRESETS},
	{"theme", required_argument, NULL, OPT_THEME},
	{"list-themes", no_argument, NULL, OPT_LIST_THEMES},
	{"no-color", no_argument, NULL, OPT_NO_COLOR},
	{"resume", optional_argument, NULL, OPT_RESUME},
	{NULL, 0, NULL, 0},
};

const char *options_usage(void)
{
	return "Usage: llmchat [OPTION]... \n"
	       "Chat with a Llama 3 model in the terminal, or through a pipe.\n"
	       "\n"
	       "  -m, --model=DIR|REPO      model folder or Hugging Face repo id in the HF cache\n"
	       "      --system=TEXT         system prompt\n"
	       "      --no-tui              pipe mode even on a terminal\n"
	       "      --raw                 no chat template: stdin is the prompt (BOS prepended)\n"
	       "      --cpu                 run on the CPU\n"
	       "      --ctx=N               context length in tokens\n"
	       "      --threads=N           CPU threads (default: all cores)\n"
	       "      --gpus=N, --tp=N      split the model across N GPUs (CPU: N rank threads)\n"
	       "      --comm=auto|nccl|p2p|one-gpu  how the GPUs sum their partial results\n"
	       "      --kv-cache=bf16|fp8|f32  the KV cache's element type (default bf16)\n"
	       "      --temp=T --top-k=K --top-p=P --min-p=P --repeat-penalty=R --seed=S\n"
	       "      --max-tokens=N        sampling and length of an answer; defaults from the\n"
	       "                            model's generation_config.json (do_sample, temperature,\n"
	       "                            top_p, top_k, min_p, repetition_penalty, max_new_tokens,\n"
	       "                            max_length), which flags override\n"
	       "      --lookup              speculative decoding: propose what followed the last\n"
	       "                            words where they occurred before (same answers, faster\n"
	       "                            when an answer quotes or repeats)\n"
	       "      --draft-model=DIR     speculative decoding: a small model sharing the\n"
	       "                            tokenizer proposes (e.g. Llama 3.2 1B for 3.1 8B)\n"
	       "      --draft=N             tokens proposed a step, 1 to 8 (default: adaptive)\n"
	       "      --perplexity=FILE     perplexity of the model on FILE's text\n"
	       "      --tokenize            print the token ids of stdin's text\n"
	       "      --detokenize          print the text of the token ids on stdin\n"
	       "      --tokenizer=FILE      tokenizer.json or tiktoken file for --tokenize\n"
	       "      --print-prompt        print the chat prompt rendered for stdin's message\n"
	       "      --bench               measure prefill and decode speed (GPU)\n"
	       "      --dummy-weights=CONFIG  random weights at CONFIG's shapes, for --bench\n"
	       "      --preset=NAME         a preset's system prompt and settings (pipes too)\n"
	       "      --list-presets        list the built-in and user presets\n"
	       "      --theme=NAME          colour theme of the interface\n"
	       "      --list-themes         list the themes\n"
	       "      --no-color            no colours (also when NO_COLOR is set)\n"
	       "      --resume[=ID|FILE]    reopen the last conversation, or the one given\n"
	       "  -h, --help                this help;  --version  the version\n"
	       "\n"
	       "See llmchat(1) for everything.\n";
}

/* --FLAG's text as the setting of that name ("top-p" is top_p). */
static int parse_number_flag(const char *flag, const char *text, double *out, char *err, size_t err_size)
{
	char key[32], why[256];
	snprintf(key, sizeof key, "%s", flag);
	for (char *c = key; *c; c++)
		if (*c == '-')
			*c = '_';
	if (setting_range_parse(setting_range_find(key), text, out, why, sizeof why) != 0) {
		snprintf(err, err_size, "--%s: %s", flag, why);
		return -1;
	}
	return 0;
}

static int parse_long(const char *flag, const char *text, long min, long max, long *out,
		      char *err, size_t err_size)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || end == text || *end != '\0' || value < min || value > max) {
		snprintf(err, err_size, "--%s: expected an integer from %ld to %ld, got '%s'",
			 flag, min, max, text);
		return -1;
	}
	*out = value;
	return 0;
}

/* text must be one of names (count of them): *out receives its index. */
static int parse_choice(const char *flag, const char *text, const char *const *names, int count, int *out,
			char *err, size_t err_size)
{
	char list[128] = "";
	for (int i = 0; i < count; i++) {
		if (strcmp(text, names[i]) == 0) {
			*out = i;
			return 0;
		}
		size_t used = strlen(list);
		snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
	}
	snprintf(err, err_size, "--%s: expected one of %s, got '%s'", flag, list, text);
	return -1;
}

/* The flag of a mode that decodes no answer (NULL for the chat modes). */
static const char *answerless_mode_flag(enum run_mode mode)
{
	switch (mode) {
	case MODE_TOKENIZE: return "--tokenize";
	case MODE_DETOKENIZE: return "--detokenize";
	case MODE_PRINT_PROMPT: return "--print-prompt";
	case MODE_PERPLEXITY: return "--perplexity";
	case MODE_BENCH: return "--bench";
	default: return NULL;
	}
}

/* --lookup, --draft-model and --draft go together only as they can. */
static int speculation_flags_check(const struct options *opts, char *err, size_t err_size)
{
	const char *flag = opts->lookup ? "--lookup" : "--draft-model";
	const char *mode = answerless_mode_flag(opts->mode);
	if ((opts->lookup || opts->draft_model) && mode) {
		snprintf(err, err_size, "%s speeds up chat answers; %s decodes none", flag, mode);
		return -1;
	}
	if (opts->lookup && opts->draft_model) {
		snprintf(err, err_size, "--lookup and --draft-model are two ways to propose tokens; give one");
		return -1;
	}
	if ((opts->lookup || opts->draft_model) && opts->raw) {
		snprintf(err, err_size, "%s speeds up chat answers; --raw continues text without it", flag);
		return -1;
	}
	if (opts->draft_tokens > 0 && !opts->lookup && !opts->draft_model) {
		snprintf(err, err_size, "--draft sets how many tokens speculative decoding proposes; give --lookup or --draft-model with it");
		return -1;
	}
	return 0;
}

static void options_defaults(struct options *opts)
{
	memset(opts, 0, sizeof *opts);
	opts->mode = MODE_AUTO;
	sampling_overrides_init(&opts->sampling);
}

static int set_mode(struct options *opts, enum run_mode mode, char *err, size_t err_size)
{
	if (opts->mode != MODE_AUTO && opts->mode != MODE_PIPE && opts->mode != mode) {
		snprintf(err, err_size, "only one of --tokenize, --detokenize, --print-prompt, --perplexity and --bench may be given");
		return -1;
	}
	opts->mode = mode;
	return 0;
}

int options_parse(struct options *opts, int argc, char **argv, char *err, size_t err_size)
{
	long ranks = 0, draft = 0;
	double number = 0;
	int c, choice = 0;
	options_defaults(opts);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:h", long_options, NULL)) != -1) {
		const char *flag = NULL;
		for (const struct option *o = long_options; o->name; o++)
			if (o->val == c)
				flag = o->name;
		int rc = 0;
		switch (c) {
		case 'm': opts->model = optarg; break;
		case OPT_TOKENIZER: opts->tokenizer_file = optarg; break;
		case OPT_TOKENIZE: rc = set_mode(opts, MODE_TOKENIZE, err, err_size); break;
		case OPT_DETOKENIZE: rc = set_mode(opts, MODE_DETOKENIZE, err, err_size); break;
		case OPT_PRINT_PROMPT: rc = set_mode(opts, MODE_PRINT_PROMPT, err, err_size); break;
		case OPT_PERPLEXITY:
			opts->perplexity_file = optarg;
			rc = set_mode(opts, MODE_PERPLEXITY, err, err_size);
			break;
		case OPT_SYSTEM: opts->system_prompt = optarg; break;
		case OPT_BENCH: rc = set_mode(opts, MODE_BENCH, err, err_size); break;
		case OPT_DUMMY_WEIGHTS: opts->dummy_weights = optarg; break;
		case OPT_NO_TUI: if (opts->mode == MODE_AUTO) opts->mode = MODE_PIPE; break;
		case OPT_RAW: opts->raw = true; break;
		case OPT_CPU: opts->force_cpu = true; break;
		case OPT_CTX:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->context_length = (int)number;
			break;
		case OPT_THREADS:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->threads = (int)number;
			break;
		case OPT_LOOKUP: opts->lookup = true; break;
		case OPT_DRAFT_MODEL: opts->draft_model = optarg; break;
		case OPT_DRAFT:
			rc = parse_long(flag, optarg, 1, SPECULATION_MAX_DRAFT, &draft, err, err_size);
			opts->draft_tokens = (int)draft;
			break;
		case OPT_GPUS:
		case OPT_TP:
			rc = parse_long(flag, optarg, 1, 64, &ranks, err, err_size);
			opts->ranks = (int)ranks;
			break;
		case OPT_COMM: {
			/* in the order of enum comm_kind */
			static const char *const names[] = {"auto", "nccl", "p2p", "one-gpu"};
			rc = parse_choice(flag, optarg, names, 4, &choice, err, err_size);
			opts->comm = (enum comm_kind)choice;
			break;
		}
		case OPT_KV_CACHE: {
			/* in the order of enum engine_kv_cache */
			static const char *const names[] = {"bf16", "fp8", "f32"};
			rc = parse_choice(flag, optarg, names, 3, &choice, err, err_size);
			opts->kv_cache = (enum engine_kv_cache)choice;
			break;
		}
		case OPT_TEMP:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->sampling.temperature = (float)number;
			break;
		case OPT_TOP_P:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->sampling.top_p = (float)number;
			break;
		case OPT_MIN_P:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->sampling.min_p = (float)number;
			break;
		case OPT_REPEAT_PENALTY:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->sampling.repeat_penalty = (float)number;
			break;
		case OPT_TOP_K:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->sampling.top_k = (int)number;
			break;
		case OPT_MAX_TOKENS:
			rc = parse_number_flag(flag, optarg, &number, err, err_size);
			opts->sampling.max_tokens = (int)number;
			break;
		case OPT_SEED: {
			char *end;
			errno = 0;
			unsigned long long seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-') {
				snprintf(err, err_size, "--seed: expected a non-negative integer, got '%s'", optarg);
				rc = -1;
			}
			opts->sampling.have_seed = true;
			opts->sampling.seed = seed;
			break;
		}
		case 'h': opts->mode = MODE_HELP; return 0;
		case OPT_VERSION: opts->mode = MODE_VERSION; return 0;
		case OPT_PRESET: opts->preset = optarg; break;
		case OPT_LIST_PRESETS: opts->mode = MODE_LIST_PRESETS; break;
		case OPT_THEME: opts->theme = optarg; break;
		case OPT_LIST_THEMES: opts->mode = MODE_LIST_THEMES; break;
		case OPT_NO_COLOR: opts->no_color = true; break;
		case OPT_RESUME:
			opts->resume = true;
			opts->resume_from = optarg;
			if (optarg && !optarg[0]) {
				snprintf(err, err_size, "--resume=: an empty conversation; give an ID (/history shows them) or a file");
				rc = -1;
			}
			break;
		case ':':
			snprintf(err, err_size, "option '%s' needs an argument (see --help)", argv[optind - 1]);
			return -1;
		default:
			snprintf(err, err_size, "unknown option '%s' (see --help)", argv[optind - 1]);
			return -1;
		}
		if (rc)
			return -1;
	}
	if (speculation_flags_check(opts, err, err_size) != 0)
		return -1;
	if (optind < argc) {
		snprintf(err, err_size, "unexpected argument '%s' (the message is read from stdin%s; see --help)",
			 argv[optind], opts->resume && !opts->resume_from ? "; a conversation to resume is --resume=ID" : "");
		return -1;
	}
	return 0;
}

void options_apply_config(struct options *opts, const struct config_file *cfg)
{
	if (!opts->model && !getenv("LLMCHAT_MODEL"))
		opts->model = cfg->model;
	if (!opts->preset)
		opts->preset = cfg->preset;
	if (!opts->theme)
		opts->theme = cfg->theme;
	sampling_overrides_fill(&opts->sampling, &cfg->sampling);
	if (opts->context_length == 0)
		opts->context_length = cfg->context_length;
	if (cfg->mouse >= 0)
		opts->mouse = cfg->mouse == 1;
}

void options_apply_preset(struct options *opts, const struct preset *preset)
{
	if (!opts->system_prompt)
		opts->system_prompt = preset->system_prompt;
	sampling_overrides_fill(&opts->sampling, &preset->sampling);
}

int options_open_draft(const struct options *opts, const struct model_runtime *rt, struct draft_model **out,
		       char *err, size_t err_size)
{
	*out = NULL;
	if (!opts->draft_model)
		return 0;
	struct engine_options engine;
	struct model_runtime_settings runtime;
	options_runtime_settings(opts, &engine, &runtime);
	return draft_model_open(opts->draft_model, &engine, rt, out, err, err_size);
}

void options_speculation(const struct options *opts, struct draft_model *draft, struct speculation *out)
{
	*out = (struct speculation){
		.propose = draft ? draft_model_propose : opts->lookup ? prompt_lookup_proposer : NULL,
		.user_data = draft,
		.draft_tokens = opts->draft_tokens,
	};
}

void options_runtime_settings(const struct options *opts, struct engine_options *engine,
			      struct model_runtime_settings *runtime)
{
	*engine = (struct engine_options){
		.backend = opts->force_cpu ? ENGINE_BACKEND_CPU : ENGINE_BACKEND_AUTO,
		.context_length = opts->context_length,
		.threads = opts->threads,
		.ranks = opts->ranks,
		.comm = opts->comm,
		.kv_cache = opts->kv_cache,
		.test_hooks = opts->engine_test_hooks,
	};
	*runtime = (struct model_runtime_settings){
		.model = opts->model,
		.tokenizer_file = opts->tokenizer_file,
		.need_bos = opts->raw || opts->mode == MODE_PERPLEXITY,
		.engine = engine,
	};
}

int options_open_runtime(const struct options *opts, struct model_runtime *rt, char *err, size_t err_size)
{
	struct engine_options engine_settings;
	struct model_runtime_settings runtime_settings;
	options_runtime_settings(opts, &engine_settings, &runtime_settings);
	return model_runtime_open(&runtime_settings, rt, err, err_size);
}

/* $NAME as an integer from 0 to max, 0 when unset or empty; *set (when not NULL)
 * says whether it was set. */
static int environment_integer(const char *name, long max, long *out, bool *set, char *err, size_t err_size)
{
	const char *text = getenv(name);
	*out = 0;
	if (set)
		*set = text && text[0];
	if (!text || !text[0])
		return 0;
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || *end != '\0' || value < 0 || value > max) {
		snprintf(err, err_size, "$%s: expected an integer from 0 to %ld, got '%s'", name, max, text);
		return -1;
	}
	*out = value;
	return 0;
}

/* $LLMCHAT_TEST_FAIL_RANK: R (rank R fails its creation) or R:forward (its first
 * forward), R from 0 to TP_MAX_RANKS - 1; no failure when unset or empty. */
static int environment_fail_rank(struct engine_test_hooks *hooks, char *err, size_t err_size)
{
	const char *name = "LLMCHAT_TEST_FAIL_RANK", *text = getenv(name);
	hooks->fail = ENGINE_TEST_NO_FAILURE;
	if (!text || !text[0])
		return 0;
	char *end;
	errno = 0;
	long rank = strtol(text, &end, 10);
	bool in_forward = strcmp(end, ":forward") == 0;
	if (errno || end == text || !isdigit((unsigned char)text[0]) || rank >= TP_MAX_RANKS ||
	    (*end != '\0' && !in_forward)) {
		snprintf(err, err_size, "$%s: expected a rank from 0 to %d, or RANK:forward, got '%s'", name,
			 TP_MAX_RANKS - 1, text);
		return -1;
	}
	hooks->fail = in_forward ? ENGINE_TEST_FAIL_FORWARD : ENGINE_TEST_FAIL_CREATE;
	hooks->fail_rank = (int)rank;
	return 0;
}

/* A switch in the environment, on by default: $name 0 sets *off; 1, unset or empty
 * leaves it false; anything else is an error naming the variable. */
static int environment_switch(const char *name, bool *off, char *err, size_t err_size)
{
	const char *text = getenv(name);
	*off = text && strcmp(text, "0") == 0;
	if (!text || !text[0] || strcmp(text, "0") == 0 || strcmp(text, "1") == 0)
		return 0;
	snprintf(err, err_size, "$%s: expected 0 or 1, got '%s'", name, text);
	return -1;
}

/* A switch in the environment, off by default: $name 1 sets *on; 0, unset or empty
 * leaves it false; anything else is an error naming the variable. */
static int environment_opt_in(const char *name, bool *on, char *err, size_t err_size)
{
	bool off;
	if (environment_switch(name, &off, err, err_size) != 0)
		return -1;
	const char *text = getenv(name);
	*on = text && strcmp(text, "1") == 0;
	return 0;
}

/* $LLMCHAT_GEMV_PRODUCTS: unset, empty or a name engine_gemv_products_from_name reads;
 * anything else is an error naming the variable. */
static int environment_gemv_products(enum engine_gemv_products *out, char *err, size_t err_size)
{
	const char *name = "LLMCHAT_GEMV_PRODUCTS", *text = getenv(name);
	*out = ENGINE_PRODUCTS_DEFAULT;
	if (!text || !text[0] || engine_gemv_products_from_name(text, out) == 0)
		return 0;
	snprintf(err, err_size, "$%s: expected %s, got '%s'", name, ENGINE_GEMV_PRODUCTS_NAMES, text);
	return -1;
}

/* $LLMCHAT_BENCH_PROFILE: unset, empty, decode, verify or prefill; anything else is an
 * error naming the variable. */
static int environment_bench_profile(enum bench_profile *out, char *err, size_t err_size)
{
	static const char *const names[] = {"decode", "verify", "prefill"};
	const char *name = "LLMCHAT_BENCH_PROFILE", *text = getenv(name);
	*out = BENCH_PROFILE_DECODE;
	if (!text || !text[0])
		return 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(text, names[i]) == 0) {
			*out = (enum bench_profile)i;
			return 0;
		}
	snprintf(err, err_size, "$%s: expected decode, verify or prefill, got '%s'", name, text);
	return -1;
}

int options_read_environment(struct options *opts, char *err, size_t err_size)
{
	if (environment_integer("LLMCHAT_STREAM_DELAY_MS", 10000, &opts->stream_delay_ms, NULL, err, err_size) != 0)
		return -1;
	if (environment_fail_rank(&opts->engine_test_hooks, err, err_size) != 0)
		return -1;
	/* LLMCHAT_GPU_SAMPLING=0: sampled tokens are drawn on the host, over copied logits;
	 * LLMCHAT_CUDA_GRAPH=0: CUDA decodes without a graph */
	if (environment_switch("LLMCHAT_GPU_SAMPLING", &opts->engine_test_hooks.host_sampling, err, err_size) != 0)
		return -1;
	/* LLMCHAT_DECODE_SEGMENTS=1: the decode graph with the persistent layer segments */
	if (environment_opt_in("LLMCHAT_DECODE_SEGMENTS", &opts->engine_test_hooks.decode_segments, err, err_size) != 0)
		return -1;
	/* LLMCHAT_LAST_BLOCK=1: the decode step's norms and dynamic quantizations in the last
	 * block of the launch before, not in launches of their own */
	if (environment_opt_in("LLMCHAT_LAST_BLOCK", &opts->engine_test_hooks.last_block_work, err, err_size) != 0)
		return -1;
	/* LLMCHAT_BENCH_PROFILE: bench/profile_decode.sh's window */
	if (environment_bench_profile(&opts->bench_profile, err, err_size) != 0)
		return -1;
	/* LLMCHAT_GEMV_PRODUCTS: where the 8-bit GEMVs add (the CUDA cores or the tensor cores) */
	if (environment_gemv_products(&opts->engine_test_hooks.gemv_products, err, err_size) != 0)
		return -1;
	return environment_switch("LLMCHAT_CUDA_GRAPH", &opts->engine_test_hooks.eager_decode, err, err_size);
}
