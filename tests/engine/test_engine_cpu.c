/*
 * test_engine_cpu.c - the CPU forward pass against an independent float64 Llama
 * written here from the definitions (transformers' LlamaForCausalLM with the
 * llama3 RoPE, vLLM's 8-bit linear semantics), on synthetic models: BF16 (tied
 * and untied), FP8 static and dynamic, INT8 dynamic and static; GQA.  Then the
 * engine's own promises: a prefill equals token-by-token decoding bit for bit,
 * rewinding forgets, an overflowing forward fails and changes nothing.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>

#include "engine.h"
#include "reference_linear.h"
#include "synthetic_model.h"
#include "tap.h"

/* ---- the float64 reference ------------------------------------------------- */

static void ref_linear(const struct linear *L, const double *x, double *y)
{
	int64_t n = L->in_features;
	double amax = 0;
	for (int64_t i = 0; i < n; i++)
		amax = fmax(amax, fabs(x[i]));
	double s = ref_activation_scale(L, amax);
	double *xq = malloc((size_t)n * sizeof *xq);
	for (int64_t i = 0; i < n; i++)
		xq[i] = ref_quantize(L, x[i], s);
	for (int64_t r = 0; r < L->out_features; r++) {
		double sum = 0;
		for (int64_t i = 0; i < n; i++)
			sum += xq[i] * ref_weight(L, r * n + i);
		y[r] = sum * ref_output_scale(L, s, r);
	}
	free(xq);
}

static void ref_rmsnorm(double *out, const double *x, const struct norm *w, int n, double eps)
{
	double ss = 0;
	for (int i = 0; i < n; i++)
		ss += x[i] * x[i];
	double inv = 1 / sqrt(ss / n + eps);
	for (int i = 0; i < n; i++)
		out[i] = w->weight[i] * x[i] * inv;
}

/* transformers' _compute_llama3_parameters, in double */
static double ref_inv_freq(const struct model_config *c, int i)
{
	double inv = 1 / pow(c->rope_theta, 2.0 * i / c->head_dim);
	double wavelen = 2 * M_PI / inv;
	double low_wavelen = c->rope_original_max_position_embeddings / c->rope_low_freq_factor;
	double high_wavelen = c->rope_original_max_position_embeddings / c->rope_high_freq_factor;
	if (wavelen < high_wavelen)
		return inv;
	if (wavelen > low_wavelen)
		return inv / c->rope_factor;
	double smooth = (c->rope_original_max_position_embeddings / wavelen - c->rope_low_freq_factor) /
			(c->rope_high_freq_factor - c->rope_low_freq_factor);
	return (1 - smooth) * inv / c->rope_factor + smooth * inv;
}

static void ref_rope(const struct model_config *c, double *v, int heads, int pos)
{
	int half = c->head_dim / 2;
	for (int h = 0; h < heads; h++) {
		double *x = v + h * c->head_dim, rotated[256];
		for (int i = 0; i < c->head_dim; i++) {
			int j = i % half;
			double angle = pos * ref_inv_freq(c, j);
			/* x * cos + rotate_half(x) * sin, rotate_half(x) = (-x2, x1) */
			double r = i < half ? -x[i + half] : x[i - half];
			rotated[i] = x[i] * cos(angle) + r * sin(angle);
		}
		memcpy(x, rotated, (size_t)c->head_dim * sizeof *x);
	}
}

/* logits[t][vocab] for the whole sequence, computed from scratch. */
/* The KV cache's rounding of k and v (--kv-cache): none (float32; the engine's
 * float32 is the reference's double), bfloat16 (8 significant bits, nearest even),
 * or e4m3 (saturating, scale 1). */
static double ref_bf16(double v)
{
	int e;
	double m = frexp(v, &e);
	return v == 0 ? 0 : ldexp(nearbyint(ldexp(m, 8)), e - 8);
}

static double ref_kv(enum engine_kv_cache kv, double v)
{
	return kv == ENGINE_KV_BF16 ? ref_bf16(v) : kv == ENGINE_KV_FP8 ? ref_e4m3(v) : v;
}

static void ref_forward(const struct model *m, const int32_t *tokens, int n, double *logits, enum engine_kv_cache kv_cache)
{
	const struct model_config *c = &m->config;
	int dim = c->hidden_size, hd = c->head_dim, heads = c->num_attention_heads;
	int kvh = c->num_key_value_heads, q_dim = heads * hd, kv_dim = kvh * hd, inter = c->intermediate_size;
	double *x = calloc((size_t)n * dim, sizeof *x), *h = calloc(dim > q_dim ? dim : q_dim, sizeof *h);
	double *q = calloc((size_t)n * q_dim, sizeof *q), *k = calloc((size_t)n * kv_dim, sizeof *k);
	double *v = calloc((size_t)n * kv_dim, sizeof *v), *att = calloc((size_t)n * q_dim, sizeof *att);
	double *o = calloc(dim, sizeof *o), *g = calloc(inter, sizeof *g), *u = calloc(inter, sizeof *u);
	double *w = calloc(n, sizeof *w);

	for (int t = 0; t < n; t++)
		for (int i = 0; i < dim; i++) {
			uint32_t b = (uint32_t)((const uint16_t *)m->embed_tokens)[(int64_t)tokens[t] * dim + i] << 16;
			float f;
			memcpy(&f, &b, 4);
			x[t * dim + i] = f;
		}
	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct layer_weights *L = &m->layers[l];
		for (int t = 0; t < n; t++) {
			ref_rmsnorm(h, x + t * dim, &L->input_layernorm, dim, c->rms_norm_eps);
			ref_linear(&L->q_proj, h, q + t * q_dim);
			ref_linear(&L->k_proj, h, k + t * kv_dim);
			ref_linear(&L->v_proj, h, v + t * kv_dim);
			ref_rope(c, q + t * q_dim, heads, t);
			ref_rope(c, k + t * kv_dim, kvh, t);
			for (int i = 0; i < kv_dim; i++) {
				k[t * kv_dim + i] = ref_kv(kv_cache, k[t * kv_dim + i]);
				v[t * kv_dim + i] = ref_kv(kv_cache, v[t * kv_dim + i]);
			}
		}
		for (int t = 0; t < n; t++)
			for (int hh = 0; hh < heads; hh++) {
				int kv = hh / (heads / kvh);
				double max = -INFINITY, sum = 0;
				for (int j = 0; j <= t; j++) {
					double d = 0;
					for (int i = 0; i < hd; i++)
						d += q[t * q_dim + hh * hd + i] * k[j * kv_dim + kv * hd + i];
					w[j] = d / sqrt(hd);
					max = fmax(max, w[j]);
				}
				for (int j = 0; j <= t; j++)
					sum += (w[j] = exp(w[j] - max));
				for (int i = 0; i < hd; i++) {
					double a = 0;
					for (int j = 0; j <= t; j++)
						a += w[j] / sum * v[j * kv_dim + kv * hd + i];
					att[t * q_dim + hh * hd + i] = a;
				}
			}
		for (int t = 0; t < n; t++) {
			ref_linear(&L->o_proj, att + t * q_dim, o);
			for (int i = 0; i < dim; i++)
				x[t * dim + i] += o[i];
			ref_rmsnorm(h, x + t * dim, &L->post_attention_layernorm, dim, c->rms_norm_eps);
			ref_linear(&L->gate_proj, h, g);
			ref_linear(&L->up_proj, h, u);
			for (int i = 0; i < inter; i++)
				g[i] = g[i] / (1 + exp(-g[i])) * u[i];
			ref_linear(&L->down_proj, g, o);
			for (int i = 0; i < dim; i++)
				x[t * dim + i] += o[i];
		}
	}
	for (int t = 0; t < n; t++) {
		ref_rmsnorm(h, x + t * dim, &m->norm, dim, c->rms_norm_eps);
		ref_linear(&m->lm_head, h, logits + (size_t)t * c->vocab_size);
	}
	free(x); free(h); free(q); free(k); free(v); free(att); free(o); free(g); free(u); free(w);
}

/* ---- the tests ---------------------------------------------------------------- */

#define SEQ 40   /* longer than the engine's batch of 32: two batches */
#define VOCAB 100

static void make_tokens(int32_t *tokens, int n, int salt)
{
	for (int i = 0; i < n; i++)
		tokens[i] = (int32_t)((i * 37 + salt * 11 + 5) % VOCAB);
}

static double max_diff(const float *a, const double *b, size_t n, double *scale)
{
	double d = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs(a[i] - b[i]));
		s = fmax(s, fabs(b[i]));
	}
	*scale = s;
	return d;
}

static struct engine *make_engine_kv(const struct model *m, int ctx, int threads, enum engine_kv_cache kv_cache)
{
	struct engine_options o = {.backend = ENGINE_BACKEND_CPU, .context_length = ctx, .threads = threads,
				   .kv_cache = kv_cache};
	struct engine *e = NULL;
	char err[256];
	if (engine_create(m, &o, &e, err, sizeof err) != 0)
		tap_diag("engine_create: %s", err);
	return e;
}

static struct engine *make_engine(const struct model *m, int ctx, int threads)
{
	return make_engine_kv(m, ctx, threads, ENGINE_KV_F32);
}

static void check_against_reference_kv(const char *name, enum synthetic_kind kind, int tied, double tolerance,
				       enum engine_kv_cache kv_cache)
{
	static float logits[SEQ * VOCAB];
	static double want[SEQ * VOCAB];
	struct synthetic s;
	int32_t tokens[SEQ];
	char err[256];
	synthetic_model(&s, kind, tied, 99 + kind);
	make_tokens(tokens, SEQ, kind);
	struct engine *e = make_engine_kv(&s.model, 0, 2, kv_cache);
	if (!tap_ok(e != NULL, "%s: engine created", name)) {
		synthetic_free(&s);
		return;
	}
	int rc = engine_forward(e, tokens, SEQ, logits, true, err, sizeof err);
	ref_forward(&s.model, tokens, SEQ, want, kv_cache);
	double scale, d = max_diff(logits, want, (size_t)SEQ * VOCAB, &scale);
	tap_ok(rc == 0 && d <= tolerance * scale,
	       "%s: logits of %d positions match the float64 reference (max diff %.3g, largest logit %.3g, tolerance %.0e relative)",
	       name, SEQ, d, scale, tolerance);
	engine_free(e);
	synthetic_free(&s);
}

static void check_against_reference(const char *name, enum synthetic_kind kind, int tied, double tolerance)
{
	check_against_reference_kv(name, kind, tied, tolerance, ENGINE_KV_F32);
}

static void check_engine_promises(void)
{
	static float prefill[SEQ * VOCAB], step[SEQ * VOCAB], last[VOCAB], again[VOCAB];
	struct synthetic s;
	int32_t tokens[SEQ], other[SEQ];
	char err[256];
	synthetic_model(&s, SYNTHETIC_FP8_DYNAMIC, 0, 5);
	make_tokens(tokens, SEQ, 1);
	make_tokens(other, SEQ, 2);

	struct engine *e = make_engine(&s.model, 0, 2);
	tap_ok(e && engine_context_length(e) == 64, "context defaults to max_position_embeddings (64)");
	tap_ok(e && strstr(engine_describe(e), "CPU") && strstr(engine_describe(e), "2 threads"),
	       "engine_describe says CPU and its threads: %s", e ? engine_describe(e) : "");
	engine_forward(e, tokens, SEQ, prefill, true, err, sizeof err);
	engine_rewind(e, 0);
	int ok = 1;
	for (int i = 0; i < SEQ && ok; i++)
		ok = engine_forward(e, tokens + i, 1, step + i * VOCAB, false, err, sizeof err) == 0;
	tap_ok(ok && memcmp(prefill, step, sizeof prefill) == 0,
	       "a prefill of %d tokens equals %d single-token decodes, bit for bit", SEQ, SEQ);
	tap_ok(engine_position(e) == SEQ, "position counts the tokens (%d)", engine_position(e));

	engine_rewind(e, 0);
	engine_forward(e, tokens, SEQ, last, false, err, sizeof err);
	tap_ok(memcmp(last, prefill + (SEQ - 1) * VOCAB, sizeof last) == 0,
	       "without all_logits, the last token's logits are returned");

	/* rewind to 10, continue with other tokens: same as a fresh run of the mix */
	engine_rewind(e, 10);
	engine_forward(e, other, 20, last, false, err, sizeof err);
	int32_t mix[30];
	memcpy(mix, tokens, 10 * sizeof *mix);
	memcpy(mix + 10, other, 20 * sizeof *mix);
	struct engine *fresh = make_engine(&s.model, 0, 1);
	engine_forward(fresh, mix, 30, again, false, err, sizeof err);
	tap_ok(engine_position(e) == 30 && memcmp(last, again, sizeof last) == 0,
	       "after engine_rewind(10) the old tokens past 10 are forgotten (and 1 thread = 2 threads)");
	engine_free(fresh);

	/* overflow: fails, and the cache is as it was */
	int rc = engine_forward(e, other, 64 - 30 + 1, last, false, err, sizeof err);
	tap_ok(rc != 0 && engine_position(e) == 30 && strstr(err, "context"),
	       "a forward past the context fails with a message, position unchanged: %s", err);
	engine_rewind(e, 29);
	engine_forward(e, other + 19, 1, last, false, err, sizeof err);
	tap_ok(memcmp(last, again, sizeof last) == 0, "after the failed forward the cache still holds the sequence");
	rc = engine_forward(e, other, 64 - 30, NULL, false, err, sizeof err);
	tap_ok(rc == 0 && engine_position(e) == 64, "a forward that exactly fills the context works");
	/* greedy decoding: the argmax of forward's logits, in one call or two halves */
	engine_rewind(e, 10);
	engine_forward(e, tokens + 10, 1, last, false, err, sizeof err);
	int32_t want = 0, next = -1, next2 = -1;
	for (int i = 1; i < VOCAB; i++)
		if (last[i] > last[want])
			want = i;
	engine_rewind(e, 10);
	rc = engine_decode_greedy(e, tokens[10], &next, err, sizeof err);
	tap_ok(rc == 0 && next == want && engine_position(e) == 11,
	       "engine_decode_greedy gives the argmax of the logits (%d, want %d) and moves the position", next, want);
	engine_rewind(e, 10);
	rc = engine_decode_greedy_begin(e, tokens[10], err, sizeof err);
	int rc_twice = engine_decode_greedy_begin(e, tokens[10], err, sizeof err);
	tap_ok(rc == 0 && rc_twice != 0 && strstr(err, "not ended") && engine_position(e) == 10,
	       "a second begin before the end is refused, the position waits for the end: %s", err);
	rc = engine_decode_greedy_end(e, &next2, err, sizeof err);
	int rc_again = engine_decode_greedy_end(e, &next2, err, sizeof err);
	tap_ok(rc == 0 && next2 == want && engine_position(e) == 11 && rc_again != 0 && strstr(err, "no greedy step"),
	       "begin + end give the same token; an end without a begin is refused: %s", err);
	/* engine_forward_argmax: each row's argmax of engine_forward's logits, the position moved */
	static float rows[ENGINE_ARGMAX_MAX_ROWS * VOCAB];
	int32_t best[ENGINE_ARGMAX_MAX_ROWS + 1];
	engine_rewind(e, 10);
	engine_forward(e, tokens + 10, 9, rows, true, err, sizeof err);
	engine_rewind(e, 10);
	rc = engine_forward_argmax(e, tokens + 10, 9, best, err, sizeof err);
	int rows_right = 0;
	for (int r = 0; r < 9; r++) {
		int32_t row_best = 0;
		for (int i = 1; i < VOCAB; i++)
			if (rows[r * VOCAB + i] > rows[r * VOCAB + row_best])
				row_best = i;
		rows_right += best[r] == row_best;
	}
	tap_ok(rc == 0 && rows_right == 9 && engine_position(e) == 19,
	       "engine_forward_argmax of 9 tokens gives each row's argmax (%d of 9) and moves the position", rows_right);
	engine_rewind(e, 10);
	rc = engine_forward_argmax(e, tokens + 10, ENGINE_ARGMAX_MAX_ROWS + 1, best, err, sizeof err);
	tap_ok(rc != 0 && engine_position(e) == 10 && strstr(err, "more than 9"),
	       "engine_forward_argmax refuses more rows than it takes, the position stays: %s", err);
	engine_forward(e, tokens, SEQ, NULL, false, err, sizeof err);   /* to 50 */
	engine_forward(e, other, 10, NULL, false, err, sizeof err);     /* to 60 */
	rc = engine_forward_argmax(e, other, 5, best, err, sizeof err);
	tap_ok(rc != 0 && engine_position(e) == 60 && strstr(err, "context"), "... and a pass past the context: %s", err);
	engine_rewind(e, 11);
	/* the CPU engine does not draw itself: the caller samples the logits */
	struct engine_draw draw = {.temperature = 0.6f, .top_p = 0.9f, .repeat_penalty = 1, .uniform = 0.5};
	rc = engine_decode_sample_begin(e, tokens[11], &draw, err, sizeof err);
	tap_ok(!engine_draws_on_device(e) && rc != 0 && strstr(err, "does not draw") && engine_position(e) == 11 &&
	       engine_decode_sample_end(e, &next2, err, sizeof err) != 0,
	       "the CPU engine refuses a draw on the device, and the position stays: %s", err);

	engine_rewind(e, 0);
	int32_t bad = VOCAB;
	rc = engine_forward(e, &bad, 1, last, false, err, sizeof err);
	tap_ok(rc != 0 && engine_position(e) == 0 && strstr(err, "100"), "a token id outside the vocabulary is an error: %s", err);
	engine_free(e);

	struct engine_options o = {.backend = ENGINE_BACKEND_CPU, .context_length = 65, .threads = 1};
	rc = engine_create(&s.model, &o, &e, err, sizeof err);
	tap_ok(rc != 0 && strstr(err, "max_position_embeddings"), "a context beyond max_position_embeddings is refused: %s", err);
	s.model.config.num_key_value_heads = 3;
	rc = engine_create(&s.model, NULL, &e, err, sizeof err);
	tap_ok(rc != 0 && strstr(err, "num_key_value_heads (3)"), "a bad head count is refused: %s", err);
	synthetic_free(&s);
}

/* engine_prefill: the same bits as one engine_forward, whatever the cut into
 * batches; a cancel stops it with the position where it began. */
static void check_prefill(void)
{
	static float one_call[VOCAB], pieces[VOCAB];
	struct synthetic s;
	int32_t tokens[64];
	char err[256];
	synthetic_model(&s, SYNTHETIC_BF16, 0, 11);
	make_tokens(tokens, 64, 3);
	struct engine *e = make_engine(&s.model, 0, 2);
	/* the CPU batch is 32: 33 is one piece, 34 two (32 + 2), 63 two (32 + 31) */
	const int counts[] = {5, 33, 34, 63};
	for (int i = 0; i < 4; i++) {
		int n = counts[i];
		engine_rewind(e, 0);
		int rc1 = engine_forward(e, tokens, (size_t)n, one_call, false, err, sizeof err);
		engine_rewind(e, 0);
		int rc2 = engine_prefill(e, tokens, (size_t)n, pieces, NULL, err, sizeof err);
		tap_ok(rc1 == 0 && rc2 == 0 && engine_position(e) == n && memcmp(one_call, pieces, sizeof pieces) == 0,
		       "a prefill of %d tokens in pieces gives one forward's logits, bit for bit", n);
	}
	engine_rewind(e, 7);
	atomic_bool cancel = true;
	int rc = engine_prefill(e, tokens + 7, 40, pieces, &cancel, err, sizeof err);
	tap_ok(rc == 1 && engine_position(e) == 7, "a cancel set stops the prefill: 1, position where it began (%d)",
	       engine_position(e));
	atomic_store(&cancel, false);
	rc = engine_prefill(e, tokens, 58, pieces, &cancel, err, sizeof err);
	tap_ok(rc != 0 && engine_position(e) == 7 && strstr(err, "context"),
	       "a prefill past the context fails before anything runs: %s", err);
	engine_free(e);
	synthetic_free(&s);
}

/* NaN weights: an error naming NaN logits and the position, never a token. */
static void check_nan_logits(void)
{
	static float logits[SEQ * VOCAB];
	struct synthetic s;
	int32_t tokens[SEQ], next = -1;
	char err[256];
	synthetic_model(&s, SYNTHETIC_BF16, 0, 12);
	make_tokens(tokens, SEQ, 4);
	s.model.norm.weight[3] = NAN;   /* the final norm: every logit NaN */
	struct engine *e = make_engine(&s.model, 0, 2);
	int rc = engine_forward(e, tokens, 10, logits, false, err, sizeof err);
	tap_ok(rc != 0 && engine_position(e) == 0 && strstr(err, "NaN logits at position 9") &&
	       strstr(err, "weights or config values are broken"),
	       "NaN weights: forward fails, position unchanged: %s", err);
	rc = engine_forward(e, tokens, 10, logits, true, err, sizeof err);
	tap_ok(rc != 0 && strstr(err, "NaN logits at position 0"), "... with all logits, the first position: %s", err);
	rc = engine_forward(e, tokens, 10, NULL, false, err, sizeof err);
	tap_ok(rc == 0 && engine_position(e) == 10, "... a prefill without logits has nothing to check");
	rc = engine_decode_greedy(e, tokens[10], &next, err, sizeof err);
	tap_ok(rc != 0 && next == -1 && engine_position(e) == 10 && strstr(err, "NaN logits at position 10"),
	       "greedy decoding fails rather than pick a token: %s", err);
	int32_t best[4] = {-1, -1, -1, -1};
	rc = engine_forward_argmax(e, tokens + 10, 4, best, err, sizeof err);
	tap_ok(rc != 0 && best[0] == -1 && engine_position(e) == 10 && strstr(err, "NaN logits at position 10"),
	       "... and so does an argmax pass: %s", err);
	engine_free(e);
	s.model.norm.weight[3] = INFINITY;
	e = make_engine(&s.model, 0, 2);
	rc = engine_forward(e, tokens, 4, logits, false, err, sizeof err);
	tap_ok(rc != 0 && strstr(err, "logits at position 3") && (strstr(err, "NaN") || strstr(err, "infinite")),
	       "an infinite weight too: %s", err);
	engine_free(e);
	synthetic_free(&s);
}

int main(void)
{
	check_against_reference("BF16, untied lm_head", SYNTHETIC_BF16, 0, 1e-5);
	check_against_reference("BF16, tied embeddings", SYNTHETIC_BF16, 1, 1e-5);
	check_against_reference("FP8 static", SYNTHETIC_FP8_STATIC, 0, 1e-4);
	check_against_reference("FP8 dynamic", SYNTHETIC_FP8_DYNAMIC, 0, 1e-4);
	check_against_reference("INT8 dynamic", SYNTHETIC_INT8_DYNAMIC, 0, 1e-4);
	check_against_reference("INT8 static", SYNTHETIC_INT8_STATIC, 0, 1e-4);
	/* k and v rounded as they are stored, the reference rounding its float64 values the same way.
	 * (Not with INT8 activations: a k or v on either side of a rounding midpoint in float32
	 * and float64 moves one value by a bfloat16 step, enough to flip an int8 rounding of the
	 * next layer's input: 0.03 in the logits, seen.) */
	check_against_reference_kv("BF16, bfloat16 KV cache", SYNTHETIC_BF16, 0, 1e-5, ENGINE_KV_BF16);
	check_against_reference_kv("BF16, e4m3 KV cache", SYNTHETIC_BF16, 0, 1e-5, ENGINE_KV_FP8);
	check_against_reference_kv("FP8 static, e4m3 KV cache", SYNTHETIC_FP8_STATIC, 0, 1e-4, ENGINE_KV_FP8);
	check_engine_promises();
	check_prefill();
	check_nan_logits();
	return tap_done();
}
