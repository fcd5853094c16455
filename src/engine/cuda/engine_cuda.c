/*
 * engine_cuda.c - the Llama forward pass on NVIDIA GPUs: one rank of a model that
 * tensor_parallel.h may split (the whole model with one rank).
 *
 * The same math as engine_cpu.c, step for step: float32 activations, the KV cache in
 * the element type asked for (bf16, e4m3 or f32, rounded as the CPU rounds it), 8-bit
 * layers quantizing their input as vLLM does, so that the two backends agree to the
 * rounding of the sums (FP8 tensor cores accumulate in fewer bits: see the GPU tests).
 * The rank's state and its making are cuda_engine.h and cuda_engine_setup.c, its
 * all-reduce and communicator cuda_engine_comm.c.
 *
 * Per layer, for up to e->batch tokens at positions pos..:
 *   h = rmsnorm(x) (quantized in the same launch);  q, k, v = q/k/v_proj(h);
 *   rope(q, k) and k, v into the cache (one launch; for one token, in the attention's
 *   launch; a prefill's q is rotated by the tiled attention as it reads it);
 *   a = attention(q, cache);
 *   x += all_reduce(o_proj(a)), normed and quantized in one launch;
 *   x += all_reduce(down_proj(silu(gate_proj(h)) * up_proj(h))), added by the next
 *   layer's first launch (a prefill of one rank's 8-bit GEMMs adds o_proj's and
 *   down_proj's products into x itself: run_output_product).
 * Prefill takes cuBLASLt for the 8-bit products and the tiled tensor-core attention;
 * one decoded token (or a verify pass of a few) runs GEMV kernels, which
 * cuda_engine_step.c captures once as a CUDA graph and replays.  kernels/ holds the
 * kernels, BENCHMARKS.md the figures.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "attention_prefill.h"
#include "cuda_engine.h"
#include "cuda_try.h"
#include "gemm_cublaslt.h"

/* From here on cuBLASLt: below, the GEMV kernels stream the weights once for all the
 * tokens and give each token the one-token step's bits (speculative decoding's verify
 * pass must agree with the step it replaces). */
#define GEMM_MIN_TOKENS (LLMK_GEMV_MAX_TOKENS + 1)

/* Many tokens of a BF16 layer (a BF16 model's, or an 8-bit model's lm_head) through
 * cuBLASLt's BF16 tensor cores, the float input split in two BF16 parts; their room is
 * e->acc, the INT8 product's accumulators, which every product uses only within its
 * own launches, in stream order.  1 when it does not apply. */
static int run_gemm_bf16(struct cuda_engine *e, const struct gpu_linear *l, const float *input, int n, float *y,
			 int y_stride, char *err, size_t err_size)
{
	if (l->dtype != LLMK_BF16 || n < GEMM_MIN_TOKENS || y_stride != l->rows)
		return 1;
	return llmk_gemm_bf16(e->gemm, l->weight, l->rows, l->cols, input, n, e->acc, y, e->stream, err, err_size);
}

/* Whether n tokens of l, into rows y_stride floats apart, go through cuBLASLt's 8-bit
 * GEMM (run_gemm), which reads only the quantized input. */
static bool gemm_8bit_applies(const struct gpu_linear *l, int n, int y_stride)
{
	return n >= GEMM_MIN_TOKENS && y_stride == l->rows &&
	       ((l->dtype == LLMK_E4M3 && l->quant == LLMK_QUANT_FP8_STATIC && l->weight_scale_count == 1) ||
		l->dtype == LLMK_I8);
}

/* Many tokens of an 8-bit layer through cuBLASLt, into y or (add_to_y) added to y; 1
 * when it does not apply. */
static int run_gemm(struct cuda_engine *e, const struct gpu_linear *l, int n, float *y, int y_stride, bool add_to_y,
		    char *err, size_t err_size)
{
	if (!gemm_8bit_applies(l, n, y_stride))
		return 1;
	if (l->dtype == LLMK_E4M3)
		return llmk_gemm_fp8(e->gemm, l->weight, l->rows, l->cols, l->weight_scale, e->xq, e->x_scales, n, y,
				     add_to_y, e->stream, err, err_size);
	return llmk_gemm_int8(e->gemm, l->weight, l->rows, l->cols, l->weight_scale, l->weight_scale_count, e->xq,
			      e->x_scales, n, e->acc, y, add_to_y, e->stream, err, err_size);
}

/* Whether n tokens of l (o_proj or down_proj) add their output into the residual stream
 * e->x in the product itself (the 8-bit GEMM, one rank: no all-reduce between), instead
 * of leaving it in e->tmp for the next norm to add: the norm then reads one row instead
 * of two and writes no residual (at 2048 tokens of 8B, 67 MB less a norm). */
static bool adds_into_residual(const struct cuda_engine *e, const struct gpu_linear *l, int n)
{
	return !e->comm && gemm_8bit_applies(l, n, e->model->config.hidden_size);
}

/* Whether l quantizes its input exactly as previous did (same scheme, same static
 * scale): then the quantized input previous left in e->xq serves l too.  q/k/v and
 * gate/up read one input, and calibration gives them the same input scale. */
static bool same_quantization(const struct gpu_linear *previous, const struct gpu_linear *l)
{
	return previous && previous->quant == l->quant && previous->cols == l->cols &&
	       (l->quant == LLMK_QUANT_FP8_DYNAMIC || l->quant == LLMK_QUANT_INT8_DYNAMIC ||
		previous->input_scale == l->input_scale);
}

static struct llmk_gemv_matrix gemv_matrix(const struct gpu_linear *l, float *y)
{
	return (struct llmk_gemv_matrix){l->weight, l->weight_scale, l->weight_scale_count, l->rows, y};
}

/* y = layer(input) as a GEMV with the engine's products, for a few tokens of 8-bit
 * weights, ending with then_norm when not NULL (one token): 1 when it does not apply
 * (too many tokens, a strided output, an unaligned shape), else 0 or -1. */
static int run_gemv(struct cuda_engine *e, const struct gpu_linear *l, const float *input, const void *xq,
		    const float *x_scales, int n, float *y, int y_stride, const struct llmk_gemv_norm *then_norm,
		    char *err, size_t err_size)
{
	if (l->quant == LLMK_QUANT_NONE || n > LLMK_GEMV_MAX_TOKENS || (n > 1 && y_stride != l->rows))
		return 1;
	const struct llmk_gemv_matrix m = gemv_matrix(l, y);
	const struct llmk_gemv_input in = {l->dtype, l->cols, input, xq, x_scales, n, e->gemv_products, then_norm,
					   then_norm ? e->last_block_words : NULL};
	cudaError_t status = llmk_gemv(&m, &in, -1, e->stream);
	if (status == cudaErrorNotSupported) {
		cudaGetLastError();
		return 1;
	}
	CUDA_TRY(status);
	return 0;
}

/* y = layer(input) for n tokens whose input is already quantized for l (8-bit weights)
 * in xq / x_scales: e->xq, or another buffer for one token (the GEMV reads any). */
static int run_linear_quantized(struct cuda_engine *e, const struct gpu_linear *l, const float *input, const void *xq,
				const float *x_scales, int n, float *y, int y_stride, char *err, size_t err_size)
{
	int rc = run_gemv(e, l, input, xq, x_scales, n, y, y_stride, NULL, err, err_size);
	if (rc <= 0)
		return rc;
	if (l->quant != LLMK_QUANT_NONE && xq == e->xq)
		rc = run_gemm(e, l, n, y, y_stride, false, err, err_size);
	else if (l->quant == LLMK_QUANT_NONE)
		rc = run_gemm_bf16(e, l, input, n, y, y_stride, err, err_size);
	if (rc <= 0)
		return rc;
	CUDA_TRY(llmk_linear(l->weight, l->dtype, l->rows, l->cols, l->weight_scale, l->weight_scale_count, input, xq,
			     x_scales, n, y, y_stride, e->stream));
	return 0;
}

/* y = layer(input) for n tokens, quantizing the input first for 8-bit weights unless
 * previous (run just before on the same input) already left it quantized the same way. */
static int run_linear_after(struct cuda_engine *e, const struct gpu_linear *previous, const struct gpu_linear *l,
			    const float *input, int n, float *y, int y_stride, char *err, size_t err_size)
{
	if (l->quant != LLMK_QUANT_NONE && !same_quantization(previous, l))
		CUDA_TRY(llmk_quantize(input, n, l->cols, l->quant, l->input_scale, e->xq, e->x_scales, e->stream));
	return run_linear_quantized(e, l, input, e->xq, e->x_scales, n, y, y_stride, err, err_size);
}

/* y = layer(input) for n tokens, quantizing the input first for 8-bit weights. */
static int run_linear(struct cuda_engine *e, const struct gpu_linear *l, const float *input, int n, float *y,
		      int y_stride, char *err, size_t err_size)
{
	return run_linear_after(e, NULL, l, input, n, y, y_stride, err, err_size);
}

/* Whether l, run on n tokens into rows y_stride floats apart just after first on the
 * same input, reads only the input quantized for first (e->xq): the same quantization,
 * through the 8-bit GEMM. */
static bool reads_quantized_only(const struct gpu_linear *first, const struct gpu_linear *l, int n, int y_stride)
{
	return same_quantization(first, l) && gemm_8bit_applies(l, n, y_stride);
}

/* Where a norm writes its normed rows for layer: e->h, or NULL (not written) when every
 * reader takes them quantized (float_rows false, a quantizing layer). */
static float *normed_rows(const struct cuda_engine *e, const struct gpu_linear *layer, bool float_rows)
{
	return float_rows || layer->quant == LLMK_QUANT_NONE ? e->h : NULL;
}

/* A layer's input rows: the residual stream e->x, plus first the output a previous
 * layer left in e->tmp when add_pending (added into e->x), normed into e->h and, when
 * layer quantizes its input, also quantized into e->xq: one launch.  With float_rows
 * false (every reader takes e->xq only: reads_quantized_only) the normed rows are not
 * written to e->h, for a quantizing layer. */
static int norm_input(struct cuda_engine *e, bool add_pending, const float *norm, const struct gpu_linear *layer,
		      bool float_rows, int n, char *err, size_t err_size)
{
	const struct model_config *c = &e->model->config;
	float *normed = normed_rows(e, layer, float_rows);
	if (add_pending)
		CUDA_TRY(llmk_add_rmsnorm_quantize(e->x, e->tmp, norm, normed, n, c->hidden_size, c->rms_norm_eps,
						   layer->quant, layer->input_scale, e->xq, e->x_scales, e->stream));
	else if (layer->quant == LLMK_QUANT_NONE)
		CUDA_TRY(llmk_rmsnorm(e->x, norm, e->h, n, c->hidden_size, c->rms_norm_eps, e->stream));
	else
		CUDA_TRY(llmk_rmsnorm_quantize(e->x, norm, normed, n, c->hidden_size, c->rms_norm_eps, layer->quant,
					       layer->input_scale, e->xq, e->x_scales, e->stream));
	return 0;
}

/* The final norm of rows first.. of the last layer's output (the residual stream in
 * residual, e->x or e->x_mid, and with pending the MLP output still in e->tmp, added
 * here) into e->h, for lm_head. */
static int final_norm(struct cuda_engine *e, float *residual, bool pending, int first, int rows, char *err,
		      size_t err_size)
{
	const struct model_config *c = &e->model->config;
	size_t offset = (size_t)first * c->hidden_size;
	if (!pending)
		CUDA_TRY(llmk_rmsnorm(residual + offset, e->norm, e->h, rows, c->hidden_size, c->rms_norm_eps,
				      e->stream));
	else
		CUDA_TRY(llmk_add_rmsnorm_quantize(residual + offset, e->tmp + offset, e->norm, e->h, rows,
						   c->hidden_size, c->rms_norm_eps, LLMK_QUANT_NONE, 0, NULL, NULL,
						   e->stream));
	return 0;
}

/* Whether l's input scale is static: then the kernel that makes its input can quantize
 * it too (llmk_static_quant), with no launch of its own. */
static bool static_input(const struct gpu_linear *l)
{
	return l->quant == LLMK_QUANT_FP8_STATIC || l->quant == LLMK_QUANT_INT8_STATIC;
}

/* Whether the launch that makes l's input for one token (the decode attention, the
 * SwiGLU) can also round it under l's dynamic scheme, its last block taking the row's
 * maximum (llmk_attention's and llmk_gemv_swiglu's last_block), with last_block_work. */
static bool dynamic_input_fuses(const struct cuda_engine *e, const struct gpu_linear *l, int n)
{
	return n == 1 && e->last_block_work && (l->quant == LLMK_QUANT_FP8_DYNAMIC || l->quant == LLMK_QUANT_INT8_DYNAMIC);
}

/* The n tokens a fused GEMV of l's type reads: e->h, or e->xq as norm_input left it. */
static struct llmk_gemv_input gemv_input(const struct cuda_engine *e, const struct gpu_linear *l, int n)
{
	return (struct llmk_gemv_input){l->dtype, l->cols, e->h, e->xq, e->x_scales, n, e->gemv_products, NULL, NULL};
}

/* Whether one fused GEMV launch can run a and b on n tokens: few enough tokens, same
 * weights' type, same input, quantized the same way. */
static bool fusable(const struct gpu_linear *a, const struct gpu_linear *b, int n)
{
	return n <= LLMK_GEMV_MAX_TOKENS && a->dtype == b->dtype && a->cols == b->cols &&
	       (a->quant == LLMK_QUANT_NONE ? b->quant == LLMK_QUANT_NONE : same_quantization(a, b));
}

/* q, k, v of n tokens from e->h (and e->xq, quantized for q_proj by norm_input):
 * one launch for a few tokens, else one product each. */
static int run_qkv(struct cuda_engine *e, const struct gpu_layer *l, int n, float *k_rows, float *v_rows, char *err,
		   size_t err_size)
{
	if (fusable(&l->q_proj, &l->k_proj, n) && fusable(&l->q_proj, &l->v_proj, n)) {
		struct llmk_gemv_matrix m[3] = {gemv_matrix(&l->q_proj, e->q), gemv_matrix(&l->k_proj, k_rows),
						gemv_matrix(&l->v_proj, v_rows)};
		const struct llmk_gemv_input in = gemv_input(e, &l->q_proj, n);
		cudaError_t status = llmk_gemv_multi(m, 3, &in, e->stream);
		if (status != cudaErrorNotSupported) {
			CUDA_TRY(status);
			return 0;
		}
		cudaGetLastError();
	}
	if (run_linear_after(e, &l->q_proj, &l->q_proj, e->h, n, e->q, e->q_dim, err, err_size) ||
	    run_linear_after(e, &l->q_proj, &l->k_proj, e->h, n, k_rows, e->kv_dim, err, err_size) ||
	    run_linear_after(e, &l->k_proj, &l->v_proj, e->h, n, v_rows, e->kv_dim, err, err_size))
		return -1;
	return 0;
}

/* Where down_proj's input is already quantized (xq NULL: not yet). */
struct quantized_input {
	const void *xq;
	const float *scales;
};

/* silu(gate(h)) * up(h) of n tokens into e->gate, and quantized for down_proj when it
 * quantizes its input and a launch here can do it: *down_input says where. */
static int run_gate_up(struct cuda_engine *e, const struct gpu_layer *l, int n, struct quantized_input *down_input,
		       char *err, size_t err_size)
{
	const struct gpu_linear *down = &l->down_proj;
	*down_input = (struct quantized_input){NULL, NULL};
	if (fusable(&l->gate_proj, &l->up_proj, n)) {
		struct llmk_gemv_matrix gate = gemv_matrix(&l->gate_proj, NULL), up = gemv_matrix(&l->up_proj, NULL);
		struct llmk_static_quant down_quant = {down->quant, down->input_scale, e->xq_mlp, e->mlp_scale};
		const bool dynamic = dynamic_input_fuses(e, down, n), quantize = static_input(down) || dynamic;
		struct llmk_gemv_input in = gemv_input(e, &l->gate_proj, n);
		if (dynamic)
			in.last_block = e->last_block_words;
		cudaError_t status = llmk_gemv_swiglu(&gate, &up, &in, e->gate, quantize ? &down_quant : NULL, e->stream);
		if (status != cudaErrorNotSupported) {
			CUDA_TRY(status);
			if (quantize)
				*down_input = (struct quantized_input){e->xq_mlp, e->mlp_scale};
			return 0;
		}
		cudaGetLastError();
	}
	if (run_linear_after(e, &l->gate_proj, &l->gate_proj, e->h, n, e->gate, e->intermediate, err, err_size) ||
	    run_linear_after(e, &l->gate_proj, &l->up_proj, e->h, n, e->up, e->intermediate, err, err_size))
		return -1;
	if (down->quant == LLMK_QUANT_NONE) {
		CUDA_TRY(llmk_swiglu(e->gate, e->up, (size_t)n * e->intermediate, e->stream));
		return 0;
	}
	CUDA_TRY(llmk_swiglu_quantize(e->gate, e->up, e->gate, n, e->intermediate, down->quant, down->input_scale,
				      e->xq, e->x_scales, e->stream));
	*down_input = (struct quantized_input){e->xq, e->x_scales};
	return 0;
}

/* What the residual stream holds between a layer's launches: the last product's output
 * added (e->x), still in e->tmp for the next norm to add, or added and already normed
 * (and quantized) for the next product by the product's own launch (llmk_gemv_norm). */
enum residual_state { RESIDUAL_ADDED, RESIDUAL_PENDING, RESIDUAL_NORMED };

/* The norm after an output product: its weight, for the input of layer (quantized as
 * layer quantizes), the normed rows in e->h too when float_rows (norm_input's terms). */
struct next_norm {
	const float *weight;
	const struct gpu_linear *layer;
	bool float_rows;
};

/* Whether l's one-token GEMV can end with the next norm (llmk_gemv_norm): asked for
 * (last_block_work), one rank (no all-reduce between them), 8-bit weights, a hidden
 * size the kernel takes. */
static bool norm_fuses(const struct cuda_engine *e, const struct gpu_linear *l, int n)
{
	const int hidden = e->model->config.hidden_size;
	return n == 1 && !e->comm && e->last_block_work && l->quant != LLMK_QUANT_NONE && hidden % 4 == 0 &&
	       hidden <= LLMK_GEMV_NORM_MAX;
}

/* o_proj or down_proj of one token as a GEMV whose last block adds it into e->x and
 * runs next (llmk_gemv_norm); 1 when the kernel does not take it. */
static int run_product_then_norm(struct cuda_engine *e, const struct gpu_linear *l, const float *input, const void *xq,
				 const float *x_scales, const struct next_norm *next, char *err, size_t err_size)
{
	const struct model_config *c = &e->model->config;
	const struct llmk_gemv_norm then_norm = {
		.residual = e->x, .weight = next->weight, .eps = c->rms_norm_eps,
		.normed = normed_rows(e, next->layer, next->float_rows), .quant = next->layer->quant,
		.static_scale = next->layer->input_scale, .xq = e->xq, .scales = e->x_scales,
	};
	return run_gemv(e, l, input, xq, x_scales, 1, e->tmp, c->hidden_size, &then_norm, err, err_size);
}

/* The output of o_proj or down_proj for n tokens of input (already quantized for l in
 * xq / x_scales unless xq is NULL): added into the residual stream e->x by the product
 * itself where it can (adds_into_residual; *state RESIDUAL_ADDED), and then normed for
 * the next product by the same launch where next is given and it can (norm_fuses;
 * RESIDUAL_NORMED), else into e->tmp, summed over the ranks, for the next norm to add
 * (RESIDUAL_PENDING). */
static int run_output_product(struct cuda_engine *e, const struct gpu_linear *l, const float *input, const void *xq,
			      const float *x_scales, int n, const struct next_norm *next, enum residual_state *state,
			      char *err, size_t err_size)
{
	const int hidden = e->model->config.hidden_size;
	if (adds_into_residual(e, l, n)) {
		if (xq != e->xq)
			CUDA_TRY(llmk_quantize(input, n, l->cols, l->quant, l->input_scale, e->xq, e->x_scales,
					       e->stream));
		xq = e->xq;
		x_scales = e->x_scales;
		const int rc = run_gemm(e, l, n, e->x, hidden, true, err, err_size);
		*state = rc != 0 ? RESIDUAL_PENDING : RESIDUAL_ADDED;
		if (rc <= 0)
			return rc;
		/* cuBLASLt has no kernel for it: the other products, into e->tmp */
	}
	if (next && norm_fuses(e, l, n)) {
		if (!xq) {
			CUDA_TRY(llmk_quantize(input, n, l->cols, l->quant, l->input_scale, e->xq, e->x_scales,
					       e->stream));
			xq = e->xq;
			x_scales = e->x_scales;
		}
		const int rc = run_product_then_norm(e, l, input, xq, x_scales, next, err, err_size);
		*state = RESIDUAL_NORMED;
		if (rc <= 0)
			return rc;
	}
	*state = RESIDUAL_PENDING;
	if ((xq ? run_linear_quantized(e, l, input, xq, x_scales, n, e->tmp, hidden, err, err_size)
		: run_linear(e, l, input, n, e->tmp, hidden, err, err_size)) != 0)
		return -1;
	return cuda_all_reduce(e, e->tmp, (size_t)n * hidden, err, err_size);
}

/* RoPE on the new tokens' k (e->key_rows) and v (e->value_rows) into the layer's
 * cache, and on e->q when rotate_q, in one launch. */
static int rope_store(struct cuda_engine *e, void *key_cache, void *value_cache, int n, int pos, bool graph,
		      bool rotate_q, char *err, size_t err_size)
{
	const struct model_config *c = &e->model->config;
	CUDA_TRY(llmk_rope_store_kv(e->q, e->q_dim, rotate_q ? e->plan.q_heads : 0, e->key_rows, e->value_rows,
				    e->plan.kv_heads, c->head_dim, n, graph ? 0 : pos,
				    graph ? e->device_position : NULL, e->inv_freq, key_cache, value_cache,
				    e->cache_dtype, e->stream));
	return 0;
}

/* RoPE and the KV store (rope_store), then attention of n tokens at position pos over
 * the layer's cache into e->att; one token's decode attention does the RoPE and the
 * store in its own launch.  In a graph the position is read on the device.  Where
 * o_proj's input scale is static, the attention of a graph or the tiled prefill
 * attention quantizes e->att into e->xq too (*quantized set then). */
static int run_attention(struct cuda_engine *e, void *key_cache, void *value_cache, int n, int pos, bool graph,
			 const struct gpu_linear *o_proj, bool *quantized, char *err, size_t err_size)
{
	const struct model_config *c = &e->model->config;
	const struct llmk_attention a = {
		.q = e->q, .key_cache = key_cache, .value_cache = value_cache, .cache_dtype = e->cache_dtype,
		.out = e->att, .count = n, .pos0 = pos, .heads = e->plan.q_heads, .kv_heads = e->plan.kv_heads,
		.head_dim = c->head_dim, .scale = (float)(1.0 / sqrt((double)c->head_dim)),
	};
	const bool prefill = !graph && n > LLMK_DECODE_MAX_TOKENS;
	const struct llmk_static_quant o_quant = {o_proj->quant, o_proj->input_scale, e->xq, e->x_scales};
	const struct llmk_rope_store new_token = {e->key_rows, e->value_rows, e->inv_freq};
	struct llmk_attention decode = a;
	decode.scratch = e->attention_scratch;
	decode.max_tokens = e->batch;
	const bool dynamic = dynamic_input_fuses(e, o_proj, n);
	*quantized = graph && (static_input(o_proj) || dynamic);
	if (graph) {
		decode.pos_dev = e->device_position;
		decode.outq = *quantized ? &o_quant : NULL;
		decode.last_block = dynamic ? e->last_block_words : NULL;
	}
	cudaError_t status = cudaErrorNotSupported;
	if (n == 1) { /* RoPE and the store in the attention's launch */
		decode.rope_store = &new_token;
		status = llmk_attention_decode(&decode, e->stream);
		decode.rope_store = NULL;
	}
	if (status == cudaErrorNotSupported) {
		cudaGetLastError();
		/* prefill: the keys rotated and stored, then the tiled tensor-core kernel where
		 * it applies, rotating q as it reads it (and quantizing its output for o_proj
		 * when its input scale is static); else q rotated too (the keys stored again,
		 * the same bits) for the split kernel, else (not in a graph) the general one */
		struct llmk_attention tiled = a;
		tiled.outq = static_input(o_proj) ? &o_quant : NULL;
		tiled.rope_table = e->rope_table; /* run_batch made it for a prefill step */
		if (prefill) {
			if (rope_store(e, key_cache, value_cache, n, pos, graph, false, err, err_size) != 0)
				return -1;
			status = llmk_attention_prefill(&tiled, e->stream);
		}
		if (status == cudaSuccess)
			*quantized = tiled.outq != NULL;
		if (status == cudaErrorNotSupported) {
			cudaGetLastError();
			if (rope_store(e, key_cache, value_cache, n, pos, graph, true, err, err_size) != 0)
				return -1;
			status = llmk_attention_decode(&decode, e->stream);
		}
		if (status == cudaErrorNotSupported && !graph) {
			cudaGetLastError();
			status = llmk_attention_general(&a, e->stream);
		}
	}
	CUDA_TRY(status);
	return 0;
}

/* Layer index's part of a cache (e->key_cache or e->value_cache). */
static void *layer_cache(const struct cuda_engine *e, void *cache, int index)
{
	return (unsigned char *)cache + (size_t)index * e->context_length * e->kv_dim * e->cache_element;
}

/* Whether a norm for q/k/v (gate/up with mlp) of layer l on n tokens must write its
 * normed rows in float too: some product reads more than the quantized input. */
static bool input_float_rows(const struct cuda_engine *e, const struct gpu_layer *l, bool mlp, int n)
{
	if (mlp)
		return !reads_quantized_only(&l->gate_proj, &l->gate_proj, n, e->intermediate) ||
		       !reads_quantized_only(&l->gate_proj, &l->up_proj, n, e->intermediate);
	return !reads_quantized_only(&l->q_proj, &l->q_proj, n, e->q_dim) ||
	       !reads_quantized_only(&l->q_proj, &l->k_proj, n, e->kv_dim) ||
	       !reads_quantized_only(&l->q_proj, &l->v_proj, n, e->kv_dim);
}

/* The norm of layer l's input for q/k/v, or (mlp) for gate/up, unless the product
 * before already ran it (state RESIDUAL_NORMED); the output of the layer before still in
 * e->tmp (RESIDUAL_PENDING) is added first. */
static int norm_unless_done(struct cuda_engine *e, enum residual_state state, const struct gpu_layer *l, bool mlp,
			    int n, char *err, size_t err_size)
{
	if (state == RESIDUAL_NORMED)
		return 0;
	return norm_input(e, state == RESIDUAL_PENDING, mlp ? l->post_attention_layernorm : l->input_layernorm,
			  mlp ? &l->gate_proj : &l->q_proj, input_float_rows(e, l, mlp, n), n, err, err_size);
}

/* The norm that follows o_proj (mlp: post_attention_layernorm of l, for gate/up) or
 * down_proj (l the next layer: its input_layernorm, for q/k/v). */
static struct next_norm norm_after(const struct cuda_engine *e, const struct gpu_layer *l, bool mlp, int n)
{
	return (struct next_norm){mlp ? l->post_attention_layernorm : l->input_layernorm,
				  mlp ? &l->gate_proj : &l->q_proj, input_float_rows(e, l, mlp, n)};
}

/* One layer for n tokens at position pos; with graph set (one token, the position
 * read on the device at *device_position), nothing launched depends on pos, so the
 * launches can be captured once and replayed.  *state says what the layer before left
 * in the residual stream (its MLP output still in e->tmp, to be added by this layer's
 * first launch; or added and already normed for this layer's q/k/v), and on return
 * what this layer leaves (the next layer's first launch or final_norm adds a pending
 * output; the last layer never leaves it normed). */
static int run_layer(struct cuda_engine *e, int index, int n, int pos, bool graph, enum residual_state *state,
		     char *err, size_t err_size)
{
	const struct gpu_layer *l = &e->layers[index];
	void *key_cache = layer_cache(e, e->key_cache, index), *value_cache = layer_cache(e, e->value_cache, index);
	if (norm_unless_done(e, *state, l, false, n, err, err_size) ||
	    run_qkv(e, l, n, e->key_rows, e->value_rows, err, err_size))
		return -1;
	bool att_quantized;
	const struct next_norm post_attention = norm_after(e, l, true, n);
	if (run_attention(e, key_cache, value_cache, n, pos, graph, &l->o_proj, &att_quantized, err, err_size) ||
	    run_output_product(e, &l->o_proj, e->att, att_quantized ? e->xq : NULL, e->x_scales, n, &post_attention,
			       state, err, err_size))
		return -1;
	struct quantized_input down_input;
	struct next_norm next_input; /* the next layer's, after down_proj (none after the last) */
	const struct next_norm *after_down = NULL;
	if (index + 1 < e->model->config.num_hidden_layers) {
		next_input = norm_after(e, &e->layers[index + 1], false, n);
		after_down = &next_input;
	}
	if (norm_unless_done(e, *state, l, true, n, err, err_size) || run_gate_up(e, l, n, &down_input, err, err_size) ||
	    run_output_product(e, &l->down_proj, e->gate, down_input.xq, down_input.scales, n, after_down, state, err,
			       err_size))
		return -1;
	return 0;
}

/* Every layer for n tokens at position pos (run_layer, graph as it says); *pending
 * (when not NULL) says whether the last layer's MLP output is still in e->tmp, for
 * final_norm (always with 1 to 9 tokens: the GEMVs write e->tmp). */
int cuda_run_layers(struct cuda_engine *e, int n, int pos, bool graph, bool *pending, char *err, size_t err_size)
{
	enum residual_state state = RESIDUAL_ADDED;
	for (int i = 0; i < e->model->config.num_hidden_layers; i++)
		if (run_layer(e, i, n, pos, graph, &state, err, err_size) != 0)
			return -1;
	if (pending)
		*pending = state == RESIDUAL_PENDING;
	return 0;
}

/* The start of a position-free pass (a decode step or a verify pass): its n tokens
 * and its position copied from pinned memory, the tokens' embeddings into e->x. */
int cuda_enqueue_pinned_input(struct cuda_engine *e, int n, char *err, size_t err_size)
{
	CUDA_TRY(cudaMemcpyAsync(e->tokens, e->pinned_token, (size_t)n * sizeof(int32_t), cudaMemcpyHostToDevice,
				 e->stream));
	CUDA_TRY(cudaMemcpyAsync(e->device_position, e->pinned_position, sizeof(int), cudaMemcpyHostToDevice,
				 e->stream));
	CUDA_TRY(llmk_embed(e->embed_tokens, e->embed_dtype, e->tokens, n, e->model->config.hidden_size, e->x,
			    e->stream));
	return 0;
}

/* One batch of n <= e->batch tokens; logits of every token or of the last one. */
int cuda_run_batch(struct cuda_engine *e, const int32_t *tokens, int n, int pos, float *logits, bool all_logits,
		     char *err, size_t err_size)
{
	const struct model_config *c = &e->model->config;
	CUDA_TRY(cudaMemcpyAsync(e->tokens, tokens, (size_t)n * sizeof *tokens, cudaMemcpyHostToDevice, e->stream));
	CUDA_TRY(llmk_embed(e->embed_tokens, e->embed_dtype, e->tokens, n, c->hidden_size, e->x, e->stream));
	if (n > LLMK_DECODE_MAX_TOKENS) /* RoPE's cosines and sines, once for every layer's attention */
		CUDA_TRY(llmk_rope_table(e->inv_freq, c->head_dim, n, pos, e->rope_table, e->stream));
	bool pending;
	if (cuda_run_layers(e, n, pos, false, &pending, err, err_size) != 0)
		return -1;
	if (!logits)
		return 0;
	/* the last token's logits, or every token's LOGIT_ROWS at a time; each chunk's copy
	 * into this rank's columns of the caller's rows waits for it before the next */
	for (int first = all_logits ? 0 : n - 1; first < n; first += LOGIT_ROWS) {
		int rows = n - first < LOGIT_ROWS ? n - first : LOGIT_ROWS;
		float *out = logits + (size_t)(all_logits ? first : 0) * c->vocab_size + e->plan.first_vocab;
		if (final_norm(e, e->x, pending, first, rows, err, err_size) ||
		    run_linear(e, &e->lm_head, e->h, rows, e->logits, e->plan.vocab, err, err_size))
			return -1;
		CUDA_TRY(cudaMemcpy2DAsync(out, (size_t)c->vocab_size * sizeof(float), e->logits,
					   (size_t)e->plan.vocab * sizeof(float), (size_t)e->plan.vocab * sizeof(float),
					   (size_t)rows, cudaMemcpyDeviceToHost, e->stream));
	}
	return 0;
}

static struct llmk_segment_matrix segment_matrix(const struct gpu_linear *l)
{
	return (struct llmk_segment_matrix){l->weight, l->weight_scale, l->weight_scale_count, l->rows, l->quant,
					    l->input_scale};
}

/* Layer index's segment (decode_segment.h): its o_proj to the next layer's q/k/v. */
static struct llmk_decode_segment layer_segment(const struct cuda_engine *e, int index)
{
	const struct model_config *c = &e->model->config;
	const struct gpu_layer *l = &e->layers[index];
	struct llmk_decode_segment s = {
		.wdtype = l->o_proj.dtype, .hidden = c->hidden_size, .intermediate = e->intermediate, .q_dim = e->q_dim,
		.eps = c->rms_norm_eps, .att = e->att, .o_proj = segment_matrix(&l->o_proj), .x = e->x,
		.x_mid = e->x_mid, .tmp = e->tmp, .post_norm = l->post_attention_layernorm,
		.gate = segment_matrix(&l->gate_proj), .up = segment_matrix(&l->up_proj), .gate_out = e->gate,
		.down = segment_matrix(&l->down_proj),
		.counters = e->segment_counters + (size_t)index * LLMK_SEGMENT_COUNTERS,
	};
	if (index + 1 < c->num_hidden_layers) {
		const struct gpu_layer *next = &e->layers[index + 1];
		s.next_norm = next->input_layernorm;
		s.q = segment_matrix(&next->q_proj);
		s.k = segment_matrix(&next->k_proj);
		s.v = segment_matrix(&next->v_proj);
		s.q_out = e->q;
		s.k_out = e->key_rows;
		s.v_out = e->value_rows;
	}
	return s;
}

static bool same_dtype(const struct gpu_layer *l, enum llmk_dtype dtype)
{
	const struct gpu_linear *all[] = {&l->q_proj, &l->k_proj, &l->v_proj, &l->o_proj,
					  &l->gate_proj, &l->up_proj, &l->down_proj};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		if (all[i]->dtype != dtype)
			return false;
	return true;
}

bool cuda_segments_usable(const struct cuda_engine *e)
{
	const struct model_config *c = &e->model->config;
	if (e->comm || !e->segments_wanted)
		return false;
	const enum llmk_dtype dtype = e->layers[0].o_proj.dtype;
	for (int i = 0; i < c->num_hidden_layers; i++) {
		const struct llmk_decode_segment s = layer_segment(e, i);
		if (!same_dtype(&e->layers[i], dtype) || llmk_decode_segment_check(&s) != cudaSuccess) {
			cudaGetLastError();
			return false;
		}
	}
	return true;
}

int cuda_run_segments(struct cuda_engine *e, char *err, size_t err_size)
{
	const struct model_config *c = &e->model->config;
	const struct gpu_layer *first = &e->layers[0];
	CUDA_TRY(cudaMemsetAsync(e->segment_counters, 0,
				 (size_t)c->num_hidden_layers * LLMK_SEGMENT_COUNTERS * sizeof(unsigned), e->stream));
	if (norm_input(e, false, first->input_layernorm, &first->q_proj, true, 1, err, err_size) ||
	    run_qkv(e, first, 1, e->key_rows, e->value_rows, err, err_size))
		return -1;
	for (int i = 0; i < c->num_hidden_layers; i++) {
		const struct llmk_decode_segment s = layer_segment(e, i);
		bool quantized;
		if (run_attention(e, layer_cache(e, e->key_cache, i), layer_cache(e, e->value_cache, i), 1, 0, true,
				  &e->layers[i].o_proj, &quantized, err, err_size) != 0)
			return -1;
		CUDA_TRY(llmk_decode_segment(&s, e->stream));
	}
	return 0;
}

/* The final norm of rows 0..rows - 1 of the last layer's output (the residual stream in
 * residual, the MLP output still in e->tmp when pending) and lm_head into e->logits. */
int cuda_enqueue_head(struct cuda_engine *e, float *residual, bool pending, int rows, char *err, size_t err_size)
{
	if (final_norm(e, residual, pending, 0, rows, err, err_size) != 0 ||
	    run_linear(e, &e->lm_head, e->h, rows, e->logits, e->plan.vocab, err, err_size) != 0)
		return -1;
	return 0;
}
