/*
 * gemm_cublaslt.h - prefill's matrix products through cuBLASLt (8-bit, and BF16).
 *
 * Many tokens at once (prefill) are bound by the matrix units, not by reading the
 * weights, so they go to cuBLASLt's FP8 and INT8 tensor-core kernels:
 *   FP8:  y = (xq . Wq^T) * input_scale * weight_scale, per-tensor scales passed as
 *         device pointers (A/B scale pointers), float32 accumulation and output;
 *   INT8: acc = xq . Wq^T in int32, then y = acc * token_scale * weight_scale[row]
 *         (gemm_cublaslt.cu's dequantize_int32_kernel), the CPU path's arithmetic exactly.
 * W is [rows][cols] row-major (as stored), x is [count][cols], y is [count][rows].
 * cuBLASLt wants the "TN" layout for 8-bit inputs and cols a multiple of 16.
 */
#ifndef LLMCHAT_GEMM_CUBLASLT_H
#define LLMCHAT_GEMM_CUBLASLT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

struct llmk_gemm;

/* A cuBLASLt handle and its workspace, and for the last 64 shapes of products run the
 * descriptors and the algorithm cuBLASLt's heuristic picked (made once a shape; the
 * heuristic sees no pointers, so a shape's algorithm is the one it would pick again).
 * One thread uses a handle at a time.  Returns 0, or -1 with a message. */
int llmk_gemm_create(struct llmk_gemm **out, char *err, size_t err_size);
void llmk_gemm_free(struct llmk_gemm *gemm);

/* y = xq . W^T * (*input_scale) * (*weight_scale), per-tensor scales on the device;
 * with add_to_y, y += that (cuBLASLt's beta = 1: the product and the add may round
 * once, as one fused multiply-add).  Returns 0 when enqueued, 1 when cuBLASLt has no
 * kernel for the case (the caller uses its own), -1 on an error (message in err). */
int llmk_gemm_fp8(struct llmk_gemm *gemm, const void *weight, int rows, int cols, const float *weight_scale,
		  const void *xq, const float *input_scale, int count, float *y, bool add_to_y, cudaStream_t stream,
		  char *err, size_t err_size);

/* acc = xq . W^T in int32 (acc holds count x rows), then y = acc * x_scales[t] *
 * weight_scale[row or 0]; with add_to_y, y += that, rounded as a separate float add of
 * the same y would round it.  Same return values as llmk_gemm_fp8. */
int llmk_gemm_int8(struct llmk_gemm *gemm, const void *weight, int rows, int cols, const float *weight_scale,
		   int weight_scale_count, const void *xq, const float *x_scales, int count, int32_t *acc,
		   float *y, bool add_to_y, cudaStream_t stream, char *err, size_t err_size);

/* y = x . W^T for BF16 weights and float x, on the BF16 tensor cores: x is split into
 * two BF16 parts, hi = bf16(x) and lo = bf16(x - hi), and y = hi . W^T + lo . W^T with
 * float32 accumulation, so that x keeps about 16 of its 24 bits (relative error near
 * 1e-5, where one BF16 x would give 4e-3).  split holds 2 x count x cols BF16 values
 * (scratch).  Same return values as llmk_gemm_fp8 (1: cols not a multiple of 8, or no
 * algorithm). */
int llmk_gemm_bf16(struct llmk_gemm *gemm, const void *weight, int rows, int cols, const float *x, int count,
		   void *split, float *y, cudaStream_t stream, char *err, size_t err_size);

/* The ceilings a benchmark is judged against, measured now on the current device:
 * device-to-device copy bandwidth in GB/s (bytes read + written, 1 GiB copies,
 * median of 8) and the FP8 / INT8 / BF16 GEMM rates at 8192^3 in TFLOP/s (median of
 * 10; BF16: one product of BF16 operands, half of what llmk_gemm_bf16 computes).
 * Returns 0, or -1 with a message. */
int llmk_measure_ceilings(struct llmk_gemm *gemm, double *copy_gbs, double *fp8_tflops, double *int8_tops,
			  double *bf16_tflops, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
