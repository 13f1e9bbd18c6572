/* faxpair: two spandsp endpoints back to back until phase E, straight against libspandsp.
 * The C baseline for bench_spandsp: the same loop faxd's software line runs.
 *
 *   faxpair [-t] [-e] [-n] [-r RUNS] [-o OUT.tif] IN.tif
 *     -t  T.38 terminals (paced, IFP packets passed in memory) instead of audio
 *     -e  ECM on        -n  no V.17 (9600 max)      -r  runs (default 1)
 *
 * Prints one JSON object per run: {"cpu": s, "wall": s, "sim": s, "tx": code, "rx": code, "pages": n}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

int main(int argc, char **argv)
{
    int opt, t38 = 0, ecm = 0, v17 = 1, runs = 1, r;
    const char *out = "/dev/null";
    char outbuf[256];
    while ((opt = getopt(argc, argv, "tenr:o:")) != -1) {
        switch (opt) {
        case 't': t38 = 1; break;
        case 'e': ecm = 1; break;
        case 'n': v17 = 0; break;
        case 'r': runs = atoi(optarg); break;
        case 'o': out = optarg; break;
        default:
            fprintf(stderr, "usage: faxpair [-t] [-e] [-n] [-r RUNS] [-o OUT.tif] IN.tif\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: faxpair [-t] [-e] [-n] [-r RUNS] [-o OUT.tif] IN.tif\n");
        return 2;
    }
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
