/* The HL7 v2 engine inside `his serve` (issue 3 points 5-9): the MLLP
 * listener (hl7_listener.c), inbound storage and processing
 * (hl7_inbound.c), outbound messages through the outbox (hl7_outbound.c)
 * and the referral API (referrals.c). The wire format itself is libhl7
 * (hl7/hl7.h). See docs/hl7-engine.md. */
#ifndef HIS_HL7_ENGINE_H
#define HIS_HL7_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

#include "core/app.h"
#include "core/db.h"
#include "hl7/hl7.h"

/* Limits and TLS files, from the environment (documented in --help):
 * HIS_HL7_TLS_CERT, HIS_HL7_TLS_KEY, HIS_HL7_TLS_CA, HIS_HL7_MAX_CONNECTIONS,
 * HIS_HL7_MAX_MESSAGE, HIS_HL7_ACK_TIMEOUT_MS. */
struct hl7e_settings {
    const char *tls_cert, *tls_key, *tls_ca;
    int max_connections;
    size_t max_message;
    int idle_timeout_ms;
    int ack_timeout_ms;
};
void hl7e_settings_load(struct hl7e_settings *s);
/* Text for --help. */
extern const char hl7e_env_help[];

/* TLS contexts from the settings: the server one demands a client
 * certificate signed by the CA; the client one presents ours and checks the
 * peer's against the same CA. NULL with err filled on failure. */
SSL_CTX *hl7e_tls_ctx(const struct hl7e_settings *s, bool server, char *err, size_t errlen);

/* ------------------------------------------------------------ listener */
typedef struct hl7srv hl7srv_t;
/* Binds listen (HOST:PORT), starts the accept thread and the inbound
 * processor. NULL with err on failure. */
hl7srv_t *hl7srv_start(struct app *app, const char *listen, char *err, size_t errlen);
int hl7srv_port(const hl7srv_t *s);
void hl7srv_stop(hl7srv_t *s);

/* ------------------------------------------------------------ inbound */
typedef struct hl7e_in hl7e_in_t;
hl7e_in_t *hl7e_in_new(struct app *app, int connections);
void hl7e_in_free(hl7e_in_t *in);
/* Stores one received frame and fills ack (ER7, unframed) with the answer
 * to send. Returns 0, or -1 when the message could not be stored (database
 * down): then no ACK may be sent and the connection is closed so that the
 * sender retries. peer_cn: TLS client certificate CN or NULL. */
int hl7e_ingest(hl7e_in_t *in, const char *frame, size_t len, const char *peer_cn, hl7_buf *ack);
/* NAK for a frame that could not be taken at all (over the size limit). */
void hl7e_nak(const char *text, hl7_buf *ack);
/* The processor thread: applies stored messages to patients, visits and
 * referrals after their ACK. */
int hl7e_processor_start(hl7e_in_t *in);
void hl7e_processor_stop(hl7e_in_t *in);

/* ------------------------------------------------------------ outbound */
/* Registers the "hl7" outbox target (ordered per peer). Before
 * outbox_workers_start. */
void hl7e_outbound_register(void);
/* A fresh MSH-10 for a message from our facility: CODE + "M" + sequence. */
const char *hl7e_control_id(db_tx_t *tx, const char *facility_code);
/* Queues an ER7 message for a peer in the caller's transaction. */
int hl7e_enqueue(db_tx_t *tx, const char *peer_code, const char *kind, const char *control_id, const char *er7);
/* Current time as an HL7 DTM (YYYYMMDDHHMMSS, local time). */
void hl7e_now(char out[16]);

/* Patient fields for PID/IN1, as text (NULL or "" absent). */
struct hl7e_patient {
    const char *code, *full_name, *birth, *sex, *cccd, *phone, *ethnicity, *nationality;
    const char *province_code, *commune_code, *village, *line;
    const char *card_number, *card_from, *card_to, *card_facility;
};
/* Columns to select (alias p) in the order hl7e_patient_from_row reads. */
#define HL7E_PATIENT_COLS                                                                                         \
    "p.code, p.full_name, coalesce(to_char(p.birth_date, 'YYYYMMDD'), p.birth_year::text), p.sex, p.cccd, "     \
    "p.phone, p.ethnicity, p.nationality, p.province_code, p.commune_code, p.village, p.address_line, "          \
    "p.card_number, to_char(p.card_valid_from, 'YYYYMMDD'), to_char(p.card_valid_to, 'YYYYMMDD'), "              \
    "p.card_primary_facility"
void hl7e_patient_from_row(PGresult *r, int row, int col0, struct hl7e_patient *p);

/* Builders: a message with MSH filled (UTF-8, v2.5, processing id P). */
int hl7e_msg_start(hl7_msg **m, const char *from, const char *to, const char *type, const char *control_id,
                   const char *ts);
int hl7e_set_pid(hl7_msg *m, const struct hl7e_patient *p);
int hl7e_set_in1(hl7_msg *m, const struct hl7e_patient *p);
/* Serialises into a malloc'd string (caller frees); NULL on failure. */
char *hl7e_to_er7(hl7_msg *m);
/* Builds an ADT message from the JSON snapshot written by the trigger
 * hl7.adt_event (schema/006_hl7.sql); malloc'd ER7 or NULL. */
char *hl7e_adt_from_json(const char *json, char *err, size_t errlen);

/* Splits "Nguyễn Văn An" into family (first word) and the rest. */
void hl7e_name_split(const char *full, char *family, size_t fl, char *given, size_t gl);

/* ------------------------------------------------------------ routes */
void referrals_register_routes(void);
void hl7_api_register_routes(void);

/* CLI: `his hl7 listen`, `his hl7 peer add|list`. */
int cmd_hl7_listen(int argc, char **argv);
int cmd_hl7_peer(int argc, char **argv);

#endif
