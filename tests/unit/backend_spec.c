/* SPDX-License-Identifier: Apache-2.0 */
/* backend_spec.c - LUN name and size parsing, good and bad, and be_open() dispatch. */
#include "t_util.h"
#include "backend/backend.h"

#include <unistd.h>

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 12345;

	if (be_parse_size(s, &v) != 0 || v != want) {
		fprintf(stderr, "be_parse_size(\"%s\") = %" PRIu64 ", want %" PRIu64 "\n", s, v,
			want);
		exit(T_FAIL);
	}
}

static void size_bad(const char *s)
{
	uint64_t v = 12345;

	if (be_parse_size(s, &v) != -EINVAL || v != 12345) {
		fprintf(stderr, "be_parse_size(\"%s\") accepted: %" PRIu64 "\n", s, v);
		exit(T_FAIL);
	}
}

static void test_sizes(void)
{
	size_ok("0", 0);
	size_ok("4096", 4096);
	size_ok("64K", 64 << 10);
	size_ok("64k", 64 << 10);
	size_ok("8M", 8ull << 20);
	size_ok("8G", 8ull << 30);
	size_ok("8g", 8ull << 30);
	size_ok("8GB", 8ull << 30);
	size_ok("8GiB", 8ull << 30);
	size_ok("8gib", 8ull << 30);
	size_ok("1T", 1ull << 40);
	size_ok("4096B", 4096);
	size_ok("16777215T", 16777215ull << 40);
	size_ok("18446744073709551615", UINT64_MAX);

	size_bad("");
	size_bad("-1");
	size_bad("-4K");
	size_bad("+4K");
	size_bad(" 4K");
	size_bad("4K ");
	size_bad("K");
	size_bad("4X");
	size_bad("4KK");
	size_bad("4Ki");
	size_bad("4iB");
	size_bad("1.5G");
	size_bad("0x1000");
	size_bad("16777216T");             /* 2^64 */
	size_bad("18446744073709551616");  /* 2^64 */
	size_bad("99999999999999999999999");
	T_EQ(be_parse_size(NULL, &(uint64_t){0}), -EINVAL);
}

static void spec_ok(const char *name, const char *kind, const char *path, uint64_t size,
		    bool create, bool ro)
{
	struct be_spec s;
	int ret = be_parse_spec(name, &s);

	if (ret || strcmp(s.kind, kind) || strcmp(s.path, path) || s.size != size ||
	    s.create != create || s.readonly != ro) {
		fprintf(stderr, "be_parse_spec(\"%s\") = %d: kind '%s' path '%s' size %" PRIu64
			" create %d ro %d\n", name, ret, s.kind, s.path, s.size, s.create,
			s.readonly);
		exit(T_FAIL);
	}
}

static void spec_bad(const char *name)
{
	struct be_spec s;

	if (be_parse_spec(name, &s) != -EINVAL) {
		fprintf(stderr, "be_parse_spec(\"%s\") accepted\n", name);
		exit(T_FAIL);
	}
}

static void test_specs(void)
{
	char longname[5000];

	spec_ok("ram:4G", "ram", "", 4ull << 30, false, false);
	spec_ok("ram:4096", "ram", "", 4096, false, false);
	spec_ok("null:1g", "null", "", 1ull << 30, false, false);
	spec_ok("file:/tmp/x", "file", "/tmp/x", 0, false, false);
	spec_ok("file:/tmp/x?size=8G", "file", "/tmp/x", 8ull << 30, true, false);
	spec_ok("file:rel/x?size=64K", "file", "rel/x", 64 << 10, true, false);
	spec_ok("file:/tmp/x?ro", "file", "/tmp/x", 0, false, true);
	spec_ok("file:/tmp/x?size=1M&readonly", "file", "/tmp/x", 1 << 20, true, true);
	spec_ok("/dev/sdb", "file", "/dev/sdb", 0, false, false);
	spec_ok("./data.img", "file", "./data.img", 0, false, false);
	spec_ok("/a/b:c", "file", "/a/b:c", 0, false, false);  /* a colon after a slash */

	spec_bad("");
	spec_bad("ram:");
	spec_bad("ram:0");
	spec_bad("ram:4095");
	spec_bad("ram:6000");
	spec_bad("ram:-4K");
	spec_bad("ram:4Q");
	spec_bad("null:");
	spec_bad("null:1000");
	spec_bad("file:");
	spec_bad("file:?size=4K");
	spec_bad("file:/tmp/x?size=");
	spec_bad("file:/tmp/x?size=0");
	spec_bad("file:/tmp/x?size=100");
	spec_bad("file:/tmp/x?size=abc");
	spec_bad("file:/tmp/x?bogus=1");
	spec_bad("file:/tmp/x?size=1M&prealloc=yes");
	spec_bad("file:/tmp/x?size=1M&prealloc");
	{
		struct be_spec s;

		T_EQ(be_parse_spec("file:/tmp/x?size=1M&prealloc=full", &s), 0);
		T_ASSERT(s.prealloc && s.create);
		T_EQ(be_parse_spec("file:/tmp/x?prealloc=full&prealloc=off", &s), 0);
		T_ASSERT(!s.prealloc);
		T_EQ(be_parse_spec("file:/tmp/x?size=1M", &s), 0);
		T_ASSERT(!s.prealloc);  /* sparse unless asked */
	}
	spec_bad("nvme:0");                 /* unknown kind, not a file */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	spec_bad(longname);
}

static void rbd_ok(const char *name, const char *pool, const char *ns, const char *image,
		   uint64_t size, bool ro, const char *conf, const char *user, const char *keyring,
		   const char *cluster)
{
	struct be_spec s;
	int ret = be_parse_spec(name, &s);

	if (ret || strcmp(s.kind, "rbd") || strcmp(s.rbd.pool, pool) || strcmp(s.rbd.ns, ns) ||
	    strcmp(s.rbd.image, image) || s.size != size || s.create != (size != 0) ||
	    s.readonly != ro || strcmp(s.rbd.conf, conf) || strcmp(s.rbd.user, user) ||
	    strcmp(s.rbd.keyring, keyring) || strcmp(s.rbd.cluster, cluster) || s.path[0]) {
		fprintf(stderr, "be_parse_spec(\"%s\") = %d: kind '%s' pool '%s' ns '%s' image '%s' "
			"size %" PRIu64 " ro %d conf '%s' id '%s' keyring '%s' cluster '%s'\n", name,
			ret, s.kind, s.rbd.pool, s.rbd.ns, s.rbd.image, s.size, s.readonly,
			s.rbd.conf, s.rbd.user, s.rbd.keyring, s.rbd.cluster);
		exit(T_FAIL);
	}
}

static void test_rbd_specs(void)
{
	char longname[300];

	rbd_ok("rbd:pool/img", "pool", "", "img", 0, false, "", "", "", "");
	rbd_ok("rbd:p/ns/img?size=1G", "p", "ns", "img", 1ull << 30, false, "", "", "", "");
	rbd_ok("rbd:p/i?ro", "p", "", "i", 0, true, "", "", "", "");
	rbd_ok("rbd:p/i?conf=/etc/ceph/x.conf&id=lun&keyring=/k&cluster=c2&size=64M&readonly",
	       "p", "", "i", 64 << 20, true, "/etc/ceph/x.conf", "lun", "/k", "c2");
	rbd_ok("rbd:p/i?id=client.lun", "p", "", "i", 0, false, "", "lun", "", "");
	rbd_ok("fault:rbd:p/i?size=1M", "p", "", "i", 1 << 20, false, "", "", "", "");

	{
		/* takeover: the default wait, or SECONDS */
		struct be_spec t;

		T_EQ(be_parse_spec("rbd:p/i?takeover", &t), 0);
		T_ASSERT(t.rbd.takeover && t.rbd.takeover_wait_s == BE_RBD_TAKEOVER_WAIT_S);
		T_EQ(be_parse_spec("rbd:p/i?size=1M&takeover=5", &t), 0);
		T_ASSERT(t.rbd.takeover && t.rbd.takeover_wait_s == 5);
		T_EQ(be_parse_spec("rbd:p/i", &t), 0);
		T_ASSERT(!t.rbd.takeover);
	}
	spec_bad("rbd:p/i?takeover=0");
	spec_bad("rbd:p/i?takeover=");
	spec_bad("rbd:p/i?takeover=5s");
	spec_bad("rbd:p/i?takeover=-1");
	spec_bad("rbd:p/i?takeover=86401");
	spec_bad("rbd:p/i?takeover&takeover=3");
	spec_bad("rbd:");
	spec_bad("rbd:pool");               /* no image */
	spec_bad("rbd:pool/");
	spec_bad("rbd:/img");
	spec_bad("rbd:a/b/c/d");            /* too many parts */
	spec_bad("rbd:p//i");               /* empty namespace */
	spec_bad("rbd:p/i@snap");           /* snapshots are not LUNs */
	spec_bad("rbd:p/i?");
	spec_bad("rbd:p/i?size=");
	spec_bad("rbd:p/i?size=100");
	spec_bad("rbd:p/i?size=1M&size=2M");
	spec_bad("rbd:p/i?conf=");
	spec_bad("rbd:p/i?conf=/a&conf=/b");
	spec_bad("rbd:p/i?id");
	spec_bad("rbd:p/i?ro=1");
	spec_bad("rbd:p/i?bogus=1");
	spec_bad("rbd:p/i?size=1M&");
	memset(longname, 'a', sizeof(longname) - 1);
	memcpy(longname, "rbd:p/", 6);
	longname[sizeof(longname) - 1] = '\0';
	spec_bad(longname);                 /* an image name past 127 bytes */
}

static void test_open_dispatch(void)
{
	struct be_spec s;
	struct backend *be = (struct backend *)1;

	memset(&s, 0, sizeof(s));
	strcpy(s.kind, "tape");
	T_EQ(be_open(&s, &be), -EINVAL);
	T_ASSERT(be == NULL);

	strcpy(s.kind, "ram");
	s.size = 1000;  /* built by hand, not parsed: be_open checks too */
	T_EQ(be_open(&s, &be), -EINVAL);

	T_EQ(be_parse_spec("ram:64K", &s), 0);
	T_EQ(be_open(&s, &be), 0);
	T_EQ(be->nblocks, 16);
	T_ASSERT(!strcmp(be->ops->name, "ram"));
	be_close(be);

	T_EQ(be_parse_spec("null:1T", &s), 0);
	T_EQ(be_open(&s, &be), 0);
	T_EQ(be->nblocks, (1ull << 40) / 4096);
	T_ASSERT(!strcmp(be->ops->name, "null"));
	be_close(be);

	be_close(NULL);
}

int main(void)
{
	T_RUN(test_sizes);
	T_RUN(test_specs);
	T_RUN(test_rbd_specs);
	T_RUN(test_open_dispatch);
	return T_PASS;
}
