/*
 * gemv_mma_checks.cu - the 8-bit GEMV on the tensor cores (llm_kernels.h's
 * llmk_gemv_products, kernels/gemv_mma.cuh) against float64 and against itself, and its
 * speed beside the CUDA cores' GEMV.
 *
 *   gemv_mma_checks [SEED]         (built and run by tests/gpu/run.sh on the device machine)
 *   gemv_mma_checks times [SEED]   the timings only
 *   gemv_mma_checks swiglu-times [SEED]   the fused gate/up + SwiGLU's timings only
 *
 * Checks, on random weights, inputs and scales, every output poisoned first:
 * - FP8 and INT8 weights, each products setting (cuda-cores, tensor, tensor-f16), 1, 2,
 *   5, 8 and 9 tokens, on shapes whose rows are not a multiple of a block's 16 and whose
 *   rows are not a multiple of a warp step's 128 bytes: every output written, relative
 *   error against float64 below the setting's bound (INT8: exact sums, 1e-6; FP8: 1e-5,
 *   1e-4 for e4m3 on the tensor cores, whose rounding inside an mma is its own; each error
 *   printed: 1.0e-7 CUDA cores, 1.2e-7 tensor, 6.4e-7 tensor-f16 on an H100);
 * - every token of a launch of 9 the bits it gets alone, for llmk_gemv, llmk_gemv_multi
 *   and llmk_gemv_swiglu (what lets a verify pass give a step's bits), and INT8 on the
 *   tensor cores the bits of the CUDA cores' dp4a kernel;
 * - products outside the enum, and tensor products with the warp-per-row kernel: refused.
 * Timing: the Llama-3.1-8B and 70B projection shapes, 1 and 9 tokens, each setting, each
 * launch inside a CUDA graph on its own copy of the weights (copies rotated past L2),
 * against the device-to-device copy bandwidth of the same run; then the fused gate/up +
 * SwiGLU of one token, FP8 and INT8 on the CUDA cores (the decode step's launch).
 * Prints one "ok"/"not ok" line per check, the table, then "N passed, N failed".
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <vector>

#include <cuda_runtime.h>

extern "C" {
#include "llm_kernels.h"
#include "numerics.h"
}
#include "check_program.cuh"
#include "device_buffers.cuh"
#include "kernel_check_common.cuh"

static const enum llmk_gemv_products settings[] = {LLMK_PRODUCTS_CUDA_CORES, LLMK_PRODUCTS_TENSOR_F16,
						    LLMK_PRODUCTS_TENSOR};

static const char *products_name(enum llmk_gemv_products p)
{
	return p == LLMK_PRODUCTS_CUDA_CORES ? "cuda-cores" : p == LLMK_PRODUCTS_TENSOR_F16 ? "tensor-f16" : "tensor";
}

static const char *weight_name(enum llmk_dtype d) { return d == LLMK_E4M3 ? "FP8" : "INT8"; }

/* One matrix and LLMK_GEMV_MAX_TOKENS tokens of quantized input, random, on the device
 * and copied to the host for the references. */
struct gemv_case {
	enum llmk_dtype dtype;
	int rows, cols;
	uint8_t *w, *xq;
	float *ws, *xs, *y;
	std::vector<float> hw, hq; /* the values (exact in float) */
	std::vector<float> hws, hxs;
};

static float host_value(enum llmk_dtype dtype, uint8_t v)
{
	return dtype == LLMK_I8 ? (float)(int8_t)v : numerics_e4m3_to_float(v);
}

static void case_make(struct gemv_case *c, enum llmk_dtype dtype, int rows, int cols)
{
	const int tokens = LLMK_GEMV_MAX_TOKENS;
	c->dtype = dtype; c->rows = rows; c->cols = cols;
	c->w = (uint8_t *)device_bytes((size_t)rows * cols, 0);
	c->xq = (uint8_t *)device_bytes((size_t)tokens * cols, 0);
	llmk_fill_random(c->w, (size_t)rows * cols, dtype, (uint32_t)(uniform() * 1e9), 1.0f, 0);
	llmk_fill_random(c->xq, (size_t)tokens * cols, dtype, (uint32_t)(uniform() * 1e9), 1.0f, 0);
	c->ws = random_floats(rows, 0.001f, 0.01f);
	c->xs = random_floats(tokens, 0.01f, 0.02f);
	c->y = (float *)device_bytes((size_t)tokens * rows * 4, 0xff);
	std::vector<uint8_t> bytes_w((size_t)rows * cols), bytes_q((size_t)tokens * cols);
	CUDA(cudaMemcpy(bytes_w.data(), c->w, bytes_w.size(), cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(bytes_q.data(), c->xq, bytes_q.size(), cudaMemcpyDeviceToHost));
	for (uint8_t b : bytes_w) c->hw.push_back(host_value(dtype, b));
	for (uint8_t b : bytes_q) c->hq.push_back(host_value(dtype, b));
	c->hws.resize(rows); c->hxs.resize(tokens);
	CUDA(cudaMemcpy(c->hws.data(), c->ws, rows * 4, cudaMemcpyDeviceToHost));
	CUDA(cudaMemcpy(c->hxs.data(), c->xs, tokens * 4, cudaMemcpyDeviceToHost));
}

/* Row r of token t in float64, scaled. */
static double reference(const struct gemv_case *c, int t, int r)
{
	const float *w = c->hw.data() + (size_t)r * c->cols, *x = c->hq.data() + (size_t)t * c->cols;
	double acc = 0;
	for (int i = 0; i < c->cols; i++)
		acc += (double)w[i] * x[i];
	return acc * c->hxs[t] * c->hws[r];
}

static struct llmk_gemv_matrix case_matrix(const struct gemv_case *c, float *y)
{
	return {c->w, c->ws, c->rows, c->rows, y};
}

/* Tokens first.. (tokens of them) of the case, with products. */
static struct llmk_gemv_input case_input(const struct gemv_case *c, int first, int tokens, enum llmk_gemv_products p)
{
	return {c->dtype, c->cols, NULL, c->xq + (size_t)first * c->cols, c->xs + first, tokens, p};
}

/* The launch's outputs of tokens tokens (poisoned before it), copied back. */
static std::vector<float> run_gemv(const struct gemv_case *c, int first, int tokens, enum llmk_gemv_products p,
				   cudaError_t *status)
{
	std::vector<float> out((size_t)tokens * c->rows);
	CUDA(cudaMemset(c->y, 0xff, out.size() * 4));
	const struct llmk_gemv_matrix m = case_matrix(c, c->y);
	const struct llmk_gemv_input in = case_input(c, first, tokens, p);
	*status = llmk_gemv(&m, &in, -1, 0);
	if (*status == cudaSuccess) *status = cudaDeviceSynchronize();
	CUDA(cudaMemcpy(out.data(), c->y, out.size() * 4, cudaMemcpyDeviceToHost));
	return out;
}

static double error_bound(enum llmk_dtype dtype, enum llmk_gemv_products p)
{
	if (dtype == LLMK_I8) return 1e-6;
	return p == LLMK_PRODUCTS_TENSOR ? 1e-4 : 1e-5;
}

/* Every token count against float64, then each token of 9 against itself alone (and
 * INT8's tensor-core bits against the dp4a kernel's). */
static void check_products(enum llmk_dtype dtype, enum llmk_gemv_products p, int rows, int cols)
{
	struct gemv_case c;
	case_make(&c, dtype, rows, cols);
	char what[240];
	for (int tokens : {1, 2, 5, 8, 9}) {
		cudaError_t status;
		std::vector<float> got = run_gemv(&c, 0, tokens, p, &status);
		double num = 0, den = 0;
		bool written = status == cudaSuccess;
		for (int t = 0; t < tokens; t++)
			for (int r = 0; r < rows; r++) {
				double want = reference(&c, t, r), v = got[(size_t)t * rows + r];
				written = written && isfinite(v);
				num += (v - want) * (v - want); den += want * want;
			}
		double err = sqrt(num / den);
		snprintf(what, sizeof what, "%s %s %dx%d, %d tokens: every output written, relative error %.2e < %.0e",
			 weight_name(dtype), products_name(p), rows, cols, tokens, err, error_bound(dtype, p));
		check(written && err < error_bound(dtype, p), what);
	}
	cudaError_t status;
	std::vector<float> all = run_gemv(&c, 0, LLMK_GEMV_MAX_TOKENS, p, &status);
	size_t differ = status != cudaSuccess;
	for (int t = 0; t < LLMK_GEMV_MAX_TOKENS; t++) {
		std::vector<float> alone = run_gemv(&c, t, 1, p, &status);
		differ += status != cudaSuccess || memcmp(alone.data(), all.data() + (size_t)t * rows, rows * 4u) != 0;
	}
	snprintf(what, sizeof what, "%s %s %dx%d: each of 9 tokens the bits of its one-token launch (%zu differ)",
		 weight_name(dtype), products_name(p), rows, cols, differ);
	check(differ == 0, what);
	if (dtype == LLMK_I8 && p != LLMK_PRODUCTS_CUDA_CORES) {
		std::vector<float> dp4a = run_gemv(&c, 0, 1, LLMK_PRODUCTS_CUDA_CORES, &status);
		std::vector<float> mma = run_gemv(&c, 0, 1, p, &status);
		snprintf(what, sizeof what, "INT8 %dx%d: one token on the tensor cores the bits of the dp4a kernel", rows, cols);
		check(status == cudaSuccess && memcmp(dp4a.data(), mma.data(), rows * 4u) == 0, what);
	}
	free_all();
}

/* llmk_gemv_multi (q/k/v) and llmk_gemv_swiglu (gate/up) of 9 tokens: each token's
 * outputs the bits of its one-token launch, and the multi's the bits of llmk_gemv's. */
static void check_fused(enum llmk_dtype dtype, enum llmk_gemv_products p, int hidden, int q_rows, int kv_rows,
			int ff_rows)
{
	struct gemv_case q, k, v, gate, up;
	case_make(&q, dtype, q_rows, hidden);
	case_make(&k, dtype, kv_rows, hidden);
	case_make(&v, dtype, kv_rows, hidden);
	case_make(&gate, dtype, ff_rows, hidden);
	case_make(&up, dtype, ff_rows, hidden);
	const int tokens = LLMK_GEMV_MAX_TOKENS;
	float *ff = (float *)device_bytes((size_t)tokens * ff_rows * 4, 0xff);
	/* every case reads q's input */
	auto multi = [&](int first, int count) {
		struct gemv_case *cs[3] = {&q, &k, &v};
		struct llmk_gemv_matrix m[3];
		for (int i = 0; i < 3; i++) {
			m[i] = case_matrix(cs[i], cs[i]->y);
			CUDA(cudaMemset(cs[i]->y, 0xff, (size_t)tokens * cs[i]->rows * 4));
		}
		const struct llmk_gemv_input in = case_input(&q, first, count, p);
		CUDA(llmk_gemv_multi(m, 3, &in, 0));
		CUDA(cudaDeviceSynchronize());
		std::vector<float> out;
		for (int i = 0; i < 3; i++) {
			std::vector<float> part((size_t)count * cs[i]->rows);
			CUDA(cudaMemcpy(part.data(), cs[i]->y, part.size() * 4, cudaMemcpyDeviceToHost));
			out.insert(out.end(), part.begin(), part.end());
		}
		return out;
	};
	auto swiglu = [&](int first, int count) {
		CUDA(cudaMemset(ff, 0xff, (size_t)tokens * ff_rows * 4));
		const struct llmk_gemv_matrix g = case_matrix(&gate, NULL), u = case_matrix(&up, NULL);
		const struct llmk_gemv_input in = case_input(&q, first, count, p);
		CUDA(llmk_gemv_swiglu(&g, &u, &in, ff, NULL, 0));
		std::vector<float> out((size_t)count * ff_rows);
		CUDA(cudaMemcpy(out.data(), ff, out.size() * 4, cudaMemcpyDeviceToHost));
		return out;
	};
	std::vector<float> all_qkv = multi(0, tokens), all_ff = swiglu(0, tokens);
	size_t qkv_differ = 0, ff_differ = 0, unwritten = 0;
	for (float f : all_qkv) unwritten += !isfinite(f);
	for (float f : all_ff) unwritten += !isfinite(f);
	for (int t = 0; t < tokens; t++) {
		std::vector<float> one = multi(t, 1), one_ff = swiglu(t, 1);
		/* all_qkv is q's 9 tokens, then k's, then v's */
		size_t offsets[3] = {0, (size_t)tokens * q_rows, (size_t)tokens * (q_rows + kv_rows)};
		int rows[3] = {q_rows, kv_rows, kv_rows};
		size_t at = 0;
		for (int i = 0; i < 3; i++) {
			qkv_differ += memcmp(one.data() + at, all_qkv.data() + offsets[i] + (size_t)t * rows[i], rows[i] * 4u) != 0;
			at += rows[i];
		}
		ff_differ += memcmp(one_ff.data(), all_ff.data() + (size_t)t * ff_rows, ff_rows * 4u) != 0;
	}
	/* q's rows from the multi launch are llmk_gemv's */
	cudaError_t status;
	std::vector<float> q_alone = run_gemv(&q, 0, tokens, p, &status);
	char what[240];
	snprintf(what, sizeof what, "%s %s q/k/v %d/%d and gate/up %d of %d: 9 tokens every output written (%zu not)",
		 weight_name(dtype), products_name(p), q_rows, kv_rows, ff_rows, hidden, unwritten);
	check(unwritten == 0, what);
	snprintf(what, sizeof what, "%s %s: llmk_gemv_multi's q rows the bits of llmk_gemv's", weight_name(dtype),
		 products_name(p));
	check(status == cudaSuccess && memcmp(q_alone.data(), all_qkv.data(), q_alone.size() * 4) == 0, what);
	snprintf(what, sizeof what, "%s %s: q/k/v, each of 9 tokens the bits of its one-token launch (%zu differ)",
		 weight_name(dtype), products_name(p), qkv_differ);
	check(qkv_differ == 0, what);
	snprintf(what, sizeof what, "%s %s: gate/up + SwiGLU, each of 9 tokens the bits of its one-token launch (%zu differ)",
		 weight_name(dtype), products_name(p), ff_differ);
	check(ff_differ == 0, what);
	free_all();
}

static void check_refusals(void)
{
	struct gemv_case c;
	case_make(&c, LLMK_E4M3, 64, 256);
	const struct llmk_gemv_matrix m = case_matrix(&c, c.y);
	struct llmk_gemv_input in = case_input(&c, 0, 1, (enum llmk_gemv_products)7);
	check(llmk_gemv(&m, &in, -1, 0) == cudaErrorInvalidValue, "products outside the enum: cudaErrorInvalidValue");
	in.products = LLMK_PRODUCTS_TENSOR_F16;
	check(llmk_gemv(&m, &in, 0, 0) == cudaErrorInvalidValue,
	      "tensor products with the warp-per-row kernel: cudaErrorInvalidValue");
	free_all();
}

/* Microseconds a launch of tokens tokens, inside a CUDA graph, copies rotated past L2. */
static double time_launch(enum llmk_dtype dtype, enum llmk_gemv_products p, int rows, int cols, int tokens)
{
	size_t wbytes = (size_t)rows * cols;
	int copies = weight_copies(wbytes), launches = std::max(20, copies);
	std::vector<void *> w(copies);
	for (int i = 0; i < copies; i++) {
		w[i] = device_bytes(wbytes, 0);
		llmk_fill_random(w[i], wbytes, dtype, i, 1.0f, 0);
	}
	uint8_t *xq = (uint8_t *)device_bytes((size_t)LLMK_GEMV_MAX_TOKENS * cols, 0);
	llmk_fill_random(xq, (size_t)LLMK_GEMV_MAX_TOKENS * cols, dtype, 99, 1.0f, 0);
	float *ws = random_floats(rows, 0.001f, 0.01f), *xs = random_floats(LLMK_GEMV_MAX_TOKENS, 0.01f, 0.02f);
	float *y = (float *)device_bytes((size_t)LLMK_GEMV_MAX_TOKENS * rows * 4, 0);
	double us = graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
		const struct llmk_gemv_matrix m = {w[i % copies], ws, rows, rows, y};
		const struct llmk_gemv_input in = {dtype, cols, NULL, xq, xs, tokens, p};
		return llmk_gemv(&m, &in, -1, s);
	});
	free_all();
	return us;
}

static void time_shapes(double copy_gbs)
{
	struct { int rows, cols; const char *name; } shapes[] = {
		{4096, 4096, "8B q/o_proj"}, {6144, 4096, "8B q/k/v"}, {14336, 4096, "8B gate/up"}, {4096, 14336, "8B down"},
		{8192, 8192, "70B q/o_proj"}, {10240, 8192, "70B q/k/v"}, {28672, 8192, "70B gate/up"},
		{8192, 28672, "70B down"},
	};
	printf("# one GEMV launch in a CUDA graph: 1 token in us (%% of the copy bandwidth, weights only), then 9\n"
	       "# tokens as a multiple of the same setting's 1 token\n");
	for (enum llmk_dtype dtype : {LLMK_E4M3, LLMK_I8})
		for (auto &s : shapes) {
			printf("  %-4s %-13s %5dx%-5d", weight_name(dtype), s.name, s.rows, s.cols);
			bool ok = true;
			for (enum llmk_gemv_products p : settings) {
				if (dtype == LLMK_I8 && p == LLMK_PRODUCTS_TENSOR) continue; /* INT8: one tensor path */
				double one = time_launch(dtype, p, s.rows, s.cols, 1);
				double nine = time_launch(dtype, p, s.rows, s.cols, LLMK_GEMV_MAX_TOKENS);
				double gbs = (double)s.rows * s.cols / (one * 1e-6) / 1e9;
				ok = ok && one > 0 && nine > 0;
				printf(" | %s %6.1fus %3.0f%% x%.2f", products_name(p), one, 100 * gbs / copy_gbs, nine / one);
			}
			printf("\n");
			char what[160];
			snprintf(what, sizeof what, "%s %s timed in a graph without a CUDA error", weight_name(dtype), s.name);
			check(ok && cudaGetLastError() == cudaSuccess, what);
		}
}

/* Microseconds a fused gate/up + SwiGLU launch of one token (llmk_gemv_swiglu, float
 * output only, as INT8's decode step runs it), inside a CUDA graph, copies rotated past L2. */
static double time_swiglu_launch(enum llmk_dtype dtype, enum llmk_gemv_products p, int rows, int cols)
{
	size_t wbytes = (size_t)rows * cols;
	int copies = weight_copies(2 * wbytes), launches = std::max(20, copies);
	std::vector<void *> gate(copies), up(copies);
	for (int i = 0; i < copies; i++) {
		gate[i] = device_bytes(wbytes, 0);
		up[i] = device_bytes(wbytes, 0);
		llmk_fill_random(gate[i], wbytes, dtype, 2 * i, 1.0f, 0);
		llmk_fill_random(up[i], wbytes, dtype, 2 * i + 1, 1.0f, 0);
	}
	uint8_t *xq = (uint8_t *)device_bytes(cols, 0);
	llmk_fill_random(xq, cols, dtype, 99, 1.0f, 0);
	float *ws = random_floats(rows, 0.001f, 0.01f), *xs = random_floats(1, 0.01f, 0.02f);
	float *y = (float *)device_bytes((size_t)rows * 4, 0);
	double us = graph_us_per_launch(launches, [&](int i, cudaStream_t s) {
		const struct llmk_gemv_matrix g = {gate[i % copies], ws, rows, rows, NULL};
		const struct llmk_gemv_matrix u = {up[i % copies], ws, rows, rows, NULL};
		const struct llmk_gemv_input in = {dtype, cols, NULL, xq, xs, 1, p};
		return llmk_gemv_swiglu(&g, &u, &in, y, NULL, s);
	});
	free_all();
	return us;
}

/* The fused gate/up + SwiGLU of the 8B and 70B shapes, one token, the CUDA cores' products
 * (the decode step's), FP8 and INT8 side by side: how each streams against a plain GEMV. */
static void time_swiglu_shapes(double copy_gbs)
{
	struct { int rows, cols; const char *name; } shapes[] = {{14336, 4096, "8B"}, {28672, 8192, "70B"}};
	printf("# one fused gate/up + SwiGLU launch (llmk_gemv_swiglu) in a CUDA graph, 1 token, CUDA cores\n");
	for (auto &s : shapes)
		for (enum llmk_dtype dtype : {LLMK_E4M3, LLMK_I8}) {
			double us = time_swiglu_launch(dtype, LLMK_PRODUCTS_CUDA_CORES, s.rows, s.cols);
			double gbs = 2.0 * s.rows * s.cols / (us * 1e-6) / 1e9;
			printf("  %-4s %-3s gate/up + SwiGLU 2x%dx%d %6.1fus %3.0f%%\n", weight_name(dtype), s.name, s.rows,
			       s.cols, us, 100 * gbs / copy_gbs);
			char what[160];
			snprintf(what, sizeof what, "%s %s gate/up + SwiGLU timed in a graph without a CUDA error",
				 weight_name(dtype), s.name);
			check(us > 0 && cudaGetLastError() == cudaSuccess, what);
		}
}

int main(int argc, char **argv)
{
	/* "times" or "swiglu-times" first: the timings only, or the SwiGLU's only (for builds
	 * of the kernels with other settings) */
	const bool swiglu_only = argc > 1 && strcmp(argv[1], "swiglu-times") == 0;
	const bool times_only = swiglu_only || (argc > 1 && strcmp(argv[1], "times") == 0);
	if (!check_program_start(argc - times_only, argv + times_only, "gemv_mma_checks")) return 1;
	print_device_caches();
	if (times_only) {
		const double copy_gbs = measured_copy_bandwidth();
		if (!swiglu_only)
			time_shapes(copy_gbs);
		time_swiglu_shapes(copy_gbs);
		printf("%d passed, %d failed\n", passed, failed);
		return failed ? 1 : 0;
	}
	for (enum llmk_dtype dtype : {LLMK_E4M3, LLMK_I8})
		for (enum llmk_gemv_products p : settings) {
			check_products(dtype, p, 1000, 4112); /* 62.5 blocks of 16 rows; 257 chunks a row */
			check_products(dtype, p, 24, 208);    /* 13 chunks: less than a warp step */
			check_products(dtype, p, 4096, 4096);
			check_fused(dtype, p, 4096, 4096, 1024, 14336);
			check_fused(dtype, p, 528, 40, 8, 200);
		}
	check_refusals();
	const double copy_gbs = measured_copy_bandwidth();
	time_shapes(copy_gbs);
	time_swiglu_shapes(copy_gbs);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
