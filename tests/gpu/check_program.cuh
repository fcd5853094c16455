/*
 * check_program.cuh - what a GPU check program (step_fusion_checks.cu,
 * decode_segment_checks.cu, verify_checks.cu, linear_checks.cu, attention_checks.cu,
 * activation_checks.cu) keeps the same way: its counts and "ok" / "not ok" lines, a
 * CUDA call counted as a failed check when it fails, a seeded generator and the start
 * that seeds it, and device buffers (random, poisoned, copied) that free_all releases.
 */
#ifndef LLMCHAT_CHECK_PROGRAM_CUH
#define LLMCHAT_CHECK_PROGRAM_CUH

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <vector>

#include <cuda_runtime.h>

static int passed, failed;

static inline void check(bool ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	(ok ? passed : failed)++;
}

#define CUDA(call)                                                                                  \
	do {                                                                                        \
		cudaError_t status_ = (call);                                                       \
		if (status_ != cudaSuccess)                                                         \
			printf("not ok - %s: %s (line %d)\n", #call, cudaGetErrorString(status_), __LINE__), failed++; \
	} while (0)

/* The same, and the (void) check function returns: for a check whose later steps need
 * what the failed call should have made (its buffers from cudaMalloc, say). */
#define CUDA_OR_RETURN(call)                                                                        \
	do {                                                                                        \
		cudaError_t status_ = (call);                                                       \
		if (status_ != cudaSuccess) {                                                       \
			printf("not ok - %s: %s (line %d)\n", #call, cudaGetErrorString(status_), __LINE__); \
			failed++;                                                                   \
			return;                                                                     \
		}                                                                                   \
	} while (0)

/* The generator's state: the program seeds it (and prints the seed). */
static uint64_t rng_state;

static inline float uniform_in(float lo, float hi)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return lo + (hi - lo) * (float)((rng_state >> 40) / (double)(1ull << 24));
}

/* A check program's start: the device's name, and the generator seeded from argv[1]
 * (else the clock), the seed printed so that `NAME SEED` repeats the run; false (with a
 * failed check printed) when there is no CUDA device. */
static inline bool check_program_start(int argc, char **argv, const char *name)
{
	cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
		printf("not ok - a CUDA device\n0 passed, 1 failed\n");
		return false;
	}
	printf("# %s\n", prop.name);
	rng_state = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL) * 2654435761u | 1;
	printf("# random seed %#llx (%s SEED repeats a run)\n", (unsigned long long)rng_state, name);
	return true;
}

static std::vector<void *> allocations;

/* A device buffer of n bytes (at least 1), every byte poison. */
static inline void *device_bytes(size_t n, int poison)
{
	void *d = NULL;
	CUDA(cudaMalloc(&d, n ? n : 1));
	CUDA(cudaMemset(d, poison, n ? n : 1));
	allocations.push_back(d);
	return d;
}

/* A device buffer of n random floats in [lo, hi). */
static inline float *random_floats(size_t n, float lo, float hi)
{
	std::vector<float> h(n);
	for (auto &f : h) f = uniform_in(lo, hi);
	float *d = (float *)device_bytes(n * 4, 0);
	CUDA(cudaMemcpy(d, h.data(), n * 4, cudaMemcpyHostToDevice));
	return d;
}

static inline void *device_copy(const void *src, size_t n)
{
	void *d = device_bytes(n, 0);
	CUDA(cudaMemcpy(d, src, n, cudaMemcpyDeviceToDevice));
	return d;
}

/* Frees every buffer made above. */
static inline void free_all(void)
{
	for (void *p : allocations) cudaFree(p);
	allocations.clear();
}

#endif
