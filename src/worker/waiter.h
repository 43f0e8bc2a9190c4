/* A when_applied waiter: "call cb once partition P has applied LSN n". Embedded in the
 * waiting module's memory (no allocation); the worker links it into the partition's list
 * sorted by LSN and fires it from the apply path. See stet_worker_when_applied. */
#ifndef STET_WORKER_WAITER_H
#define STET_WORKER_WAITER_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*stet_applied_cb)(void *arg);

struct stet_applied_waiter {
    struct stet_applied_waiter *prev, *next;
    uint32_t partition_id;
    uint64_t lsn;
    stet_applied_cb cb;
    void *arg;
    bool armed;
};

/* The port a module takes: arm (cb runs at once, before returning, if already applied; re-arming
 * an armed waiter moves it) and cancel (no-op when not armed). */
struct stet_applied_port {
    void *ctx;
    void (*when_applied)(void *ctx, uint32_t partition_id, uint64_t lsn, struct stet_applied_waiter *w,
                         stet_applied_cb cb, void *arg);
    void (*cancel)(void *ctx, struct stet_applied_waiter *w);
};

#endif
