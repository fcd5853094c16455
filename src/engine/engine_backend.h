/*
 * engine_backend.h - what a backend (CPU, CUDA) gives engine.c.
 *
 * engine.c keeps the bookkeeping every backend shares (position, context
 * length, checks that must happen before the cache changes); a backend only runs
 * tokens at a given position into its own KV cache.  Private to the engine.
 */
#ifndef LLMCHAT_ENGINE_BACKEND_H
#define LLMCHAT_ENGINE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "communicator.h"
#include "cuda_devices.h"
#include "engine.h"
#include "tensor_parallel.h"

/* The rank a backend instance runs: its share of the model and the communicator it
 * sums partial results through (NULL with one rank). */
struct engine_rank {
	struct tp_plan plan;
	struct communicator *comm;
	int device;                 /* CUDA device ordinal (0 on the CPU) */
};

/* What create and create_comm return when no GPU is visible, besides 0 and -1 with a
 * message: the default backend then runs on the CPU without a word. */
#define ENGINE_NO_DEVICE CUDA_NO_DEVICE

/* A rank's largest logit of a row and its model-wide index. */
struct engine_best {
	float value;
	int32_t index;
};

struct engine_backend_ops {
	/* The rank count when the user names none (NULL: one). */
	int (*default_ranks)(const struct model *model);
	/* The communicator for ranks ranks (> 1) and each rank's device (devices[rank]);
	 * the engine frees it after the ranks.  0, -1 or ENGINE_NO_DEVICE. */
	int (*create_comm)(int ranks, const struct engine_options *options, struct communicator **out,
			   int *devices, char *err, size_t err_size);
	/* Builds one rank's state for model (called in the rank's own thread when there
	 * are several): *context_length is the length asked for (0: the backend picks,
	 * bounded by the model and the memory it has) and receives the length used.
	 * description receives "CPU (2 threads)".  0, -1 or ENGINE_NO_DEVICE. */
	int (*create)(const struct model *model, const struct engine_options *options, const struct engine_rank *rank,
		      int *context_length, void **state, char *description, size_t description_size,
		      char *err, size_t err_size);
	/* Runs count tokens at positions position.. (already checked to fit and to be
	 * valid ids) in the rank's thread; logits, when not NULL, is the caller's whole
	 * buffer (vocab_size floats a row, as engine_forward promises) and the rank
	 * writes its columns [plan.first_vocab, + plan.vocab) of each row.  May not fail
	 * once the checks passed, except for a runtime error (CUDA, another rank). */
	int (*forward)(void *state, const int32_t *tokens, size_t count, int position,
		       float *logits, bool all_logits, char *err, size_t err_size);
	void (*free)(void *state);
	/* Tokens forward runs at once (its batch), from the first token of a call: a call
	 * cut into pieces of this many tokens computes the same bits (engine_prefill,
	 * which polls its cancel flag between pieces, so a batch should take a fraction
	 * of a second).  The same on every rank. */
	int (*batch_tokens)(const void *state);
	/* For --bench (NULL when the backend does not measure it): while time_comm is on,
	 * forward brackets each all-reduce with events (decode runs without a graph);
	 * comm_seconds returns the seconds counted since the last call. */
	void (*time_comm)(void *state, bool on);
	/* Greedy decoding without the logits' copy, in two halves (NULL: the engine takes
	 * the argmax of forward's logits): begin starts one token at position and returns,
	 * end waits for it and gives the rank's largest logit and its model-wide index
	 * (lowest index on ties). */
	int (*decode_greedy_begin)(void *state, int32_t token, int position, char *err, size_t err_size);
	int (*decode_greedy_end)(void *state, float *best_value, int32_t *best_index, char *err, size_t err_size);
	double (*comm_seconds)(void *state);
	/* forward of count tokens (at most ENGINE_ARGMAX_MAX_ROWS) giving each row's
	 * largest logit of the rank with its model-wide index (lowest index on ties) in
	 * rows[], as decode_greedy_end does: a NaN or infinite logit met is reported as
	 * the value instead, for engine.c's check. */
	int (*forward_argmax)(void *state, const int32_t *tokens, size_t count, int position, struct engine_best *rows,
			      char *err, size_t err_size);
	/* Sampled decoding on the device (NULL: the engine cannot; one rank only): begin
	 * starts the step and the draw, end waits and gives the largest logit with its
	 * index (for engine.c's NaN check) and the token drawn (-1 when no logit is a
	 * number above -inf); set_draw_history sets the tokens the penalty counts. */
	int (*decode_sample_begin)(void *state, int32_t token, int position, const struct engine_draw *draw, char *err,
				   size_t err_size);
	int (*decode_sample_end)(void *state, float *best_value, int32_t *best_index, int32_t *drawn, char *err,
				 size_t err_size);
	int (*set_draw_history)(void *state, const int32_t *tokens, size_t count, char *err, size_t err_size);
};

extern const struct engine_backend_ops engine_cpu_ops;
#ifdef HAVE_CUDA
extern const struct engine_backend_ops engine_cuda_ops;  /* cuda/cuda_engine_step.c */
#endif

#endif
