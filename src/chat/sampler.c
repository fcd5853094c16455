/*
 * sampler.c - logits to a token, as transformers' generate() samples.
 *
 * The filters run in transformers' order and with its rules:
 *   repetition penalty  each distinct token seen: logit > 0 ? logit / r : logit * r
 *   temperature         logits / T
 *   top-k               keep logits >= the k-th largest (ties at the edge stay)
 *   top-p               sort descending; keep a token while the probability mass of
 *                       the tokens before it is below p (so at least one stays);
 *                       only the head of the distribution is ever sorted
 *   min-p               drop tokens with probability < min_p * the top probability
 * then one draw from the softmax of what is left, with xoshiro256** seeded by
 * splitmix64 (no global state: the generator lives in the sampler).
 */
#include "sampler.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numerics.h"

struct candidate {
	float logit;
	int32_t id;
};

struct sampler {
	int32_t vocab_size;
	struct sampler_settings settings;
	uint64_t rng[4];
	struct candidate *candidates;   /* vocab_size */
	uint64_t *keys, *keys_other;    /* vocab_size each: the radix sort's two buffers */
	int id_bits;                    /* the bits an id takes in a key (17 for Llama 3's 128256) */
	double *weight_by_id;           /* vocab_size: exp(logit - the largest logit) of each
					 * candidate filter kept (and others), by id */
	unsigned char *seen;            /* vocab_size: penalty applied once per distinct token */
};

#define RADIX_BITS 11   /* a digit: the 6 digits' 2048 counters each take 48 KB (a key
			 * of 32 logit bits and Llama 3's 17 id bits needs 5) */
#define RADIX_BUCKETS (1u << RADIX_BITS)

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro256ss(uint64_t s[4])
{
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Uniform in [0, 1) with 53 random bits. */
static double uniform(struct sampler *s)
{
	return (double)(xoshiro256ss(s->rng) >> 11) * 0x1p-53;
}

int sampler_create(int32_t vocab_size, const struct sampler_settings *settings,
		   struct sampler **out, char *err, size_t err_size)
{
	if (vocab_size < 1) {
		snprintf(err, err_size, "sampler: vocabulary size %d", (int)vocab_size);
		return -1;
	}
	if (!(settings->temperature >= 0) || !(settings->top_p > 0 && settings->top_p <= 1) ||
	    !(settings->min_p >= 0 && settings->min_p <= 1) || !(settings->repeat_penalty > 0) ||
	    settings->top_k < 0) {
		snprintf(err, err_size, "sampler: settings out of range (temperature %g, top_p %g, min_p %g, repeat_penalty %g, top_k %d)",
			 settings->temperature, settings->top_p, settings->min_p, settings->repeat_penalty,
			 settings->top_k);
		return -1;
	}
	struct sampler *s = calloc(1, sizeof *s);
	if (s) {
		while (((int64_t)1 << s->id_bits) < vocab_size)
			s->id_bits++;
		s->candidates = malloc((size_t)vocab_size * sizeof *s->candidates);
		s->keys = malloc((size_t)vocab_size * sizeof *s->keys);
		s->keys_other = malloc((size_t)vocab_size * sizeof *s->keys_other);
		s->weight_by_id = malloc((size_t)vocab_size * sizeof *s->weight_by_id);
		s->seen = calloc((size_t)vocab_size, 1);
	}
	if (!s || !s->candidates || !s->keys || !s->keys_other || !s->weight_by_id || !s->seen) {
		sampler_free(s);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	s->vocab_size = vocab_size;
	s->settings = *settings;
	uint64_t seed = settings->seed;
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&seed);
	*out = s;
	return 0;
}

void sampler_free(struct sampler *sampler)
{
	if (!sampler)
		return;
	free(sampler->candidates);
	free(sampler->keys);
	free(sampler->keys_other);
	free(sampler->weight_by_id);
	free(sampler->seen);
	free(sampler);
}

static void apply_repetition_penalty(struct sampler *s, float *logits, const int32_t *history, size_t len)
{
	float r = s->settings.repeat_penalty;
	if (r == 1.0f || !history)
		return;
	for (size_t i = 0; i < len; i++) {
		int32_t id = history[i];
		if (id < 0 || id >= s->vocab_size || s->seen[id])
			continue;
		s->seen[id] = 1;
		logits[id] = logits[id] > 0 ? logits[id] / r : logits[id] * r;
	}
	for (size_t i = 0; i < len; i++)
		if (history[i] >= 0 && history[i] < s->vocab_size)
			s->seen[history[i]] = 0;
}

/* c's sort key, 32 + id_bits bits: ascending keys are descending logits, then
 * ascending ids (-0 and +0 the same logit), so that the order is the one order of the
 * candidates.  The fewer the key's bits, the fewer the radix sort's passes. */
static uint64_t candidate_key(const struct candidate *c, int id_bits)
{
	float logit = c->logit == 0 ? 0.0f : c->logit;
	uint32_t bits;
	memcpy(&bits, &logit, sizeof bits);
	uint32_t ascending = (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
	return (uint64_t)~ascending << id_bits | (uint32_t)c->id;
}

/* The candidate of a key (a zero logit comes back +0, which every use treats as it
 * treats -0). */
static struct candidate key_candidate(uint64_t key, int id_bits)
{
	uint32_t ascending = ~(uint32_t)(key >> id_bits);
	uint32_t bits = (ascending & 0x80000000u) ? ascending & 0x7fffffffu : ~ascending;
	float logit;
	memcpy(&logit, &bits, sizeof logit);
	return (struct candidate){logit, (int32_t)(key & (((uint64_t)1 << id_bits) - 1))};
}

/* Sorts keys[0..n) of key_bits bits ascending through other: a least-significant-digit
 * radix sort (every digit's histogram from one read) that skips the digits every key
 * shares (the top of the logits' when they are close).  Returns the buffer that holds
 * the result. */
static uint64_t *radix_sort(uint64_t *keys, uint64_t *other, size_t n, int key_bits)
{
	enum { MAX_DIGITS = (64 + RADIX_BITS - 1) / RADIX_BITS };
	static_assert(MAX_DIGITS * RADIX_BUCKETS * sizeof(uint32_t) <= 64 * 1024, "the histograms fit the stack");
	uint32_t count[MAX_DIGITS][RADIX_BUCKETS];
	const int digits = (key_bits + RADIX_BITS - 1) / RADIX_BITS;
	memset(count, 0, sizeof count);
	for (size_t i = 0; i < n; i++)
		for (int d = 0; d < digits; d++)
			count[d][keys[i] >> (d * RADIX_BITS) & (RADIX_BUCKETS - 1)]++;
	for (int d = 0; d < digits; d++) {
		const int shift = d * RADIX_BITS;
		uint32_t *c = count[d];
		if (c[keys[0] >> shift & (RADIX_BUCKETS - 1)] == n)
			continue;   /* one digit for all: this pass would keep the order */
		uint32_t start = 0;
		for (size_t b = 0; b < RADIX_BUCKETS; b++) {
			uint32_t k = c[b];
			c[b] = start;
			start += k;
		}
		for (size_t i = 0; i < n; i++)
			other[c[keys[i] >> shift & (RADIX_BUCKETS - 1)]++] = keys[i];
		uint64_t *t = keys;
		keys = other;
		other = t;
	}
	return keys;
}

/* Sorts c[0..n) by candidate_key. */
static void sort_candidates(struct sampler *s, struct candidate *c, size_t n)
{
	if (n < 2)
		return;
	for (size_t i = 0; i < n; i++)
		s->keys[i] = candidate_key(&c[i], s->id_bits);
	const uint64_t *sorted = radix_sort(s->keys, s->keys_other, n, 32 + s->id_bits);
	for (size_t i = 0; i < n; i++)
		c[i] = key_candidate(sorted[i], s->id_bits);
}

/* Moves the candidates whose logit is >= threshold to the front; returns how many. */
static size_t partition_at_least(struct candidate *c, size_t n, float threshold)
{
	size_t front = 0;
	for (size_t i = 0; i < n; i++) {
		if (c[i].logit >= threshold) {
			struct candidate t = c[front];
			c[front++] = c[i];
			c[i] = t;
		}
	}
	return front;
}

/* The smallest of the k largest logits seen so far at heap[0]: logit replaces it when
 * larger, sifted down to keep heap[0..k) a min-heap. */
static void heap_offer(float *heap, size_t k, float logit)
{
	if (!(logit > heap[0]))
		return;
	size_t i = 0;
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= k)
			break;
		if (child + 1 < k && heap[child + 1] < heap[child])
			child++;
		if (!(heap[child] < logit))
			break;
		heap[i] = heap[child];
		i = child;
	}
	heap[i] = logit;
}

#define HEAP_MAX_K 1024   /* top-k up to this by a heap on the stack (4 KB), past it by quickselect */

/* The k-th largest logit (k >= 1, k <= n).  Up to HEAP_MAX_K by one read through a
 * min-heap of the k largest, leaving c's order as it is; past it by quickselect on
 * a scratch order of c. */
static float kth_largest(struct candidate *c, size_t n, size_t k)
{
	if (k <= HEAP_MAX_K) {
		float heap[HEAP_MAX_K];
		for (size_t i = 0; i < k; i++) {   /* the first k, as a min-heap */
			size_t j = i;
			for (; j > 0 && c[i].logit < heap[(j - 1) / 2]; j = (j - 1) / 2)
				heap[j] = heap[(j - 1) / 2];
			heap[j] = c[i].logit;
		}
		for (size_t i = k; i < n; i++)
			heap_offer(heap, k, c[i].logit);
		return heap[0];
	}

	size_t lo = 0, hi = n;   /* the answer is at index k-1 of the descending order within [lo, hi) */
	size_t want = k - 1;
	while (hi - lo > 1) {
		float pivot = c[lo + (hi - lo) / 2].logit;
		size_t greater = lo, equal_end;
		for (size_t i = lo; i < hi; i++)
			if (c[i].logit > pivot) {
				struct candidate t = c[greater];
				c[greater++] = c[i];
				c[i] = t;
			}
		equal_end = greater;
		for (size_t i = greater; i < hi; i++)
			if (c[i].logit == pivot) {
				struct candidate t = c[equal_end];
				c[equal_end++] = c[i];
				c[i] = t;
			}
		if (want < greater)
			hi = greater;
		else if (want < equal_end)
			return pivot;
		else
			lo = equal_end;
	}
	return c[lo].logit;
}

/* Keeps the top-p prefix of candidates[0..n) (in descending order on return).
 * Only the head of the distribution is sorted: the candidates within `spread` of
 * the best are sorted when their mass already reaches top_p, else the spread
 * doubles. */
static size_t top_p_prefix(struct sampler *s, struct candidate *c, size_t n, double max, double total,
			   double top_p)
{
	const double *weight = s->weight_by_id;
	for (float spread = 16; ; spread *= 2) {
		size_t head = partition_at_least(c, n, (float)(max - spread));
		double mass = 0;
		for (size_t i = 0; i < head; i++)
			mass += weight[c[i].id] / total;
		if (mass < top_p && head < n && spread < 1e30f)
			continue;
		sort_candidates(s, c, head);
		double before = 0;
		size_t keep = 0;
		while (keep < head && before < top_p) {
			before += weight[c[keep].id] / total;
			keep++;
		}
		return keep;
	}
}

/* The penalty, temperature and filters of sampler_sample: the kept candidates are
 * s->candidates[0..return value), their largest logit *max; kept (may be NULL)
 * receives the counts.  0 when no logit is a number above -inf. */
static size_t filter(struct sampler *s, float *logits, const int32_t *history, size_t history_len, float *max_out,
		     struct sampler_kept *kept)
{
	const struct sampler_settings *set = &s->settings;
	struct sampler_kept counts = {0, 0, 0, 0};
	size_t n = 0;
	float max = -INFINITY;
	apply_repetition_penalty(s, logits, history, history_len);
	for (int32_t i = 0; i < s->vocab_size; i++) {
		float l = set->temperature > 0 ? logits[i] / set->temperature : logits[i];
		if (!isnan(l) && l != -INFINITY) {
			s->candidates[n++] = (struct candidate){l, i};
			max = l > max ? l : max;
		}
	}
	counts.valid = n;
	if (n > 0 && set->top_k > 0 && (size_t)set->top_k < n)   /* ties with the k-th stay, as in transformers */
		n = partition_at_least(s->candidates, n, kth_largest(s->candidates, n, (size_t)set->top_k));
	counts.after_top_k = n;
	const bool top_p = n > 0 && set->top_p < 1;
	if (top_p) {
		double total = 0;
		for (size_t i = 0; i < n; i++) {
			const struct candidate *c = &s->candidates[i];
			s->weight_by_id[c->id] = exp((double)c->logit - max);
			total += s->weight_by_id[c->id];
		}
		n = top_p_prefix(s, s->candidates, n, max, total, set->top_p);
	}
	counts.after_top_p = n;
	if (n > 0 && set->min_p > 0)   /* p < min_p * p_top  <=>  logit < max + log(min_p) */
		n = partition_at_least(s->candidates, n, (float)(max + log(set->min_p)));
	counts.after_min_p = n;
	if (!top_p)   /* top-p weighed the candidates it kept */
		for (size_t i = 0; i < n; i++)
			s->weight_by_id[s->candidates[i].id] = exp((double)s->candidates[i].logit - max);
	if (kept)
		*kept = counts;
	*max_out = max;
	return n;
}

int32_t sampler_sample(struct sampler *sampler, float *logits, const int32_t *history, size_t history_len)
{
	struct sampler *s = sampler;
	if (s->settings.temperature == 0) {
		apply_repetition_penalty(s, logits, history, history_len);
		return (int32_t)numerics_argmax(logits, (size_t)s->vocab_size);
	}
	float max;
	size_t n = filter(s, logits, history, history_len, &max, NULL);
	if (n == 0)
		return (int32_t)numerics_argmax(logits, (size_t)s->vocab_size);

	double total = 0;
	for (size_t i = 0; i < n; i++)
		total += s->weight_by_id[s->candidates[i].id];
	double r = uniform(s) * total, cumulative = 0;
	for (size_t i = 0; i < n; i++) {
		cumulative += s->weight_by_id[s->candidates[i].id];
		if (r < cumulative)
			return s->candidates[i].id;
	}
	return s->candidates[n - 1].id;
}

bool sampler_accept_proposal(struct sampler *sampler, float *logits, const int32_t *history, size_t history_len,
			     int32_t token, int32_t *next)
{
	struct sampler *s = sampler;
	float max;
	size_t n = s->settings.temperature > 0 ? filter(s, logits, history, history_len, &max, NULL) : 0;
	if (n == 0) {   /* greedy (or nothing left to draw from): the argmax or not */
		if (s->settings.temperature == 0)
			apply_repetition_penalty(s, logits, history, history_len);
		int32_t best = (int32_t)numerics_argmax(logits, (size_t)s->vocab_size);
		if (best == token)
			return true;
		*next = best;
		return false;
	}
	double total = 0, proposed = 0;
	for (size_t i = 0; i < n; i++) {
		double w = s->weight_by_id[s->candidates[i].id];
		total += w;
		if (s->candidates[i].id == token)
			proposed = w;
	}
	if (uniform(s) * total < proposed)
		return true;
	/* rejected: the residual max(0, p - q) is p with token taken out */
	double r = uniform(s) * (total - proposed), cumulative = 0;
	int32_t last = -1;
	for (size_t i = 0; i < n; i++) {
		if (s->candidates[i].id == token)
			continue;
		last = s->candidates[i].id;
		cumulative += s->weight_by_id[s->candidates[i].id];
		if (r < cumulative)
			break;
	}
	*next = last;
	return false;
}

bool sampler_picks_argmax(const struct sampler *sampler)
{
	return sampler->settings.temperature == 0 && sampler->settings.repeat_penalty == 1;
}

double sampler_uniform(struct sampler *sampler)
{
	return uniform(sampler);
}

void sampler_count_kept(struct sampler *sampler, float *logits, const int32_t *history, size_t history_len,
			struct sampler_kept *kept)
{
	float max;
	filter(sampler, logits, history, history_len, &max, kept);
}
