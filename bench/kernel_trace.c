/*
 * bench/kernel_trace.c - every kernel's start and end on the GPU, as the GPU ran them,
 * for a program that does not know it is traced (device machine; nsys is not there).
 *
 *   cc -shared -fPIC -O2 -I/usr/local/cuda/include bench/kernel_trace.c \
 *      -L/usr/local/cuda/lib64 -lcupti -o /tmp/libkernel_trace.so
 *   CUDA_INJECTION64_PATH=/tmp/libkernel_trace.so KERNEL_TRACE_OUT=trace.csv PROGRAM ...
 *
 * The CUDA driver loads the library named by CUDA_INJECTION64_PATH and calls its
 * InitializeInjection.  It asks CUPTI for concurrent-kernel records (which keep
 * kernels overlapping as they ran: programmatic dependent launch, graph branches) and,
 * when the program exits, writes the kernels that started between the program's
 * cudaProfilerStart and cudaProfilerStop (all of them when it calls neither) to
 * KERNEL_TRACE_OUT as CSV: start, end (GPU nanoseconds), graph id, grid size, name.
 * bench/kernel_timeline.py reads it.  A failure of CUPTI is printed on stderr, once, and
 * leaves the program running untraced.
 */
#include <cupti.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_BUFFER_BYTES (8u << 20)

struct kernel_record {
	uint64_t start, end;
	uint32_t graph_id, blocks;
	const char *name; /* CUPTI's copy, valid until the program exits */
};

/* Only the CUPTI callbacks and the exit handler touch these; CUPTI calls the buffer
 * callbacks from its own thread, one at a time. */
static struct kernel_record *kept;
static size_t kept_count, kept_capacity;
static uint64_t window_start, window_stop = UINT64_MAX;
static int window_seen;
static int trace_failed;

static void trace_fail(const char *what, CUptiResult result)
{
	const char *text = NULL;
	if (cuptiGetResultString(result, &text) != CUPTI_SUCCESS || !text)
		text = "unknown CUPTI error";
	if (!trace_failed)
		fprintf(stderr, "kernel_trace: %s: %s; the program runs untraced\n", what, text);
	trace_failed = 1;
}

static void keep(const CUpti_ActivityKernel10 *k)
{
	if (kept_count == kept_capacity) {
		size_t capacity = kept_capacity ? 2 * kept_capacity : 1 << 16;
		struct kernel_record *grown = realloc(kept, capacity * sizeof *grown);
		if (!grown) {
			if (!trace_failed)
				fprintf(stderr, "kernel_trace: out of memory after %zu kernels; later ones dropped\n",
					kept_count);
			trace_failed = 1;
			return;
		}
		kept = grown;
		kept_capacity = capacity;
	}
	kept[kept_count++] = (struct kernel_record){k->start, k->end, k->graphId,
						    (uint32_t)k->gridX * k->gridY * k->gridZ, k->name};
}

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
	*buffer = aligned_alloc(8, TRACE_BUFFER_BYTES);
	*size = *buffer ? TRACE_BUFFER_BYTES : 0;
	*max_records = 0;
}

static void CUPTIAPI buffer_completed(CUcontext context, uint32_t stream, uint8_t *buffer, size_t size,
				      size_t valid)
{
	(void)context;
	(void)stream;
	(void)size;
	CUpti_Activity *record = NULL;
	while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS)
		if (record->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL)
			keep((const CUpti_ActivityKernel10 *)record);
	free(buffer);
}

/* cudaProfilerStart / Stop mark the window kept. */
static void CUPTIAPI api_called(void *data, CUpti_CallbackDomain domain, CUpti_CallbackId id, const void *info)
{
	(void)data;
	const CUpti_CallbackData *call = info;
	if (domain != CUPTI_CB_DOMAIN_RUNTIME_API || call->callbackSite != CUPTI_API_ENTER)
		return;
	uint64_t now = 0;
	if (cuptiGetTimestamp(&now) != CUPTI_SUCCESS)
		return;
	if (id == CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStart_v4000 && !window_seen) {
		window_start = now;
		window_seen = 1;
	} else if (id == CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStop_v4000 && window_seen &&
		   window_stop == UINT64_MAX) {
		window_stop = now;
	}
}

static void write_trace(void)
{
	if (cuptiActivityFlushAll(1) != CUPTI_SUCCESS)
		fprintf(stderr, "kernel_trace: the last records could not be flushed\n");
	const char *path = getenv("KERNEL_TRACE_OUT");
	FILE *out = fopen(path && *path ? path : "kernel_trace.csv", "w");
	if (!out) {
		perror("kernel_trace: KERNEL_TRACE_OUT");
		return;
	}
	fprintf(out, "start_ns,end_ns,graph,blocks,name\n");
	size_t written = 0;
	for (size_t i = 0; i < kept_count; i++) {
		const struct kernel_record *k = &kept[i];
		if (k->start < window_start || k->start > window_stop)
			continue;
		fprintf(out, "%llu,%llu,%u,%u,\"%s\"\n", (unsigned long long)k->start, (unsigned long long)k->end,
			k->graph_id, k->blocks, k->name ? k->name : "?");
		written++;
	}
	if (fclose(out) != 0)
		perror("kernel_trace: KERNEL_TRACE_OUT");
	fprintf(stderr, "kernel_trace: %zu of %zu kernels written (%s)\n", written, kept_count,
		window_seen ? "the cudaProfilerStart window" : "all");
}

int InitializeInjection(void);

int InitializeInjection(void)
{
	CUpti_SubscriberHandle subscriber;
	CUptiResult result = cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
	if (result != CUPTI_SUCCESS) {
		trace_fail("registering the activity buffers", result);
		return 1;
	}
	result = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
	if (result != CUPTI_SUCCESS) {
		trace_fail("enabling kernel records", result);
		return 1;
	}
	result = cuptiSubscribe(&subscriber, api_called, NULL);
	if (result == CUPTI_SUCCESS)
		result = cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_RUNTIME_API,
					     CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStart_v4000);
	if (result == CUPTI_SUCCESS)
		result = cuptiEnableCallback(1, subscriber, CUPTI_CB_DOMAIN_RUNTIME_API,
					     CUPTI_RUNTIME_TRACE_CBID_cudaProfilerStop_v4000);
	if (result != CUPTI_SUCCESS)
		trace_fail("watching cudaProfilerStart", result);
	atexit(write_trace);
	return 1;
}
