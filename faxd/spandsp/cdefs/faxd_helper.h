/* helper.c: faxd's endpoint state and loops (see helper.c). */
#define FAXD_BLOCK ...              /* samples per 20 ms block: what the loops run */
/* compressions for t30_set_supported_compressions, named differently by the two generations */
#define FAXD_SUPPORT_T4_1D ...
#define FAXD_SUPPORT_T4_2D ...
#define FAXD_SUPPORT_T6 ...
typedef struct {
    volatile int stop;
    int64_t blocks;
} faxd_ctl_t;

typedef struct {
    int kind;
    fax_state_t *fax;
    t38_terminal_state_t *t38;
    t30_state_t *t30;
    void *handle;
    int callbacks;
    int done;
    int completion_code;
    int phase_b_count;
    int phase_d_count;
    int stop_at_phase_d;
    int stop;
    int64_t samples;
    int q_len;
    int q_packets;
    uint16_t rx_seq;
    int paced;
    int cancel;
    ...;
} faxd_ep_t;

typedef struct {
    int running;
    int64_t ticks;
    int64_t late_ticks;
    int64_t blocks;
    int64_t pairs;
    int64_t finished;
    int64_t busy_ns;
    int notify_fd;
    ...;
} faxd_pacer_t;

/* Transfer statistics in one form for both generations (helper.c fills it from t30_stats_t).
 * coding: one of FAXD_CODING_*; faxd_set_rx_coding takes FAXD_CODING_T4_1D, _T4_2D or _T6. */
#define FAXD_CODING_NONE ...
#define FAXD_CODING_T4_1D ...
#define FAXD_CODING_T4_2D ...
#define FAXD_CODING_T6 ...
#define FAXD_CODING_T85 ...
#define FAXD_CODING_T85_L0 ...
#define FAXD_CODING_OTHER ...
typedef struct {
    int bit_rate;
    int error_correcting_mode;
    int pages_tx;
    int pages_rx;
    int pages_in_file;
    int x_resolution;
    int y_resolution;
    int width;
    int length;
    int image_size;
    int coding;
    int bad_rows;
    int longest_bad_row_run;
    int error_correcting_mode_retries;
    int current_status;
} faxd_stats_t;

/* Which spandsp this module was compiled against and which one the process loaded. */
typedef struct {
    int generation;
    const char *version;
    const char *prefix;
    const char *release;        /* SPANDSP_RELEASE_DATETIME_STRING of its headers */
} faxd_spandsp_info_t;

void faxd_get_stats(t30_state_t *t30, faxd_stats_t *out);
int faxd_set_rx_coding(t30_state_t *t30, int coding);
void faxd_spandsp_info(faxd_spandsp_info_t *out);
const char *faxd_spandsp_library(void);

faxd_ep_t *faxd_ep_new_audio(int calling_party);
faxd_ep_t *faxd_ep_new_t38(int calling_party, int config);
void faxd_ep_free(faxd_ep_t *ep);
int faxd_audio_tx(faxd_ep_t *ep, int16_t *out, int len);
int faxd_audio_rx(faxd_ep_t *ep, int16_t *in, int len);
int faxd_audio_rx_fillin(faxd_ep_t *ep, int len);
int faxd_audio_run(faxd_ep_t *a, faxd_ep_t *b, int blocks, faxd_ctl_t *ctl);
int faxd_t38_run(faxd_ep_t *a, faxd_ep_t *b, int steps, faxd_ctl_t *ctl);
int faxd_audio_tick(faxd_ep_t **eps, int pairs);
int faxd_t38_take(faxd_ep_t *ep, uint8_t *out, int max_len);
int faxd_t38_rx(faxd_ep_t *ep, const uint8_t *buf, int len, int seq_no);
int faxd_t38_advance(faxd_ep_t *ep, int samples);
int faxd_probe_tiff(const char *path, int *out);
faxd_pacer_t *faxd_pacer_new(void);
int faxd_pacer_add(faxd_pacer_t *p, faxd_ep_t *a, faxd_ep_t *b);
int faxd_ep_paced(faxd_ep_t *ep);
int faxd_heap_release(int force);
int faxd_live_endpoints(void);

extern "Python" int faxd_py_phase_b(void *handle, int result);
extern "Python" int faxd_py_phase_d(void *handle, int result);
extern "Python" void faxd_py_phase_e(void *handle, int completion_code);
extern "Python" int faxd_py_document(void *handle, int status);
