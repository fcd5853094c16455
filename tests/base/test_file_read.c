/*
 * test_file_read.c - the rules for files read whole (src/base/file_read.c): FIFOs and
 * directories refused at once by name, a size limit that holds even for files that
 * report no size (/dev/zero), any number JSON allows, and errors that name the file,
 * the line and the reason.
 */
#include "file_read.h"
#include "scratch.h"
#include "tap.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_regular_and_missing(const char *dir)
{
	char path[4096], err[512], *data;
	size_t len;
	bool missing;
	scratch_write(dir, "hello.txt", "hello", 5);
	snprintf(path, sizeof path, "%s/hello.txt", dir);
	tap_ok(file_read_all(path, 100, &data, &len, &missing, err, sizeof err) == 0 && len == 5 &&
		       strcmp(data, "hello") == 0,
	       "a regular file is read whole and NUL-terminated");
	free(data);
	tap_ok(file_read_all(path, 4, &data, &len, &missing, err, sizeof err) != 0 && strstr(err, "hello.txt") &&
		       strstr(err, "more than the 4 bytes"),
	       "a file over the limit is refused, naming the file and the limit (%s)", err);
	snprintf(path, sizeof path, "%s/absent.json", dir);
	tap_ok(file_read_all(path, 100, &data, &len, &missing, err, sizeof err) != 0 && missing,
	       "a missing file says so through *missing");
}

/* file_read_all as scratch_run_unprivileged calls it */
static int read_whole(void *path, char *err, size_t err_size)
{
	char *data;
	size_t len;
	int rc = file_read_all(path, 100, &data, &len, NULL, err, err_size);
	if (rc == 0)
		free(data);
	return rc;
}

static void test_not_regular(const char *dir)
{
	char path[4096], err[512], *data;
	size_t len;
	bool missing;
	snprintf(path, sizeof path, "%s/fifo.json", dir);
	tap_ok(mkfifo(path, 0600) == 0, "made a FIFO");
	alarm(10); /* a regression hangs here: make it fail instead */
	tap_ok(file_read_all(path, 100, &data, &len, &missing, err, sizeof err) != 0 && strstr(err, "is a FIFO") &&
		       !missing,
	       "a FIFO is refused at once, by name (%s)", err);
	tap_ok(json_read_file(path, 100, NULL, err, sizeof err) == NULL && strstr(err, "is a FIFO"),
	       "json_read_file refuses a FIFO too");
	alarm(0);
	tap_ok(file_read_all(dir, 100, &data, &len, &missing, err, sizeof err) != 0 && strstr(err, "is a directory"),
	       "a directory is refused as a directory (%s)", err);
	snprintf(path, sizeof path, "%s/zero", dir);
	if (symlink("/dev/zero", path) == 0)
		tap_ok(file_read_all(path, FILE_LIMIT_SMALL, &data, &len, &missing, err, sizeof err) != 0 &&
			       strstr(err, "character device"),
		       "a symlink to /dev/zero is refused, not read without end (%s)", err);
	scratch_write(dir, "secret.json", "{}", 2);
	snprintf(path, sizeof path, "%s/secret.json", dir);
	chmod(path, 0);
	err[0] = '\0';
	int rc = scratch_run_unprivileged(read_whole, path, err, sizeof err);
	if (rc == -2)
		tap_skip("an unreadable file: %s", err);
	else
		tap_ok(rc == -1 && strstr(err, "Permission denied"),
		       "an unreadable file says permission, to a user permissions apply to (%s)", err);
}

static void test_json(const char *dir)
{
	char path[4096], err[512];
	const char *config = "{\n  \"bos_token_id\": 128000,\n"
			     "  \"model_max_length\": 1000000000000000019884624838656,\n"
			     "  \"ratio\": 0.5\n}\n";
	scratch_write(dir, "tokenizer_config.json", config, strlen(config));
	snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
	json_t *root = json_read_file(path, FILE_LIMIT_SMALL, NULL, err, sizeof err);
	tap_ok(root != NULL, "an integer past 64 bits (Meta's model_max_length) is read (%s)", root ? "" : err);
	long long value = 0;
	tap_ok(root && json_get_int64(json_object_get(root, "bos_token_id"), &value) && value == 128000,
	       "an ordinary integer is still an integer");
	tap_ok(root && !json_get_int64(json_object_get(root, "model_max_length"), &value),
	       "1e30 is no 64-bit integer");
	tap_ok(root && !json_get_int64(json_object_get(root, "ratio"), &value), "0.5 is no integer");
	json_decref(root);

	const char *broken = "{\n  \"a\": 1,\n  \"b\": [1, 2,\n}\n";
	scratch_write(dir, "config.json", broken, strlen(broken));
	snprintf(path, sizeof path, "%s/config.json", dir);
	root = json_read_file(path, FILE_LIMIT_SMALL, NULL, err, sizeof err);
	tap_ok(!root && strstr(err, "config.json") && strstr(err, "line 4"),
	       "broken JSON names the file and the line (%s)", err);
	const char *twice = "{\"a\": 1, \"a\": 2}";
	scratch_write(dir, "twice.json", twice, strlen(twice));
	snprintf(path, sizeof path, "%s/twice.json", dir);
	root = json_read_file(path, FILE_LIMIT_SMALL, NULL, err, sizeof err);
	tap_ok(!root && strstr(err, "duplicate"), "a duplicate key is refused (%s)", err);
}

int main(void)
{
	char dir[4096];
	if (scratch_create(dir, sizeof dir) != 0) {
		printf("Bail out! no scratch folder\n");
		return 1;
	}
	test_regular_and_missing(dir);
	test_not_regular(dir);
	test_json(dir);
	scratch_remove(dir);
	return tap_done();
}
