/* Tests that write a fuzz target's seed corpus: corpus_dump(env, name, bytes) writes the bytes
 * to $env/name when the environment variable `env` names a directory, and does nothing
 * otherwise (a normal test run). */
#ifndef STET_TEST_CORPUS_DUMP_H
#define STET_TEST_CORPUS_DUMP_H

#include <stdio.h>
#include <stdlib.h>

#include "common/buf.h"

static inline void corpus_dump(const char *env, const char *name, const struct stet_buf *b) {
    const char *dir = getenv(env);
    if (!dir) return;
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}

#endif
