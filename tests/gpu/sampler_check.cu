/*
 * sampler_check.cu - the GPU's draw (llmk_sample, kernels/sampling_kernels.h)
 * against the CPU sampler (src/chat/sampler.c), on the device machine
 * (tests/gpu/run.sh).
 *
 *   sampler_check            prints "ok"/"not ok" lines and "N passed, N failed"
 *
 * 1. The kept sets, exactly: on the same logits, llmk_sample's counts after each
 *    filter equal sampler_count_kept's (every filter keeps a prefix of the order
 *    logit descending, id ascending, so equal counts are equal sets), at 128256
 *    entries (Llama 3's vocabulary) and at 1000: flat rows (standard deviation 0.02,
 *    what random weights give), peaked ones (standard deviation 8), ties at the top-k
 *    and top-p edges, -inf and NaN entries, a repetition penalty over a history;
 *    every filter alone and combined; temperature 0 with a penalty is the argmax.
 * 2. The distribution: DRAWS draws with uniforms from a seeded generator, for every
 *    row kind and every filter, at 1000 entries.  A token outside the CPU's kept set
 *    fails at once; the counts of the kept tokens are compared with the expected
 *    probabilities (float64 softmax of the kept keys) by Pearson's chi-square, bins
 *    under 5 expected draws pooled, and the check fails above the 1 - 1e-6 quantile of
 *    the chi-square distribution with the bins' degrees of freedom (Wilson-Hilferty's
 *    approximation), so a correct sampler fails one case in a million.
 * 3. Run after run: the same uniforms give the same tokens (two passes of 200 draws).
 * 4. The time of one draw over 128256 logits inside a CUDA graph, flat and peaked.
 */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <algorithm>

#include <cuda_runtime_api.h>

#include "sampling_kernels.h"
extern "C" {
#include "sampler.h"
}

static int passed, failed;

static void check(bool ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (ok)
		passed++;
	else
		failed++;
}

#define CUDA(call)                                                                                   \
	do {                                                                                         \
		cudaError_t status_ = (call);                                                        \
		if (status_ != cudaSuccess) {                                                        \
			printf("not ok - CUDA: %s: %s\n", #call, cudaGetErrorString(status_));      \
			printf("%d passed, %d failed\n", passed, failed + 1);                        \
			exit(1);                                                                     \
		}                                                                                    \
	} while (0)

/* splitmix64: the test's own numbers (rows and uniforms). */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double uniform01(uint64_t *state)
{
	return (double)(next_random(state) >> 11) * 0x1p-53;
}

static double normal(uint64_t *state)
{
	double u = uniform01(state), v = uniform01(state);
	return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

enum row_kind { ROW_FLAT, ROW_PEAKED, ROW_TIES, ROW_NEG_INF, ROW_NAN, ROW_KINDS };
static const char *row_names[] = {"flat", "peaked", "ties", "-inf entries", "a NaN"};

/* A row of n logits of the kind, from seed. */
static std::vector<float> make_row(enum row_kind kind, int n, uint64_t seed)
{
	std::vector<float> x(n);
	for (int i = 0; i < n; i++)
		x[i] = (float)(normal(&seed) * (kind == ROW_PEAKED ? 8.0 : kind == ROW_FLAT ? 0.02 : 1.0));
	if (kind == ROW_TIES) /* blocks of equal values: ties at every edge */
		for (int i = 0; i < n; i++)
			x[i] = (float)((int)(x[i] * 4)) / 4;
	if (kind == ROW_NEG_INF)
		for (int i = 0; i < n; i += 3)
			x[i] = -INFINITY;
	if (kind == ROW_NAN)
		x[n / 2] = NAN;
	return x;
}

struct filters {
	const char *name;
	struct sampler_settings s;
};

static const struct filters filter_cases[] = {
	{"no filter", {1.0f, 1.0f, 0.0f, 1.0f, 0, 0}},
	{"temperature 0.6", {0.6f, 1.0f, 0.0f, 1.0f, 0, 0}},
	{"top-k 40", {1.0f, 1.0f, 0.0f, 1.0f, 40, 0}},
	{"top-p 0.9 at temperature 0.6", {0.6f, 0.9f, 0.0f, 1.0f, 0, 0}},
	{"min-p 0.05", {1.0f, 1.0f, 0.05f, 1.0f, 0, 0}},
	{"penalty 1.3", {0.8f, 1.0f, 0.0f, 1.3f, 0, 0}},
	{"all: penalty 1.2, temperature 0.7, top-k 50, top-p 0.95, min-p 0.02", {0.7f, 0.95f, 0.02f, 1.2f, 50, 0}},
};
#define FILTER_CASES (int)(sizeof filter_cases / sizeof filter_cases[0])

/* The tokens the penalty counts in every case: a few ids, one repeated. */
static std::vector<int32_t> history_for(int n)
{
	return {1, 5, 5, n / 3, n - 1, 17 % n};
}

/* Device state for draws over rows of n logits. */
struct gpu_sampler {
	int n;
	float *x;
	unsigned char *seen;
	void *scratch;
	struct llmk_draw *draws;
	struct llmk_drawn *drawn;
	int capacity;  /* draws */
};

static void gpu_sampler_init(struct gpu_sampler *g, int n, int capacity)
{
	size_t bytes;
	g->n = n;
	g->capacity = capacity;
	CUDA(llmk_sample_scratch(n, &bytes));
	CUDA(cudaMalloc(&g->x, n * sizeof(float)));
	CUDA(cudaMalloc(&g->seen, n));
	CUDA(cudaMalloc(&g->scratch, bytes));
	CUDA(cudaMalloc(&g->draws, capacity * sizeof(struct llmk_draw)));
	CUDA(cudaMalloc(&g->drawn, capacity * sizeof(struct llmk_drawn)));
}

static void gpu_sampler_free(struct gpu_sampler *g)
{
	cudaFree(g->x); cudaFree(g->seen); cudaFree(g->scratch); cudaFree(g->draws); cudaFree(g->drawn);
}

/* Uploads the row and the history's seen marks. */
static void gpu_sampler_load(struct gpu_sampler *g, const std::vector<float> &row, const std::vector<int32_t> &history)
{
	std::vector<unsigned char> seen(g->n, 0);
	for (int32_t id : history)
		seen[id] = 1;
	CUDA(cudaMemcpy(g->x, row.data(), g->n * sizeof(float), cudaMemcpyHostToDevice));
	CUDA(cudaMemcpy(g->seen, seen.data(), g->n, cudaMemcpyHostToDevice));
}

static struct llmk_draw draw_of(const struct sampler_settings *s, double uniform)
{
	struct llmk_draw d;
	memset(&d, 0, sizeof d);
	d.temperature = s->temperature;
	d.top_p = s->top_p;
	d.min_p = s->min_p;
	d.repeat_penalty = s->repeat_penalty;
	d.top_k = s->top_k;
	d.uniform = uniform;
	return d;
}

/* count draws with the uniforms given; results in order. */
static std::vector<struct llmk_drawn> gpu_draws(struct gpu_sampler *g, const struct sampler_settings *s,
						const std::vector<double> &uniforms)
{
	std::vector<struct llmk_draw> draws;
	for (double u : uniforms)
		draws.push_back(draw_of(s, u));
	std::vector<struct llmk_drawn> out(uniforms.size());
	for (size_t done = 0; done < uniforms.size(); done += g->capacity) {
		int count = (int)std::min(uniforms.size() - done, (size_t)g->capacity);
		CUDA(cudaMemcpy(g->draws, &draws[done], count * sizeof(struct llmk_draw), cudaMemcpyHostToDevice));
		for (int i = 0; i < count; i++)
			CUDA(llmk_sample(g->x, g->n, &g->draws[i], NULL, g->seen, g->scratch, &g->drawn[i], 0));
		CUDA(cudaMemcpy(&out[done], g->drawn, count * sizeof(struct llmk_drawn), cudaMemcpyDeviceToHost));
	}
	return out;
}

/* The CPU sampler's counts on a copy of row. */
static struct sampler_kept cpu_kept(const std::vector<float> &row, const struct sampler_settings *s,
				    const std::vector<int32_t> &history)
{
	struct sampler *sampler;
	char err[256];
	struct sampler_kept kept;
	memset(&kept, 0, sizeof kept);
	if (sampler_create((int32_t)row.size(), s, &sampler, err, sizeof err) != 0) {
		printf("# sampler_create: %s\n", err);
		return kept;
	}
	std::vector<float> copy = row;
	sampler_count_kept(sampler, copy.data(), history.data(), history.size(), &kept);
	sampler_free(sampler);
	return kept;
}

/* The keys as sampler.c computes them (penalty, then temperature), sorted as both
 * samplers order them, with their ids; NaN and -inf left out. */
static std::vector<std::pair<float, int32_t>> sorted_keys(const std::vector<float> &row, const struct sampler_settings *s,
							   const std::vector<int32_t> &history)
{
	std::vector<float> l = row;
	std::vector<bool> seen(row.size(), false);
	for (int32_t id : history)
		seen[id] = true;
	std::vector<std::pair<float, int32_t>> keys;
	for (size_t i = 0; i < l.size(); i++) {
		float v = l[i];
		if (seen[i] && s->repeat_penalty != 1.0f)
			v = v > 0 ? v / s->repeat_penalty : v * s->repeat_penalty;
		if (s->temperature > 0)
			v = v / s->temperature;
		if (!std::isnan(v) && v != -INFINITY)
			keys.push_back({v, (int32_t)i});
	}
	std::sort(keys.begin(), keys.end(), [](const std::pair<float, int32_t> &a, const std::pair<float, int32_t> &b) {
		return a.first != b.first ? a.first > b.first : a.second < b.second;
	});
	return keys;
}

/* 1. kept sets */
static void check_kept(int n)
{
	struct gpu_sampler g;
	gpu_sampler_init(&g, n, 1);
	const std::vector<int32_t> history = history_for(n);
	for (int kind = 0; kind < ROW_KINDS; kind++) {
		std::vector<float> row = make_row((enum row_kind)kind, n, 1000 + kind);
		gpu_sampler_load(&g, row, history);
		for (int f = 0; f < FILTER_CASES; f++) {
			const struct sampler_settings *s = &filter_cases[f].s;
			struct sampler_kept want = cpu_kept(row, s, history);
			struct llmk_drawn got = gpu_draws(&g, s, {0.5})[0];
			char what[320];
			snprintf(what, sizeof what,
				 "%d entries, %s row, %s: kept %d/%d/%d/%d, the CPU sampler %zu/%zu/%zu/%zu (valid/top-k/top-p/min-p)",
				 n, row_names[kind], filter_cases[f].name, got.valid, got.after_top_k, got.after_top_p,
				 got.after_min_p, want.valid, want.after_top_k, want.after_top_p, want.after_min_p);
			check((size_t)got.valid == want.valid && (size_t)got.after_top_k == want.after_top_k &&
			      (size_t)got.after_top_p == want.after_top_p && (size_t)got.after_min_p == want.after_min_p,
			      what);
		}
		/* temperature 0 with a penalty: the argmax of the penalized logits */
		struct sampler_settings greedy = {0.0f, 1.0f, 0.0f, 1.5f, 0, 0};
		struct sampler *cpu;
		char err[256], what[200];
		sampler_create(n, &greedy, &cpu, err, sizeof err);
		std::vector<float> copy = row;
		int32_t want = sampler_sample(cpu, copy.data(), history.data(), history.size());
		sampler_free(cpu);
		struct llmk_drawn got = gpu_draws(&g, &greedy, {0.5})[0];
		if (kind != ROW_NAN) { /* a NaN is the CPU argmax's answer, and the engine refuses the row */
			snprintf(what, sizeof what, "%d entries, %s row, temperature 0 with penalty 1.5: token %d, the CPU's %d",
				 n, row_names[kind], got.token, want);
			check(got.token == want, what);
		}
	}
	gpu_sampler_free(&g);
}

/* The chi-square quantile at 1 - 1e-6 (Wilson-Hilferty, z = 4.753). */
static double chi_square_limit(int df)
{
	const double z = 4.753, a = 2.0 / (9.0 * df);
	double c = 1 - a + z * sqrt(a);
	return df * c * c * c;
}

/* 2. the distribution */
#define DRAWS 20000
static void check_distribution(int n)
{
	struct gpu_sampler g;
	gpu_sampler_init(&g, n, 4096);
	const std::vector<int32_t> history = history_for(n);
	uint64_t seed = 42;
	for (int kind = 0; kind < ROW_KINDS; kind++) {
		std::vector<float> row = make_row((enum row_kind)kind, n, 2000 + kind);
		gpu_sampler_load(&g, row, history);
		for (int f = 0; f < FILTER_CASES; f++) {
			const struct sampler_settings *s = &filter_cases[f].s;
			struct sampler_kept kept = cpu_kept(row, s, history);
			std::vector<std::pair<float, int32_t>> keys = sorted_keys(row, s, history);
			size_t k = kept.after_min_p;
			std::vector<double> p(n, 0.0);
			double total = 0;
			for (size_t j = 0; j < k; j++)
				total += exp((double)keys[j].first - keys[0].first);
			for (size_t j = 0; j < k; j++)
				p[keys[j].second] = exp((double)keys[j].first - keys[0].first) / total;
			std::vector<double> uniforms(DRAWS);
			for (double &u : uniforms)
				u = uniform01(&seed);
			std::vector<struct llmk_drawn> got = gpu_draws(&g, s, uniforms);
			std::vector<long> counts(n, 0);
			long outside = 0;
			for (const struct llmk_drawn &d : got) {
				if (d.token < 0 || d.token >= n || p[d.token] == 0)
					outside++;
				else
					counts[d.token]++;
			}
			/* Pearson over bins of >= 5 expected draws, the rest pooled */
			double chi = 0, pooled_expected = 0, pooled_observed = 0;
			int bins = 0;
			for (int i = 0; i < n; i++) {
				if (p[i] == 0)
					continue;
				double expected = p[i] * DRAWS;
				if (expected < 5) {
					pooled_expected += expected;
					pooled_observed += counts[i];
					continue;
				}
				chi += (counts[i] - expected) * (counts[i] - expected) / expected;
				bins++;
			}
			if (pooled_expected >= 5) {
				chi += (pooled_observed - pooled_expected) * (pooled_observed - pooled_expected) / pooled_expected;
				bins++;
			}
			const int df = bins > 1 ? bins - 1 : 1;
			const double limit = chi_square_limit(df);
			char what[320];
			snprintf(what, sizeof what,
				 "%d draws, %s row, %s: none outside the CPU's %zu kept (%ld), chi-square %.1f over %d df <= %.1f",
				 DRAWS, row_names[kind], filter_cases[f].name, k, outside, chi, df, limit);
			check(outside == 0 && (bins < 2 || chi <= limit), what);
		}
	}
	gpu_sampler_free(&g);
}

/* 3. run after run */
static void check_repeats(int n)
{
	struct gpu_sampler g;
	gpu_sampler_init(&g, n, 200);
	std::vector<float> row = make_row(ROW_FLAT, n, 7);
	gpu_sampler_load(&g, row, {});
	uint64_t seed = 9;
	std::vector<double> uniforms(200);
	for (double &u : uniforms)
		u = uniform01(&seed);
	const struct sampler_settings *s = &filter_cases[3].s;
	std::vector<struct llmk_drawn> a = gpu_draws(&g, s, uniforms), b = gpu_draws(&g, s, uniforms);
	bool same = true, varied = false;
	for (size_t i = 0; i < a.size(); i++) {
		same &= a[i].token == b[i].token;
		varied |= a[i].token != a[0].token;
	}
	check(same && varied, "the same uniforms draw the same 200 tokens twice (and not one token 200 times)");
	gpu_sampler_free(&g);
}

/* 4. the time of a draw, replayed in a graph */
static void time_draw(int n, enum row_kind kind)
{
	struct gpu_sampler g;
	gpu_sampler_init(&g, n, 1);
	gpu_sampler_load(&g, make_row(kind, n, 3), history_for(n));
	struct llmk_draw d = draw_of(&filter_cases[3].s, 0.25);
	CUDA(cudaMemcpy(g.draws, &d, sizeof d, cudaMemcpyHostToDevice));
	cudaStream_t stream;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
	CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
	const int per_graph = 20;
	for (int i = 0; i < per_graph; i++)
		CUDA(llmk_sample(g.x, n, g.draws, NULL, g.seen, g.scratch, g.drawn, stream));
	CUDA(cudaStreamEndCapture(stream, &graph));
	CUDA(cudaGraphInstantiate(&exec, graph, 0));
	CUDA(cudaGraphLaunch(exec, stream));
	CUDA(cudaStreamSynchronize(stream));
	cudaEvent_t start, stop;
	CUDA(cudaEventCreate(&start));
	CUDA(cudaEventCreate(&stop));
	const int launches = 20;
	CUDA(cudaEventRecord(start, stream));
	for (int i = 0; i < launches; i++)
		CUDA(cudaGraphLaunch(exec, stream));
	CUDA(cudaEventRecord(stop, stream));
	CUDA(cudaEventSynchronize(stop));
	float ms = 0;
	CUDA(cudaEventElapsedTime(&ms, start, stop));
	const double us = ms * 1e3 / (launches * per_graph);
	printf("# a draw (temperature 0.6, top-p 0.9) over %d %s logits, in a CUDA graph: %.1f us\n", n,
	       row_names[kind], us);
	char what[160];
	snprintf(what, sizeof what, "a draw over %d %s logits was timed in a graph (%.1f us)", n, row_names[kind], us);
	check(us > 0, what);
	cudaGraphExecDestroy(exec);
	cudaGraphDestroy(graph);
	cudaStreamDestroy(stream);
	gpu_sampler_free(&g);
}

int main(void)
{
	check_kept(128256);
	check_kept(1000);
	check_distribution(1000);
	check_repeats(128256);
	time_draw(128256, ROW_FLAT);
	time_draw(128256, ROW_PEAKED);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
