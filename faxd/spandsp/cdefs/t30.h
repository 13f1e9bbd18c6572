/* spandsp/t30.h, t30_api.h: only what faxd calls, in a form both generations (0.0.6 and 3.0)
 * accept. What differs between them (transfer statistics, received-file coding, callbacks)
 * goes through helper.c: see faxd_helper.h. */
typedef struct t30_state_s t30_state_t;

void t30_set_tx_file(t30_state_t *s, const char *file, int start_page, int stop_page);
void t30_set_rx_file(t30_state_t *s, const char *file, int stop_page);
int t30_set_tx_ident(t30_state_t *s, const char *id);
const char *t30_get_tx_ident(t30_state_t *s);
const char *t30_get_rx_ident(t30_state_t *s);
int t30_set_tx_page_header_info(t30_state_t *s, const char *info);
int t30_set_ecm_capability(t30_state_t *s, int enabled);
int t30_set_supported_modems(t30_state_t *s, int supported_modems);
int t30_set_supported_compressions(t30_state_t *s, int supported_compressions);
int t30_call_active(t30_state_t *s);
void t30_terminate(t30_state_t *s);
