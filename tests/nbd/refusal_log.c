/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Description: refusal log lines are rate-limited (issue 14): a client
 * that asks NBD_OPT_GO 300 times past the connection limit gets 300
 * refusals on the wire but at most a few log lines, one a second per
 * reason; after a quiet second the next line says how many were not
 * logged. The server's log (stderr) is captured into a file.
 */
#include "nbd_test.h"
#include "util/log.h"

#define TRIES 300

static unsigned count(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

int main(void)
{
	const char *logp = t_path("nbd-refusal-log.txt");
	char sock[4096], msg[512];
	static char text[1 << 20];
	struct nbd_server_config cfg = { .max_conns = 1 };
	struct nt_export e;
	struct nbd_server *srv;
	int saved = dup(2), lf, held, fd;
	unsigned lines;
	ssize_t n;

	signal(SIGPIPE, SIG_IGN);
	snprintf(sock, sizeof(sock), "%s", t_path("nbd-refusal-log.sock"));
	lf = open(logp, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	T_ASSERT(lf >= 0 && saved >= 0);
	log_set_level(LOG_INFO);
	srv = nt_serve_cfg(&e, "ram:16M", sock, cfg);
	held = nc_open(sock, "lun", false, NULL);       /* the one connection allowed */

	fflush(stderr);
	dup2(lf, 2);
	fd = nc_connect(sock);
	nc_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
	for (int i = 0; i < TRIES; i++) {
		T_EQ(nc_go(fd, "lun", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
		T_ASSERT(strstr(msg, "too many NBD connections"));
	}
	sleep(2);   /* a quiet stretch, then one more: it carries the count */
	T_EQ(nc_go(fd, "lun", NULL, NULL, msg, sizeof(msg)), NBD_REP_ERR_POLICY);
	fflush(stderr);
	dup2(saved, 2);
	close(fd);
	nc_disc(held);
	nt_unserve(srv, &e);

	close(lf);
	lf = open(logp, O_RDONLY);
	T_ASSERT(lf >= 0);
	n = read(lf, text, sizeof(text) - 1);
	close(lf);
	T_ASSERT(n > 0);
	text[n] = 0;
	fputs(text, stderr);
	lines = count(text, "refused: too many NBD connections");
	printf("%d refusals, %u logged\n", TRIES + 1, lines);
	/* One a second per reason (the limit, and the option error each GO
	 * also logs at info): the loop may cross a few second boundaries on a
	 * loaded machine, never hundreds. */
	T_ASSERT(lines >= 2 && lines < 40);
	T_ASSERT(count(text, "more like it since the previous line, not logged"));
	unlink(logp);
	return T_PASS;
}
