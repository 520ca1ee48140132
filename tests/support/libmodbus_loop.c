/* The C reference of `footprint-bench`: the Pi issue's plain libmodbus client loop, one thread
 * per device, each reading TAGS holding registers of unit 1 every INTERVAL_MS on the monotonic
 * clock. After WARM_UP_S it counts the reads and this process's CPU over SECONDS, then prints
 * `reads N cpu_s X rss MIB hwm MIB` (the format of the benchmark's tokio-modbus loop).
 *
 * Built by the benchmark with: cc -O2 libmodbus_loop.c $(pkg-config --cflags --libs libmodbus)
 * -lpthread. Usage: libmodbus_loop INTERVAL_MS TAGS WARM_UP_S SECONDS HOST:PORT...
 */
#include <errno.h>
#include <modbus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long interval_ms;
static int tags;
static atomic_long reads;
static atomic_int stop;

struct device {
    char host[64];
    int port;
};

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
}

/* VmRSS or VmHWM of this process, MiB. */
static double status_mib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            kib = atof(line + strlen(key) + 1);
    if (f)
        fclose(f);
    return kib / 1024.0;
}

static void *poll_device(void *arg) {
    struct device *d = arg;
    modbus_t *ctx = modbus_new_tcp(d->host, d->port);
    if (!ctx || modbus_set_slave(ctx, 1) || modbus_connect(ctx)) {
        fprintf(stderr, "libmodbus: %s:%d: %s\n", d->host, d->port, modbus_strerror(errno));
        exit(1);
    }
    uint16_t regs[125];
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!atomic_load(&stop)) {
        next.tv_nsec += interval_ms * 1000000L;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (modbus_read_registers(ctx, 0, tags, regs) == tags)
            atomic_fetch_add(&reads, 1);
    }
    modbus_close(ctx);
    modbus_free(ctx);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s INTERVAL_MS TAGS WARM_UP_S SECONDS HOST:PORT...\n", argv[0]);
        return 2;
    }
    interval_ms = atol(argv[1]);
    tags = atoi(argv[2]);
    unsigned warm_up = (unsigned)atoi(argv[3]), seconds = (unsigned)atoi(argv[4]);
    int n = argc - 5;
    struct device *devices = calloc((size_t)n, sizeof *devices);
    pthread_t *threads = calloc((size_t)n, sizeof *threads);
    for (int i = 0; i < n; i++) {
        const char *colon = strrchr(argv[5 + i], ':');
        if (!colon || colon - argv[5 + i] >= (long)sizeof devices[i].host) {
            fprintf(stderr, "libmodbus: not HOST:PORT: %s\n", argv[5 + i]);
            return 2;
        }
        memcpy(devices[i].host, argv[5 + i], (size_t)(colon - argv[5 + i]));
        devices[i].port = atoi(colon + 1);
        pthread_create(&threads[i], NULL, poll_device, &devices[i]);
    }
    struct timespec w = {warm_up, 0}, m = {seconds, 0};
    nanosleep(&w, NULL);
    long r0 = atomic_load(&reads);
    double c0 = cpu_s();
    nanosleep(&m, NULL);
    long r1 = atomic_load(&reads);
    double c1 = cpu_s();
    printf("reads %ld cpu_s %f rss %f hwm %f\n", r1 - r0, c1 - c0, status_mib("VmRSS"),
           status_mib("VmHWM"));
    fflush(stdout);
    atomic_store(&stop, 1);
    for (int i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
