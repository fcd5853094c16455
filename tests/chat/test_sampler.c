/*
 * test_sampler.c - the sampler's filters follow transformers' rules; the draw is
 * reproducible from the seed and follows the probabilities.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "tap.h"

#define V 8

static struct sampler *make(float temperature, float top_p, float min_p, float penalty, int top_k, uint64_t seed)
{
	struct sampler_settings s = {temperature, top_p, min_p, penalty, top_k, seed};
	struct sampler *out = NULL;
	char err[256];
	if (sampler_create(V, &s, &out, err, sizeof err) != 0)
		tap_diag("sampler_create: %s", err);
	return out;
}

/* How often each id is drawn in n draws from fixed logits. */
static void histogram(struct sampler *s, const float *logits, int n, int *counts)
{
	float work[V];
	memset(counts, 0, V * sizeof *counts);
	for (int i = 0; i < n; i++) {
		memcpy(work, logits, sizeof work);
		counts[sampler_sample(s, work, NULL, 0)]++;
	}
}

/* ---- a vocabulary of Llama 3's size with flat logits, many ties and both zeros ---- */

#define BIG_V 128256

struct ranked {
	float logit;
	int32_t id;
};

/* The order top-p reads: descending logits, then ascending ids (-0 equals +0). */
static int ranked_compare(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit > y->logit ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* The token sampler.h's rules draw with uniform number u at temperature 1 and top-p
 * top_p, written out plainly: the mass summed in id order, the candidates sorted by
 * qsort, the prefix kept while the mass before it is below top_p, then the draw over
 * the kept ones in that order.  *kept gets the prefix's length. */
static int32_t reference_top_p_draw(const float *logits, int n, double top_p, double u, struct ranked *r,
				    size_t *kept)
{
	float max = -INFINITY;
	for (int i = 0; i < n; i++)
		max = logits[i] > max ? logits[i] : max;
	double total = 0;
	for (int i = 0; i < n; i++) {
		total += exp((double)logits[i] - max);
		r[i] = (struct ranked){logits[i], i};
	}
	qsort(r, (size_t)n, sizeof *r, ranked_compare);
	double before = 0;
	size_t keep = 0;
	while (keep < (size_t)n && before < top_p)
		before += exp((double)r[keep++].logit - max) / total;
	double kept_total = 0, cumulative = 0;
	for (size_t i = 0; i < keep; i++)
		kept_total += exp((double)r[i].logit - max);
	*kept = keep;
	double x = u * kept_total;
	for (size_t i = 0; i < keep; i++) {
		cumulative += exp((double)r[i].logit - max);
		if (x < cumulative)
			return r[i].id;
	}
	return r[keep - 1].id;
}

/* Flat logits (nearly uniform: every candidate in the head top-p sorts) with runs of
 * equal values, +0 and -0: sampler_sample and sampler_count_kept against the plain
 * reference, draw by draw with the same generator. */
static void check_flat_top_p(void)
{
	float *logits = malloc(BIG_V * sizeof *logits), *work = malloc(BIG_V * sizeof *work);
	struct ranked *r = malloc(BIG_V * sizeof *r);
	srand(7);
	for (int i = 0; i < BIG_V; i++)
		logits[i] = (float)(rand() % 2001 - 1000) / 4000.0f;   /* 2001 values: ties everywhere */
	for (int i = 0; i < BIG_V; i += 37)
		logits[i] = i % 74 ? 0.0f : -0.0f;
	const float top_ps[] = {0.9f, 0.5f, 0.01f};
	for (size_t k = 0; k < sizeof top_ps / sizeof top_ps[0]; k++) {
		struct sampler_settings set = {1, top_ps[k], 0, 1, 0, 1234 + k};
		struct sampler *s = NULL, *twin = NULL;
		char err[256];
		if (sampler_create(BIG_V, &set, &s, err, sizeof err) != 0 ||
		    sampler_create(BIG_V, &set, &twin, err, sizeof err) != 0) {
			tap_ok(0, "sampler_create: %s", err);
			break;
		}
		struct sampler_kept counts;
		memcpy(work, logits, BIG_V * sizeof *work);
		sampler_count_kept(s, work, NULL, 0, &counts);
		int same = 1;
		size_t kept = 0;
		for (int d = 0; d < 20; d++) {
			memcpy(work, logits, BIG_V * sizeof *work);
			int32_t drawn = sampler_sample(s, work, NULL, 0);
			same &= drawn == reference_top_p_draw(logits, BIG_V, top_ps[k], sampler_uniform(twin), r, &kept);
		}
		tap_ok(counts.after_top_p == kept, "flat %d logits, top-p %g: %zu kept, as the plain rule keeps (%zu)",
		       BIG_V, top_ps[k], counts.after_top_p, kept);
		tap_ok(same, "flat logits, top-p %g: 20 draws the plain rule's, token for token", top_ps[k]);
		sampler_free(s);
		sampler_free(twin);
	}
	free(logits);
	free(work);
	free(r);
}

static int descending_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x < y) - (x > y);
}

/* Top-k over the flat, tied logits, through the heap (k up to 1024) and quickselect
 * (past it): every logit tied with the k-th largest stays, as the plain rule keeps. */
static void check_flat_top_k(void)
{
	float *logits = malloc(BIG_V * sizeof *logits), *work = malloc(BIG_V * sizeof *work);
	srand(11);
	for (int i = 0; i < BIG_V; i++)
		logits[i] = i % 29 ? (float)(rand() % 3001 - 1500) / 1000.0f : (i % 58 ? 0.0f : -0.0f);
	memcpy(work, logits, BIG_V * sizeof *work);
	qsort(work, BIG_V, sizeof *work, descending_float);
	const int ks[] = {1, 40, 1024, 1025, 50000};
	for (size_t j = 0; j < sizeof ks / sizeof ks[0]; j++) {
		const float kth = work[ks[j] - 1];
		size_t want = 0;
		for (int i = 0; i < BIG_V; i++)
			want += logits[i] >= kth;
		struct sampler_settings set = {1, 1, 0, 1, ks[j], 5};
		struct sampler *s = NULL;
		char err[256];
		float *row = malloc(BIG_V * sizeof *row);
		struct sampler_kept counts = {0, 0, 0, 0};
		if (sampler_create(BIG_V, &set, &s, err, sizeof err) == 0) {
			memcpy(row, logits, BIG_V * sizeof *row);
			sampler_count_kept(s, row, NULL, 0, &counts);
		}
		tap_ok(counts.after_top_k == want, "flat tied logits, top-k %d: %zu kept, every tie with the k-th (%zu)",
		       ks[j], counts.after_top_k, want);
		sampler_free(s);
		free(row);
	}
	free(logits);
	free(work);
}

int main(void)
{
	/* probabilities at temperature 1: softmax of log(p) is p */
	const double p[V] = {0.30, 0.25, 0.20, 0.10, 0.08, 0.04, 0.02, 0.01};
	float logits[V], work[V];
	int counts[V];
	for (int i = 0; i < V; i++)
		logits[i] = (float)log(p[i]);

	struct sampler *s = make(0, 1, 0, 1, 0, 1);
	float tie[V] = {1, 3, 2, 3, 0, -1, 3, 0};
	tap_ok(sampler_sample(s, tie, NULL, 0) == 1, "temperature 0 is argmax, lowest id on ties");
	float pen[V] = {1, 3, 2, 2.9f, 0, -1, 2.8f, 0};
	int32_t hist[] = {1, 1, 5};
	tap_ok(sampler_sample(s, pen, hist, 3) == 1 && pen[1] == 3 && pen[5] == -1, "penalty 1 changes nothing");
	sampler_free(s);

	s = make(0, 1, 0, 1.5f, 0, 1);
	float pen2[V] = {1, 3, 2, 2.9f, 0, -1, 2.8f, 0};
	int32_t seen[] = {1, 1, 5, 5};
	tap_ok(sampler_sample(s, pen2, seen, 4) == 3 && pen2[1] == 2.0f && pen2[5] == -1.5f && pen2[3] == 2.9f,
	       "repetition penalty: positive logits divided, negative multiplied, once per distinct token");
	sampler_free(s);

	s = make(1, 1, 0, 1, 0, 42);
	histogram(s, logits, 20000, counts);
	int close = 1;
	for (int i = 0; i < V; i++)
		close &= fabs(counts[i] / 20000.0 - p[i]) < 0.015;
	tap_ok(close, "temperature 1 draws follow the softmax (20000 draws; p0 %.3f, p7 %.3f)",
	       counts[0] / 20000.0, counts[7] / 20000.0);
	sampler_free(s);

	s = make(1, 1, 0, 1, 3, 42);
	histogram(s, logits, 3000, counts);
	tap_ok(counts[0] && counts[1] && counts[2] && !counts[3] && !counts[4] && !counts[7], "top-k 3 keeps the 3 most likely");
	sampler_free(s);

	float ties[V] = {3, 1, 3, 0, 3, -1, -2, 2.9f};
	s = make(1, 1, 0, 1, 2, 42);
	histogram(s, ties, 3000, counts);
	tap_ok(counts[0] && counts[2] && counts[4] && !counts[1] && !counts[7],
	       "top-k 2 keeps every token tied with the 2nd (transformers' threshold rule)");
	sampler_free(s);

	/* top-p 0.6: mass before id0 = 0 < .6 keep, before id1 = .30 keep, before id2 = .55 keep,
	 * before id3 = .75 stop */
	s = make(1, 0.6f, 0, 1, 0, 42);
	histogram(s, logits, 3000, counts);
	tap_ok(counts[0] && counts[1] && counts[2] && !counts[3], "top-p 0.6 keeps the smallest prefix whose mass reaches 0.6");
	sampler_free(s);
	s = make(1, 0.1f, 0, 1, 0, 42);
	histogram(s, logits, 500, counts);
	tap_ok(counts[0] == 500, "top-p below the top probability keeps one token");
	sampler_free(s);

	/* min-p 0.3: keep p >= 0.3 * 0.30 = 0.09 -> ids 0..3 */
	s = make(1, 1, 0.3f, 1, 0, 42);
	histogram(s, logits, 4000, counts);
	tap_ok(counts[3] && !counts[4] && !counts[7], "min-p 0.3 drops tokens below 0.3 x the top probability");
	sampler_free(s);

	/* temperature sharpens: at T = 0.5, p ~ p^2 */
	s = make(0.5f, 1, 0, 1, 0, 42);
	histogram(s, logits, 20000, counts);
	double z = 0;
	for (int i = 0; i < V; i++)
		z += p[i] * p[i];
	tap_ok(fabs(counts[0] / 20000.0 - p[0] * p[0] / z) < 0.015, "temperature 0.5 squares the probabilities (p0 %.3f, want %.3f)",
	       counts[0] / 20000.0, p[0] * p[0] / z);
	sampler_free(s);

	struct sampler *a = make(0.8f, 0.95f, 0, 1, 0, 1234), *b = make(0.8f, 0.95f, 0, 1, 0, 1234);
	struct sampler *c = make(0.8f, 0.95f, 0, 1, 0, 1235);
	int same = 1, differs = 0;
	for (int i = 0; i < 200; i++) {
		float wa[V], wb[V], wc[V];
		memcpy(wa, logits, sizeof wa);
		memcpy(wb, logits, sizeof wb);
		memcpy(wc, logits, sizeof wc);
		int32_t ta = sampler_sample(a, wa, NULL, 0), tb = sampler_sample(b, wb, NULL, 0);
		same &= ta == tb;
		differs |= ta != sampler_sample(c, wc, NULL, 0);
	}
	tap_ok(same, "the same seed draws the same 200 tokens");
	tap_ok(differs, "another seed draws other tokens");
	sampler_free(a);
	sampler_free(b);
	sampler_free(c);

	memcpy(work, logits, sizeof work);
	work[2] = -INFINITY;
	s = make(1, 1, 0, 1, 0, 3);
	int never = 1;
	for (int i = 0; i < 500; i++) {
		float w2[V];
		memcpy(w2, work, sizeof w2);
		never &= sampler_sample(s, w2, NULL, 0) != 2;
	}
	tap_ok(never, "a -inf logit is never drawn");
	sampler_free(s);

	/* the counts each filter keeps (what the GPU's draw is checked against): logits
	 * 3, 2, 2, 1, 0, -inf, NaN, 2 at temperature 1 */
	const float row[V] = {3, 2, 2, 1, 0, -INFINITY, NAN, 2};
	struct sampler_kept kept;
	s = make(1, 1, 0, 1, 2, 0);   /* top-k 2: the three 2s tie with the 2nd */
	memcpy(work, row, sizeof work);
	sampler_count_kept(s, work, NULL, 0, &kept);
	tap_ok(kept.valid == 6 && kept.after_top_k == 4 && kept.after_top_p == 4 && kept.after_min_p == 4,
	       "count_kept: NaN and -inf are not candidates, top-k keeps ties with the k-th (%zu, %zu)", kept.valid,
	       kept.after_top_k);
	sampler_free(s);
	/* softmax over 3, 2, 2, 2, 1, 0: p(3) = 0.437; the mass before the 3rd token
	 * (0.437 + 0.161 = 0.598) is below 0.6, before the 4th (0.758) is not */
	s = make(1, 0.6f, 0, 1, 0, 0);
	memcpy(work, row, sizeof work);
	sampler_count_kept(s, work, NULL, 0, &kept);
	tap_ok(kept.after_top_k == 6 && kept.after_top_p == 3, "count_kept: top-p 0.6 keeps 3 (%zu)", kept.after_top_p);
	sampler_free(s);
	s = make(1, 1, 0.3f, 1, 0, 0);   /* e^-1 = 0.37 >= 0.3 > e^-2 */
	memcpy(work, row, sizeof work);
	sampler_count_kept(s, work, NULL, 0, &kept);
	tap_ok(kept.after_min_p == 4, "count_kept: min-p 0.3 keeps the logits within log(0.3) of the top (%zu)",
	       kept.after_min_p);
	sampler_free(s);
	const int32_t seen_top[1] = {0};   /* penalty 3 on the 3: it becomes 1, the top is 2, and 1 >= 2 + log(0.3) */
	s = make(1, 1, 0.3f, 3, 0, 0);
	memcpy(work, row, sizeof work);
	sampler_count_kept(s, work, seen_top, 1, &kept);
	tap_ok(kept.after_min_p == 5 && work[0] == 1, "count_kept: the penalty comes first (%zu kept)", kept.after_min_p);
	sampler_free(s);

	/* sampler_uniform: the generator sampler_sample draws with, in [0, 1), by the seed */
	a = make(1, 1, 0, 1, 0, 77);
	b = make(1, 1, 0, 1, 0, 77);
	int uniform_same = 1, uniform_range = 1;
	double first_uniform = sampler_uniform(a);
	sampler_uniform(b);
	for (int i = 0; i < 100; i++) {
		double x = sampler_uniform(a), y = sampler_uniform(b);
		uniform_same &= x == y;
		uniform_range &= x >= 0 && x < 1;
	}
	tap_ok(uniform_same && uniform_range && first_uniform != sampler_uniform(a),
	       "sampler_uniform repeats with the seed, in [0, 1)");
	sampler_free(a);
	sampler_free(b);

	struct sampler_settings bad = {-1, 1, 0, 1, 0, 0};
	char err[256];
	tap_ok(sampler_create(V, &bad, &s, err, sizeof err) != 0, "a negative temperature is refused: %s", err);
	check_flat_top_p();
	check_flat_top_k();
	return tap_done();
}
