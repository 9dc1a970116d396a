/* SPDX-License-Identifier: Apache-2.0 */
/*
 * children.c - the embedded master serving this process's forked children.
 *
 * A child cannot use its parent's in-process AFU through private memory:
 * the AFU's threads stayed in the parent. So before the first fork with
 * LUNs open, the parent starts a server (server.h) on an abstract socket
 * named after its pid, and in the child every open fd1 becomes a
 * connection to it (see embedded.c). The child's contexts then get DMA
 * areas like cxlflashd's clients, and VLUN_CLONE finds the parent's
 * contexts in the same master. Only the server's own children may connect.
 */
#include "client/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "master/master.h"
#include "server/server.h"
#include "util/pident.h"

static struct msrv *g_srv;
static struct master *g_srv_master;
static pid_t g_srv_pid;

void children_server_path(int parent, char *buf, size_t len)
{
	snprintf(buf, len, "@cxlflash-parent-%d", parent);
}

/* The child asks for a LUN by the name the parent opened it with. */
static int resolve(void *arg, const char *name, int oflags, const struct wire_cred *cr,
		   struct mlun **lun)
{
	struct master *m = arg;
	struct be_spec spec;
	struct stat st;

	(void)oflags;
	(void)cr;
	if (be_parse_spec(name, &spec))
		return -ENOENT;
	if (!strcmp(spec.kind, "file"))
		*lun = stat(spec.path, &st) == 0 ? master_find_lun(m, NULL, st.st_dev, st.st_ino)
						 : NULL;
	else
		*lun = master_find_lun(m, name, 0, 0);
	return *lun ? 0 : -ENOENT;
}

static bool may_connect(void *arg, const struct wire_cred *cr)
{
	struct pident parent, self;

	(void)arg;
	return cr->uid == getuid() && !pident_parent(cr->pidfd, cr->pid, &parent) &&
	       !pident_self(&self) && pident_same(&parent, &self);
}

int children_server_start(struct master *m)
{
	struct msrv_ops ops = { .resolve = resolve, .may_connect = may_connect, .arg = m };
	char path[64];
	int rc;

	if (g_srv && g_srv_pid == getpid() && g_srv_master == m)
		return 0;
	children_server_stop();
	rc = msrv_create(m, &ops, &g_srv);
	if (rc)
		return rc;
	children_server_path(getpid(), path, sizeof(path));
	rc = msrv_listen(g_srv, path, 0);
	if (!rc)
		rc = msrv_start(g_srv);
	if (rc) {
		msrv_destroy(g_srv);
		g_srv = NULL;
		return rc;
	}
	g_srv_master = m;
	g_srv_pid = getpid();
	return 0;
}

void children_server_stop(void)
{
	if (g_srv && g_srv_pid == getpid())
		msrv_destroy(g_srv);
	g_srv = NULL; /* in a child: the parent's, not ours to stop */
	g_srv_master = NULL;
}

unsigned children_server_connections(void)
{
	return g_srv && g_srv_pid == getpid() ? msrv_connections(g_srv) : 0;
}
