/* faxd's C helper: endpoint state, callback trampolines, T.38 packet queues and the
 * loops that run N blocks of audio (or T.38 time) between two endpoints per call.
 *
 * Compiled into faxd.spandsp._spandsp by _build.py (appended to the set_source text).
 * Nothing here touches Python objects; the trampolines record state in faxd_ep_t and
 * then call the extern "Python" functions declared in cdefs/faxd_helper.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* dladdr */
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <malloc.h>
#include <unistd.h>

#define FAXD_BLOCK 160          /* samples per 20 ms block at 8000 samples/s */

/* --- the two generations of spandsp.
 * _build.py chose the library (FAXD_SPANDSP_GENERATION: 0 for 0.0.6, 3 for 3.x) and points the
 * compiler at its headers; this stops the build if the spandsp.h actually included is of the
 * other generation (3.x's always includes t85.h, 0.0.6's has none). */
#if !defined(FAXD_SPANDSP_GENERATION)
#error "FAXD_SPANDSP_GENERATION is not set: build with faxd/spandsp/_build.py"
#elif FAXD_SPANDSP_GENERATION >= 3 && !defined(_SPANDSP_T85_H_)
#error "faxd chose spandsp 3 but the compiler found spandsp 0.0.6's spandsp.h"
#elif FAXD_SPANDSP_GENERATION < 3 && defined(_SPANDSP_T85_H_)
#error "faxd chose spandsp 0.0.6 but the compiler found spandsp 3's spandsp.h"
#endif

/* T.30 callbacks: 3.x dropped the t30_state_t argument. */
#if FAXD_SPANDSP_GENERATION >= 3
#define FAXD_T30_CB_ARGS void *user_data
#else
#define FAXD_T30_CB_ARGS t30_state_t *s, void *user_data
#endif

typedef struct faxd_ctl_s {
    volatile int stop;          /* set from any thread: the running loop returns at the next block */
    int64_t blocks;             /* blocks run so far by loops given this ctl */
} faxd_ctl_t;

typedef struct faxd_ep_s {
    int kind;                   /* 0 audio (fax_state_t), 1 T.38 terminal */
    fax_state_t *fax;
    t38_terminal_state_t *t38;
    t30_state_t *t30;
    void *handle;               /* Python handle given to the extern "Python" callbacks */
    int callbacks;              /* 1: forward phase B/D/E/document to Python */
    int done;                   /* phase E seen */
    int completion_code;
    int phase_b_count;
    int phase_d_count;
    int stop_at_phase_d;        /* >0: ask the loop to stop when phase_d_count reaches it */
    int stop;                   /* set by trampolines: the loop returns after this block */
    int64_t samples;            /* simulated time of this endpoint, in samples */
    /* T.38 transmit queue: [len:u16][count:u16][bytes]... */
    uint8_t *q;
    int q_len;
    int q_cap;
    int q_packets;
    uint16_t rx_seq;            /* next sequence number given to packets delivered to this endpoint */
    int16_t buf[FAXD_BLOCK];    /* last transmitted audio block */
    int buf_len;
    volatile int paced;         /* 1 while a pacer thread owns this endpoint */
    volatile int cancel;        /* set by Python: the pacer terminates the pair at its next tick */
} faxd_ep_t;

static int faxd_py_phase_b(void *handle, int result);
static int faxd_py_phase_d(void *handle, int result);
static void faxd_py_phase_e(void *handle, int completion_code);
static int faxd_py_document(void *handle, int status);

static int faxd_tr_phase_b(FAXD_T30_CB_ARGS, int result)
{
    faxd_ep_t *ep = (faxd_ep_t *) user_data;
    ep->phase_b_count++;
    if (ep->callbacks)
        return faxd_py_phase_b(ep->handle, result);
    return 0;
}

static int faxd_tr_phase_d(FAXD_T30_CB_ARGS, int result)
{
    faxd_ep_t *ep = (faxd_ep_t *) user_data;
    ep->phase_d_count++;
    if (ep->stop_at_phase_d > 0 && ep->phase_d_count >= ep->stop_at_phase_d)
        ep->stop = 1;
    if (ep->callbacks)
        return faxd_py_phase_d(ep->handle, result);
    return 0;
}

static void faxd_tr_phase_e(FAXD_T30_CB_ARGS, int completion_code)
{
    faxd_ep_t *ep = (faxd_ep_t *) user_data;
    ep->done = 1;
    ep->completion_code = completion_code;
    if (ep->callbacks)
        faxd_py_phase_e(ep->handle, completion_code);
}

static int faxd_tr_document(FAXD_T30_CB_ARGS, int status)
{
    faxd_ep_t *ep = (faxd_ep_t *) user_data;
    if (ep->callbacks)
        return faxd_py_document(ep->handle, status);
    return 0;
}

static int faxd_tr_t38_tx(t38_core_state_t *s, void *user_data, const uint8_t *buf, int len, int count)
{
    faxd_ep_t *ep = (faxd_ep_t *) user_data;
    int need = ep->q_len + 4 + len;
    if (len < 0 || len > 65535)
        return -1;
    if (need > ep->q_cap) {
        int cap = ep->q_cap ? ep->q_cap : 4096;
        uint8_t *q;
        while (cap < need)
            cap *= 2;
        q = (uint8_t *) realloc(ep->q, cap);
        if (q == NULL)
            return -1;
        ep->q = q;
        ep->q_cap = cap;
    }
    ep->q[ep->q_len] = (uint8_t) (len & 0xFF);
    ep->q[ep->q_len + 1] = (uint8_t) (len >> 8);
    ep->q[ep->q_len + 2] = (uint8_t) (count & 0xFF);
    ep->q[ep->q_len + 3] = (uint8_t) ((count >> 8) & 0xFF);
    memcpy(ep->q + ep->q_len + 4, buf, len);
    ep->q_len = need;
    ep->q_packets++;
    return 0;
}

static void faxd_ep_hook(faxd_ep_t *ep)
{
    t30_set_phase_b_handler(ep->t30, faxd_tr_phase_b, ep);
    t30_set_phase_d_handler(ep->t30, faxd_tr_phase_d, ep);
    t30_set_phase_e_handler(ep->t30, faxd_tr_phase_e, ep);
    t30_set_document_handler(ep->t30, faxd_tr_document, ep);
}

/* --- giving freed heap back to the kernel.
 * A call's big buffers come and go inside libspandsp and libtiff: the receiver's page bitmap
 * (about 500 KB for A4 fine) grows by realloc 100 rows at a time, libtiff's strip buffer
 * (the size of an uncompressed page) lives for one page end. glibc keeps what they free
 * resident wherever a live chunk sits above it in the heap, so after a busy minute the process
 * holds the peak of all calls that ever overlapped (measured: 17 MB still resident after 40
 * concurrent calls had ended, 70 KB more per live call while they run). malloc_trim(0) hands
 * the free pages inside the heap back (MADV_DONTNEED); it costs about 20 us with nothing to
 * give back and 1.5 ms for 18 MB, so it runs at most once a second while calls run (the
 * pacer's thread) and when the last endpoint is freed after at least FAXD_TRIM_PEAK endpoints
 * were live at once. A call or two at a time leave too little to matter: trimming after each
 * call of a sequential stream made the next call fault its memory in again, and in a process
 * with a large Python heap the trim itself walked megabytes (+0.3 ms of CPU per one-page T.38
 * call, +30%). */
#define FAXD_TRIM_PEAK 8

static volatile int faxd_live_eps;
static volatile int64_t faxd_last_trim_ns;

static int64_t faxd_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000000000L + t.tv_nsec;
}

/* Returns 1 when it trimmed; force=0: only if a second has passed since the last trim. */
static int faxd_heap_release(int force)
{
    int64_t now = faxd_now_ns();
    int64_t last = __atomic_load_n(&faxd_last_trim_ns, __ATOMIC_RELAXED);
    if (!force && now - last < 1000000000L)
        return 0;
    if (!__atomic_compare_exchange_n(&faxd_last_trim_ns, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
        && !force)
        return 0;               /* another thread is trimming right now */
    malloc_trim(0);
    return 1;
}

static volatile int faxd_peak_eps;   /* most endpoints live at once since the last trim at 0 */

static void faxd_count_new_endpoint(void)
{
    int live = __atomic_add_fetch(&faxd_live_eps, 1, __ATOMIC_RELAXED);
    int peak = __atomic_load_n(&faxd_peak_eps, __ATOMIC_RELAXED);
    while (live > peak && !__atomic_compare_exchange_n(&faxd_peak_eps, &peak, live, 0,
                                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static int faxd_live_endpoints(void)
{
    return __atomic_load_n(&faxd_live_eps, __ATOMIC_RELAXED);
}

static faxd_ep_t *faxd_ep_new_audio(int calling_party)
{
    faxd_ep_t *ep = (faxd_ep_t *) calloc(1, sizeof(*ep));
    if (ep == NULL)
        return NULL;
    ep->kind = 0;
    ep->fax = fax_init(NULL, calling_party);
    if (ep->fax == NULL) {
        free(ep);
        return NULL;
    }
    fax_set_transmit_on_idle(ep->fax, 1);
    ep->t30 = fax_get_t30_state(ep->fax);
    faxd_ep_hook(ep);
    faxd_count_new_endpoint();
    return ep;
}

static faxd_ep_t *faxd_ep_new_t38(int calling_party, int config)
{
    faxd_ep_t *ep = (faxd_ep_t *) calloc(1, sizeof(*ep));
    if (ep == NULL)
        return NULL;
    ep->kind = 1;
    ep->t38 = t38_terminal_init(NULL, calling_party, faxd_tr_t38_tx, ep);
    if (ep->t38 == NULL) {
        free(ep);
        return NULL;
    }
    t38_terminal_set_config(ep->t38, config);
    ep->t30 = t38_terminal_get_t30_state(ep->t38);
    faxd_ep_hook(ep);
    faxd_count_new_endpoint();
    return ep;
}

static void faxd_ep_free(faxd_ep_t *ep)
{
    if (ep == NULL)
        return;
    if (ep->fax)
        fax_free(ep->fax);
    if (ep->t38)
        t38_terminal_free(ep->t38);
    free(ep->q);
    free(ep);
    /* The last of several concurrent calls ended: give back what they left free in the heap. */
    if (__atomic_sub_fetch(&faxd_live_eps, 1, __ATOMIC_RELAXED) == 0
        && __atomic_exchange_n(&faxd_peak_eps, 0, __ATOMIC_RELAXED) >= FAXD_TRIM_PEAK)
        faxd_heap_release(1);
}

static t30_state_t *faxd_ep_t30(faxd_ep_t *ep)
{
    return ep->t30;
}

static int faxd_ep_is_done(faxd_ep_t *ep)
{
    return ep == NULL || ep->done;
}

/* Deliver every packet queued by src to dst (dst NULL: the packets are lost). */
static void faxd_t38_deliver(faxd_ep_t *src, faxd_ep_t *dst)
{
    int pos = 0;
    if (dst != NULL && dst->t38 != NULL) {
        t38_core_state_t *core = t38_terminal_get_t38_core_state(dst->t38);
        while (pos + 4 <= src->q_len) {
            int len = src->q[pos] | (src->q[pos + 1] << 8);
            t38_core_rx_ifp_packet(core, src->q + pos + 4, len, dst->rx_seq++);
            pos += 4 + len;
        }
    }
    src->q_len = 0;
    src->q_packets = 0;
}

/* Copy out and clear the transmit queue; returns the bytes written (the queue format), or
 * -needed when out is too small. */
static int faxd_t38_take(faxd_ep_t *ep, uint8_t *out, int max_len)
{
    int n = ep->q_len;
    if (n > max_len)
        return -n;
    if (n > 0)
        memcpy(out, ep->q, n);
    ep->q_len = 0;
    ep->q_packets = 0;
    return n;
}

static int faxd_t38_rx(faxd_ep_t *ep, const uint8_t *buf, int len, int seq_no)
{
    uint16_t seq = (seq_no < 0) ? ep->rx_seq++ : (uint16_t) seq_no;
    return t38_core_rx_ifp_packet(t38_terminal_get_t38_core_state(ep->t38), buf, len, seq);
}

static int faxd_t38_advance(faxd_ep_t *ep, int samples)
{
    int r = t38_terminal_send_timeout(ep->t38, samples);
    ep->samples += samples;
    return r;
}

/* One audio endpoint: transmit one block into ep->buf (always 160 samples). */
static int faxd_audio_tx(faxd_ep_t *ep, int16_t *out, int len)
{
    int n = fax_tx(ep->fax, out, len);
    if (n < len)
        memset(out + n, 0, (len - n) * sizeof(int16_t));
    return len;
}

static int faxd_audio_rx(faxd_ep_t *ep, int16_t *in, int len)
{
    ep->samples += len;
    return fax_rx(ep->fax, in, len);
}

static int faxd_audio_rx_fillin(faxd_ep_t *ep, int len)
{
    ep->samples += len;
    return fax_rx_fillin(ep->fax, len);
}

/* Run up to `blocks` 20 ms audio blocks between a and b (b NULL: a hears silence).
 * Returns the number of blocks run. Stops early when every endpoint reached phase E,
 * when an endpoint asked to stop (stop_at_phase_d) or when ctl->stop is set. */
static int faxd_audio_run(faxd_ep_t *a, faxd_ep_t *b, int blocks, faxd_ctl_t *ctl)
{
    int16_t abuf[FAXD_BLOCK];
    int16_t bbuf[FAXD_BLOCK];
    int i;

    for (i = 0; i < blocks; i++) {
        if ((a->done && faxd_ep_is_done(b)) || a->stop || (b && b->stop) || (ctl && ctl->stop))
            break;
        faxd_audio_tx(a, abuf, FAXD_BLOCK);
        if (b) {
            faxd_audio_tx(b, bbuf, FAXD_BLOCK);
            fax_rx(a->fax, bbuf, FAXD_BLOCK);
            fax_rx(b->fax, abuf, FAXD_BLOCK);
            b->samples += FAXD_BLOCK;
        } else {
            /* fax_rx may scribble on its input: a fresh block of silence every time */
            memset(bbuf, 0, sizeof(bbuf));
            fax_rx(a->fax, bbuf, FAXD_BLOCK);
        }
        a->samples += FAXD_BLOCK;
    }
    if (ctl)
        ctl->blocks += i;
    return i;
}

/* The same for two T.38 terminals: each step advances both by 160 samples and then delivers
 * the packets each one queued to the other (b NULL: a's packets are lost). */
static int faxd_t38_run(faxd_ep_t *a, faxd_ep_t *b, int steps, faxd_ctl_t *ctl)
{
    int i;

    for (i = 0; i < steps; i++) {
        if ((a->done && faxd_ep_is_done(b)) || a->stop || (b && b->stop) || (ctl && ctl->stop))
            break;
        t38_terminal_send_timeout(a->t38, FAXD_BLOCK);
        a->samples += FAXD_BLOCK;
        if (b) {
            t38_terminal_send_timeout(b->t38, FAXD_BLOCK);
            b->samples += FAXD_BLOCK;
            faxd_t38_deliver(a, b);
            faxd_t38_deliver(b, a);
        } else {
            faxd_t38_deliver(a, NULL);
        }
    }
    if (ctl)
        ctl->blocks += i;
    return i;
}

/* Run many independent pairs one block each (paced calls: one C call per 20 ms tick for all). */
static int faxd_audio_tick(faxd_ep_t **eps, int pairs)
{
    int i, active = 0;
    for (i = 0; i < pairs; i++) {
        faxd_ep_t *a = eps[2 * i];
        faxd_ep_t *b = eps[2 * i + 1];
        if (a == NULL)
            continue;
        if (a->done && faxd_ep_is_done(b))
            continue;
        faxd_audio_run(a, b, 1, NULL);
        active++;
    }
    return active;
}

/* Open a TIFF the way the sender will (t4_tx) and report what spandsp sees.
 * Returns 0 and fills out[] = {pages, width, x_res, y_res, bilevel}, or -1 when spandsp refuses
 * it. 0.0.6 opens only 1-bit images; 3.x also opens gray and colour ones (bilevel 0), which
 * it would convert when sending. */
static int faxd_probe_tiff(const char *path, int *out)
{
    t4_tx_state_t *t4 = t4_tx_init(NULL, path, -1, -1);
    if (t4 == NULL)
        return -1;
    out[0] = t4_tx_get_pages_in_file(t4);
#if FAXD_SPANDSP_GENERATION >= 3
    {
        t4_stats_t st;
        t4_tx_get_transfer_statistics(t4, &st);
        out[1] = st.image_width;
        out[2] = st.image_x_resolution;
        out[3] = st.image_y_resolution;
        out[4] = st.image_type == T4_IMAGE_TYPE_BILEVEL;
    }
#else
    out[1] = t4_tx_get_image_width(t4);
    out[2] = t4_tx_get_x_resolution(t4);
    out[3] = t4_tx_get_y_resolution(t4);
    out[4] = 1;
#endif
    t4_tx_free(t4);
    return 0;
}

/* --- transfer statistics and received-file coding, one form for both generations. */

typedef struct faxd_stats_s {   /* declared for Python in cdefs/faxd_helper.h */
    int bit_rate;
    int error_correcting_mode;
    int pages_tx;
    int pages_rx;
    int pages_in_file;
    int x_resolution;           /* pixels per metre, of the page as exchanged */
    int y_resolution;
    int width;
    int length;
    int image_size;
    int coding;                 /* faxd_coding() */
    int bad_rows;
    int longest_bad_row_run;
    int error_correcting_mode_retries;
    int current_status;
} faxd_stats_t;

typedef struct faxd_spandsp_info_s {
    int generation;
    const char *version;
    const char *prefix;
    const char *release;
} faxd_spandsp_info_t;

#if FAXD_SPANDSP_GENERATION >= 3
#define FAXD_T4_1D T4_COMPRESSION_T4_1D
#define FAXD_T4_2D T4_COMPRESSION_T4_2D
#define FAXD_T6 T4_COMPRESSION_T6
#define FAXD_T85 T4_COMPRESSION_T85
#define FAXD_T85_L0 T4_COMPRESSION_T85_L0
/* t30_set_supported_compressions takes the same T4_COMPRESSION_* bits in 3.x */
#define FAXD_SUPPORT_T4_1D T4_COMPRESSION_T4_1D
#define FAXD_SUPPORT_T4_2D T4_COMPRESSION_T4_2D
#define FAXD_SUPPORT_T6 T4_COMPRESSION_T6
#else
#define FAXD_T4_1D T4_COMPRESSION_ITU_T4_1D
#define FAXD_T4_2D T4_COMPRESSION_ITU_T4_2D
#define FAXD_T6 T4_COMPRESSION_ITU_T6
#define FAXD_T85 T4_COMPRESSION_ITU_T85
#define FAXD_T85_L0 T4_COMPRESSION_ITU_T85_L0
#define FAXD_SUPPORT_T4_1D T30_SUPPORT_T4_1D_COMPRESSION
#define FAXD_SUPPORT_T4_2D T30_SUPPORT_T4_2D_COMPRESSION
#define FAXD_SUPPORT_T6 T30_SUPPORT_T6_COMPRESSION
#endif

/* faxd_stats_t.coding: one numbering for both generations (stats.py: ENCODINGS) */
#define FAXD_CODING_NONE 0
#define FAXD_CODING_T4_1D 1
#define FAXD_CODING_T4_2D 2
#define FAXD_CODING_T6 3
#define FAXD_CODING_T85 4
#define FAXD_CODING_T85_L0 5
#define FAXD_CODING_OTHER 6

static int faxd_coding(int compression)
{
    switch (compression) {
    case 0: return FAXD_CODING_NONE;
    case FAXD_T4_1D: return FAXD_CODING_T4_1D;
    case FAXD_T4_2D: return FAXD_CODING_T4_2D;
    case FAXD_T6: return FAXD_CODING_T6;
    case FAXD_T85: return FAXD_CODING_T85;
    case FAXD_T85_L0: return FAXD_CODING_T85_L0;
    default: return FAXD_CODING_OTHER;
    }
}

static void faxd_get_stats(t30_state_t *t30, faxd_stats_t *out)
{
    t30_stats_t st;
    memset(&st, 0, sizeof(st));
    t30_get_transfer_statistics(t30, &st);
    out->bit_rate = st.bit_rate;
    out->error_correcting_mode = st.error_correcting_mode;
    out->pages_tx = st.pages_tx;
    out->pages_rx = st.pages_rx;
    out->pages_in_file = st.pages_in_file;
    /* the page as exchanged on the line (3.x also reports the file's page: image_*) */
    out->x_resolution = st.x_resolution;
    out->y_resolution = st.y_resolution;
    out->width = st.width;
    out->length = st.length;
    out->image_size = st.image_size;
#if FAXD_SPANDSP_GENERATION >= 3
    out->coding = faxd_coding(st.compression);
#else
    out->coding = faxd_coding(st.encoding);
#endif
    out->bad_rows = st.bad_rows;
    out->longest_bad_row_run = st.longest_bad_row_run;
    out->error_correcting_mode_retries = st.error_correcting_mode_retries;
    out->current_status = st.current_status;
}

/* How spandsp writes received pages: coding 1 T.4 1D, 2 T.4 2D, 3 T.6. */
static int faxd_set_rx_coding(t30_state_t *t30, int coding)
{
    int c;
    switch (coding) {
    case FAXD_CODING_T4_1D: c = FAXD_T4_1D; break;
    case FAXD_CODING_T4_2D: c = FAXD_T4_2D; break;
    case FAXD_CODING_T6: c = FAXD_T6; break;
    default: return -1;
    }
#if FAXD_SPANDSP_GENERATION >= 3
    return t30_set_supported_output_compressions(t30, c);
#else
    return t30_set_rx_encoding(t30, c);
#endif
}

static void faxd_spandsp_info(faxd_spandsp_info_t *out)
{
    out->generation = FAXD_SPANDSP_GENERATION;
    out->version = FAXD_SPANDSP_VERSION;
    out->prefix = FAXD_SPANDSP_PREFIX;
    out->release = SPANDSP_RELEASE_DATETIME_STRING;
}

/* The file the dynamic linker loaded libspandsp from (NULL if it cannot tell). */
static const char *faxd_spandsp_library(void)
{
    Dl_info info;
    if (dladdr((void *) &fax_init, &info) == 0 || info.dli_fname == NULL)
        return NULL;
    return info.dli_fname;
}

/* --- the pacer: a C thread that runs one 20 ms block of every registered audio pair per tick,
 * by an absolute deadline (CLOCK_MONOTONIC), with no Python on the per-frame path.
 * Python adds pairs (they are merged at the start of the next tick) and watches ep->paced:
 * the thread clears it when a pair finished (both ends at phase E) or was cancelled. */

typedef struct faxd_pacer_s {
    pthread_mutex_t lock;       /* guards pending and running; never held while DSP runs */
    faxd_ep_t **pending;
    int n_pending, cap_pending;
    faxd_ep_t **active;         /* owned by the thread */
    int n_active, cap_active;
    volatile int running;
    volatile int64_t ticks;
    volatile int64_t late_ticks;
    volatile int64_t blocks;
    volatile int64_t pairs;     /* pairs currently owned */
    volatile int64_t finished;  /* pairs handed back so far (their ends' paced flags cleared) */
    volatile int64_t busy_ns;   /* wall time of a tick's work, smoothed over about 8 ticks */
    int notify_fd;              /* >= 0: an eventfd written when pairs are handed back */
} faxd_pacer_t;

static int faxd_grow(faxd_ep_t ***arr, int *cap, int need)
{
    if (need > *cap) {
        int c = *cap ? *cap : 64;
        faxd_ep_t **n;
        while (c < need)
            c *= 2;
        n = (faxd_ep_t **) realloc(*arr, c * sizeof(faxd_ep_t *));
        if (n == NULL)
            return -1;
        *arr = n;
        *cap = c;
    }
    return 0;
}

static void faxd_ts_add(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static void *faxd_pacer_main(void *arg)
{
    faxd_pacer_t *p = (faxd_pacer_t *) arg;
    struct timespec next, now;
    int idle = 0, i, j, released;

    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        faxd_ts_add(&next, 20000000L);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - next.tv_sec) * 1000000000L + (now.tv_nsec - next.tv_nsec) > 20000000L)
            p->late_ticks++;
        pthread_mutex_lock(&p->lock);
        if (p->n_pending) {
            if (faxd_grow(&p->active, &p->cap_active, p->n_active + p->n_pending) == 0) {
                memcpy(p->active + p->n_active, p->pending, p->n_pending * sizeof(faxd_ep_t *));
                p->n_active += p->n_pending;
                p->n_pending = 0;
            }
        }
        if (p->n_active == 0) {
            if (++idle > 50) {          /* one idle second: the thread ends; add() starts another */
                p->running = 0;
                pthread_mutex_unlock(&p->lock);
                return NULL;
            }
        } else {
            idle = 0;
        }
        pthread_mutex_unlock(&p->lock);
        /* active[] holds pairs: a, b (b may be NULL) */
        released = 0;
        for (i = 0, j = 0; i < p->n_active; i += 2) {
            faxd_ep_t *a = p->active[i], *b = p->active[i + 1];
            if (a->cancel || (b && b->cancel)) {
                if (!a->done)
                    t30_terminate(a->t30);
                if (b && !b->done)
                    t30_terminate(b->t30);
            }
            if (a->done && faxd_ep_is_done(b)) {
                __atomic_store_n(&a->paced, 0, __ATOMIC_RELEASE);
                if (b)
                    __atomic_store_n(&b->paced, 0, __ATOMIC_RELEASE);
                released++;
                continue;
            }
            faxd_audio_run(a, b, 1, NULL);
            p->active[j++] = a;
            p->active[j++] = b;
        }
        p->blocks += j / 2;
        p->n_active = j;
        p->pairs = j / 2;
        p->ticks++;
        {
            /* smoothed: page ends make single ticks 5-10 ms longer */
            int64_t busy = faxd_now_ns() - ((int64_t) now.tv_sec * 1000000000L + now.tv_nsec);
            p->busy_ns = p->busy_ns ? p->busy_ns + (busy - p->busy_ns) / 8 : busy;
        }
        if (released) {
            __atomic_add_fetch(&p->finished, released, __ATOMIC_RELEASE);
            if (p->notify_fd >= 0) {
                uint64_t one = 1;
                /* An eventfd: the watcher greenlet sleeps until pairs are handed back. */
                if (write(p->notify_fd, &one, sizeof(one)) < 0) {
                    /* the counter is full or the fd closed: the watcher's timeout still finds them */
                }
            }
        }
        if (j)
            faxd_heap_release(0);
    }
    return NULL;
}

static faxd_pacer_t *faxd_pacer_new(void)
{
    faxd_pacer_t *p = (faxd_pacer_t *) calloc(1, sizeof(*p));
    if (p) {
        pthread_mutex_init(&p->lock, NULL);
        p->notify_fd = -1;
    }
    return p;
}

/* Hand a pair to the pacer (from the next tick). Returns 0, or -1 (out of memory / no thread). */
static int faxd_pacer_add(faxd_pacer_t *p, faxd_ep_t *a, faxd_ep_t *b)
{
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    if (faxd_grow(&p->pending, &p->cap_pending, p->n_pending + 2) < 0) {
        rc = -1;
    } else {
        a->paced = 1;
        if (b)
            b->paced = 1;
        p->pending[p->n_pending++] = a;
        p->pending[p->n_pending++] = b;
        if (!p->running) {
            pthread_t t;
            pthread_attr_t attr;
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&t, &attr, faxd_pacer_main, p) == 0) {
                p->running = 1;
            } else {
                p->n_pending -= 2;
                a->paced = 0;
                if (b)
                    b->paced = 0;
                rc = -1;
            }
            pthread_attr_destroy(&attr);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static int faxd_ep_paced(faxd_ep_t *ep)
{
    return __atomic_load_n(&ep->paced, __ATOMIC_ACQUIRE);
}
