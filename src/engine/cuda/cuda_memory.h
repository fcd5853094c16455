/*
 * cuda_memory.h - one CUDA rank's device memory.
 *
 * Every allocation is kept, so that cuda_memory_free releases them all; a failed
 * allocation says how much was needed, how much was free and what to change (--ctx,
 * more GPUs).  Host data (weights in the mmapped shards, possibly unaligned, or some
 * columns of each row for a tensor-parallel shard) is uploaded through two pinned
 * staging buffers, the copy of one chunk out of the page cache overlapping the DMA
 * of the one before, with a progress line on stderr.
 */
#ifndef LLMCHAT_CUDA_MEMORY_H
#define LLMCHAT_CUDA_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include <cuda_runtime_api.h>

struct cuda_memory {
	cudaStream_t stream;             /* the rank's: uploads are enqueued on it */
	int device, ranks;               /* for the out-of-memory message */
	void **allocations;
	size_t count, capacity;
	/* uploads, between cuda_memory_upload_begin and _end */
	void *staging[2];                /* pinned */
	cudaEvent_t done[2];             /* the last DMA out of each */
	int next;
	size_t total, sent;              /* bytes to upload (for the progress), uploaded */
	double start, last_shown;
	bool show_progress;
};

/* A device buffer of bytes (at least 1), kept for cuda_memory_free. */
int cuda_memory_alloc(struct cuda_memory *m, size_t bytes, void **out, char *err, size_t err_size);

/* Makes the staging buffers; total is what the uploads will send (for the progress
 * line, shown on a terminal when show_progress). */
int cuda_memory_upload_begin(struct cuda_memory *m, size_t total, bool show_progress, char *err, size_t err_size);

/* A new device buffer holding bytes of host memory. */
int cuda_memory_upload(struct cuda_memory *m, const void *host, size_t bytes, void **out, char *err,
		       size_t err_size);

/* A new device buffer holding rows rows of row_bytes each, row_stride_bytes apart on
 * the host, packed. */
int cuda_memory_upload_rows(struct cuda_memory *m, const void *host, size_t rows, size_t row_bytes,
			    size_t row_stride_bytes, void **out, char *err, size_t err_size);

/* Waits for the last copies, frees the staging buffers and, when report and many
 * bytes went, prints how fast they came. */
int cuda_memory_upload_end(struct cuda_memory *m, bool report, char *err, size_t err_size);

/* Frees every allocation and what an unfinished upload left. */
void cuda_memory_free(struct cuda_memory *m);

#endif
