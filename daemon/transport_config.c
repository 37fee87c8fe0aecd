#include "transport_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void spx_transport_config_defaults(spx_transport_config *t)
{
    memset(t, 0, sizeof *t);
    t->kind = SPX_TRANSPORT_ZMQ;
    snprintf(t->nats_url, sizeof t->nats_url, "nats://127.0.0.1:4222");
    snprintf(t->nats_stream, sizeof t->nats_stream, "SPECTRA_IN");
    t->nats_replicas = 1;
    t->partitions = 16;
    t->lease_ttl_ms = 5000;
    t->nats_snapshot_interval_ms = 2000;
    char host[64] = "spectrad";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            *c = '-';
    snprintf(t->worker_id, sizeof t->worker_id, "%.40s-%ld", host, (long)getpid());
}

static int parse_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    if (!*v || *v == '-')
        return -1;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

static int set_path(char *dst, size_t cap, const char *value)
{
    if (strlen(value) >= cap)
        return -1;
    snprintf(dst, cap, "%s", value);
    return 0;
}

static int worker_id_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > SPX_WORKER_ID_MAX)
        return 0;
    for (; *v; v++)
        if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') ||
              *v == '-' || *v == '_'))
            return 0;
    return 1;
}

#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); *bad = -1; return 1; } while (0)

int spx_transport_config_key(spx_transport_config *t, const char *name, const char *value, int *bad,
                             char *err, size_t errlen)
{
    uint64_t u;
    *bad = 0;
    if (!strcmp(name, "transport")) {
        if (!strcmp(value, "zmq"))
            t->kind = SPX_TRANSPORT_ZMQ;
        else if (!strcmp(value, "nats"))
            t->kind = SPX_TRANSPORT_NATS;
        else
            BAD("transport=%s: expected zmq or nats", value);
    } else if (!strcmp(name, "nats_url")) {
        if (set_path(t->nats_url, sizeof t->nats_url, value) || !*value)
            BAD("nats_url: expected nats://HOST:PORT[,nats://...] (at most %d bytes)",
                SPX_NATS_URLS_MAX - 1);
    } else if (!strcmp(name, "nats_creds")) {
        if (set_path(t->nats_creds, sizeof t->nats_creds, value))
            BAD("nats_creds: path too long");
    } else if (!strcmp(name, "nats_nkey")) {
        if (set_path(t->nats_nkey, sizeof t->nats_nkey, value) || value[0] != 'U')
            BAD("nats_nkey: expected a user public key (U...)");
    } else if (!strcmp(name, "nats_nkey_seed")) {
        if (set_path(t->nats_nkey_seed, sizeof t->nats_nkey_seed, value))
            BAD("nats_nkey_seed: path too long");
    } else if (!strcmp(name, "nats_tls_ca")) {
        if (set_path(t->nats_tls_ca, sizeof t->nats_tls_ca, value))
            BAD("nats_tls_ca: path too long");
    } else if (!strcmp(name, "nats_tls_cert")) {
        if (set_path(t->nats_tls_cert, sizeof t->nats_tls_cert, value))
            BAD("nats_tls_cert: path too long");
    } else if (!strcmp(name, "nats_tls_key")) {
        if (set_path(t->nats_tls_key, sizeof t->nats_tls_key, value))
            BAD("nats_tls_key: path too long");
    } else if (!strcmp(name, "nats_stream")) {
        if (!worker_id_ok(value) || strlen(value) > 32)
            BAD("nats_stream=%s: expected 1-32 characters from [A-Za-z0-9_-]", value);
        snprintf(t->nats_stream, sizeof t->nats_stream, "%s", value);
    } else if (!strcmp(name, "nats_replicas")) {
        if (parse_u64(value, 1, 5, &u))
            BAD("nats_replicas=%s: expected 1..5", value);
        t->nats_replicas = (unsigned)u;
    } else if (!strcmp(name, "partitions")) {
        if (parse_u64(value, 1, SPX_PARTITIONS_MAX, &u))
            BAD("partitions=%s: expected 1..%d", value, SPX_PARTITIONS_MAX);
        t->partitions = (unsigned)u;
    } else if (!strcmp(name, "lease_ttl_ms")) {
        if (parse_u64(value, 300, 3600000, &u))
            BAD("lease_ttl_ms=%s: expected 300..3600000", value);
        t->lease_ttl_ms = u;
    } else if (!strcmp(name, "nats_snapshot_interval_ms")) {
        if (parse_u64(value, 0, 86400000, &u))
            BAD("nats_snapshot_interval_ms=%s: expected 0..86400000", value);
        t->nats_snapshot_interval_ms = u;
    } else if (!strcmp(name, "worker_id")) {
        if (!worker_id_ok(value))
            BAD("worker_id=%s: expected 1-%d characters from [A-Za-z0-9_-]", value,
                SPX_WORKER_ID_MAX);
        snprintf(t->worker_id, sizeof t->worker_id, "%s", value);
    } else {
        return 0;
    }
    return 1;
}

int spx_transport_config_validate(const spx_transport_config *t, char *err, size_t errlen)
{
    if (t->kind != SPX_TRANSPORT_NATS)
        return 0;
#ifndef SPX_HAVE_NATS
    snprintf(err, errlen, "transport=nats: this spectrad was built without NATS support "
             "(install libnats-dev and rebuild)");
    return -1;
#else
    if (!t->nats_url[0]) {
        snprintf(err, errlen, "transport=nats needs nats_url");
        return -1;
    }
    if (t->nats_creds[0] && t->nats_nkey_seed[0]) {
        snprintf(err, errlen, "nats_creds and nats_nkey_seed are exclusive: give one");
        return -1;
    }
    if (!t->nats_nkey[0] != !t->nats_nkey_seed[0]) {
        snprintf(err, errlen, "nats_nkey and nats_nkey_seed go together");
        return -1;
    }
    if (!t->nats_tls_cert[0] != !t->nats_tls_key[0]) {
        snprintf(err, errlen, "nats_tls_cert and nats_tls_key go together");
        return -1;
    }
    return 0;
#endif
}

unsigned spx_partition_of(const char *stream, unsigned partitions)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)stream; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    return partitions ? h % partitions : 0;
}
