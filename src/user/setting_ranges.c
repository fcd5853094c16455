/*
 * setting_ranges.c - the one range of each numeric setting.
 */
#include "setting_ranges.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct setting_range ranges[] = {
	/* the sampler's own checks (sampler.c) are the floor of these */
	{"temp", 0, 100, false, false},
	{"top_p", 0, 1, true, false},        /* top_p 0 would keep no token at all */
	{"min_p", 0, 1, false, false},
	{"repeat_penalty", 0.01, 100, false, false},
	{"top_k", 0, 1 << 30, false, true},  /* 0: no top-k */
	{"max_tokens", 1, 1 << 30, false, true},
	{"ctx", 1, 1 << 24, false, true},
	{"threads", 1, 4096, false, true},
};

const struct setting_range *setting_range_find(const char *key)
{
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
		if (strcmp(ranges[i].key, key) == 0)
			return &ranges[i];
	return NULL;
}

int setting_range_parse(const struct setting_range *setting, const char *text, double *out,
			char *err, size_t err_size)
{
	char *end;
	errno = 0;
	double value;
	if (setting->integer)
		value = (double)strtoll(text, &end, 10);
	else
		value = strtod(text, &end);
	bool in_range = setting->min_excluded ? value > setting->min : value >= setting->min;
	if (errno || end == text || *end != '\0' || !in_range || !(value <= setting->max)) {
		if (setting->integer)
			snprintf(err, err_size, "expected an integer from %lld to %lld, got '%s'",
				 (long long)setting->min, (long long)setting->max, text);
		else
			snprintf(err, err_size, "expected a number in %c%g, %g], got '%s'",
				 setting->min_excluded ? '(' : '[', setting->min, setting->max, text);
		return -1;
	}
	*out = value;
	return 0;
}

int sampling_overrides_set(struct sampling_overrides *overrides, const char *key, const char *value,
			   char *why, size_t why_size)
{
	struct sampling_overrides *o = overrides;
	float *real = !strcmp(key, "temp") ? &o->temperature : !strcmp(key, "top_p") ? &o->top_p :
		      !strcmp(key, "min_p") ? &o->min_p : !strcmp(key, "repeat_penalty") ? &o->repeat_penalty : NULL;
	int *integer = !strcmp(key, "top_k") ? &o->top_k : !strcmp(key, "max_tokens") ? &o->max_tokens : NULL;
	double v;
	if (!real && !integer)
		return 1;
	if (setting_range_parse(setting_range_find(key), value, &v, why, why_size) != 0)
		return -1;
	if (real)
		*real = (float)v;
	else
		*integer = (int)v;
	return 0;
}
