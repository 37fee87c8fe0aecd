#include "nats_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

unsigned cli_partition_of(const char *stream, unsigned partitions)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)stream; *c; c++) {
        h ^= *c;
        h *= 16777619u;
    }
    return partitions ? h % partitions : 0;
}

#ifndef SPX_HAVE_NATS

cli_nats *cli_nats_open(const cli_ctx *ctx, const char *urls, const char *creds,
                        unsigned partitions)
{
    (void)urls, (void)creds, (void)partitions;
    cli_error(ctx, "--nats: this spectra was built without NATS support (libnats-dev)");
    return NULL;
}
int cli_nats_sink(void *nats, const char *stream, uint64_t seq, const void *hdr, size_t hdr_len,
                  const void *payload, size_t payload_len)
{
    (void)nats, (void)stream, (void)seq, (void)hdr, (void)hdr_len, (void)payload, (void)payload_len;
    return SPECTRA_EINVAL;
}
int cli_nats_subscribe(const cli_ctx *ctx, cli_nats *n, const char *topic)
{
    (void)ctx, (void)n, (void)topic;
    return CLI_FAIL;
}
int cli_nats_next(cli_nats *n, int timeout_ms, char *topic, size_t topic_cap, spectra_msg **body)
{
    (void)n, (void)timeout_ms, (void)topic, (void)topic_cap, (void)body;
    return SPECTRA_EINVAL;
}
int cli_nats_close(const cli_ctx *ctx, cli_nats *n)
{
    (void)ctx, (void)n;
    return CLI_FAIL;
}

#else

#include <nats/nats.h>
#include <stdatomic.h>

#define SUBS_MAX 16

struct cli_nats {
    natsConnection *nc;
    jsCtx *js;
    unsigned partitions;
    unsigned char *buf;
    size_t cap;
    natsSubscription *subs[SUBS_MAX];
    size_t n_subs;
    natsSubscription *merged;   /* one sync subscription per topic: polled round-robin */
    size_t next_sub;
};

#define RESEND_BUDGET 5000

/* Counted by the publish error handler on a libnats thread, which may still be running when
 * cli_nats_close gives up waiting for acknowledgements: so they live as long as the process, not
 * in the cli_nats that close frees (one NATS connection per CLI process). */
static struct {
    atomic_ulong failed;        /* messages JetStream refused */
    atomic_ulong resent;
} pub_errors;

/* A message JetStream did not store (timeout, no responders while a stream leader is elected):
 * sent again, with the same Nats-Msg-Id, so it is stored once however often it is sent. */
static void on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)closure;
    if (atomic_fetch_add(&pub_errors.resent, 1) < RESEND_BUDGET) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);   /* let an election finish rather than spin */
        if (js_PublishMsgAsync(js, &pae->Msg, NULL) == NATS_OK)
            return;
    }
    atomic_fetch_add(&pub_errors.failed, 1);
}

static const char *nerr(natsStatus s)
{
    const char *t = nats_GetLastError(NULL);
    return t && *t ? t : natsStatus_GetText(s);
}

cli_nats *cli_nats_open(const cli_ctx *ctx, const char *urls, const char *creds,
                        unsigned partitions)
{
    cli_nats *n = calloc(1, sizeof *n);
    char *copy = strdup(urls);
    if (!n || !copy) {
        free(n);
        free(copy);
        cli_error(ctx, "out of memory");
        return NULL;
    }
    n->partitions = partitions;
    const char *list[64];
    int k = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok && k < 64;
         tok = strtok_r(NULL, ",", &save))
        list[k++] = tok;
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK)
        s = natsOptions_SetServers(o, list, k);
    if (s == NATS_OK && creds)
        s = natsOptions_SetUserCredentialsFromFiles(o, creds, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, 250);
    if (s == NATS_OK)
        s = natsConnection_Connect(&n->nc, o);
    natsOptions_Destroy(o);
    free(copy);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 2048;   /* unacknowledged messages in flight */
    jo.PublishAsync.ErrHandler = on_pub_error;
    jo.PublishAsync.ErrHandlerClosure = NULL;
    if (s == NATS_OK)
        s = natsConnection_JetStream(&n->js, n->nc, &jo);
    if (s != NATS_OK) {
        cli_error(ctx, "--nats %s: %s", urls, nerr(s));
        jsCtx_Destroy(n->js);
        natsConnection_Destroy(n->nc);
        free(n);
        return NULL;
    }
    return n;
}

int cli_nats_sink(void *nats, const char *stream, uint64_t seq, const void *hdr, size_t hdr_len,
                  const void *payload, size_t payload_len)
{
    cli_nats *n = nats;
    size_t len = 4 + hdr_len + payload_len;
    if (len > n->cap) {
        unsigned char *grown = realloc(n->buf, len);
        if (!grown)
            return SPECTRA_ENOMEM;
        n->buf = grown;
        n->cap = len;
    }
    n->buf[0] = (unsigned char)hdr_len;
    n->buf[1] = (unsigned char)(hdr_len >> 8);
    n->buf[2] = (unsigned char)(hdr_len >> 16);
    n->buf[3] = (unsigned char)(hdr_len >> 24);
    memcpy(n->buf + 4, hdr, hdr_len);
    if (payload_len)
        memcpy(n->buf + 4 + hdr_len, payload, payload_len);
    char subj[96], id[96];
    snprintf(subj, sizeof subj, "spectra.in.%u.%s", cli_partition_of(stream, n->partitions),
             stream);
    snprintf(id, sizeof id, "%s:%llu", stream, (unsigned long long)seq);
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subj, NULL, (const char *)n->buf, (int)len);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", id);
    if (s == NATS_OK)
        s = js_PublishMsgAsync(n->js, &m, NULL);   /* blocks while MaxPending are unacknowledged */
    natsMsg_Destroy(m);
    return s == NATS_OK ? 0 : SPECTRA_EZMQ;
}

int cli_nats_subscribe(const cli_ctx *ctx, cli_nats *n, const char *topic)
{
    if (n->n_subs == SUBS_MAX) {
        cli_error(ctx, "at most %d topics with --nats", SUBS_MAX);
        return CLI_USAGE;
    }
    char subj[200];
    if (!topic || !*topic)
        snprintf(subj, sizeof subj, "spectra.out.>");
    else if (!strchr(topic, '.'))
        snprintf(subj, sizeof subj, "spectra.out.%s.*", topic);
    else
        snprintf(subj, sizeof subj, "spectra.out.%s", topic);
    natsStatus s = natsConnection_SubscribeSync(&n->subs[n->n_subs], n->nc, subj);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(n->subs[n->n_subs], -1, -1);
    if (s != NATS_OK) {
        cli_error(ctx, "subscribe %s: %s", subj, nerr(s));
        return CLI_FAIL;
    }
    n->n_subs++;
    natsConnection_Flush(n->nc);
    return CLI_OK;
}

int cli_nats_next(cli_nats *n, int timeout_ms, char *topic, size_t topic_cap, spectra_msg **body)
{
    /* Poll the subscriptions in turn with short waits (one is the common case). */
    int64_t slice = n->n_subs > 1 ? 10 : (timeout_ms < 0 ? 1000 : timeout_ms);
    int64_t waited = 0;
    for (;;) {
        for (size_t i = 0; i < n->n_subs; i++) {
            natsSubscription *sub = n->subs[(n->next_sub + i) % n->n_subs];
            natsMsg *m = NULL;
            natsStatus s = natsSubscription_NextMsg(&m, sub, i + 1 == n->n_subs ? slice : 0);
            if (s == NATS_TIMEOUT)
                continue;
            if (s != NATS_OK)
                return SPECTRA_EZMQ;
            n->next_sub = (n->next_sub + i + 1) % n->n_subs;
            const char *subj = natsMsg_GetSubject(m) + strlen("spectra.out.");
            snprintf(topic, topic_cap, "%s", subj);
            int rc = spectra_msg_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), body);
            natsMsg_Destroy(m);
            return rc;
        }
        waited += slice;
        if (timeout_ms >= 0 && waited >= timeout_ms)
            return SPECTRA_ETIMEDOUT;
    }
}

int cli_nats_close(const cli_ctx *ctx, cli_nats *n)
{
    int status = CLI_OK;
    if (n->js) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 10000;
        natsStatus s = js_PublishAsyncComplete(n->js, &po);
        /* Unacknowledged after the wait (a node went away with them): send those again. */
        for (int attempt = 0; s != NATS_OK && attempt < 6; attempt++) {
            natsMsgList pending = {0};
            if (js_PublishAsyncGetPendingList(&pending, n->js) != NATS_OK)
                break;
            for (int i = 0; i < pending.Count; i++)
                if (js_PublishMsgAsync(n->js, &pending.Msgs[i], NULL) != NATS_OK)
                    atomic_fetch_add(&pub_errors.failed, 1);
            natsMsgList_Destroy(&pending);
            s = js_PublishAsyncComplete(n->js, &po);
        }
        if (s != NATS_OK) {
            cli_error(ctx, "JetStream did not acknowledge every message: %s", nerr(s));
            status = CLI_FAIL;
        }
        unsigned long refused = atomic_load(&pub_errors.failed);
        if (refused) {
            cli_error(ctx, "JetStream refused %lu message(s)", refused);
            status = CLI_FAIL;
        }
    }
    for (size_t i = 0; i < n->n_subs; i++)
        natsSubscription_Destroy(n->subs[i]);
    jsCtx_Destroy(n->js);
    natsConnection_Close(n->nc);
    natsConnection_Destroy(n->nc);
    free(n->buf);
    free(n);
    /* Waits (bounded) for libnats' threads, the error handler's included, to finish. */
    nats_CloseAndWait(5000);
    return status;
}

#endif
