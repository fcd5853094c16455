/*
 * test_tensor_parallel.c - the split of tensor_parallel.h on the shipped Llama 3.1
 * configs (8B, 70B) and the tiny test models: which rank counts are accepted and
 * the message for the others, that the ranks' heads, rows and vocabulary blocks
 * cover the model exactly once, and that the views read the right weights (a row
 * view's output is the full layer's rows bit for bit, column views add up to the
 * full layer); then the host communicator: identical sums on every rank, and an
 * abort that wakes the ranks waiting for it.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "communicator.h"
#include "cpu_linear.h"
#include "model.h"
#include "tap.h"
#include "tensor_parallel.h"

#define CONFIGS LLMCHAT_SRCDIR "/tests/data/configs/"
#define MODELS LLMCHAT_SRCDIR "/tests/data/models/"

static void test_plans(const char *name, const struct model_config *c, int ranks);

/* ---- rank counts ----------------------------------------------------------- */

static void check_counts(const char *name, const struct model_config *c, const char *want_valid)
{
	int valid[8];
	char list[64] = "";
	int n = tp_valid_ranks(c, 8, valid);
	for (int i = 0; i < n; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? " " : "", valid[i]);
	tap_ok(strcmp(list, want_valid) == 0, "%s: valid rank counts up to 8 are %s (got %s)", name, want_valid, list);
	char err[256];
	for (int i = 0; i < n; i++)
		tap_ok(tp_check_ranks(c, valid[i], err, sizeof err) == 0, "%s: %d ranks accepted", name, valid[i]);
}

static void check_refused(const char *name, const struct model_config *c, int ranks, const char *want)
{
	char err[256] = "";
	int rc = tp_check_ranks(c, ranks, err, sizeof err);
	tap_ok(rc == -1 && strcmp(err, want) == 0, "%s: %d ranks refused: \"%s\"", name, ranks, err);
}

static void test_rank_counts(void)
{
	char err[256];
	struct model_config c8, c70;
	tap_ok(model_config_load(CONFIGS "llama-3.1-8b-fp8", &c8, err, sizeof err) == 0, "8B config: %s", err);
	tap_ok(model_config_load(CONFIGS "llama-3.1-70b-int8", &c70, err, sizeof err) == 0, "70B config: %s", err);
	check_counts("8B", &c8, "1 2 4 8");
	check_counts("70B", &c70, "1 2 4 8");
	check_refused("8B", &c8, 3, "--gpus 3 cannot split this model (32 attention heads, 8 KV heads): use 1, 2, 4 or 8");
	check_refused("70B", &c70, 6, "--gpus 6 cannot split this model (64 attention heads, 8 KV heads): use 1, 2, 4 or 8");
	check_refused("8B", &c8, 0, "--gpus 0 cannot split this model (32 attention heads, 8 KV heads): use 1, 2, 4 or 8");
	tap_ok(tp_check_ranks(&c8, 16, err, sizeof err) == 0, "8B: 16 ranks accepted (KV heads replicated on 2 ranks)");
	tap_ok(tp_check_ranks(&c70, 16, err, sizeof err) == 0, "70B: 16 ranks accepted (a multiple of its 8 KV heads)");
	tap_ok(tp_check_ranks(&c70, 64, err, sizeof err) == 0, "70B: 64 ranks accepted (one head each)");
	test_plans("70B", &c70, 16);
	test_plans("70B", &c70, 64);

	/* the intermediate size is named when it is the reason */
	struct model_config odd = c8;
	odd.intermediate_size = 1000;
	check_refused("intermediate 1000", &odd, 16,
		      "--gpus 16 cannot split this model (32 attention heads, 8 KV heads, intermediate size 1000): use 1, 2, 4 or 8");
	/* a model with 6 KV heads: 4 ranks neither divide 6 nor are a multiple of it */
	struct model_config six = c8;
	six.num_attention_heads = 24;
	six.num_key_value_heads = 6;
	six.intermediate_size = 12288;
	check_counts("24/6 heads", &six, "1 2 3 6");
	check_refused("24/6 heads", &six, 4, "--gpus 4 cannot split this model (24 attention heads, 6 KV heads): use 1, 2, 3 or 6");
	struct model_config one = c8;
	one.num_attention_heads = 2;
	one.num_key_value_heads = 1;
	check_refused("2/1 heads", &one, 4, "--gpus 4 cannot split this model (2 attention heads, 1 KV heads): use 1 or 2");
}

/* ---- plans cover the model once ---------------------------------------------- */

static void test_plans(const char *name, const struct model_config *c, int ranks)
{
	int next_q = 0, next_inter = 0, next_vocab = 0, ok_kv = 1, ok_shape = 1;
	int block = (c->vocab_size + ranks - 1) / ranks, group = c->num_attention_heads / c->num_key_value_heads;
	int *kv_users = calloc((size_t)c->num_key_value_heads, sizeof *kv_users);
	for (int r = 0; r < ranks; r++) {
		struct tp_plan p;
		tp_plan_rank(c, r, ranks, &p);
		ok_shape &= p.rank == r && p.ranks == ranks;
		ok_shape &= p.first_q_head == next_q && p.q_heads == c->num_attention_heads / ranks;
		ok_shape &= p.first_intermediate == next_inter && p.intermediate == c->intermediate_size / ranks;
		ok_shape &= p.first_vocab == next_vocab && (p.vocab == block || r == ranks - 1);
		next_q += p.q_heads;
		next_inter += p.intermediate;
		next_vocab += p.vocab;
		/* every query head of the rank reads a KV head the rank holds */
		for (int h = p.first_q_head; h < p.first_q_head + p.q_heads; h++)
			ok_kv &= h / group >= p.first_kv_head && h / group < p.first_kv_head + p.kv_heads;
		for (int k = p.first_kv_head; k < p.first_kv_head + p.kv_heads; k++)
			kv_users[k]++;
		ok_kv &= c->num_key_value_heads >= ranks ? p.kv_heads == c->num_key_value_heads / ranks : p.kv_heads == 1;
	}
	int replicas = ranks > c->num_key_value_heads ? ranks / c->num_key_value_heads : 1;
	for (int k = 0; k < c->num_key_value_heads; k++)
		ok_kv &= kv_users[k] == replicas;
	free(kv_users);
	tap_ok(ok_shape && next_q == c->num_attention_heads && next_inter == c->intermediate_size &&
	       next_vocab == c->vocab_size,
	       "%s, %d ranks: query heads, intermediate rows and vocabulary blocks of %d cover the model once", name,
	       ranks, block);
	tap_ok(ok_kv, "%s, %d ranks: each KV head held by %d rank(s), each query head's KV head held by its rank", name,
	       ranks, replicas);
}

static void test_vocab_blocks(void)
{
	struct model_config c = {.num_attention_heads = 4, .num_key_value_heads = 2, .intermediate_size = 8,
				 .vocab_size = 10};
	int want[4][2] = {{0, 3}, {3, 3}, {6, 3}, {9, 1}};
	int ok = 1;
	for (int r = 0; r < 4; r++) {
		struct tp_plan p;
		tp_plan_rank(&c, r, 4, &p);
		ok &= p.first_vocab == want[r][0] && p.vocab == want[r][1];
	}
	tap_ok(ok, "vocabulary 10 over 4 ranks: blocks of 3, 3, 3 and 1");
	c.vocab_size = 2;
	struct tp_plan p3;
	tp_plan_rank(&c, 3, 4, &p3);
	tap_ok(p3.first_vocab == 2 && p3.vocab == 0, "vocabulary 2 over 4 ranks: the last rank's block is empty");
}

/* ---- views ------------------------------------------------------------------- */

static float *run_linear(const struct linear *l, const float *x, int tokens)
{
	char err[256];
	struct cpu_linear_workspace *ws;
	float *y = malloc((size_t)tokens * (size_t)l->out_features * sizeof *y);
	if (cpu_linear_workspace_create(l->in_features, tokens, 1, &ws, err, sizeof err) != 0)
		abort();
	cpu_linear_forward(l, x, tokens, y, ws);
	cpu_linear_workspace_free(ws);
	return y;
}

/* Rows of a view equal the full layer's rows; column views, each on its slice of
 * the input, add up to the full layer's output (to float rounding; exactly the
 * same products for static FP8 and BF16, re-quantized per slice for INT8). */
static void check_views(const char *name, const struct linear *full, int ranks, double tolerance)
{
	const int tokens = 3;
	const int64_t in = full->in_features, out = full->out_features;
	float *x = malloc((size_t)tokens * in * sizeof *x);
	for (int64_t i = 0; i < tokens * in; i++)
		x[i] = (float)sin(0.37 * (double)i + 1.0) * (i % 7 == 0 ? 3.0f : 1.0f);
	float *want = run_linear(full, x, tokens);

	int rows_equal = 1, pointers = 1;
	int64_t block = out / ranks;
	size_t esize = tensor_dtype_size(full->weight_dtype);
	for (int r = 0; r < ranks; r++) {
		struct linear v;
		tp_linear_rows(full, r * block, block, &v);
		pointers &= v.weight == (const unsigned char *)full->weight + (size_t)(r * block * in) * esize;
		pointers &= v.row_stride == full->row_stride && v.in_features == in && v.out_features == block;
		if (full->weight_scale && full->weight_scale_count > 1)
			pointers &= v.weight_scale == full->weight_scale + r * block && v.weight_scale_count == block;
		else
			pointers &= v.weight_scale == full->weight_scale && v.weight_scale_count == full->weight_scale_count;
		float *got = run_linear(&v, x, tokens);
		for (int t = 0; t < tokens; t++)
			rows_equal &= memcmp(got + t * block, want + t * out + r * block, (size_t)block * sizeof *got) == 0;
		free(got);
	}
	tap_ok(pointers, "%s: row views of %d ranks point at their rows (and per-channel scales)", name, ranks);
	tap_ok(rows_equal, "%s: row views of %d ranks give the full layer's rows bit for bit", name, ranks);

	int64_t cols = in / ranks;
	double *sum = calloc((size_t)tokens * out, sizeof *sum);
	float *slice = malloc((size_t)tokens * cols * sizeof *slice);
	pointers = 1;
	for (int r = 0; r < ranks; r++) {
		struct linear v;
		tp_linear_columns(full, r * cols, cols, &v);
		pointers &= v.weight == (const unsigned char *)full->weight + (size_t)(r * cols) * esize;
		pointers &= v.row_stride == in && v.in_features == cols && v.weight_scale == full->weight_scale;
		for (int t = 0; t < tokens; t++)
			memcpy(slice + t * cols, x + t * in + r * cols, (size_t)cols * sizeof *slice);
		float *got = run_linear(&v, slice, tokens);
		for (int64_t i = 0; i < tokens * out; i++)
			sum[i] += got[i];
		free(got);
	}
	double worst = 0, scale = 0;
	for (int64_t i = 0; i < tokens * out; i++) {
		worst = fmax(worst, fabs(sum[i] - want[i]));
		scale = fmax(scale, fabs(want[i]));
	}
	tap_ok(pointers, "%s: column views of %d ranks keep the row stride and the scales", name, ranks);
	tap_ok(worst <= tolerance * scale, "%s: column views of %d ranks add up to the full layer (max difference %.2g of %.3g, "
	       "tolerance %.0e relative)", name, ranks, worst, scale, tolerance);
	free(sum);
	free(slice);
	free(x);
	free(want);
}

static void test_model(const char *name, double column_tolerance)
{
	char dir[512], err[256];
	snprintf(dir, sizeof dir, MODELS "%s", name);
	struct model *m;
	if (!tap_ok(model_open(dir, &m, err, sizeof err) == 0, "%s opens: %s", name, err))
		return;
	for (int ranks = 2; ranks <= 4; ranks *= 2) {
		test_plans(name, &m->config, ranks);
		check_views(name, &m->layers[1].gate_proj, ranks, column_tolerance);
		check_views(name, &m->layers[0].o_proj, ranks, column_tolerance);

		/* tp_shard_layer and tp_shard_lm_head give the plan's shapes */
		struct tp_plan p;
		struct layer_weights w;
		struct linear head;
		int ok = 1;
		const int64_t hd = m->config.head_dim;
		for (int r = 0; r < ranks; r++) {
			tp_plan_rank(&m->config, r, ranks, &p);
			tp_shard_layer(m, &p, 2, &w);
			tp_shard_lm_head(m, &p, &head);
			ok &= w.q_proj.out_features == p.q_heads * hd && w.k_proj.out_features == p.kv_heads * hd &&
			      w.v_proj.out_features == p.kv_heads * hd && w.o_proj.in_features == p.q_heads * hd &&
			      w.o_proj.out_features == m->config.hidden_size && w.gate_proj.out_features == p.intermediate &&
			      w.up_proj.out_features == p.intermediate && w.down_proj.in_features == p.intermediate &&
			      w.down_proj.row_stride == m->config.intermediate_size && head.out_features == p.vocab &&
			      w.input_layernorm.weight == m->layers[2].input_layernorm.weight;
			char lname[64];
			snprintf(lname, sizeof lname, "rank %d o_proj", r);
			ok &= cpu_linear_check(&w.o_proj, lname, err, sizeof err) == 0;
		}
		tap_ok(ok, "%s, %d ranks: shard_layer and shard_lm_head have the plan's shapes and pass cpu_linear_check",
		       name, ranks);
	}
	model_close(m);
}

/* ---- the host communicator --------------------------------------------------- */

#define COMM_RANKS 4
#define COMM_COUNT 1000

struct comm_job {
	struct communicator *comm;
	int rank;
	int calls;
	int fail_at;        /* this rank aborts instead of its call fail_at, or -1 */
	float buffer[COMM_COUNT];
	int rc;
	char err[128];
};

static float contribution(int rank, int call, int i)
{
	return (float)sin((double)(rank * 7919 + call * 104729 + i)) * (float)(1 + rank);
}

static void *comm_worker(void *arg)
{
	struct comm_job *job = arg;
	job->rc = 0;
	for (int call = 0; call < job->calls; call++) {
		if (call == job->fail_at) {
			comm_abort(job->comm);
			job->rc = -1;
			return NULL;
		}
		size_t count = COMM_COUNT - (size_t)call % 3;     /* sizes vary between calls */
		for (size_t i = 0; i < count; i++)
			job->buffer[i] = contribution(job->rank, call, (int)i);
		if (comm_all_reduce_sum(job->comm, job->rank, job->buffer, count, NULL, job->err, sizeof job->err) != 0) {
			job->rc = -1;
			return NULL;
		}
	}
	return NULL;
}

static void run_jobs(struct comm_job *jobs, struct communicator *comm, int calls, int fail_rank, int fail_at)
{
	pthread_t threads[COMM_RANKS];
	for (int r = 0; r < COMM_RANKS; r++) {
		jobs[r] = (struct comm_job){.comm = comm, .rank = r, .calls = calls, .fail_at = r == fail_rank ? fail_at : -1};
		pthread_create(&threads[r], NULL, comm_worker, &jobs[r]);
	}
	for (int r = 0; r < COMM_RANKS; r++)
		pthread_join(threads[r], NULL);
}

static void test_comm_host(void)
{
	char err[128];
	struct communicator *comm;
	static struct comm_job jobs[COMM_RANKS];
	if (!tap_ok(comm_host_create(COMM_RANKS, &comm, err, sizeof err) == 0, "comm_host_create(4): %s", err))
		return;
	tap_ok(comm->ranks == COMM_RANKS && !comm->capturable, "the host communicator has 4 ranks, not capturable");

	const int calls = 50;
	run_jobs(jobs, comm, calls, -1, -1);
	int all_ok = 1, same = 1, in_order = 1;
	size_t count = COMM_COUNT - (size_t)(calls - 1) % 3;
	for (int r = 0; r < COMM_RANKS; r++) {
		all_ok &= jobs[r].rc == 0;
		same &= memcmp(jobs[r].buffer, jobs[0].buffer, count * sizeof(float)) == 0;
	}
	for (size_t i = 0; i < count; i++) {
		float s = contribution(0, calls - 1, (int)i);
		for (int r = 1; r < COMM_RANKS; r++)
			s += contribution(r, calls - 1, (int)i);
		in_order &= memcmp(&s, &jobs[0].buffer[i], sizeof s) == 0;
	}
	tap_ok(all_ok, "50 all-reduces of 4 ranks succeed");
	tap_ok(same, "every rank holds the same bits");
	tap_ok(in_order, "the sum is the ranks' values added in rank order");
	comm_free(comm);

	/* rank 2 aborts at its 5th call while the others wait in it */
	comm_host_create(COMM_RANKS, &comm, err, sizeof err);
	run_jobs(jobs, comm, calls, 2, 4);
	int failed = 1;
	for (int r = 0; r < COMM_RANKS; r++)
		failed &= jobs[r].rc == -1 && (r == 2 || strcmp(jobs[r].err, "another rank failed") == 0);
	tap_ok(failed, "a rank's abort wakes the ranks waiting for it: each returns \"another rank failed\"");
	float one = 1;
	tap_ok(comm_all_reduce_sum(comm, 0, &one, 1, NULL, err, sizeof err) == -1 &&
	       strcmp(err, "another rank failed") == 0, "after an abort, a later call fails at once");
	comm_free(comm);

	/* a rank that aborts before its first call */
	comm_host_create(COMM_RANKS, &comm, err, sizeof err);
	run_jobs(jobs, comm, calls, 0, 0);
	failed = 1;
	for (int r = 1; r < COMM_RANKS; r++)
		failed &= jobs[r].rc == -1;
	tap_ok(failed, "an abort before the first call: no rank hangs");
	comm_free(comm);

	tap_ok(comm_host_create(0, &comm, err, sizeof err) == -1, "no communicator of 0 ranks: %s", err);
	struct communicator *single;
	comm_host_create(1, &single, err, sizeof err);
	float v = 3;
	tap_ok(comm_all_reduce_sum(single, 0, &v, 1, NULL, err, sizeof err) == 0 && v == 3,
	       "one rank: the sum is the rank's own value");
	comm_free(single);
}

/* Every shipped config at every rank count it accepts up to 8. */
static void test_config_plans(void)
{
	static const char *const names[] = {"llama-3.1-8b-bf16", "llama-3.1-8b-fp8", "llama-3.1-8b-int8",
					    "llama-3.1-70b-fp8", "llama-3.1-70b-int8"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char dir[512], err[256];
		struct model_config c;
		snprintf(dir, sizeof dir, CONFIGS "%s", names[i]);
		if (!tap_ok(model_config_load(dir, &c, err, sizeof err) == 0, "%s loads%s%s", names[i],
			    *err ? ": " : "", err))
			continue;
		int valid[8], n = tp_valid_ranks(&c, 8, valid);
		for (int v = 1; v < n; v++)
			test_plans(names[i], &c, valid[v]);
	}
}

int main(void)
{
	test_rank_counts();
	test_vocab_blocks();
	test_config_plans();
	test_model("tiny-bf16", 1e-5);
	test_model("tiny-fp8", 1e-5);
	/* INT8: each slice is quantized with its own dynamic scale */
	test_model("tiny-int8", 2e-2);
	test_comm_host();
	return tap_done();
}
