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
#define ALGO_CACHE 64 /* shapes whose algorithm is kept (7 a layer, times the token counts seen) */

/* The algorithm cuBLASLt's heuristic picked for one shape of product.  The heuristic
 * costs host time at every call, which a short prompt's prefill (7 products a layer,
 * each a few microseconds of GPU time) would pay 7 times a layer; it sees the
 * descriptors and layouts, never the pointers, so its answer for a shape serves every
 * later product of that shape: the same algorithm, the same bits. */
struct algo_entry {
	cudaDataType_t in_type, out_type;
	int rows, cols, count;
	cublasLtMatmulAlgo_t algo;
};

struct llmk_gemm {
	cublasLtHandle_t handle;
	void *workspace;
	struct algo_entry algos[ALGO_CACHE];
	int algo_count; /* entries in use */
	int algo_next;  /* the entry a new shape replaces once all are in use */
};

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
	cudaFree(g->workspace);
	cublasLtDestroy(g->handle);
	free(g);
}

/* Descriptors of one TN product, released together. */
struct tn_product {
	cublasLtMatmulDesc_t desc = nullptr;
	cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
	cublasLtMatmulPreference_t preference = nullptr;
	~tn_product()
	{
		if (preference) cublasLtMatmulPreferenceDestroy(preference);
		if (d) cublasLtMatrixLayoutDestroy(d);
		if (b) cublasLtMatrixLayoutDestroy(b);
		if (a) cublasLtMatrixLayoutDestroy(a);
		if (desc) cublasLtMatmulDescDestroy(desc);
	}
};

#define LT_TRY(call)                                                                              \
	do {                                                                                      \
		cublasStatus_t s_ = (call);                                                       \
		if (s_ != CUBLAS_STATUS_SUCCESS) {                                                \
			snprintf(err, err_size, "cuBLASLt: %s: %s", #call, cublasLtGetStatusString(s_)); \
			return -1;                                                                \
		}                                                                                 \
	} while (0)

/* The kept algorithm of a shape, or NULL. */
static const cublasLtMatmulAlgo_t *kept_algo(const struct llmk_gemm *g, cudaDataType_t in_type,
					     cudaDataType_t out_type, int rows, int cols, int count)
{
	for (int i = 0; i < g->algo_count; i++) {
		const struct algo_entry &e = g->algos[i];
		if (e.in_type == in_type && e.out_type == out_type && e.rows == rows && e.cols == cols && e.count == count)
			return &e.algo;
	}
	return nullptr;
}

/* Keeps a shape's algorithm, replacing the entries in turn once all are in use. */
static void keep_algo(struct llmk_gemm *g, cudaDataType_t in_type, cudaDataType_t out_type, int rows, int cols,
		      int count, const cublasLtMatmulAlgo_t &algo)
{
	int i = g->algo_count < ALGO_CACHE ? g->algo_count++ : g->algo_next;
	if (g->algo_count == ALGO_CACHE)
		g->algo_next = (i + 1) % ALGO_CACHE;
	g->algos[i] = {in_type, out_type, rows, cols, count, algo};
}

/* Builds the product and runs it with the shape's kept algorithm, or the heuristic's
 * first (then kept); returns 1 when no algorithm fits. */
static int run_tn(struct llmk_gemm *g, tn_product &p, cudaDataType_t in_type, cudaDataType_t out_type,
		  int rows, int cols, int count, const void *alpha, const void *beta, const void *weight,
		  const void *x, void *y, cudaStream_t stream, char *err, size_t err_size)
{
	cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
	LT_TRY(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa));
	LT_TRY(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb));
	LT_TRY(cublasLtMatrixLayoutCreate(&p.a, in_type, cols, rows, cols));
	LT_TRY(cublasLtMatrixLayoutCreate(&p.b, in_type, cols, count, cols));
	LT_TRY(cublasLtMatrixLayoutCreate(&p.d, out_type, rows, count, rows));
	const cublasLtMatmulAlgo_t *algo = kept_algo(g, in_type, out_type, rows, cols, count);
	if (!algo) {
		LT_TRY(cublasLtMatmulPreferenceCreate(&p.preference));
		size_t workspace = WORKSPACE_BYTES;
		LT_TRY(cublasLtMatmulPreferenceSetAttribute(p.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
							    &workspace, sizeof workspace));
		cublasLtMatmulHeuristicResult_t result;
		int found = 0;
		cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(g->handle, p.desc, p.a, p.b, p.d, p.d,
									p.preference, 1, &result, &found);
		if (status != CUBLAS_STATUS_SUCCESS || found == 0)
			return 1;
		keep_algo(g, in_type, out_type, rows, cols, count, result.algo);
		algo = kept_algo(g, in_type, out_type, rows, cols, count);
	}
	LT_TRY(cublasLtMatmul(g->handle, p.desc, alpha, weight, p.a, x, p.b, beta, y, p.d, y, p.d, algo, g->workspace,
			      WORKSPACE_BYTES, stream));
	return 0;
}

extern "C" int llmk_gemm_fp8(struct llmk_gemm *g, const void *weight, int rows, int cols, const float *weight_scale,
			     const void *xq, const float *input_scale, int count, float *y, cudaStream_t stream,
			     char *err, size_t err_size)
{
	if (cols % 16)
		return 1;
	tn_product p;
	LT_TRY(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	LT_TRY(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &weight_scale,
					      sizeof weight_scale));
	LT_TRY(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &input_scale,
					      sizeof input_scale));
	const float alpha = 1, beta = 0;
	return run_tn(g, p, CUDA_R_8F_E4M3, CUDA_R_32F, rows, cols, count, &alpha, &beta, weight, xq, y, stream, err,
		      err_size);
}

__global__ static void dequantize_int32_kernel(const int32_t *acc, int rows, int count, const float *x_scales,
					       const float *weight_scale, int weight_scale_count, float *y)
{
	size_t n = (size_t)rows * count;
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		int t = (int)(i / rows), r = (int)(i % rows);
		y[i] = (float)acc[i] * x_scales[t] * weight_scale[weight_scale_count == 1 ? 0 : r];
	}
}

extern "C" int llmk_gemm_int8(struct llmk_gemm *g, const void *weight, int rows, int cols, const float *weight_scale,
			      int weight_scale_count, const void *xq, const float *x_scales, int count, int32_t *acc,
			      float *y, cudaStream_t stream, char *err, size_t err_size)
{
	if (cols % 16 || rows % 4)
		return 1;
	tn_product p;
	LT_TRY(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32I, CUDA_R_32I));
	const int32_t alpha = 1, beta = 0;
	int rc = run_tn(g, p, CUDA_R_8I, CUDA_R_32I, rows, cols, count, &alpha, &beta, weight, xq, acc, stream, err,
			err_size);
	if (rc != 0)
		return rc;
	size_t n = (size_t)rows * count;
	unsigned blocks = (unsigned)((n + 255) / 256 < 8192 ? (n + 255) / 256 : 8192);
	dequantize_int32_kernel<<<blocks, 256, 0, stream>>>(acc, rows, count, x_scales, weight_scale,
							    weight_scale_count, y);
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
	const float alpha = 1;
	tn_product p;
	LT_TRY(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
	return run_tn(g, p, CUDA_R_16BF, CUDA_R_32F, rows, cols, count, &alpha, &beta, weight, x, y, stream, err,
		      err_size);
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
			status |= llmk_gemm_fp8(g, a, (int)n, (int)n, scale, b, scale, (int)n, y, 0, err, err_size);
		});
		*fp8_tflops = status ? 0 : 2.0 * n * n * n / (ms * 1e-3) / 1e12;
		status = 0;
		ms = median_ms(10, [&] {
			status |= llmk_gemm_int8(g, a, (int)n, (int)n, scale, 1, b, scale, (int)n, acc, y, 0, err, err_size);
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
