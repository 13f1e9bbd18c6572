/* faxpair: two spandsp endpoints back to back until phase E, straight against libspandsp.
 * The C baseline for bench_spandsp: the same loop faxd's software line runs.
 *
 *   faxpair [-t] [-e] [-n] [-r RUNS] [-o OUT.tif] IN.tif
 *     -t  T.38 terminals (paced, IFP packets passed in memory) instead of audio
 *     -e  ECM on        -n  no V.17 (9600 max)      -r  runs (default 1)
 *     -m N  memory: N audio pairs run side by side (1 s of line each in turn) to the end of
 *           page 1 and held there; prints RSS, PSS, private (anonymous) and file-backed growth
 *           per pair
 *     -p N  image-phase cost: N audio pairs 10 s into the call, then 10 s more of each;
 *           prints CPU per second of line time and the calls one core could carry
 *     -P    with -p: paced, one block of every pair per 20 ms tick (10 s of wall time)
 *     -w B  with -p: start measuring after B blocks of 20 ms (default 500 = 10 s)
 *
 * Like faxd's bindings (faxd/spandsp/helper.c), it hands freed heap back to the kernel with
 * malloc_trim(0): never after a single pair's run (faxd trims when the last endpoint is freed
 * only after 8 or more were live at once), at most once a
 * second while paced pairs run (faxd: the pacer thread) and before memory is measured
 * (faxd: the once-a-second release while calls run).
 *
 * Prints one JSON object per run: {"cpu": s, "wall": s, "sim": s, "tx": code, "rx": code, "pages": n}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <malloc.h>
#include <spandsp.h>

#define BLOCK 160

typedef struct {
    int done;
    int code;
} end_t;

typedef struct {
    uint8_t buf[1 << 20];
    int len;
} queue_t;

static int phase_d(t30_state_t *s, void *user_data, int result)
{
    (*(int *) user_data)++;
    return 0;
}

static void phase_e(t30_state_t *s, void *user_data, int code)
{
    end_t *e = (end_t *) user_data;
    e->done = 1;
    e->code = code;
}

static int t38_tx(t38_core_state_t *s, void *user_data, const uint8_t *buf, int len, int count)
{
    queue_t *q = (queue_t *) user_data;
    if (q->len + 2 + len > (int) sizeof(q->buf))
        return -1;
    q->buf[q->len] = len & 0xFF;
    q->buf[q->len + 1] = len >> 8;
    memcpy(q->buf + q->len + 2, buf, len);
    q->len += 2 + len;
    return 0;
}

static void deliver(queue_t *q, t38_terminal_state_t *dst, uint16_t *seq)
{
    int pos = 0;
    t38_core_state_t *core = t38_terminal_get_t38_core_state(dst);
    while (pos + 2 <= q->len) {
        int len = q->buf[pos] | (q->buf[pos + 1] << 8);
        t38_core_rx_ifp_packet(core, q->buf + pos + 2, len, (*seq)++);
        pos += 2 + len;
    }
    q->len = 0;
}

static double now(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void setup(t30_state_t *t, const char *ident, int ecm, int v17, end_t *e)
{
    t30_set_tx_ident(t, ident);
    t30_set_ecm_capability(t, ecm);
    t30_set_supported_modems(t, T30_SUPPORT_V27TER | T30_SUPPORT_V29 | (v17 ? T30_SUPPORT_V17 : 0));
    t30_set_supported_compressions(t, T30_SUPPORT_T4_1D_COMPRESSION | T30_SUPPORT_T4_2D_COMPRESSION);
    t30_set_phase_e_handler(t, phase_e, e);
}

/* kB of key ("Rss:", "Pss:", "Anonymous:") over this process's mappings except shared
 * libraries, whose PSS moves whenever another process maps or unmaps them. */
static long rollup_kb(const char *key)
{
    char line[512];
    long total = 0;
    int lib = 0;
    size_t kl = strlen(key);
    FILE *f = fopen("/proc/self/smaps", "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        char *space = strchr(line, ' ');
        if (space != NULL && (colon == NULL || space < colon)) {
            /* a mapping's header: "start-end perms offset dev inode [path]" */
            char path[400] = "";
            const char *base;
            sscanf(line, "%*s %*s %*s %*s %*s %399s", path);
            base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
            lib = strstr(base, ".so") != NULL || strcmp(path, "[vdso]") == 0 || strcmp(path, "[vvar]") == 0
                  || strcmp(path, "[vsyscall]") == 0;
        } else if (!lib && strncmp(line, key, kl) == 0) {
            total += atol(line + kl);
        }
    }
    fclose(f);
    return total;
}

/* Run n audio pairs side by side (50 blocks each in turn) to the end of page 1 and hold them
 * there: the receiver's page bitmap at its peak, every pair's heap growth interleaved with
 * the others' as in concurrent calls. */
static int memory(const char *in, int n)
{
    long rss0 = rollup_kb("Rss:"), pss0 = rollup_kb("Pss:"), anon0 = rollup_kb("Anonymous:");
    fax_state_t **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));
    end_t *e = calloc(2 * n, sizeof(*e));
    int *pages = calloc(n, sizeof(int));
    int16_t abuf[BLOCK], bbuf[BLOCK];
    int i, k, left = n;
    long blocks = 0;
    char out[256];
    double rss, pss, anon;

    for (i = 0; i < n; i++) {
        a[i] = fax_init(NULL, 1);
        b[i] = fax_init(NULL, 0);
        fax_set_transmit_on_idle(a[i], 1);
        fax_set_transmit_on_idle(b[i], 1);
        setup(fax_get_t30_state(a[i]), "SENDER", 0, 1, &e[2 * i]);
        setup(fax_get_t30_state(b[i]), "RECEIVER", 0, 1, &e[2 * i + 1]);
        t30_set_phase_d_handler(fax_get_t30_state(b[i]), phase_d, &pages[i]);
        snprintf(out, sizeof(out), "/tmp/faxpair-mem-%d-%d.tif", (int) getpid(), i);
        t30_set_tx_file(fax_get_t30_state(a[i]), in, -1, -1);
        t30_set_rx_file(fax_get_t30_state(b[i]), out, -1);
    }
    while (left > 0 && blocks < 100000) {
        left = 0;
        for (i = 0; i < n; i++) {
            for (k = 0; k < 50 && pages[i] < 1; k++) {
                fax_tx(a[i], abuf, BLOCK);
                fax_tx(b[i], bbuf, BLOCK);
                fax_rx(a[i], bbuf, BLOCK);
                fax_rx(b[i], abuf, BLOCK);
            }
            if (pages[i] < 1)
                left++;
        }
        blocks += 50;
    }
    malloc_trim(0);
    rss = (rollup_kb("Rss:") - rss0) / 1024.0 / n;
    pss = (rollup_kb("Pss:") - pss0) / 1024.0 / n;
    anon = (rollup_kb("Anonymous:") - anon0) / 1024.0 / n;
    printf("{\"pairs\": %d, \"rss_growth_mb\": %.1f, \"mb_per_pair\": %.3f, \"pss_mb_per_pair\": %.3f, "
           "\"private_mb_per_pair\": %.3f, \"file_mb_per_pair\": %.3f}\n",
           n, rss * n, rss, pss, anon, rss - anon);
    for (i = 0; i < n; i++) {
        fax_free(a[i]);
        fax_free(b[i]);
        snprintf(out, sizeof(out), "/tmp/faxpair-mem-%d-%d.tif", (int) getpid(), i);
        unlink(out);
    }
    free(a); free(b); free(e); free(pages);
    return 0;
}

static int image_phase(const char *in, int n, int paced, int warm)
{
    struct timespec next;
    fax_state_t **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));
    end_t *e = calloc(2 * n, sizeof(*e));
    int16_t abuf[BLOCK], bbuf[BLOCK];
    int i, k;
    double c0, cpu;
    char out[256];
    for (i = 0; i < n; i++) {
        a[i] = fax_init(NULL, 1);
        b[i] = fax_init(NULL, 0);
        fax_set_transmit_on_idle(a[i], 1);
        fax_set_transmit_on_idle(b[i], 1);
        setup(fax_get_t30_state(a[i]), "SENDER", 0, 1, &e[2 * i]);
        setup(fax_get_t30_state(b[i]), "RECEIVER", 0, 1, &e[2 * i + 1]);
        snprintf(out, sizeof(out), "/tmp/faxpair-img-%d-%d.tif", (int) getpid(), i);
        t30_set_tx_file(fax_get_t30_state(a[i]), in, -1, -1);
        t30_set_rx_file(fax_get_t30_state(b[i]), out, -1);
        for (k = 0; k < warm; k++) {
            fax_tx(a[i], abuf, BLOCK); fax_tx(b[i], bbuf, BLOCK);
            fax_rx(a[i], bbuf, BLOCK); fax_rx(b[i], abuf, BLOCK);
        }
    }
    c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (k = 0; k < 500; k++) {
        if (paced) {                 /* real time: one block of every pair per 20 ms tick */
            next.tv_nsec += 20000000L;
            if (next.tv_nsec >= 1000000000L) {
                next.tv_nsec -= 1000000000L;
                next.tv_sec++;
            }
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        }
        if (paced && k % 50 == 49)
            malloc_trim(0);          /* faxd's pacer thread: at most once a second */
        for (i = 0; i < n; i++) {
            fax_tx(a[i], abuf, BLOCK); fax_tx(b[i], bbuf, BLOCK);
            fax_rx(a[i], bbuf, BLOCK); fax_rx(b[i], abuf, BLOCK);
        }
    }
    cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"pairs\": %d, \"paced\": %d, \"cpu_per_call_second_ms\": %.4f, \"calls_per_core\": %d}\n",
           n, paced, cpu / (n * 10.0) * 1000, (int) (n * 10.0 / cpu));
    for (i = 0; i < n; i++) {
        fax_free(a[i]);
        fax_free(b[i]);
        snprintf(out, sizeof(out), "/tmp/faxpair-img-%d-%d.tif", (int) getpid(), i);
        unlink(out);
    }
    free(a); free(b); free(e);
    return 0;
}

int main(int argc, char **argv)
{
    int opt, t38 = 0, ecm = 0, v17 = 1, runs = 1, r, hold = 0, img = 0, paced = 0, warm = 500;
    const char *out = "/dev/null";
    char outbuf[256];
    while ((opt = getopt(argc, argv, "tenr:o:m:p:Pw:")) != -1) {
        switch (opt) {
        case 't': t38 = 1; break;
        case 'e': ecm = 1; break;
        case 'n': v17 = 0; break;
        case 'r': runs = atoi(optarg); break;
        case 'o': out = optarg; break;
        case 'm': hold = atoi(optarg); break;
        case 'p': img = atoi(optarg); break;
        case 'P': paced = 1; break;
        case 'w': warm = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: faxpair [-t] [-e] [-n] [-r RUNS] [-o OUT.tif] IN.tif\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: faxpair [-t] [-e] [-n] [-r RUNS] [-o OUT.tif] IN.tif\n");
        return 2;
    }
    if (hold > 0)
        return memory(argv[optind], hold);
    if (img > 0)
        return image_phase(argv[optind], img, paced, warm);
    if (strcmp(out, "/dev/null") == 0) {
        snprintf(outbuf, sizeof(outbuf), "/tmp/faxpair-%d.tif", (int) getpid());
        out = outbuf;
    }
    for (r = 0; r < runs; r++) {
        end_t ea = {0, -1}, eb = {0, -1};
        t30_stats_t st;
        int64_t samples = 0;
        double c0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
        if (!t38) {
            int16_t abuf[BLOCK], bbuf[BLOCK];
            fax_state_t *a = fax_init(NULL, 1), *b = fax_init(NULL, 0);
            fax_set_transmit_on_idle(a, 1);
            fax_set_transmit_on_idle(b, 1);
            setup(fax_get_t30_state(a), "SENDER", ecm, v17, &ea);
            setup(fax_get_t30_state(b), "RECEIVER", ecm, v17, &eb);
            t30_set_tx_file(fax_get_t30_state(a), argv[optind], -1, -1);
            t30_set_rx_file(fax_get_t30_state(b), out, -1);
            while (!(ea.done && eb.done) && samples < 1800 * 8000) {
                int n = fax_tx(a, abuf, BLOCK);
                if (n < BLOCK) memset(abuf + n, 0, (BLOCK - n) * 2);
                n = fax_tx(b, bbuf, BLOCK);
                if (n < BLOCK) memset(bbuf + n, 0, (BLOCK - n) * 2);
                fax_rx(a, bbuf, BLOCK);
                fax_rx(b, abuf, BLOCK);
                samples += BLOCK;
            }
            t30_get_transfer_statistics(fax_get_t30_state(b), &st);
            fax_free(a);
            fax_free(b);
        } else {
            static queue_t qa, qb;
            uint16_t seq_a = 0, seq_b = 0;
            t38_terminal_state_t *a, *b;
            qa.len = qb.len = 0;
            a = t38_terminal_init(NULL, 1, t38_tx, &qa);
            b = t38_terminal_init(NULL, 0, t38_tx, &qb);
            setup(t38_terminal_get_t30_state(a), "SENDER", ecm, v17, &ea);
            setup(t38_terminal_get_t30_state(b), "RECEIVER", ecm, v17, &eb);
            t30_set_tx_file(t38_terminal_get_t30_state(a), argv[optind], -1, -1);
            t30_set_rx_file(t38_terminal_get_t30_state(b), out, -1);
            while (!(ea.done && eb.done) && samples < 1800 * 8000) {
                t38_terminal_send_timeout(a, BLOCK);
                t38_terminal_send_timeout(b, BLOCK);
                deliver(&qa, b, &seq_b);
                deliver(&qb, a, &seq_a);
                samples += BLOCK;
            }
            t30_get_transfer_statistics(t38_terminal_get_t30_state(b), &st);
            t38_terminal_free(a);
            t38_terminal_free(b);
        }
        printf("{\"cpu\": %.6f, \"wall\": %.6f, \"sim\": %.2f, \"tx\": %d, \"rx\": %d, \"pages\": %d}\n",
               now(CLOCK_PROCESS_CPUTIME_ID) - c0, now(CLOCK_MONOTONIC) - w0, samples / 8000.0,
               ea.code, eb.code, st.pages_rx);
        fflush(stdout);
    }
    if (out == outbuf)
        unlink(outbuf);
    return 0;
}
