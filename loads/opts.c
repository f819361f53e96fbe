#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char opts_usage[] =
"usage: loadgen --proto echo|http --target HOST:PORT [--path P | --mix 'P1:W1,P2:W2']\n"
"               -c CONNS [-t THREADS] (-d SECONDS | -n REQUESTS) [--rate RPS]\n"
"               [--pipeline N] [--size BYTES] [--close] [--warmup SECONDS]\n"
"               [--timeout-ms 5000] [--json FILE] [--timeline FILE] [--quiet]\n"
"               [--allow-remote] [--start-at UNIX_TIME]\n"
"\n"
"  --proto echo|http   protocol (required)\n"
"  --target HOST:PORT  server: 127.0.0.0/8, localhost or [::1] (required)\n"
"  --path P            HTTP path to GET (default /)\n"
"  --mix 'P:W,...'     weighted mix of paths, dealt from a shuffled deck\n"
"  -c, --conns N       connections (required)\n"
"  -t, --threads N     load threads, one event loop each (default 1)\n"
"  -d, --duration S    measured window in seconds (or -n)\n"
"  -n, --requests N    measured window of N requests (or -d)\n"
"  --rate RPS          open loop at RPS requests/s over all connections\n"
"                      (default: closed loop)\n"
"  --pipeline N        up to N requests outstanding per connection (default 1)\n"
"  --size BYTES        echo message size, K/M suffixes allowed (default 64)\n"
"  --close             a new connection for every request\n"
"  --warmup S          seconds of load before the window, counted apart (default 0)\n"
"  --timeout-ms MS     per request and per connect, and the drain (default 5000)\n"
"  --json FILE         write the full result as JSON\n"
"  --timeline FILE     write one CSV row per second of the window\n"
"  --quiet             no summary on stdout\n"
"  --allow-remote      allow a target outside 127.0.0.0/8 and ::1\n"
"  --start-at T        once connected, start the load at T (seconds since the\n"
"                      epoch), so several generators run the same window\n"
"  -h, --help          this text\n";

enum {
	OPT_PROTO = 256, OPT_TARGET, OPT_PATH, OPT_MIX, OPT_RATE, OPT_PIPELINE, OPT_SIZE,
	OPT_CLOSE, OPT_WARMUP, OPT_TIMEOUT, OPT_JSON, OPT_TIMELINE, OPT_QUIET, OPT_REMOTE,
	OPT_START_AT,
};

static const struct option long_opts[] = {
	{ "proto", required_argument, NULL, OPT_PROTO },
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "mix", required_argument, NULL, OPT_MIX },
	{ "conns", required_argument, NULL, 'c' },
	{ "threads", required_argument, NULL, 't' },
	{ "duration", required_argument, NULL, 'd' },
	{ "requests", required_argument, NULL, 'n' },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "pipeline", required_argument, NULL, OPT_PIPELINE },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "close", no_argument, NULL, OPT_CLOSE },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "timeout-ms", required_argument, NULL, OPT_TIMEOUT },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "timeline", required_argument, NULL, OPT_TIMELINE },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "allow-remote", no_argument, NULL, OPT_REMOTE },
	{ "start-at", required_argument, NULL, OPT_START_AT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A whole-string unsigned integer in [lo, hi], with an optional binary K/M/G suffix
 * when `suffixes` is set. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, int suffixes, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (suffixes && *end) {
		switch (*end) {
		case 'k': case 'K': mult = 1ull << 10; break;
		case 'm': case 'M': mult = 1ull << 20; break;
		case 'g': case 'G': mult = 1ull << 30; break;
		default: return -1;
		}
		end++;
	}
	if (*end || (v && mult > UINT64_MAX / v))
		return -1;
	v *= mult;
	if (v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* A finite decimal in [lo, hi]; a trailing 's' is allowed when `secs` is set. */
static int parse_double(const char *s, double lo, double hi, int secs, double *out)
{
	char *end;
	double v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v))
		return -1;
	if (secs && *end == 's')
		end++;
	if (*end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* A path we can put on a request line: starts with '/', visible ASCII only. */
static int valid_path(const char *p)
{
	if (*p != '/' || strlen(p) > 4096)
		return 0;
	for (; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return 0;
	return 1;
}

static int parse_mix(struct lg_opts *o, char *spec, char *err, size_t errlen)
{
	char *save = NULL;

	o->npaths = 0;
	for (char *item = strtok_r(spec, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(item, ':');
		uint64_t w;

		if (!colon)
			return fail(err, errlen, "--mix: '%s' is not PATH:WEIGHT", item);
		*colon = '\0';
		if (!valid_path(item))
			return fail(err, errlen, "--mix: bad path '%s' (must start with '/', no spaces)", item);
		if (parse_u64(colon + 1, 1, 1000000, 0, &w))
			return fail(err, errlen, "--mix: bad weight '%s' for %s (1..1000000)", colon + 1, item);
		if (o->npaths == LG_MAX_PATHS)
			return fail(err, errlen, "--mix: at most %d paths", LG_MAX_PATHS);
		for (unsigned i = 0; i < o->npaths; i++)
			if (!strcmp(o->paths[i].path, item))
				return fail(err, errlen, "--mix: path %s given twice", item);
		o->paths[o->npaths].path = item;
		o->paths[o->npaths].weight = (uint32_t)w;
		o->npaths++;
	}
	if (!o->npaths)
		return fail(err, errlen, "--mix: empty");
	return 0;
}

static void set_defaults(struct lg_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->proto = LG_HTTP;
	o->threads = 1;
	o->pipeline = 1;
	o->size = 64;
	o->timeout_ms = 5000;
	o->npaths = 1;
	o->paths[0].path = (char *)"/";
	o->paths[0].weight = 1;
}

int opts_parse(struct lg_opts *o, int argc, char **argv, char *err, size_t errlen)
{
	int opt, have_proto = 0, have_conns = 0, have_path = 0, have_size = 0;
	const char *mix = NULL;
	uint64_t u;

	set_defaults(o);
	if (errlen)
		err[0] = '\0';
	optind = 0;	/* glibc: rescan from scratch, so tests can parse many times */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:t:d:n:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PROTO:
			if (!strcmp(optarg, "http"))
				o->proto = LG_HTTP;
			else if (!strcmp(optarg, "echo"))
				o->proto = LG_ECHO;
			else
				return fail(err, errlen, "--proto must be echo or http, not '%s'", optarg);
			have_proto = 1;
			break;
		case OPT_TARGET:
			o->target = optarg;
			break;
		case OPT_PATH:
			if (!valid_path(optarg))
				return fail(err, errlen, "--path '%s': must start with '/' and contain no spaces", optarg);
			o->paths[0].path = optarg;
			have_path = 1;
			break;
		case OPT_MIX:
			mix = optarg;
			break;
		case 'c':
			if (parse_u64(optarg, 1, LG_MAX_CONNS, 0, &u))
				return fail(err, errlen, "-c '%s': want 1..%d connections", optarg, LG_MAX_CONNS);
			o->conns = (unsigned)u;
			have_conns = 1;
			break;
		case 't':
			if (parse_u64(optarg, 1, LG_MAX_THREADS, 0, &u))
				return fail(err, errlen, "-t '%s': want 1..%d threads", optarg, LG_MAX_THREADS);
			o->threads = (unsigned)u;
			break;
		case 'd':
			if (parse_double(optarg, 0.001, 1e7, 1, &o->duration_s))
				return fail(err, errlen, "-d '%s': want seconds, 0.001..10000000", optarg);
			break;
		case 'n':
			if (parse_u64(optarg, 1, UINT64_MAX / 2, 0, &o->nrequests))
				return fail(err, errlen, "-n '%s': want a positive number of requests", optarg);
			break;
		case OPT_RATE:
			if (parse_double(optarg, 0.001, 1e9, 0, &o->rate))
				return fail(err, errlen, "--rate '%s': want requests/s, 0.001..1000000000", optarg);
			break;
		case OPT_PIPELINE:
			if (parse_u64(optarg, 1, LG_MAX_PIPELINE, 0, &u))
				return fail(err, errlen, "--pipeline '%s': want 1..%d", optarg, LG_MAX_PIPELINE);
			o->pipeline = (unsigned)u;
			break;
		case OPT_SIZE:
			if (parse_u64(optarg, 1, 1ull << 30, 1, &o->size))
				return fail(err, errlen, "--size '%s': want 1..1G bytes", optarg);
			have_size = 1;
			break;
		case OPT_CLOSE:
			o->close = 1;
			break;
		case OPT_WARMUP:
			if (parse_double(optarg, 0, 1e7, 1, &o->warmup_s))
				return fail(err, errlen, "--warmup '%s': want seconds >= 0", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_u64(optarg, 1, 3600000, 0, &u))
				return fail(err, errlen, "--timeout-ms '%s': want 1..3600000", optarg);
			o->timeout_ms = (unsigned)u;
			break;
		case OPT_JSON:
			o->json = optarg;
			break;
		case OPT_TIMELINE:
			o->timeline = optarg;
			break;
		case OPT_QUIET:
			o->quiet = 1;
			break;
		case OPT_REMOTE:
			o->allow_remote = 1;
			break;
		case OPT_START_AT:
			if (parse_double(optarg, 1, 1e11, 0, &o->start_at))
				return fail(err, errlen, "--start-at '%s': want seconds since the epoch", optarg);
			break;
		case 'h':
			return 1;
		case ':':
			return fail(err, errlen, "option '%s' needs a value", argv[optind - 1]);
		default:
			return fail(err, errlen, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'", argv[optind]);
	if (!have_proto)
		return fail(err, errlen, "--proto echo|http is required");
	if (!o->target)
		return fail(err, errlen, "--target HOST:PORT is required");
	if (!have_conns)
		return fail(err, errlen, "-c CONNS is required");
	if ((o->duration_s > 0) == (o->nrequests > 0))
		return fail(err, errlen, "give exactly one of -d SECONDS and -n REQUESTS");
	if (o->threads > o->conns)
		return fail(err, errlen, "-t %u is more threads than -c %u connections", o->threads, o->conns);
	if (mix && have_path)
		return fail(err, errlen, "--path and --mix exclude each other");
	if (o->proto == LG_ECHO && (mix || have_path))
		return fail(err, errlen, "--path and --mix apply to --proto http only");
	if (o->proto == LG_HTTP && have_size)
		return fail(err, errlen, "--size applies to --proto echo only");
	if (mix) {
		o->storage = strdup(mix);
		if (!o->storage)
			return fail(err, errlen, "out of memory");
		if (parse_mix(o, o->storage, err, errlen))
			return -1;
		o->mix = 1;
	}
	return 0;
}

void opts_free(struct lg_opts *o)
{
	free(o->storage);
	o->storage = NULL;
}
