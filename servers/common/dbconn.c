/* libpq, the way both database clients use it (see dbconn.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbconn.h"

#define INT4OID 23	/* pg_type.h, which is not part of libpq's headers */

const unsigned int dbconn_param_types[1] = { INT4OID };

int dbconn_check(const char *uri, char *err, size_t errlen)
{
	char *msg = NULL;
	PQconninfoOption *o = PQconninfoParse(uri, &msg);

	if (o) {
		PQconninfoFree(o);
		return 0;
	}
	snprintf(err, errlen, "%s", msg ? msg : "out of memory");
	if (msg) {
		size_t n = strlen(err);		/* libpq ends its messages with \n */
		if (n > 0 && err[n - 1] == '\n')
			err[n - 1] = '\0';
	}
	PQfreemem(msg);
	return -EINVAL;
}

/* With expand_dbname, the URI in "dbname" is expanded in place and what it
 * sets overrides the keywords before it: our connect_timeout is a default,
 * the URI's own wins. */
PGconn *dbconn_connect(const char *uri, bool blocking)
{
	static const char *const keys[] = {
		"connect_timeout", "fallback_application_name", "dbname", NULL,
	};
	char timeout[16];
	const char *values[] = { timeout, "loopbench", uri, NULL };

	snprintf(timeout, sizeof timeout, "%d", DB_CONNECT_TIMEOUT_S);
	return blocking ? PQconnectdbParams(keys, values, 1)
			: PQconnectStartParams(keys, values, 1);
}

int dbconn_timeout_ms(PGconn *c)
{
	PQconninfoOption *opts = PQconninfo(c);
	int s = DB_CONNECT_TIMEOUT_S;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 && o->val)
			s = atoi(o->val);
	PQconninfoFree(opts);
	if (s <= 0)		/* 0: "wait forever", which a loop must not */
		s = DB_CONNECT_TIMEOUT_S;
	return (s < 2 ? 2 : s) * 1000;	/* libpq's own minimum */
}

void dbconn_param(struct db_param *p, int32_t id)
{
	p->be = htonl((uint32_t)id);
	p->values[0] = (const char *)&p->be;
	p->lengths[0] = sizeof p->be;
	p->formats[0] = 1;
}

static int32_t be_i32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return (int32_t)ntohl(v);
}

int dbconn_row(const PGresult *res, struct db_row *row)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) != 2 || PQfformat(res, 0) != 1 ||
	    PQgetlength(res, 0, 0) != 4 || PQgetlength(res, 0, 1) != 4 ||
	    PQgetisnull(res, 0, 1))
		return -1;
	if (be_i32(PQgetvalue(res, 0, 0)) != row->id)
		return -1;
	row->number = be_i32(PQgetvalue(res, 0, 1));
	return 0;
}

uint64_t dbconn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool db_backoff_ready(const struct db_backoff *b, uint64_t now_ms)
{
	return now_ms >= b->next_ms;
}

void db_backoff_broken(struct db_backoff *b, uint64_t now_ms)
{
	b->next_ms = now_ms;
	b->delay_ms = 0;
}

void db_backoff_failed(struct db_backoff *b, uint64_t now_ms)
{
	if (b->delay_ms == 0)
		b->delay_ms = DB_RETRY_MIN_MS;
	else if (b->delay_ms < DB_RETRY_MAX_MS)
		b->delay_ms = b->delay_ms * 2 > DB_RETRY_MAX_MS ? DB_RETRY_MAX_MS
								: b->delay_ms * 2;
	b->next_ms = now_ms + b->delay_ms;
}

void db_backoff_ok(struct db_backoff *b)
{
	b->next_ms = 0;
	b->delay_ms = 0;
}
