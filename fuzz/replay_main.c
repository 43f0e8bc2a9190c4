/* Fuzz driver main for builds without libFuzzer: feeds every file of the corpus directory
 * given as argv[1] to LLVMFuzzerTestOneInput, then runs a seeded mutation loop over them
 * (bit flips, truncations, splices) for STET_FUZZ_ITERATIONS iterations (default 20000).
 * A crash or sanitizer report fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input { uint8_t *data; size_t len; };

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return rng_state;
}

int main(int argc, char **argv) {
    struct input inputs[512];
    size_t n = 0;
    if (argc > 1) {
        DIR *d = opendir(argv[1]);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL && n < 512) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
            FILE *f = fopen(path, "rb");
            if (!f) continue;
            fseek(f, 0, SEEK_END);
            long len = ftell(f);
            fseek(f, 0, SEEK_SET);
            inputs[n].data = malloc((size_t)len + 1);
            inputs[n].len = fread(inputs[n].data, 1, (size_t)len, f);
            fclose(f);
            LLVMFuzzerTestOneInput(inputs[n].data, inputs[n].len);
            n++;
        }
        if (d) closedir(d);
    }
    const char *it = getenv("STET_FUZZ_ITERATIONS");
    long iterations = it ? atol(it) : 20000;
    uint8_t buf[8192];
    for (long i = 0; i < iterations; i++) {
        size_t len;
        if (n == 0 || rng() % 8 == 0) {
            len = rng() % 256;
            for (size_t j = 0; j < len; j++) buf[j] = (uint8_t)rng();
        } else {
            struct input *in = &inputs[rng() % n];
            len = in->len < sizeof(buf) ? in->len : sizeof(buf);
            memcpy(buf, in->data, len);
            int muts = 1 + (int)(rng() % 4);
            for (int m = 0; m < muts && len > 0; m++) {
                switch (rng() % 4) {
                case 0: buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8)); break;
                case 1: buf[rng() % len] = (uint8_t)rng(); break;
                case 2: len = rng() % (len + 1); break;
                default: {
                    struct input *o = &inputs[rng() % n];
                    size_t at = rng() % (len + 1), take = o->len ? rng() % o->len : 0;
                    if (at + take > sizeof(buf)) take = sizeof(buf) - at;
                    memcpy(buf + at, o->data, take);
                    len = at + take;
                }
                }
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("fuzz replay: %zu corpus files, %ld mutations, no crash\n", n, iterations);
    for (size_t i = 0; i < n; i++) free(inputs[i].data);
    return 0;
}
