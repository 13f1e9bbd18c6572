/* spandsp/fax.h, t38_terminal.h, t4_tx.h: the handful of calls used outside the helper. */
typedef struct fax_state_s fax_state_t;
typedef struct t38_terminal_state_s t38_terminal_state_t;
typedef struct t38_core_state_s t38_core_state_t;
int fax_rx(fax_state_t *s, int16_t *amp, int len);
int fax_tx(fax_state_t *s, int16_t *amp, int max_len);
void fax_set_tep_mode(fax_state_t *s, int use_tep);
t38_core_state_t *t38_terminal_get_t38_core_state(t38_terminal_state_t *s);
void t38_set_t38_version(t38_core_state_t *s, int t38_version);
void t38_set_fastest_image_data_rate(t38_core_state_t *s, int max_rate);
/* t38_terminal.h: option of faxd_ep_new_t38's config */
#define T38_TERMINAL_OPTION_NO_PACING ...
