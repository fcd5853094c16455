/*
 * mode_print_prompt.c - `llmchat -m MODEL --print-prompt [--system TEXT]`.
 *
 * Prints the prompt exactly as the model would receive it for the message on
 * standard input: the model folder's chat template, the optional system prompt,
 * the generation prompt, and nothing after it (no newline of our own).  Only the
 * template is read from the folder; no weights are loaded.
 *
 * When the folder's template is not byte for byte one of the Llama 3 forms (or there
 * is none), one line on stderr says which file and which form is rendered instead.
 *
 * All of standard input is the user message, empty input included: an empty
 * message renders as an empty turn, as the template renders it, rather than an
 * error, so that a script sees the same prompt pipe mode would send.  An empty
 * --system still counts as a system message, as in pipe mode.  With --raw the
 * prompt is what pipe mode's --raw feeds the model: <|begin_of_text|> and the
 * message as it is (no template, no trimming, --system unused).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_template.h"
#include "model_path.h"
#include "modes.h"
#include "standard_io.h"

/* --raw: BOS spelled out, then the message untouched. */
static int raw_prompt(const char *message, char **prompt, char *err, size_t err_size)
{
	static const char bos[] = "<|begin_of_text|>";
	size_t length = strlen(message);
	*prompt = malloc(sizeof bos + length);
	if (!*prompt) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	memcpy(*prompt, bos, sizeof bos - 1);
	memcpy(*prompt + sizeof bos - 1, message, length + 1);
	return 0;
}

/* Renders the prompt for the model folder and the message into *prompt. */
static int render_prompt(const char *model_dir, const char *system_prompt, const char *message,
			 char **prompt, char *err, size_t err_size)
{
	struct chat_message messages[2];
	size_t count = 0;
	if (system_prompt)
		messages[count++] = (struct chat_message){ CHAT_ROLE_SYSTEM, system_prompt };
	messages[count++] = (struct chat_message){ CHAT_ROLE_USER, message };
	struct chat_template_detection template;
	if (chat_template_detect(model_dir, &template, err, err_size) != 0)
		return -1;
	/* what is rendered when it is not the folder's own template: said once, on stderr */
	if (template.notice[0])
		fprintf(stderr, "llmchat: %s\n", template.notice);
	return chat_template_render(template.kind, messages, count, true, NULL, prompt, err, err_size);
}

int mode_print_prompt(const struct options *opts)
{
	char err[1024];
	char *model_dir = NULL, *message = NULL, *prompt = NULL;
	size_t message_length = 0;
	int status = EXIT_ERROR;

	if (model_path_resolve(opts->model, &model_dir, err, sizeof err) != 0)
		goto fail;
	if (standard_io_read_input(&message, &message_length, err, sizeof err) != 0 ||
	    standard_io_check_message(message, message_length, err, sizeof err) != 0)
		goto fail;
	if (opts->raw ? raw_prompt(message, &prompt, err, sizeof err)
		      : render_prompt(model_dir, opts->system_prompt, message, &prompt, err, sizeof err))
		goto fail;
	size_t length = strlen(prompt);
	status = fwrite(prompt, 1, length, stdout) == length && fflush(stdout) == 0 ? EXIT_OK
										: standard_io_write_failed(errno);
	goto done;
fail:
	fprintf(stderr, "llmchat: %s\n", err);
done:
	free(prompt);
	free(message);
	free(model_dir);
	return status;
}
