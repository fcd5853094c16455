/*
 * cuda_devices.c - the visible GPUs (cuda_devices.h).
 */
#include "cuda_devices.h"

#include <stdbool.h>
#include <stdio.h>

#include <cuda_runtime_api.h>

/* The runtime's answers that mean "this machine has no GPU to offer". */
static bool means_no_device(cudaError_t status)
{
	return status == cudaErrorNoDevice || status == cudaErrorInsufficientDriver ||
	       status == cudaErrorStubLibrary;
}

int cuda_device_count(int *count, char *err, size_t err_size)
{
	int visible = 0;
	cudaError_t status = cudaGetDeviceCount(&visible);
	*count = 0;
	if (status == cudaSuccess && visible > 0) {
		*count = visible;
		return CUDA_DEVICES_FOUND;
	}
	cudaGetLastError(); /* the failure is reported here, not by the next call */
	if (status == cudaSuccess || means_no_device(status)) {
		snprintf(err, err_size, "no usable CUDA device: %s",
			 status == cudaSuccess ? "none visible" : cudaGetErrorString(status));
		return CUDA_NO_DEVICE;
	}
	snprintf(err, err_size, "CUDA: cudaGetDeviceCount: %s", cudaGetErrorString(status));
	return CUDA_DEVICES_FAILED;
}
