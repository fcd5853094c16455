/*
 * cuda_engine_step.c - the CUDA backend's decode steps and speculative decoding's verify
 * passes, each captured once as a CUDA graph (the position read on the device) and
 * replayed, and the backend's operations (engine_cuda_ops).  The launches they hold are
 * the forward pass's (engine_cuda.c); greedy decoding ends the graph with an argmax, so
 * a token costs an 8-byte copy back, and sampled decoding with the draw (llmk_sample).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "cuda_engine.h"
#include "cuda_try.h"

/* The end of a decode step (the residual stream in residual): the final norm, lm_head
 * into e->logits, and this rank's largest logit with its index copied to pinned memory. */
static int enqueue_next_token(struct cuda_engine *e, float *residual, char *err, size_t err_size)
{
	if (cuda_enqueue_head(e, residual, true, 1, err, err_size) != 0)
		return -1;
	CUDA_TRY(llmk_argmax(e->logits, 1, e->plan.vocab, e->plan.first_vocab, e->best, e->argmax_scratch, e->stream));
	CUDA_TRY(cudaMemcpyAsync(e->pinned_best, e->best, sizeof *e->best, cudaMemcpyDeviceToHost, e->stream));
	return 0;
}

/* After enqueue_next_token, with one rank: the draw's settings from pinned memory,
 * the draw over e->logits (the step's token, e->tokens[0], joins the penalty's
 * history), and its result back into pinned memory. */
static int enqueue_draw(struct cuda_engine *e, char *err, size_t err_size)
{
	CUDA_TRY(cudaMemcpyAsync(e->draw, e->pinned_draw, sizeof *e->draw, cudaMemcpyHostToDevice, e->stream));
	CUDA_TRY(llmk_sample(e->logits, e->plan.vocab, e->draw, e->tokens, e->seen, e->sample_scratch, e->drawn,
			     e->stream));
	CUDA_TRY(cudaMemcpyAsync(e->pinned_drawn, e->drawn, sizeof *e->drawn, cudaMemcpyDeviceToHost, e->stream));
	return 0;
}

/* The launches of one decode step, position-free (cuda_run_layers with graph): token and
 * position from pinned memory; the rank's logits stay on the GPU (e->logits) and their
 * largest value and its index come back into pinned memory, then with draw the token drawn. */
static int enqueue_decode_step(struct cuda_engine *e, bool draw, char *err, size_t err_size)
{
	if (cuda_enqueue_pinned_input(e, 1, err, err_size) != 0)
		return -1;
	if (e->segments) {
		if (cuda_run_segments(e, err, err_size) != 0 || enqueue_next_token(e, e->x_mid, err, err_size) != 0)
			return -1;
		return draw ? enqueue_draw(e, err, err_size) : 0;
	}
	if (cuda_run_layers(e, 1, 0, true, NULL, err, err_size) != 0 || enqueue_next_token(e, e->x, err, err_size) != 0)
		return -1;
	return draw ? enqueue_draw(e, err, err_size) : 0;
}

/* Starts capturing e->stream's launches into a graph; false when refused. */
static bool capture_begin(struct cuda_engine *e)
{
	if (cudaStreamBeginCapture(e->stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess)
		return true;
	cudaGetLastError();
	return false;
}

/* Ends the capture of launches that returned rc, and instantiates the graph into
 * *exec; false (*exec NULL, the error cleared) when the launches failed or the
 * capture or the instantiation was refused. */
static bool capture_end(struct cuda_engine *e, int rc, cudaGraphExec_t *exec)
{
	cudaGraph_t graph = NULL;
	cudaError_t status = cudaStreamEndCapture(e->stream, &graph);
	bool ok = rc == 0 && status == cudaSuccess && cudaGraphInstantiate(exec, graph, 0) == cudaSuccess;
	if (graph)
		cudaGraphDestroy(graph);
	if (!ok) {
		*exec = NULL;
		cudaGetLastError(); /* clear what the refused capture left */
	}
	return ok;
}

/* Captures the decode step (with the draw, or not) once into *exec; false when the
 * model's shapes or the driver refuse (decode then runs eagerly, with the same
 * results). */
static bool capture_decode_graph(struct cuda_engine *e, bool draw, cudaGraphExec_t *exec)
{
	char err[256];
	if (!e->segments_checked) { /* outside the capture: the check sets kernel attributes */
		e->segments = cuda_segments_usable(e);
		e->segments_checked = true;
	}
	if (!capture_begin(e))
		return false;
	return capture_end(e, enqueue_decode_step(e, draw, err, sizeof err), exec);
}

/* Launches one decoded token through the graph (the one that ends with the draw,
 * with draw), its logits copied back when want_logits; 1 when the graph is not in use
 * (the caller runs the token eagerly).  The caller synchronizes. */
static int decode_step_launch(struct cuda_engine *e, int32_t token, int position, bool draw, bool want_logits,
			      char *err, size_t err_size)
{
	if (e->decode_graph_failed || e->time_comm)
		return 1;
	cudaGraphExec_t *exec = draw ? &e->draw_graph : &e->decode_graph;
	if (!*exec && !capture_decode_graph(e, draw, exec)) {
		e->decode_graph_failed = true;
		return 1;
	}
	*e->pinned_token = token;
	*e->pinned_position = position;
	CUDA_TRY(cudaGraphLaunch(*exec, e->stream));
	if (want_logits)
		CUDA_TRY(cudaMemcpyAsync(e->pinned_logits, e->logits, (size_t)e->plan.vocab * sizeof(float),
					 cudaMemcpyDeviceToHost, e->stream));
	return 0;
}

/* Greedy decoding, first half: starts the step (the graph, or the eager launches and
 * the argmax); cuda_decode_greedy_end waits for it. */
static int cuda_decode_greedy_begin(void *state, int32_t token, int position, char *err, size_t err_size)
{
	struct cuda_engine *e = state;
	int rc = decode_step_launch(e, token, position, false, false, err, err_size);
	if (rc <= 0)
		return rc;
	/* no graph: the eager step, then the argmax */
	if (cuda_run_batch(e, &token, 1, position, NULL, false, err, err_size) != 0)
		return -1;
	return enqueue_next_token(e, e->x, err, err_size);
}

/* Second half: this rank's largest logit and its model-wide index. */
static int cuda_decode_greedy_end(void *state, float *best_value, int32_t *best_index, char *err, size_t err_size)
{
	struct cuda_engine *e = state;
	CUDA_TRY(cudaStreamSynchronize(e->stream));
	if (cuda_add_comm_time(e, err, err_size) != 0)
		return -1;
	*best_value = e->pinned_best->value;
	*best_index = e->pinned_best->index;
	return 0;
}

/* Sampled decoding, first half: the step and the draw with the settings of draw. */
static int cuda_decode_sample_begin(void *state, int32_t token, int position, const struct engine_draw *draw,
				    char *err, size_t err_size)
{
	struct cuda_engine *e = state;
	*e->pinned_draw = (struct llmk_draw){
		.temperature = draw->temperature,
		.top_p = draw->top_p,
		.min_p = draw->min_p,
		.repeat_penalty = draw->repeat_penalty,
		.top_k = draw->top_k,
		.uniform = draw->uniform,
	};
	int rc = decode_step_launch(e, token, position, true, false, err, err_size);
	if (rc <= 0)
		return rc;
	/* no graph: the eager step, the argmax, then the draw */
	if (cuda_run_batch(e, &token, 1, position, NULL, false, err, err_size) != 0 ||
	    enqueue_next_token(e, e->x, err, err_size) != 0)
		return -1;
	return enqueue_draw(e, err, err_size);
}

/* Second half: the largest logit with its index (the NaN check) and the token drawn. */
static int cuda_decode_sample_end(void *state, float *best_value, int32_t *best_index, int32_t *drawn, char *err,
				  size_t err_size)
{
	struct cuda_engine *e = state;
	if (cuda_decode_greedy_end(state, best_value, best_index, err, err_size) != 0)
		return -1;
	*drawn = e->pinned_drawn->token;
	return 0;
}

/* The tokens the penalty counts: seen[id] set for each, the rest cleared. */
static int cuda_set_draw_history(void *state, const int32_t *tokens, size_t count, char *err, size_t err_size)
{
	struct cuda_engine *e = state;
	unsigned char *mask = calloc((size_t)e->plan.vocab, 1);
	if (!mask) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		mask[tokens[i]] = 1;
	cudaError_t status = cudaMemcpyAsync(e->seen, mask, (size_t)e->plan.vocab, cudaMemcpyHostToDevice, e->stream);
	if (status == cudaSuccess)
		status = cudaStreamSynchronize(e->stream);
	free(mask);
	CUDA_TRY(status);
	return 0;
}

/* Tokens a forward call runs at once: e->batch, or SCALAR_BATCH when the layers' weights
 * are neither 8-bit nor BF16 (no cuBLASLt product: the scalar kernel). */
static int cuda_batch_tokens(const void *state)
{
	const struct cuda_engine *e = state;
	const struct gpu_linear *l = &e->layers[0].q_proj;
	return l->quant == LLMK_QUANT_NONE && l->dtype != LLMK_BF16 ? SCALAR_BATCH : e->batch;
}

/* The rows' final norm, lm_head and argmax as the greedy step makes them
 * (enqueue_next_token), each row's best copied to pinned memory. */
static int enqueue_rows_argmax(struct cuda_engine *e, int n, char *err, size_t err_size)
{
	const int vocab = e->plan.vocab;
	if (cuda_enqueue_head(e, e->x, true, n, err, err_size) != 0)
		return -1;
	CUDA_TRY(llmk_argmax(e->logits, n, vocab, e->plan.first_vocab, e->best, e->argmax_scratch, e->stream));
	CUDA_TRY(cudaMemcpyAsync(e->pinned_best, e->best, (size_t)n * sizeof *e->best, cudaMemcpyDeviceToHost,
				 e->stream));
	return 0;
}

/* The rows' final norm and lm_head as run_batch makes them for every row, this rank's
 * slice of each row's logits copied to pinned memory. */
static int enqueue_rows_logits(struct cuda_engine *e, int n, char *err, size_t err_size)
{
	if (cuda_enqueue_head(e, e->x, true, n, err, err_size) != 0)
		return -1;
	CUDA_TRY(cudaMemcpyAsync(e->pinned_logits, e->logits, (size_t)n * e->plan.vocab * sizeof(float),
				 cudaMemcpyDeviceToHost, e->stream));
	return 0;
}

/* The launches of a pass of n tokens, position-free as the decode step's (cuda_run_layers
 * with graph set: the same kernels a token at a time would run, so each row keeps the
 * step's bits): tokens and position from pinned memory, each row's best (or with
 * logits, each row's logits) back there. */
static int enqueue_verify_pass(struct cuda_engine *e, int n, bool logits, char *err, size_t err_size)
{
	if (cuda_enqueue_pinned_input(e, n, err, err_size) != 0 || cuda_run_layers(e, n, 0, true, NULL, err, err_size) != 0)
		return -1;
	return logits ? enqueue_rows_logits(e, n, err, err_size) : enqueue_rows_argmax(e, n, err, err_size);
}

/* Launches the pass of count tokens at position through its graph, captured at first
 * use; 1 when graphs are not in use or the capture is refused (the caller runs the pass
 * eagerly).  The caller synchronizes. */
static int verify_pass_launch(struct cuda_engine *e, const int32_t *tokens, int n, int position, bool logits,
			      char *err, size_t err_size)
{
	if (e->decode_graph_failed || e->verify_graph_failed || e->time_comm)
		return 1;
	cudaGraphExec_t *exec = logits ? &e->verify_logits_graphs[n] : &e->verify_graphs[n];
	if (!*exec) {
		char capture_err[256];
		if (!capture_begin(e) ||
		    !capture_end(e, enqueue_verify_pass(e, n, logits, capture_err, sizeof capture_err), exec)) {
			e->verify_graph_failed = true;
			return 1;
		}
	}
	memcpy(e->pinned_token, tokens, (size_t)n * sizeof *tokens);
	*e->pinned_position = position;
	CUDA_TRY(cudaGraphLaunch(*exec, e->stream));
	return 0;
}

static int cuda_forward(void *state, const int32_t *tokens, size_t count, int position, float *logits,
			bool all_logits, char *err, size_t err_size)
{
	struct cuda_engine *e = state;
	if (count == 1 && logits) {
		int rc = decode_step_launch(e, tokens[0], position, false, true, err, err_size);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			CUDA_TRY(cudaStreamSynchronize(e->stream));
			memcpy(logits + e->plan.first_vocab, e->pinned_logits, (size_t)e->plan.vocab * sizeof(float));
			return 0;
		}
	}
	const int vocab = e->model->config.vocab_size, batch = cuda_batch_tokens(e);
	e->comm_events_recorded = 0;
	if (count >= 2 && count <= ENGINE_ARGMAX_MAX_ROWS && logits && all_logits && (int)count <= batch) {
		/* a verify pass whose every row is checked (sampled speculation) */
		int launched = verify_pass_launch(e, tokens, (int)count, position, true, err, err_size);
		if (launched < 0)
			return -1;
		if (launched == 0) {
			CUDA_TRY(cudaStreamSynchronize(e->stream));
			for (size_t r = 0; r < count; r++)
				memcpy(logits + r * vocab + e->plan.first_vocab, e->pinned_logits + r * e->plan.vocab,
				       (size_t)e->plan.vocab * sizeof(float));
			return cuda_add_comm_time(e, err, err_size);
		}
	}
	for (size_t done = 0; done < count;) {
		int n = count - done > (size_t)batch ? batch : (int)(count - done);
		bool last_batch = done + (size_t)n == count;
		float *out = NULL;
		if (logits && all_logits)
			out = logits + done * (size_t)vocab;
		else if (logits && last_batch)
			out = logits;
		if (cuda_run_batch(e, tokens + done, n, position + (int)done, out, all_logits, err, err_size) != 0)
			return -1;
		done += (size_t)n;
	}
	CUDA_TRY(cudaStreamSynchronize(e->stream));
	return cuda_add_comm_time(e, err, err_size);
}

/* count tokens (at most ENGINE_ARGMAX_MAX_ROWS, one batch), then each row's final
 * norm, lm_head and argmax as the greedy step makes them (enqueue_next_token): only
 * the rows' best values and indices come back.  Through a graph of the pass where
 * graphs are in use (the pass is launch-bound otherwise), else eagerly. */
static int cuda_forward_argmax(void *state, const int32_t *tokens, size_t count, int position,
			       struct engine_best *rows, char *err, size_t err_size)
{
	struct cuda_engine *e = state;
	const int n = (int)count;
	if (count > ENGINE_ARGMAX_MAX_ROWS || n > cuda_batch_tokens(e) || n > LOGIT_ROWS) {
		snprintf(err, err_size, "cuda_forward_argmax: %zu rows, more than one batch", count);
		return -1;
	}
	e->comm_events_recorded = 0;
	int launched = verify_pass_launch(e, tokens, n, position, false, err, err_size);
	if (launched < 0)
		return -1;
	if (launched == 1 && (cuda_run_batch(e, tokens, n, position, NULL, false, err, err_size) != 0 ||
			      enqueue_rows_argmax(e, n, err, err_size) != 0))
		return -1;
	CUDA_TRY(cudaStreamSynchronize(e->stream));
	for (int r = 0; r < n; r++)
		rows[r] = (struct engine_best){e->pinned_best[r].value, e->pinned_best[r].index};
	return cuda_add_comm_time(e, err, err_size);
}

const struct engine_backend_ops engine_cuda_ops = {
	.default_ranks = cuda_default_ranks,
	.create_comm = cuda_create_comm,
	.create = cuda_engine_create,
	.forward = cuda_forward,
	.free = cuda_engine_free,
	.batch_tokens = cuda_batch_tokens,
	.comm_seconds = cuda_comm_seconds,
	.time_comm = cuda_time_comm,
	.decode_greedy_begin = cuda_decode_greedy_begin,
	.decode_greedy_end = cuda_decode_greedy_end,
	.forward_argmax = cuda_forward_argmax,
	.decode_sample_begin = cuda_decode_sample_begin,
	.decode_sample_end = cuda_decode_sample_end,
	.set_draw_history = cuda_set_draw_history,
};
