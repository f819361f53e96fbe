/* The one-screen equivalence check: the same requests, good and bad, to every
 * model given on the command line, one table.
 *
 *   equivalence [--cpu-iters-per-us K] build/srv-iterative build/srv-epoll ... build/srv-node
 *
 * The first C model is the reference.  A C model's cell is "=" when its answer is
 * byte-for-byte the reference's; node's is "~" when status, Content-Type and body
 * match (status alone for malformed input: the contract's rule for node), "=" if it
 * even matches byte for byte.  Anything else is "DIFF" and the exit status is 1.
 * Every server gets the same --cpu-iters-per-us, so /cpu checksums must agree. */
#include "conf.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_MS 10000
#define MAX_MODELS 12

struct probe {
	const char *label;
	const char *req;	/* NULL: built at run time (the 431 case) */
	bool head;		/* a HEAD request: no body in the answer */
	bool malformed;		/* node is compared on status alone */
};

static const struct probe probes[] = {
	{ "GET /", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /cpu?us=1000", "GET /cpu?us=1000 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /cpu?us=12345", "GET /cpu?us=12345 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /block?us=1000", "GET /block?us=1000 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /bytes?n=16", "GET /bytes?n=16 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "POST /echo (length)", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", false, false },
	{ "POST /echo (chunked)", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false, false },
	{ "POST /echo (Expect)", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
	  false, false },
	{ "GET / HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", false, false },
	{ "GET / HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, false },
	{ "GET / Connection: close", "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", false, false },
	{ "GET /nope (404)", "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "POST / (405)", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", false, false },
	{ "GET /echo (405)", "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "HEAD / (405)", "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", true, false },
	{ "GET /cpu?us=abc (400)", "GET /cpu?us=abc HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /bytes?n=67108865", "GET /bytes?n=67108865 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "malformed: GARBAGE", "GARBAGE\r\n\r\n", false, true },
	{ "malformed: bad chunk", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
	  false, true },
	{ "malformed: no Host", "GET / HTTP/1.1\r\n\r\n", false, true },
	{ "malformed: obs-fold", "POST /echo HTTP/1.1\r\nHost: t\r\nX: y\r\n Content-Length: 5\r\n\r\nhello",
	  false, true },
	{ "malformed: CR LF CR X", "GET / HTTP/1.1\r\nHost: t\r\n\rXGET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
	  false, true },
	{ "10 KiB header (431)", NULL, false, false },
};

#define NPROBES (sizeof(probes) / sizeof(probes[0]))

struct answer {
	struct hresp r;		/* the final response (after a 100) */
	char *raw;		/* every byte received for it, 100 included */
	size_t raw_len;
	bool ok;		/* a response was read */
};

static struct answer answers[MAX_MODELS][NPROBES];

static char *big_header_request(size_t *len)
{
	char *req = malloc(16384);
	size_t n;

	if (req == NULL)
		exit(1);
	n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(req + n, 'a', 10240);
	n += 10240;
	n += (size_t)sprintf(req + n, "\r\n\r\n");
	*len = n;
	return req;
}

static void ask(int port, const struct probe *p, struct answer *a)
{
	struct hconn h;
	size_t len;
	char *big = NULL;
	const char *req = p->req;

	memset(a, 0, sizeof(*a));
	if (req == NULL)
		req = big = big_header_request(&len);
	else
		len = strlen(req);
	if (hconn_open(&h, port, IO_MS) < 0)
		goto out;
	if (cl_send_all(h.fd, req, len, IO_MS) < 0)
		goto out;
	for (;;) {
		struct hresp r;
		char *raw;

		if (hconn_read(&h, &r, p->head, IO_MS) < 0)
			goto out;
		raw = realloc(a->raw, a->raw_len + r.raw_len);
		if (raw == NULL)
			exit(1);
		memcpy(raw + a->raw_len, r.raw, r.raw_len);
		a->raw = raw;
		a->raw_len += r.raw_len;
		if (r.status != 100) {
			a->r = r;
			a->ok = true;
			break;
		}
		hresp_free(&r);
	}
out:
	hconn_close(&h);
	free(big);
}

static bool loose_equal(const struct answer *a, const struct answer *ref, bool malformed)
{
	if (a->r.status != ref->r.status)
		return false;
	if (malformed)
		return true;
	return strcmp(a->r.ctype, ref->r.ctype) == 0 && a->r.body_len == ref->r.body_len &&
	       memcmp(a->r.body, ref->r.body, a->r.body_len) == 0;
}

static const char *model_name(const char *bin)
{
	const char *b = strrchr(bin, '/');

	b = b ? b + 1 : bin;
	return strncmp(b, "srv-", 4) == 0 ? b + 4 : b;
}

int main(int argc, char **argv)
{
	const char *bins[MAX_MODELS], *k = "100";
	int nbins = 0, ref = -1, diffs = 0;

	signal(SIGPIPE, SIG_IGN);
	atexit(child_stop_all);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cpu-iters-per-us") == 0 && i + 1 < argc)
			k = argv[++i];
		else if (argv[i][0] == '-' || nbins == MAX_MODELS) {
			fprintf(stderr, "usage: equivalence [--cpu-iters-per-us K] SERVER...\n");
			return 2;
		} else
			bins[nbins++] = argv[i];
	}
	if (nbins == 0) {
		fprintf(stderr, "usage: equivalence [--cpu-iters-per-us K] SERVER...\n");
		return 2;
	}
	for (int m = 0; m < nbins; m++) {
		const char *args[] = { "--proto", "http", "--cpu-iters-per-us", k, NULL };
		struct child c;

		if (ref < 0 && strcmp(model_name(bins[m]), "node") != 0)
			ref = m;
		if (child_start(&c, bins[m], args, 20000) < 0) {
			fprintf(stderr, "equivalence: %s does not start\n", bins[m]);
			continue;
		}
		for (size_t p = 0; p < NPROBES; p++)
			ask(c.port, &probes[p], &answers[m][p]);
		if (child_stop(&c, 20000) != 0)
			fprintf(stderr, "equivalence: %s did not exit 0 after SIGTERM\n", bins[m]);
	}
	if (ref < 0)
		ref = 0;

	printf("Equivalence: the same %zu requests to every model (--cpu-iters-per-us %s).\n", NPROBES, k);
	printf("Reference: %s.  '=' byte-for-byte identical, '~' same status, Content-Type and body\n"
	       "(node; status alone for malformed input), DIFF otherwise, '-' no answer.\n\n",
	       model_name(bins[ref]));
	printf("%-26s %-14s", "request", "reference");
	for (int m = 0; m < nbins; m++)
		printf(" %-9.9s", model_name(bins[m]));
	printf("\n");
	for (size_t p = 0; p < NPROBES; p++) {
		const struct answer *ra = &answers[ref][p];
		char what[32];

		if (!ra->ok)
			snprintf(what, sizeof(what), "no answer");
		else if (strncmp(probes[p].label, "GET /cpu?us=", 12) == 0 && ra->r.status == 200) {
			/* The checksum must also be the contract's FNV-1a of N x K. */
			char sum[16];

			snprintf(sum, sizeof(sum), "%08x",
				 fnv_units(strtoull(probes[p].label + 12, NULL, 10) * strtoull(k, NULL, 10)));
			if (ra->r.body_len != 8 || memcmp(ra->r.body, sum, 8) != 0) {
				printf("(reference checksum %.8s is not FNV-1a's %s)\n", ra->r.body, sum);
				diffs++;
			}
			snprintf(what, sizeof(what), "200 %.8s", ra->r.body);
		}
		else
			snprintf(what, sizeof(what), "%d", ra->r.status);
		printf("%-26s %-14s", probes[p].label, what);
		for (int m = 0; m < nbins; m++) {
			const struct answer *a = &answers[m][p];
			const char *cell;
			bool node = strcmp(model_name(bins[m]), "node") == 0;

			if (!a->ok)
				cell = "-";
			else if (ra->ok && a->raw_len == ra->raw_len && memcmp(a->raw, ra->raw, a->raw_len) == 0)
				cell = "=";
			else if (node && ra->ok && loose_equal(a, ra, probes[p].malformed))
				cell = "~";
			else
				cell = "DIFF";
			if (strcmp(cell, "=") != 0 && strcmp(cell, "~") != 0)
				diffs++;
			printf(" %-9s", cell);
		}
		printf("\n");
	}
	printf("\n%s\n", diffs ? "equivalence: models DIFFER (see the cells marked DIFF or -)" :
	       "equivalence: every model answers as the contract allows");
	if (diffs) {
		/* Show what differs, so the table is enough to file a bug. */
		for (size_t p = 0; p < NPROBES; p++) {
			for (int m = 0; m < nbins; m++) {
				const struct answer *a = &answers[m][p], *ra = &answers[ref][p];
				bool node = strcmp(model_name(bins[m]), "node") == 0;

				if (a->ok && ra->ok && ((a->raw_len == ra->raw_len &&
							 memcmp(a->raw, ra->raw, a->raw_len) == 0) ||
							(node && loose_equal(a, ra, probes[p].malformed))))
					continue;
				printf("  %s, %s:\n", probes[p].label, model_name(bins[m]));
				fflush(stdout);
				show_bytes("reference", ra->raw, ra->ok ? ra->raw_len : 0, 300);
				show_bytes("got      ", a->raw, a->ok ? a->raw_len : 0, 300);
			}
		}
	}
	for (int m = 0; m < nbins; m++)
		for (size_t p = 0; p < NPROBES; p++) {
			free(answers[m][p].raw);
			hresp_free(&answers[m][p].r);
		}
	return diffs ? 1 : 0;
}
