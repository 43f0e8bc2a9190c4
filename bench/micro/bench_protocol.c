/* Micro benchmark of the protocol codec hot paths: frame decode, command decode and
 * notification encode, on messages copied from the golden traces (v6/call_send.json and
 * v6/sleep_suspend.json). Prints ns/op for each. Iterations: argv[1] (default 2,000,000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/assert.h"
#include "protocol/protocol.h"

/* CallCommand{Greeter, greet, "\"bob\"", idx 1, result 2} */
static const uint8_t call_payload[] = {0x0a, 0x07, 'G', 'r', 'e', 'e', 't', 'e', 'r', 0x12, 0x05, 'g', 'r', 'e',
                                       'e', 't', 0x1a, 0x05, '"', 'b', 'o', 'b', '"', 0x50, 0x01, 0x58, 0x02};
/* SleepCommand{wake_up_time, id 1} */
static const uint8_t sleep_payload[] = {0x08, 0xc1, 0xea, 0xb0, 0xe1, 0xa0, 0x34, 0x58, 0x01};

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint64_t sink;

static void bench_frame_decode(long iterations) {
    /* a stream of alternating Call and Sleep frames, fed in 16 KiB chunks like HTTP/2 DATA */
    struct stet_buf stream = STET_BUF_INIT;
    long frames = 4096;
    for (long i = 0; i < frames; i++) {
        if (i & 1) stet_frame_encode(&stream, STET_CMD_SLEEP, 0, sleep_payload, sizeof(sleep_payload));
        else stet_frame_encode(&stream, STET_CMD_CALL, 0, call_payload, sizeof(call_payload));
    }
    struct stet_frame_decoder d;
    stet_frame_decoder_init(&d, 1 << 20);
    long rounds = iterations / frames + 1;
    long decoded = 0;
    double t0 = now_ns();
    for (long r = 0; r < rounds; r++) {
        for (size_t off = 0; off < stream.len; off += 16384) {
            size_t chunk = stream.len - off < 16384 ? stream.len - off : 16384;
            stet_frame_decoder_feed(&d, stream.data + off, chunk);
            struct stet_frame fr;
            while (stet_frame_decoder_next(&d, &fr) == 1) {
                sink += fr.len;
                decoded++;
            }
        }
    }
    double t1 = now_ns();
    STET_ASSERT(decoded == rounds * frames);
    printf("frame_decode         %8.1f ns/frame   (%ld frames, 16 KiB chunks)\n", (t1 - t0) / (double)decoded, decoded);
    stet_frame_decoder_free(&d);
    stet_buf_free(&stream);
}

static void bench_command_decode(long iterations) {
    struct stet_command c;
    double t0 = now_ns();
    for (long i = 0; i < iterations; i++) {
        int rc = stet_proto_decode_command(STET_CMD_CALL, call_payload, sizeof(call_payload), &c);
        STET_ASSERT(rc == 0);
        sink += c.result_completion_id;
        stet_command_free(&c);
    }
    double t1 = now_ns();
    printf("command_decode Call  %8.1f ns/op\n", (t1 - t0) / (double)iterations);
    t0 = now_ns();
    for (long i = 0; i < iterations; i++) {
        int rc = stet_proto_decode_command(STET_CMD_SLEEP, sleep_payload, sizeof(sleep_payload), &c);
        STET_ASSERT(rc == 0);
        sink += c.wake_up_time_ms;
        stet_command_free(&c);
    }
    t1 = now_ns();
    printf("command_decode Sleep %8.1f ns/op\n", (t1 - t0) / (double)iterations);
}

static void bench_notification_encode(long iterations) {
    struct stet_buf b = STET_BUF_INIT;
    struct stet_ntf_id id = {STET_NTF_ID_COMPLETION, 2, {NULL, 0}};
    struct stet_result r;
    memset(&r, 0, sizeof(r));
    r.kind = STET_RESULT_VALUE;
    r.value = stet_slice_make("\"Hello bob\"", 11);
    double t0 = now_ns();
    for (long i = 0; i < iterations; i++) {
        stet_buf_reset(&b);
        stet_proto_encode_notification(&b, &id, &r);
        sink += b.len;
    }
    double t1 = now_ns();
    printf("notification_encode  %8.1f ns/op   (CallCompletion value, %zu bytes)\n", (t1 - t0) / (double)iterations,
           b.len);
    r.kind = STET_RESULT_VOID;
    id.idx = 1;
    struct stet_buf framed = STET_BUF_INIT;
    t0 = now_ns();
    for (long i = 0; i < iterations; i++) {
        stet_buf_reset(&b);
        stet_buf_reset(&framed);
        stet_proto_encode_notification(&b, &id, &r);
        stet_frame_encode(&framed, STET_NTF_SLEEP, 0, b.data, b.len);
        sink += framed.len;
    }
    t1 = now_ns();
    printf("notification_encode  %8.1f ns/op   (SleepCompletion void, framed)\n", (t1 - t0) / (double)iterations);
    stet_buf_free(&framed);
    stet_buf_free(&b);
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 2000000;
    if (iterations <= 0) iterations = 1;
    bench_frame_decode(iterations);
    bench_command_decode(iterations);
    bench_notification_encode(iterations);
    return sink == 0xdeadbeef ? 1 : 0;
}
