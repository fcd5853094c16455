/*
 * llm_kernels.h - the CUDA kernels of one Llama forward pass, as C-callable launchers.
 *
 * Numerics are the CPU path's (src/engine/cpu/cpu_linear.c, src/engine/cpu/engine_cpu.c): activations,
 * norms, RoPE, softmax and the KV cache in float32; 8-bit layers quantize their
 * input exactly as vLLM does (FP8: x * (1/s), saturate to +-448, round to nearest
 * even e4m3; INT8: x * (127 / max|x|) or x * (1/s), round half to even, clamp),
 * then accumulate in float32 (FP8, BF16) or int32 (INT8) and scale by the
 * activation scale and the per-tensor or per-row weight scale.
 *
 * Every launcher enqueues on stream and returns the launch status; nothing
 * synchronises.  Matrices are row-major, tokens are rows: x is [tokens][features].
 * This first version is written to be right; BENCHMARKS.md tracks the speed work.
 */
#ifndef LLMCHAT_LLM_KERNELS_H
#define LLMCHAT_LLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types as the kernels name them. */
enum llmk_dtype { LLMK_BF16, LLMK_F16, LLMK_F32, LLMK_E4M3, LLMK_I8 };

/* How a linear layer's input is quantized (the model's activation_quant). */
enum llmk_quant { LLMK_QUANT_NONE, LLMK_QUANT_FP8_STATIC, LLMK_QUANT_FP8_DYNAMIC,
		  LLMK_QUANT_INT8_DYNAMIC, LLMK_QUANT_INT8_STATIC };

/* A kernel that makes the input of a linear layer with a static input scale
 * (LLMK_QUANT_FP8_STATIC, LLMK_QUANT_INT8_STATIC) can write it quantized as well:
 * xq gets each token's bytes and scales[t] its scale, bit for bit what llmk_quantize
 * writes for the same rows (static schemes round every value alone, so the kernel
 * that makes a value can round it).  Passed as a pointer, NULL for none; other
 * schemes give cudaErrorInvalidValue. */
struct llmk_static_quant {
	enum llmk_quant quant;
	float scale;
	void *xq;
	float *scales;
};

/* out[t] = table[tokens[t]] as float; table is [vocab][hidden] of dtype. */
cudaError_t llmk_embed(const void *table, enum llmk_dtype dtype, const int32_t *tokens, int count,
		       int hidden, float *out, cudaStream_t stream);

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * weight, the mean accumulated in double. */
cudaError_t llmk_rmsnorm(const float *x, const float *weight, float *out, int count, int hidden, float eps,
			 cudaStream_t stream);

/* Quantizes count tokens of n features into xq (1 byte each: e4m3 or int8) and
 * writes each token's scale (0 for a zero row) to scales. */
cudaError_t llmk_quantize(const float *x, int count, int n, enum llmk_quant quant, float static_scale,
			  void *xq, float *scales, cudaStream_t stream);

/* llmk_rmsnorm then llmk_quantize in one launch, bit for bit the pair's result:
 * x is [count][hidden]; xq and scales as llmk_quantize writes them for the normed
 * rows (quant is not LLMK_QUANT_NONE, else cudaErrorInvalidValue); out, when not
 * NULL, gets the float normed rows exactly as llmk_rmsnorm writes them (BF16 layers
 * and the residual need them); out may be x. */
cudaError_t llmk_rmsnorm_quantize(const float *x, const float *weight, float *out, int count, int hidden,
				  float eps, enum llmk_quant quant, float static_scale, void *xq, float *scales,
				  cudaStream_t stream);

/* x += residual then llmk_rmsnorm_quantize(x, ..., out, ...) in one launch, bit
 * for bit: x += residual (written back), out = the normed rows (not x; NULL: not
 * written, for quant other than LLMK_QUANT_NONE only), and for quant other than
 * LLMK_QUANT_NONE xq / scales as llmk_quantize writes them (with LLMK_QUANT_NONE this is
 * the addition then llmk_rmsnorm). */
cudaError_t llmk_add_rmsnorm_quantize(float *x, const float *residual, const float *weight, float *out, int count,
				      int hidden, float eps, enum llmk_quant quant, float static_scale, void *xq,
				      float *scales, cudaStream_t stream);

/* llmk_swiglu then llmk_quantize in one launch, bit for bit: for count tokens of n
 * features, v = silu(gate) * up (the expression llmk_swiglu uses), quantized into
 * xq / scales as llmk_quantize does; out, when not NULL, gets v as float (out may
 * be gate, as llmk_swiglu writes it in place).  quant is not LLMK_QUANT_NONE. */
cudaError_t llmk_swiglu_quantize(const float *gate, const float *up, float *out, int count, int n,
				 enum llmk_quant quant, float static_scale, void *xq, float *scales,
				 cudaStream_t stream);

/* y[t][r] = sum_i W[r][i] * x[t][i] (scaled for 8-bit weights): W is [rows][cols]
 * of wdtype; for LLMK_E4M3 / LLMK_I8 the input is xq (from llmk_quantize) with its
 * per-token scales, and weight_scale holds 1 or rows values; else the input is x. */
cudaError_t llmk_linear(const void *weight, enum llmk_dtype wdtype, int rows, int cols,
			const float *weight_scale, int weight_scale_count,
			const float *x, const void *xq, const float *x_scales, int count,
			float *y, int y_stride, cudaStream_t stream);

/* One matrix of a one-token GEMV: weight [rows][cols], its scale (as llmk_linear's
 * weight_scale / weight_scale_count) and where its rows' outputs go. */
struct llmk_gemv_matrix {
	const void *weight;
	const float *weight_scale;
	int weight_scale_count;
	int rows;
	float *y;
};

/* Tokens a GEMV takes at once: the one-token step and 8 proposals, speculative
 * decoding's verify pass (chat_session.h's SPECULATION_MAX_DRAFT). */
#define LLMK_GEMV_MAX_TOKENS 9

/* The tokens a GEMV reads: the matrices' element type and columns, and the input, x
 * (BF16) or xq with x_scales (FP8 / INT8, from llmk_quantize or a kernel that
 * quantizes its output); tokens of them (0 means 1; at most LLMK_GEMV_MAX_TOKENS),
 * token t at x + t * cols or xq + t * cols with scale x_scales[t].  Token t's outputs
 * go to y + t * rows.  Each token's rows are the bits it gets alone: a verify pass of
 * several tokens computes what as many one-token steps would, whatever products
 * says, as long as the step and the pass say the same. */
enum llmk_gemv_products {
	LLMK_PRODUCTS_CUDA_CORES,   /* FP8: float32 multiply-adds on the CUDA cores; INT8: dp4a for
				     * one token, the tensor cores (mma.sync s8, int32 sums) for 2 or
				     * more: exact, so the same bits either way */
	LLMK_PRODUCTS_TENSOR,       /* the tensor cores for every token count: INT8 as above; FP8
				     * through mma.sync m16n8k32 on e4m3 with float32 accumulation
				     * (the tensor core's own rounding: other last bits than the CUDA
				     * cores', the same alone or with other tokens) */
	LLMK_PRODUCTS_TENSOR_F16,   /* as TENSOR, FP8 widened to f16 (exact) for m16n8k16 */
};

/* Work that needs a whole row that many blocks write (a norm, a dynamic scale) can be
 * done by the launch's last block to finish, so that no launch of its own stands
 * between one product and the next: each block counts itself in a few words of device
 * memory, LLMK_LAST_BLOCK_WORDS unsigned ints, zero before the first launch that uses
 * them and left zero by each (launches on one stream may share them). */
#define LLMK_LAST_BLOCK_WORDS 2

/* The residual add, RMSNorm and quantization that follow an output projection, run by
 * a one-token llmk_gemv's last block once every row of y is written:
 * llmk_add_rmsnorm_quantize(residual, y, weight, normed, 1, rows, eps, quant,
 * static_scale, xq, scales), bit for bit (the 1024-thread norm's order of summation).
 * rows a multiple of 4, at most LLMK_GEMV_NORM_MAX; residual, y, weight and normed
 * 16-byte aligned; normed may be NULL unless quant is LLMK_QUANT_NONE. */
#define LLMK_GEMV_NORM_MAX 8192
struct llmk_gemv_norm {
	float *residual;
	const float *weight;
	float eps;
	float *normed;
	enum llmk_quant quant;
	float static_scale;
	void *xq;
	float *scales;
};

struct llmk_gemv_input {
	enum llmk_dtype wdtype;
	int cols;
	const float *x;
	const void *xq;
	const float *x_scales;
	int tokens;
	enum llmk_gemv_products products; /* 8-bit weights: where the products add (above) */
	const struct llmk_gemv_norm *then_norm; /* llmk_gemv of one token only (others give
						 * cudaErrorInvalidValue): NULL, or the norm
						 * its launch ends with (above) */
	unsigned int *last_block; /* LLMK_LAST_BLOCK_WORDS: for then_norm, and for a dynamic
				   * yq of llmk_gemv_swiglu (one token); else NULL */
};

/* The one-token GEMV (decode) alone: matrix->y[r] = sum_i W[r][i] * input[i], scaled
 * as llmk_linear scales it; for FP8 and INT8 weights llmk_linear with count 1 is
 * llmk_gemv(..., -1) (BF16 stays on the warp-per-row kernel there, faster for BF16's
 * float input).
 * A block of 256 threads shares each row's 16-byte chunks and takes rows_per_block
 * rows: 1, 2 or 4; -1 picks (4); 0 runs the older warp-per-row kernel, kept for
 * comparison.  It is launched with programmatic dependent launch (sm_90): its blocks
 * may start, and load weights, while the stream's previous kernel finishes, and wait
 * for that kernel before reading the input or writing y; OR LLMK_GEMV_NO_PDL into
 * rows_per_block (1, 2, 4) to launch it plainly.  Needs cols x element size a
 * multiple of 16 and 16-byte aligned weight and input (cudaErrorNotSupported
 * otherwise: use llmk_linear).  A row's result does not depend on rows_per_block
 * (1, 2, 4), nor on being computed by llmk_gemv_multi or llmk_gemv_swiglu: the same
 * bits.  On the tensor cores (in->products, and INT8 of 2 or more tokens) a block
 * takes 16 rows whatever rows_per_block says; 0 (the warp-per-row kernel) with
 * products other than LLMK_PRODUCTS_CUDA_CORES gives cudaErrorInvalidValue. */
#define LLMK_GEMV_NO_PDL 0x100
cudaError_t llmk_gemv(const struct llmk_gemv_matrix *matrix, const struct llmk_gemv_input *in, int rows_per_block,
		      cudaStream_t stream);

/* One launch for 1 to 3 matrices of one input (q/k/v): matrices[i].y[r] is what
 * llmk_gemv gives for matrix i, bit for bit.  Launched as llmk_gemv (programmatic
 * dependent launch). */
cudaError_t llmk_gemv_multi(const struct llmk_gemv_matrix *matrices, int matrix_count,
			    const struct llmk_gemv_input *in, cudaStream_t stream);

/* One launch for gate/up + SwiGLU (of in->tokens tokens): y[r] = silu(g[r]) * u[r] where g and u
 * are llmk_gemv's outputs for gate and up (their .y are not used), bit for bit what
 * llmk_gemv, llmk_gemv, llmk_swiglu give; with yq (not NULL), y also quantized for
 * down_proj's static scale (llmk_static_quant; not into in->xq, which this launch
 * reads), or for one token under a dynamic scheme (FP8 or INT8 dynamic: the
 * launch's last block rounds the row, with in->last_block; llmk_quantize's bits; rows
 * a multiple of 4, y 16-byte aligned).  gate and up have the same rows.  Launched as
 * llmk_gemv (programmatic dependent launch). */
cudaError_t llmk_gemv_swiglu(const struct llmk_gemv_matrix *gate, const struct llmk_gemv_matrix *up,
			     const struct llmk_gemv_input *in, float *y, const struct llmk_static_quant *yq,
			     cudaStream_t stream);

/* RoPE (rotate_half layout, inv_freq: head_dim / 2 values) on q (q_heads heads, row
 * stride q_stride) and on the new k rows, then k and v into the caches (below), in
 * one launch: count tokens at positions pos0.. (or *pos_dev.. when pos_dev is not
 * NULL, for graph replay); key_rows / value_rows are [count][kv_heads * head_dim]
 * floats, key_rows left unrotated (the rotated values go to the cache only). */
cudaError_t llmk_rope_store_kv(float *q, int q_stride, int q_heads, const float *key_rows, const float *value_rows,
			       int kv_heads, int head_dim, int count, int pos0, const int *pos_dev,
			       const float *inv_freq, void *key_cache, void *value_cache, enum llmk_dtype cache_dtype,
			       cudaStream_t stream);

/* RoPE's cosines and sines of count tokens at positions pos0.. (inv_freq: head_dim / 2
 * values): table[2 * (t * head_dim / 2 + i)] and the float after it are the cosine and
 * the sine of pair i of token t, computed as llmk_rope_store_kv computes them, for the
 * prefill attention's rotation of q (struct llmk_attention's rope_table); head_dim / 2
 * x count pairs of floats, 16-byte aligned. */
cudaError_t llmk_rope_table(const float *inv_freq, int head_dim, int count, int pos0, float *table,
			    cudaStream_t stream);

/* The KV cache in float32 (LLMK_F32), bf16 (LLMK_BF16) or FP8 e4m3 (LLMK_E4M3) elements:
 * cache_dtype names the element type of key_cache / value_cache ([positions][kv_dim]).
 * Storing rounds each float once: bf16 to nearest even (__float2bfloat16_rn), e4m3
 * to nearest even saturating to +-448 with scale 1 (__nv_cvt_float_to_fp8 with
 * __NV_SATFINITE); reading widens to float, and the attention math stays float32.
 * Other dtypes give cudaErrorInvalidValue (store) or cudaErrorNotSupported (decode).
 */

/* llmk_attention_decode of one token with llmk_rope_store_kv's work in the same launch:
 * q is rotated as it is read (q itself is left unrotated), and the rotated k row and the
 * v row of the token (key_rows / value_rows: kv_heads * head_dim floats) go into the
 * caches (key_cache / value_cache are written then) at the token's position; out and
 * the caches get bit for bit what llmk_rope_store_kv then llmk_attention_decode give. */
struct llmk_rope_store {
	const float *key_rows, *value_rows;
	const float *inv_freq; /* head_dim / 2 values */
};

/* One attention launch, for every attention kernel (llmk_attention_general,
 * llmk_attention_decode, attention_prefill.h's llmk_attention_prefill): causal
 * grouped-query attention of count query tokens (q: [count][heads * head_dim] floats,
 * already rotated) at positions pos0.., over the cache rows 0..pos0+t of key_cache /
 * value_cache ([positions][kv_heads * head_dim] of cache_dtype):
 * out[t][h] = softmax(q k^T * scale) v, query head h reading KV head
 * h / (heads / kv_heads); out is [count][heads * head_dim] floats. */
struct llmk_attention {
	const float *q;
	const void *key_cache, *value_cache;
	enum llmk_dtype cache_dtype;
	float *out;
	int count, pos0;
	int heads, kv_heads, head_dim;
	float scale;
	/* llmk_attention_decode only (NULL / 0 elsewhere): */
	const int *pos_dev;                   /* not NULL: the position is *pos_dev, read on the
					       * device (graph replay), and pos0 is not used */
	float *scratch;                       /* llmk_attention_decode_scratch(heads, head_dim,
					       * max_tokens) floats */
	int max_tokens;
	const struct llmk_static_quant *outq; /* not NULL: out also quantized (o_proj's input) */
	unsigned int *last_block;             /* LLMK_LAST_BLOCK_WORDS, for an outq of a dynamic
					       * scheme (count 1 only: the last block of the
					       * launch that writes out rounds the row) */
	const struct llmk_rope_store *rope_store; /* not NULL (count 1 only): q is not rotated
					       * yet, and the token's k and v enter the cache in
					       * the same launch (above) */
	/* llmk_attention_prefill only (NULL elsewhere, cudaErrorInvalidValue when set): */
	const float *rope_table;              /* not NULL: llmk_rope_table's of the count tokens
					       * at pos0..; q is not rotated yet, and each query
					       * row is rotated as it is read, with
					       * llmk_rope_store_kv's bits (q itself is left as it
					       * is) */
};

/* The first-version kernel, one block per (head, token) with an online softmax over
 * tiles of positions: any head_dim <= 256 (e.g. 32) and any group; pos_dev, scratch,
 * outq, rope_store and rope_table are not used (cudaErrorInvalidValue when pos_dev, outq,
 * rope_store or rope_table is set). */
cudaError_t llmk_attention_general(const struct llmk_attention *a, cudaStream_t stream);

/* The same attention, faster: blocks of (KV head, token, split of the cached positions)
 * read each cached row once for the whole GQA group with coalesced loads and keep an
 * online softmax; a second kernel combines the splits.  A few tokens (decode, count <=
 * LLMK_DECODE_MAX_TOKENS) each take the splits one token takes: one wave of resident
 * blocks (at most 256 splits; the grid depends on the shape and the GPU, never on the
 * position or the count, so a captured graph replays it at every position, and eager,
 * graph and several-token runs give each token the same bits), every split at least
 * 64 rows of the context, so that every SM
 * has work at long contexts and most splits are empty at short ones (flash-decoding);
 * more tokens (prefill, not with pos_dev) take one split each.  Needs head_dim 64 or
 * 128, heads / kv_heads <= 8, count <= max_tokens and a cache of F32, BF16 or E4M3:
 * cudaErrorNotSupported otherwise; an outq of a dynamic scheme without last_block or
 * with count other than 1, rope_store with count other than 1, or rope_table gives
 * cudaErrorInvalidValue. */
#define LLMK_DECODE_MAX_TOKENS LLMK_GEMV_MAX_TOKENS
size_t llmk_attention_decode_scratch(int heads, int head_dim, int max_tokens);
cudaError_t llmk_attention_decode(const struct llmk_attention *a, cudaStream_t stream);

/* gate[i] = silu(gate[i]) * up[i] over n values. */
cudaError_t llmk_swiglu(float *gate, const float *up, size_t n, cudaStream_t stream);

/* Fills count elements of dtype with random values (a hash of the index and seed):
 * BF16 uniform in [-amplitude, amplitude]; e4m3 and int8 random codes (no e4m3 NaN).
 * For benchmarks at real shapes without weights (--dummy-weights). */
cudaError_t llmk_fill_random(void *p, size_t count, enum llmk_dtype dtype, uint32_t seed, float amplitude,
			     cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
