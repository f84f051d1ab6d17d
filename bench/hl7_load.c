/* MLLP load generator for bench/hl7_ingest.sh: N senders, each on its own
 * connection, each sending an ADT^A04 (a new patient every time) and waiting
 * for its ACK before the next one, for S seconds. Prints messages/s
 * acknowledged (AA only) and ACK latency percentiles.
 * Usage: hl7_load HOST PORT SENDERS SECONDS */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LAT 4000000

static const char *host;
static int port, seconds;
static atomic_long acked, refused;
static double *lat;
static atomic_long nlat;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *sender(void *arg)
{
    long id = (long)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char msg[2048], buf[8192];
    double end = now_s() + seconds;
    for (long seq = 0; now_s() < end; seq++) {
        /* CCCD: province 019, century/sex 1 (female, 1900s), year 85, then a
         * unique 6-digit tail per sender and message. */
        long tail = (id * 100000 + seq) % 1000000;
        int n = snprintf(msg, sizeof msg,
                         "\x0bMSH|^~\\&|LOAD|19020|HIS|19010|20260301083000||ADT^A04^ADT_A01|L%ld-%ld-%ld|P|2.5|||||||"
                         "UNICODE UTF-8\rEVN|A04|20260301083000\rPID|1||019185%06ld^^^VNM^NI||Hoàng^Thị Mai||19850312|F|||"
                         "Số 12^Xóm Đồng Tâm^05935^19^^VNM||0912345678\rPV1|1|N\r\x1c\r",
                         (long)getpid(), id, seq, tail);
        double t0 = now_s();
        if (write(fd, msg, (size_t)n) != n)
            break;
        size_t got = 0;
        for (;;) {
            ssize_t r = read(fd, buf + got, sizeof buf - got - 1);
            if (r <= 0)
                goto out;
            got += (size_t)r;
            if (got >= 2 && buf[got - 2] == 0x1c && buf[got - 1] == '\r')
                break;
        }
        buf[got] = '\0';
        if (strstr(buf, "MSA|AA"))
            atomic_fetch_add(&acked, 1);
        else
            atomic_fetch_add(&refused, 1);
        long k = atomic_fetch_add(&nlat, 1);
        if (k < MAX_LAT)
            lat[k] = now_s() - t0;
    }
out:
    close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: hl7_load HOST PORT SENDERS SECONDS\n");
        return 2;
    }
    host = argv[1];
    port = atoi(argv[2]);
    int senders = atoi(argv[3]);
    seconds = atoi(argv[4]);
    lat = malloc(sizeof(double) * MAX_LAT);
    pthread_t t[256];
    double t0 = now_s();
    for (long i = 0; i < senders && i < 256; i++)
        pthread_create(&t[i], NULL, sender, (void *)i);
    for (int i = 0; i < senders && i < 256; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    long n = atomic_load(&nlat) < MAX_LAT ? atomic_load(&nlat) : MAX_LAT;
    qsort(lat, (size_t)n, sizeof *lat, cmp);
    printf("senders=%d seconds=%.1f acked=%ld refused=%ld rate=%.0f msg/s p50=%.2fms p99=%.2fms max=%.2fms\n", senders,
           el, atomic_load(&acked), atomic_load(&refused), (double)atomic_load(&acked) / el,
           n ? lat[n / 2] * 1e3 : 0, n ? lat[(n * 99) / 100] * 1e3 : 0, n ? lat[n - 1] * 1e3 : 0);
    free(lat);
    return 0;
}
