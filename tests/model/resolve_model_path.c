/*
 * resolve_model_path.c - prints what model_path_resolve makes of its argument, for
 * tests/model/model_path.sh: the folder on stdout and exit 0, or the message on stderr and
 * exit 1.  No argument means $LLMCHAT_MODEL, as in llmchat.
 */
#include <stdio.h>
#include <stdlib.h>

#include "model_path.h"

int main(int argc, char **argv)
{
	char err[1024], *path = NULL;
	if (model_path_resolve(argc > 1 ? argv[1] : NULL, &path, err, sizeof err) != 0) {
		fprintf(stderr, "llmchat: %s\n", err);
		return 1;
	}
	printf("%s\n", path);
	free(path);
	return 0;
}
