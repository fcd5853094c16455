/*
 * engine_cpu.c - the Llama forward pass on the CPU, as the math reads.
 *
 *   x = embed_tokens[token]
 *   per layer:  h = rmsnorm(x) * input_layernorm
 *               q, k, v = q_proj(h), k_proj(h), v_proj(h);  rope(q, k)
 *               x += o_proj(attention(q, k_cache, v_cache))
 *               h = rmsnorm(x) * post_attention_layernorm
 *               x += down_proj(silu(gate_proj(h)) * up_proj(h))
 *   logits = lm_head(rmsnorm(x) * norm)
 *
 * Numerics: activations, KV cache, norms, RoPE and softmax are float32 throughout
 * (the weights keep their stored precision; an 8-bit layer quantizes its input
 * exactly as vLLM does, see cpu_linear.h).  This is Hugging Face transformers
 * running the checkpoint in float32 - not bfloat16 activations - so results agree
 * with a float32 reference to float32 rounding, and with a bfloat16 run to
 * bfloat16's.  RoPE follows transformers: inverse frequencies in float32
 * (llama3-scaled as _compute_llama3_parameters does), angle = float(position) *
 * inv_freq, rotate_half layout (pairs i and i + head_dim/2).
 *
 * Tokens go through in batches of up to BATCH so that a prefill streams the
 * weights once per batch (cpu_linear.c).  The KV cache holds k (after RoPE) and v
 * layer by layer, [layer][position][kv_head * head_dim], in the element type of
 * --kv-cache: bfloat16 (default) or e4m3 (scale 1, saturating), both rounded to
 * nearest even when stored, or float32; attention converts a row back to float32
 * as it reads it.  float32 is what a float32 transformers run keeps (the goldens).
 *
 * Tensor parallel (tensor_parallel.h): an instance runs one rank - its query and
 * KV heads, its slice of the intermediate size, its rows of lm_head - through
 * views of the weights; the residual stream is whole on every rank, and the
 * partial outputs of o_proj and down_proj are summed through the communicator
 * before they are added to it.  One rank is the whole model, with no collective.
 */
#include "engine_backend.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu_linear.h"
#include "cpu_simd.h"
#include "numerics.h"
#include "rope.h"

#define BATCH 32

struct cpu_engine {
	const struct model *model;
	struct engine_rank rank;
	struct layer_weights *layers;   /* the rank's views of each layer */
	struct linear lm_head;          /* the rank's rows of lm_head */
	int threads;
	int context_length;
	int q_dim, kv_dim;              /* local heads * head_dim, local kv_heads * head_dim */
	float *logits;                  /* BATCH x plan.vocab when the vocabulary is split, else NULL */
	enum engine_kv_cache kv_type;
	size_t kv_element;              /* bytes of one cached value: 2, 1 or 4 */
	void *key_cache, *value_cache;  /* layers x context_length x kv_dim values of kv_type */
	float *k, *v;                   /* BATCH x kv_dim: a batch's keys and values before they are stored */
	float *inv_freq;                /* head_dim / 2 */
	/* activations of one batch */
	float *x;                       /* BATCH x hidden: the residual stream */
	float *xb;                      /* BATCH x max(hidden, q_dim): normed input, attention output */
	float *xb2;                     /* BATCH x hidden: a layer's output */
	float *q;                       /* BATCH x q_dim (k and v go into the cache) */
	float *hb, *hb2;                /* BATCH x intermediate */
	float *att;                     /* threads x (context_length + head_dim): attention weights, and a
					 * cache row converted to float */
	struct cpu_linear_workspace *ws;
};

/* ---- model arithmetic ---------------------------------------------------- */

/* Rotates each head of vec (heads x head_dim) for position pos: pairs (i, i + half). */
static void rope(float *vec, int heads, int head_dim, int pos, const float *inv_freq)
{
	int half = head_dim / 2;
	for (int i = 0; i < half; i++) {
		float angle = (float)pos * inv_freq[i];
		float c = cosf(angle), s = sinf(angle);
		for (int h = 0; h < heads; h++) {
			float *v = vec + h * head_dim;
			float a = v[i], b = v[i + half];
			v[i] = a * c - b * s;
			v[i + half] = b * c + a * s;
		}
	}
}

/* out = x / sqrt(mean(x^2) + eps) * weight; the mean accumulates in double. */
static void rmsnorm(float *out, const float *x, const struct norm *norm, int n, float eps)
{
	double ss = 0;
	for (int i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float inv = 1.0f / sqrtf((float)(ss / n) + eps);
	for (int i = 0; i < n; i++)
		out[i] = norm->weight[i] * (x[i] * inv);
}

/* Row token of embed_tokens, which may be unaligned in the file (numerics.h). */
static void embed(const struct model *m, int32_t token, float *out)
{
	const size_t n = (size_t)m->config.hidden_size;
	switch (m->embed_dtype) {
	case DTYPE_BF16:
		for (size_t i = 0; i < n; i++)
			out[i] = numerics_bf16_to_float(numerics_load_u16(m->embed_tokens, (size_t)token * n + i));
		break;
	case DTYPE_F16:
		for (size_t i = 0; i < n; i++)
			out[i] = numerics_f16_to_float(numerics_load_u16(m->embed_tokens, (size_t)token * n + i));
		break;
	default:
		for (size_t i = 0; i < n; i++)
			out[i] = numerics_load_f32(m->embed_tokens, (size_t)token * n + i);
		break;
	}
}

/* ---- the KV cache ----------------------------------------------------------- */

static size_t kv_element_size(enum engine_kv_cache type)
{
	return type == ENGINE_KV_F32 ? 4 : type == ENGINE_KV_FP8 ? 1 : 2;
}

/* Stores n floats at element index of a cache of type type, rounded to it. */
CPU_HOT_LOOP static void kv_store(enum engine_kv_cache type, void *cache, size_t index, const float *values, int n)
{
	switch (type) {
	case ENGINE_KV_F32:
		memcpy((float *)cache + index, values, (size_t)n * sizeof *values);
		break;
	case ENGINE_KV_BF16: {
		uint16_t *out = (uint16_t *)cache + index;
		for (int i = 0; i < n; i++)
			out[i] = numerics_float_to_bf16(values[i]);
		break;
	}
	case ENGINE_KV_FP8: {
		uint8_t *out = (uint8_t *)cache + index;
		for (int i = 0; i < n; i++)
			out[i] = numerics_float_to_e4m3(values[i]);
		break;
	}
	}
}

/* n cached values from element index as floats: the cache itself for float32,
 * else converted (exactly) into row. */
CPU_HOT_LOOP static const float *kv_load(enum engine_kv_cache type, const void *cache, size_t index, int n,
					 float *row)
{
	switch (type) {
	case ENGINE_KV_F32:
		return (const float *)cache + index;
	case ENGINE_KV_BF16: {
		const uint16_t *in = (const uint16_t *)cache + index;
		for (int i = 0; i < n; i++)
			row[i] = numerics_bf16_to_float(in[i]);
		return row;
	}
	case ENGINE_KV_FP8: {
		const uint8_t *in = (const uint8_t *)cache + index;
		for (int i = 0; i < n; i++)
			row[i] = numerics_e4m3_to_float_finite(in[i]);
		return row;
	}
	}
	return row;
}

/* Where one query head reads its key/value head: element first of every cached
 * row, rows stride elements apart. */
struct kv_head {
	enum engine_kv_cache type;
	const void *keys, *values;
	size_t first;
	size_t stride;
};

/* One query head over the cached positions 0..last of its key/value head:
 * out = softmax(q k^T * scale) v.  Bound by reading the cache (2 x last x
 * head_dim values); the dot products keep CPU_LANES partial sums so that they
 * vectorise, and are the same bits for a token whether it came in a prefill or
 * alone.  row: head_dim floats of scratch for a converted cache row. */
CPU_HOT_LOOP static void attention_head(const float *q, const struct kv_head *kv, int last, int head_dim,
					float scale, float *att, float *row, float *out)
{
	float max = -INFINITY;
	for (int j = 0; j <= last; j++) {
		const float *k = kv_load(kv->type, kv->keys, kv->first + (size_t)j * kv->stride, head_dim, row);
		float lane[CPU_LANES] = {0}, dot = 0;
		int i = 0;
		for (; i + CPU_LANES <= head_dim; i += CPU_LANES)
			for (int l = 0; l < CPU_LANES; l++)
				lane[l] += q[i + l] * k[i + l];
		for (; i < head_dim; i++)
			dot += q[i] * k[i];
		for (int l = 0; l < CPU_LANES; l++)
			dot += lane[l];
		att[j] = dot * scale;
		max = att[j] > max ? att[j] : max;
	}
	float sum = 0;
	for (int j = 0; j <= last; j++) {
		att[j] = expf(att[j] - max);
		sum += att[j];
	}
	for (int i = 0; i < head_dim; i++)
		out[i] = 0;
	for (int j = 0; j <= last; j++) {
		const float *v = kv_load(kv->type, kv->values, kv->first + (size_t)j * kv->stride, head_dim, row);
		float w = att[j] / sum;
		for (int i = 0; i < head_dim; i++)
			out[i] += w * v[i];
	}
}

/* Causal attention of n tokens (positions pos..pos+n-1, already in the cache)
 * into e->xb, each query head reading its key/value head (grouped-query
 * attention: heads / kv_heads query heads share one). */
static void attention(struct cpu_engine *e, int layer, int n, int pos)
{
	const struct model_config *c = &e->model->config;
	const struct tp_plan *plan = &e->rank.plan;
	const int hd = c->head_dim, heads = plan->q_heads;
	const int group = c->num_attention_heads / c->num_key_value_heads;
	const float scale = (float)(1.0 / sqrt((double)hd));
	const size_t layer_first = (size_t)layer * e->context_length * e->kv_dim;
	const size_t per_thread = (size_t)e->context_length + (size_t)hd;

#pragma omp parallel for collapse(2) num_threads(e->threads) schedule(dynamic, 1)
	for (int t = 0; t < n; t++) {
		for (int h = 0; h < heads; h++) {
#ifdef _OPENMP
			float *att = e->att + (size_t)omp_get_thread_num() * per_thread;
#else
			float *att = e->att;
#endif
			const int kv_offset = ((plan->first_q_head + h) / group - plan->first_kv_head) * hd;
			const struct kv_head kv = {e->kv_type, e->key_cache, e->value_cache,
						   layer_first + (size_t)kv_offset, (size_t)e->kv_dim};
			attention_head(e->q + (size_t)t * e->q_dim + h * hd, &kv, pos + t, hd, scale, att,
				       att + e->context_length, e->xb + (size_t)t * e->q_dim + h * hd);
		}
	}
}

/* The rank's columns of lm_head's output: rows rows of plan.vocab values into the
 * caller's rows of vocab_size. */
static void scatter_logits(const struct cpu_engine *e, const float *local, int rows, float *logits)
{
	const size_t vocab = (size_t)e->model->config.vocab_size, mine = (size_t)e->rank.plan.vocab;
	for (int t = 0; t < rows; t++)
		memcpy(logits + t * vocab + e->rank.plan.first_vocab, local + t * mine, mine * sizeof *local);
}

/* One batch of n <= BATCH tokens at positions pos..; logits for every token
 * (all) or the last one, when logits is not NULL.  Fails only when another rank
 * did (the all-reduce says so). */
static int forward_batch(struct cpu_engine *e, const int32_t *tokens, int n, int pos,
			 float *logits, bool all, char *err, size_t err_size)
{
	const struct model *m = e->model;
	const struct model_config *c = &m->config;
	const int dim = c->hidden_size, inter = e->rank.plan.intermediate;
	const int rank = e->rank.plan.rank;
	const float eps = c->rms_norm_eps;

	for (int t = 0; t < n; t++)
		embed(m, tokens[t], e->x + (size_t)t * dim);

	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct layer_weights *w = &e->layers[l];
		const size_t cache_row = ((size_t)l * e->context_length + pos) * e->kv_dim;

		for (int t = 0; t < n; t++)
			rmsnorm(e->xb + (size_t)t * dim, e->x + (size_t)t * dim, &w->input_layernorm, dim, eps);
		cpu_linear_forward(&w->q_proj, e->xb, n, e->q, e->ws);
		cpu_linear_forward(&w->k_proj, e->xb, n, e->k, e->ws);
		cpu_linear_forward(&w->v_proj, e->xb, n, e->v, e->ws);
		for (int t = 0; t < n; t++) {
			rope(e->q + (size_t)t * e->q_dim, e->rank.plan.q_heads, c->head_dim, pos + t, e->inv_freq);
			rope(e->k + (size_t)t * e->kv_dim, e->rank.plan.kv_heads, c->head_dim, pos + t, e->inv_freq);
		}
		/* the batch's rows are contiguous in the cache: positions pos.. of layer l */
		kv_store(e->kv_type, e->key_cache, cache_row, e->k, n * e->kv_dim);
		kv_store(e->kv_type, e->value_cache, cache_row, e->v, n * e->kv_dim);
		attention(e, l, n, pos);
		cpu_linear_forward(&w->o_proj, e->xb, n, e->xb2, e->ws);
		if (comm_all_reduce_sum(e->rank.comm, rank, e->xb2, (size_t)n * dim, NULL, err, err_size) != 0)
			return -1;
		for (size_t i = 0; i < (size_t)n * dim; i++)
			e->x[i] += e->xb2[i];

		for (int t = 0; t < n; t++)
			rmsnorm(e->xb + (size_t)t * dim, e->x + (size_t)t * dim, &w->post_attention_layernorm, dim, eps);
		cpu_linear_forward(&w->gate_proj, e->xb, n, e->hb, e->ws);
		cpu_linear_forward(&w->up_proj, e->xb, n, e->hb2, e->ws);
		for (size_t i = 0; i < (size_t)n * inter; i++) {
			float g = e->hb[i];
			e->hb[i] = g / (1.0f + expf(-g)) * e->hb2[i];
		}
		cpu_linear_forward(&w->down_proj, e->hb, n, e->xb2, e->ws);
		if (comm_all_reduce_sum(e->rank.comm, rank, e->xb2, (size_t)n * dim, NULL, err, err_size) != 0)
			return -1;
		for (size_t i = 0; i < (size_t)n * dim; i++)
			e->x[i] += e->xb2[i];
	}

	if (!logits)
		return 0;
	int first = all ? 0 : n - 1;
	for (int t = first; t < n; t++)
		rmsnorm(e->xb + (size_t)(t - first) * dim, e->x + (size_t)t * dim, &m->norm, dim, eps);
	if (!e->logits) {
		cpu_linear_forward(&e->lm_head, e->xb, n - first, logits, e->ws);
		return 0;
	}
	cpu_linear_forward(&e->lm_head, e->xb, n - first, e->logits, e->ws);
	scatter_logits(e, e->logits, n - first, logits);
	return 0;
}

/* ---- the backend ----------------------------------------------------------- */

static void cpu_free(void *state)
{
	struct cpu_engine *e = state;
	if (!e)
		return;
	free(e->key_cache);
	free(e->value_cache);
	free(e->k);
	free(e->v);
	free(e->inv_freq);
	free(e->x);
	free(e->xb);
	free(e->xb2);
	free(e->q);
	free(e->hb);
	free(e->hb2);
	free(e->att);
	free(e->logits);
	free(e->layers);
	cpu_linear_workspace_free(e->ws);
	free(e);
}

static int check_config(const struct model_config *c, char *err, size_t err_size)
{
	if (c->hidden_size < 1 || c->num_hidden_layers < 1 || c->num_attention_heads < 1 ||
	    c->num_key_value_heads < 1 || c->head_dim < 2 || c->head_dim % 2 || c->vocab_size < 1 ||
	    c->intermediate_size < 1) {
		snprintf(err, err_size, "model config has an empty or odd dimension (hidden %d, layers %d, heads %d/%d, head_dim %d)",
			 c->hidden_size, c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads, c->head_dim);
		return -1;
	}
	if (c->num_attention_heads % c->num_key_value_heads) {
		snprintf(err, err_size, "num_key_value_heads (%d) does not divide num_attention_heads (%d)",
			 c->num_key_value_heads, c->num_attention_heads);
		return -1;
	}
	if (c->rope_llama3 && !(c->rope_factor > 0 && c->rope_high_freq_factor != c->rope_low_freq_factor &&
				c->rope_low_freq_factor > 0 && c->rope_original_max_position_embeddings > 0)) {
		snprintf(err, err_size, "rope_scaling llama3: factor %g, low_freq_factor %g, high_freq_factor %g, original_max_position_embeddings %d do not make sense",
			 c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
			 c->rope_original_max_position_embeddings);
		return -1;
	}
	return 0;
}

/* Checks every linear layer once, so that forward cannot fail. */
static int check_layers(const struct model *m, char *err, size_t err_size)
{
	const struct model_config *c = &m->config;
	const int64_t dim = c->hidden_size, q_dim = (int64_t)c->num_attention_heads * c->head_dim;
	const int64_t kv_dim = (int64_t)c->num_key_value_heads * c->head_dim, inter = c->intermediate_size;
	char name[96];
	for (int l = 0; l < c->num_hidden_layers; l++) {
		const struct layer_weights *w = &m->layers[l];
		const struct { const struct linear *linear; const char *name; int64_t out, in; } all[] = {
			{&w->q_proj, "self_attn.q_proj", q_dim, dim}, {&w->k_proj, "self_attn.k_proj", kv_dim, dim},
			{&w->v_proj, "self_attn.v_proj", kv_dim, dim}, {&w->o_proj, "self_attn.o_proj", dim, q_dim},
			{&w->gate_proj, "mlp.gate_proj", inter, dim}, {&w->up_proj, "mlp.up_proj", inter, dim},
			{&w->down_proj, "mlp.down_proj", dim, inter},
		};
		for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
			snprintf(name, sizeof name, "model.layers.%d.%s", l, all[i].name);
			if (cpu_linear_check(all[i].linear, name, err, err_size) != 0)
				return -1;
			if (all[i].linear->out_features != all[i].out || all[i].linear->in_features != all[i].in) {
				snprintf(err, err_size, "%s: shape [%lld, %lld], expected [%lld, %lld]", name,
					 (long long)all[i].linear->out_features, (long long)all[i].linear->in_features,
					 (long long)all[i].out, (long long)all[i].in);
				return -1;
			}
		}
		if (!w->input_layernorm.weight || w->input_layernorm.size != dim ||
		    !w->post_attention_layernorm.weight || w->post_attention_layernorm.size != dim) {
			snprintf(err, err_size, "model.layers.%d: layernorm weights missing or not of size %lld", l, (long long)dim);
			return -1;
		}
	}
	if (cpu_linear_check(&m->lm_head, "lm_head", err, err_size) != 0)
		return -1;
	if (m->lm_head.out_features != c->vocab_size || m->lm_head.in_features != dim ||
	    !m->norm.weight || m->norm.size != dim || !m->embed_tokens ||
	    (m->embed_dtype != DTYPE_BF16 && m->embed_dtype != DTYPE_F16 && m->embed_dtype != DTYPE_F32)) {
		snprintf(err, err_size, "lm_head, model.norm or embed_tokens missing or not of the config's shape");
		return -1;
	}
	return 0;
}

static int default_threads(void)
{
#ifdef _OPENMP
	return omp_get_num_procs();
#else
	return 1;
#endif
}

#ifdef _OPENMP
/* The stack size libgomp gives its threads: OMP_STACKSIZE, else GOMP_STACKSIZE
 * ("N[BKMG]", kilobytes without a suffix), else 0 for the pthread default. */
static size_t openmp_stack_size(void)
{
	const char *names[] = {"OMP_STACKSIZE", "GOMP_STACKSIZE"};
	for (int i = 0; i < 2; i++) {
		const char *text = getenv(names[i]);
		char *end;
		if (!text || !*text)
			continue;
		errno = 0;
		unsigned long long value = strtoull(text, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		int shift = 10;
		switch (*end) {
		case 'b': case 'B': shift = 0; end++; break;
		case 'k': case 'K': shift = 10; end++; break;
		case 'm': case 'M': shift = 20; end++; break;
		case 'g': case 'G': shift = 30; end++; break;
		}
		while (*end == ' ' || *end == '\t')
			end++;
		if (!errno && end != text && *end == '\0' && value <= (SIZE_MAX >> shift))
			return (size_t)value << shift;
	}
	return 0;
}

/* The probe's threads wait until the last is started (or failed to), so that all of
 * them exist at once, as libgomp's team does. */
struct probe_gate {
	pthread_mutex_t lock;
	pthread_cond_t opened;
	bool open;
};

static void *probe_thread(void *arg)
{
	struct probe_gate *gate = arg;
	pthread_mutex_lock(&gate->lock);
	while (!gate->open)
		pthread_cond_wait(&gate->opened, &gate->lock);
	pthread_mutex_unlock(&gate->lock);
	return NULL;
}

/* libgomp cannot fail a parallel region: when it cannot start a thread of the team
 * it prints "libgomp: Thread creation failed" and ends the process.  Under a memory
 * limit (ulimit -v: each thread's stack must fit) or a process limit that happens
 * at the first token.  So the team's threads are started here first, with libgomp's
 * stack size, all alive at once, and a failure is a message that names the cure.
 * (The check cannot be exact: memory taken after it may still leave libgomp short.) */
static int threads_probe(int threads, char *err, size_t err_size)
{
	if (threads < 2)
		return 0;   /* the calling thread is one of the team */
	pthread_t *started = malloc((size_t)(threads - 1) * sizeof *started);
	struct probe_gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	pthread_attr_t attr;
	size_t stack = openmp_stack_size();
	int count = 0, rc = 0;
	if (!started || pthread_attr_init(&attr) != 0) {
		free(started);
		return 0;   /* no memory to check with: the first region will tell */
	}
	if (stack)
		(void)pthread_attr_setstacksize(&attr, stack);
	while (rc == 0 && count < threads - 1) {
		rc = pthread_create(&started[count], &attr, probe_thread, &gate);
		count += rc == 0;
	}
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.opened);
	pthread_mutex_unlock(&gate.lock);
	for (int i = 0; i < count; i++)
		pthread_join(started[i], NULL);
	pthread_attr_destroy(&attr);
	free(started);
	if (rc != 0) {
		snprintf(err, err_size, "cannot start %d CPU threads: %s (try --threads 1, or a larger ulimit -v)",
			 threads, strerror(rc));
		return -1;
	}
	return 0;
}
#endif

/* The longest context whose KV cache fits in a quarter of physical memory, shared
 * among the ranks. */
static int context_that_fits(const struct model_config *c, const struct tp_plan *plan, size_t element)
{
	long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
	double budget = (pages > 0 && page_size > 0 ? (double)pages * page_size / 4 : 4e9) / plan->ranks;
	double per_token = 2.0 * c->num_hidden_layers * plan->kv_heads * c->head_dim * (double)element;
	double fits = budget / per_token;
	return fits > 1 << 24 ? 1 << 24 : (int)fits;
}

static float *alloc_floats(size_t count, bool *failed)
{
	float *p = calloc(count ? count : 1, sizeof *p);
	if (!p)
		*failed = true;
	return p;
}

static int cpu_create(const struct model *model, const struct engine_options *options, const struct engine_rank *rank,
		      int *context_length, void **state, char *description, size_t description_size,
		      char *err, size_t err_size)
{
	const struct model_config *c = &model->config;
	if (model_is_dummy(model)) {
		snprintf(err, err_size, "dummy weights are made on the GPU: --dummy-weights needs the CUDA backend");
		return -1;
	}
	if (check_config(c, err, err_size) != 0 || check_layers(model, err, err_size) != 0)
		return -1;
	enum engine_kv_cache kv = options->kv_cache;
	if (kv != ENGINE_KV_BF16 && kv != ENGINE_KV_FP8 && kv != ENGINE_KV_F32) {
		snprintf(err, err_size, "unknown KV cache type %d", (int)options->kv_cache);
		return -1;
	}
	struct engine_rank whole = {.comm = NULL};
	if (!rank) {
		tp_plan_rank(c, 0, 1, &whole.plan);
		rank = &whole;
	}

	int ctx = *context_length;
	if (ctx <= 0) {
		ctx = context_that_fits(c, &rank->plan, kv_element_size(options->kv_cache));
		if (c->max_position_embeddings > 0 && ctx > c->max_position_embeddings)
			ctx = c->max_position_embeddings;
		if (ctx < 1) {
			snprintf(err, err_size, "no memory left for a KV cache of even one token");
			return -1;
		}
	} else if (c->max_position_embeddings > 0 && ctx > c->max_position_embeddings) {
		snprintf(err, err_size, "context length %d exceeds the model's max_position_embeddings (%d)",
			 ctx, c->max_position_embeddings);
		return -1;
	}

	struct cpu_engine *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	e->model = model;
	e->rank = *rank;
	const struct tp_plan *plan = &e->rank.plan;
	/* the threads are shared among the ranks */
	e->threads = (options->threads > 0 ? options->threads : default_threads()) / plan->ranks;
	if (e->threads < 1)
		e->threads = 1;
	e->context_length = ctx;
	e->q_dim = plan->q_heads * c->head_dim;
	e->kv_dim = plan->kv_heads * c->head_dim;
	int dim = c->hidden_size;
	int wide = dim > e->q_dim ? dim : e->q_dim;
	size_t cache = (size_t)c->num_hidden_layers * ctx * e->kv_dim;
	bool failed = false;
	e->kv_type = options->kv_cache;
	e->kv_element = kv_element_size(e->kv_type);
	e->key_cache = calloc(cache ? cache : 1, e->kv_element);
	e->value_cache = calloc(cache ? cache : 1, e->kv_element);
	failed |= !e->key_cache || !e->value_cache;
	e->k = alloc_floats((size_t)BATCH * e->kv_dim, &failed);
	e->v = alloc_floats((size_t)BATCH * e->kv_dim, &failed);
	e->inv_freq = alloc_floats((size_t)c->head_dim / 2, &failed);
	e->x = alloc_floats((size_t)BATCH * dim, &failed);
	e->xb = alloc_floats((size_t)BATCH * wide, &failed);
	e->xb2 = alloc_floats((size_t)BATCH * dim, &failed);
	e->q = alloc_floats((size_t)BATCH * e->q_dim, &failed);
	e->hb = alloc_floats((size_t)BATCH * plan->intermediate, &failed);
	e->hb2 = alloc_floats((size_t)BATCH * plan->intermediate, &failed);
	e->att = alloc_floats((size_t)e->threads * ((size_t)ctx + (size_t)c->head_dim), &failed);
	e->layers = calloc((size_t)c->num_hidden_layers, sizeof *e->layers);
	failed |= !e->layers;
	if (plan->vocab != c->vocab_size)
		e->logits = alloc_floats((size_t)BATCH * plan->vocab, &failed);
	if (failed) {
		snprintf(err, err_size, "out of memory for a context of %d tokens (KV cache %.1f GiB); try a smaller --ctx",
			 ctx, 2.0 * (double)cache * (double)e->kv_element / (1 << 30));
		cpu_free(e);
		return -1;
	}
	int64_t max_in = wide > plan->intermediate ? wide : plan->intermediate;
	if (cpu_linear_workspace_create(max_in, BATCH, e->threads, &e->ws, err, err_size) != 0) {
		cpu_free(e);
		return -1;
	}
#ifdef _OPENMP
	if (threads_probe(e->threads, err, err_size) != 0) {
		cpu_free(e);
		return -1;
	}
#endif
	for (int l = 0; l < c->num_hidden_layers; l++)
		tp_shard_layer(model, plan, l, &e->layers[l]);
	tp_shard_lm_head(model, plan, &e->lm_head);
	rope_inverse_frequencies(c, e->inv_freq);
	*context_length = ctx;
	*state = e;
	snprintf(description, description_size, "CPU (%d thread%s)", e->threads, e->threads == 1 ? "" : "s");
	return 0;
}

static int cpu_forward(void *state, const int32_t *tokens, size_t count, int position,
		       float *logits, bool all_logits, char *err, size_t err_size)
{
	struct cpu_engine *e = state;
	const size_t vocab = (size_t)e->model->config.vocab_size;
	for (size_t done = 0; done < count; done += BATCH) {
		int n = count - done < BATCH ? (int)(count - done) : BATCH;
		bool last_batch = done + (size_t)n == count;
		float *out = NULL;
		if (logits && all_logits)
			out = logits + done * vocab;
		else if (logits && last_batch)
			out = logits;
		if (forward_batch(e, tokens + done, n, position + (int)done, out, all_logits, err, err_size) != 0)
			return -1;
	}
	return 0;
}

/* The largest of the rank's n logits x (model-wide ids from first on), the lowest id
 * among equals; the first NaN or infinite one instead when there is one (engine.c
 * names it), as the GPU's argmax reports it. */
static struct engine_best rank_best(const float *x, size_t n, int32_t first)
{
	struct engine_best best = {x[0], first};
	for (size_t i = 0; i < n; i++) {
		if (isnan(x[i]) || isinf(x[i]))
			return (struct engine_best){x[i], first + (int32_t)i};
		if (x[i] > best.value)
			best = (struct engine_best){x[i], first + (int32_t)i};
	}
	return best;
}

/* forward with every row's logits, then each row's largest logit of the rank's
 * columns. */
static int cpu_forward_argmax(void *state, const int32_t *tokens, size_t count, int position, struct engine_best *rows,
			      char *err, size_t err_size)
{
	struct cpu_engine *e = state;
	const size_t vocab = (size_t)e->model->config.vocab_size;
	float *logits = malloc(count * vocab * sizeof *logits);
	if (!logits) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	int rc = cpu_forward(state, tokens, count, position, logits, true, err, err_size);
	for (size_t r = 0; rc == 0 && r < count; r++)
		rows[r] = rank_best(logits + r * vocab + e->rank.plan.first_vocab, (size_t)e->rank.plan.vocab,
				    e->rank.plan.first_vocab);
	free(logits);
	return rc;
}

/* The ranks are threads of this process: they sum in shared memory. */
static int cpu_create_comm(int ranks, const struct engine_options *options, struct communicator **out, int *devices,
			   char *err, size_t err_size)
{
	(void)options;
	for (int r = 0; r < ranks; r++)
		devices[r] = 0;
	return comm_host_create(ranks, out, err, err_size);
}

static int cpu_batch_tokens(const void *state)
{
	(void)state;
	return BATCH;
}

const struct engine_backend_ops engine_cpu_ops = {
	.create_comm = cpu_create_comm,
	.create = cpu_create,
	.forward = cpu_forward,
	.forward_argmax = cpu_forward_argmax,
	.free = cpu_free,
	.batch_tokens = cpu_batch_tokens,
};
