/*
 * tensor_parallel.c - the split of tensor_parallel.h: which rank holds which heads,
 * rows and columns, and views of the model's weights that say so.
 *
 * A view is the full layer with its weight pointer moved to the first element the
 * rank reads, its shape narrowed, and its row stride kept (columns) so that every
 * backend addresses it as it addresses a whole layer.  Nothing is copied.
 */
#include "tensor_parallel.h"

#include <stdio.h>
#include <string.h>

static bool ranks_split(const struct model_config *c, int ranks)
{
	int kv = c->num_key_value_heads;
	if (ranks < 1 || ranks > TP_MAX_RANKS || c->num_attention_heads % ranks || c->intermediate_size % ranks)
		return false;
	return kv % ranks == 0 || ranks % kv == 0;
}

int tp_valid_ranks(const struct model_config *c, int max_ranks, int *out)
{
	int count = 0;
	for (int n = 1; n <= max_ranks; n++)
		if (ranks_split(c, n))
			out[count++] = n;
	return count;
}

/* "1, 2, 4 or 8" */
static void list_counts(const int *counts, int count, char *out, size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < count && used < size; i++) {
		const char *sep = i == 0 ? "" : (i == count - 1 ? " or " : ", ");
		int n = snprintf(out + used, size - used, "%s%d", sep, counts[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

int tp_check_ranks(const struct model_config *c, int ranks, char *err, size_t err_size)
{
	if (c->num_attention_heads < 1 || c->num_key_value_heads < 1 || c->intermediate_size < 1) {
		snprintf(err, err_size, "the model has no attention heads, KV heads or intermediate size to split");
		return -1;
	}
	if (ranks_split(c, ranks))
		return 0;
	int valid[8];
	char names[64], inter[48] = "";
	list_counts(valid, tp_valid_ranks(c, 8, valid), names, sizeof names);
	bool heads_split = ranks > 0 && c->num_attention_heads % ranks == 0 &&
			   (c->num_key_value_heads % ranks == 0 || ranks % c->num_key_value_heads == 0);
	if (heads_split && c->intermediate_size % ranks)   /* the heads are not the reason */
		snprintf(inter, sizeof inter, ", intermediate size %d", c->intermediate_size);
	snprintf(err, err_size, "--gpus %d cannot split this model (%d attention heads, %d KV heads%s): use %s",
		 ranks, c->num_attention_heads, c->num_key_value_heads, inter, names);
	return -1;
}

void tp_plan_rank(const struct model_config *c, int rank, int ranks, struct tp_plan *out)
{
	const int heads = c->num_attention_heads, kv = c->num_key_value_heads;
	memset(out, 0, sizeof *out);
	out->rank = rank;
	out->ranks = ranks;
	out->q_heads = heads / ranks;
	out->first_q_head = rank * out->q_heads;
	if (kv >= ranks || kv < 1) {
		out->kv_heads = kv / ranks;
		out->first_kv_head = rank * out->kv_heads;
	} else {
		/* fewer KV heads than ranks: each rank holds the one its query heads read */
		out->kv_heads = 1;
		out->first_kv_head = out->first_q_head / (heads / kv);
	}
	out->intermediate = c->intermediate_size / ranks;
	out->first_intermediate = rank * out->intermediate;
	/* vocabulary in blocks of ceil(V / N): the last one is shorter (or empty) */
	int block = (c->vocab_size + ranks - 1) / ranks;
	int first = rank * block;
	if (first > c->vocab_size)
		first = c->vocab_size;
	out->first_vocab = first;
	out->vocab = c->vocab_size - first < block ? c->vocab_size - first : block;
}

static int64_t stride_of(const struct linear *l)
{
	return l->row_stride ? l->row_stride : l->in_features;
}

/* weight moved forward by elements elements (a dummy model's NULL stays NULL). */
static const void *offset_weight(const struct linear *l, int64_t elements)
{
	if (!l->weight)
		return NULL;
	return (const unsigned char *)l->weight + (size_t)elements * tensor_dtype_size(l->weight_dtype);
}

void tp_linear_rows(const struct linear *full, int64_t first, int64_t count, struct linear *out)
{
	*out = *full;
	out->out_features = count;
	out->weight = offset_weight(full, first * stride_of(full));
	/* per-channel scales follow their rows; a per-tensor scale is kept whole */
	if (full->weight_scale && full->weight_scale_count != 1) {
		out->weight_scale = full->weight_scale + first;
		out->weight_scale_count = count;
	}
}

void tp_linear_columns(const struct linear *full, int64_t first, int64_t count, struct linear *out)
{
	*out = *full;
	out->in_features = count;
	out->row_stride = stride_of(full);
	out->weight = offset_weight(full, first);
}

void tp_shard_layer(const struct model *m, const struct tp_plan *plan, int index, struct layer_weights *out)
{
	const struct layer_weights *w = &m->layers[index];
	const int64_t hd = m->config.head_dim;
	const int64_t q_first = plan->first_q_head * hd, q_count = plan->q_heads * hd;
	const int64_t kv_first = plan->first_kv_head * hd, kv_count = plan->kv_heads * hd;

	out->input_layernorm = w->input_layernorm;
	out->post_attention_layernorm = w->post_attention_layernorm;
	tp_linear_rows(&w->q_proj, q_first, q_count, &out->q_proj);
	tp_linear_rows(&w->k_proj, kv_first, kv_count, &out->k_proj);
	tp_linear_rows(&w->v_proj, kv_first, kv_count, &out->v_proj);
	tp_linear_columns(&w->o_proj, q_first, q_count, &out->o_proj);
	tp_linear_rows(&w->gate_proj, plan->first_intermediate, plan->intermediate, &out->gate_proj);
	tp_linear_rows(&w->up_proj, plan->first_intermediate, plan->intermediate, &out->up_proj);
	tp_linear_columns(&w->down_proj, plan->first_intermediate, plan->intermediate, &out->down_proj);
}

void tp_shard_lm_head(const struct model *m, const struct tp_plan *plan, struct linear *out)
{
	tp_linear_rows(&m->lm_head, plan->first_vocab, plan->vocab, out);
}
