/*
 * Emits events from C through libeventstorm: JSON and BSON bodies, a log
 * message, a counter, a gauge and a timer; shows the error rules; prints the
 * client's counters.
 *
 * Build and run (from the repository root, after
 * `cargo build --release -p eventstorm-capi`):
 *
 *   cc -std=c11 -Wall -Wextra -o emit examples/c/emit.c \
 *      -I eventstorm-source/capi/include -L target/release -leventstorm \
 *      -Wl,-rpath,"$PWD/target/release"
 *   ./emit tcp://127.0.0.1:5555 100
 *
 * or, with the library installed (docs/c-api.md):
 *
 *   cc -std=c11 -o emit examples/c/emit.c $(pkg-config --cflags --libs eventstorm)
 *
 * It connects to a subscriber (a sink, a router) at the endpoint, waits up
 * to 10 s for it, sends COUNT `order.placed` events (even ones as JSON, odd
 * ones as BSON) and four Metlog-style events, and prints its counters as
 * the last line: `emitted=N sent=N dropped_hwm=0 ...`.
 */
#define _POSIX_C_SOURCE 199309L
#include <eventstorm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Stops the program when a call did not return what it should. */
static void expect(EventstormStatus got, EventstormStatus want, const char *what) {
    if (got != want) {
        fprintf(stderr, "%s: returned %d, expected %d: %s\n", what, (int)got, (int)want,
                eventstorm_last_error());
        exit(1);
    }
}

/* Little-endian int32, as BSON stores it. */
static size_t put_i32(uint8_t *p, int32_t value) {
    uint32_t v = (uint32_t)value;
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
    return 4;
}

/* Writes the BSON document {"order_id": <int32>, "source": "bson"} into buf
 * (at least 64 bytes); returns its length. Any BSON library does the same. */
static size_t order_bson(uint8_t *buf, int32_t order_id) {
    size_t n = 4; /* the length, written last */
    buf[n++] = 0x10; /* int32 */
    memcpy(buf + n, "order_id", 9);
    n += 9;
    n += put_i32(buf + n, order_id);
    buf[n++] = 0x02; /* string: length with its NUL, bytes, NUL */
    memcpy(buf + n, "source", 7);
    n += 7;
    n += put_i32(buf + n, 5);
    memcpy(buf + n, "bson", 5);
    n += 5;
    buf[n++] = 0x00; /* end of document */
    put_i32(buf, (int32_t)n);
    return n;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ENDPOINT COUNT\n", argv[0]);
        return 2;
    }
    const char *endpoint = argv[1];
    long count = strtol(argv[2], NULL, 10);
    fprintf(stderr, "libeventstorm %s\n", eventstorm_version());

    /* A bad configuration: NULL, and the reason. */
    EventstormClient *bad = eventstorm_client_new("{\"conect\": []}");
    if (bad != NULL) {
        fprintf(stderr, "a misspelt key was accepted\n");
        return 1;
    }
    fprintf(stderr, "as expected: %s\n", eventstorm_last_error());

    /* The configuration: the Rust ClientConfig's keys, as JSON. Block mode
     * loses nothing; waiting for the subscriber avoids the slow-joiner loss. */
    char config[512];
    snprintf(config, sizeof config,
             "{\"connect\": [\"%s\"], \"logger\": \"c-example\", \"mode\": \"block\","
             " \"wait_for_subscriber_ms\": 10000}",
             endpoint);
    EventstormClient *client = eventstorm_client_new(config);
    if (client == NULL) {
        fprintf(stderr, "cannot start the client: %s\n", eventstorm_last_error());
        return 1;
    }

    uint8_t bson[64];
    char json[256];
    for (long i = 0; i < count; i++) {
        if (i % 2 == 0) {
            snprintf(json, sizeof json,
                     "{\"order_id\": %ld, \"source\": \"json\", \"total\": 99.5,"
                     " \"items\": [{\"sku\": \"A-1\", \"qty\": 2}]}",
                     i);
            expect(eventstorm_emit_json(client, "order.placed", json, EVENTSTORM_SEVERITY_DEFAULT),
                   EVENTSTORM_STATUS_OK, "eventstorm_emit_json");
        } else {
            size_t len = order_bson(bson, (int32_t)i);
            expect(eventstorm_emit_bson(client, "order.placed", bson, len, 5 /* notice */),
                   EVENTSTORM_STATUS_OK, "eventstorm_emit_bson");
        }
    }

    /* Logs, counters, gauges and timers. */
    expect(eventstorm_log(client, 4 /* warning */, "payment provider slow"), EVENTSTORM_STATUS_OK,
           "eventstorm_log");
    expect(eventstorm_incr(client, "orders", count), EVENTSTORM_STATUS_OK, "eventstorm_incr");
    expect(eventstorm_gauge(client, "queue.depth", 17.5), EVENTSTORM_STATUS_OK,
           "eventstorm_gauge");
    double start = now_ms();
    /* ... the work being timed ... */
    expect(eventstorm_timer(client, "db.query", now_ms() - start), EVENTSTORM_STATUS_OK,
           "eventstorm_timer");

    /* Bad arguments are errors with a message, never a crash; nothing is sent or counted. */
    expect(eventstorm_emit_json(client, "order.placed", "{\"order_id\": ", -1),
           EVENTSTORM_STATUS_INVALID_ARGUMENT, "bad JSON");
    fprintf(stderr, "as expected: %s\n", eventstorm_last_error());
    expect(eventstorm_emit_json(client, "order.placed", "[1, 2]", -1),
           EVENTSTORM_STATUS_INVALID_ARGUMENT, "JSON that is not an object");
    expect(eventstorm_emit_bson(client, "order.placed", bson, 3, -1),
           EVENTSTORM_STATUS_INVALID_ARGUMENT, "truncated BSON");
    fprintf(stderr, "as expected: %s\n", eventstorm_last_error());
    expect(eventstorm_emit_json(client, NULL, "{}", -1), EVENTSTORM_STATUS_NULL_ARGUMENT,
           "NULL event type");
    expect(eventstorm_emit_json(client, "order.placed", "{}", 9),
           EVENTSTORM_STATUS_INVALID_ARGUMENT, "severity 9");
    expect(eventstorm_emit_json(client, "bad type!", "{}", -1),
           EVENTSTORM_STATUS_INVALID_ARGUMENT, "invalid event type");
    expect(eventstorm_log(client, -1, "\xff\xfe not UTF-8"), EVENTSTORM_STATUS_INVALID_UTF8,
           "a message that is not UTF-8");

    expect(eventstorm_flush(client, 10000), EVENTSTORM_STATUS_OK, "eventstorm_flush");
    expect(eventstorm_client_close(client), EVENTSTORM_STATUS_OK, "eventstorm_client_close");

    /* After close: calls are errors, the counters stay readable. */
    expect(eventstorm_incr(client, "orders", 1), EVENTSTORM_STATUS_CLOSED, "incr after close");
    expect(eventstorm_client_close(client), EVENTSTORM_STATUS_OK, "a second close");
    EventstormCounters c;
    expect(eventstorm_client_counters(client, &c, sizeof c), EVENTSTORM_STATUS_OK,
           "eventstorm_client_counters");
    eventstorm_client_free(client);

    printf("emitted=%llu sent=%llu dropped_hwm=%llu send_errors=%llu dropped_queue_full=%llu"
           " unsubscribed=%llu invalid=%llu\n",
           (unsigned long long)c.emitted, (unsigned long long)c.sent,
           (unsigned long long)c.dropped_hwm, (unsigned long long)c.send_errors,
           (unsigned long long)c.dropped_queue_full, (unsigned long long)c.unsubscribed,
           (unsigned long long)c.invalid);
    return 0;
}
