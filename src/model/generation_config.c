/*
 * generation_config.c - see generation_config.h.
 *
 * Every number is range-checked where it is read, with bounds that keep the
 * sampler's float32 arithmetic finite: logits are divided by the temperature and by
 * the repetition penalty, so values that round to 0 or overflow in float32 are
 * refused here rather than becoming NaN logits later.
 */
#include "generation_config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "file_read.h"
#include "model.h"

/* The smallest non-zero temperature: logits of magnitude ~100 divided by it stay far
 * below float32's limit. */
#define MIN_TEMPERATURE 1e-6

/* A number member in [min, max], or (min, max] when min_open; absent or null leaves
 * *present false.  A value that becomes 0 in float32 does not pass an open bound of 0. */
static int read_number(const json_t *object, const char *path, const char *key, double min, bool min_open,
		       double max, double *out, bool *present, char *err, size_t err_size)
{
	json_t *value = json_object_get(object, key);
	*present = false;
	if (!value || json_is_null(value))
		return 0;
	double number = json_number_value(value);
	bool below = min_open ? !(number > min && (float)number > (float)min) : !(number >= min);
	if (!json_is_number(value) || !isfinite(number) || below || number > max) {
		char shown[48];
		json_value_text(value, shown, sizeof shown);
		snprintf(err, err_size, "%s: %s %s is not in %c%g, %g]", path, key, shown, min_open ? '(' : '[',
			 min, max);
		return -1;
	}
	*out = number;
	*present = true;
	return 0;
}

/* An integer member in [min, max]; absent or null leaves *out alone. */
static int read_integer(const json_t *object, const char *path, const char *key, long long min, long long max,
			int *out, char *err, size_t err_size)
{
	long long number;
	int found = json_member_integer(object, path, key, min, max, &number, err, err_size);
	if (found > 0)
		*out = (int)number;
	return found < 0 ? -1 : 0;
}

/* do_sample: true, false, or absent/null (-1). */
static int read_do_sample(const json_t *object, const char *path, int *out, char *err, size_t err_size)
{
	json_t *value = json_object_get(object, "do_sample");
	*out = -1;
	if (!value || json_is_null(value))
		return 0;
	if (!json_is_boolean(value)) {
		char shown[48];
		json_value_text(value, shown, sizeof shown);
		snprintf(err, err_size, "%s: do_sample %s is not true or false", path, shown);
		return -1;
	}
	*out = json_is_true(value);
	return 0;
}

static int read_temperature(const json_t *object, const char *path, float *out, char *err, size_t err_size)
{
	double value;
	bool present;
	if (read_number(object, path, "temperature", 0, false, 100, &value, &present, err, err_size) != 0)
		return -1;
	if (present && value != 0 && value < MIN_TEMPERATURE) {
		snprintf(err, err_size, "%s: temperature %g is neither 0 (greedy) nor at least %g: logits divided by it "
			 "overflow float32", path, value, MIN_TEMPERATURE);
		return -1;
	}
	if (present)
		*out = (float)value;
	return 0;
}

int generation_config_parse(const json_t *generation, const char *path, struct model_config *c,
			    char *err, size_t err_size)
{
	c->default_temperature = NAN;
	c->default_top_p = NAN;
	c->default_top_k = -1;
	c->default_min_p = 0;
	c->default_repetition_penalty = 0;
	c->default_max_new_tokens = 0;
	c->default_max_length = 0;
	if (!generation)
		return 0;
	double top_p, min_p, penalty;
	bool have_top_p, have_min_p, have_penalty;
	int do_sample;
	if (read_do_sample(generation, path, &do_sample, err, err_size) ||
	    read_temperature(generation, path, &c->default_temperature, err, err_size) ||
	    read_number(generation, path, "top_p", 0, true, 1, &top_p, &have_top_p, err, err_size) ||
	    read_integer(generation, path, "top_k", 0, 1 << 30, &c->default_top_k, err, err_size) ||
	    read_number(generation, path, "min_p", 0, false, 1, &min_p, &have_min_p, err, err_size) ||
	    read_number(generation, path, "repetition_penalty", 0.01, false, 100, &penalty, &have_penalty,
			err, err_size) ||
	    read_integer(generation, path, "max_new_tokens", 1, 1 << 30, &c->default_max_new_tokens, err, err_size) ||
	    read_integer(generation, path, "max_length", 1, 1 << 30, &c->default_max_length, err, err_size))
		return -1;
	if (have_top_p)
		c->default_top_p = (float)top_p;
	if (have_min_p)
		c->default_min_p = (float)min_p;
	if (have_penalty)
		c->default_repetition_penalty = (float)penalty;
	/* transformers decodes greedily when do_sample is false and ignores temperature,
	 * top_p and top_k then.  An absent do_sample (transformers' default is false) is
	 * read as vLLM reads it: the sampling values the file gives still apply. */
	if (do_sample == 0)
		c->default_temperature = 0;
	/* max_new_tokens overrides max_length in transformers */
	if (c->default_max_new_tokens > 0)
		c->default_max_length = 0;
	return 0;
}
