/*
 * engine.c - one interface over the backends, and the ranks of a split model.
 *
 * The engine owns the position in the sequence; the backend owns the KV cache.
 * Rewinding only moves the position: entries past it are overwritten by the
 * next forward before anything reads them (attention at position p reads
 * entries 0..p only).
 *
 * Ranks (tensor_parallel.h): with one rank the backend runs in the caller's
 * thread, as if there were no split.  With N > 1 the engine makes the backend's
 * communicator and one persistent thread per rank; each thread builds its rank's
 * state itself (a CUDA context belongs to the thread that made it), then runs
 * forward when asked and frees its state when told to quit.  The caller waits
 * for every rank.  A rank that fails aborts the communicator, so the others stop
 * waiting in their all-reduces and return too; the engine reports the first
 * failure as "rank R: why" and, once split, refuses to run on (the ranks' caches
 * no longer agree).
 *
 * Test hook (engine.h's engine_test_hooks): a rank made to fail its creation or its
 * first forward (the other ranks are then waiting in the first all-reduce), for the
 * tests of that failure path (tests/engine/test_engine_ranks.c, tests/cli/bad_input.sh).
 */
#include "config.h"

#include "engine.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_backend.h"
#include "numerics.h"

enum rank_command { RANK_FORWARD, RANK_QUIT };

struct forward_call {
	const int32_t *tokens;
	size_t count;
	int position;
	float *logits;
	bool all_logits;
	bool greedy;                 /* engine_decode_greedy: each rank reports its best logit */
	bool argmax;                 /* engine_forward_argmax: each rank reports every row's */
};

/* One rank: its backend state and what its last command reported. */
struct rank_slot {
	struct engine *engine;
	struct engine_rank rank;
	void *state;
	int context_length;
	char description[128];
	pthread_t thread;
	bool thread_started;
	int status;
	char err[256];
	struct engine_best best[ENGINE_ARGMAX_MAX_ROWS]; /* the rank's largest logit of each row
					* of a greedy step (one) or an argmax pass, and its id */
};

struct engine {
	const struct model *model;
	const struct engine_backend_ops *ops;
	struct engine_options options;
	int ranks;
	struct communicator *comm;
	struct rank_slot *slots;
	int forwards;                /* forward calls made, for the test hook */
	/* the rank threads (ranks > 1) */
	pthread_mutex_t lock;
	pthread_cond_t wake, finished;
	unsigned long command_id;
	enum rank_command command;
	struct forward_call call;
	int busy;                    /* ranks still running the current command */
	int first_failed;            /* the rank whose failure came first, or -1 */
	bool broken;                 /* a split engine whose rank failed: runs no more */
	char failure[300];
	float *greedy_logits;        /* vocab: a greedy step's logits when the backend cannot pick */
	int32_t greedy_token;        /* the token of a greedy step begun and not yet ended */
	bool step_pending;           /* a decode step begun and not yet ended */
	bool draw_pending;           /* that step draws on the device (engine_decode_sample_begin) */
	int position;
	int context_length;
	char description[160];
};

static const struct engine_backend_ops *pick_backend(enum engine_backend backend, char *err, size_t err_size)
{
	switch (backend) {
	case ENGINE_BACKEND_AUTO:
	case ENGINE_BACKEND_CPU:
		return &engine_cpu_ops;
	case ENGINE_BACKEND_CUDA:
#ifdef HAVE_CUDA
		return &engine_cuda_ops;
#else
		snprintf(err, err_size, "the CUDA backend is not built into this llmchat (configure found no CUDA)");
		return NULL;
#endif
	}
	snprintf(err, err_size, "unknown engine backend %d", (int)backend);
	return NULL;
}

static bool test_hook_fails(const struct engine *e, const struct rank_slot *slot, bool in_forward)
{
	const struct engine_test_hooks *hooks = &e->options.test_hooks;
	enum engine_test_failure when = in_forward ? ENGINE_TEST_FAIL_FORWARD : ENGINE_TEST_FAIL_CREATE;
	return hooks->fail == when && hooks->fail_rank == slot->rank.plan.rank && (!in_forward || e->forwards == 1);
}

/* ---- what a rank does (in its own thread, or the caller's with one rank) ---- */

/* 0, -1 or ENGINE_NO_DEVICE (engine_backend.h), with a message in slot->err. */
static int rank_create(struct engine *e, struct rank_slot *slot)
{
	slot->context_length = e->options.context_length;
	int rc = e->ops->create(e->model, &e->options, &slot->rank, &slot->context_length, &slot->state,
				slot->description, sizeof slot->description, slot->err, sizeof slot->err);
	if (rc != 0)
		return rc;
	/* after a real creation, so that AUTO passes over a machine without a GPU quietly */
	if (test_hook_fails(e, slot, false)) {
		e->ops->free(slot->state);
		slot->state = NULL;
		snprintf(slot->err, sizeof slot->err, "failed on purpose (LLMCHAT_TEST_FAIL_RANK)");
		return -1;
	}
	return 0;
}

static int rank_forward(struct engine *e, struct rank_slot *slot, const struct forward_call *call)
{
	if (test_hook_fails(e, slot, true)) {
		snprintf(slot->err, sizeof slot->err, "failed on purpose (LLMCHAT_TEST_FAIL_RANK)");
		return -1;
	}
	if (call->greedy && e->ops->decode_greedy_begin) { /* a rank thread: both halves */
		if (e->ops->decode_greedy_begin(slot->state, call->tokens[0], call->position, slot->err,
						sizeof slot->err) != 0)
			return -1;
		return e->ops->decode_greedy_end(slot->state, &slot->best[0].value, &slot->best[0].index, slot->err,
						 sizeof slot->err);
	}
	if (call->argmax)
		return e->ops->forward_argmax(slot->state, call->tokens, call->count, call->position, slot->best,
					      slot->err, sizeof slot->err);
	return e->ops->forward(slot->state, call->tokens, call->count, call->position, call->logits,
			       call->all_logits, slot->err, sizeof slot->err);
}

/* ---- the rank threads ------------------------------------------------------ */

/* A rank's command is done: a failure is recorded (the first one is the cause:
 * the others come after its abort) and wakes every rank still waiting. */
static void rank_report(struct engine *e, struct rank_slot *slot)
{
	pthread_mutex_lock(&e->lock);
	if (slot->status != 0) {
		if (e->first_failed < 0)
			e->first_failed = slot->rank.plan.rank;
		comm_abort(e->comm);
	}
	if (--e->busy == 0)
		pthread_cond_signal(&e->finished);
	pthread_mutex_unlock(&e->lock);
}

static void *rank_main(void *arg)
{
	struct rank_slot *slot = arg;
	struct engine *e = slot->engine;
	pthread_mutex_lock(&e->lock);
	unsigned long seen = e->command_id;
	pthread_mutex_unlock(&e->lock);

	slot->status = rank_create(e, slot);
	rank_report(e, slot);
	for (;;) {
		pthread_mutex_lock(&e->lock);
		while (e->command_id == seen)
			pthread_cond_wait(&e->wake, &e->lock);
		seen = e->command_id;
		enum rank_command command = e->command;
		struct forward_call call = e->call;
		pthread_mutex_unlock(&e->lock);
		if (command == RANK_QUIT)
			break;
		slot->status = rank_forward(e, slot, &call);
		rank_report(e, slot);
	}
	if (slot->state)
		e->ops->free(slot->state);
	slot->state = NULL;
	return NULL;
}

static void wait_for_ranks(struct engine *e)
{
	pthread_mutex_lock(&e->lock);
	while (e->busy > 0)
		pthread_cond_wait(&e->finished, &e->lock);
	pthread_mutex_unlock(&e->lock);
}

/* Gives every rank thread a command; wait_for_ranks waits until they all ran it. */
static void post_ranks(struct engine *e, enum rank_command command, const struct forward_call *call)
{
	pthread_mutex_lock(&e->lock);
	e->command = command;
	if (call)
		e->call = *call;
	e->busy = e->ranks;
	e->command_id++;
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->lock);
}

static void run_ranks(struct engine *e, enum rank_command command, const struct forward_call *call)
{
	post_ranks(e, command, call);
	if (command != RANK_QUIT)
		wait_for_ranks(e);
}

/* The first failure, as the message of the whole engine. */
static void failure_message(struct engine *e, char *err, size_t err_size)
{
	int r = e->first_failed >= 0 ? e->first_failed : 0;
	snprintf(e->failure, sizeof e->failure, "rank %d: %s", r, e->slots[r].err);
	snprintf(err, err_size, "%s", e->failure);
}

/* Starts the rank threads, which create their states; -1 when a rank (or a thread)
 * failed: the threads that started have then been told to quit. */
static int start_ranks(struct engine *e, char *err, size_t err_size)
{
	pthread_mutex_lock(&e->lock);
	e->busy = e->ranks;
	pthread_mutex_unlock(&e->lock);
	for (int r = 0; r < e->ranks; r++) {
		struct rank_slot *slot = &e->slots[r];
		if (pthread_create(&slot->thread, NULL, rank_main, slot) == 0) {
			slot->thread_started = true;
			continue;
		}
		snprintf(slot->err, sizeof slot->err, "cannot start a thread for the rank");
		pthread_mutex_lock(&e->lock);
		if (e->first_failed < 0)
			e->first_failed = r;
		comm_abort(e->comm);
		e->busy -= e->ranks - r;    /* the ranks that will not report */
		pthread_mutex_unlock(&e->lock);
		break;
	}
	wait_for_ranks(e);
	if (e->first_failed < 0)
		return 0;
	failure_message(e, err, err_size);
	return -1;
}

static void stop_ranks(struct engine *e)
{
	run_ranks(e, RANK_QUIT, NULL);
	for (int r = 0; r < e->ranks; r++)
		if (e->slots[r].thread_started)
			pthread_join(e->slots[r].thread, NULL);
}

/* ---- the engine ---------------------------------------------------------- */

static void engine_destroy(struct engine *e)
{
	if (e->ranks > 1) {
		stop_ranks(e);
	} else if (e->slots && e->slots[0].state) {
		e->ops->free(e->slots[0].state);
	}
	comm_free(e->comm);
	free(e->greedy_logits);
	pthread_mutex_destroy(&e->lock);
	pthread_cond_destroy(&e->wake);
	pthread_cond_destroy(&e->finished);
	free(e->slots);
	free(e);
}

/* The ranks' shares, and the communicator when there are several: 0, -1 or
 * ENGINE_NO_DEVICE. */
static int plan_ranks(struct engine *e, char *err, size_t err_size)
{
	int devices[TP_MAX_RANKS] = {0};
	/* one rank needs no communicator, unless one was named (NCCL with one rank) */
	bool named = e->options.comm == COMM_NCCL || e->options.comm == COMM_P2P;
	if (e->ranks > 1 || (named && e->ops != &engine_cpu_ops)) {
		int rc = e->ops->create_comm(e->ranks, &e->options, &e->comm, devices, err, err_size);
		if (rc != 0)
			return rc;
	}
	for (int r = 0; r < e->ranks; r++) {
		struct rank_slot *slot = &e->slots[r];
		slot->engine = e;
		tp_plan_rank(&e->model->config, r, e->ranks, &slot->rank.plan);
		slot->rank.comm = e->comm;
		slot->rank.device = devices[r];
	}
	return 0;
}

/* An engine of ranks ranks on ops into *out: 0, -1 with a message, or ENGINE_NO_DEVICE. */
static int engine_try_create(const struct model *model, const struct engine_options *options, int ranks,
			     const struct engine_backend_ops *ops, struct engine **out, char *err, size_t err_size)
{
	struct engine *e = calloc(1, sizeof *e);
	struct rank_slot *slots = calloc((size_t)ranks, sizeof *slots);
	*out = NULL;
	if (!e || !slots) {
		free(e);
		free(slots);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	e->model = model;
	e->ops = ops;
	e->options = *options;
	e->ranks = ranks;
	e->slots = slots;
	e->first_failed = -1;
	e->greedy_logits = ops->decode_greedy_begin ? NULL : malloc((size_t)model->config.vocab_size * sizeof(float));
	if (!ops->decode_greedy_begin && !e->greedy_logits) {
		free(e);
		free(slots);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->wake, NULL);
	pthread_cond_init(&e->finished, NULL);
	int rc = plan_ranks(e, err, err_size);
	if (rc == 0 && ranks == 1) {
		rc = rank_create(e, &slots[0]);
		if (rc != 0)
			snprintf(err, err_size, "%s", slots[0].err);
	} else if (rc == 0) {
		rc = start_ranks(e, err, err_size);
	}
	if (rc != 0) {
		engine_destroy(e);
		return rc;
	}
	/* every rank can hold the shortest context any of them can */
	e->context_length = slots[0].context_length;
	for (int r = 1; r < ranks; r++)
		if (slots[r].context_length < e->context_length)
			e->context_length = slots[r].context_length;
	if (ranks == 1)
		snprintf(e->description, sizeof e->description, "%s", slots[0].description);
	else
		snprintf(e->description, sizeof e->description, "%s x %d ranks", slots[0].description, ranks);
	*out = e;
	return 0;
}

int engine_create(const struct model *model, const struct engine_options *options,
		  struct engine **out, char *err, size_t err_size)
{
	struct engine_options defaults = {.backend = ENGINE_BACKEND_AUTO};
	if (!options)
		options = &defaults;
	int ranks = options->ranks;
	if (ranks > 1 && tp_check_ranks(&model->config, ranks, err, err_size) != 0)
		return -1;
#ifdef HAVE_CUDA
	/* AUTO: the GPU when one can run the model, else the CPU.  A machine without
	 * a GPU says nothing; a GPU that cannot take the model says why, once. */
	if (options->backend == ENGINE_BACKEND_AUTO) {
		int gpu_ranks = ranks > 0 ? ranks : engine_cuda_ops.default_ranks(model);
		int rc = engine_try_create(model, options, gpu_ranks, &engine_cuda_ops, out, err, err_size);
		if (rc == 0)
			return 0;
		if (rc != ENGINE_NO_DEVICE)
			fprintf(stderr, "llmchat: not using the GPU: %s; running on the CPU\n", err);
	}
#endif
	const struct engine_backend_ops *ops = pick_backend(options->backend, err, err_size);
	if (!ops)
		return -1;
	if (ranks <= 0)
		ranks = ops->default_ranks ? ops->default_ranks(model) : 1;
	return engine_try_create(model, options, ranks, ops, out, err, err_size) == 0 ? 0 : -1;
}

void engine_free(struct engine *engine)
{
	if (engine)
		engine_destroy(engine);
}

/* Runs the call on every rank; the first failure is the message. */
static int forward_ranks(struct engine *e, const struct forward_call *call, char *err, size_t err_size)
{
	e->forwards++;
	if (e->ranks == 1) {
		if (rank_forward(e, &e->slots[0], call) == 0)
			return 0;
		snprintf(err, err_size, "%s", e->slots[0].err);
		return -1;
	}
	run_ranks(e, RANK_FORWARD, call);
	if (e->first_failed < 0)
		return 0;
	e->broken = true;
	failure_message(e, err, err_size);
	return -1;
}

/* Every token is an id of the vocabulary. */
static int check_token_ids(const struct engine *engine, const int32_t *tokens, size_t count, char *err,
			   size_t err_size)
{
	const int vocab = engine->model->config.vocab_size;
	for (size_t i = 0; i < count; i++) {
		if (tokens[i] < 0 || tokens[i] >= vocab) {
			snprintf(err, err_size, "token id %d is outside the vocabulary (0..%d)", (int)tokens[i], vocab - 1);
			return -1;
		}
	}
	return 0;
}

/* What every step checks before the cache changes: the engine runs (no failed rank,
 * no greedy step left open), the tokens fit the context and are ids of the vocabulary. */
static int check_step(const struct engine *engine, const int32_t *tokens, size_t count, char *err, size_t err_size)
{
	if (engine->broken) {
		snprintf(err, err_size, "%s", engine->failure);
		return -1;
	}
	if (engine->step_pending) {
		snprintf(err, err_size, "engine: the decode step begun before has not ended");
		return -1;
	}
	if (count == 0) {
		snprintf(err, err_size, "engine_forward: no tokens");
		return -1;
	}
	if (count > (size_t)(engine->context_length - engine->position)) {
		snprintf(err, err_size, "context full: %zu more tokens at position %d exceed the context of %d tokens",
			 count, engine->position, engine->context_length);
		return -1;
	}
	return check_token_ids(engine, tokens, count, err, err_size);
}

/* Whether f is neither NaN nor infinite, by its exponent bits (all ones for both). */
static bool float_finite(float f)
{
	uint32_t bits;
	memcpy(&bits, &f, sizeof bits);
	return (bits & 0x7F800000u) != 0x7F800000u;
}

/* The index of the first logit that is NaN or infinite, or n when there is none;
 * a block at a time, with a loop the compiler vectorizes (perplexity checks
 * thousands of rows). */
static size_t first_non_finite(const float *x, size_t n)
{
	const size_t block = 1024;
	for (size_t start = 0; start < n; start += block) {
		size_t end = n - start < block ? n : start + block;
		bool finite = true;
		for (size_t i = start; i < end; i++)
			finite &= float_finite(x[i]);
		if (finite)
			continue;
		for (size_t i = start; i < end; i++)
			if (!float_finite(x[i]))
				return i;
	}
	return n;
}

static int broken_logits(float value, int position, char *err, size_t err_size)
{
	snprintf(err, err_size, "the model produced %s logits at position %d (the weights or config values are broken)",
		 isnan(value) ? "NaN" : "infinite", position);
	return -1;
}

/* Broken weights or config values give NaN (or infinite) logits, which a sampler
 * or an argmax would turn into some token ("!!!") as if it were an answer.  rows
 * rows of logits, the first for the token at position. */
static int check_logits(const struct engine *engine, const float *logits, size_t rows, int position,
			char *err, size_t err_size)
{
	const size_t vocab = (size_t)engine->model->config.vocab_size;
	size_t bad = first_non_finite(logits, rows * vocab);
	if (bad == rows * vocab)
		return 0;
	return broken_logits(logits[bad], position + (int)(bad / vocab), err, err_size);
}

int engine_forward(struct engine *engine, const int32_t *tokens, size_t count,
		   float *logits, bool all_logits, char *err, size_t err_size)
{
	if (check_step(engine, tokens, count, err, err_size) != 0)
		return -1;
	struct forward_call call = {tokens, count, engine->position, logits, all_logits, false, false};
	if (forward_ranks(engine, &call, err, err_size) != 0)
		return -1;
	if (logits && check_logits(engine, logits, all_logits ? count : 1,
				   engine->position + (all_logits ? 0 : (int)count - 1), err, err_size) != 0)
		return -1;
	engine->position += (int)count;
	return 0;
}

int engine_prefill(struct engine *engine, const int32_t *tokens, size_t count, float *logits,
		   const atomic_bool *cancel, char *err, size_t err_size)
{
	const int start = engine->position;
	const int batch = engine->ops->batch_tokens(engine->slots[0].state);
	const size_t piece = batch > 0 ? (size_t)batch : count;
	size_t done = 0;
	int rc = 0;
	/* the whole prompt fits, or nothing runs */
	if (check_step(engine, tokens, count, err, err_size) != 0)
		return -1;
	/* A backend cuts a call into batches from its first token, so pieces of one
	 * batch give the same bits as one call.  The last piece takes up to one token
	 * more than a batch rather than leave one token alone: a one-token call with
	 * logits is a decode step, which a backend may run another way. */
	while (rc == 0 && count - done > piece + 1) {
		if (cancel && atomic_load(cancel))
			rc = 1;
		else if (engine_forward(engine, tokens + done, piece, NULL, false, err, err_size) != 0)
			rc = -1;
		done += piece;
	}
	if (rc == 0 && cancel && atomic_load(cancel))
		rc = 1;
	if (rc == 0 && engine_forward(engine, tokens + done, count - done, logits, false, err, err_size) != 0)
		rc = -1;
	if (rc != 0)
		engine_rewind(engine, start);
	return rc;
}

int engine_decode_greedy_begin(struct engine *engine, int32_t token, char *err, size_t err_size)
{
	if (check_step(engine, &token, 1, err, err_size) != 0)
		return -1;
	engine->greedy_token = token;
	struct forward_call call = {&engine->greedy_token, 1, engine->position, engine->greedy_logits, false, true,
				    false};
	struct rank_slot *slot = &engine->slots[0];
	engine->forwards++;
	if (engine->ranks > 1) {
		post_ranks(engine, RANK_FORWARD, &call); /* the ranks run it while the caller goes on */
	} else if (engine->ops->decode_greedy_begin && !test_hook_fails(engine, slot, true)) {
		if (engine->ops->decode_greedy_begin(slot->state, token, engine->position, slot->err,
						     sizeof slot->err) != 0) {
			snprintf(err, err_size, "%s", slot->err);
			return -1;
		}
	} else if (rank_forward(engine, slot, &call) != 0) {
		snprintf(err, err_size, "%s", slot->err);
		return -1;
	}
	engine->step_pending = true;
	engine->draw_pending = false;
	return 0;
}

/* The id of row's largest logit over the ranks' reports, lowest on ties (row 0 of
 * the token at position); fails on a NaN or infinite logit (a rank's argmax reports a
 * NaN it met as its best value, and -1 as the index when it met nothing else). */
static int best_over_ranks(const struct engine *engine, size_t row, int position, int32_t *next, char *err,
			   size_t err_size)
{
	const struct engine_best *winner = &engine->slots[0].best[row];
	for (int r = 0; r < engine->ranks; r++) {
		const struct engine_best *b = &engine->slots[r].best[row];
		if (!float_finite(b->value) || b->index < 0)
			return broken_logits(b->index < 0 ? NAN : b->value, position, err, err_size);
		if (b->value > winner->value || (b->value == winner->value && b->index < winner->index))
			winner = b;
	}
	*next = winner->index;
	return 0;
}

/* The id of the largest logit over the ranks' reports (or the logits), lowest on
 * ties; fails on a NaN or infinite logit. */
static int greedy_choice(const struct engine *engine, int32_t *next, char *err, size_t err_size)
{
	const int vocab = engine->model->config.vocab_size;
	if (engine->greedy_logits) { /* the backend gave logits: the sampler's argmax */
		if (check_logits(engine, engine->greedy_logits, 1, engine->position, err, err_size) != 0)
			return -1;
		*next = (int32_t)numerics_argmax(engine->greedy_logits, (size_t)vocab);
		return 0;
	}
	return best_over_ranks(engine, 0, engine->position, next, err, err_size);
}

int engine_forward_argmax(struct engine *engine, const int32_t *tokens, size_t count, int32_t *best, char *err,
			  size_t err_size)
{
	if (count > ENGINE_ARGMAX_MAX_ROWS) {
		snprintf(err, err_size, "engine_forward_argmax: %zu rows, more than %d", count, ENGINE_ARGMAX_MAX_ROWS);
		return -1;
	}
	if (check_step(engine, tokens, count, err, err_size) != 0)
		return -1;
	struct forward_call call = {tokens, count, engine->position, NULL, false, false, true};
	if (forward_ranks(engine, &call, err, err_size) != 0)
		return -1;
	for (size_t i = 0; i < count; i++)
		if (best_over_ranks(engine, i, engine->position + (int)i, &best[i], err, err_size) != 0)
			return -1;
	engine->position += (int)count;
	return 0;
}

int engine_decode_greedy_end(struct engine *engine, int32_t *next, char *err, size_t err_size)
{
	if (!engine->step_pending || engine->draw_pending) {
		snprintf(err, err_size, "engine_decode_greedy_end: no greedy step was begun");
		return -1;
	}
	engine->step_pending = false;
	struct rank_slot *slot = &engine->slots[0];
	if (engine->ranks > 1) {
		wait_for_ranks(engine);
		if (engine->first_failed >= 0) {
			engine->broken = true;
			failure_message(engine, err, err_size);
			return -1;
		}
	} else if (engine->ops->decode_greedy_end &&
		   engine->ops->decode_greedy_end(slot->state, &slot->best[0].value, &slot->best[0].index, slot->err,
						  sizeof slot->err) != 0) {
		snprintf(err, err_size, "%s", slot->err);
		return -1;
	}
	if (greedy_choice(engine, next, err, err_size) != 0)
		return -1;
	engine->position++;
	return 0;
}

bool engine_draws_on_device(const struct engine *engine)
{
	return engine->ranks == 1 && engine->ops->decode_sample_begin != NULL &&
	       !engine->options.test_hooks.host_sampling;
}

int engine_set_draw_history(struct engine *engine, const int32_t *tokens, size_t count, char *err,
			    size_t err_size)
{
	if (!engine_draws_on_device(engine)) {
		snprintf(err, err_size, "engine_set_draw_history: this engine does not draw on its device");
		return -1;
	}
	if (check_token_ids(engine, tokens, count, err, err_size) != 0)
		return -1;
	struct rank_slot *slot = &engine->slots[0];
	if (engine->ops->set_draw_history(slot->state, tokens, count, slot->err, sizeof slot->err) != 0) {
		snprintf(err, err_size, "%s", slot->err);
		return -1;
	}
	return 0;
}

int engine_decode_sample_begin(struct engine *engine, int32_t token, const struct engine_draw *draw, char *err,
			       size_t err_size)
{
	if (!engine_draws_on_device(engine)) {
		snprintf(err, err_size, "engine_decode_sample_begin: this engine does not draw on its device");
		return -1;
	}
	if (check_step(engine, &token, 1, err, err_size) != 0)
		return -1;
	struct rank_slot *slot = &engine->slots[0];
	engine->forwards++;
	if (test_hook_fails(engine, slot, true)) {
		snprintf(err, err_size, "failed on purpose (LLMCHAT_TEST_FAIL_RANK)");
		return -1;
	}
	if (engine->ops->decode_sample_begin(slot->state, token, engine->position, draw, slot->err,
					     sizeof slot->err) != 0) {
		snprintf(err, err_size, "%s", slot->err);
		return -1;
	}
	engine->step_pending = true;
	engine->draw_pending = true;
	return 0;
}

int engine_decode_sample_end(struct engine *engine, int32_t *next, char *err, size_t err_size)
{
	if (!engine->step_pending || !engine->draw_pending) {
		snprintf(err, err_size, "engine_decode_sample_end: no sampled step was begun");
		return -1;
	}
	engine->step_pending = false;
	struct rank_slot *slot = &engine->slots[0];
	int32_t drawn;
	if (engine->ops->decode_sample_end(slot->state, &slot->best[0].value, &slot->best[0].index, &drawn, slot->err,
					   sizeof slot->err) != 0) {
		snprintf(err, err_size, "%s", slot->err);
		return -1;
	}
	/* the argmax's NaN check; it is also the choice when no logit was a number */
	if (greedy_choice(engine, next, err, err_size) != 0)
		return -1;
	if (drawn >= 0)
		*next = drawn;
	engine->position++;
	return 0;
}

int engine_decode_greedy(struct engine *engine, int32_t token, int32_t *next, char *err, size_t err_size)
{
	if (engine_decode_greedy_begin(engine, token, err, err_size) != 0)
		return -1;
	return engine_decode_greedy_end(engine, next, err, err_size);
}

void engine_time_comm(struct engine *engine, bool on)
{
	if (!engine->ops->time_comm)
		return;
	for (int r = 0; r < engine->ranks; r++)
		engine->ops->time_comm(engine->slots[r].state, on);
}

double engine_comm_seconds(struct engine *engine)
{
	double seconds = 0;
	if (engine->ops->comm_seconds) {
		seconds = engine->ops->comm_seconds(engine->slots[0].state);
		for (int r = 1; r < engine->ranks; r++)
			engine->ops->comm_seconds(engine->slots[r].state);
	}
	return seconds;
}

int engine_position(const struct engine *engine)
{
	return engine->position;
}

int engine_context_length(const struct engine *engine)
{
	return engine->context_length;
}

void engine_rewind(struct engine *engine, int position)
{
	if (position < 0)
		position = 0;
	if (position < engine->position)
		engine->position = position;
}

int engine_ranks(const struct engine *engine)
{
	return engine->ranks;
}

int engine_gemv_products_from_name(const char *name, enum engine_gemv_products *out)
{
	static const char *const names[] = {"default", "cuda-cores", "tensor", "tensor-f16"};
	static const enum engine_gemv_products values[] = {ENGINE_PRODUCTS_DEFAULT, ENGINE_PRODUCTS_CUDA_CORES,
							   ENGINE_PRODUCTS_TENSOR, ENGINE_PRODUCTS_TENSOR_F16};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0) {
			*out = values[i];
			return 0;
		}
	return -1;
}

const char *engine_describe(const struct engine *engine)
{
	return engine->description;
}

int engine_set_position_for_benchmark(struct engine *engine, int position)
{
	if (position < 0 || position > engine->context_length)
		return -1;
	engine->position = position;
	return 0;
}
