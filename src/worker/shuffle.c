/* The shuffle. See shuffle.h. */
#include "worker/shuffle.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/log.h"

#define MOD "shuffle"

struct stet_shuffle {
    struct stet_shuffle_port port;
    struct stet_shuffle_stats stats;
    uint64_t in_flight; /* proposals whose callback has not run */
};

struct delivery {
    struct stet_shuffle *s;
    uint32_t partition_id;
    uint64_t seq;
};

int stet_shuffle_create(const struct stet_shuffle_port *port, struct stet_shuffle **out) {
    struct stet_shuffle *s = calloc(1, sizeof(*s));
    if (!s) return -ENOMEM;
    s->port = *port;
    *out = s;
    return 0;
}

void stet_shuffle_destroy(struct stet_shuffle *s) {
    if (!s) return;
    STET_ASSERT(s->in_flight == 0);
    free(s);
}

static void truncated_cb(void *arg, int status, uint64_t lsn) {
    (void)lsn;
    struct stet_shuffle *s = arg;
    STET_ASSERT(s->in_flight > 0);
    s->in_flight--;
    if (status != 0) s->stats.lost++;
}

static void delivered_cb(void *arg, int status, uint64_t lsn) {
    (void)lsn;
    struct delivery *d = arg;
    struct stet_shuffle *s = d->s;
    STET_ASSERT(s->in_flight > 0);
    s->in_flight--;
    if (status != 0) {
        s->stats.lost++;
        free(d);
        return;
    }
    s->stats.delivered++;
    /* the message is durable in the target log: the source may forget it */
    struct stet_record t;
    memset(&t, 0, sizeof(t));
    t.kind = STET_REC_OUTBOX_TRUNCATE;
    uint64_t end;
    stet_partition_key_range(d->partition_id, s->port.num_partitions, &t.id.partition_key, &end);
    t.outbox_seq = d->seq;
    s->in_flight++;
    int rc = s->port.propose(s->port.ctx, &t, truncated_cb, s, NULL);
    if (rc != 0) {
        s->in_flight--;
        s->stats.lost++;
        stet_warn(MOD, "partition %u: cannot truncate outbox seq=%llu (%d); the next leader delivers it again "
                       "(the target drops the duplicate)", d->partition_id, (unsigned long long)d->seq, rc);
    } else {
        s->stats.truncated++;
    }
    free(d);
}

void stet_shuffle_deliver(struct stet_shuffle *s, uint32_t partition_id, uint64_t seq) {
    struct stet_buf v = STET_BUF_INIT;
    int rc = stet_partition_outbox_get(s->port.store, partition_id, seq, &v);
    if (rc != 0) {
        /* 1: already truncated (a duplicate action); < 0: a store error */
        if (rc < 0) stet_warn(MOD, "partition %u: cannot read outbox seq=%llu (%d)", partition_id, (unsigned long long)seq, rc);
        stet_buf_free(&v);
        return;
    }
    struct stet_record r;
    if (stet_record_decode(v.data, v.len, &r) != 0) {
        stet_error(MOD, "partition %u: outbox message seq=%llu does not decode; it stays in the outbox", partition_id,
                   (unsigned long long)seq);
        stet_buf_free(&v);
        return;
    }
    r.dedup_source = partition_id + 1;
    r.dedup_seq = seq;
    struct delivery *d = malloc(sizeof(*d));
    STET_ASSERT(d != NULL);
    *d = (struct delivery){s, partition_id, seq};
    s->in_flight++;
    rc = s->port.propose(s->port.ctx, &r, delivered_cb, d, NULL);
    if (rc != 0) {
        s->in_flight--;
        s->stats.lost++;
        free(d);
        stet_warn(MOD, "partition %u: cannot deliver outbox seq=%llu (%d); the next leader delivers it", partition_id,
                  (unsigned long long)seq, rc);
    }
    stet_buf_free(&v);
}

void stet_shuffle_stats(const struct stet_shuffle *s, struct stet_shuffle_stats *out) { *out = s->stats; }
