/* The research CLI's argument parsing shared by its commands: options and
 * operands in any order, integers and job ids, and the files arguments name. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "research.h"
#include "str.h"
#include "xmalloc.h"

static const struct option cli_no_options[] = { { 0 } };

/* getopt_long in "-" mode, so options and operands mix in any order even
 * under POSIXLY_CORRECT; operands are collected in cli->operands. shortopts
 * must start with "-:". Returns the option, -1 at the end, or '?' after
 * reporting a usage error. A command parses its arguments once: the first
 * call starts getopt afresh. */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
    const struct option *longopts)
{
	int c;

	if (cli->operands == NULL) {
		cli->operands = xcalloc((size_t)argc + 1, sizeof(char *));
		optind = 0;	/* glibc: 0 also resets its internal state */
		opterr = 0;
	}
	for (;;) {
		c = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (c == 1) {
			cli->operands[cli->n_operands++] = optarg;
			continue;
		}
		if (c == -1) {
			while (optind < argc)
				cli->operands[cli->n_operands++] = argv[optind++];
			return -1;
		}
		if (c == ':') {
			cli_usage_error(cli, "option '%s' needs a value", cli_arg(cli, argv[optind - 1]));
			return '?';
		}
		if (c == '?') {
			/* optopt names a short option; for a long one, the word is
			 * the clearer name (optopt may hold its value instead). */
			if (optopt > 0 && optopt < 128 && !str_startswith(argv[optind - 1], "--"))
				cli_usage_error(cli, "unknown option '-%c'", optopt);
			else
				cli_usage_error(cli, "bad option '%s'", cli_arg(cli, argv[optind - 1]));
			return '?';
		}
		return c;
	}
}

int cli_args_plain(struct cli *cli, int argc, char **argv)
{
	/* With no options to know, the only answers are the end or an error. */
	if (cli_getopt(cli, argc, argv, "-:", cli_no_options) != -1)
		return EXIT_USAGE;
	return EXIT_OK;
}

int cli_args_job(struct cli *cli, int argc, char **argv, int64_t *ret_id)
{
	int r;

	r = cli_args_plain(cli, argc, argv);
	if (r != EXIT_OK)
		return r;
	return cli_want_id(cli, ret_id);
}

json_t *cli_job_request(const char *op, int64_t id)
{
	return json_pack("{s:s, s:I}", "op", op, "job", (json_int_t)id);
}

int cli_parse_int(struct cli *cli, const char *what, const char *s, int64_t min, int64_t max,
    int64_t *ret)
{
	int r = str_to_int64(s, min, max, ret);

	if (r < 0 && max == INT64_MAX)
		return cli_usage_error(cli, "--%s: '%s' is not an integer of %lld or more",
		    what, cli_arg(cli, s), (long long)min);
	if (r < 0)
		return cli_usage_error(cli, "--%s: '%s' is not an integer from %lld to %lld",
		    what, cli_arg(cli, s), (long long)min, (long long)max);
	return EXIT_OK;
}

int cli_parse_id(struct cli *cli, const char *s, int64_t *ret)
{
	if (str_to_int64(s, 1, INT64_MAX, ret) < 0)
		return cli_usage_error(cli, "'%s' is not a job id (a positive integer)", cli_arg(cli, s));
	return EXIT_OK;
}

/* For commands that take exactly one operand, a job ID. */
int cli_want_id(struct cli *cli, int64_t *ret)
{
	if (cli->n_operands == 0)
		return cli_usage_error(cli, "missing job ID");
	if (cli->n_operands > 1)
		return cli_usage_error(cli, "unexpected argument '%s'", cli_arg(cli, cli->operands[1]));
	return cli_parse_id(cli, cli->operands[0], ret);
}

int cli_want_none(struct cli *cli)
{
	if (cli->n_operands > 0)
		return cli_usage_error(cli, "unexpected argument '%s'", cli_arg(cli, cli->operands[0]));
	return EXIT_OK;
}

/* Read a whole file, or stdin for "-", up to max bytes. */
int cli_read_input(const char *path, size_t max, char **ret, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct buf b;
	char chunk[65536];
	size_t n;
	int r = 0;

	if (f == NULL)
		return -errno;
	buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		r = buf_append(&b, chunk, n);
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	if (f != stdin)
		fclose(f);
	if (r < 0) {
		buf_free(&b);
		return r == -ENOBUFS ? -EFBIG : r;
	}
	*ret_len = b.len;
	*ret = buf_steal(&b);
	return 0;
}
