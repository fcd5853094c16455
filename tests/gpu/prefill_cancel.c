/*
 * prefill_cancel.c - a long prompt read on the GPU stops soon after its cancel flag
 * is set (Ctrl-C, SIGTERM while the model reads a pasted text), at real shapes with
 * dummy weights.
 *
 *   prefill_cancel CONFIG TOKENS    (tests/gpu/run.sh; needs a GPU)
 *
 * Times an uncancelled prefill of TOKENS tokens, then prefills them again with a
 * thread that sets the flag after a quarter of that time, and checks:
 * engine_prefill returns 1 (cancelled), within LIMIT_SECONDS of the flag, and the
 * position is back where it was (nothing half read stays in the cache).  Prints
 * "ok"/"not ok" lines and the measured seconds.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine.h"
#include "model.h"

#define LIMIT_SECONDS 0.5

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct canceller {
	atomic_bool flag;
	double delay, set_at;
};

static void *cancel_later(void *arg)
{
	struct canceller *c = arg;
	struct timespec ts = {(time_t)c->delay, (long)((c->delay - (time_t)c->delay) * 1e9)};
	nanosleep(&ts, NULL);
	c->set_at = now();
	atomic_store(&c->flag, true);
	return NULL;
}

int main(int argc, char **argv)
{
	char err[512];
	struct model *m;
	struct engine *engine;
	int tokens = argc == 3 ? atoi(argv[2]) : 0;
	if (tokens < 64 || model_open_dummy(argv[1], &m, err, sizeof err) != 0) {
		printf("not ok - dummy model: %s\n", tokens >= 64 ? err : "usage: prefill_cancel CONFIG TOKENS (64 or more)");
		return 1;
	}
	struct engine_options o = {.backend = ENGINE_BACKEND_CUDA, .context_length = tokens + 16};
	if (engine_create(m, &o, &engine, err, sizeof err) != 0) {
		printf("not ok - engine: %s\n", err);
		return 1;
	}
	int32_t *prompt = malloc((size_t)tokens * sizeof *prompt);
	float *logits = malloc((size_t)m->config.vocab_size * sizeof *logits);
	for (int i = 0; i < tokens; i++)
		prompt[i] = (int32_t)((i * 911 + 7) % m->config.vocab_size);

	/* a short prefill first: the first launches' set-up is not what is timed */
	int rc = engine_prefill(engine, prompt, 64, logits, NULL, err, sizeof err);
	engine_rewind(engine, 0);
	double start = now();
	rc |= engine_prefill(engine, prompt, tokens, logits, NULL, err, sizeof err);
	double whole = now() - start;
	engine_rewind(engine, 0);
	if (rc != 0) {
		printf("not ok - prefill of %d tokens: %s\n", tokens, err);
		return 1;
	}

	struct canceller c = {.delay = whole / 4};
	atomic_init(&c.flag, false);
	pthread_t thread;
	pthread_create(&thread, NULL, cancel_later, &c);
	rc = engine_prefill(engine, prompt, tokens, logits, &c.flag, err, sizeof err);
	double returned = now();
	pthread_join(thread, NULL);
	bool flag_set = atomic_load(&c.flag);
	double waited = flag_set ? returned - c.set_at : 0;
	printf("# %s: %d tokens in %.3f s uncancelled; the flag set after %.3f s, prefill back %.3f s later\n", argv[1],
	       tokens, whole, c.delay, waited);
	printf("%s - a cancelled prefill returns 1 (rc %d)\n", rc == 1 ? "ok" : "not ok", rc);
	printf("%s - it stops within %.1f s of the flag (%.3f s)\n", flag_set && waited < LIMIT_SECONDS ? "ok" : "not ok",
	       LIMIT_SECONDS, waited);
	printf("%s - the position is back at 0 (%d)\n", engine_position(engine) == 0 ? "ok" : "not ok",
	       engine_position(engine));
	free(prompt);
	free(logits);
	engine_free(engine);
	model_close(m);
	return 0;
}
