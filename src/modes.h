/*
 * modes.h - what llmchat does once the command line is parsed.
 *
 * Each mode takes the parsed options and returns the process exit status:
 * 0 success, 1 a runtime error (already printed on stderr as one line starting
 * with "llmchat: "), 2 a usage error, 141 when the reader of standard output went
 * away (standard_io.h), 128 + N when signal N ended it (the interface; pipe mode's
 * SIGINT, SIGTERM, SIGHUP).  Nothing below main() calls exit().
 */
#ifndef LLMCHAT_MODES_H
#define LLMCHAT_MODES_H

#include <signal.h>

#include "options.h"
#include "standard_io.h"   /* the exit statuses */


int mode_tokenize(const struct options *opts);      /* stdin text -> ids on one line */
int mode_detokenize(const struct options *opts);    /* stdin ids -> text */
int mode_print_prompt(const struct options *opts);  /* stdin message -> rendered prompt */
int mode_pipe(const struct options *opts);          /* stdin message -> streamed answer */
int mode_perplexity(const struct options *opts);    /* file -> "perplexity: X" */
int mode_bench(const struct options *opts);         /* speed against the hardware ceilings */
int mode_tui(const struct options *opts);           /* terminal: the interactive interface (src/tui/) */
int mode_list_presets(const struct options *opts);  /* --list-presets */
int mode_list_themes(const struct options *opts);   /* --list-themes */

#endif
