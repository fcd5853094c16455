/*
 * model_path.h - from what the user typed (-m, $LLMCHAT_MODEL) to a model folder.
 *
 * A path to a folder is taken as it is; a path to anything else is refused saying what
 * it is (a file, permission denied).  Otherwise "ORG/NAME[@REVISION]" is looked up in the
 * Hugging Face cache: $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub,
 * where HF_HOME defaults to $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface;
 * then models--ORG--NAME/refs/REVISION (main by default; a commit hash) and
 * snapshots/<hash>/, or snapshots/REVISION when REVISION is a hash and no ref.
 */
#ifndef LLMCHAT_MODEL_PATH_H
#define LLMCHAT_MODEL_PATH_H

#include <stddef.h>

/* Resolves arg (NULL: $LLMCHAT_MODEL) into a malloc'd folder path in *out.
 * Returns 0, or -1 with a message naming the cause, and for a model not in the
 * cache the `hf download` command that gets it. */
int model_path_resolve(const char *arg, char **out, char *err, size_t err_size);

#endif
