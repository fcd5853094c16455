/*
 * tensor_parallel.h - how a model is split across ranks (GPUs, or CPU threads).
 *
 * Megatron's split, decided here once for every backend:
 *   q/k/v_proj, gate/up_proj   column-parallel: a rank holds a block of output rows
 *                              (whole heads; KV heads divided, or replicated when
 *                              there are fewer KV heads than ranks);
 *   o_proj, down_proj          row-parallel: a rank holds a block of input columns
 *                              and produces a partial sum; one all-reduce after each;
 *   lm_head                    split by vocabulary rows: each rank writes its slice of
 *                              the logits straight into the caller's buffer (no
 *                              collective);
 *   embed_tokens, norms        replicated (a lookup reads one row: nothing to gain).
 * Scales follow their rows: a per-tensor FP8 scale is kept whole by every rank,
 * per-channel INT8 scales are split with the output rows of column-parallel layers
 * and kept whole for row-parallel ones.  Dynamic per-token activation scales of a
 * row-parallel layer are taken over the rank's slice of the input (as vLLM does), so
 * INT8 results at N ranks differ from one rank by that rounding and by the order of
 * the sums; BF16 and FP8-static differ by the order of the sums only.
 *
 * A shard is a view: its linear layers point into the model's (mmapped) weights
 * with a row stride, so nothing is copied on the CPU; the CUDA backend copies only
 * its rank's rows and columns while uploading.
 */
#ifndef LLMCHAT_TENSOR_PARALLEL_H
#define LLMCHAT_TENSOR_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define TP_MAX_RANKS 64

/* One rank's share of the model's dimensions. */
struct tp_plan {
	int rank, ranks;
	int first_q_head, q_heads;           /* query heads of this rank */
	int first_kv_head, kv_heads;         /* key/value heads it holds (shared when replicated) */
	int first_intermediate, intermediate; /* gate/up rows, down_proj columns */
	int first_vocab, vocab;               /* lm_head rows: logits [first_vocab, first_vocab + vocab) */
};

/* 0 when ranks can split c (ranks divides the attention heads and the intermediate
 * size, and divides or is a multiple of the KV heads); else -1 with a message
 * naming the rank counts that work, e.g. "--gpus 3: ... use 1, 2, 4 or 8". */
int tp_check_ranks(const struct model_config *c, int ranks, char *err, size_t err_size);

/* The counts from 1 to max_ranks that tp_check_ranks accepts, written to out
 * (at most max_ranks entries); returns how many. */
int tp_valid_ranks(const struct model_config *c, int max_ranks, int *out);

/* Rank rank's share (tp_check_ranks must have accepted ranks). */
void tp_plan_rank(const struct model_config *c, int rank, int ranks, struct tp_plan *out);

/* Views of a linear layer: rows [first, first + count) (column-parallel), or
 * columns [first, first + count) of every row (row-parallel, row_stride kept). */
void tp_linear_rows(const struct linear *full, int64_t first, int64_t count, struct linear *out);
void tp_linear_columns(const struct linear *full, int64_t first, int64_t count, struct linear *out);

/* Layer index's weights as rank plan sees them (views; norms shared). */
void tp_shard_layer(const struct model *m, const struct tp_plan *plan, int index, struct layer_weights *out);

/* lm_head's rows for plan (views). */
void tp_shard_lm_head(const struct model *m, const struct tp_plan *plan, struct linear *out);

#endif
