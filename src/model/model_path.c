/*
 * model_path.c - resolves -m / $LLMCHAT_MODEL into a model folder.
 *
 * A path that exists is taken when it is a folder llmchat may read, and otherwise refused
 * by what it is (a file, a FIFO, a folder without permission).  A path that does not
 * exist and reads as ORG/NAME[@REVISION] is looked up in the Hugging Face cache the way
 * huggingface_hub lays it out (constants.py, try_to_load_from_cache):
 *   HUB = $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (its legacy name), else
 *         $HF_HOME/hub, where HF_HOME defaults to $XDG_CACHE_HOME/huggingface and that
 *         to ~/.cache/huggingface (a leading ~ is the home folder, as expanduser does);
 *   HUB/models--ORG--NAME/refs/REVISION (REVISION defaults to main) holds a commit hash;
 *         a REVISION with no ref of that name is taken as the commit hash itself;
 *   HUB/models--ORG--NAME/snapshots/<hash>/ holds the files, as symlinks into blobs/,
 *         which open() follows.
 * An empty variable counts as unset.  Every message names the path and the real cause.
 */
#include "model_path.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"

#define DOWNLOAD_HINT "hf download"   /* huggingface_hub's CLI; huggingface-cli is its old name */

/* A set, non-empty environment variable, or NULL. */
static const char *env_value(const char *name)
{
	const char *value = getenv(name);
	return value && *value ? value : NULL;
}

/* VALUE with a leading "~" or "~/" replaced by $HOME, followed by SUFFIX, into out. */
static void path_expand(const char *value, const char *suffix, char *out, size_t out_size)
{
	const char *home = env_value("HOME");
	if (home && value[0] == '~' && (value[1] == '/' || value[1] == '\0'))
		snprintf(out, out_size, "%s%s%s", home, value + 1, suffix);
	else
		snprintf(out, out_size, "%s%s", value, suffix);
}

/* The hub folder of the Hugging Face cache, by huggingface_hub's order of precedence. */
static void hf_hub_dir(char *out, size_t out_size)
{
	const char *value;
	if ((value = env_value("HF_HUB_CACHE")) || (value = env_value("HUGGINGFACE_HUB_CACHE")))
		path_expand(value, "", out, out_size);
	else if ((value = env_value("HF_HOME")))
		path_expand(value, "/hub", out, out_size);
	else if ((value = env_value("XDG_CACHE_HOME")))
		path_expand(value, "/huggingface/hub", out, out_size);
	else
		path_expand("~", "/.cache/huggingface/hub", out, out_size);
}

/* ORG/NAME[@REVISION] split into its parts.  ORG and NAME: one slash, neither empty, no
 * "..", no '@' (Hugging Face repo names have none).  REVISION: a branch, tag or commit
 * hash; a branch may hold slashes (refs/pr/1) but no ".." part. */
struct repo_ref {
	char id[256];           /* ORG/NAME */
	char cache_name[300];   /* models--ORG--NAME */
	char revision[256];     /* "main" unless given */
	bool revision_given;
};

static bool has_dot_dot(const char *text)
{
	for (const char *p = strstr(text, ".."); p; p = strstr(p + 1, ".."))
		if ((p == text || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
			return true;
	return false;
}

static bool repo_ref_parse(const char *arg, struct repo_ref *ref)
{
	const char *at = strchr(arg, '@');
	size_t id_length = at ? (size_t)(at - arg) : strlen(arg);
	if (id_length >= sizeof ref->id)
		return false;
	memcpy(ref->id, arg, id_length);
	ref->id[id_length] = '\0';
	const char *slash = strchr(ref->id, '/');
	if (!slash || slash == ref->id || !slash[1] || strchr(slash + 1, '/') || strstr(ref->id, ".."))
		return false;
	snprintf(ref->cache_name, sizeof ref->cache_name, "models--%.*s--%s", (int)(slash - ref->id), ref->id,
		 slash + 1);
	ref->revision_given = at != NULL;
	const char *revision = at ? at + 1 : "main";
	if (!*revision || *revision == '/' || strlen(revision) >= sizeof ref->revision || has_dot_dot(revision))
		return false;
	snprintf(ref->revision, sizeof ref->revision, "%s", revision);
	return true;
}

/* The download advice for REF, with --revision when one was asked for. */
static void download_hint(const struct repo_ref *ref, char *out, size_t out_size)
{
	if (ref->revision_given)
		snprintf(out, out_size, DOWNLOAD_HINT " %s --revision %s", ref->id, ref->revision);
	else
		snprintf(out, out_size, DOWNLOAD_HINT " %s", ref->id);
}

/* PATH must be a folder llmchat can list and open files in.  WHAT names it in messages
 * ("model folder", "cache snapshot"); ADVICE follows when it is no folder. */
static int check_folder(const char *path, const char *what, const char *advice, char *err, size_t err_size)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, err_size, "%s '%s': %s", what, path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "'%s' is %s, not a %s%s", path,
			 S_ISREG(st.st_mode) ? "a file" : file_type_name(st.st_mode), what, advice);
		return -1;
	}
	if (access(path, R_OK | X_OK) != 0) {
		snprintf(err, err_size, "%s '%s': %s (llmchat needs to read it)", what, path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The commit hash REF names: refs/REVISION's content, or REVISION itself when no such
 * ref exists and it was given (a hash); without a ref, the default main is an error. */
static int resolve_revision(const char *repo_dir, const struct repo_ref *ref, char *hash, size_t hash_size,
			    char *err, size_t err_size)
{
	char ref_path[4700], *text = NULL, hint[600];
	size_t length = 0;
	bool missing = false;
	snprintf(ref_path, sizeof ref_path, "%s/refs/%s", repo_dir, ref->revision);
	if (file_read_all(ref_path, 4096, &text, &length, &missing, err, err_size) != 0) {
		if (!missing)
			return -1;   /* err names the file and the cause (permission, a directory, ...) */
		if (!ref->revision_given) {
			download_hint(ref, hint, sizeof hint);
			snprintf(err, err_size, "%s: no refs/main in the cache; download the model again: %s", repo_dir, hint);
			return -1;
		}
		snprintf(hash, hash_size, "%s", ref->revision);
	} else {
		text[strcspn(text, "\r\n \t")] = '\0';
		snprintf(hash, hash_size, "%s", text);
		free(text);
	}
	if (!hash[0] || strchr(hash, '/') || strcmp(hash, ".") == 0 || strcmp(hash, "..") == 0) {
		snprintf(err, err_size, "%s: refs/%s does not hold a revision", repo_dir, ref->revision);
		return -1;
	}
	return 0;
}

static int resolve_in_cache(const struct repo_ref *ref, char **out, char *err, size_t err_size)
{
	char hub[4096], repo_dir[4400], hash[256], snapshot[4800], hint[600];
	struct stat st;
	hf_hub_dir(hub, sizeof hub);
	snprintf(repo_dir, sizeof repo_dir, "%s/%s", hub, ref->cache_name);
	download_hint(ref, hint, sizeof hint);
	if (stat(repo_dir, &st) != 0 && errno == ENOENT) {
		snprintf(err, err_size, "model '%s' is neither a folder nor in the Hugging Face cache (%s); "
			 "download it with: %s", ref->id, hub, hint);
		return -1;
	}
	if (check_folder(repo_dir, "cache folder", "", err, err_size) != 0 ||
	    resolve_revision(repo_dir, ref, hash, sizeof hash, err, err_size) != 0)
		return -1;
	snprintf(snapshot, sizeof snapshot, "%s/snapshots/%s", repo_dir, hash);
	if (stat(snapshot, &st) != 0 && errno == ENOENT) {
		if (ref->revision_given && strcmp(hash, ref->revision) == 0)
			snprintf(err, err_size, "%s: revision %s is neither a ref nor a snapshot in the cache (%s); "
				 "download it with: %s", ref->id, ref->revision, repo_dir, hint);
		else
			snprintf(err, err_size, "%s: snapshot %s (refs/%s) is missing from the cache; download it with: %s",
				 ref->id, hash, ref->revision, hint);
		return -1;
	}
	if (check_folder(snapshot, "cache snapshot", "", err, err_size) != 0)
		return -1;
	*out = strdup(snapshot);
	if (!*out) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

int model_path_resolve(const char *arg, char **out, char *err, size_t err_size)
{
	*out = NULL;
	if (!arg || !*arg)
		arg = getenv("LLMCHAT_MODEL");
	if (!arg || !*arg) {
		snprintf(err, err_size,
			 "no model given: use -m DIR (a Hugging Face model folder) or set LLMCHAT_MODEL; "
			 "get one with e.g. " DOWNLOAD_HINT " neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8");
		return -1;
	}
	struct stat st;
	if (stat(arg, &st) == 0 || errno != ENOENT) {
		/* it exists (or cannot be reached): a path, whatever it looks like */
		if (check_folder(arg, "model folder", ": -m takes the folder that holds config.json and the weights",
				 err, err_size) != 0)
			return -1;
		*out = strdup(arg);
		if (!*out) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		return 0;
	}
	struct repo_ref ref;
	if (repo_ref_parse(arg, &ref))
		return resolve_in_cache(&ref, out, err, err_size);
	snprintf(err, err_size, "model folder '%s' does not exist", arg);
	return -1;
}
