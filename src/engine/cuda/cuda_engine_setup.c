/*
 * cuda_engine_setup.c - making one CUDA rank (cuda_engine.h): the device checked, the
 * weights uploaded in their stored form (only this rank's rows and columns, never
 * expanded; random values on the GPU for --dummy-weights), the activation buffers and
 * the KV cache allocated; and freeing it all.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "comm_cuda.h"
#include "cuda_devices.h"
#include "cuda_engine.h"
#include "cuda_try.h"
#include "gemm_cublaslt.h"
#include "rope.h"

/* A weight tensor: uploaded, or for a dummy model (host NULL) random values made here. */
static int upload_weight(struct cuda_engine *e, const void *host, size_t count, enum llmk_dtype dtype,
			 size_t element_size, void **out, char *err, size_t err_size)
{
	if (host)
		return cuda_memory_upload(&e->memory, host, count * element_size, out, err, err_size);
	if (cuda_memory_alloc(&e->memory, count * element_size, out, err, err_size) != 0)
		return -1;
	CUDA_TRY(llmk_fill_random(*out, count, dtype, (uint32_t)e->memory.count, 0.02f, e->stream));
	return 0;
}

static int kernel_dtype(enum tensor_dtype dtype, enum llmk_dtype *out)
{
	switch (dtype) {
	case DTYPE_BF16: *out = LLMK_BF16; return 0;
	case DTYPE_F16: *out = LLMK_F16; return 0;
	case DTYPE_F32: *out = LLMK_F32; return 0;
	case DTYPE_F8_E4M3: *out = LLMK_E4M3; return 0;
	case DTYPE_I8: *out = LLMK_I8; return 0;
	default: return -1;
	}
}

static enum llmk_quant kernel_quant(enum activation_quant quant)
{
	switch (quant) {
	case ACTIVATION_FP8_STATIC: return LLMK_QUANT_FP8_STATIC;
	case ACTIVATION_FP8_DYNAMIC: return LLMK_QUANT_FP8_DYNAMIC;
	case ACTIVATION_INT8_DYNAMIC: return LLMK_QUANT_INT8_DYNAMIC;
	case ACTIVATION_INT8_STATIC: return LLMK_QUANT_INT8_STATIC;
	default: return LLMK_QUANT_NONE;
	}
}

static int upload_linear(struct cuda_engine *e, const struct linear *l, struct gpu_linear *g, char *err,
			 size_t err_size)
{
	if (kernel_dtype(l->weight_dtype, &g->dtype) != 0) {
		snprintf(err, err_size, "CUDA backend: weight dtype %s is not supported", tensor_dtype_name(l->weight_dtype));
		return -1;
	}
	g->rows = (int)l->out_features;
	g->cols = (int)l->in_features;
	g->quant = kernel_quant(l->activation);
	g->input_scale = l->input_scale;
	g->weight_scale_count = (int)l->weight_scale_count;
	if ((g->dtype == LLMK_E4M3 || g->dtype == LLMK_I8) && g->quant == LLMK_QUANT_NONE) {
		snprintf(err, err_size, "CUDA backend: an 8-bit layer without an activation scheme");
		return -1;
	}
	size_t element = tensor_dtype_size(l->weight_dtype);
	size_t stride = (size_t)(l->row_stride ? l->row_stride : l->in_features);
	if (l->weight && stride != (size_t)g->cols) {
		if (cuda_memory_upload_rows(&e->memory, l->weight, (size_t)g->rows, (size_t)g->cols * element,
					    stride * element, &g->weight, err, err_size) != 0)
			return -1;
	} else if (upload_weight(e, l->weight, (size_t)g->rows * g->cols, g->dtype, element, &g->weight, err,
				 err_size) != 0) {
		return -1;
	}
	g->weight_scale = NULL;
	if (l->weight_scale && cuda_memory_upload(&e->memory, l->weight_scale,
						  (size_t)l->weight_scale_count * sizeof(float), (void **)&g->weight_scale,
						  err, err_size) != 0)
		return -1;
	return 0;
}

static int upload_floats(struct cuda_engine *e, const float *host, size_t count, float **out, char *err,
			 size_t err_size)
{
	return cuda_memory_upload(&e->memory, host, count * sizeof(float), (void **)out, err, err_size);
}

/* Starts the upload of this rank's share of the weights (for the progress line). */
static int upload_begin(struct cuda_engine *e, char *err, size_t err_size)
{
	const struct model *m = e->model;
	const struct model_config *c = &m->config;
	double bytes, params;
	model_linear_weights(m, &bytes, &params); /* lm_head included: the table when tied */
	size_t total = (size_t)(bytes / e->plan.ranks);
	if (!c->tie_word_embeddings)
		total += (size_t)c->vocab_size * c->hidden_size * tensor_dtype_size(m->embed_dtype);
	bool show = total >= ((size_t)1 << 30) && !m->dummy_weights && e->plan.rank == 0;
	return cuda_memory_upload_begin(&e->memory, total, show, err, err_size);
}

static int upload_model(struct cuda_engine *e, char *err, size_t err_size)
{
	const struct model *m = e->model;
	const struct model_config *c = &m->config;
	if (kernel_dtype(m->embed_dtype, &e->embed_dtype) != 0) {
		snprintf(err, err_size, "CUDA backend: embedding dtype %s is not supported", tensor_dtype_name(m->embed_dtype));
		return -1;
	}
	if (upload_weight(e, m->embed_tokens, (size_t)c->vocab_size * c->hidden_size, e->embed_dtype,
			  tensor_dtype_size(m->embed_dtype), &e->embed_tokens, err, err_size) != 0)
		return -1;
	e->layers = calloc((size_t)c->num_hidden_layers, sizeof *e->layers);
	if (!e->layers) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (int i = 0; i < c->num_hidden_layers; i++) {
		struct layer_weights shard;
		tp_shard_layer(m, &e->plan, i, &shard);
		const struct layer_weights *w = &shard;
		struct gpu_layer *g = &e->layers[i];
		if (upload_floats(e, w->input_layernorm.weight, (size_t)w->input_layernorm.size, &g->input_layernorm, err, err_size) ||
		    upload_floats(e, w->post_attention_layernorm.weight, (size_t)w->post_attention_layernorm.size,
				  &g->post_attention_layernorm, err, err_size) ||
		    upload_linear(e, &w->q_proj, &g->q_proj, err, err_size) ||
		    upload_linear(e, &w->k_proj, &g->k_proj, err, err_size) ||
		    upload_linear(e, &w->v_proj, &g->v_proj, err, err_size) ||
		    upload_linear(e, &w->o_proj, &g->o_proj, err, err_size) ||
		    upload_linear(e, &w->gate_proj, &g->gate_proj, err, err_size) ||
		    upload_linear(e, &w->up_proj, &g->up_proj, err, err_size) ||
		    upload_linear(e, &w->down_proj, &g->down_proj, err, err_size))
			return -1;
	}
	if (upload_floats(e, m->norm.weight, (size_t)m->norm.size, &e->norm, err, err_size))
		return -1;
	if (c->tie_word_embeddings && m->lm_head.weight == m->embed_tokens) {
		/* tied: this rank's rows of the uploaded table */
		void *rows = (unsigned char *)e->embed_tokens +
			     (size_t)e->plan.first_vocab * c->hidden_size * tensor_dtype_size(m->embed_dtype);
		e->lm_head = (struct gpu_linear){rows, e->embed_dtype, e->plan.vocab, c->hidden_size, NULL, 0,
						 LLMK_QUANT_NONE, 0};
		return 0;
	}
	struct linear lm_head;
	tp_shard_lm_head(m, &e->plan, &lm_head);
	return upload_linear(e, &lm_head, &e->lm_head, err, err_size);
}

/* The 8-bit GEMVs' products the options' test hook asks for; by default the CUDA cores
 * (BENCHMARKS.md: the tensor cores' one-token step is slower today). */
static enum llmk_gemv_products gemv_products(const struct engine_options *options)
{
	switch (options ? options->test_hooks.gemv_products : ENGINE_PRODUCTS_DEFAULT) {
	case ENGINE_PRODUCTS_TENSOR: return LLMK_PRODUCTS_TENSOR;
	case ENGINE_PRODUCTS_TENSOR_F16: return LLMK_PRODUCTS_TENSOR_F16;
	case ENGINE_PRODUCTS_CUDA_CORES:
	case ENGINE_PRODUCTS_DEFAULT: break;
	}
	return LLMK_PRODUCTS_CUDA_CORES;
}

static size_t max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/* Ranks that share this rank's GPU (all of them with the one-GPU communicator). */
static int ranks_sharing_the_gpu(const struct cuda_engine *e, int *sharing, char *err, size_t err_size)
{
	int visible = 0;
	if (cuda_device_count(&visible, err, err_size) != CUDA_DEVICES_FOUND)
		return -1;
	*sharing = e->plan.ranks > visible ? (e->plan.ranks + visible - 1) / visible : 1;
	return 0;
}

/* The buffers of sampled decoding on the GPU, with one rank (the vocabulary whole). */
static int allocate_draw_buffers(struct cuda_engine *e, char *err, size_t err_size)
{
	if (e->plan.ranks > 1)
		return 0;
	size_t scratch_bytes;
	CUDA_TRY(llmk_sample_scratch(e->plan.vocab, &scratch_bytes));
	if (cuda_memory_alloc(&e->memory, sizeof(struct llmk_draw), (void **)&e->draw, err, err_size) ||
	    cuda_memory_alloc(&e->memory, sizeof(struct llmk_drawn), (void **)&e->drawn, err, err_size) ||
	    cuda_memory_alloc(&e->memory, (size_t)e->plan.vocab, (void **)&e->seen, err, err_size) ||
	    cuda_memory_alloc(&e->memory, scratch_bytes, &e->sample_scratch, err, err_size))
		return -1;
	CUDA_TRY(cudaMemset(e->seen, 0, (size_t)e->plan.vocab));
	CUDA_TRY(cudaMallocHost((void **)&e->pinned_draw, sizeof(struct llmk_draw)));
	CUDA_TRY(cudaMallocHost((void **)&e->pinned_drawn, sizeof(struct llmk_drawn)));
	return 0;
}

/* This rank's share of the GPU's free memory (the ranks sharing it split it evenly). */
static int free_memory_share(struct cuda_engine *e, size_t *free_bytes, char *err, size_t err_size)
{
	size_t total = 0;
	int sharing = 1;
	*free_bytes = 0;
	CUDA_TRY(cudaMemGetInfo(free_bytes, &total));
	if (ranks_sharing_the_gpu(e, &sharing, err, err_size) != 0)
		return -1;
	*free_bytes /= (size_t)sharing;
	return 0;
}

/* Bytes of the buffers a prefill step of tokens needs (allocate_buffers' first ones). */
static size_t step_bytes(const struct cuda_engine *e, size_t tokens)
{
	const struct model_config *c = &e->model->config;
	const size_t width = max_size((size_t)c->hidden_size, (size_t)e->q_dim);
	const size_t widest_in = max_size(width, (size_t)e->intermediate);
	const size_t per_token = sizeof(int32_t) + 5 * width * sizeof(float) + 2 * (size_t)e->intermediate * sizeof(float) +
				 widest_in + sizeof(float) + max_size(widest_in, (size_t)e->kv_dim) * sizeof(int32_t) +
				 2 * (size_t)e->kv_dim * sizeof(float);
	return tokens * per_token +
	       llmk_attention_decode_scratch(e->plan.q_heads, c->head_dim, (int)tokens) * sizeof(float);
}

/* e->batch: BATCH tokens a prefill step where their buffers take at most an eighth of
 * the memory the weights left free (a 70B model on an 80 GB GPU keeps its room for the
 * KV cache), else BATCH_SMALL. */
static int choose_batch(struct cuda_engine *e, char *err, size_t err_size)
{
	size_t free_bytes;
	if (free_memory_share(e, &free_bytes, err, err_size) != 0)
		return -1;
	e->batch = step_bytes(e, BATCH) <= free_bytes / 8 || BATCH <= BATCH_SMALL ? BATCH : BATCH_SMALL;
	return 0;
}

static int allocate_buffers(struct cuda_engine *e, int requested_context, char *err, size_t err_size)
{
	const struct model_config *c = &e->model->config;
	size_t width = max_size((size_t)c->hidden_size, (size_t)e->q_dim);
	size_t widest_in = max_size(width, (size_t)e->intermediate);
	if (choose_batch(e, err, err_size) != 0)
		return -1;
	const size_t batch = (size_t)e->batch;
	if (cuda_memory_alloc(&e->memory, batch * sizeof(int32_t), (void **)&e->tokens, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * width * sizeof(float), (void **)&e->x, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * width * sizeof(float), (void **)&e->h, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * width * sizeof(float), (void **)&e->q, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * width * sizeof(float), (void **)&e->att, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * (size_t)c->head_dim * sizeof(float), (void **)&e->rope_table, err,
			      err_size) ||
	    cuda_memory_alloc(&e->memory, batch * width * sizeof(float), (void **)&e->tmp, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * (size_t)e->intermediate * sizeof(float), (void **)&e->gate, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * (size_t)e->intermediate * sizeof(float), (void **)&e->up, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * widest_in, &e->xq, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * sizeof(float), (void **)&e->x_scales, err, err_size) ||
	    cuda_memory_alloc(&e->memory, LLMK_GEMV_MAX_TOKENS * (size_t)e->intermediate, &e->xq_mlp, err, err_size) ||
	    cuda_memory_alloc(&e->memory, LLMK_GEMV_MAX_TOKENS * sizeof(float), (void **)&e->mlp_scale, err, err_size) ||
	    cuda_memory_alloc(&e->memory, LOGIT_ROWS * (size_t)e->plan.vocab * sizeof(float), (void **)&e->logits, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * max_size(widest_in, (size_t)e->kv_dim) * sizeof(int32_t), (void **)&e->acc, err,
			 err_size) ||
	    cuda_memory_alloc(&e->memory, llmk_attention_decode_scratch(e->plan.q_heads, c->head_dim, e->batch) * sizeof(float),
			 (void **)&e->attention_scratch, err, err_size) ||
	    cuda_memory_alloc(&e->memory, sizeof(int), (void **)&e->device_position, err, err_size) ||
	    cuda_memory_alloc(&e->memory, LLMK_LAST_BLOCK_WORDS * sizeof(unsigned), (void **)&e->last_block_words, err,
			      err_size) ||
	    cuda_memory_alloc(&e->memory, ENGINE_ARGMAX_MAX_ROWS * sizeof(struct llmk_best), (void **)&e->best, err, err_size) ||
	    cuda_memory_alloc(&e->memory, llmk_argmax_scratch(ENGINE_ARGMAX_MAX_ROWS), &e->argmax_scratch, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * (size_t)e->kv_dim * sizeof(float), (void **)&e->key_rows, err, err_size) ||
	    cuda_memory_alloc(&e->memory, batch * (size_t)e->kv_dim * sizeof(float), (void **)&e->value_rows, err, err_size) ||
	    cuda_memory_alloc(&e->memory, width * sizeof(float), (void **)&e->x_mid, err, err_size) ||
	    cuda_memory_alloc(&e->memory, (size_t)c->num_hidden_layers * LLMK_SEGMENT_COUNTERS * sizeof(unsigned),
			      (void **)&e->segment_counters, err, err_size))
		return -1;
	CUDA_TRY(cudaMemset(e->last_block_words, 0, LLMK_LAST_BLOCK_WORDS * sizeof(unsigned)));
	CUDA_TRY(cudaMallocHost((void **)&e->pinned_token, ENGINE_ARGMAX_MAX_ROWS * sizeof(int32_t)));
	CUDA_TRY(cudaMallocHost((void **)&e->pinned_position, sizeof(int)));
	CUDA_TRY(cudaMallocHost((void **)&e->pinned_logits, ENGINE_ARGMAX_MAX_ROWS * (size_t)e->plan.vocab * sizeof(float)));
	CUDA_TRY(cudaMallocHost((void **)&e->pinned_best, ENGINE_ARGMAX_MAX_ROWS * sizeof(struct llmk_best)));
	if (allocate_draw_buffers(e, err, err_size) != 0)
		return -1;
	/* KV cache: what was asked, else the model's maximum capped to 90% of free memory */
	size_t per_position = 2 * (size_t)c->num_hidden_layers * e->kv_dim * e->cache_element;
	size_t free_bytes;
	if (free_memory_share(e, &free_bytes, err, err_size) != 0)
		return -1;
	int context = requested_context > 0 ? requested_context : c->max_position_embeddings;
	if (requested_context <= 0 && (size_t)context * per_position > free_bytes / 10 * 9)
		context = (int)(free_bytes / 10 * 9 / per_position);
	if (context < 1) {
		snprintf(err, err_size, "out of GPU memory: no room for a KV cache (%zu MiB free)", free_bytes >> 20);
		return -1;
	}
	size_t cache_bytes = (size_t)context * per_position / 2;
	if (cuda_memory_alloc(&e->memory, cache_bytes, &e->key_cache, err, err_size) ||
	    cuda_memory_alloc(&e->memory, cache_bytes, &e->value_cache, err, err_size))
		return -1;
	e->context_length = context;
	return 0;
}

void cuda_engine_free(void *state)
{
	struct cuda_engine *e = state;
	if (!e)
		return;
	cuda_memory_free(&e->memory);
	llmk_gemm_free(e->gemm);
	if (e->decode_graph)
		cudaGraphExecDestroy(e->decode_graph);
	if (e->draw_graph)
		cudaGraphExecDestroy(e->draw_graph);
	for (int n = 0; n <= ENGINE_ARGMAX_MAX_ROWS; n++) {
		if (e->verify_graphs[n])
			cudaGraphExecDestroy(e->verify_graphs[n]);
		if (e->verify_logits_graphs[n])
			cudaGraphExecDestroy(e->verify_logits_graphs[n]);
	}
	if (e->comm_events) {
		for (int i = 0; i < 4 * e->model->config.num_hidden_layers; i++)
			if (e->comm_events[i])
				cudaEventDestroy(e->comm_events[i]);
		free(e->comm_events);
	}
	cudaFreeHost(e->pinned_token);
	cudaFreeHost(e->pinned_position);
	cudaFreeHost(e->pinned_logits);
	cudaFreeHost(e->pinned_best);
	cudaFreeHost(e->pinned_draw);
	cudaFreeHost(e->pinned_drawn);
	if (e->stream)
		cudaStreamDestroy(e->stream);
	free(e->layers);
	free(e);
}

int cuda_engine_create(const struct model *model, const struct engine_options *options, const struct engine_rank *rank,
		       int *context_length, void **state, char *description, size_t description_size, char *err,
		       size_t err_size)
{
	int devices = 0;
	int device = rank ? rank->device : 0;
	int found = cuda_device_count(&devices, err, err_size);
	if (found != CUDA_DEVICES_FOUND)
		return found;
	if (device >= devices) {
		snprintf(err, err_size, "GPU %d is not visible (%d visible)", device, devices);
		return -1;
	}
	struct cudaDeviceProp prop;
	CUDA_TRY(cudaGetDeviceProperties(&prop, device));
	/* The decode kernels use Hopper's programmatic dependent launch (griddepcontrol), so
	 * no build has kernels for an older GPU: say so here rather than fail at the first
	 * launch with "no kernel image" (configure refuses --with-cuda-arch below 90). */
	if (prop.major < 9) {
		snprintf(err, err_size,
			 "%s (compute capability %d.%d) is older than this llmchat's kernels support (9.0, Hopper, "
			 "or newer); --cpu runs on the CPU",
			 prop.name, prop.major, prop.minor);
		return -1;
	}
	CUDA_TRY(cudaSetDevice(device));
	struct cuda_engine *e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	const struct model_config *c = &model->config;
	e->model = model;
	e->device = device;
	if (rank) {
		e->plan = rank->plan;
		e->comm = rank->comm;
	} else {
		tp_plan_rank(c, 0, 1, &e->plan);
	}
	switch (options ? options->kv_cache : ENGINE_KV_BF16) {
	case ENGINE_KV_F32: e->cache_dtype = LLMK_F32; e->cache_element = 4; break;
	case ENGINE_KV_FP8: e->cache_dtype = LLMK_E4M3; e->cache_element = 1; break;
	default: e->cache_dtype = LLMK_BF16; e->cache_element = 2; break;
	}
	e->q_dim = e->plan.q_heads * c->head_dim;
	e->kv_dim = e->plan.kv_heads * c->head_dim;
	e->intermediate = e->plan.intermediate;
	float *inv_freq = malloc((size_t)c->head_dim / 2 * sizeof *inv_freq);
	int rc = -1;
	if (!inv_freq) {
		snprintf(err, err_size, "out of memory");
		goto done;
	}
	rope_inverse_frequencies(c, inv_freq);
	cudaError_t status = cudaStreamCreate(&e->stream);
	if (status != cudaSuccess) {
		snprintf(err, err_size, "CUDA: cudaStreamCreate: %s", cudaGetErrorString(status));
		goto done;
	}
	e->memory.stream = e->stream;
	e->memory.device = device;
	e->memory.ranks = e->plan.ranks;
	if (llmk_gemm_create(&e->gemm, err, err_size) != 0 || upload_begin(e, err, err_size) != 0 ||
	    upload_model(e, err, err_size) != 0 ||
	    upload_floats(e, inv_freq, (size_t)c->head_dim / 2, &e->inv_freq, err, err_size) != 0 ||
	    cuda_memory_upload_end(&e->memory, e->plan.rank == 0, err, err_size) != 0 ||
	    allocate_buffers(e, *context_length, err, err_size) != 0)
		goto done;
	*context_length = e->context_length;
	/* the eager_decode hook decodes without a graph (to compare the two in tests/gpu) */
	e->decode_graph_failed = (options && options->test_hooks.eager_decode) || (e->comm && !e->comm->capturable);
	/* the decode_segments hook runs the graph's layers as persistent segments */
	e->segments_wanted = options && options->test_hooks.decode_segments;
	e->last_block_work = options && options->test_hooks.last_block_work;
	/* the gemv_products hook says where the 8-bit GEMVs add; the segments add in the CUDA
	 * cores' order, so they are not used with the tensor cores */
	e->gemv_products = gemv_products(options);
	if (e->gemv_products != LLMK_PRODUCTS_CUDA_CORES)
		e->segments_wanted = false;
	if (e->comm) {
		/* for --bench's all-reduce timing (cuda_time_comm): events around each call */
		int count = 4 * c->num_hidden_layers;
		e->comm_events = calloc((size_t)count, sizeof *e->comm_events);
		if (!e->comm_events) {
			snprintf(err, err_size, "out of memory");
			goto done;
		}
		for (int i = 0; i < count; i++) {
			status = cudaEventCreate(&e->comm_events[i]);
			if (status != cudaSuccess) {
				snprintf(err, err_size, "CUDA: cudaEventCreate: %s", cudaGetErrorString(status));
				goto done;
			}
		}
	}
	if (e->comm)
		snprintf(description, description_size, "CUDA: %s (%s)", prop.name, e->comm->name);
	else
		snprintf(description, description_size, "CUDA: %s", prop.name);
	*state = e;
	rc = 0;
done:
	free(inv_freq);
	if (rc != 0)
		cuda_engine_free(e);
	return rc;
}
