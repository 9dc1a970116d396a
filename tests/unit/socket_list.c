/* SPDX-License-Identifier: Apache-2.0 */
/*
 * socket_list.c - $CXLFLASH_SOCKET listing several daemons ("a:b"): the
 * daemon's own socket is the first, clients try each in turn, and a list
 * of sockets nobody listens on is "no daemon" (ENOENT), as one is.
 */
#include "t_util.h"
#include "client/client.h"
#include "server/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static void test_paths(void)
{
	unsetenv("CXLFLASH_SOCKET");
	T_ASSERT(!strcmp(wire_socket_path(), WIRE_DEFAULT_SOCKET));
	T_ASSERT(!strcmp(wire_socket_list(), WIRE_DEFAULT_SOCKET));
	setenv("CXLFLASH_SOCKET", "/tmp/one.sock", 1);
	T_ASSERT(!strcmp(wire_socket_path(), "/tmp/one.sock"));
	T_ASSERT(!strcmp(wire_socket_list(), "/tmp/one.sock"));
	setenv("CXLFLASH_SOCKET", "/tmp/a.sock:/tmp/b.sock", 1);
	T_ASSERT(!strcmp(wire_socket_path(), "/tmp/a.sock"));
	T_ASSERT(!strcmp(wire_socket_list(), "/tmp/a.sock:/tmp/b.sock"));
	setenv("CXLFLASH_SOCKET", "@abstract:/tmp/b.sock", 1);
	T_ASSERT(!strcmp(wire_socket_path(), "@abstract"));
	unsetenv("CXLFLASH_SOCKET");
}

static void test_open_any(void)
{
	char list[512];

	snprintf(list, sizeof(list), "%s:%s", t_path("nobody-a.sock"), t_path("nobody-b.sock"));
	T_EQ(remote_open_any(list, "lun0", O_RDWR), -ENOENT);
	T_EQ(remote_open_any("::", "lun0", O_RDWR), -ENOENT);
	T_EQ(remote_open_any("", "lun0", O_RDWR), -ENOENT);
}

int main(void)
{
	T_RUN(test_paths);
	T_RUN(test_open_any);
	return T_PASS;
}
