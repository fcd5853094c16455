/*
 * test_settings_files.c - theme, preset and config files: what they set, and
 * errors that name the file and the line.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_file.h"
#include "options.h"
#include "presets.h"
#include "tap.h"
#include "theme.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void count_name(void *user_data, const char *name, const char *description)
{
	int *n = user_data;
	if (!strcmp(name, "mine") || !strcmp(name, "pirate"))
		(*n)++;
}

static void count_theme(void *user_data, const char *name)
{
	int *n = user_data;
	if (!strcmp(name, "gruvbox") || !strcmp(name, "mono") || !strcmp(name, "custom"))
		(*n)++;
}

int main(void)
{
	char err[512], dir[] = "/tmp/llmchat-settings-XXXXXX", path[1024];
	struct theme theme;
	struct preset preset;

	/* themes */
	theme_default(&theme);
	tap_ok(theme_parse("# comment\n\nuser = red on 236 bold underline\ncode = 208\n", "t.theme", &theme, err, sizeof err) == 0,
	       "a theme file parses");
	tap_ok(theme.styles[THEME_USER].fg == 1 && theme.styles[THEME_USER].bg == 236 &&
	       theme.styles[THEME_USER].attrs == (THEME_ATTR_BOLD | THEME_ATTR_UNDERLINE), "colours by name and number, attributes");
	tap_ok(theme.styles[THEME_CODE].fg == 208, "a 256-colour number");
	tap_ok(theme_parse("status = bright-white on blue", "t", &theme, err, sizeof err) == 0 &&
	       theme.styles[THEME_STATUS].fg == 15 && theme.styles[THEME_STATUS].bg == 4, "bright- names are 8-15");
	tap_ok(theme_parse("user = red\nbogus = blue\n", "my.theme", &theme, err, sizeof err) != 0 &&
	       strstr(err, "my.theme:2:") && strstr(err, "bogus"), "an unknown element names file:line (%s)", err);
	tap_ok(theme_parse("\n\ncode = purple\n", "my.theme", &theme, err, sizeof err) != 0 &&
	       strstr(err, "my.theme:3:") && strstr(err, "purple"), "a bad colour names file:line (%s)", err);
	tap_ok(theme_parse("code = 256\n", "x", &theme, err, sizeof err) != 0, "colour 256 is out of range");
	tap_ok(theme_parse("code red\n", "x.theme", &theme, err, sizeof err) != 0 && strstr(err, "x.theme:1:"),
	       "a line without '=' is an error");
	tap_ok(theme_parse("code = red on\n", "x", &theme, err, sizeof err) != 0, "'on' needs a colour");

	if (!mkdtemp(dir))
		return 1;
	setenv("XDG_CONFIG_HOME", dir, 1);
	setenv("LLMCHAT_DATADIR", "/nonexistent", 1);
	/* the source tree's themes are found for uninstalled runs */
	tap_ok(theme_load("gruvbox", &theme, err, sizeof err) == 0 && !strcmp(theme.name, "gruvbox"),
	       "gruvbox loads from the source tree (%s)", err);
	for (const char *name = "default"; name; name = !strcmp(name, "default") ? "light" : !strcmp(name, "light") ?
	     "solarized-dark" : !strcmp(name, "solarized-dark") ? "mono" : NULL)
		tap_ok(theme_load(name, &theme, err, sizeof err) == 0, "theme %s loads (%s)", name, err);
	struct theme built_in;
	theme_default(&built_in);
	tap_ok(theme_load("default", &theme, err, sizeof err) == 0 &&
	       !memcmp(theme.styles, built_in.styles, sizeof theme.styles), "themes/default.theme says what the built-in theme does");
	tap_ok(theme_load("nope", &theme, err, sizeof err) != 0 && strstr(err, "nope"), "an unknown theme is an error naming it");
	tap_ok(theme_load("../etc/passwd", &theme, err, sizeof err) != 0, "a theme name is not a path");
	snprintf(path, sizeof path, "%s/llmchat", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/llmchat/themes", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/llmchat/themes/custom.theme", dir);
	write_file(path, "user = green\n\nheading = 99 on nothing\n");
	tap_ok(theme_load("custom", &theme, err, sizeof err) != 0 && strstr(err, "custom.theme:3:"),
	       "a user theme's error names its file and line (%s)", err);
	tap_ok(theme.styles[THEME_USER].fg == 6, "after an error the default theme applies");
	int found = 0;
	theme_list(count_theme, &found);
	tap_ok(found == 3, "theme_list finds installed and user themes");

	/* presets */
	tap_ok(presets_resolve("pirate", &preset, err, sizeof err) == 0 && preset.system_prompt &&
	       strstr(preset.system_prompt, "pirate") && isnan(preset.sampling.temperature), "built-in pirate preset");
	preset_free(&preset);
	tap_ok(presets_resolve("default", &preset, err, sizeof err) == 0 && !preset.system_prompt, "default has no system prompt");
	preset_free(&preset);
	tap_ok(presets_resolve("nosuch", &preset, err, sizeof err) != 0 && strstr(err, "nosuch"), "unknown preset names itself");
	snprintf(path, sizeof path, "user presets in %s/llmchat/presets/NAME.txt", dir);
	tap_ok(strstr(err, path) && !strstr(err, "~/"), "... and the real folder of user presets (%s)", err);

	tap_ok(preset_parse("temp = 0.2\ntop_k = 40\n# note\n---\nYou review C.\n", "p.txt", &preset, err, sizeof err) == 0 &&
	       fabsf(preset.sampling.temperature - 0.2f) < 1e-6 && preset.sampling.top_k == 40 && !strcmp(preset.system_prompt, "You review C."),
	       "settings, ---, then the prompt");
	preset_free(&preset);
	tap_ok(preset_parse("min_p = 0.05\nrepeat_penalty = 1.1\n---\nx\n", "p.txt", &preset, err, sizeof err) == 0 &&
	       fabsf(preset.sampling.min_p - 0.05f) < 1e-7 && fabsf(preset.sampling.repeat_penalty - 1.1f) < 1e-6,
	       "a preset takes min_p and repeat_penalty, as /set does");
	{
		struct options with_preset;
		char *no_flags[] = {"llmchat", NULL};
		options_parse(&with_preset, 1, no_flags, err, sizeof err);
		options_apply_preset(&with_preset, &preset);
		tap_ok(fabsf(with_preset.sampling.min_p - 0.05f) < 1e-7 &&
		       fabsf(with_preset.sampling.repeat_penalty - 1.1f) < 1e-6, "a preset's min_p and repeat_penalty reach the options");
	}
	preset_free(&preset);
	preset.sampling.temperature = NAN;
	tap_ok(preset_parse("Just a prompt.\n---\nwith a rule\n", "p.txt", &preset, err, sizeof err) == 0 &&
	       !strcmp(preset.system_prompt, "Just a prompt.\n---\nwith a rule"), "plain text is all prompt, --- included");
	preset_free(&preset);
	tap_ok(preset_parse("temp = 0.2\ntmp = 3\n---\nx\n", "p.txt", &preset, err, sizeof err) != 0 &&
	       strstr(err, "p.txt:2:") && strstr(err, "tmp"), "an unknown key names file:line (%s)", err);
	tap_ok(preset_parse("top_p = 7\n---\nx\n", "p.txt", &preset, err, sizeof err) != 0 && strstr(err, "p.txt:1:"),
	       "a value out of range names file:line (%s)", err);
	tap_ok(preset_parse("temp = 1\nYou are nice.\n", "p.txt", &preset, err, sizeof err) != 0 && strstr(err, "p.txt:2:"),
	       "settings without --- are an error (%s)", err);

	snprintf(path, sizeof path, "%s/llmchat/presets", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof path, "%s/llmchat/presets/mine.txt", dir);
	write_file(path, "max_tokens = 64\n---\nMy own prompt.\n");
	tap_ok(presets_resolve("mine", &preset, err, sizeof err) == 0 && preset.sampling.max_tokens == 64 &&
	       !strcmp(preset.system_prompt, "My own prompt."), "a user preset file (%s)", err);
	preset_free(&preset);
	snprintf(path, sizeof path, "%s/llmchat/presets/pirate.txt", dir);
	write_file(path, "Arr, a user pirate.");
	tap_ok(presets_resolve("pirate", &preset, err, sizeof err) == 0 && !strcmp(preset.system_prompt, "Arr, a user pirate."),
	       "a user preset replaces the built-in one of its name");
	preset_free(&preset);
	snprintf(path, sizeof path, "%s/llmchat/presets/broken.txt", dir);
	write_file(path, "temp = hot\n---\nx");
	tap_ok(presets_resolve("broken", &preset, err, sizeof err) != 0 && strstr(err, "broken.txt:1:"),
	       "a broken user preset names its file and line (%s)", err);
	found = 0;
	presets_list(count_name, &found);
	tap_ok(found == 2, "presets_list shows user presets, a replaced built-in once");

	/* config */
	struct config_file cfg;
	config_file_init(&cfg);
	tap_ok(config_file_parse("model = /m/llama\ntemp = 0.7\ntop_k = 20\nctx = 2048\ntheme = mono\n", "c", &cfg, err, sizeof err) == 0 &&
	       !strcmp(cfg.model, "/m/llama") && fabsf(cfg.sampling.temperature - 0.7f) < 1e-6 && cfg.sampling.top_k == 20 &&
	       cfg.context_length == 2048 && !strcmp(cfg.theme, "mono"), "a config file sets defaults");
	struct options opts;
	char *argv[] = {"llmchat", "--temp", "0.1", "--theme", "light", NULL};
	options_parse(&opts, 5, argv, err, sizeof err);
	unsetenv("LLMCHAT_MODEL");
	options_apply_config(&opts, &cfg);
	tap_ok(fabsf(opts.sampling.temperature - 0.1f) < 1e-6 && !strcmp(opts.theme, "light"), "flags override the config");
	tap_ok(opts.sampling.top_k == 20 && opts.context_length == 2048 && !strcmp(opts.model, "/m/llama"),
	       "the config fills what flags left unset");
	config_file_free(&cfg);
	config_file_init(&cfg);
	tap_ok(config_file_parse("temp = 0.5\n\ncolour = red\ntop_k = 7\n", "/x/config", &cfg, err, sizeof err) == 0 &&
	       cfg.warning_count == 1 && strstr(cfg.warnings[0], "/x/config:3:") && strstr(cfg.warnings[0], "colour"),
	       "an unknown config key is a warning naming file:line (%s)", cfg.warnings[0]);
	tap_ok(fabsf(cfg.sampling.temperature - 0.5f) < 1e-6 && cfg.sampling.top_k == 7, "the lines around an unknown key are kept");
	config_file_free(&cfg);
	config_file_init(&cfg);
	tap_ok(config_file_parse("top_k = 1.5\nno equals sign\ntheme =\nctx = 512\n", "/x/config", &cfg, err, sizeof err) == 0 &&
	       cfg.warning_count == 3 && strstr(cfg.warnings[0], "/x/config:1:") && strstr(cfg.warnings[1], "/x/config:2:") &&
	       strstr(cfg.warnings[2], "/x/config:3:") && cfg.sampling.top_k == -1 && cfg.context_length == 512,
	       "a bad value, a line without '=' and an empty value are warnings; the rest is kept");
	config_file_free(&cfg);
	config_file_init(&cfg);
	tap_ok(opts.mouse == false, "the mouse is off unless the config file turns it on");
	tap_ok(config_file_parse("mouse = on\n", "/x/config", &cfg, err, sizeof err) == 0 && cfg.mouse == 1 &&
	       cfg.warning_count == 0, "mouse = on is read");
	options_apply_config(&opts, &cfg);
	tap_ok(opts.mouse == true, "... and reaches the options");
	config_file_free(&cfg);
	config_file_init(&cfg);
	tap_ok(config_file_parse("mouse = yes\nmouse = off\n", "/x/config", &cfg, err, sizeof err) == 0 && cfg.mouse == 0 &&
	       cfg.warning_count == 1 && strstr(cfg.warnings[0], "/x/config:1: mouse: expected on or off, got 'yes'"),
	       "a mouse value other than on or off is a warning naming file:line (%s)", cfg.warnings[0]);
	config_file_free(&cfg);
	config_file_init(&cfg);
	char many[1024] = "";
	for (int i = 0; i < CONFIG_WARNINGS_KEPT + 3; i++)
		strcat(many, "bogus = 1\n");
	tap_ok(config_file_parse(many, "/x/config", &cfg, err, sizeof err) == 0 &&
	       cfg.warning_count == CONFIG_WARNINGS_KEPT + 3 && strstr(cfg.warnings[CONFIG_WARNINGS_KEPT - 1], ":8:"),
	       "every bad line is counted; the first %d are kept", CONFIG_WARNINGS_KEPT);
	config_file_free(&cfg);
	snprintf(path, sizeof path, "%s/llmchat/config", dir);
	write_file(path, "preset = coder\n");
	config_file_init(&cfg);
	tap_ok(config_file_load(&cfg, err, sizeof err) == 0 && cfg.preset && !strcmp(cfg.preset, "coder"),
	       "the config is read from $XDG_CONFIG_HOME/llmchat/config");
	config_file_free(&cfg);

	char cmd[1100];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}
