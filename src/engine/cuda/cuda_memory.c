/*
 * cuda_memory.c - allocations and uploads of one CUDA rank (cuda_memory.h).
 */
#include "config.h"

#include "cuda_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array_grow.h"
#include "clock.h"
#include "cuda_devices.h"
#include "cuda_try.h"

#define UPLOAD_CHUNK ((size_t)64 << 20)   /* bytes of each staging buffer */

int cuda_memory_alloc(struct cuda_memory *m, size_t bytes, void **out, char *err, size_t err_size)
{
	void **grown = array_grow(m->allocations, &m->capacity, m->count, sizeof *grown, 64);
	if (!grown) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	m->allocations = grown;
	cudaError_t status = cudaMalloc(out, bytes ? bytes : 1);
	if (status != cudaSuccess) {
		size_t free_bytes = 0, total = 0;
		cudaMemGetInfo(&free_bytes, &total);
		cudaGetLastError();
		int visible = 1;
		char count_err[128];  /* the count only shapes the advice: one GPU when unknown */
		if (cuda_device_count(&visible, count_err, sizeof count_err) != CUDA_DEVICES_FOUND)
			visible = 1;
		char advice[96];
		if (visible > m->ranks)
			snprintf(advice, sizeof advice, "split the model over more of the %d visible GPUs (--gpus N)",
				 visible);
		else
			snprintf(advice, sizeof advice, "a GPU with more memory, or more GPUs (--gpus N)");
		snprintf(err, err_size, "out of GPU memory on GPU %d: %zu MiB more were needed with %zu MiB free of %zu MiB "
			 "(this GPU's share of the weights is %.1f GB); use a smaller --ctx, or %s",
			 m->device, bytes >> 20, free_bytes >> 20, total >> 20, m->total / 1e9, advice);
		return -1;
	}
	m->allocations[m->count++] = *out;
	return 0;
}

static void upload_progress(struct cuda_memory *m, bool final)
{
	double elapsed = clock_monotonic_seconds() - m->start;
	if (!final && (!m->show_progress || elapsed - m->last_shown < 0.2))
		return;
	m->last_shown = elapsed;
	double rate = elapsed > 0 ? m->sent / elapsed / 1e9 : 0;
	if (final)
		fprintf(stderr, "%sllmchat: weights uploaded: %.2f GB in %.1f s (%.1f GB/s)\n", m->show_progress ? "\r" : "",
			m->sent / 1e9, elapsed, rate);
	else
		fprintf(stderr, "\rllmchat: uploading weights %5.1f%% of %.2f GB, %.1f GB/s ",
			m->total ? 100.0 * m->sent / m->total : 100.0, m->total / 1e9, rate);
}

int cuda_memory_upload_begin(struct cuda_memory *m, size_t total, bool show_progress, char *err, size_t err_size)
{
	for (int i = 0; i < 2; i++) {
		CUDA_TRY(cudaMallocHost(&m->staging[i], UPLOAD_CHUNK));
		CUDA_TRY(cudaEventCreateWithFlags(&m->done[i], cudaEventDisableTiming));
		CUDA_TRY(cudaEventRecord(m->done[i], m->stream));
	}
	m->total = total;
	m->start = clock_monotonic_seconds();
	m->show_progress = show_progress && isatty(STDERR_FILENO);
	return 0;
}

/* The next staging buffer, once the DMA that last used it is done. */
static void *take_staging(struct cuda_memory *m, char *err, size_t err_size)
{
	int slot = m->next;
	cudaError_t status = cudaEventSynchronize(m->done[slot]);
	if (status != cudaSuccess) {
		snprintf(err, err_size, "CUDA: cudaEventSynchronize: %s", cudaGetErrorString(status));
		return NULL;
	}
	return m->staging[slot];
}

/* Sends bytes of the buffer take_staging gave to device, and moves to the other one. */
static int send_staging(struct cuda_memory *m, void *device, size_t bytes, char *err, size_t err_size)
{
	int slot = m->next;
	m->next ^= 1;
	CUDA_TRY(cudaMemcpyAsync(device, m->staging[slot], bytes, cudaMemcpyHostToDevice, m->stream));
	CUDA_TRY(cudaEventRecord(m->done[slot], m->stream));
	m->sent += bytes;
	upload_progress(m, false);
	return 0;
}

int cuda_memory_upload(struct cuda_memory *m, const void *host, size_t bytes, void **out, char *err,
		       size_t err_size)
{
	if (cuda_memory_alloc(m, bytes, out, err, err_size) != 0)
		return -1;
	for (size_t offset = 0; offset < bytes; offset += UPLOAD_CHUNK) {
		size_t n = bytes - offset < UPLOAD_CHUNK ? bytes - offset : UPLOAD_CHUNK;
		void *staging = take_staging(m, err, err_size);
		if (!staging)
			return -1;
		memcpy(staging, (const unsigned char *)host + offset, n);
		if (send_staging(m, (unsigned char *)*out + offset, n, err, err_size) != 0)
			return -1;
	}
	return 0;
}

int cuda_memory_upload_rows(struct cuda_memory *m, const void *host, size_t rows, size_t row_bytes,
			    size_t row_stride_bytes, void **out, char *err, size_t err_size)
{
	if (row_stride_bytes == row_bytes || rows <= 1)
		return cuda_memory_upload(m, host, rows * row_bytes, out, err, err_size);
	if (row_bytes > UPLOAD_CHUNK) {
		snprintf(err, err_size, "CUDA backend: a weight row of %zu bytes exceeds the upload buffer", row_bytes);
		return -1;
	}
	if (cuda_memory_alloc(m, rows * row_bytes, out, err, err_size) != 0)
		return -1;
	const size_t rows_per_chunk = UPLOAD_CHUNK / row_bytes;
	for (size_t row = 0; row < rows; row += rows_per_chunk) {
		size_t n = rows - row < rows_per_chunk ? rows - row : rows_per_chunk;
		unsigned char *staging = take_staging(m, err, err_size);
		if (!staging)
			return -1;
		for (size_t i = 0; i < n; i++)
			memcpy(staging + i * row_bytes, (const unsigned char *)host + (row + i) * row_stride_bytes, row_bytes);
		if (send_staging(m, (unsigned char *)*out + row * row_bytes, n * row_bytes, err, err_size) != 0)
			return -1;
	}
	return 0;
}

static void free_staging(struct cuda_memory *m)
{
	for (int i = 0; i < 2; i++) {
		if (m->staging[i])
			cudaFreeHost(m->staging[i]);
		if (m->done[i])
			cudaEventDestroy(m->done[i]);
		m->staging[i] = NULL;
		m->done[i] = NULL;
	}
}

int cuda_memory_upload_end(struct cuda_memory *m, bool report, char *err, size_t err_size)
{
	CUDA_TRY(cudaStreamSynchronize(m->stream));
	free_staging(m);
	if (report && m->sent >= ((size_t)256 << 20))
		upload_progress(m, true);
	return 0;
}

void cuda_memory_free(struct cuda_memory *m)
{
	for (size_t i = 0; i < m->count; i++)
		cudaFree(m->allocations[i]);
	free(m->allocations);
	m->allocations = NULL;
	m->count = m->capacity = 0;
	free_staging(m);
}
