/*
 * comm_kernels.cu - sums over ranks (comm_kernels.h).
 */
#include "comm_kernels.h"

__global__ static void sum_ranks_kernel(struct llmk_rank_pointers in, int ranks, float *out, size_t count)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count; i += (size_t)gridDim.x * blockDim.x) {
		float sum = __ldcg(in.p[0] + i);
		for (int r = 1; r < ranks; r++)
			sum += __ldcg(in.p[r] + i);
		out[i] = sum;
	}
}

extern "C" cudaError_t llmk_sum_ranks(struct llmk_rank_pointers in, int ranks, float *out, size_t count,
				      cudaStream_t stream)
{
	if (ranks < 1 || ranks > LLMK_COMM_MAX_RANKS)
		return cudaErrorInvalidValue;
	unsigned blocks = (unsigned)((count + 255) / 256 < 1024 ? (count + 255) / 256 : 1024);
	sum_ranks_kernel<<<blocks ? blocks : 1, 256, 0, stream>>>(in, ranks, out, count);
	return cudaGetLastError();
}

__device__ static unsigned load_flag(const unsigned *flag)
{
	unsigned value;
	asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(value) : "l"(flag) : "memory");
	return value;
}

__device__ static void store_flag(unsigned *flag, unsigned value)
{
	asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(flag), "r"(value) : "memory");
}

__global__ static void __launch_bounds__(512) p2p_all_reduce_kernel(struct llmk_p2p_rank r, float *buffer,
								     size_t count)
{
	const unsigned block = blockIdx.x;
	const unsigned epoch = r.epochs[block] + 1;
	const int parity = epoch & 1;
	size_t chunk = (count + gridDim.x - 1) / gridDim.x;
	size_t begin = block * chunk, end = begin + chunk < count ? begin + chunk : count;

	float *mine = r.staging[r.rank][parity];
	for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x)
		mine[i] = buffer[i];
	__threadfence_system();
	__syncthreads();
	/* tell every rank (this one too) that this block's chunk is in place, then wait
	 * until every rank has said the same; a peer may already be one call ahead */
	if (threadIdx.x < (unsigned)r.ranks) {
		store_flag(r.flags[threadIdx.x] + block * LLMK_COMM_MAX_RANKS + r.rank, epoch);
		const unsigned *slot = r.flags[r.rank] + block * LLMK_COMM_MAX_RANKS + threadIdx.x;
		/* the abort flag lives in host memory: read it only now and then */
		for (unsigned spins = 1; (int)(load_flag(slot) - epoch) < 0; spins++)
			if (spins % 4096 == 0 && *r.abort)
				break;
	}
	__syncthreads();
	for (size_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
		float sum = __ldcv(r.staging[0][parity] + i);
		for (int j = 1; j < r.ranks; j++)
			sum += __ldcv(r.staging[j][parity] + i);
		buffer[i] = sum;
	}
	if (threadIdx.x == 0)
		r.epochs[block] = epoch;
}

extern "C" cudaError_t llmk_p2p_all_reduce(const struct llmk_p2p_rank *rank, float *buffer, size_t count,
					   cudaStream_t stream)
{
	if (rank->ranks < 1 || rank->ranks > LLMK_COMM_MAX_RANKS)
		return cudaErrorInvalidValue;
	p2p_all_reduce_kernel<<<LLMK_P2P_BLOCKS, 512, 0, stream>>>(*rank, buffer, count);
	return cudaGetLastError();
}
