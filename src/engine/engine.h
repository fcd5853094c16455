/*
 * engine.h - the forward pass, one interface over the backends (CPU, CUDA).
 *
 * An engine owns a KV cache for one sequence.  Tokens go in at the current
 * position; logits of the last (or every) token come out.  The model stays owned by
 * the caller and must outlive the engine.
 */
#ifndef LLMCHAT_ENGINE_H
#define LLMCHAT_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "communicator.h"   /* enum comm_kind */
#include "model.h"

enum engine_backend { ENGINE_BACKEND_AUTO, ENGINE_BACKEND_CPU, ENGINE_BACKEND_CUDA };

/* The KV cache's element type (--kv-cache); the same on every backend. */
enum engine_kv_cache {
	ENGINE_KV_BF16,         /* default: k and v rounded to bfloat16 (nearest even) when stored */
	ENGINE_KV_FP8,          /* e4m3, saturating, scale 1 (vLLM's default without calibrated scales) */
	ENGINE_KV_F32,          /* float32: what a float32 transformers run keeps */
};

/* Paths a healthy run never takes, opened for the tests.  The program reads them from
 * the environment once, with its options (options_read_environment); nothing in the
 * engine reads the environment.  All zero: none. */
enum engine_test_failure {
	ENGINE_TEST_NO_FAILURE,
	ENGINE_TEST_FAIL_CREATE,    /* LLMCHAT_TEST_FAIL_RANK=R: rank R fails its creation */
	ENGINE_TEST_FAIL_FORWARD,   /* =R:forward: rank R fails its first forward (the others wait
				     * in the first all-reduce) */
};

/* Where the CUDA backend's one-token and verify-pass GEMVs of 8-bit weights add their
 * products (llm_kernels.h's llmk_gemv_products): the backend's choice, the CUDA cores
 * (INT8 takes the tensor cores for several tokens, the same bits), or the tensor cores
 * for every GEMV (FP8 through e4m3 or f16 mma.sync: other last bits than the CUDA
 * cores'). */
enum engine_gemv_products { ENGINE_PRODUCTS_DEFAULT, ENGINE_PRODUCTS_CUDA_CORES, ENGINE_PRODUCTS_TENSOR,
			    ENGINE_PRODUCTS_TENSOR_F16 };

/* The names engine_gemv_products_from_name reads, in a sentence for messages. */
#define ENGINE_GEMV_PRODUCTS_NAMES "default, cuda-cores, tensor or tensor-f16"

/* *out from its name ("default", "cuda-cores", "tensor" or "tensor-f16"; also what
 * $LLMCHAT_GEMV_PRODUCTS holds).  Returns 0, or -1 for any other name (*out unchanged). */
int engine_gemv_products_from_name(const char *name, enum engine_gemv_products *out);

struct engine_test_hooks {
	enum engine_test_failure fail;
	int fail_rank;              /* the rank that fails, with fail */
	bool eager_decode;          /* LLMCHAT_CUDA_GRAPH=0: CUDA decodes without a graph (the same
				     * bits, to compare the two) */
	bool host_sampling;         /* LLMCHAT_GPU_SAMPLING=0: the engine does not draw sampled
				     * tokens itself (engine_draws_on_device is false) */
	bool decode_segments;       /* LLMCHAT_DECODE_SEGMENTS=1: the CUDA decode graph runs each layer
				     * after its attention as one persistent launch (decode_segment.h;
				     * the same bits); off until it is faster (BENCHMARKS.md) */
	bool last_block_work;       /* LLMCHAT_LAST_BLOCK=1: the CUDA decode step runs what needs a
				     * whole row (the norm after o_proj and down_proj, a dynamic
				     * quantization of the attention's and the SwiGLU's outputs) in
				     * the last block of the launch that makes the row, not in
				     * launches of its own (the same bits); off until measured
				     * faster on a GPU (BENCHMARKS.md) */
	enum engine_gemv_products gemv_products; /* LLMCHAT_GEMV_PRODUCTS: default, cuda-cores,
				     * tensor or tensor-f16 (decode_segments takes the CUDA cores) */
};

struct engine_options {
	enum engine_backend backend;
	int context_length;     /* 0: max_position_embeddings, capped to what fits */
	int threads;            /* CPU: 0 = all cores (shared among the ranks) */
	int ranks;              /* tensor-parallel ranks (--gpus/--tp); 0: the backend's default */
	enum comm_kind comm;
	enum engine_kv_cache kv_cache;
	struct engine_test_hooks test_hooks;
};

struct engine;

int engine_create(const struct model *model, const struct engine_options *options,
		  struct engine **out, char *err, size_t err_size);
void engine_free(struct engine *engine);

/* Runs count tokens from the current position.  logits receives vocab_size floats:
 * for the last token only, or count * vocab_size when all_logits is true; it may
 * be NULL when no logits are wanted (a prefill).
 * Fails (without changing the cache) when the context would overflow, and (without
 * moving the position) when a logit is NaN or infinite: "the model produced NaN
 * logits at position P (the weights or config values are broken)". */
int engine_forward(struct engine *engine, const int32_t *tokens, size_t count,
		   float *logits, bool all_logits, char *err, size_t err_size);

/* engine_forward for a prompt (logits of the last token) that can be stopped: the
 * tokens run in pieces of the backend's batch, which compute the same bits as one
 * call, and *cancel (may be NULL; set by another thread or a signal handler) is
 * polled before each.  Returns 0, -1 with a
 * message, or 1 when cancel stopped it; on -1 and 1 the engine is back at the
 * position it started from. */
int engine_prefill(struct engine *engine, const int32_t *tokens, size_t count, float *logits,
		   const atomic_bool *cancel, char *err, size_t err_size);

/* Greedy decoding: runs token at the current position and gives the id of the largest
 * logit of the result (the lowest id among equal ones, as sampler.h's greedy), without
 * copying the logits back from the GPU.  Fails as engine_forward does (a NaN logit
 * included). */
int engine_decode_greedy(struct engine *engine, int32_t token, int32_t *next, char *err, size_t err_size);

/* Rows engine_forward_argmax takes at once: a verify pass of 1 + 8 proposals, the most
 * that the GPU's decode kernels run as a step (LLMK_GEMV_MAX_TOKENS), so that every row
 * is the bits the one-token step would give. */
#define ENGINE_ARGMAX_MAX_ROWS 9

/* engine_forward of count tokens (1 to ENGINE_ARGMAX_MAX_ROWS) that gives best[i], the
 * id of row i's largest logit (the lowest id among equal ones, as
 * engine_decode_greedy picks), without copying the logits back from the GPU:
 * speculative decoding's greedy verify pass.  Fails as engine_forward does (a NaN
 * logit included). */
int engine_forward_argmax(struct engine *engine, const int32_t *tokens, size_t count, int32_t *best, char *err,
			  size_t err_size);

/* engine_decode_greedy in two halves, so that the caller can work (show the last
 * token's text) while the GPU computes: begin starts the step for token at the current
 * position, end waits for it and gives the next id.  Nothing else may be called on
 * the engine in between; the position moves at end. */
int engine_decode_greedy_begin(struct engine *engine, int32_t token, char *err, size_t err_size);
int engine_decode_greedy_end(struct engine *engine, int32_t *next, char *err, size_t err_size);

/* A draw on the device (engine_decode_sample_begin): sampler.h's settings, and the
 * number the draw uses. */
struct engine_draw {
	float temperature;      /* 0: the argmax after the penalty */
	float top_p, min_p, repeat_penalty;
	int top_k;
	double uniform;         /* in [0, 1): the sampler's next number (sampler_uniform) */
};

/* Whether the engine draws sampled tokens itself (CUDA with one rank): the logits
 * stay on the GPU and only the token id comes back.  Otherwise the caller samples
 * engine_forward's logits with sampler.h. */
bool engine_draws_on_device(const struct engine *engine);

/* The tokens the repetition penalty of the device's draws counts (the context so
 * far, as sampler_sample's history); each engine_decode_sample_begin adds its token. */
int engine_set_draw_history(struct engine *engine, const int32_t *tokens, size_t count, char *err,
			    size_t err_size);

/* engine_decode_greedy_begin/_end for a sampled token: the step for token at the
 * current position, then a draw with sampler_sample's filters and draw->uniform
 * (engine_draws_on_device engines only).  The same uniform gives the same token, run
 * after run; the draw follows sampler.h's distribution but not its choice for a
 * given number (the candidates are walked in another order).  Fails as
 * engine_decode_greedy does. */
int engine_decode_sample_begin(struct engine *engine, int32_t token, const struct engine_draw *draw, char *err,
			       size_t err_size);
int engine_decode_sample_end(struct engine *engine, int32_t *next, char *err, size_t err_size);

/* Tokens in the cache (the next position). */
int engine_position(const struct engine *engine);

/* Context length in tokens. */
int engine_context_length(const struct engine *engine);

/* Forgets everything from position onward (0 starts a new sequence). */
void engine_rewind(struct engine *engine, int position);

/* For benchmarks: moves the position forward to position without computing, so
 * that a decode step can be timed at a long context; the cache rows skipped hold
 * whatever they held.  Returns -1 past the context. */
int engine_set_position_for_benchmark(struct engine *engine, int position);

/* Tensor-parallel ranks the engine runs (1 when not split). */
int engine_ranks(const struct engine *engine);

/* For --bench: while on, each all-reduce is timed with events (decode runs without a
 * CUDA graph); engine_comm_seconds returns rank 0's seconds in all-reduces since the
 * last call (0 when the backend does not measure them). */
void engine_time_comm(struct engine *engine, bool on);
double engine_comm_seconds(struct engine *engine);

/* "CPU (16 threads)", "CUDA: NVIDIA H100", for the status line. */
const char *engine_describe(const struct engine *engine);

#endif
