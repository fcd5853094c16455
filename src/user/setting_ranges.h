/*
 * setting_ranges.h - the numeric settings that flags, the config file, presets and
 * /set share, each with one range that every source checks.
 */
#ifndef LLMCHAT_SETTING_RANGES_H
#define LLMCHAT_SETTING_RANGES_H

#include <stdbool.h>
#include <stddef.h>

#include "chat_session.h"   /* struct sampling_overrides */

/* The numeric settings that flags, the config file and presets share, each with one
 * range that every source checks: temp, top_p, min_p, repeat_penalty, top_k,
 * max_tokens, ctx, threads (as flags spelled with '-': --top-p). */
struct setting_range {
	const char *key;     /* as files spell it: "top_p" */
	double min, max;
	bool min_excluded;   /* (min, max] rather than [min, max] */
	bool integer;
};

/* The setting named key ("top_p"), or NULL when there is none of that name. */
const struct setting_range *setting_range_find(const char *key);

/* Parses text, all of it, as a value of setting: an integer or a number, in range.
 * Returns 0, or -1 with "expected a number in (0, 1], got '0'" in err; the caller
 * adds where the text came from (the flag, or the file and line). */
int setting_range_parse(const struct setting_range *setting, const char *text, double *out,
			char *err, size_t err_size);

/* Sets the sampling setting named key (temp, top_p, top_k, min_p, repeat_penalty,
 * max_tokens: what /set, presets and the config file share) from value, in its
 * range.  Returns 0; -1 with the reason in why for a bad value; 1 when key names no
 * sampling setting. */
int sampling_overrides_set(struct sampling_overrides *overrides, const char *key, const char *value,
			   char *why, size_t why_size);

#endif
