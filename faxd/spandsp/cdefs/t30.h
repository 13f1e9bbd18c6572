/* spandsp/t30.h, t30_api.h: only what faxd calls. */
typedef struct t30_state_s t30_state_t;

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
    int encoding;
    int bad_rows;
    int longest_bad_row_run;
    int error_correcting_mode_retries;
    int current_status;
    ...;
} t30_stats_t;

void t30_set_tx_file(t30_state_t *s, const char *file, int start_page, int stop_page);
void t30_set_rx_file(t30_state_t *s, const char *file, int stop_page);
int t30_set_tx_ident(t30_state_t *s, const char *id);
const char *t30_get_tx_ident(t30_state_t *s);
const char *t30_get_rx_ident(t30_state_t *s);
int t30_set_tx_page_header_info(t30_state_t *s, const char *info);
int t30_set_tx_page_header_overlays_image(t30_state_t *s, int header_overlays_image);
int t30_set_ecm_capability(t30_state_t *s, int enabled);
int t30_set_rx_encoding(t30_state_t *s, int encoding);
int t30_set_supported_modems(t30_state_t *s, int supported_modems);
int t30_set_supported_compressions(t30_state_t *s, int supported_compressions);
int t30_set_supported_resolutions(t30_state_t *s, int supported_resolutions);
int t30_set_supported_image_sizes(t30_state_t *s, int supported_image_sizes);
void t30_get_transfer_statistics(t30_state_t *s, t30_stats_t *t);
int t30_call_active(t30_state_t *s);
void t30_terminate(t30_state_t *s);
