/*
 * test_model_json.c - every JSON file of a model folder as real folders write them:
 * generation_config.json all of it, numbers past 64 bits wherever JSON allows them,
 * values that would make NaN refused by name, and files that exist but cannot be read
 * (a directory, a FIFO, broken JSON) reported with the file and the reason, at once.
 *
 * config.json and tokenizer_config.json fixtures follow Meta's files; the shard index
 * and tokenizer.json cases start from the shapes safetensors and tokenizers write.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bpe.h"
#include "chat_session.h"
#include "model.h"
#include "options.h"
#include "safetensors.h"
#include "scratch.h"
#include "tap.h"

static char dir[4096];
static int case_number;

/* Llama 3.1 8B Instruct's config.json as Meta ships it; EXTRA members (a JSON text
 * fragment ending in a comma, or "") come first and win over nothing: keys are not
 * repeated, so tests that change a base key write the whole file (config_text). */
static const char CONFIG_HEAD[] = "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n"
	"  \"attention_bias\": false,\n  \"attention_dropout\": 0.0,\n  \"bos_token_id\": 128000,\n"
	"  \"eos_token_id\": [128001, 128008, 128009],\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": 4096,\n"
	"  \"initializer_range\": 0.02,\n  \"intermediate_size\": 14336,\n  \"max_position_embeddings\": 131072,\n"
	"  \"mlp_bias\": false,\n  \"model_type\": \"llama\",\n  \"num_attention_heads\": 32,\n"
	"  \"num_hidden_layers\": 32,\n  \"num_key_value_heads\": 8,\n  \"pretraining_tp\": 1,\n";
static const char CONFIG_TAIL[] = "  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"bfloat16\",\n"
	"  \"transformers_version\": \"4.43.0.dev0\",\n  \"use_cache\": true,\n  \"vocab_size\": 128256\n}\n";
static const char LLAMA31_ROPE[] = "  \"rms_norm_eps\": 1e-05,\n  \"rope_scaling\": {\n    \"factor\": 8.0,\n"
	"    \"low_freq_factor\": 1.0,\n    \"high_freq_factor\": 4.0,\n    \"original_max_position_embeddings\": 8192,\n"
	"    \"rope_type\": \"llama3\"\n  },\n  \"rope_theta\": 500000.0,\n";

/* A fresh folder DIR/caseN holding config.json (HEAD + MIDDLE + TAIL) and, when not
 * NULL, generation_config.json; its path goes into folder. */
static void make_folder(char *folder, size_t size, const char *middle, const char *generation)
{
	snprintf(folder, size, "%s/case%d", dir, ++case_number);
	char text[8192];
	snprintf(text, sizeof text, "%s%s%s", CONFIG_HEAD, middle, CONFIG_TAIL);
	scratch_write(folder, "config.json", text, strlen(text));
	if (generation)
		scratch_write(folder, "generation_config.json", generation, strlen(generation));
}

static int load(const char *middle, const char *generation, struct model_config *c, char *err, size_t err_size)
{
	char folder[4200];
	make_folder(folder, sizeof folder, middle, generation);
	err[0] = '\0';
	return model_config_load(folder, c, err, err_size);
}

/* The folder is refused with a one-line message holding WANT. */
static void refused(const char *rule, const char *middle, const char *generation, const char *want)
{
	struct model_config c;
	char err[512];
	int rc = load(middle, generation, &c, err, sizeof err);
	if (!tap_ok(rc == -1 && strstr(err, want) && !strchr(err, '\n'), "refuses %s", rule))
		tap_diag("rc %d, message: %s (want \"%s\")", rc, err, want);
}

/* ---- generation_config.json ---------------------------------------------------- */

static void test_generation_defaults(void)
{
	struct model_config c;
	char err[512];
	/* many fine-tunes: greedy by default, yet temperature and top_p still written */
	int rc = load(LLAMA31_ROPE, "{\n  \"bos_token_id\": 128000,\n  \"do_sample\": false,\n  \"eos_token_id\": [\n"
		      "    128001,\n    128009\n  ],\n  \"temperature\": 0.6,\n  \"top_p\": 0.9,\n"
		      "  \"transformers_version\": \"4.44.2\"\n}\n", &c, err, sizeof err);
	tap_ok(rc == 0 && c.default_temperature == 0 && fabsf(c.default_top_p - 0.9f) < 1e-6f,
	       "do_sample false: the default temperature is 0 (greedy) whatever temperature says");
	if (rc)
		tap_diag("%s", err);
	rc = load(LLAMA31_ROPE, "{\"do_sample\": true, \"temperature\": 0.7, \"top_k\": 20, \"top_p\": 0.8, \"min_p\": 0.05,"
		  " \"repetition_penalty\": 1.05, \"max_new_tokens\": 512}", &c, err, sizeof err);
	tap_ok(rc == 0 && fabsf(c.default_temperature - 0.7f) < 1e-6f && c.default_top_k == 20 &&
	       fabsf(c.default_min_p - 0.05f) < 1e-6f && fabsf(c.default_repetition_penalty - 1.05f) < 1e-6f &&
	       c.default_max_new_tokens == 512 && c.default_max_length == 0,
	       "top_k, min_p, repetition_penalty and max_new_tokens are read");
	rc = load(LLAMA31_ROPE, "{\"do_sample\": true, \"max_length\": 4096, \"temperature\": 0.6, \"top_p\": 0.9}", &c,
		  err, sizeof err);
	tap_ok(rc == 0 && c.default_max_length == 4096 && c.default_max_new_tokens == 0, "max_length is read");
	rc = load(LLAMA31_ROPE, "{\"max_length\": 4096, \"max_new_tokens\": 256}", &c, err, sizeof err);
	tap_ok(rc == 0 && c.default_max_length == 0 && c.default_max_new_tokens == 256,
	       "max_new_tokens replaces max_length, as in transformers");
	rc = load(LLAMA31_ROPE, "{\"do_sample\": null, \"top_k\": null, \"max_length\": null}", &c, err, sizeof err);
	tap_ok(rc == 0 && isnan(c.default_temperature) && c.default_top_k == -1 && c.default_max_length == 0,
	       "null values are absent ones");
}

/* What an answer uses: options (flags, config file, preset) over generation_config. */
static void test_generation_precedence(void)
{
	struct model_config c;
	struct generation_settings g;
	char err[512];
	struct sampling_overrides none = {NAN, NAN, NAN, NAN, -1, -1, true, 7};
	load(LLAMA31_ROPE, "{\"do_sample\": false, \"temperature\": 0.6, \"repetition_penalty\": 1.3, \"min_p\": 0.1,"
	     " \"max_new_tokens\": 64}", &c, err, sizeof err);
	generation_settings_resolve(&none, &c, &g);
	tap_ok(g.sampling.temperature == 0 && fabsf(g.sampling.repeat_penalty - 1.3f) < 1e-6f &&
	       fabsf(g.sampling.min_p - 0.1f) < 1e-6f && g.max_tokens == 64 && g.max_length == 0,
	       "settings: greedy, penalty, min_p and answer length from generation_config.json");
	struct sampling_overrides given = {0.8f, NAN, 0.0f, 1.0f, -1, 100, true, 7};
	generation_settings_resolve(&given, &c, &g);
	tap_ok(fabsf(g.sampling.temperature - 0.8f) < 1e-6f && g.sampling.repeat_penalty == 1 &&
	       g.sampling.min_p == 0 && g.max_tokens == 100, "settings: options override every default");
	load(LLAMA31_ROPE, "{\"max_length\": 300}", &c, err, sizeof err);
	generation_settings_resolve(&none, &c, &g);
	tap_ok(g.max_length == 300 && g.max_tokens == 4096 && fabsf(g.sampling.temperature - 0.6f) < 1e-6f &&
	       g.sampling.repeat_penalty == 1, "settings: max_length applies without an answer length");
	generation_settings_resolve(&given, &c, &g);
	tap_ok(g.max_length == 0 && g.max_tokens == 100, "settings: an answer length from the options drops max_length");
}

static void test_generation_refusals(void)
{
	refused("top_p above 1, naming the file", LLAMA31_ROPE, "{\"top_p\": 1.5}",
		"generation_config.json: top_p 1.5 is not in (0, 1]");
	refused("top_p 0", LLAMA31_ROPE, "{\"top_p\": 0}", "generation_config.json: top_p 0 is not in (0, 1]");
	refused("a top_p that is 0 in float32", LLAMA31_ROPE, "{\"top_p\": 1e-300}", "top_p 1e-300 is not in (0, 1]");
	refused("a negative temperature", LLAMA31_ROPE, "{\"temperature\": -1}",
		"generation_config.json: temperature -1 is not in [0, 100]");
	refused("a temperature that overflows logits", LLAMA31_ROPE, "{\"temperature\": 1e-40}",
		"temperature 1e-40 is neither 0 (greedy) nor at least");
	refused("repetition_penalty 0", LLAMA31_ROPE, "{\"repetition_penalty\": 0}",
		"generation_config.json: repetition_penalty 0 is not in [0.01, 100]");
	refused("max_new_tokens 0", LLAMA31_ROPE, "{\"max_new_tokens\": 0}", "max_new_tokens 0 is not an integer in [1,");
	refused("a fractional top_k", LLAMA31_ROPE, "{\"top_k\": 2.5}", "top_k 2.5 is not an integer");
	refused("a max_length past 64 bits", LLAMA31_ROPE, "{\"max_length\": 1000000000000000019884624838656}",
		"max_length 1e+30 is not an integer");
	refused("do_sample as a string", LLAMA31_ROPE, "{\"do_sample\": \"false\"}",
		"do_sample \"false\" is not true or false");
	refused("a string top_p", LLAMA31_ROPE, "{\"top_p\": \"0.9\"}", "top_p \"0.9\" is not in (0, 1]");
}

/* ---- files that are there but cannot be read ------------------------------------ */

static void expect_load_error(const char *folder, const char *rule, const char *want, const char *want2)
{
	struct model_config c;
	char err[512] = "";
	int rc = model_config_load(folder, &c, err, sizeof err);
	if (!tap_ok(rc == -1 && strstr(err, want) && strstr(err, want2), "%s", rule))
		tap_diag("rc %d, message: %s (want \"%s\" and \"%s\")", rc, err, want, want2);
}

/* model_config_load as scratch_run_unprivileged calls it */
static int load_config(void *folder, char *err, size_t err_size)
{
	struct model_config c;
	return model_config_load(folder, &c, err, err_size);
}

static void test_unreadable_files(void)
{
	char folder[4200], path[4300];
	make_folder(folder, sizeof folder, LLAMA31_ROPE, NULL);
	snprintf(path, sizeof path, "%s/generation_config.json", folder);
	mkdir(path, 0700);
	expect_load_error(folder, "a directory named generation_config.json is an error, not ignored",
			  "generation_config.json", "is a directory");
	rmdir(path);
	if (mkfifo(path, 0600) == 0) {
		expect_load_error(folder, "a FIFO named generation_config.json is refused at once",
				  "generation_config.json", "is a FIFO");
		unlink(path);
	}
	scratch_write(folder, "generation_config.json", "{\n  \"eos_token_id\": [128001,\n", 29);
	expect_load_error(folder, "broken generation_config.json: the file, the line and the reason",
			  "generation_config.json: line 3", "invalid JSON");
	scratch_write(folder, "generation_config.json", "{}", 2);
	char err[512] = "";
	int rc = chmod(path, 0) == 0 ? scratch_run_unprivileged(load_config, folder, err, sizeof err) : 0;
	if (rc == -2)
		tap_skip("an unreadable generation_config.json: %s", err);
	else if (!tap_ok(rc == -1 && strstr(err, "generation_config.json: Permission denied"),
			 "an unreadable generation_config.json says permission (as a user permissions apply to)"))
		tap_diag("rc %d, message: %s", rc, err);
	unlink(path);
	snprintf(path, sizeof path, "%s/config.json", folder);
	unlink(path);
	expect_load_error(folder, "a folder without config.json names it", "config.json: No such file or directory",
			  "is this a Hugging Face model folder?");
	if (mkfifo(path, 0600) == 0) {
		expect_load_error(folder, "a FIFO named config.json is refused at once", "config.json", "is a FIFO");
		unlink(path);
	}
}

/* ---- numbers: past 64 bits accepted, NaN-makers refused --------------------------- */

static void test_numbers(void)
{
	struct model_config c;
	char err[512];
	/* a key llmchat does not read may hold any number; integers may be written 4096.0 */
	int rc = load("  \"model_max_length\": 1000000000000000019884624838656,\n" "  \"rms_norm_eps\": 1e-05,\n"
		      "  \"rope_theta\": 500000,\n", "{\"bos_token_id\": 128000.0, \"eos_token_id\": 128009}",
		      &c, err, sizeof err);
	tap_ok(rc == 0 && c.bos_token_id == 128000 && c.eos_token_ids[0] == 128009 && c.rope_theta == 500000.0,
	       "an integer past 64 bits in config.json loads; integral reals are integers");
	if (rc)
		tap_diag("%s", err);
	refused("an eos id past 64 bits, by name", LLAMA31_ROPE, "{\"eos_token_id\": [128001, 18446744073709551617]}",
		"eos_token_id 1.8446744073709552e+19 is not a token id");
	refused("rope_theta 1e-300 (frequencies would be infinite)", "  \"rope_theta\": 1e-300,\n", NULL,
		"rope_theta (1e-300) is not a number in [1, 1e+12]");
	refused("rope_parameters' rope_theta below 1", "  \"rope_parameters\": {\"rope_type\": \"default\", "
		"\"rope_theta\": 0.5},\n", NULL, "rope_theta (0.5) is not a number in [1,");
	refused("low_freq_factor 1e-300", "  \"rope_scaling\": {\"factor\": 8.0, \"low_freq_factor\": 1e-300, "
		"\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},\n",
		NULL, "low_freq_factor (1e-300) is not a number in [1e-06, 1e+06]");
	refused("factor 1e-300", "  \"rope_scaling\": {\"factor\": 1e-300, \"low_freq_factor\": 1.0, "
		"\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},\n",
		NULL, "factor (1e-300) is not a number");
	refused("high and low freq factors equal in float32", "  \"rope_scaling\": {\"factor\": 8.0, "
		"\"low_freq_factor\": 1.0, \"high_freq_factor\": 1.00000001, \"original_max_position_embeddings\": 8192,"
		" \"rope_type\": \"llama3\"},\n", NULL, "is not above low_freq_factor (1) in float32");
	refused("rms_norm_eps 1e-300 (0 in float32)", "  \"rms_norm_eps\": 1e-300,\n", NULL,
		"rms_norm_eps (1e-300) is not a number in [1e-12, 1]");
}

/* The shard index: metadata may hold any number (total_size past 64 bits here). */
static void test_shard_index(void)
{
	char folder[4200];
	snprintf(folder, sizeof folder, "%s/index", dir);
	static const char header[] = "{\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
	unsigned char bytes[8 + sizeof header - 1 + 4] = {0};
	bytes[0] = (unsigned char)(sizeof header - 1);
	memcpy(bytes + 8, header, sizeof header - 1);
	scratch_write(folder, "model-00001-of-00001.safetensors", bytes, sizeof bytes);
	static const char index[] = "{\n  \"metadata\": {\n    \"total_size\": 1000000000000000019884624838656\n  },\n"
		"  \"weight_map\": {\n    \"model.norm.weight\": \"model-00001-of-00001.safetensors\"\n  }\n}\n";
	scratch_write(folder, "model.safetensors.index.json", index, sizeof index - 1);
	struct safetensors_set *set = NULL;
	char err[512] = "";
	int rc = safetensors_open_dir(folder, &set, err, sizeof err);
	if (!tap_ok(rc == 0 && safetensors_find(set, "model.norm.weight"), "a shard index with a total_size past 64 bits opens"))
		tap_diag("%s", err);
	safetensors_close(set);
	set = NULL;
	char path[4300];
	snprintf(path, sizeof path, "%s/model.safetensors.index.json", folder);
	unlink(path);
	if (mkfifo(path, 0600) == 0) {
		rc = safetensors_open_dir(folder, &set, err, sizeof err);
		tap_ok(rc == -1 && strstr(err, "model.safetensors.index.json: is a FIFO"),
		       "a FIFO named model.safetensors.index.json is refused at once");
		safetensors_close(set);
	}
}

/* ---- tokenizer.json ----------------------------------------------------------------- */

/* tests/data/chat_tokenizer/tokenizer.json with FROM replaced by TO, at DIR/tok/tokenizer.json. */
static const char *tokenizer_with(const char *from, const char *to)
{
	static char path[4300];
	char source[4200], *text, *at;
	snprintf(source, sizeof source, "%s/tests/data/chat_tokenizer/tokenizer.json", LLMCHAT_SRCDIR);
	FILE *f = fopen(source, "rb");
	if (!f) {
		printf("Bail out! cannot read %s\n", source);
		exit(1);
	}
	static char buffer[1 << 16];
	size_t n = fread(buffer, 1, sizeof buffer - 1, f);
	fclose(f);
	buffer[n] = '\0';
	if (!(at = strstr(buffer, from))) {
		printf("Bail out! %s lacks '%s'\n", source, from);
		exit(1);
	}
	text = malloc(n + strlen(to) + 1);
	size_t head = (size_t)(at - buffer);
	memcpy(text, buffer, head);
	strcpy(text + head, to);
	strcat(text, at + strlen(from));
	snprintf(path, sizeof path, "%s/tok", dir);
	scratch_write(path, "tokenizer.json", text, strlen(text));
	free(text);
	snprintf(path, sizeof path, "%s/tok/tokenizer.json", dir);
	return path;
}

static void test_tokenizer_json(void)
{
	struct bpe *bpe = NULL;
	char err[512] = "";
	const char *path = tokenizer_with("\"id\": 346,", "\"id\": 18446744073709551617,");
	int rc = bpe_load_hf_json(path, &bpe, err, sizeof err);
	if (!tap_ok(rc == -1 && strstr(err, "added_tokens[1] \"<|end_of_text|>\": id 1.8446744073709552e+19 is not an "
				       "integer in [0, 4194304)"),
		    "an added token id past 64 bits is refused by the token's name"))
		tap_diag("rc %d: %s", rc, err);
	bpe_free(bpe);
	bpe = NULL;
	path = tokenizer_with("\"pre_tokenizer\": {", "\"pre_tokenizer\": {\"x_limit\": 1000000000000000019884624838656, ");
	rc = bpe_load_hf_json(path, &bpe, err, sizeof err);
	if (!tap_ok(rc == 0 && bpe_special_id(bpe, "<|eot_id|>") >= 0, "a big integer inside pre_tokenizer loads"))
		tap_diag("rc %d: %s", rc, err);
	bpe_free(bpe);
	bpe = NULL;
	unlink(path);
	if (mkfifo(path, 0600) == 0) {
		rc = bpe_load_file(path, &bpe, err, sizeof err);
		tap_ok(rc == -1 && strstr(err, "tokenizer.json: is a FIFO"), "a FIFO given as the tokenizer is refused at once");
		bpe_free(bpe);
	}
}

int main(void)
{
	/* a FIFO that blocked the open would hang: fail instead */
	alarm(60);
	if (scratch_create(dir, sizeof dir) != 0) {
		printf("Bail out! cannot make a scratch folder\n");
		return 1;
	}
	test_generation_defaults();
	test_generation_precedence();
	test_generation_refusals();
	test_unreadable_files();
	test_numbers();
	test_shard_index();
	test_tokenizer_json();
	scratch_remove(dir);
	return tap_done();
}
