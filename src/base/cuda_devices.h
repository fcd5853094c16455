/*
 * cuda_devices.h - how many CUDA GPUs this process sees, asked in one place.
 *
 * A machine without a GPU (or without the NVIDIA driver) is an ordinary case, not an
 * error: the default backend then runs on the CPU without a word.  So the count says
 * which it is, "no device" or a CUDA failure, by its status and never by the text of
 * its message.  For the CUDA backend's C files (built only with CUDA).
 */
#ifndef LLMCHAT_CUDA_DEVICES_H
#define LLMCHAT_CUDA_DEVICES_H

#include <stddef.h>

enum cuda_devices_status {
	CUDA_DEVICES_FOUND = 0,     /* *count is 1 or more */
	CUDA_DEVICES_FAILED = -1,   /* the runtime failed otherwise: err says how */
	CUDA_NO_DEVICE = -2,        /* none visible, or no driver: err says "no usable CUDA device: why" */
};

/* The visible GPUs into *count (0 unless found); one of the statuses above, with a
 * message in err unless found.  Leaves no CUDA error pending. */
int cuda_device_count(int *count, char *err, size_t err_size);

#endif
