/*
 * device_buffers.cuh - what the GPU check programs (linear_checks.cu,
 * attention_checks.cu, activation_checks.cu, step_fusion_checks.cu, ...) share: comparing
 * two device buffers byte for byte, and timing launches inside a CUDA graph.
 */
#ifndef LLMCHAT_DEVICE_BUFFERS_CUH
#define LLMCHAT_DEVICE_BUFFERS_CUH

#include <stdint.h>
#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

/* Bytes that differ between two device buffers (all of them when one cannot be read). */
static size_t differing_bytes(const void *a, const void *b, size_t bytes)
{
	std::vector<uint8_t> ha(bytes), hb(bytes);
	if (cudaMemcpy(ha.data(), a, bytes, cudaMemcpyDeviceToHost) != cudaSuccess ||
	    cudaMemcpy(hb.data(), b, bytes, cudaMemcpyDeviceToHost) != cudaSuccess)
		return bytes ? bytes : 1;
	size_t bad = 0;
	for (size_t i = 0; i < bytes; i++) bad += ha[i] != hb[i];
	return bad;
}

/* launch(i, stream) for i < launches, captured in one CUDA graph (no launch gaps from
 * the host) and replayed 23 times: the median replay's time a launch, in microseconds
 * (-1 when a launch or the graph fails). */
template <typename F>
static double graph_us_per_launch(int launches, F launch)
{
	cudaStream_t s;
	cudaGraph_t graph;
	cudaGraphExec_t exec;
	if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) return -1;
	cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
	bool ok = true;
	for (int i = 0; i < launches; i++) ok = ok && launch(i, s) == cudaSuccess;
	if (cudaStreamEndCapture(s, &graph) != cudaSuccess || !ok) { cudaStreamDestroy(s); return -1; }
	if (cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) { cudaGraphDestroy(graph); cudaStreamDestroy(s); return -1; }
	cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
	std::vector<float> ms;
	for (int r = 0; r < 23; r++) {
		cudaEventRecord(e0, s); cudaGraphLaunch(exec, s); cudaEventRecord(e1, s); cudaEventSynchronize(e1);
		float m; cudaEventElapsedTime(&m, e0, e1); if (r >= 3) ms.push_back(m);
	}
	std::sort(ms.begin(), ms.end());
	cudaEventDestroy(e0); cudaEventDestroy(e1);
	cudaGraphExecDestroy(exec); cudaGraphDestroy(graph); cudaStreamDestroy(s);
	return cudaGetLastError() == cudaSuccess ? ms[ms.size() / 2] * 1e3 / launches : -1;
}

#endif
