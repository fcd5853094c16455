/*
 * mode_tui.c - the interactive interface (src/tui/), from the options.
 */
#include <stdbool.h>

#include "engine.h"
#include "model_runtime.h"
#include "modes.h"
#include "tui.h"

int mode_tui(const struct options *opts)
{
	struct engine_options engine_settings;
	struct model_runtime_settings runtime_settings;
	options_runtime_settings(opts, &engine_settings, &runtime_settings);
	struct tui_settings settings = {
		.runtime = &runtime_settings,
		.sampling = opts->sampling,
		.preset = opts->preset,
		.theme = opts->theme,
		.system_prompt = opts->system_prompt,
		.no_color = opts->no_color,
		.resume = opts->resume,
		.mouse = opts->mouse,
		.resume_from = opts->resume_from,
		.stream_delay_ms = opts->stream_delay_ms,
	};
	options_speculation(opts, NULL, &settings.speculation);
	settings.draft_model = opts->draft_model;
	return tui_run(&settings);
}
