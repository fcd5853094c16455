/*
 * gemv_bf16_rows.h - a BF16 layer's products for several tokens with the one-token
 * GEMV's bits (gemv_bf16_rows.cu); llmk_linear calls it, the engine does not.
 */
#ifndef LLMCHAT_GEMV_BF16_ROWS_H
#define LLMCHAT_GEMV_BF16_ROWS_H

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/* y[t * y_stride + row] = (weight row . x[t * cols ..]) (times the row's or the one
 * weight scale when weight_scale is set) for t < count (2 to LLMK_GEMV_MAX_TOKENS) and
 * every row of the BF16 rows x cols weight: each token's rows the bits that
 * llmk_linear gives that token alone.  Needs cols a multiple of 8 and 16-byte aligned
 * weight and x (llmk_linear's aligned case). */
cudaError_t llmk_gemv_bf16_rows(const void *weight, int rows, int cols, const float *weight_scale,
				int weight_scale_count, const float *x, int count, float *y, int y_stride,
				cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
