/* HTTP: every route and status byte for byte, fed whole, a byte at a time, in
 * every 2-way split and as every truncated prefix; pipelining, limits,
 * keep-alive, Expect, HEAD, draining, EOF and back-pressure. */
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/session_impl.h"
#include "unit.h"

#define HDR_TEXT(len) "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " len "\r\n"
#define HDR_OCTET(len) "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " len "\r\n"
#define CLOSE "Connection: close\r\n"
#define KEEP "Connection: keep-alive\r\n"

#define HELLO		HDR_TEXT("13") "\r\nHello, World!"
#define HELLO_CLOSE	HDR_TEXT("13") CLOSE "\r\nHello, World!"
#define HELLO_KEEP	HDR_TEXT("13") KEEP "\r\nHello, World!"
#define CPU(hex)	HDR_TEXT("8") "\r\n" hex
#define BLOCK_OK	HDR_TEXT("2") "\r\nok"
#define CONTINUE	"HTTP/1.1 100 Continue\r\n\r\n"

#define E400_HEAD	"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
#define E400		E400_HEAD "\r\nBad Request\n"
#define E400_CLOSE	E400_HEAD CLOSE "\r\nBad Request\n"
#define E404_HEAD	"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
#define E404		E404_HEAD "\r\nNot Found\n"
#define E405_HEAD	"HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain\r\nContent-Length: 19\r\n"
#define E405_GET	E405_HEAD "Allow: GET\r\n\r\nMethod Not Allowed\n"
#define E405_POST	E405_HEAD "Allow: POST\r\n\r\nMethod Not Allowed\n"
#define E413_CLOSE	"HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain\r\n" \
			"Content-Length: 18\r\n" CLOSE "\r\nContent Too Large\n"
#define E431_CLOSE	"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\n" \
			"Content-Length: 32\r\n" CLOSE "\r\nRequest Header Fields Too Large\n"

#define E503		"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n" \
			"Content-Length: 20\r\n\r\nService Unavailable\n"

#define GET(path)	"GET " path " HTTP/1.1\r\nHost: t\r\n\r\n"

struct http_case {
	const char *name;
	const char *req;
	const char *resp;
	bool closed;		/* the server closes after answering */
	int errors;		/* stats.errors after it */
};

/* K = 3 in test_server(): /cpu?us=N runs 3N units.  The checksums are FNV-1a
 * over i & 0xff as docs/contract.md defines it, cross-checked with node and Math.imul
 * (see test_work.c). */
static const struct http_case cases[] = {
	{ "hello", GET("/"), HELLO, false, 0 },
	{ "cpu us=5 (15 units)", GET("/cpu?us=5"), CPU("8d1126b8"), false, 0 },
	{ "cpu us=0", GET("/cpu?us=0"), CPU("811c9dc5"), false, 0 },
	{ "cpu us=1000000 (3e6 units)", GET("/cpu?us=1000000"), CPU("534c0785"), false, 0 },
	{ "cpu, other pairs first", GET("/cpu?a=b&x=&us=5&us=7"), CPU("8d1126b8"), false, 0 },
	{ "block", GET("/block?us=0"), BLOCK_OK, false, 0 },
	{ "block max", "GET /block?us=000001 HTTP/1.1\r\nHost: t\r\n\r\n", BLOCK_OK, false, 0 },
	{ "sleep 0", GET("/sleep?ms=0"), BLOCK_OK, false, 0 },
	{ "sleep 1, other pairs", GET("/sleep?x=1&ms=1&ms=99999"), BLOCK_OK, false, 0 },
	{ "sleep missing", GET("/sleep"), E400, false, 0 },
	{ "sleep empty", GET("/sleep?ms="), E400, false, 0 },
	{ "sleep non-numeric", GET("/sleep?ms=1s"), E400, false, 0 },
	{ "sleep negative", GET("/sleep?ms=-1"), E400, false, 0 },
	{ "sleep out of range", GET("/sleep?ms=60001"), E400, false, 0 },
	{ "sleep wrong key", GET("/sleep?us=5"), E400, false, 0 },
	{ "405 POST /sleep", "POST /sleep?ms=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", E405_GET, false, 0 },
	{ "HEAD /sleep", "HEAD /sleep?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n", E405_HEAD "Allow: GET\r\n\r\n", false, 0 },
	{ "404 /sleep/", GET("/sleep/?ms=1"), E404, false, 0 },
	{ "bytes 0", GET("/bytes?n=0"), HDR_OCTET("0") "\r\n", false, 0 },
	{ "bytes 5", GET("/bytes?n=5"), HDR_OCTET("5") "\r\nxxxxx", false, 0 },
	{ "echo content-length",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
	  HDR_OCTET("5") "\r\nhello", false, 0 },
	{ "echo chunked",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
	  HDR_OCTET("5") "\r\nabcde", false, 0 },
	{ "echo without body", "POST /echo HTTP/1.1\r\nHost: t\r\n\r\n", HDR_OCTET("0") "\r\n", false, 0 },
	{ "echo content-length 0", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
	  HDR_OCTET("0") "\r\n", false, 0 },
	{ "404", GET("/nope"), E404, false, 0 },
	{ "404 trailing slash", GET("/cpu/?us=1"), E404, false, 0 },
	{ "404 case", GET("/CPU?us=1"), E404, false, 0 },
	{ "404 POST unknown", "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab", E404, false, 0 },
	{ "405 POST / with body", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", E405_GET, false, 0 },
	{ "405 GET /echo", GET("/echo"), E405_POST, false, 0 },
	{ "405 PUT /cpu", "PUT /cpu?us=1 HTTP/1.1\r\nHost: t\r\n\r\n", E405_GET, false, 0 },
	{ "405 before bad query", "DELETE /bytes?n=x HTTP/1.1\r\nHost: t\r\n\r\n", E405_GET, false, 0 },
	{ "HEAD / is 405 without body", "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", E405_HEAD "Allow: GET\r\n\r\n", false, 0 },
	{ "HEAD /echo", "HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n", E405_HEAD "Allow: POST\r\n\r\n", false, 0 },
	{ "HEAD 404", "HEAD /nope HTTP/1.1\r\nHost: t\r\n\r\n", E404_HEAD "\r\n", false, 0 },
	{ "query missing", GET("/cpu"), E400, false, 0 },
	{ "query empty", GET("/cpu?"), E400, false, 0 },
	{ "query empty value", GET("/cpu?us="), E400, false, 0 },
	{ "query no value", GET("/cpu?us"), E400, false, 0 },
	{ "query non-numeric", GET("/cpu?us=abc"), E400, false, 0 },
	{ "query trailing junk", GET("/cpu?us=12x"), E400, false, 0 },
	{ "query negative", GET("/cpu?us=-1"), E400, false, 0 },
	{ "query plus", GET("/block?us=+1"), E400, false, 0 },
	{ "query out of range", GET("/block?us=10000001"), E400, false, 0 },
	{ "query overflow", GET("/cpu?us=99999999999999999999999"), E400, false, 0 },
	{ "query wrong key", GET("/cpu?uss=1&xus=2"), E400, false, 0 },
	{ "query percent-encoded", GET("/cpu?us=%31"), E400, false, 0 },
	{ "bytes out of range", GET("/bytes?n=67108865"), E400, false, 0 },
	{ "bytes wrong key", GET("/bytes?us=5"), E400, false, 0 },
	{ "db without a database", GET("/db"), E503, false, 0 },
	{ "queries without a database", GET("/queries?n=5"), E503, false, 0 },
	{ "queries without a database, bad n", GET("/queries?n=x"), E503, false, 0 },
	{ "405 POST /db", "POST /db HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", E405_GET, false, 0 },
	{ "HEAD /queries", "HEAD /queries?n=2 HTTP/1.1\r\nHost: t\r\n\r\n", E405_HEAD "Allow: GET\r\n\r\n", false, 0 },
	{ "404 /db/", GET("/db/"), E404, false, 0 },
	{ "HTTP/1.0 closes", "GET / HTTP/1.0\r\n\r\n", HELLO_CLOSE, true, 0 },
	{ "HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", HELLO_KEEP, false, 0 },
	{ "HTTP/1.0 keep-alive 404", "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
	  E404_HEAD KEEP "\r\nNot Found\n", false, 0 },
	{ "HTTP/1.1 keep-alive header not echoed", "GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n",
	  HELLO, false, 0 },
	{ "Connection: close", "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", HELLO_CLOSE, true, 0 },
	{ "nothing after Connection: close",
	  "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" GET("/nope"), HELLO_CLOSE, true, 0 },
	{ "Expect: 100-continue",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
	  CONTINUE HDR_OCTET("5") "\r\nhello", false, 0 },
	{ "Expect: case and trailing space",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nEXPECT: 100-Continue \t\r\nContent-Length: 2\r\n\r\nhi",
	  CONTINUE HDR_OCTET("2") "\r\nhi", false, 0 },
	{ "Expect chunked",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
	  CONTINUE HDR_OCTET("1") "\r\nz", false, 0 },
	{ "Expect other value", "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continuex\r\nContent-Length: 1\r\n\r\na",
	  HDR_OCTET("1") "\r\na", false, 0 },
	{ "Expect other field", "POST /echo HTTP/1.1\r\nHost: t\r\nExpected: 100-continue\r\nContent-Length: 1\r\n\r\na",
	  HDR_OCTET("1") "\r\na", false, 0 },
	{ "Expect without body", "GET / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n", HELLO, false, 0 },
	{ "Expect on HTTP/1.0", "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na",
	  HDR_OCTET("1") CLOSE "\r\na", true, 0 },
	{ "Expect on a 405", "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\na",
	  CONTINUE E405_GET, false, 0 },
	{ "Expect over max-body: 413 at once",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 67108865\r\nExpect: 100-continue\r\n\r\n",
	  E413_CLOSE, true, 1 },
	{ "Content-Length over max-body", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 67108865\r\n\r\nabc",
	  E413_CLOSE, true, 1 },
	{ "Content-Length over max-body on GET", "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n",
	  E413_CLOSE, true, 1 },
	{ "absolute-form", "GET http://example.com/cpu?us=5 HTTP/1.1\r\nHost: t\r\n\r\n", CPU("8d1126b8"), false, 0 },
	{ "absolute-form, no path", "GET http://example.com:80 HTTP/1.1\r\nHost: t\r\n\r\n", HELLO, false, 0 },
	{ "absolute-form, query only", "GET http://example.com?us=1 HTTP/1.1\r\nHost: t\r\n\r\n", HELLO, false, 0 },
	{ "fragment ignored", GET("/cpu?us=5#frag"), CPU("8d1126b8"), false, 0 },
	{ "long URL", GET("/cpu?pad=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&us=5"),
	  CPU("8d1126b8"), false, 0 },
	{ "leading empty lines", "\r\n\r\n" GET("/"), HELLO, false, 0 },
	{ "malformed method", "BLAH / HTTP/1.1\r\nHost: t\r\n\r\n", E400_CLOSE, true, 1 },
	{ "malformed version", "GET / XTTP/1.1\r\n\r\n", E400_CLOSE, true, 1 },
	{ "malformed version digit", "GET / HTTP/1.x\r\n\r\n", E400_CLOSE, true, 1 },
	{ "malformed header", "GET / HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", E400_CLOSE, true, 1 },
	{ "malformed content-length", "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", E400_CLOSE, true, 1 },
	{ "content-length and chunked",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "unknown transfer-encoding", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "chunked not last", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "bad chunk size", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	  E400_CLOSE, true, 1 },
	{ "good then malformed", GET("/") "GET / HTTP/1.1\r\nHost: t\r\n\x01\r\n\r\n" GET("/"),
	  HELLO E400_CLOSE, true, 1 },
	{ "upgrade closes", "GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nraw bytes",
	  HELLO_CLOSE, true, 0 },
	{ "CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: t\r\n\r\n", E404_HEAD CLOSE "\r\nNot Found\n", true, 0 },
	/* RFC 9112's framing rules: 400 and close (http.c says which, and why). */
	{ "no Host", "GET / HTTP/1.1\r\n\r\n", E400_CLOSE, true, 1 },
	{ "two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", E400_CLOSE, true, 1 },
	{ "two Hosts, HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", E400_CLOSE, true, 1 },
	{ "Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", E400_CLOSE, true, 1 },
	{ "Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", E400_CLOSE, true, 1 },
	{ "Host with a bad port", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", E400_CLOSE, true, 1 },
	{ "Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", E400_CLOSE, true, 1 },
	{ "Host with a bad escape", "GET / HTTP/1.1\r\nHost: a%4g\r\n\r\n", E400_CLOSE, true, 1 },
	{ "Host, unclosed literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", E400_CLOSE, true, 1 },
	{ "Host forms that are valid",
	  "GET / HTTP/1.1\r\nHost:\r\n\r\n"
	  "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080 \t\r\n\r\n"
	  "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"
	  "GET / HTTP/1.1\r\nHOST: Ex-am_ple.~%41!$&'()*+,;=:\r\n\r\n"
	  "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	  HELLO HELLO HELLO HELLO HELLO_KEEP, false, 0 },
	{ "whitespace before the first field line", "GET / HTTP/1.1\r\n X: y\r\nHost: t\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "whitespace before a colon", "GET / HTTP/1.1\r\nHost: t\r\nX : y\r\n\r\n", E400_CLOSE, true, 1 },
	{ "a field line without a name", "GET / HTTP/1.1\r\nHost: t\r\n: y\r\n\r\n", E400_CLOSE, true, 1 },
	{ "obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n", E400_CLOSE, true, 1 },
	{ "obs-fold after an empty value", "GET / HTTP/1.1\r\nHost: t\r\nX:\r\n\tb\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "CVE-2024-27982: a Content-Length behind a leading space",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nFoo: bar\r\n Content-Length: 31\r\n\r\n" GET("/nope"),
	  E400_CLOSE, true, 1 },
	{ "CVE-2025-23167: a header block ended by CR LF CR X",
	  "GET / HTTP/1.1\r\nHost: t\r\n\rZGET /nope HTTP/1.1\r\nHost: t\r\n\r\n", E400_CLOSE, true, 1 },
	{ "bare CR in a value", "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n", E400_CLOSE, true, 1 },
	{ "bare LF after the request line", "GET / HTTP/1.1\nHost: t\r\n\r\n", E400_CLOSE, true, 1 },
	{ "bare LF after a field line", "GET / HTTP/1.1\r\nHost: t\n\r\n", E400_CLOSE, true, 1 },
	{ "bare LF ending the block", "GET / HTTP/1.1\r\nHost: t\r\n\n", E400_CLOSE, true, 1 },
	{ "Content-Length and an empty Transfer-Encoding",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding:\r\n\r\nabc",
	  E400_CLOSE, true, 1 },
	{ "Transfer-Encoding in HTTP/1.0",
	  "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "chunk data without its CRLF",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX0\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "chunk size line ended by LF",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "chunk size overflow",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
	  E400_CLOSE, true, 1 },
	{ "trailer section: obs-fold",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "trailer section: whitespace first",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n X: a\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "trailer section: bare LF",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "a Transfer-Encoding line without a coding",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: \t\r\n\r\n", E400_CLOSE, true, 1 },
	{ "an empty Transfer-Encoding line beside chunked",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "trailer section: Content-Length",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 9\r\n\r\n",
	  E400_CLOSE, true, 1 },
	{ "trailer section: Connection: close closes",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nConnection: close\r\n\r\n"
	  GET("/"),
	  HDR_OCTET("1") CLOSE "\r\nz", true, 0 },
	/* llhttp 8.1.0 takes one chunk-extension parameter; node's llhttp 9
	 * takes more (docs/contract.md lists the difference). */
	{ "two chunk-extension parameters",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b;c=d\r\nz\r\n0\r\n\r\n",
	  E400_CLOSE, true, 1 },
	/* ... and what they still allow. */
	{ "trailers, a chunk extension, Host in a trailer",
	  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nab\r\n0\r\nHost: x\r\nY: z\r\n\r\n"
	  GET("/"),
	  HDR_OCTET("2") "\r\nab" HELLO, false, 0 },
	{ "empty lines and bare CRs before a request", "\r\n\n\r" GET("/"), HELLO, false, 0 },
	{ "pipelined mix",
	  GET("/") GET("/cpu?us=5") GET("/nope")
	  "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
	  GET("/bytes?n=3") GET("/block?us=1") "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" GET("/cpu?us=x") GET("/"),
	  HELLO CPU("8d1126b8") E404 HDR_OCTET("3") "\r\nabc" HDR_OCTET("3") "\r\nxxx" BLOCK_OK
	  E405_HEAD "Allow: GET\r\n\r\n" E400 HELLO, false, 0 },
};

#define NCASES (sizeof cases / sizeof cases[0])

struct result {
	struct capture cap;
	bool done;
	uint64_t errors, requests;
};

/* Feeds a request split at the given offsets (sorted; n_cuts of them), with a
 * fast peer that takes every byte, and records what came out. */
static void run_split(const struct server *tmpl, const char *req, size_t len,
		      const size_t *cuts, int n_cuts, bool eof, struct result *res)
{
	struct server srv = *tmpl;
	struct session *s = session_new(&srv);
	size_t at = 0;

	capture_init(&res->cap, true);
	for (int i = 0; i <= n_cuts; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;
		if (end > at) {
			feed(s, &res->cap, req + at, end - at, 0);
			at = end;
		}
	}
	if (eof) {
		session_input_eof(s);
		drive(s, &res->cap);
	}
	res->done = session_done(s);
	res->errors = srv.stats.errors;
	res->requests = srv.stats.requests;
	session_free(s);
}

static void check_case(const struct http_case *c, const struct result *r, const char *how)
{
	bool same = r->cap.len == strlen(c->resp) && memcmp(r->cap.buf ? r->cap.buf : "",
							  c->resp, r->cap.len) == 0;
	if (!same || r->done != c->closed || r->errors != (uint64_t)c->errors)
		fprintf(stderr, "\n  case '%s' (%s): done=%d errors=%llu got:\n[%.*s]\n  want:\n[%s]\n",
			c->name, how, r->done, (unsigned long long)r->errors,
			(int)r->cap.len, r->cap.buf ? r->cap.buf : "", c->resp);
	CU_ASSERT(same);
	CU_ASSERT_EQUAL(r->done, c->closed);
	CU_ASSERT_EQUAL(r->errors, (uint64_t)c->errors);
}

static void test_cases_whole(void)
{
	struct server srv;

	test_server(&srv, PROTO_HTTP);
	for (size_t i = 0; i < NCASES; i++) {
		struct result r;
		run_split(&srv, cases[i].req, strlen(cases[i].req), NULL, 0, false, &r);
		check_case(&cases[i], &r, "whole");
		capture_free(&r.cap);
	}
}

static void test_cases_byte_at_a_time(void)
{
	struct server srv;

	test_server(&srv, PROTO_HTTP);
	for (size_t i = 0; i < NCASES; i++) {
		size_t len = strlen(cases[i].req);
		size_t *cuts = malloc(len * sizeof *cuts);
		for (size_t k = 0; k < len; k++)
			cuts[k] = k + 1;
		struct result r;
		run_split(&srv, cases[i].req, len, cuts, (int)len, false, &r);
		check_case(&cases[i], &r, "byte at a time");
		capture_free(&r.cap);
		free(cuts);
	}
}

static void test_cases_two_way_splits(void)
{
	struct server srv;

	test_server(&srv, PROTO_HTTP);
	for (size_t i = 0; i < NCASES; i++) {
		size_t len = strlen(cases[i].req);
		for (size_t k = 1; k < len; k++) {
			struct result r;
			run_split(&srv, cases[i].req, len, &k, 1, false, &r);
			char how[32];
			snprintf(how, sizeof how, "split at %zu", k);
			check_case(&cases[i], &r, how);
			capture_free(&r.cap);
		}
	}
}

/* Every truncated prefix, then EOF: the connection ends, and what was sent is
 * a prefix of the full answer (a request cut short gets no response). */
static void test_cases_truncated_then_eof(void)
{
	struct server srv;

	test_server(&srv, PROTO_HTTP);
	for (size_t i = 0; i < NCASES; i++) {
		size_t len = strlen(cases[i].req);
		for (size_t k = 0; k < len; k++) {
			struct result r;
			run_split(&srv, cases[i].req, k, NULL, 0, true, &r);
			bool prefix = r.cap.len <= strlen(cases[i].resp) &&
				      memcmp(r.cap.buf ? r.cap.buf : "", cases[i].resp, r.cap.len) == 0;
			if (!prefix || !r.done)
				fprintf(stderr, "\n  case '%s' cut at %zu: done=%d got [%.*s]\n",
					cases[i].name, k, r.done, (int)r.cap.len,
					r.cap.buf ? r.cap.buf : "");
			CU_ASSERT(prefix);
			CU_ASSERT(r.done);
			capture_free(&r.cap);
		}
	}
}

/* A complete single request cut short gets nothing at all. */
static void test_truncated_single_gets_nothing(void)
{
	static const char *reqs[] = {
		GET("/"), GET("/cpu?us=5"), "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
	};
	struct server srv;

	test_server(&srv, PROTO_HTTP);
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
		for (size_t k = 0; k < strlen(reqs[i]); k++) {
			struct result r;
			run_split(&srv, reqs[i], k, NULL, 0, true, &r);
			CU_ASSERT_EQUAL(r.cap.len, 0);
			CU_ASSERT(r.done);
			CU_ASSERT_EQUAL(r.requests, 0);
			capture_free(&r.cap);
		}
}

static void test_pipeline_100(void)
{
	static const char *reqs[] = { GET("/"), GET("/cpu?us=5"), GET("/bytes?n=3"), GET("/x") };
	static const char *resps[] = { HELLO, CPU("8d1126b8"), HDR_OCTET("3") "\r\nxxx", E404 };
	char in[8192], want[16384];
	size_t il = 0, wl = 0;

	for (int i = 0; i < 100; i++) {
		il += (size_t)sprintf(in + il, "%s", reqs[i % 4]);
		wl += (size_t)sprintf(want + wl, "%s", resps[i % 4]);
	}
	struct server srv;
	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	struct capture c;
	capture_init(&c, true);

	/* One read holding all 100. */
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	CU_ASSERT_FATAL(cap >= il);
	memcpy(buf, in, il);
	session_input(s, il);
	drive(s, &c);

	CU_ASSERT_EQUAL(c.len, wl);
	CU_ASSERT(c.len == wl && memcmp(c.buf, want, wl) == 0);
	CU_ASSERT_EQUAL(c.works, 25);
	CU_ASSERT_EQUAL(srv.stats.requests, 100);
	CU_ASSERT_EQUAL(srv.stats.bytes_in, il);
	CU_ASSERT_EQUAL(srv.stats.bytes_out, wl);
	CU_ASSERT(session_wants_input(s));
	CU_ASSERT(!session_done(s));
	session_free(s);
	capture_free(&c);
}

/* A header block of exactly `size` bytes: request line, one padding header,
 * the empty line. */
static char *header_block(size_t size, const char *path)
{
	char *b = malloc(size + 1);
	int n = sprintf(b, "GET %s HTTP/1.1\r\nHost: t\r\nX-Pad: ", path);
	size_t pad = size - (size_t)n - 4;

	memset(b + n, 'a', pad);
	memcpy(b + n + pad, "\r\n\r\n", 5);
	CU_ASSERT_EQUAL(strlen(b), size);
	return b;
}

static void test_header_limit_exact(void)
{
	struct server srv;
	struct result r;

	test_server(&srv, PROTO_HTTP);
	char *ok = header_block(8192, "/");
	char *big = header_block(8193, "/");
	const struct http_case c_ok = { "8192-byte header block", ok, HELLO, false, 0 };
	const struct http_case c_big = { "8193-byte header block", big, E431_CLOSE, true, 1 };

	run_split(&srv, ok, 8192, NULL, 0, false, &r);
	check_case(&c_ok, &r, "whole");
	capture_free(&r.cap);
	run_split(&srv, big, 8193, NULL, 0, false, &r);
	check_case(&c_big, &r, "whole");
	capture_free(&r.cap);
	for (size_t k = 8180; k < 8193; k++) {
		run_split(&srv, ok, 8192, &k, 1, false, &r);
		check_case(&c_ok, &r, "split");
		capture_free(&r.cap);
		run_split(&srv, big, 8193, &k, 1, false, &r);
		check_case(&c_big, &r, "split");
		capture_free(&r.cap);
	}

	/* Empty lines before the request line count, by definition. */
	char *lead = malloc(8194);
	memcpy(lead, "\r\n", 2);
	char *b = header_block(8191, "/");
	memcpy(lead + 2, b, 8192);
	const struct http_case c_lead = { "2 + 8191 bytes", lead, E431_CLOSE, true, 1 };
	run_split(&srv, lead, 8193, NULL, 0, false, &r);
	check_case(&c_lead, &r, "whole");
	capture_free(&r.cap);

	/* The limit is per request: a second 8192-byte block after the first. */
	char *two = malloc(2 * 8192 + 1);
	memcpy(two, ok, 8192);
	memcpy(two + 8192, ok, 8193);
	const struct http_case c_two = { "two 8192-byte blocks", two, HELLO HELLO, false, 0 };
	run_split(&srv, two, 2 * 8192, NULL, 0, false, &r);
	check_case(&c_two, &r, "whole");
	capture_free(&r.cap);

	free(ok);
	free(big);
	free(lead);
	free(b);
	free(two);
}

/* Headers that never end: 431 exactly when byte 8193 arrives, not before. */
static void test_header_limit_endless(void)
{
	struct server srv;
	struct capture c;
	char line[8300];

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	capture_init(&c, true);
	int n = sprintf(line, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
	memset(line + n, 'b', sizeof line - (size_t)n);

	CU_ASSERT_EQUAL(feed(s, &c, line, 8192, 1), 8192);
	CU_ASSERT_EQUAL(c.len, 0);
	CU_ASSERT(session_wants_input(s));
	feed(s, &c, line + 8192, 1, 1);
	CU_ASSERT(c.len == strlen(E431_CLOSE) && memcmp(c.buf, E431_CLOSE, c.len) == 0);
	CU_ASSERT(session_done(s));
	CU_ASSERT(!session_wants_input(s));
	CU_ASSERT_EQUAL(srv.stats.errors, 1);
	session_free(s);
	capture_free(&c);

	/* All at once: answered, and the parser never saw more than 8193 bytes. */
	s = session_new(&srv);
	capture_init(&c, true);
	feed(s, &c, line, sizeof line, 0);
	CU_ASSERT(c.len == strlen(E431_CLOSE) && memcmp(c.buf, E431_CLOSE, c.len) == 0);
	CU_ASSERT(session_done(s));
	session_free(s);
	capture_free(&c);
}

/* GET /fail: 404 unless --enable-fail; then kind=error is a 500 counted in
 * errors, on a connection that carries on, and a bad kind or method is 400 or
 * 405.  (kind=crash aborts the process: the conformance suite watches that.) */
static void test_fail_route(void)
{
	static const char e500[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
				   "Content-Length: 22\r\n\r\nInternal Server Error\n";
	static const struct http_case off[] = {
		{ "/fail?kind=error, disabled", GET("/fail?kind=error") GET("/"), E404 HELLO, false, 0 },
		{ "/fail?kind=crash, disabled", GET("/fail?kind=crash") GET("/"), E404 HELLO, false, 0 },
	};
	const struct http_case on[] = {
		{ "/fail?kind=error", GET("/fail?kind=error") GET("/"), "", false, 1 },
		{ "/fail, no kind", GET("/fail") GET("/fail?kind=") GET("/fail?kind=errors"),
		  E400 E400 E400, false, 0 },
		{ "/fail, the first kind decides", GET("/fail?kind=oops&kind=error"), E400, false, 0 },
		{ "POST /fail", "POST /fail?kind=crash HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
		  E405_HEAD "Allow: GET\r\n\r\nMethod Not Allowed\n", false, 0 },
	};
	char want[512];
	struct http_case c;
	struct server srv;
	struct result r;

	test_server(&srv, PROTO_HTTP);
	for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
		run_split(&srv, off[i].req, strlen(off[i].req), NULL, 0, false, &r);
		check_case(&off[i], &r, "whole");
		capture_free(&r.cap);
	}
	srv.opts.enable_fail = true;
	snprintf(want, sizeof want, "%s%s", e500, HELLO);
	for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
		c = on[i];
		if (i == 0)
			c.resp = want;
		run_split(&srv, c.req, strlen(c.req), NULL, 0, false, &r);
		check_case(&c, &r, "whole");
		capture_free(&r.cap);
	}
}

static void test_max_body(void)
{
	static const struct http_case small[] = {
		{ "CL at max", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789",
		  HDR_OCTET("10") "\r\n0123456789", false, 0 },
		{ "CL over max", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n0123456789a",
		  E413_CLOSE, true, 1 },
		{ "CL over max, Expect", "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
		  E413_CLOSE, true, 1 },
		{ "chunked at max",
		  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n",
		  HDR_OCTET("10") "\r\n0123456789", false, 0 },
		{ "chunked over max",
		  "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n6\r\n56789a\r\n0\r\n\r\n",
		  E413_CLOSE, true, 1 },
		{ "chunked over max, Expect",
		  "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n0123456789a\r\n0\r\n\r\n",
		  CONTINUE E413_CLOSE, true, 1 },
		{ "chunked over max, other route",
		  "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n0123456789a\r\n0\r\n\r\n",
		  E413_CLOSE, true, 1 },
	};
	struct server srv;

	test_server(&srv, PROTO_HTTP);
	srv.opts.max_body = 10;
	for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
		size_t len = strlen(small[i].req);
		struct result r;
		run_split(&srv, small[i].req, len, NULL, 0, false, &r);
		check_case(&small[i], &r, "whole");
		capture_free(&r.cap);
		for (size_t k = 1; k < len; k++) {
			run_split(&srv, small[i].req, len, &k, 1, false, &r);
			check_case(&small[i], &r, "split");
			capture_free(&r.cap);
		}
	}
}

/* A big POST /echo is streamed: the response head goes out before the body is
 * in, output never grows past the high-water mark plus one read, and input
 * stops while it is above the mark. */
static void test_echo_backpressure(void)
{
	const size_t body = 1 << 20;
	char head[128];
	struct server srv;
	struct capture c;

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	capture_init(&c, true);
	int hl = sprintf(head, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", body);
	CU_ASSERT_EQUAL(feed(s, &c, head, (size_t)hl, 0), (size_t)hl);

	char *data = malloc(body);
	for (size_t i = 0; i < body; i++)
		data[i] = (char)(i * 7 + 3);
	size_t fed = 0, max_pending = 0;
	int stalls = 0;
	while (fed < body) {
		const char *p;
		if (session_wants_input(s)) {
			size_t cap;
			char *buf = session_input_buf(s, &cap);
			size_t k = body - fed < cap ? body - fed : cap;
			memcpy(buf, data + fed, k);
			session_input(s, k);
			fed += k;
		} else {
			/* The peer reads only when the server stops reading. */
			stalls++;
			size_t n = session_output(s, &p);
			CU_ASSERT_FATAL(n > 0);
			size_t part = n > 1000 ? n / 2 : n;	/* partial writes */
			capture_bytes(&c, p, part);
			session_output_sent(s, part);
		}
		const char *p2;
		size_t pending = session_output(s, &p2);
		if (pending > max_pending)
			max_pending = pending;
	}
	drive(s, &c);
	CU_ASSERT(stalls > 0);
	CU_ASSERT(max_pending <= 64 * 1024 + 64 * 1024 + 128);
	char want_head[128];
	int wh = sprintf(want_head, HDR_OCTET("%zu") "\r\n", body);
	CU_ASSERT_EQUAL(c.len, (size_t)wh + body);
	CU_ASSERT(c.len >= (size_t)wh && memcmp(c.buf, want_head, (size_t)wh) == 0);
	CU_ASSERT(c.len == (size_t)wh + body && memcmp(c.buf + wh, data, body) == 0);
	CU_ASSERT_EQUAL(srv.stats.requests, 1);
	CU_ASSERT(session_wants_input(s));
	free(data);
	session_free(s);
	capture_free(&c);
}

/* /bytes is served from a static page: big bodies come in <= 64 KiB pieces,
 * all 'x', and the count is exact. */
static void test_bytes_large(void)
{
	struct server srv;
	const char *req = GET("/bytes?n=67108864");

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, req, strlen(req));
	session_input(s, strlen(req));
	CU_ASSERT(!session_wants_input(s));

	const char *p;
	size_t n = session_output(s, &p);
	const char *want = HDR_OCTET("67108864") "\r\n";
	CU_ASSERT(n == strlen(want) && memcmp(p, want, n) == 0);
	session_output_sent(s, n);
	uint64_t body = 0;
	bool all_x = true, small = true;
	while ((n = session_output(s, &p)) > 0) {
		small = small && n <= 64 * 1024;
		for (size_t i = 0; i < n; i += 4093)
			all_x = all_x && p[i] == 'x';
		all_x = all_x && p[n - 1] == 'x';
		if (n > 10)
			n -= 7;		/* partial writes */
		session_output_sent(s, n);
		body += n;
		CU_ASSERT_EQUAL(srv.stats.requests, body == 67108864 ? 1 : 0);
	}
	CU_ASSERT_EQUAL(body, 67108864);
	CU_ASSERT(all_x);
	CU_ASSERT(small);
	CU_ASSERT_EQUAL(srv.stats.requests, 1);
	CU_ASSERT(session_wants_input(s));
	session_free(s);
}

/* stats.requests counts a response when its last byte is handed over. */
static void test_requests_counted_when_sent(void)
{
	struct server srv;
	const char *req = GET("/") GET("/");

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, req, strlen(req));
	session_input(s, strlen(req));

	const char *p;
	size_t n = session_output(s, &p);
	size_t one = strlen(HELLO);
	CU_ASSERT_EQUAL_FATAL(n, 2 * one);
	session_output_sent(s, one - 1);
	CU_ASSERT_EQUAL(srv.stats.requests, 0);
	session_output_sent(s, 1);
	CU_ASSERT_EQUAL(srv.stats.requests, 1);
	n = session_output(s, &p);
	CU_ASSERT_EQUAL(n, one);
	session_output_sent(s, one);
	CU_ASSERT_EQUAL(srv.stats.requests, 2);
	CU_ASSERT_EQUAL(srv.stats.bytes_out, 2 * one);
	session_free(s);
}

/* At most 32 responses wait unsent; parsing resumes as they go. */
static void test_inflight_limit(void)
{
	struct server srv;
	char in[4096];
	size_t il = 0;

	for (int i = 0; i < 40; i++)
		il += (size_t)sprintf(in + il, "%s", GET("/"));
	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, in, il);
	session_input(s, il);

	const char *p;
	size_t n = session_output(s, &p);
	CU_ASSERT_EQUAL(n, 32 * strlen(HELLO));
	CU_ASSERT(!session_wants_input(s));
	session_output_sent(s, n);
	CU_ASSERT_EQUAL(srv.stats.requests, 32);
	n = session_output(s, &p);
	CU_ASSERT_EQUAL(n, 8 * strlen(HELLO));
	session_output_sent(s, n);
	CU_ASSERT_EQUAL(srv.stats.requests, 40);
	CU_ASSERT(session_wants_input(s));
	session_free(s);
}

static void test_work_handed_out_once(void)
{
	struct server srv;
	const char *req = GET("/block?us=0") GET("/");

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, req, strlen(req));
	session_input(s, strlen(req));

	const char *p;
	struct work *w = session_work(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_EQUAL(w->kind, WORK_BLOCK);
	CU_ASSERT_PTR_NULL(session_work(s));
	CU_ASSERT(!session_wants_input(s));
	CU_ASSERT(!session_done(s));
	CU_ASSERT_EQUAL(session_output(s, &p), 0);	/* the second waits its turn */
	work_run(w);
	session_work_done(s);
	size_t n = session_output(s, &p);
	CU_ASSERT(n == strlen(BLOCK_OK HELLO) && memcmp(p, BLOCK_OK HELLO, n) == 0);
	session_free(s);
}

/* /sleep is a wait: handed out like work, counted in stats.waiting until it
 * is done or its session is freed (a client that left), and a request
 * pipelined behind it waits its turn. */
static void test_sleep_is_a_wait(void)
{
	struct server srv;
	const char *req = GET("/sleep?ms=60000") GET("/");
	const struct work cpu = { .kind = WORK_CPU }, block = { .kind = WORK_BLOCK };
	const struct work sleep = { .kind = WORK_SLEEP }, db = { .kind = WORK_DB };

	CU_ASSERT(!work_is_wait(&cpu) && !work_is_wait(&block));
	CU_ASSERT(work_is_wait(&sleep) && work_is_wait(&db));

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, req, strlen(req));
	session_input(s, strlen(req));
	CU_ASSERT_EQUAL(srv.stats.waiting, 0);	/* not until it is handed out */

	const char *p;
	struct work *w = session_work(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT(w->kind == WORK_SLEEP && w->ms == 60000);
	CU_ASSERT_EQUAL(srv.stats.waiting, 1);
	CU_ASSERT_PTR_NULL(session_work(s));
	CU_ASSERT(!session_wants_input(s));
	CU_ASSERT_EQUAL(session_output(s, &p), 0);
	session_work_done(s);		/* the timer fired (the test does not wait) */
	CU_ASSERT_EQUAL(srv.stats.waiting, 0);
	size_t n = session_output(s, &p);
	CU_ASSERT(n == strlen(BLOCK_OK HELLO) && memcmp(p, BLOCK_OK HELLO, n) == 0);
	session_free(s);

	/* The client leaves while it sleeps: freeing the session ends the wait. */
	s = session_new(&srv);
	buf = session_input_buf(s, &cap);
	memcpy(buf, req, strlen(req));
	session_input(s, strlen(req));
	CU_ASSERT_PTR_NOT_NULL(session_work(s));
	CU_ASSERT_EQUAL(srv.stats.waiting, 1);
	session_input_eof(s);
	CU_ASSERT(!session_done(s));	/* a half-close still gets its answer */
	session_free(s);
	CU_ASSERT_EQUAL(srv.stats.waiting, 0);

	/* Work that is not a wait never counts. */
	s = session_new(&srv);
	buf = session_input_buf(s, &cap);
	memcpy(buf, GET("/block?us=0"), strlen(GET("/block?us=0")));
	session_input(s, strlen(GET("/block?us=0")));
	CU_ASSERT_PTR_NOT_NULL(session_work(s));
	CU_ASSERT_EQUAL(srv.stats.waiting, 0);
	session_free(s);
	CU_ASSERT_EQUAL(srv.stats.waiting, 0);
}

/* While a request waits, a model may read ahead (to see a reset): the bytes
 * are kept for the next requests, and READ_AHEAD_MAX bounds them. */
static void test_read_ahead_while_waiting(void)
{
	struct server srv;
	struct capture c;
	const char *req = GET("/sleep?ms=1000");
	char *more = malloc(40 * 1024);
	size_t cap, fed = 0, n = strlen(GET("/"));

	CU_ASSERT_FATAL(more != NULL);
	for (size_t i = 0; i + n <= 40 * 1024; i += n)
		memcpy(more + i, GET("/"), n);
	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	capture_init(&c, true);
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, req, strlen(req));
	session_input(s, strlen(req));
	CU_ASSERT(!session_reads_ahead(s));		/* not handed out yet */
	struct work *w = session_work(s);
	CU_ASSERT_FATAL(w != NULL && work_is_wait(w));
	CU_ASSERT(!session_wants_input(s));
	CU_ASSERT(session_reads_ahead(s));
	while (session_reads_ahead(s) && fed < 40 * 1024 - 4096) {
		buf = session_input_buf(s, &cap);
		size_t k = cap < 4096 ? cap : 4096;
		memcpy(buf, more + fed, k);
		session_input(s, k);
		fed += k;
	}
	CU_ASSERT(!session_reads_ahead(s));		/* the bound stopped it */
	CU_ASSERT(fed >= READ_AHEAD_MAX && fed <= READ_AHEAD_MAX + 4096);
	CU_ASSERT_EQUAL(srv.stats.requests, 0);		/* nothing parsed meanwhile */
	session_work_done(s);				/* the wait is over */
	drive(s, &c);
	/* The sleep's answer, then one per complete GET / read ahead. */
	CU_ASSERT(c.len >= strlen(BLOCK_OK HELLO) && memcmp(c.buf, BLOCK_OK HELLO, strlen(BLOCK_OK HELLO)) == 0);
	CU_ASSERT_EQUAL(srv.stats.requests, 1 + fed / n);
	session_free(s);
	capture_free(&c);
	free(more);

	/* Work that is not a wait: no reading ahead (a worker may hold it). */
	s = session_new(&srv);
	buf = session_input_buf(s, &cap);
	memcpy(buf, GET("/cpu?us=1"), strlen(GET("/cpu?us=1")));
	session_input(s, strlen(GET("/cpu?us=1")));
	CU_ASSERT_PTR_NOT_NULL(session_work(s));
	CU_ASSERT(!session_reads_ahead(s));
	session_free(s);
}

/* A model that reads while the session does not want input (against the
 * contract, but it must not lose or reorder bytes): the bytes join the
 * held-up input. */
static void test_read_while_held_up(void)
{
	struct server srv;
	struct capture c;
	const char *first = GET("/block?us=0") "GET /cpu?us";
	const char *rest = "=5 HTTP/1.1\r\nHost: t\r\n\r\n" GET("/");

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	capture_init(&c, true);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, first, strlen(first));
	session_input(s, strlen(first));
	CU_ASSERT(!session_wants_input(s));
	buf = session_input_buf(s, &cap);
	CU_ASSERT_FATAL(cap >= strlen(rest));
	memcpy(buf, rest, strlen(rest));
	session_input(s, strlen(rest));
	drive(s, &c);
	const char *want = BLOCK_OK CPU("8d1126b8") HELLO;
	CU_ASSERT(c.len == strlen(want) && memcmp(c.buf, want, c.len) == 0);
	CU_ASSERT(session_wants_input(s));
	session_free(s);
	capture_free(&c);
}

static void test_drain(void)
{
	struct server srv;
	struct capture c;
	const char *req = GET("/");

	test_server(&srv, PROTO_HTTP);

	/* Between requests: done at once. */
	struct session *s = session_new(&srv);
	capture_init(&c, true);
	feed(s, &c, req, strlen(req), 0);
	session_drain(s);
	CU_ASSERT(session_done(s));
	CU_ASSERT(!session_wants_input(s));
	session_free(s);
	capture_free(&c);

	/* Mid-request: finished, with Connection: close. */
	s = session_new(&srv);
	capture_init(&c, true);
	feed(s, &c, req, 10, 0);
	session_drain(s);
	CU_ASSERT(!session_done(s));
	CU_ASSERT(session_wants_input(s));
	feed(s, &c, req + 10, strlen(req) - 10, 0);
	CU_ASSERT(c.len == strlen(HELLO_CLOSE) && memcmp(c.buf, HELLO_CLOSE, c.len) == 0);
	CU_ASSERT(session_done(s));
	session_free(s);
	capture_free(&c);

	/* Waiting for work: its response closes; the pipelined one is dropped. */
	const char *two = GET("/cpu?us=5") GET("/");
	s = session_new(&srv);
	capture_init(&c, true);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, two, strlen(two));
	session_input(s, strlen(two));
	struct work *w = session_work(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	session_drain(s);
	CU_ASSERT(!session_done(s));
	work_run(w);
	session_work_done(s);
	drive(s, &c);
	const char *want = HDR_TEXT("8") CLOSE "\r\n8d1126b8";
	CU_ASSERT(c.len == strlen(want) && memcmp(c.buf, want, c.len) == 0);
	CU_ASSERT(session_done(s));
	session_free(s);
	capture_free(&c);
}

/* EOF after complete requests: every one is answered, then the end. */
static void test_eof_after_requests(void)
{
	struct server srv;
	struct capture c;
	const char *two = GET("/cpu?us=5") GET("/") "GET /par";

	test_server(&srv, PROTO_HTTP);
	struct session *s = session_new(&srv);
	capture_init(&c, true);
	size_t cap;
	char *buf = session_input_buf(s, &cap);
	memcpy(buf, two, strlen(two));
	session_input(s, strlen(two));
	session_input_eof(s);
	CU_ASSERT(!session_done(s));
	CU_ASSERT(!session_wants_input(s));
	drive(s, &c);
	const char *want = CPU("8d1126b8") HELLO;
	CU_ASSERT(c.len == strlen(want) && memcmp(c.buf, want, c.len) == 0);
	CU_ASSERT(session_done(s));
	CU_ASSERT_EQUAL(srv.stats.requests, 2);
	session_free(s);
	capture_free(&c);
}

/* Mutated requests at random split points (a fixed seed, so a failure
 * reproduces): never wedged -- after the peer takes all output, the session is
 * either done or wants input -- and EOF always ends it. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static void test_mutations_never_wedge(void)
{
	static const char alphabet[] = "\r\n :/?&=-0123456789abcxGETPOSHDchunkedContent-LengthExpect\x00\xff";
	struct server srv;
	char buf[1024];
	int wedged = 0, not_done = 0;

	test_server(&srv, PROTO_HTTP);
	srv.opts.max_body = 100;
	for (int iter = 0; iter < 20000; iter++) {
		/* Two or three cases back to back, then a few byte mutations. */
		size_t len = 0;
		for (int k = 0, parts = 2 + (int)(rng() % 2); k < parts; k++) {
			const char *r = cases[rng() % NCASES].req;
			size_t n = strlen(r);
			if (len + n > sizeof buf)
				break;
			memcpy(buf + len, r, n);
			len += n;
		}
		for (int m = 0, muts = (int)(rng() % 4); m < muts && len > 0; m++) {
			size_t at = rng() % len;
			switch (rng() % 3) {
			case 0:	/* replace */
				buf[at] = alphabet[rng() % (sizeof alphabet - 1)];
				break;
			case 1:	/* delete */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default: /* insert */
				if (len < sizeof buf) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = alphabet[rng() % (sizeof alphabet - 1)];
					len++;
				}
			}
		}

		struct session *s = session_new(&srv);
		struct capture c;
		capture_init(&c, false);
		size_t at = 0;
		while (at < len && !session_done(s)) {
			size_t piece = 1 + rng() % (len - at);
			size_t took = feed(s, &c, buf + at, piece, 1 + rng() % 64);
			at += took;
			if (!session_done(s) && !session_wants_input(s))
				wedged++;
			if (took < piece)
				break;
		}
		session_input_eof(s);
		drive(s, &c);
		if (!session_done(s))
			not_done++;
		session_free(s);
		capture_free(&c);
	}
	CU_ASSERT_EQUAL(wedged, 0);
	CU_ASSERT_EQUAL(not_done, 0);
}

/* Pins llhttp 8.1.0's behaviour that http.c relies on: a pause in
 * on_headers_complete stops right after the block's final LF; a request
 * without a body then completes on the next call, even one with no bytes; a
 * pause in on_message_complete stops after the message's last byte; and the
 * last chunk's on_chunk_header stops after its CRLF, before the trailers. */
static int pause_cb(llhttp_t *p)
{
	(void)p;
	return HPE_PAUSED;
}

static int pause_last_chunk(llhttp_t *p)
{
	return p->content_length == 0 ? HPE_PAUSED : 0;
}

/* Runs the parser on r from *at; returns its answer and moves *at to where it
 * stopped. */
static llhttp_errno_t run_to_pause(llhttp_t *p, const char *r, size_t *at)
{
	size_t len = strlen(r);
	llhttp_errno_t e = llhttp_execute(p, r + *at, len - *at);

	*at = e == HPE_OK ? len : (size_t)(llhttp_get_error_pos(p) - r);
	if (e == HPE_PAUSED)
		llhttp_resume(p);
	return e;
}

static void test_parser_pause_positions(void)
{
	static const struct {
		const char *req;
		const char *after_head;		/* where the head's pause stops */
		const char *after_chunk;	/* the last chunk's, or NULL */
	} reqs[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT", "NEXT", NULL },
		{ "\r\nPOST /e HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcNEXT", "abcNEXT", NULL },
		{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nT: u\r\n\r\nNEXT",
		  "1\r\nz", "T: u" },
	};
	llhttp_settings_t st;

	llhttp_settings_init(&st);
	st.on_headers_complete = pause_cb;
	st.on_chunk_header = pause_last_chunk;
	st.on_message_complete = pause_cb;
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		const char *r = reqs[i].req;
		size_t at = 0;
		llhttp_t p;

		llhttp_init(&p, HTTP_REQUEST, &st);
		CU_ASSERT_EQUAL(run_to_pause(&p, r, &at), HPE_PAUSED);
		CU_ASSERT_EQUAL(strncmp(r + at, reqs[i].after_head, strlen(reqs[i].after_head)), 0);
		if (strcmp(reqs[i].after_head, "NEXT") == 0) {
			/* No body: complete with no more bytes. */
			CU_ASSERT_EQUAL(llhttp_execute(&p, r + at, 0), HPE_PAUSED);
			CU_ASSERT_PTR_EQUAL(llhttp_get_error_pos(&p), r + at);
			llhttp_resume(&p);
		} else {
			if (reqs[i].after_chunk) {
				CU_ASSERT_EQUAL(run_to_pause(&p, r, &at), HPE_PAUSED);
				CU_ASSERT_EQUAL(strncmp(r + at, reqs[i].after_chunk,
							strlen(reqs[i].after_chunk)), 0);
			}
			CU_ASSERT_EQUAL(run_to_pause(&p, r, &at), HPE_PAUSED);
		}
		CU_ASSERT_STRING_EQUAL(r + at, "NEXT");
	}
}

int suite_http(void)
{
	static const struct unit_test tests[] = {
		{ "every case, whole", test_cases_whole },
		{ "every case, a byte at a time", test_cases_byte_at_a_time },
		{ "every case, every 2-way split", test_cases_two_way_splits },
		{ "every truncated prefix, then EOF", test_cases_truncated_then_eof },
		{ "a request cut short gets nothing", test_truncated_single_gets_nothing },
		{ "100 pipelined requests in one read", test_pipeline_100 },
		{ "header block 8192 ok, 8193 -> 431", test_header_limit_exact },
		{ "endless headers -> 431 at byte 8193", test_header_limit_endless },
		{ "body over --max-body -> 413", test_max_body },
		{ "GET /fail: 404 unless enabled, then 500/400/405", test_fail_route },
		{ "POST /echo streams with back-pressure", test_echo_backpressure },
		{ "/bytes 64 MiB from a static page", test_bytes_large },
		{ "requests counted when fully sent", test_requests_counted_when_sent },
		{ "at most 32 responses in flight", test_inflight_limit },
		{ "work handed out once, in order", test_work_handed_out_once },
		{ "/sleep is a wait, counted until done or freed", test_sleep_is_a_wait },
		{ "reading ahead while a request waits, bounded", test_read_ahead_while_waiting },
		{ "input read while held up joins the queue", test_read_while_held_up },
		{ "drain: now, mid-request, during work", test_drain },
		{ "EOF after complete requests", test_eof_after_requests },
		{ "mutated requests never wedge", test_mutations_never_wedge },
		{ "llhttp 8.1.0 pause positions", test_parser_pause_positions },
		{ NULL, NULL },
	};
	return add_suite("http", tests);
}
