/*
 * test_chat_template.c - template detection, the date line, Python's trim rule, edge cases.
 *
 * The byte-exact comparison with a Jinja engine over the whole corpus is
 * tests/chat/chat_template_conformance.sh; this file checks what that corpus cannot:
 * where JavaScript's trim and Python's differ, the model-folder fixtures for
 * detection, the clock, and the errors.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chat_template.h"
#include "scratch.h"
#include "tap.h"

#define HEADER(role) "<|start_header_id|>" role "<|end_header_id|>\n\n"
#define SYSTEM_31(date) "<|begin_of_text|>" HEADER("system") \
	"Cutting Knowledge Date: December 2023\nToday Date: " date "\n\n"

/* ---- helpers ---------------------------------------------------------------- */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = malloc((size_t)size + 1);
	size_t n = fread(text, 1, (size_t)size, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static char *template_source(const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/data/chat_templates/%s.jinja", LLMCHAT_SRCDIR, name);
	char *text = read_file(path);
	if (!text) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	return text;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	fputs(text, f);
	fclose(f);
}

/* Writes DIR/tokenizer_config.json holding chat_template (stolen reference). */
static void write_config(const char *dir, json_t *chat_template)
{
	char path[1024];
	json_t *config = json_pack("{s:s, s:o}", "bos_token", "<|begin_of_text|>", "chat_template",
				   chat_template);
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	json_dump_file(config, path, JSON_INDENT(2));
	json_decref(config);
}

static void remove_files(const char *dir)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
	unlink(path);
}

/* Renders and compares; name says the rule. */
static void expect_render(enum chat_template_kind kind, const struct chat_message *messages, size_t count,
			  bool generation_prompt, const char *today, const char *want, const char *name)
{
	char *got = NULL, err[256] = "";
	int rc = chat_template_render(kind, messages, count, generation_prompt, today, &got, err, sizeof err);
	if (!tap_ok(rc == 0 && strcmp(got, want) == 0, "%s", name)) {
		tap_diag("rc %d err '%s'", rc, err);
		if (got)
			tap_diag("got:  '%s'", got);
		tap_diag("want: '%s'", want);
	}
	free(got);
}

/* ---- detection ---------------------------------------------------------------- */

/* Detects DIR's template and checks the form, how it matched and (for anything but
 * an exact match) that the notice holds KEYWORD; name says the rule. */
static void expect_detect(const char *dir, enum chat_template_kind kind, enum chat_template_match match,
			  const char *keyword, const char *name)
{
	struct chat_template_detection got;
	char err[512] = "";
	int rc = chat_template_detect(dir, &got, err, sizeof err);
	bool notice_ok = match == CHAT_TEMPLATE_EXACT ? got.notice[0] == '\0'
						      : strstr(got.notice, keyword) && !strchr(got.notice, '\n');
	if (!tap_ok(rc == 0 && got.kind == kind && got.match == match && notice_ok, "detect: %s", name))
		tap_diag("rc %d err '%s' kind %d match %d notice '%s'", rc, err, (int)got.kind, (int)got.match,
			 got.notice);
}

/* Detection fails with a message holding each of the keywords (NULL ends them). */
/* chat_template_detect as scratch_run_unprivileged calls it */
static int detect_template(void *dir, char *err, size_t err_size)
{
	struct chat_template_detection got;
	return chat_template_detect(dir, &got, err, err_size);
}

static void expect_detect_error(const char *dir, const char *name, const char *keyword, const char *keyword2)
{
	struct chat_template_detection got;
	char err[512] = "";
	int rc = chat_template_detect(dir, &got, err, sizeof err);
	if (!tap_ok(rc == -1 && strstr(err, keyword) && (!keyword2 || strstr(err, keyword2)), "detect: %s", name))
		tap_diag("rc %d err '%s' (want '%s' and '%s')", rc, err, keyword, keyword2 ? keyword2 : "");
}

/* Writes DIR/tokenizer_config.json as Meta ships it for Meta-Llama-3-8B-Instruct: the
 * 256 added_tokens_decoder entries (Llama 3.0's names), the template as a JSON
 * string, and transformers' "no limit" model_max_length, int(1e30), an integer
 * past 64 bits. */
static void write_meta_llama3_config(const char *dir, const char *chat_template)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	FILE *f = fopen(path, "wb");
	fputs("{\n  \"added_tokens_decoder\": {\n", f);
	for (int k = 0; k < 256; k++) {
		static const char *const named[] = {"<|begin_of_text|>", "<|end_of_text|>", NULL, NULL, NULL, NULL,
						    "<|start_header_id|>", "<|end_header_id|>", NULL, "<|eot_id|>"};
		char name[64];
		int reserved = k < 6 ? k - 2 : k == 8 ? 4 : k - 5;
		if (k < 10 && named[k])
			snprintf(name, sizeof name, "%s", named[k]);
		else
			snprintf(name, sizeof name, "<|reserved_special_token_%d|>", reserved);
		fprintf(f, "    \"%d\": {\n      \"content\": \"%s\",\n      \"lstrip\": false,\n"
			"      \"normalized\": false,\n      \"rstrip\": false,\n      \"single_word\": false,\n"
			"      \"special\": true\n    }%s\n", 128000 + k, name, k < 255 ? "," : "");
	}
	json_t *string = json_string(chat_template);
	char *source = json_dumps(string, JSON_ENCODE_ANY);
	json_decref(string);
	fprintf(f, "  },\n  \"bos_token\": \"<|begin_of_text|>\",\n  \"chat_template\": %s,\n"
		"  \"clean_up_tokenization_spaces\": true,\n  \"eos_token\": \"<|eot_id|>\",\n"
		"  \"model_input_names\": [\n    \"input_ids\",\n    \"attention_mask\"\n  ],\n"
		"  \"model_max_length\": 1000000000000000019884624838656,\n"
		"  \"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n", source);
	free(source);
	fclose(f);
}

/* SOURCE with the first FROM replaced by TO (malloc'd); bails out when FROM is absent. */
static char *edited(const char *source, const char *from, const char *to)
{
	const char *at = strstr(source, from);
	if (!at) {
		printf("Bail out! the template lacks '%.40s'\n", from);
		exit(1);
	}
	size_t head = (size_t)(at - source), from_len = strlen(from), to_len = strlen(to);
	char *out = malloc(strlen(source) - from_len + to_len + 1);
	memcpy(out, source, head);
	memcpy(out + head, to, to_len);
	strcpy(out + head + to_len, at + from_len);
	return out;
}

/* The templates Meta shipped before the current ones: each must be recognised as
 * its form, byte for byte. */
static void test_detect_older_copies(const char *dir, const char *llama3, const char *llama31)
{
	/* April 2024: the generation prompt without {% if add_generation_prompt %} */
	char *first3 = edited(llama3, "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
			      "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}");
	write_config(dir, json_string(first3));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_EXACT, "", "the first Llama 3 template (348 bytes)");
	/* Llama 3.1 as first shipped: tool results end in <|eot_id|> alone ... */
	char *plain_eot = edited(llama31,
				 "        {%- if builtin_tools is defined %}\n            {{- \"<|eom_id|>\" }}\n"
				 "        {%- else %}\n            {{- \"<|eot_id|>\" }}\n        {%- endif %}\n"
				 "    {%- endif %}\n{%- endfor %}",
				 "        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n{%- endfor %}");
	write_config(dir, json_string(plain_eot));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_EXACT, "", "an earlier Llama 3.1 template (4614 bytes)");
	/* ... and the first of them without the `tools = none` default */
	char *first31 = edited(plain_eot, "{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n", "");
	write_config(dir, json_string(first31));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_EXACT, "", "the first Llama 3.1 template (4542 bytes)");
	free(first3);
	free(plain_eot);
	free(first31);
}

/* Templates that are not byte for byte Meta's: the closest form, said once. */
static void test_detect_not_meta(const char *dir, const char *llama3, const char *llama32)
{
	static const char chatml[] =
		"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
		"'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
	write_config(dir, json_string(chatml));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_FOREIGN, "tokenizer_config.json: chat_template is not a Llama 3 template (ChatML?); rendering the Llama 3.1 form",
		      "ChatML: not Llama 3, rendered as 3.1, said with the file");
	write_config(dir, json_string("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}"));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_FOREIGN, "[INST]", "a Llama 2 template: not Llama 3");
	write_config(dir, json_string("{{ bos_token }}{{ date_string }}{% for m in messages %}{% endfor %}"));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_FOREIGN, "not a Llama 3 template",
		      "no header tokens: not Llama 3, whatever else it mentions");

	/* a fine-tuner's edit of 3.0 (a default system prompt), and of 3.2 */
	char *edit3 = edited(llama3, "{% set loop_messages = messages %}",
			     "{% set loop_messages = messages %}{# my fine-tune #}");
	write_config(dir, json_string(edit3));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_EDITED, "edited (not one Meta shipped): rendering the closest form, Llama 3's",
		      "an edited Llama 3 template: the Llama 3 form, said");
	char *edit32 = edited(llama32, "Cutting Knowledge Date: December 2023", "Cutting Knowledge Date: June 2024");
	write_config(dir, json_string(edit32));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA32, CHAT_TEMPLATE_EDITED, "Llama 3.2's", "an edited Llama 3.2 template: the 3.2 form");
	size_t n = strlen(llama3);
	char *spaced = malloc(n + 2);
	memcpy(spaced, llama3, n);
	strcpy(spaced + n, "\n");
	write_config(dir, json_string(spaced));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_EDITED, "edited", "one byte more is an edit, said");
	free(spaced);
	free(edit3);
	free(edit32);
}

static void test_detect_files(const char *dir, const char *llama3, const char *llama31, const char *llama32)
{
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_ABSENT, "no chat template (no chat_template.jinja, no tokenizer_config.json); rendering the Llama 3.1 form",
		      "no tokenizer_config.json: the 3.1 form, said");
	expect_detect("/nonexistent/llmchat", CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_ABSENT, "no chat template",
		      "a missing folder: the 3.1 form, said");
	write_text(dir, "tokenizer_config.json", "{\"bos_token\": \"<|begin_of_text|>\", \"model_max_length\": "
		   "1000000000000000019884624838656}");
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_ABSENT, "tokenizer_config.json has no chat_template",
		      "a base model's tokenizer_config.json: no template, said");

	write_meta_llama3_config(dir, llama3);
	expect_detect(dir, CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_EXACT, "",
		      "Meta-Llama-3-8B-Instruct's tokenizer_config.json (model_max_length 1e30) is the Llama 3 form");
	write_config(dir, json_string(llama31));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_EXACT, "", "Llama 3.1 template string");
	write_config(dir, json_string(llama32));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA32, CHAT_TEMPLATE_EXACT, "", "Llama 3.2 template string");

	write_config(dir, json_pack("[{s:s, s:s}, {s:s, s:s}]", "name", "tool_use", "template", llama32,
				    "name", "default", "template", llama3));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_EXACT, "",
		      "a list of templates uses the one named default, not the first");
	write_config(dir, json_pack("[{s:s, s:s}]", "name", "tool_use", "template", llama3));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_ABSENT, "lists no chat_template named default",
		      "a list without default: the 3.1 form, said");
	write_config(dir, json_integer(3));
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_ABSENT, "neither a string nor a list",
		      "a non-string chat_template: the 3.1 form, said");

	write_text(dir, "tokenizer_config.json", "{\n  \"chat_template\": \"<|start_header_id|><|eot_id|>");
	expect_detect_error(dir, "broken JSON is an error naming the file and the line, not a fallback",
			    "tokenizer_config.json: line 2", "invalid JSON");
	write_text(dir, "tokenizer_config.json", "[]");
	expect_detect_error(dir, "a tokenizer_config.json that is not an object is an error", "tokenizer_config.json",
			    "not a JSON object");

	write_config(dir, json_string(llama3));
	write_text(dir, "chat_template.jinja", llama32);
	expect_detect(dir, CHAT_TEMPLATE_LLAMA32, CHAT_TEMPLATE_EXACT, "",
		      "chat_template.jinja beside tokenizer_config.json wins");
	remove_files(dir);
	write_text(dir, "chat_template.jinja", "{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}");
	expect_detect(dir, CHAT_TEMPLATE_LLAMA31, CHAT_TEMPLATE_FOREIGN, "chat_template.jinja is not a Llama 3 template (ChatML?)",
		      "a ChatML chat_template.jinja: the notice names that file");
	remove_files(dir);
	write_text(dir, "chat_template.jinja", llama3);
	expect_detect(dir, CHAT_TEMPLATE_LLAMA3, CHAT_TEMPLATE_EXACT, "", "chat_template.jinja alone is enough");
	remove_files(dir);

	/* a FIFO or a directory where a file should be: an error at once, not a hang */
	char path[1024];
	snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
	if (mkfifo(path, 0600) == 0) {
		expect_detect_error(dir, "a FIFO named chat_template.jinja is refused at once", "chat_template.jinja",
				    "FIFO");
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	mkdir(path, 0700);
	expect_detect_error(dir, "a directory named tokenizer_config.json is an error", "tokenizer_config.json",
			    "directory");
	rmdir(path);
	write_config(dir, json_string(llama3));
	char err[512] = "";
	int rc = chmod(path, 0) == 0 ? scratch_run_unprivileged(detect_template, (void *)dir, err, sizeof err) : 0;
	if (rc == -2)
		tap_skip("detect: an unreadable tokenizer_config.json: %s", err);
	else if (!tap_ok(rc == -1 && strstr(err, "tokenizer_config.json: Permission denied"),
			 "detect: an unreadable tokenizer_config.json says permission (as a user permissions apply to)"))
		tap_diag("rc %d err '%s'", rc, err);
	remove_files(dir);
}

static void test_detect(void)
{
	char dir[] = "/tmp/llmchat-chat-template.XXXXXX";
	if (!mkdtemp(dir) || chmod(dir, 0755) != 0) { /* 0755: reached as another user too */
		printf("Bail out! mkdtemp failed\n");
		exit(1);
	}
	char *llama3 = template_source("llama-3-instruct");
	char *llama31 = template_source("llama-3.1-instruct");
	char *llama32 = template_source("llama-3.2-instruct");
	test_detect_files(dir, llama3, llama31, llama32);
	test_detect_older_copies(dir, llama3, llama31);
	test_detect_not_meta(dir, llama3, llama32);
	remove_files(dir);
	rmdir(dir);
	free(llama3);
	free(llama31);
	free(llama32);
}

/* ---- the date line ---------------------------------------------------------- */

static void test_date(void)
{
	char date[64], want[64];
	chat_template_date(CHAT_TEMPLATE_LLAMA31, date, sizeof date);
	tap_ok(strcmp(date, "26 Jul 2024") == 0, "date: Llama 3.1 is fixed at 26 Jul 2024 (got '%s')", date);
	chat_template_date(CHAT_TEMPLATE_LLAMA3, date, sizeof date);
	tap_ok(date[0] == '\0', "date: Llama 3 writes none");

	/* This program never calls setlocale, so strftime runs in the C locale, the
	 * locale of Python's strftime under transformers.  Retried once in case the
	 * day changed between the two readings. */
	int same = 0;
	for (int attempt = 0; attempt < 2 && !same; attempt++) {
		time_t now = time(NULL);
		struct tm local;
		localtime_r(&now, &local);
		strftime(want, sizeof want, "%d %b %Y", &local);
		chat_template_date(CHAT_TEMPLATE_LLAMA32, date, sizeof date);
		same = strcmp(date, want) == 0;
	}
	tap_ok(same, "date: Llama 3.2 is today as strftime(\"%%d %%b %%Y\") in the C locale (got '%s', want '%s')",
	       date, want);
	char small[6];
	chat_template_date(CHAT_TEMPLATE_LLAMA31, small, sizeof small);
	tap_ok(strcmp(small, "26 Ju") == 0, "date: a short buffer is truncated and terminated");

	struct chat_message hi = { CHAT_ROLE_USER, "hi" };
	char expected[512];
	chat_template_date(CHAT_TEMPLATE_LLAMA32, date, sizeof date);
	snprintf(expected, sizeof expected, SYSTEM_31("%s") "<|eot_id|>" HEADER("user") "hi<|eot_id|>", date);
	expect_render(CHAT_TEMPLATE_LLAMA32, &hi, 1, false, NULL, expected,
		      "render: Llama 3.2 without a today override writes today's date");
	expect_render(CHAT_TEMPLATE_LLAMA32, &hi, 1, false, "29 Feb 2028",
		      SYSTEM_31("29 Feb 2028") "<|eot_id|>" HEADER("user") "hi<|eot_id|>",
		      "render: Llama 3.2 takes the today override");
	expect_render(CHAT_TEMPLATE_LLAMA31, &hi, 1, false, "29 Feb 2028",
		      SYSTEM_31("26 Jul 2024") "<|eot_id|>" HEADER("user") "hi<|eot_id|>",
		      "render: Llama 3.1 ignores the today override");
}

/* ---- trimming: Python's str.strip ------------------------------------------ */

static void test_trim(void)
{
	/* Every code point Python's str.isspace() accepts (Python 3.11), in UTF-8. */
	static const char *const python_spaces[] = {
		"\t", "\n", "\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x1f", " ", "\xc2\x85", "\xc2\xa0",
		"\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84",
		"\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a",
		"\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80",
	};
	char content[512] = "";
	for (size_t i = 0; i < sizeof python_spaces / sizeof *python_spaces; i++)
		strcat(content, python_spaces[i]);
	strcat(content, "x y");
	for (size_t i = 0; i < sizeof python_spaces / sizeof *python_spaces; i++)
		strcat(content, python_spaces[i]);
	struct chat_message m = { CHAT_ROLE_USER, content };
	expect_render(CHAT_TEMPLATE_LLAMA3, &m, 1, false, NULL,
		      "<|begin_of_text|>" HEADER("user") "x y<|eot_id|>",
		      "trim: all 29 of Python's whitespace code points are stripped from both ends");

	/* One user message each: its content, what the Llama 3 form keeps of it, and the rule. */
	static const struct { const char *content, *kept, *rule; } cases[] = {
		/* where JavaScript's String.trim differs: Python strips U+0085 and U+001C..1F... */
		{"\x1c\xc2\x85 \x1fx\x1d\x1e\xc2\x85", "x",
		 "trim: U+0085 and U+001C..U+001F are whitespace (Python), unlike JavaScript's trim"},
		/* ...and keeps U+FEFF, which JavaScript strips */
		{"\xef\xbb\xbfx \xef\xbb\xbf", "\xef\xbb\xbfx \xef\xbb\xbf",
		 "trim: U+FEFF is not whitespace (Python), unlike JavaScript's trim"},
		{"\xe2\x80\x8bx\xe1\xa0\x8e", "\xe2\x80\x8bx\xe1\xa0\x8e", "trim: U+200B and U+180E are not whitespace"},
		/* bytes that are not UTF-8 cannot come from Python; they pass through as they
		 * are and trimming stops at them */
		{"  \xff x \xe4\xb8", "\xff x \xe4\xb8", "trim: invalid UTF-8 is kept and stops trimming"},
		{"\xc0\xa0x\xc0\xa0", "\xc0\xa0x\xc0\xa0", "trim: an overlong encoding of a space is not a space"},
		{"\xe4\xb8\xad \n", "\xe4\xb8\xad", "trim: a multibyte character before trailing spaces is kept whole"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char want[256];
		snprintf(want, sizeof want, "<|begin_of_text|>" HEADER("user") "%s<|eot_id|>", cases[i].kept);
		m.content = cases[i].content;
		expect_render(CHAT_TEMPLATE_LLAMA3, &m, 1, false, NULL, want, cases[i].rule);
	}
	struct chat_message two[] = { { CHAT_ROLE_SYSTEM, " \xe3\x80\x80" }, { CHAT_ROLE_USER, "\xe3\x80\x80" } };
	expect_render(CHAT_TEMPLATE_LLAMA31, two, 2, false, NULL,
		      SYSTEM_31("26 Jul 2024") "<|eot_id|>" HEADER("user") "<|eot_id|>",
		      "trim: whitespace-only system and user contents become empty");
}

/* ---- edge cases and errors ------------------------------------------------ */

static void test_edges(void)
{
	char *out = NULL, err[256] = "";
	expect_render(CHAT_TEMPLATE_LLAMA3, NULL, 0, true, NULL, HEADER("assistant"),
		      "edge: Llama 3 with no messages writes no <|begin_of_text|>, as its loop does");
	expect_render(CHAT_TEMPLATE_LLAMA3, NULL, 0, false, NULL, "", "edge: Llama 3 with nothing renders nothing");

	int rc = chat_template_render(CHAT_TEMPLATE_LLAMA31, NULL, 0, true, NULL, &out, err, sizeof err);
	tap_ok(rc == -1 && out == NULL && strstr(err, "at least one message"),
	       "edge: Llama 3.1 refuses an empty conversation, as Jinja does (%s)", err);
	rc = chat_template_render(CHAT_TEMPLATE_LLAMA32, NULL, 0, true, NULL, &out, err, sizeof err);
	tap_ok(rc == -1 && out == NULL, "edge: Llama 3.2 refuses an empty conversation");

	struct chat_message bad = { (enum chat_role)7, "x" };
	rc = chat_template_render(CHAT_TEMPLATE_LLAMA3, &bad, 1, true, NULL, &out, err, sizeof err);
	tap_ok(rc == -1 && strstr(err, "message 0") && strstr(err, "role"), "edge: an unknown role is refused (%s)", err);
	struct chat_message none = { CHAT_ROLE_USER, NULL };
	rc = chat_template_render(CHAT_TEMPLATE_LLAMA31, &none, 1, true, NULL, &out, err, sizeof err);
	tap_ok(rc == -1 && strstr(err, "no content"), "edge: a NULL content is refused (%s)", err);
	rc = chat_template_render((enum chat_template_kind)9, &none, 1, true, NULL, &out, err, sizeof err);
	tap_ok(rc == -1 && strstr(err, "template kind"), "edge: an unknown template kind is refused (%s)", err);

	struct chat_message hi = { CHAT_ROLE_USER, "Hi" };
	expect_render(CHAT_TEMPLATE_LLAMA31, &hi, 1, true, NULL,
		      SYSTEM_31("26 Jul 2024") "<|eot_id|>" HEADER("user") "Hi<|eot_id|>" HEADER("assistant"),
		      "render: Llama 3.1 writes its system block without a system message");
	expect_render(CHAT_TEMPLATE_LLAMA3, &hi, 1, true, NULL,
		      "<|begin_of_text|>" HEADER("user") "Hi<|eot_id|>" HEADER("assistant"),
		      "render: Llama 3 writes no system block without a system message");
}

int main(void)
{
	test_detect();
	test_date();
	test_trim();
	test_edges();
	return tap_done();
}
