/*
 * cuda_engine_comm.c - a CUDA rank's part in the tensor-parallel split: the all-reduce
 * of a row-parallel layer's output, its timing for --bench, and the backend ops that
 * choose the ranks and make their communicator (comm_cuda.h).
 */
#include "config.h"

#include <stdio.h>

#include <cuda_runtime_api.h>

#include "comm_cuda.h"
#include "cuda_devices.h"
#include "cuda_engine.h"
#include "cuda_try.h"

/* Sums a row-parallel layer's partial output over the ranks (nothing with one rank);
 * with time_comm set (eager runs of --bench), brackets the call with events. */
int cuda_all_reduce(struct cuda_engine *e, float *buffer, size_t count, char *err, size_t err_size)
{
	if (!e->comm)
		return 0;
	bool timed = e->time_comm && e->comm_events && e->comm_events_recorded < 4 * e->model->config.num_hidden_layers;
	if (timed)
		CUDA_TRY(cudaEventRecord(e->comm_events[e->comm_events_recorded++], e->stream));
	if (comm_all_reduce_sum(e->comm, e->plan.rank, buffer, count, e->stream, err, err_size) != 0)
		return -1;
	if (timed)
		CUDA_TRY(cudaEventRecord(e->comm_events[e->comm_events_recorded++], e->stream));
	return 0;
}

/* After an eager run has finished: adds the time between each pair of events around
 * an all-reduce (time_comm) to comm_seconds, and starts counting pairs anew. */
int cuda_add_comm_time(struct cuda_engine *e, char *err, size_t err_size)
{
	for (int i = 0; i + 1 < e->comm_events_recorded; i += 2) {
		float ms = 0;
		CUDA_TRY(cudaEventElapsedTime(&ms, e->comm_events[i], e->comm_events[i + 1]));
		e->comm_seconds += ms * 1e-3;
	}
	e->comm_events_recorded = 0;
	return 0;
}

/* Seconds spent in all-reduces (events around the calls) since the last call. */
double cuda_comm_seconds(void *state)
{
	struct cuda_engine *e = state;
	double seconds = e->comm_seconds;
	e->comm_seconds = 0;
	return seconds;
}

/* No --gpus: every visible GPU that forms a valid split when the weights are over
 * 2 GB (decode is bound by reading them, and N GPUs read them N times as fast),
 * else one GPU. */
int cuda_default_ranks(const struct model *model)
{
	int visible = 0;
	char unused[128];  /* no GPU or a failing runtime: one rank, whose creation says why */
	if (cuda_device_count(&visible, unused, sizeof unused) != CUDA_DEVICES_FOUND)
		return 1;
	double bytes, params;
	model_linear_weights(model, &bytes, &params);
	if (visible == 1 || bytes < 2e9)
		return 1;
	int valid[TP_MAX_RANKS];
	int n = tp_valid_ranks(&model->config, visible < TP_MAX_RANKS ? visible : TP_MAX_RANKS, valid);
	return n > 0 ? valid[n - 1] : 1;
}

/* While on, forward runs eagerly with events around each all-reduce. */
void cuda_time_comm(void *state, bool on)
{
	struct cuda_engine *e = state;
	e->time_comm = on && e->comm_events;
	e->comm_seconds = 0;
}

int cuda_create_comm(int ranks, const struct engine_options *options, struct communicator **out,
			    int *devices, char *err, size_t err_size)
{
	return comm_cuda_create(options->comm, ranks, out, devices, err, err_size);
}
