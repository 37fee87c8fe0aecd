/* The transport keys of [spectrad] and the stream -> partition hash every producer must match. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "transport_config.h"

/* FNV-1a 32 written out from its definition (offset basis, xor, multiply by the prime). */
static uint32_t fnv1a_reference(const char *s)
{
    uint64_t h = 0x811c9dc5u;
    for (; *s; s++)
        h = ((h ^ (unsigned char)*s) * 0x01000193u) & 0xffffffffu;
    return (uint32_t)h;
}

Test(transport_config, partition_is_fnv1a_mod_p)
{
    /* Published FNV-1a 32 test vectors: "" -> 0x811c9dc5, "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968. */
    cr_assert_eq(fnv1a_reference(""), 0x811c9dc5u);
    cr_assert_eq(fnv1a_reference("a"), 0xe40c292cu);
    cr_assert_eq(fnv1a_reference("foobar"), 0xbf9cf968u);
    cr_assert_eq(spx_partition_of("a", 0xffffffffu), 0xe40c292cu % 0xffffffffu);
    cr_assert_eq(spx_partition_of("foobar", 1000), 0xbf9cf968u % 1000);
    const char *names[] = {"spam0", "spam1", "etth6", "etth11", "sensors", "x"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        for (unsigned p = 1; p <= 64; p++)
            cr_assert_eq(spx_partition_of(names[i], p), fnv1a_reference(names[i]) % p);
    cr_assert_eq(spx_partition_of("spam0", 12), 4);   /* the example in docs/protocol.md */
    cr_assert_eq(spx_partition_of("spam1", 12), 3);
}

static int load(const char *text, spx_config *c, char *err, size_t errlen)
{
    char path[] = "/tmp/spx-transport-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    spx_config_defaults(c);
    int rc = spx_config_load_file(c, path, err, errlen);
    if (rc == 0)
        rc = spx_config_validate(c, err, errlen);
    unlink(path);
    return rc;
}

Test(transport_config, keys)
{
    static spx_config c;
    char err[512];
    cr_assert_eq(load("[spectrad]\n", &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(c.tr.kind, SPX_TRANSPORT_ZMQ);
    cr_assert_eq(c.tr.partitions, 16);
    cr_assert_eq(load("[spectrad]\ntransport = nats\nnats_url = nats://a:1,nats://b:2\n"
                      "partitions = 12\nlease_ttl_ms = 2000\nworker_id = w-1\nnats_replicas = 3\n",
                      &c, err, sizeof err),
#ifdef SPX_HAVE_NATS
                 0, "%s", err);
    cr_assert_eq(c.tr.kind, SPX_TRANSPORT_NATS);
    cr_assert_str_eq(c.tr.nats_url, "nats://a:1,nats://b:2");
    cr_assert_eq(c.tr.partitions, 12);
    cr_assert_eq(c.tr.lease_ttl_ms, 2000);
    cr_assert_eq(c.tr.nats_replicas, 3);
    cr_assert_str_eq(c.tr.worker_id, "w-1");
#else
                 -1);
    cr_assert(strstr(err, "without NATS"), "%s", err);
#endif
    const char *bad[] = {"transport = kafka\n", "partitions = 0\n", "partitions = 5000\n",
                         "lease_ttl_ms = 10\n", "worker_id = a.b\n", "nats_replicas = 7\n",
                         "nats_stream = has space\n", "nats_nkey = SUxyz\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[spectrad]\n%s", bad[i]);
        cr_assert_eq(load(text, &c, err, sizeof err), -1, "accepted: %s", bad[i]);
    }
}
