/*
 * rope.c - RoPE's inverse frequencies, shared by the CPU and CUDA backends so that
 * both rotate by the same float32 angles.
 */
#include "rope.h"

#include <math.h>

/* transformers' default inverse frequencies, then its llama3 scaling, in float32
 * as torch computes them (python scalars enter float32 operations as floats). */
void rope_inverse_frequencies(const struct model_config *c, float *inv_freq)
{
	int dim = c->head_dim;
	for (int i = 0; i < dim / 2; i++) {
		float exponent = (float)(2 * i) / (float)dim;
		float inv = 1.0f / powf((float)c->rope_theta, exponent);
		if (c->rope_llama3) {
			float factor = (float)c->rope_factor;
			float low = (float)c->rope_low_freq_factor, high = (float)c->rope_high_freq_factor;
			float old_context = (float)c->rope_original_max_position_embeddings;
			float low_freq_wavelen = old_context / low;
			float high_freq_wavelen = old_context / high;
			float wavelen = (float)(2 * M_PI) / inv;
			float scaled = wavelen > low_freq_wavelen ? inv / factor : inv;
			if (!(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen)) {
				float smooth = (old_context / wavelen - low) / (high - low);
				scaled = (1 - smooth) * scaled / factor + smooth * scaled;
			}
			inv = scaled;
		}
		inv_freq[i] = inv;
	}
}

