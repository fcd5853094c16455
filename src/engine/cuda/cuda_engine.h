/*
 * cuda_engine.h - one CUDA rank's state, shared by the files of the CUDA backend
 * (private to src/engine/cuda/): cuda_engine_setup.c makes it (the weights uploaded
 * in their stored form, the buffers, the KV cache) and frees it; engine_cuda.c runs
 * the forward pass over it, cuda_engine_step.c the decode steps and verify passes as
 * CUDA graphs, cuda_engine_comm.c the all-reduce.
 */
#ifndef LLMCHAT_CUDA_ENGINE_H
#define LLMCHAT_CUDA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "cuda_memory.h"
#include "decode_segment.h"
#include "engine_backend.h"
#include "llm_kernels.h"
#include "sampling_kernels.h"

/* Tokens a prefill step takes at once (cuda_engine.batch): BATCH where its buffers take
 * at most an eighth of the memory the weights leave free, else BATCH_SMALL.
 * engine_prefill polls its cancel flag between steps, so a step's time is how long
 * Ctrl-C may wait: 2048 tokens of an 8B FP8 model take about 42 ms on an H200, 18%
 * faster than four steps of 512, whose attention grid does not fill the GPU
 * (BENCHMARKS.md); BF16 weights go to cuBLASLt's BF16 products too.  Weights of any
 * other type, on the scalar kernel (about 156 tokens/s for 8B), take SCALAR_BATCH at a
 * time: about 0.2 s, at the same tokens/s (the kernel is bound by its arithmetic, not
 * by reading the weights once a step). */
#ifndef BATCH /* -DBATCH=N builds another step, for measuring */
#define BATCH 2048
#endif
#define BATCH_SMALL 512
#define SCALAR_BATCH 32
#define LOGIT_ROWS 256        /* rows of logits made at once (all_logits goes in chunks) */
struct gpu_linear {
	void *weight;
	enum llmk_dtype dtype;
	int rows, cols;
	float *weight_scale;        /* device; NULL for float weights */
	int weight_scale_count;
	enum llmk_quant quant;
	float input_scale;
};

struct gpu_layer {
	float *input_layernorm, *post_attention_layernorm;
	struct gpu_linear q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
};

struct cuda_engine {
	const struct model *model;
	struct tp_plan plan;              /* this rank's share (the whole model with one rank) */
	struct communicator *comm;        /* NULL with one rank */
	int device;
	int context_length;
	int q_dim, kv_dim;                /* this rank's heads x head_dim */
	int intermediate;                 /* this rank's gate/up rows */
	/* all-reduce timing for --bench (events around each call, eager runs only) */
	bool time_comm;
	cudaEvent_t *comm_events;         /* 2 per call site: 2 x 2 x layers */
	int comm_events_recorded;
	double comm_seconds;
	cudaStream_t stream;
	void *embed_tokens;
	enum llmk_dtype embed_dtype;
	struct gpu_layer *layers;
	float *norm;
	struct gpu_linear lm_head;
	float *inv_freq;
	float *rope_table;                /* batch x head_dim: a prefill step's llmk_rope_table */
	void *key_cache, *value_cache;    /* layers x context x kv_dim elements of cache_dtype */
	enum llmk_dtype cache_dtype;      /* LLMK_BF16 (default), LLMK_E4M3 or LLMK_F32 (--kv-cache) */
	size_t cache_element;             /* its size in bytes */
	int batch;                        /* tokens a prefill step takes: BATCH or BATCH_SMALL */
	int32_t *tokens;                  /* batch */
	float *x, *h, *q, *att, *tmp;     /* batch x max(hidden, q_dim) */
	float *gate, *up;                 /* batch x intermediate */
	void *xq;                         /* batch x max(in) bytes */
	float *x_scales;                  /* batch */
	void *xq_mlp;                     /* LLMK_GEMV_MAX_TOKENS x intermediate bytes: down_proj's */
	float *mlp_scale;                 /* input, quantized by the fused gate/up (which reads xq) */
	float *logits;                    /* LOGIT_ROWS x this rank's vocabulary slice */
	struct llmk_gemm *gemm;           /* cuBLASLt for prefill */
	int32_t *acc;                     /* batch x widest out: INT8 GEMM accumulators */
	float *attention_scratch;         /* llmk_attention_decode's partial results */
	/* the decode step as a CUDA graph, replayed at every position: the token and the
	 * position travel through pinned host memory, the logits come back the same way */
	cudaGraphExec_t decode_graph;
	bool decode_graph_failed;         /* capture refused: decode runs eagerly */
	/* a verify pass of n tokens as a graph, captured at its first use: each row's best
	 * (cuda_forward_argmax) in verify_graphs[n], every row's logits (cuda_forward of
	 * 2 to ENGINE_ARGMAX_MAX_ROWS tokens, sampled checking) in verify_logits_graphs[n];
	 * refused once, every pass runs eagerly */
	cudaGraphExec_t verify_graphs[ENGINE_ARGMAX_MAX_ROWS + 1];
	cudaGraphExec_t verify_logits_graphs[ENGINE_ARGMAX_MAX_ROWS + 1];
	bool verify_graph_failed;
	int32_t *pinned_token;            /* ENGINE_ARGMAX_MAX_ROWS tokens */
	int *pinned_position, *device_position;
	float *pinned_logits;             /* ENGINE_ARGMAX_MAX_ROWS rows of this rank's slice */
	struct llmk_best *best, *pinned_best; /* this rank's largest logit (greedy decoding), of each
					* row (ENGINE_ARGMAX_MAX_ROWS) for cuda_forward_argmax */
	void *argmax_scratch;
	/* sampled decoding on the GPU (one rank only): the step's settings in, the token
	 * out, through pinned memory; seen marks the tokens the repetition penalty counts */
	cudaGraphExec_t draw_graph;       /* the decode step, then llmk_sample */
	struct llmk_draw *draw, *pinned_draw;
	struct llmk_drawn *drawn, *pinned_drawn;
	unsigned char *seen;              /* vocab */
	void *sample_scratch;
	float *key_rows, *value_rows;     /* batch x kv_dim: new tokens' k and v before they enter the cache */
	/* the decode graph's layers as persistent segments (decode_segment.h), when wanted
	 * (engine_test_hooks.decode_segments), every layer fits them and one rank runs the
	 * model: decided at the first capture */
	bool segments_checked, segments, segments_wanted;
	enum llmk_gemv_products gemv_products; /* the 8-bit GEMVs' (engine_test_hooks.gemv_products) */
	float *x_mid;                     /* hidden: the residual between a segment's two adds */
	unsigned *segment_counters;       /* layers x LLMK_SEGMENT_COUNTERS, zeroed at each step */
	/* with last_block_work (engine_test_hooks.last_block_work), one token's o_proj and
	 * down_proj run the norm after them in their own launch (llmk_gemv_norm), and the
	 * attention and the SwiGLU their outputs' dynamic quantization */
	bool last_block_work;
	unsigned *last_block_words;       /* LLMK_LAST_BLOCK_WORDS for those, zero between launches */
	struct cuda_memory memory;        /* every device buffer, and the weights' upload */
};

/* engine_backend_ops.create and .free of the CUDA backend. */
int cuda_engine_create(const struct model *model, const struct engine_options *options, const struct engine_rank *rank,
		       int *context_length, void **state, char *description, size_t description_size, char *err,
		       size_t err_size);
void cuda_engine_free(void *state);

/* engine_cuda.c, the forward pass's launches (the step and verify passes of
 * cuda_engine_step.c capture them).  cuda_run_layers runs every layer for n tokens at
 * position pos (with graph set, one token or a verify pass: position-free, read on the
 * device); *pending, when not NULL, says whether the last layer's MLP output is still in
 * e->tmp.  cuda_run_batch embeds n <= e->batch tokens, runs the layers and copies the
 * logits of every token or of the last one into logits (none when NULL).
 * cuda_enqueue_pinned_input starts a position-free pass: its n tokens and position from
 * pinned memory, their embeddings into e->x.  cuda_enqueue_head makes the logits of rows
 * 0..rows - 1 (final norm of residual, adding e->tmp when pending, then lm_head) in
 * e->logits.  cuda_segments_usable says whether the decode step can run its layers as
 * persistent segments (decode_segment.h): wanted, one rank, every product of one 8-bit
 * type, every segment accepted by the device; cuda_run_segments runs them (layer 0's norm
 * and q/k/v, then each layer's attention and its segment, which ends with the next
 * layer's q/k/v; the residual stream ends in e->x_mid).  Each int function returns 0, or
 * -1 with err set. */
int cuda_run_layers(struct cuda_engine *e, int n, int pos, bool graph, bool *pending, char *err, size_t err_size);
int cuda_run_batch(struct cuda_engine *e, const int32_t *tokens, int n, int pos, float *logits, bool all_logits,
		   char *err, size_t err_size);
int cuda_enqueue_pinned_input(struct cuda_engine *e, int n, char *err, size_t err_size);
int cuda_enqueue_head(struct cuda_engine *e, float *residual, bool pending, int rows, char *err, size_t err_size);
bool cuda_segments_usable(const struct cuda_engine *e);
int cuda_run_segments(struct cuda_engine *e, char *err, size_t err_size);

/* cuda_engine_comm.c.  cuda_all_reduce sums a row-parallel layer's partial output over
 * the ranks in e's stream (nothing with one rank; with time_comm set, between events);
 * cuda_add_comm_time, once an eager run has finished, adds the time between each pair
 * of those events to comm_seconds.  The rest are engine_backend_ops entries. */
int cuda_all_reduce(struct cuda_engine *e, float *buffer, size_t count, char *err, size_t err_size);
int cuda_add_comm_time(struct cuda_engine *e, char *err, size_t err_size);
double cuda_comm_seconds(void *state);
int cuda_default_ranks(const struct model *model);
void cuda_time_comm(void *state, bool on);
int cuda_create_comm(int ranks, const struct engine_options *options, struct communicator **out, int *devices,
		     char *err, size_t err_size);

#endif
