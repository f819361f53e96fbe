/* The command line every server shares (docs/contract.md, "Servers"). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <string.h>

#include "dbconn.h"
#include "opts.h"

enum {
	O_PROTO = 256, O_HOST, O_PORT, O_BACKLOG, O_THREADS, O_PROCS, O_OFFLOAD, O_REACTORS,
	O_STACK_KB, O_IDLE, O_DRAIN, O_MAX_CONNS, O_MAX_BODY, O_CPU_K, O_STATS, O_QUIET,
	O_DB, O_DB_CONNS, O_ENABLE_FAIL, O_HELP,
};

static const struct option long_opts[] = {
	{ "proto",		required_argument, NULL, O_PROTO },
	{ "host",		required_argument, NULL, O_HOST },
	{ "port",		required_argument, NULL, O_PORT },
	{ "backlog",		required_argument, NULL, O_BACKLOG },
	{ "threads",		required_argument, NULL, O_THREADS },
	{ "procs",		required_argument, NULL, O_PROCS },
	{ "offload",		required_argument, NULL, O_OFFLOAD },
	{ "reactors",		required_argument, NULL, O_REACTORS },
	{ "stack-kb",		required_argument, NULL, O_STACK_KB },
	{ "idle-timeout-ms",	required_argument, NULL, O_IDLE },
	{ "drain-timeout-ms",	required_argument, NULL, O_DRAIN },
	{ "max-conns",		required_argument, NULL, O_MAX_CONNS },
	{ "max-body",		required_argument, NULL, O_MAX_BODY },
	{ "cpu-iters-per-us",	required_argument, NULL, O_CPU_K },
	{ "stats-file",		required_argument, NULL, O_STATS },
	{ "quiet",		no_argument,	   NULL, O_QUIET },
	{ "db",			required_argument, NULL, O_DB },
	{ "db-conns",		required_argument, NULL, O_DB_CONNS },
	{ "enable-fail",	no_argument,	   NULL, O_ENABLE_FAIL },
	{ "help",		no_argument,	   NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* A decimal number in [min, max]: digits only (no sign, no spaces, no hex),
 * at most max, so an overflow is just "out of range". */
static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	if (n < min)
		return -1;
	*out = n;
	return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

struct num_opt {
	int id;
	unsigned needs;		/* OPT_* bit, 0 for the common options */
	const char *name;
	uint64_t min, max;
	const char *range;	/* for the message */
};

static const struct num_opt num_opts[] = {
	{ O_PORT,      0,            "--port",             0, 65535,           "0..65535" },
	{ O_BACKLOG,   0,            "--backlog",          1, 1000000,         "1..1000000" },
	{ O_THREADS,   OPT_THREADS,  "--threads",          1, 100000,          "1..100000" },
	{ O_PROCS,     OPT_PROCS,    "--procs",            1, 10000,           "1..10000" },
	{ O_OFFLOAD,   OPT_OFFLOAD,  "--offload",          0, 1024,            "0..1024" },
	{ O_REACTORS,  OPT_REACTORS, "--reactors",         1, 256,             "1..256" },
	{ O_STACK_KB,  OPT_STACK_KB, "--stack-kb",         16, 1048576,        "16..1048576" },
	{ O_IDLE,      0,            "--idle-timeout-ms",  0, 86400000,        "0..86400000" },
	{ O_DRAIN,     0,            "--drain-timeout-ms", 1, 86400000,        "1..86400000" },
	{ O_MAX_CONNS, 0,            "--max-conns",        0, 10000000,        "0..10000000" },
	{ O_MAX_BODY,  0,            "--max-body",         0, 4294967296ULL,   "0..4294967296" },
	{ O_CPU_K,     0,            "--cpu-iters-per-us", 1, 1000000,         "1..1000000" },
	{ O_DB_CONNS,  0,            "--db-conns",         1, 10000,           "1..10000" },
};

static void set_num(struct srv_opts *o, int id, uint64_t v)
{
	switch (id) {
	case O_PORT:      o->port = (int)v; break;
	case O_BACKLOG:   o->backlog = (int)v; break;
	case O_THREADS:   o->threads = (int)v; break;
	case O_PROCS:     o->procs = (int)v; break;
	case O_OFFLOAD:   o->offload = (int)v; break;
	case O_REACTORS:  o->reactors = (int)v; break;
	case O_STACK_KB:  o->stack_kb = (int)v; break;
	case O_IDLE:      o->idle_timeout_ms = (int)v; break;
	case O_DRAIN:     o->drain_timeout_ms = (int)v; break;
	case O_MAX_CONNS: o->max_conns = (int)v; break;
	case O_MAX_BODY:  o->max_body = v; break;
	case O_CPU_K:     o->cpu_iters_per_us = v; break;
	case O_DB_CONNS:  o->db_conns = (int)v; break;
	}
}

int opts_parse(struct srv_opts *o, int argc, char **argv, unsigned supported,
	       char *err, size_t errlen)
{
	bool have_proto = false;
	int c;

	*o = (struct srv_opts){
		.proto = PROTO_HTTP,
		.host = "127.0.0.1",
		.port = 8080,
		.backlog = 4096,
		.threads = 64,
		.procs = 64,
		.offload = 0,
		.reactors = 1,
		.stack_kb = 0,
		.idle_timeout_ms = 10000,
		.drain_timeout_ms = 15000,	/* SERVER_DRAIN_MS */
		.max_conns = 0,
		.max_body = 67108864,
		.cpu_iters_per_us = 0,
		.stats_file = NULL,
		.quiet = false,
		.db = NULL,
		.db_conns = 4,
		.enable_fail = false,
	};
	if (errlen)
		err[0] = '\0';
	optind = 0;	/* glibc: restart scanning from argv[1], every time */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", long_opts, NULL)) != -1) {
		const struct num_opt *no = NULL;

		for (size_t i = 0; i < sizeof num_opts / sizeof num_opts[0]; i++)
			if (num_opts[i].id == c)
				no = &num_opts[i];
		if (no) {
			uint64_t v;
			if (no->needs && !(supported & no->needs))
				return fail(err, errlen, "%s is not supported by this model",
					    no->name);
			if (parse_num(optarg, no->min, no->max, &v) < 0)
				return fail(err, errlen, "%s: expected an integer %s, got '%s'",
					    no->name, no->range, optarg);
			set_num(o, c, v);
			continue;
		}
		switch (c) {
		case O_PROTO:
			if (strcmp(optarg, "http") == 0)
				o->proto = PROTO_HTTP;
			else if (strcmp(optarg, "echo") == 0)
				o->proto = PROTO_ECHO;
			else
				return fail(err, errlen, "--proto: expected echo or http, got '%s'", optarg);
			have_proto = true;
			break;
		case O_HOST: {
			unsigned char a[16];
			if (inet_pton(AF_INET, optarg, a) != 1 &&
			    inet_pton(AF_INET6, optarg, a) != 1)
				return fail(err, errlen, "--host: '%s' is not a numeric IP address",
					    optarg);
			o->host = optarg;
			break;
		}
		case O_STATS:
			if (!*optarg)
				return fail(err, errlen, "--stats-file: empty path");
			o->stats_file = optarg;
			break;
		case O_QUIET:
			o->quiet = true;
			break;
		case O_DB: {
			char why[200];
			if (!*optarg)
				return fail(err, errlen, "--db: empty URI");
			if (dbconn_check(optarg, why, sizeof why) < 0)
				return fail(err, errlen, "--db: %s", why);
			o->db = optarg;
			break;
		}
		case O_ENABLE_FAIL:
			o->enable_fail = true;
			break;
		case 'h':
		case O_HELP:
			return 1;
		case ':':
			return fail(err, errlen, "option %s needs a value", argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (!have_proto)
		return fail(err, errlen, "--proto echo|http is required");
	return 0;
}

void opts_usage(FILE *f, const char *prog, unsigned supported)
{
	fprintf(f, "usage: %s --proto echo|http [--host 127.0.0.1] [--port 8080] [--backlog 4096]\n",
		prog);
	fprintf(f, "       ");
	if (supported & OPT_THREADS)
		fprintf(f, "[--threads 64] ");
	if (supported & OPT_PROCS)
		fprintf(f, "[--procs 64] ");
	if (supported & OPT_OFFLOAD)
		fprintf(f, "[--offload 0] ");
	if (supported & OPT_REACTORS)
		fprintf(f, "[--reactors 1] ");
	if (supported & OPT_STACK_KB)
		fprintf(f, "[--stack-kb K] ");
	fprintf(f, "[--idle-timeout-ms 10000] [--drain-timeout-ms 15000]\n"
		"       [--max-conns 0] [--max-body 67108864] [--cpu-iters-per-us K]\n"
		"       [--stats-file PATH] [--quiet] [--db URI] [--db-conns 4] [--enable-fail]\n"
		"\n"
		"  --proto            echo: every byte back; http: the loopbench routes\n"
		"  --host, --port     address to listen on (--port 0: an ephemeral port)\n"
		"  --backlog          listen backlog\n");
	if (supported & OPT_THREADS)
		fprintf(f, "  --threads          worker threads, each owning a connection until it closes\n");
	if (supported & OPT_PROCS)
		fprintf(f, "  --procs            worker processes, each owning a connection until it closes\n");
	if (supported & OPT_OFFLOAD)
		fprintf(f, "  --offload          worker threads for /cpu and /block (0: run them on the loop)\n");
	if (supported & OPT_REACTORS)
		fprintf(f, "  --reactors         event loops, each in its own thread with its own listener\n");
	if (supported & OPT_STACK_KB)
		fprintf(f, "  --stack-kb         thread stack size in KiB (default: the system's)\n");
	fprintf(f,
		"  --idle-timeout-ms  close connections idle this long (0: never)\n"
		"  --drain-timeout-ms at SIGTERM, wait this long for requests in progress, then exit 1\n"
		"  --max-conns        stop accepting at this many open connections (0: no limit)\n"
		"  --max-body         largest request body accepted (413 beyond)\n"
		"  --cpu-iters-per-us work units per microsecond of /cpu (default: calibrate)\n"
		"  --stats-file       write the stats JSON here at exit (default: stderr)\n"
		"  --quiet            no informational messages\n"
		"  --db               PostgreSQL for /db and /queries (postgresql://...; without\n"
		"                     it they answer 503)\n"
		"  --db-conns         database connections per process%s\n"
		"  --enable-fail      answer GET /fail?kind=error|crash (a failing handler; else 404)\n",
		(supported & OPT_REACTORS) ? ", split across the loops" : "");
}
