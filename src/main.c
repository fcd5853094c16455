/*
 * main.c - llmchat's entry point: parse the flags, pick the mode, return its status.
 *
 * Data flows one way through the program:
 *   text -> tokens -> prompt -> engine -> logits -> sampler -> token -> text -> screen
 * and every stage lives in its own module; main only chooses which stages run.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "modes.h"
#include "options.h"
#include "presets.h"
#include "standard_io.h"

/* The mode that runs, after the config file filled in what the flags left unset. */
static int run_mode(const struct options *opts)
{
	switch (opts->mode) {
	case MODE_HELP:
		return fputs(options_usage(), stdout) == EOF ? standard_io_write_failed(errno) : EXIT_OK;
	case MODE_VERSION:
		return printf("llmchat %s\n"
			      "Copyright (c) 2026 the llmchat developers\n"
			      "MIT License: free to use, copy, modify and distribute, with NO WARRANTY (see COPYING).\n",
			      PACKAGE_VERSION) < 0
			       ? standard_io_write_failed(errno)
			       : EXIT_OK;
	case MODE_TOKENIZE:
		return mode_tokenize(opts);
	case MODE_DETOKENIZE:
		return mode_detokenize(opts);
	case MODE_PRINT_PROMPT:
		return mode_print_prompt(opts);
	case MODE_PERPLEXITY:
		return mode_perplexity(opts);
	case MODE_BENCH:
		return mode_bench(opts);
	case MODE_LIST_PRESETS:
		return mode_list_presets(opts);
	case MODE_LIST_THEMES:
		return mode_list_themes(opts);
	case MODE_AUTO:
		if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
			return mode_tui(opts);
		return mode_pipe(opts);
	case MODE_PIPE:
		return mode_pipe(opts);
	}
	return EXIT_USAGE;
}

/* The config file's lines left out, one line each on stderr. */
static void config_file_report_warnings(const struct config_file *config)
{
	int shown = config->warning_count < CONFIG_WARNINGS_KEPT ? config->warning_count : CONFIG_WARNINGS_KEPT;
	for (int i = 0; i < shown; i++)
		fprintf(stderr, "llmchat: %s (line ignored)\n", config->warnings[i]);
	if (config->warning_count > shown)
		fprintf(stderr, "llmchat: and %d more lines of the config file ignored\n", config->warning_count - shown);
}

int main(int argc, char **argv)
{
	struct options opts;
	char err[512];

	/* a reader that goes away makes writes fail with EPIPE, which every mode
	 * checks (standard_io.h), instead of killing the program mid-line */
	signal(SIGPIPE, SIG_IGN);
	if (options_parse(&opts, argc, argv, err, sizeof err) != 0 ||
	    options_read_environment(&opts, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		return EXIT_USAGE;
	}
	/* the user's defaults; a broken config file is reported and left out */
	struct config_file config;
	config_file_init(&config);
	if (config_file_load(&config, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s (config file ignored)\n", err);
		config_file_free(&config);
	}
	config_file_report_warnings(&config);
	options_apply_config(&opts, &config);

	/* outside the TUI (which switches presets itself) a preset acts as flags given
	 * before the real ones; a broken preset is reported and left out */
	struct preset preset;
	bool tui = opts.mode == MODE_AUTO && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	memset(&preset, 0, sizeof preset);
	if (opts.preset && !tui && (opts.mode == MODE_AUTO || opts.mode == MODE_PIPE || opts.mode == MODE_PRINT_PROMPT)) {
		if (presets_resolve(opts.preset, &preset, err, sizeof err) == 0)
			options_apply_preset(&opts, &preset);
		else
			fprintf(stderr, "llmchat: %s; no preset used\n", err);
	}
	int status = run_mode(&opts);
	/* whatever the mode wrote must have arrived */
	if (status == EXIT_OK)
		status = standard_io_finish();
	preset_free(&preset);
	config_file_free(&config);
	return status;
}
