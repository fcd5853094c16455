/*
 * model_dummy.c - a model with the shapes of a config.json and no weights on the host,
 * for benchmarks at real sizes without the files (as vLLM's --load-format dummy):
 * the CUDA backend fills every NULL weight with random values on the GPU.
 *
 * The weight format follows the config's quantization block: FP8 (compressed-tensors
 * float-quantized or AutoFP8: e4m3 weights, per-tensor static scales), INT8
 * (int-quantized: per-channel weight scales, dynamic per-token activations), else BF16.
 */
#include "model.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static float *filled(int64_t count, float value)
{
	float *v = malloc((size_t)(count > 0 ? count : 1) * sizeof *v);
	for (int64_t i = 0; v && i < count; i++)
		v[i] = value;
	return v;
}

static int dummy_linear(const struct model_config *c, int64_t out, int64_t in, struct linear *l)
{
	memset(l, 0, sizeof *l);
	l->out_features = out;
	l->in_features = in;
	switch (c->format) {
	case WEIGHT_FORMAT_FP8:
		l->weight_dtype = DTYPE_F8_E4M3;
		l->activation = ACTIVATION_FP8_STATIC;
		l->input_scale = 0.05f;
		l->weight_scale_count = 1;
		l->weight_scale = filled(1, 0.002f);
		return l->weight_scale ? 0 : -1;
	case WEIGHT_FORMAT_INT8:
		l->weight_dtype = DTYPE_I8;
		l->activation = ACTIVATION_INT8_DYNAMIC;
		l->weight_scale_count = out;
		l->weight_scale = filled(out, 0.0005f);
		return l->weight_scale ? 0 : -1;
	default:
		l->weight_dtype = DTYPE_BF16;
		l->activation = ACTIVATION_NONE;
		return 0;
	}
}

int model_open_dummy(const char *path, struct model **out, char *err, size_t err_size)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, err_size, "%s: no such config.json or folder", path);
		return -1;
	}
	char *copy = strdup(path);
	if (!copy) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	/* a folder holding config.json, or the config.json itself */
	const char *dir = S_ISDIR(st.st_mode) ? path : dirname(copy);
	struct model *m = calloc(1, sizeof *m);
	if (!m) {
		free(copy);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	int rc = model_config_load(dir, &m->config, err, err_size);
	m->dir = strdup(dir);
	free(copy);
	if (rc != 0 || !m->dir) {
		if (rc == 0)
			snprintf(err, err_size, "out of memory");
		model_close(m);
		return -1;
	}
	const struct model_config *c = &m->config;
	const char *base = strrchr(m->dir, '/');
	size_t name_size = strlen(base ? base + 1 : m->dir) + 32;
	m->name = malloc(name_size);
	m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
	if (!m->name || !m->layers)
		goto oom;
	snprintf(m->name, name_size, "%s (dummy weights)", base ? base + 1 : m->dir);
	m->dummy_weights = true;
	m->embed_dtype = DTYPE_BF16;
	const int64_t hidden = c->hidden_size, q_dim = (int64_t)c->num_attention_heads * c->head_dim,
		      kv_dim = (int64_t)c->num_key_value_heads * c->head_dim, ffn = c->intermediate_size;
	for (int i = 0; i < c->num_hidden_layers; i++) {
		struct layer_weights *w = &m->layers[i];
		w->input_layernorm = (struct norm){filled(hidden, 1.0f), hidden};
		w->post_attention_layernorm = (struct norm){filled(hidden, 1.0f), hidden};
		if (!w->input_layernorm.weight || !w->post_attention_layernorm.weight ||
		    dummy_linear(c, q_dim, hidden, &w->q_proj) || dummy_linear(c, kv_dim, hidden, &w->k_proj) ||
		    dummy_linear(c, kv_dim, hidden, &w->v_proj) || dummy_linear(c, hidden, q_dim, &w->o_proj) ||
		    dummy_linear(c, ffn, hidden, &w->gate_proj) || dummy_linear(c, ffn, hidden, &w->up_proj) ||
		    dummy_linear(c, hidden, ffn, &w->down_proj))
			goto oom;
	}
	m->norm = (struct norm){filled(hidden, 1.0f), hidden};
	if (!m->norm.weight)
		goto oom;
	m->lm_head = (struct linear){.weight_dtype = DTYPE_BF16, .out_features = c->vocab_size, .in_features = hidden};
	*out = m;
	return 0;
oom:
	snprintf(err, err_size, "out of memory");
	model_close(m);
	return -1;
}

bool model_is_dummy(const struct model *model)
{
	return model->dummy_weights;
}
