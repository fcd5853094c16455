/*
 * test_speculation.c - speculative decoding (--lookup) changes the speed, never the
 * answer:
 *   - prompt lookup proposes what followed the longest recent n-gram match;
 *   - sampler_accept_proposal keeps the target's distribution: many accept-or-draw
 *     trials from fixed logits match sampler_sample's probabilities (chi-square at
 *     p = 0.001), for each filter alone and combined, and for a proposal that is the
 *     top token, a middle one, one a filter drops, a -inf and a NaN one; greedy keeps
 *     only the argmax and draws no number;
 *   - a conversation with each tiny trained model answers the same with proposals
 *     always right, always wrong, or none, for 1 to 8 proposals a step and the
 *     adaptive number, stops where it stopped (max_tokens, an EOS inside the kept
 *     proposals), and its cache holds what the plain answer's holds; a proposer
 *     that fails fails the answer with its message; a seeded sampled answer repeats.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_session.h"
#include "engine.h"
#include "model.h"
#include "model_runtime.h"
#include "prompt_lookup.h"
#include "sampler.h"
#include "collected.h"
#include "tap.h"

/* ---- prompt lookup ---------------------------------------------------------- */

static int proposes(const int32_t *history, size_t count, size_t max, const int32_t *want, size_t want_count)
{
	int32_t draft[16];
	size_t got = prompt_lookup_propose(history, count, draft, max);
	return got == want_count && (got == 0 || memcmp(draft, want, got * sizeof *draft) == 0);
}

static void check_prompt_lookup(void)
{
	const int32_t a[] = {1, 2, 3, 4, 9, 9, 1, 2, 3};
	tap_ok(proposes(a, 9, 4, (const int32_t[]){4, 9, 9, 1}, 4),
	       "lookup: the tokens after the earlier '1 2 3', as many as asked");
	/* "2 3" occurs later than "1 2 3", but the longer match wins */
	const int32_t b[] = {1, 2, 3, 7, 0, 2, 3, 8, 1, 2, 3};
	tap_ok(proposes(b, 11, 1, (const int32_t[]){7}, 1), "lookup: the longest n-gram match wins over a more recent shorter one");
	const int32_t c[] = {1, 2, 5, 1, 2, 6, 1, 2};
	tap_ok(proposes(c, 8, 8, (const int32_t[]){6, 1, 2}, 3),
	       "lookup: the most recent occurrence, its continuation up to the end of the history");
	const int32_t d[] = {5, 1, 5};
	tap_ok(proposes(d, 3, 8, NULL, 0), "lookup: one token alone is no match (n-grams of 2 to 4)");
	tap_ok(proposes(a, 9, 0, NULL, 0) && proposes(a, 2, 4, NULL, 0) && proposes(a, 0, 4, NULL, 0),
	       "lookup: nothing when no token is asked for or the history is too short");
	const int32_t e[] = {4, 4, 4, 4, 4, 4};
	tap_ok(proposes(e, 6, 8, (const int32_t[]){4}, 1), "lookup: a run of one token proposes its next repetition");
}

/* ---- the acceptance rule ----------------------------------------------------- */

#define V 8
#define TRIALS 20000

static struct sampler *make(const struct sampler_settings *settings)
{
	struct sampler *s = NULL;
	char err[256];
	if (sampler_create(V, settings, &s, err, sizeof err) != 0)
		tap_diag("sampler_create: %s", err);
	return s;
}

/* sampler_sample's probabilities for row: the kept candidates (sampler_count_kept,
 * a prefix of the order logit descending, id ascending, after the penalty and the
 * temperature) weighted by their softmax. */
static void expected_probabilities(const struct sampler_settings *settings, const float *row, const int32_t *history,
				   size_t history_len, double *p)
{
	struct sampler *s = make(settings);
	struct sampler_kept kept;
	float work[V];
	memcpy(work, row, sizeof work);
	sampler_count_kept(s, work, history, history_len, &kept);
	sampler_free(s);
	/* work now has the penalty; the order is of work / temperature */
	int order[V], n = 0;
	for (int i = 0; i < V; i++)
		if (!isnan(work[i]) && work[i] != -INFINITY)
			order[n++] = i;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && (work[order[j]] > work[order[j - 1]] ||
					  (work[order[j]] == work[order[j - 1]] && order[j] < order[j - 1])); j--) {
			int t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	double total = 0, max = work[order[0]] / settings->temperature;
	memset(p, 0, V * sizeof *p);
	for (size_t i = 0; i < kept.after_min_p; i++)
		total += p[order[i]] = exp(work[order[i]] / settings->temperature - max);
	for (int i = 0; i < V; i++)
		p[i] /= total;
}

/* The chi-square statistic's 0.999 quantile for df degrees of freedom (1 to 7). */
static double chi_square_limit(int df)
{
	static const double limit[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32};
	return limit[df];
}

struct acceptance_case {
	const char *name;
	struct sampler_settings settings;
	int32_t history[2];
	size_t history_len;
};

/* TRIALS proposals of token over row: the tokens that come out (the proposal kept,
 * or the draw after its rejection) against sampler_sample's probabilities.  Returns
 * whether they match; *chi2, *accepted_rate and *p_token say how closely. */
static int acceptance_matches(const struct acceptance_case *c, const float *row, int32_t token, double *chi2,
			      double *accepted_rate, double *p_token)
{
	double p[V];
	int counts[V] = {0}, accepted = 0;
	expected_probabilities(&c->settings, row, c->history, c->history_len, p);
	struct sampler *s = make(&c->settings);
	for (int t = 0; t < TRIALS; t++) {
		float work[V];
		int32_t next = -1;
		memcpy(work, row, sizeof work);
		if (sampler_accept_proposal(s, work, c->history, c->history_len, token, &next)) {
			accepted++;
			next = token;
		}
		if (next < 0 || next >= V)
			return 0;
		counts[next]++;
	}
	sampler_free(s);
	int ok = 1, df = -1;
	*chi2 = 0;
	for (int i = 0; i < V; i++) {
		if (p[i] == 0) {
			ok &= counts[i] == 0;   /* what a filter drops never comes out */
			continue;
		}
		double expect = p[i] * TRIALS;
		*chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
		df++;
	}
	*p_token = token >= 0 && token < V ? p[token] : 0;
	*accepted_rate = (double)accepted / TRIALS;
	/* kept with probability p(token): within 5 standard deviations of the binomial */
	double sigma = sqrt(*p_token * (1 - *p_token) / TRIALS);
	ok &= fabs(*accepted_rate - *p_token) <= 5 * sigma + 1e-12;
	return ok && (df == 0 ? *chi2 < 1e-9 : *chi2 < chi_square_limit(df));
}

static void check_acceptance_distribution(void)
{
	const double probabilities[V] = {0.30, 0.25, 0.20, 0.10, 0.08, 0.04, 0.02, 0.01};
	float smooth[V];
	for (int i = 0; i < V; i++)
		smooth[i] = (float)log(probabilities[i]);
	/* ties at the top-k and top-p edges, a -inf and a NaN */
	const float edgy[V] = {3, 2, 2, 1, 0, -INFINITY, NAN, 2};
	const struct acceptance_case cases[] = {
		{"temperature 1", {1, 1, 0, 1, 0, 11}, {0}, 0},
		{"temperature 0.6, top-p 0.9 (Llama 3.1's defaults)", {0.6f, 0.9f, 0, 1, 0, 12}, {0}, 0},
		{"top-k 3", {1, 1, 0, 1, 3, 13}, {0}, 0},
		{"top-p 0.6", {1, 0.6f, 0, 1, 0, 14}, {0}, 0},
		{"min-p 0.3", {1, 1, 0.3f, 1, 0, 15}, {0}, 0},
		{"repetition penalty 1.5 on ids 0 and 3", {1, 1, 0, 1.5f, 0, 16}, {0, 3}, 2},
		{"all combined (T 0.8, top-k 5, top-p 0.95, min-p 0.05, penalty 1.3)", {0.8f, 0.95f, 0.05f, 1.3f, 5, 17},
		 {1}, 1},
	};
	const int32_t proposals[] = {0, 2, 7, 5, 6};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int r = 0; r < 2; r++) {
			const float *row = r ? edgy : smooth;
			int ok = 1;
			double worst = 0, chi2 = 0, rate = 0, p = 0;
			char detail[256] = "";
			for (size_t k = 0; k < sizeof proposals / sizeof proposals[0]; k++) {
				int match = acceptance_matches(&cases[i], row, proposals[k], &chi2, &rate, &p);
				worst = chi2 > worst ? chi2 : worst;
				if (!match && ok)
					snprintf(detail, sizeof detail, "; proposal %d: chi2 %.2f, kept %.4f, p %.4f",
						 proposals[k], chi2, rate, p);
				ok &= match;
			}
			tap_ok(ok, "accept-or-draw follows the target's distribution, %s, %s logits (largest chi2 %.2f%s)",
			       cases[i].name, r ? "tied/-inf/NaN" : "smooth", worst, detail);
		}
	}
}

static void check_greedy_acceptance(void)
{
	struct sampler_settings greedy = {0, 1, 0, 1, 0, 5}, penalized = {0, 1, 0, 2, 0, 5};
	struct sampler *s = make(&greedy), *twin = make(&greedy), *p = make(&penalized);
	float row[V] = {1, 3, 2, 3, 0, -1, 2.5f, 0}, work[V];
	int32_t next = -1;
	memcpy(work, row, sizeof work);
	int kept = sampler_accept_proposal(s, work, NULL, 0, 1, &next);
	memcpy(work, row, sizeof work);
	int rejected = !sampler_accept_proposal(s, work, NULL, 0, 3, &next);
	tap_ok(kept && rejected && next == 1, "greedy keeps the argmax (lowest id among ties) and gives it for any other proposal");
	tap_ok(sampler_uniform(s) == sampler_uniform(twin), "greedy acceptance draws no number");
	const int32_t seen[] = {1, 3};   /* 3 / 2 = 1.5 for both: 6's 2.5 is the top now */
	memcpy(work, row, sizeof work);
	rejected = !sampler_accept_proposal(p, work, seen, 2, 1, &next);
	tap_ok(rejected && next == 6, "greedy with a repetition penalty compares with the penalized argmax (%d)", next);
	sampler_free(s);
	sampler_free(twin);
	sampler_free(p);
}

/* ---- a conversation with speculation ----------------------------------------- */

/* A proposer that knows the answer: the tokens of `tokens` after the history (which
 * must be their prefix), or with wrong set, the same with the first one changed. */
struct oracle {
	int32_t tokens[1024];
	size_t count;
	int wrong;
	int fail;           /* fails its call */
	int32_t vocab;
	size_t calls;
};

static int oracle_propose(void *user_data, const int32_t *history, size_t count, int32_t *draft, size_t max,
			  size_t *proposed, char *err, size_t err_size)
{
	struct oracle *o = user_data;
	o->calls++;
	*proposed = 0;
	if (o->fail) {
		snprintf(err, err_size, "the oracle failed on purpose");
		return -1;
	}
	if (count > o->count || memcmp(history, o->tokens, count * sizeof *history) != 0)
		return 0;
	size_t n = o->count - count < max ? o->count - count : max;
	memcpy(draft, o->tokens + count, n * sizeof *draft);
	if (o->wrong && n > 0)
		draft[0] = (draft[0] + 1) % o->vocab;
	*proposed = n;
	return 0;
}

/* A proposer that proposes nothing and keeps the history of its last call. */
static int record_history(void *user_data, const int32_t *history, size_t count, int32_t *draft, size_t max,
			  size_t *proposed, char *err, size_t err_size)
{
	struct oracle *o = user_data;
	(void)draft;
	(void)max;
	(void)err;
	(void)err_size;
	if (count <= sizeof o->tokens / sizeof o->tokens[0]) {
		memcpy(o->tokens, history, count * sizeof *history);
		o->count = count;
	}
	*proposed = 0;
	return 0;
}

struct conversation {
	struct model_runtime *runtime;
};

/* One answer to "Who are you?" in a fresh session (the engine rewound by the prefill):
 * its text, stats and the context it leaves used. */
static int answer_or_fail(const struct conversation *c, const struct generation_settings *settings,
			  struct collected *text, struct generation_stats *stats, int *context_used, char *err,
			  size_t err_size)
{
	struct chat_session *session = NULL;
	memset(text, 0, sizeof *text);
	struct model_runtime *rt = c->runtime;
	if (chat_session_create(rt->model, rt->engine, rt->bpe, rt->template_kind, &session, err, err_size) != 0)
		return -1;
	engine_rewind(rt->engine, 0);
	int rc = chat_session_ask(session, "Who are you?", settings, NULL, collect, text, stats, err, err_size);
	*context_used = chat_session_context_used(session);
	if (*context_used != engine_position(rt->engine))
		rc = -1;
	chat_session_free(session);
	return rc;
}

static int answer(const struct conversation *c, const struct generation_settings *settings, struct collected *text,
		  struct generation_stats *stats, int *context_used)
{
	char err[256] = "";
	int rc = answer_or_fail(c, settings, text, stats, context_used, err, sizeof err);
	if (rc != 0)
		tap_diag("chat_session_ask: %s", err);
	return rc;
}

static void check_conversation(const struct conversation *c, int max_tokens)
{
	struct generation_settings plain = {{0, 1, 0, 1, 0, 1}, max_tokens, 0, {NULL, NULL, 0}};
	struct collected want, got;
	struct generation_stats st;
	int used_plain, used;
	int rc = answer(c, &plain, &want, &st, &used_plain);
	const int prompt = st.prompt_tokens;
	tap_ok(rc == 0 && st.generated_tokens == max_tokens, "%s: the plain greedy answer (%d tokens): %.60s",
	       c->runtime->model->name, st.generated_tokens, want.text);

	/* the tokens the answer runs, through a proposer that proposes nothing */
	struct oracle recorder = {.vocab = c->runtime->model->config.vocab_size};
	struct generation_settings spec = plain;
	spec.speculation = (struct speculation){record_history, &recorder, 4};
	rc = answer(c, &spec, &got, &st, &used);
	tap_ok(rc == 0 && strcmp(got.text, want.text) == 0 && used == used_plain && st.speculation_steps == 0,
	       "with nothing proposed the answer and the cache are the plain ones (%d of %d used)", used, used_plain);

	for (int wrong = 0; wrong < 2; wrong++) {
		int same = 1, counted = 1, cached = 1;
		for (int n = 0; n <= SPECULATION_MAX_DRAFT; n++) {
			struct oracle o = recorder;
			o.wrong = wrong;
			spec.speculation = (struct speculation){oracle_propose, &o, n};
			rc = answer(c, &spec, &got, &st, &used);
			same &= rc == 0 && strcmp(got.text, want.text) == 0 && st.generated_tokens == max_tokens;
			cached &= used == used_plain;
			counted &= st.proposed_tokens > 0 &&
				   (wrong ? st.accepted_tokens == 0 : st.accepted_tokens == st.proposed_tokens);
			if (!same || !counted || !cached)
				tap_diag("%d proposals a step: %s, %d proposed, %d kept, %d used (plain %d)", n,
					 rc ? "failed" : got.text, st.proposed_tokens, st.accepted_tokens, used, used_plain);
		}
		tap_ok(same, "proposals always %s, 1 to 8 a step and adaptive: the plain answer", wrong ? "wrong" : "right");
		tap_ok(counted, "... %s of the proposals kept", wrong ? "none" : "all");
		tap_ok(cached, "... and the cache holds what the plain answer's holds");
	}

	/* an EOS the answer reaches inside kept proposals: the answer stops there */
	struct model_config *config = &c->runtime->model->config;
	config->eos_token_ids[1] = recorder.tokens[prompt + 2];   /* the answer's third token */
	config->eos_token_count = 2;
	rc = answer(c, &plain, &want, &st, &used_plain);
	int plain_tokens = st.generated_tokens;
	struct oracle o = recorder;
	spec.speculation = (struct speculation){oracle_propose, &o, SPECULATION_MAX_DRAFT};
	rc |= answer(c, &spec, &got, &st, &used);
	tap_ok(rc == 0 && st.stopped_by_eos && st.generated_tokens == plain_tokens && strcmp(got.text, want.text) == 0 &&
	       used == used_plain && st.accepted_tokens > plain_tokens,
	       "an EOS among the kept proposals ends the answer there (%d tokens, %d kept), and the cache forgets the rest "
	       "(%d used, plain %d)", st.generated_tokens, st.accepted_tokens, used, used_plain);
	config->eos_token_count = 1;

	/* a proposer that fails fails the answer, with its message */
	struct oracle failing = recorder;
	char err[256] = "";
	failing.fail = 1;
	spec.speculation = (struct speculation){oracle_propose, &failing, 4};
	rc = answer_or_fail(c, &spec, &got, &st, &used, err, sizeof err);
	tap_ok(rc != 0 && strstr(err, "failed on purpose") && used == engine_position(c->runtime->engine),
	       "a proposer that fails ends the answer with its message, the cache in step: %s", err);

	/* sampled: the same seed gives the same answer, run after run */
	struct generation_settings sampled = {{0.8f, 0.95f, 0, 1, 0, 99}, max_tokens, 0, {NULL, NULL, 0}};
	struct collected first, second;
	o = recorder;
	sampled.speculation = (struct speculation){oracle_propose, &o, 4};
	rc = answer(c, &sampled, &first, &st, &used);
	o = recorder;
	rc |= answer(c, &sampled, &second, &st, &used);
	tap_ok(rc == 0 && strcmp(first.text, second.text) == 0, "sampled with speculation: the same seed, the same answer");
}

/* On every tiny trained model (tests/data/models), whose answer to "Who are you?" is
 * a sentence of many tokens. */
static void check_conversations(void)
{
	static const char *const models[] = {"tiny-bf16", "tiny-fp8", "tiny-int8", "tiny-bf16-tied"};
	for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
		struct engine_options engine = {.backend = ENGINE_BACKEND_CPU, .context_length = 512, .threads = 2};
		char path[512], err[512];
		snprintf(path, sizeof path, "%s/tests/data/models/%s", LLMCHAT_SRCDIR, models[i]);
		struct model_runtime_settings settings = {.model = path, .engine = &engine};
		struct model_runtime rt;
		int rc = model_runtime_open(&settings, &rt, err, sizeof err);
		if (!tap_ok(rc == 0, "%s opens%s%s", models[i], rc ? ": " : "", rc ? err : ""))
			continue;
		struct conversation c = {&rt};
		check_conversation(&c, 24);
		model_runtime_close(&rt);
	}
}

int main(void)
{
	check_prompt_lookup();
	check_greedy_acceptance();
	check_acceptance_distribution();
	check_conversations();
	return tap_done();
}
