/*
 * gemm_cublaslt.cu - cuBLASLt FP8 / INT8 / BF16 GEMMs for prefill (see gemm_cublaslt.h).
 *
 * Column-major view (cuBLASLt's): W row-major [rows][cols] is W^T column-major with
 * ld = cols, so A = W with op T gives [rows x cols]; x row-major [count][cols] is
 * column-major [cols x count] with op N; D column-major [rows x count], ld = rows,
 * is y row-major [count][rows].  That is the "TN" form 8-bit cuBLASLt requires.
 */
#include "gemm_cublaslt.h"
#include "llm_kernels.h"

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>
#include <cublasLt.h>
#include <cuda_bf16.h>

#define WORKSPACE_BYTES (32u << 20)
#define KEPT_PRODUCTS 64 /* shapes kept (7 a layer, times the token counts seen) */

/* One shape of TN product: its descriptors and the algorithm cuBLASLt's heuristic picked
 * for it, made at the shape's first product and kept.  Making them costs host time at
 * every product otherwise (the heuristic most), which a short prompt's prefill, 7
 * products a layer of a few microseconds of GPU time each, would pay 7 times a layer.
 * The heuristic sees the descriptors and layouts, never the pointers, so a shape's
 * algorithm is the one it would pick again: the same bits. */
struct kept_product {
	cudaDataType_t in_type, out_type;
	int rows, cols, count; /* rows 0: an empty entry */
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t a, b, d;
	cublasLtMatmulAlgo_t algo;
};

struct llmk_gemm {
	cublasLtHandle_t handle;
	void *workspace;
	struct kept_product products[KEPT_PRODUCTS];
	int kept; /* entries made so far */
	int next; /* the entry a new shape replaces once all are made */
};

/* Destroys k's descriptors and empties it. */
static void release_product(struct kept_product *k)
{
	if (k->d) cublasLtMatrixLayoutDestroy(k->d);
	if (k->b) cublasLtMatrixLayoutDestroy(k->b);
	if (k->a) cublasLtMatrixLayoutDestroy(k->a);
	if (k->desc) cublasLtMatmulDescDestroy(k->desc);
	*k = {};
}

extern "C" int llmk_gemm_create(struct llmk_gemm **out, char *err, size_t err_size)
{
	struct llmk_gemm *g = (struct llmk_gemm *)calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	cublasStatus_t status = cublasLtCreate(&g->handle);
	if (status != CUBLAS_STATUS_SUCCESS) {
		snprintf(err, err_size, "cublasLtCreate: %s", cublasLtGetStatusString(status));
		free(g);
		return -1;
	}
	cudaError_t cs = cudaMalloc(&g->workspace, WORKSPACE_BYTES);
	if (cs != cudaSuccess) {
		snprintf(err, err_size, "cuBLASLt workspace: %s", cudaGetErrorString(cs));
		cublasLtDestroy(g->handle);
		free(g);
		return -1;
	}
	*out = g;
	return 0;
}

extern "C" void llmk_gemm_free(struct llmk_gemm *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->kept; i++)
		release_product(&g->products[i]);
	cudaFree(g->workspace);
	cublasLtDestroy(g->handle);
	free(g);
}

#define LT_TRY(call)                                                                              \
	do {                                                                                      \
		cublasStatus_t s_ = (call);                                                       \
		if (s_ != CUBLAS_STATUS_SUCCESS) {                                                \
			snprintf(err, err_size, "cuBLASLt: %s: %s", #call, cublasLtGetStatusString(s_)); \
			return -1;                                                                \
		}                                                                                 \
	} while (0)

/* FP8's per-tensor scales, on the device: set on the descriptor before each product. */
static int set_scales(const struct kept_product *k, const float *a_scale, const float *b_scale, char *err,
		      size_t err_size)
{
	LT_TRY(cublasLtMatmulDescSetAttribute(k->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof a_scale));
	LT_TRY(cublasLtMatmulDescSetAttribute(k->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof b_scale));
	return 0;
}

/* k's descriptors for its shape (int32 sums for INT8 inputs, float32 for the others;
 * FP8's scales set first, as for every product) and the heuristic's first algorithm.
 * Returns 0, 1 when cuBLASLt has none, -1 on an error; k is left for the caller to
 * release on failure. */
static int make_product(struct llmk_gemm *g, struct kept_product *k, const float *a_scale, const float *b_scale,
			char *err, size_t err_size)
{
	const bool integer = k->in_type == CUDA_R_8I;
	LT_TRY(cublasLtMatmulDescCreate(&k->desc, integer ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F,
					integer ? CUDA_R_32I : CUDA_R_32F));
	cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
	LT_TRY(cublasLtMatmulDescSetAttribute(k->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa));
	LT_TRY(cublasLtMatmulDescSetAttribute(k->desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb));
	if (a_scale && set_scales(k, a_scale, b_scale, err, err_size) != 0)
		return -1;
	LT_TRY(cublasLtMatrixLayoutCreate(&k->a, k->in_type, k->cols, k->rows, k->cols));
	LT_TRY(cublasLtMatrixLayoutCreate(&k->b, k->in_type, k->cols, k->count, k->cols));
	LT_TRY(cublasLtMatrixLayoutCreate(&k->d, k->out_type, k->rows, k->count, k->rows));
	cublasLtMatmulPreference_t preference;
	LT_TRY(cublasLtMatmulPreferenceCreate(&preference));
	size_t workspace = WORKSPACE_BYTES;
	cublasLtMatmulHeuristicResult_t result;
	int found = 0;
	cublasStatus_t status = cublasLtMatmulPreferenceSetAttribute(
		preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof workspace);
	if (status == CUBLAS_STATUS_SUCCESS)
		status = cublasLtMatmulAlgoGetHeuristic(g->handle, k->desc, k->a, k->b, k->d, k->d, preference, 1,
							&result, &found);
	cublasLtMatmulPreferenceDestroy(preference);
	if (status != CUBLAS_STATUS_SUCCESS || found == 0)
		return 1;
	k->algo = result.algo;
	return 0;
}

/* The kept product of a shape in *out, made at the shape's first use (replacing the
 * entries in turn once all are made).  Returns 0, or make_product's 1 or -1 (nothing
 * kept then). */
static int product_for(struct llmk_gemm *g, cudaDataType_t in_type, cudaDataType_t out_type, int rows, int cols,
		       int count, const float *a_scale, const float *b_scale, struct kept_product **out, char *err,
		       size_t err_size)
{
	for (int i = 0; i < g->kept; i++) {
		struct kept_product *k = &g->products[i];
		if (k->rows == rows && k->cols == cols && k->count == count && k->in_type == in_type &&
		    k->out_type == out_type) {
			*out = k;
			return 0;
		}
	}
	const int i = g->kept < KEPT_PRODUCTS ? g->kept : g->next;
	struct kept_product *k = &g->products[i];
	release_product(k);
	k->in_type = in_type;
	k->out_type = out_type;
	k->rows = rows;
	k->cols = cols;
	k->count = count;
	int rc = make_product(g, k, a_scale, b_scale, err, err_size);
	if (rc != 0) {
		release_product(k);
		return rc;
	}
	if (g->kept < KEPT_PRODUCTS)
		g->kept++;
	else
		g->next = (i + 1) % KEPT_PRODUCTS;
	*out = k;
	return 0;
}

/* D = alpha op(A) B + beta D with k's descriptors and algorithm. */
static int run_product(struct llmk_gemm *g, const struct kept_product *k, const void *alpha, const void *beta,
		       const void *weight, const void *x, void *y, cudaStream_t stream, char *err, size_t err_size)
{
	LT_TRY(cublasLtMatmul(g->handle, k->desc, alpha, weight, k->a, x, k->b, beta, y, k->d, y, k->d, &k->algo,
			      g->workspace, WORKSPACE_BYTES, stream));
	return 0;
}

extern "C" int llmk_gemm_fp8(struct llmk_gemm *g, const void *weight, int rows, int cols, const float *weight_scale,
			     const void *xq, const float *input_scale, int count, float *y, bool add_to_y,
			     cudaStream_t stream, char *err, size_t err_size)
{
	if (cols % 16)
		return 1;
	struct kept_product *k;
	int rc = product_for(g, CUDA_R_8F_E4M3, CUDA_R_32F, rows, cols, count, weight_scale, input_scale, &k, err,
			     err_size);
	if (rc != 0)
		return rc;
	if (set_scales(k, weight_scale, input_scale, err, err_size) != 0)
		return -1;
	const float alpha = 1, beta = add_to_y ? 1 : 0;
	return run_product(g, k, &alpha, &beta, weight, xq, y, stream, err, err_size);
}

/* y = acc * x_scales[t] * weight_scale[row or 0], or y += that with add_to_y (the add
 * rounded on its own: no fused multiply-add). */
__global__ static void dequantize_int32_kernel(const int32_t *acc, int rows, int count, const float *x_scales,
					       const float *weight_scale, int weight_scale_count, float *y,
					       bool add_to_y)
{
	size_t n = (size_t)rows * count;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		int t = (int)(i / rows), r = (int)(i % rows);
		const float v = __fmul_rn(__fmul_rn((float)acc[i], x_scales[t]),
					  weight_scale[weight_scale_count == 1 ? 0 : r]);
		y[i] = add_to_y ? __fadd_rn(y[i], v) : v;
	}
}

extern "C" int llmk_gemm_int8(struct llmk_gemm *g, const void *weight, int rows, int cols, const float *weight_scale,
			      int weight_scale_count, const void *xq, const float *x_scales, int count, int32_t *acc,
			      float *y, bool add_to_y, cudaStream_t stream, char *err, size_t err_size)
{
	if (cols % 16 || rows % 4)
		return 1;
	struct kept_product *k;
	int rc = product_for(g, CUDA_R_8I, CUDA_R_32I, rows, cols, count, NULL, NULL, &k, err, err_size);
	if (rc != 0)
		return rc;
	const int32_t alpha = 1, beta = 0;
	if (run_product(g, k, &alpha, &beta, weight, xq, acc, stream, err, err_size) != 0)
		return -1;
	size_t n = (size_t)rows * count;
	unsigned blocks = (unsigned)((n + 255) / 256 < 8192 ? (n + 255) / 256 : 8192);
	dequantize_int32_kernel<<<blocks, 256, 0, stream>>>(acc, rows, count, x_scales, weight_scale,
							    weight_scale_count, y, add_to_y);
	cudaError_t cs = cudaGetLastError();
	if (cs != cudaSuccess) {
		snprintf(err, err_size, "dequantize_int32_kernel: %s", cudaGetErrorString(cs));
		return -1;
	}
	return 0;
}

/* hi[i] = bf16(x[i]), lo[i] = bf16(x[i] - hi[i]): x to about 16 bits in two BF16 parts. */
__global__ static void split_bf16_kernel(const float *x, size_t n, __nv_bfloat16 *hi, __nv_bfloat16 *lo)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		float v = x[i];
		__nv_bfloat16 h = __float2bfloat16_rn(v);
		hi[i] = h;
		lo[i] = __float2bfloat16_rn(v - __bfloat162float(h));
	}
}

/* y = x . W^T + beta * y, BF16 x and W, float32 accumulation and y. */
static int bf16_product(struct llmk_gemm *g, const void *weight, int rows, int cols, const void *x, int count,
			float beta, float *y, cudaStream_t stream, char *err, size_t err_size)
{
	struct kept_product *k;
	int rc = product_for(g, CUDA_R_16BF, CUDA_R_32F, rows, cols, count, NULL, NULL, &k, err, err_size);
	if (rc != 0)
		return rc;
	const float alpha = 1;
	return run_product(g, k, &alpha, &beta, weight, x, y, stream, err, err_size);
}

extern "C" int llmk_gemm_bf16(struct llmk_gemm *g, const void *weight, int rows, int cols, const float *x, int count,
			      void *split, float *y, cudaStream_t stream, char *err, size_t err_size)
{
	if (cols % 8 || (uintptr_t)weight % 16 || (uintptr_t)split % 16)
		return 1;
	const size_t n = (size_t)count * cols;
	__nv_bfloat16 *hi = (__nv_bfloat16 *)split, *lo = hi + n;
	unsigned blocks = (unsigned)((n + 255) / 256 < 8192 ? (n + 255) / 256 : 8192);
	split_bf16_kernel<<<blocks, 256, 0, stream>>>(x, n, hi, lo);
	cudaError_t cs = cudaGetLastError();
	if (cs != cudaSuccess) {
		snprintf(err, err_size, "split_bf16_kernel: %s", cudaGetErrorString(cs));
		return -1;
	}
	int rc = bf16_product(g, weight, rows, cols, hi, count, 0, y, stream, err, err_size);
	if (rc != 0)
		return rc;
	rc = bf16_product(g, weight, rows, cols, lo, count, 1, y, stream, err, err_size);
	if (rc == 1) /* the first product is in y already: a half-made y is an error, not a fallback */
		snprintf(err, err_size, "cuBLASLt: no BF16 algorithm for the second part of a %dx%d product", rows, cols);
	return rc == 0 ? 0 : -1;
}

/* Median milliseconds of reps runs of fn, timed with events after two warm-ups. */
template <typename Fn>
static float median_ms(int reps, Fn fn)
{
	cudaEvent_t start, stop;
	cudaEventCreate(&start);
	cudaEventCreate(&stop);
	std::vector<float> times;
	for (int i = 0; i < reps + 2; i++) {
		cudaEventRecord(start);
		fn();
		cudaEventRecord(stop);
		cudaEventSynchronize(stop);
		float ms = 0;
		cudaEventElapsedTime(&ms, start, stop);
		if (i >= 2)
			times.push_back(ms);
	}
	cudaEventDestroy(start);
	cudaEventDestroy(stop);
	std::sort(times.begin(), times.end());
	return times[times.size() / 2];
}

extern "C" int llmk_measure_ceilings(struct llmk_gemm *g, double *copy_gbs, double *fp8_tflops, double *int8_tops,
				     double *bf16_tflops, char *err, size_t err_size)
{
	const size_t copy_bytes = (size_t)1 << 30, n = 8192;
	void *a = nullptr, *b = nullptr;
	float *y = nullptr, *scale = nullptr;
	int32_t *acc = nullptr;
	int rc = -1;
	if (cudaMalloc(&a, copy_bytes) != cudaSuccess || cudaMalloc(&b, copy_bytes) != cudaSuccess ||
	    cudaMalloc(&y, n * n * sizeof(float)) != cudaSuccess || cudaMalloc(&acc, n * n * sizeof(int32_t)) != cudaSuccess ||
	    cudaMalloc(&scale, n * sizeof(float)) != cudaSuccess) {
		snprintf(err, err_size, "measuring the ceilings: out of GPU memory");
		goto done;
	}
	/* random e4m3 codes, also valid int8 values: never time on zeros */
	llmk_fill_random(a, copy_bytes, LLMK_E4M3, 1, 0, 0);
	{
		std::vector<float> ones(n, 1.0f);
		cudaMemcpy(scale, ones.data(), n * sizeof(float), cudaMemcpyHostToDevice);
		float ms = median_ms(8, [&] { cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice); });
		*copy_gbs = 2.0 * copy_bytes / (ms * 1e-3) / 1e9;
		/* 8192 x 8192 operands live inside the copy buffers (64 MiB each) */
		int status = 0;
		ms = median_ms(10, [&] {
			status |= llmk_gemm_fp8(g, a, (int)n, (int)n, scale, b, scale, (int)n, y, false, 0, err, err_size);
		});
		*fp8_tflops = status ? 0 : 2.0 * n * n * n / (ms * 1e-3) / 1e12;
		status = 0;
		ms = median_ms(10, [&] {
			status |= llmk_gemm_int8(g, a, (int)n, (int)n, scale, 1, b, scale, (int)n, acc, y, false, 0, err, err_size);
		});
		*int8_tops = status ? 0 : 2.0 * n * n * n / (ms * 1e-3) / 1e12;
		/* BF16: one product of 8192 x 8192 BF16 operands (128 MiB each, in the copy
		 * buffers), random values in [-1, 1] */
		llmk_fill_random(a, n * n, LLMK_BF16, 2, 1.0f, 0);
		llmk_fill_random(b, n * n, LLMK_BF16, 3, 1.0f, 0);
		status = 0;
		ms = median_ms(10, [&] {
			status |= bf16_product(g, a, (int)n, (int)n, b, (int)n, 0, y, 0, err, err_size);
		});
		*bf16_tflops = status ? 0 : 2.0 * n * n * n / (ms * 1e-3) / 1e12;
	}
	rc = cudaGetLastError() == cudaSuccess ? 0 : -1;
	if (rc)
		snprintf(err, err_size, "measuring the ceilings: %s", cudaGetErrorString(cudaGetLastError()));
done:
	cudaFree(a);
	cudaFree(b);
	cudaFree(y);
	cudaFree(acc);
	cudaFree(scale);
	return rc;
}
