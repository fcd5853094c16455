/*
 * cuda_try.h - CUDA_TRY(call): a CUDA runtime call whose failure becomes the
 * caller's error, written as "CUDA: call: reason" into err / err_size (which the
 * function has) and returned as -1.  For the CUDA backend's C files.
 */
#ifndef LLMCHAT_CUDA_TRY_H
#define LLMCHAT_CUDA_TRY_H

#include <stdio.h>

#include <cuda_runtime_api.h>

#define CUDA_TRY(call)                                                                             \
	do {                                                                                       \
		cudaError_t status_ = (call);                                                      \
		if (status_ != cudaSuccess) {                                                      \
			snprintf(err, err_size, "CUDA: %s: %s", #call, cudaGetErrorString(status_)); \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

#endif
