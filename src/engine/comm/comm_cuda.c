/*
 * comm_cuda.c - NCCL, peer-to-peer and one-GPU communicators (comm_cuda.h).
 */
#include "config.h"

#include "comm_cuda.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "comm_kernels.h"
#include "cuda_devices.h"
#include "cuda_try.h"
#include "rank_barrier.h"

/* ---- one GPU: every rank on device 0 ------------------------------------------- */

struct one_gpu_comm {
	struct communicator base;
	struct rank_barrier barrier;
	float *partial[LLMK_COMM_MAX_RANKS];   /* each rank's buffer of the current call */
	float *sum[LLMK_COMM_MAX_RANKS];       /* each rank's result before it is copied back */
	cudaEvent_t ready[LLMK_COMM_MAX_RANKS], summed[LLMK_COMM_MAX_RANKS];
};

static int one_gpu_all_reduce_chunk(struct one_gpu_comm *c, int rank, float *buffer, size_t count,
				    cudaStream_t stream, char *err, size_t err_size)
{
	struct communicator *base = &c->base;
	c->partial[rank] = buffer;
	CUDA_TRY(cudaEventRecord(c->ready[rank], stream));
	if (rank_barrier_wait(&c->barrier, NULL, NULL) != 0)
		goto failed;
	struct llmk_rank_pointers in = {{0}};
	for (int r = 0; r < base->ranks; r++) {
		CUDA_TRY(cudaStreamWaitEvent(stream, c->ready[r], 0));
		in.p[r] = c->partial[r];
	}
	CUDA_TRY(llmk_sum_ranks(in, base->ranks, c->sum[rank], count, stream));
	CUDA_TRY(cudaEventRecord(c->summed[rank], stream));
	if (rank_barrier_wait(&c->barrier, NULL, NULL) != 0)
		goto failed;
	for (int r = 0; r < base->ranks; r++) /* nobody reads buffer any more */
		CUDA_TRY(cudaStreamWaitEvent(stream, c->summed[r], 0));
	CUDA_TRY(cudaMemcpyAsync(buffer, c->sum[rank], count * sizeof(float), cudaMemcpyDeviceToDevice, stream));
	return 0;
failed:
	snprintf(err, err_size, "another rank failed");
	return -1;
}

/* In pieces of the summing buffer's size. */
static int one_gpu_all_reduce(struct communicator *base, int rank, float *buffer, size_t count, void *stream,
			      char *err, size_t err_size)
{
	for (size_t done = 0; done < count; done += COMM_CUDA_MAX_COUNT) {
		size_t n = count - done < COMM_CUDA_MAX_COUNT ? count - done : COMM_CUDA_MAX_COUNT;
		if (one_gpu_all_reduce_chunk((struct one_gpu_comm *)base, rank, buffer + done, n, stream, err,
					     err_size) != 0)
			return -1;
	}
	return 0;
}

static void one_gpu_abort(struct communicator *base)
{
	rank_barrier_break(&((struct one_gpu_comm *)base)->barrier);
}

static void one_gpu_free(struct communicator *base)
{
	struct one_gpu_comm *c = (struct one_gpu_comm *)base;
	for (int r = 0; r < base->ranks; r++) {
		if (c->sum[r])
			cudaFree(c->sum[r]);
		if (c->ready[r])
			cudaEventDestroy(c->ready[r]);
		if (c->summed[r])
			cudaEventDestroy(c->summed[r]);
	}
	rank_barrier_destroy(&c->barrier);
	free(c);
}

static const struct communicator_ops one_gpu_ops = {one_gpu_all_reduce, one_gpu_abort, one_gpu_free};

static int one_gpu_create(int ranks, struct communicator **out, int *devices, char *err, size_t err_size)
{
	struct one_gpu_comm *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	c->base = (struct communicator){&one_gpu_ops, ranks, false, "one GPU"};
	rank_barrier_init(&c->barrier, ranks);
	*out = &c->base;
	CUDA_TRY(cudaSetDevice(0));
	for (int r = 0; r < ranks; r++) {
		devices[r] = 0;
		CUDA_TRY(cudaMalloc((void **)&c->sum[r], COMM_CUDA_MAX_COUNT * sizeof(float)));
		CUDA_TRY(cudaEventCreateWithFlags(&c->ready[r], cudaEventDisableTiming));
		CUDA_TRY(cudaEventCreateWithFlags(&c->summed[r], cudaEventDisableTiming));
	}
	return 0;
}

/* ---- NCCL ------------------------------------------------------------------------ */

struct nccl_comm {
	struct communicator base;
	ncclComm_t comms[LLMK_COMM_MAX_RANKS];
	pthread_mutex_t lock;
	bool aborted;
};

static int nccl_wait(ncclComm_t comm, ncclResult_t result, const char *what, char *err, size_t err_size)
{
	while (result == ncclInProgress) {
		ncclResult_t state = ncclSuccess;
		if (ncclCommGetAsyncError(comm, &state) != ncclSuccess)
			break;
		result = state;
	}
	if (result != ncclSuccess) {
		snprintf(err, err_size, "NCCL: %s: %s", what, ncclGetErrorString(result));
		return -1;
	}
	return 0;
}

static int nccl_all_reduce(struct communicator *base, int rank, float *buffer, size_t count, void *stream,
			   char *err, size_t err_size)
{
	struct nccl_comm *c = (struct nccl_comm *)base;
	pthread_mutex_lock(&c->lock);
	bool aborted = c->aborted;
	pthread_mutex_unlock(&c->lock);
	if (aborted) {
		snprintf(err, err_size, "another rank failed");
		return -1;
	}
	ncclResult_t result = ncclAllReduce(buffer, buffer, count, ncclFloat32, ncclSum, c->comms[rank],
					    (cudaStream_t)stream);
	return nccl_wait(c->comms[rank], result, "ncclAllReduce", err, err_size);
}

/* Aborting frees NCCL's state and unblocks kernels waiting for a dead peer. */
static void nccl_abort(struct communicator *base)
{
	struct nccl_comm *c = (struct nccl_comm *)base;
	pthread_mutex_lock(&c->lock);
	if (!c->aborted) {
		c->aborted = true;
		for (int r = 0; r < base->ranks; r++)
			if (c->comms[r])
				ncclCommAbort(c->comms[r]);
	}
	pthread_mutex_unlock(&c->lock);
}

/* Non-blocking communicators finish finalizing in the background: wait for that
 * before destroying them (destroying one still in progress crashes). */
static void nccl_free(struct communicator *base)
{
	struct nccl_comm *c = (struct nccl_comm *)base;
	char err[128];
	if (!c->aborted)
		for (int r = 0; r < base->ranks; r++)
			if (c->comms[r]) {
				cudaSetDevice(r);
				nccl_wait(c->comms[r], ncclCommFinalize(c->comms[r]), "ncclCommFinalize", err, sizeof err);
				ncclCommDestroy(c->comms[r]);
			}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static const struct communicator_ops nccl_ops = {nccl_all_reduce, nccl_abort, nccl_free};

static int nccl_create(int ranks, int visible, struct communicator **out, int *devices, char *err, size_t err_size)
{
	if (ranks > visible) {
		snprintf(err, err_size, "--gpus %d: only %d GPU%s visible (--comm one-gpu runs the split on one GPU)", ranks,
			 visible, visible == 1 ? " is" : "s are");
		return -1;
	}
	setenv("NCCL_NVLS_ENABLE", "0", 1); /* no NVLink multicast, whatever the environment says */
	struct nccl_comm *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	c->base = (struct communicator){&nccl_ops, ranks, true, "NCCL"};
	pthread_mutex_init(&c->lock, NULL);
	*out = &c->base;
	ncclUniqueId id;
	ncclResult_t result = ncclGetUniqueId(&id);
	if (result != ncclSuccess) {
		snprintf(err, err_size, "NCCL: ncclGetUniqueId: %s", ncclGetErrorString(result));
		return -1;
	}
	ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
	config.blocking = 0;
	ncclGroupStart();
	for (int r = 0; r < ranks; r++) {
		devices[r] = r;
		cudaSetDevice(r);
		ncclCommInitRankConfig(&c->comms[r], ranks, id, r, &config);
	}
	result = ncclGroupEnd();
	for (int r = 0; r < ranks; r++)
		if (nccl_wait(c->comms[r], result, "ncclCommInitRankConfig", err, err_size) != 0)
			return -1;
	return 0;
}

/* ---- peer-to-peer one-shot ------------------------------------------------------- */

struct p2p_comm {
	struct communicator base;
	struct llmk_p2p_rank rank[LLMK_COMM_MAX_RANKS];
	void *allocations[LLMK_COMM_MAX_RANKS][4];
	int device[LLMK_COMM_MAX_RANKS];
	volatile int *abort;         /* mapped pinned memory, read by the kernels while they wait */
	bool aborted;
};

static int p2p_all_reduce(struct communicator *base, int rank, float *buffer, size_t count, void *stream,
			  char *err, size_t err_size)
{
	struct p2p_comm *c = (struct p2p_comm *)base;
	if (c->aborted) {
		snprintf(err, err_size, "another rank failed");
		return -1;
	}
	for (size_t done = 0; done < count; done += COMM_CUDA_MAX_COUNT) { /* in pieces of the staging size */
		size_t n = count - done < COMM_CUDA_MAX_COUNT ? count - done : COMM_CUDA_MAX_COUNT;
		CUDA_TRY(llmk_p2p_all_reduce(&c->rank[rank], buffer + done, n, (cudaStream_t)stream));
	}
	return 0;
}

/* Also tells kernels waiting for a peer that will never come to stop waiting. */
static void p2p_abort(struct communicator *base)
{
	struct p2p_comm *c = (struct p2p_comm *)base;
	c->aborted = true;
	if (c->abort)
		*c->abort = 1;
}

static void p2p_free(struct communicator *base)
{
	struct p2p_comm *c = (struct p2p_comm *)base;
	for (int r = 0; r < base->ranks; r++)
		for (int i = 0; i < 4; i++)
			if (c->allocations[r][i]) {
				cudaSetDevice(c->device[r]);
				cudaFree(c->allocations[r][i]);
			}
	if (c->abort)
		cudaFreeHost((void *)c->abort);
	free(c);
}

static const struct communicator_ops p2p_ops = {p2p_all_reduce, p2p_abort, p2p_free};

static int p2p_create(int ranks, int visible, struct communicator **out, int *devices, char *err, size_t err_size)
{
	struct p2p_comm *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	c->base = (struct communicator){&p2p_ops, ranks, true, "peer-to-peer"};
	*out = &c->base;
	const size_t flag_bytes = (size_t)LLMK_P2P_BLOCKS * LLMK_COMM_MAX_RANKS * sizeof(unsigned);
	void *abort_flag = NULL; /* one address for every GPU (unified addressing) */
	CUDA_TRY(cudaHostAlloc(&abort_flag, sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable));
	c->abort = abort_flag;
	*c->abort = 0;
	float *staging[LLMK_COMM_MAX_RANKS][2];
	unsigned *flags[LLMK_COMM_MAX_RANKS];
	for (int r = 0; r < ranks; r++) {
		devices[r] = c->device[r] = r % visible;
		CUDA_TRY(cudaSetDevice(c->device[r]));
		for (int other = 0; other < ranks && other < visible; other++) {
			if (other == c->device[r])
				continue;
			int can = 0;
			CUDA_TRY(cudaDeviceCanAccessPeer(&can, c->device[r], other));
			if (!can) {
				snprintf(err, err_size, "GPU %d cannot reach GPU %d directly: use --comm nccl", c->device[r],
					 other);
				return -1;
			}
			cudaError_t status = cudaDeviceEnablePeerAccess(other, 0);
			if (status == cudaErrorPeerAccessAlreadyEnabled)
				cudaGetLastError();
			else
				CUDA_TRY(status);
		}
		CUDA_TRY(cudaMalloc(&c->allocations[r][0], COMM_CUDA_MAX_COUNT * sizeof(float)));
		CUDA_TRY(cudaMalloc(&c->allocations[r][1], COMM_CUDA_MAX_COUNT * sizeof(float)));
		CUDA_TRY(cudaMalloc(&c->allocations[r][2], flag_bytes));
		CUDA_TRY(cudaMalloc(&c->allocations[r][3], LLMK_P2P_BLOCKS * sizeof(unsigned)));
		CUDA_TRY(cudaMemset(c->allocations[r][2], 0, flag_bytes));
		CUDA_TRY(cudaMemset(c->allocations[r][3], 0, LLMK_P2P_BLOCKS * sizeof(unsigned)));
		CUDA_TRY(cudaDeviceSynchronize());
		staging[r][0] = c->allocations[r][0];
		staging[r][1] = c->allocations[r][1];
		flags[r] = c->allocations[r][2];
	}
	for (int r = 0; r < ranks; r++) {
		struct llmk_p2p_rank *p = &c->rank[r];
		memcpy(p->staging, staging, sizeof staging);
		memcpy(p->flags, flags, sizeof flags);
		p->epochs = c->allocations[r][3];
		p->abort = c->abort;
		p->rank = r;
		p->ranks = ranks;
	}
	return 0;
}

/* ---- auto: peer-to-peer for small messages, NCCL for the rest --------------------- */

struct auto_comm {
	struct communicator base;
	struct communicator *nccl, *p2p;   /* p2p NULL where the GPUs cannot reach each other */
};

static int auto_all_reduce(struct communicator *base, int rank, float *buffer, size_t count, void *stream, char *err,
			   size_t err_size)
{
	struct auto_comm *c = (struct auto_comm *)base;
	struct communicator *use = c->p2p && count <= COMM_AUTO_P2P_MAX_COUNT ? c->p2p : c->nccl;
	return use->ops->all_reduce_sum(use, rank, buffer, count, stream, err, err_size);
}

static void auto_abort(struct communicator *base)
{
	struct auto_comm *c = (struct auto_comm *)base;
	comm_abort(c->nccl);
	comm_abort(c->p2p);
}

static void auto_free(struct communicator *base)
{
	struct auto_comm *c = (struct auto_comm *)base;
	comm_free(c->nccl);
	comm_free(c->p2p);
	free(c);
}

static const struct communicator_ops auto_ops = {auto_all_reduce, auto_abort, auto_free};

static int auto_create(int ranks, int visible, struct communicator **out, int *devices, char *err, size_t err_size)
{
	struct auto_comm *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	c->base = (struct communicator){&auto_ops, ranks, true, "NCCL + peer-to-peer"};
	*out = &c->base;
	if (nccl_create(ranks, visible, &c->nccl, devices, err, err_size) != 0) {
		if (c->nccl) {
			comm_free(c->nccl);
			c->nccl = NULL;
		}
		return -1;
	}
	int p2p_devices[LLMK_COMM_MAX_RANKS];
	char p2p_err[256];
	if (ranks > 1 && p2p_create(ranks, visible, &c->p2p, p2p_devices, p2p_err, sizeof p2p_err) != 0) {
		comm_free(c->p2p); /* the GPUs cannot reach each other directly: NCCL alone */
		c->p2p = NULL;
		c->base.name = "NCCL";
	}
	if (ranks == 1)
		c->base.name = "NCCL";
	return 0;
}

int comm_cuda_create(enum comm_kind kind, int ranks, struct communicator **out, int *devices, char *err,
		     size_t err_size)
{
	*out = NULL;
	if (ranks < 1 || ranks > LLMK_COMM_MAX_RANKS) {
		snprintf(err, err_size, "%d ranks: the CUDA communicators take 1 to %d", ranks, LLMK_COMM_MAX_RANKS);
		return -1;
	}
	int visible = 0;
	int rc = cuda_device_count(&visible, err, err_size);
	if (rc != CUDA_DEVICES_FOUND)
		return rc;
	switch (kind) {
	case COMM_ONE_GPU: rc = one_gpu_create(ranks, out, devices, err, err_size); break;
	case COMM_P2P: rc = p2p_create(ranks, visible, out, devices, err, err_size); break;
	case COMM_NCCL: rc = nccl_create(ranks, visible, out, devices, err, err_size); break;
	default: rc = auto_create(ranks, visible, out, devices, err, err_size); break;
	}
	if (rc != 0 && *out) {
		comm_free(*out);
		*out = NULL;
	}
	return rc;
}
