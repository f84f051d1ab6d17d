/* The claim of one insured visit, as the claim tables need it: read from the
 * claim-input JSON (fixtures, and what claims/source.c builds from the
 * database), priced and split by claims/copay.c, written by claims/xml.c and
 * checked by claims/check.c. All strings are borrowed from the JSON or an
 * arena; nothing here is freed field by field. */
#ifndef CLAIMS_CLAIM_H
#define CLAIMS_CLAIM_H

#include <stdbool.h>
#include <jansson.h>

#include "claims/money.h"

/* Facility levels as core.facilities.level spells them. */
typedef enum {
    CLAIM_LEVEL_COMMUNE,    /* commune_station: primary level */
    CLAIM_LEVEL_DISTRICT,   /* district_hospital: basic level, free routing */
    CLAIM_LEVEL_PROVINCIAL, /* provincial_hospital */
    CLAIM_LEVEL_CENTRAL,    /* central / specialised level (not a facility kind here yet) */
} claim_level_t;

typedef enum { CLAIM_OUTPATIENT, CLAIM_INPATIENT, CLAIM_EMERGENCY } claim_kind_t;

/* Routes as clinical.visits.route spells them. */
typedef enum {
    CLAIM_ROUTE_CORRECT,  /* at the registered facility */
    CLAIM_ROUTE_REFERRAL, /* with a valid referral paper */
    CLAIM_ROUTE_EMERGENCY,
    CLAIM_ROUTE_FREE,     /* "thông tuyến": commune/district free routing */
    CLAIM_ROUTE_WRONG,    /* self-referred above the free-routing levels */
} claim_route_t;

typedef enum { CLAIM_LINE_DRUG, CLAIM_LINE_SERVICE, CLAIM_LINE_SUPPLY } claim_line_kind_t;

typedef struct claim_line {
    claim_line_kind_t kind;
    const char *code;       /* MA_THUOC (active ingredient) / MA_DICH_VU / MA_VAT_TU */
    const char *service_code; /* XML2 MA_DICH_VU, XML3 MA_DICH_VU of a supply */
    const char *name;       /* TEN_THUOC / TEN_DICH_VU / TEN_VAT_TU */
    const char *unit;       /* DON_VI_TINH */
    int group;              /* MA_NHOM */
    bool in_list;           /* in the BHYT list (PHAM_VI 1) */
    claim_qty_t qty;        /* SO_LUONG */
    claim_price_t price_bv; /* DON_GIA(_BV): the facility's price */
    claim_price_t price_bh; /* DON_GIA_BH: the insurer's price in force on the service date */
    int ratio_bh;           /* TYLE_TT_BH, whole percent (default 100) */
    int ratio_dv;           /* TYLE_TT_DV, whole percent (default 100) */
    claim_amt_t nk_nsnn, nk_vtnn, nk_vttn, nk_cl; /* other funding by source */
    const char *ordered_at, *performed_at, *result_at; /* yyyyMMddHHmm */
    const char *department, *doctor, *performer, *icd10;
    const char *strength, *route_code, *form, *dosage, *usage, *reg_no, *tender; /* drugs */
    int payment_method;     /* MA_PTTT: 1 fee for service */
    int source;             /* NGUON_CTRA: 1 the fund */

    /* Computed by claim_price_visit. */
    int pham_vi;
    int ratio_bh_eff;
    claim_pct_t muc_huong;
    claim_amt_t tt_bv, tt_bh, nguonkhac, bntt, bncct, bhtt;
} claim_line_t;

typedef struct claim_result { /* XML4 */
    const char *service_code, *indicator_code, *indicator_name, *value, *unit, *description, *conclusion;
    const char *result_at, *reader;
} claim_result_t;

typedef struct claim_progress { /* XML5 */
    const char *text, *stage, *consultation, *surgery, *at, *author;
} claim_progress_t;

typedef struct claim_referral { /* XML13 */
    const char *record_no, *book_no, *paper_no, *signs, *history, *results_summary, *treatment,
        *plan, *transport, *escort_name, *escort_title, *doctor;
    int reason; /* MA_LYDO_CT 1..3 */
} claim_referral_t;

typedef struct claim_visit {
    const char *ma_lk;
    /* facility */
    const char *facility_code;
    claim_level_t level;
    const char *head_id;        /* MA_TTDV */
    /* patient */
    const char *patient_id, *full_name, *cccd, *birth; /* birth: yyyyMMddHHmm */
    int sex;                    /* 1 male, 2 female, 3 undetermined */
    const char *nationality, *ethnicity, *occupation, *address, *province, *district, *commune, *phone;
    /* card (snapshot at reception) */
    const char *card_number, *primary_facility, *card_from, *card_to; /* yyyyMMdd */
    int benefit_level;          /* digit 3 of the card */
    const char *five_years_from;   /* NAM_NAM_LIEN_TUC yyyyMMdd */
    const char *copay_exempt_from; /* NGAY_MIEN_CCT yyyyMMdd */
    const char *area;           /* MA_KHUVUC */
    /* visit */
    claim_kind_t kind;
    claim_route_t route;
    const char *received_at, *admitted_at, *discharged_at, *paid_at; /* yyyyMMddHHmm */
    const char *reason, *diagnosis_in, *diagnosis_out, *icd_main, *icd_other, *treatment_method, *advice;
    int outcome, discharge_type;
    const char *department, *weight, *record_no;
    const char *referral_from, *referral_paper, *referral_to;
    int settle_year, settle_month;
    claim_line_t *lines;
    int nlines;
    claim_result_t *results;
    int nresults;
    claim_progress_t *progress;
    int nprogress;
    claim_referral_t *referral; /* NULL unless referred on */

    /* Computed by claim_price_visit. */
    claim_pct_t muc_huong;      /* the visit's benefit, after route and exemptions */
    const char *muc_huong_rule; /* which rule decided it, for the batch view */
    const char *ma_doituong, *ma_loai_kcb;
    claim_amt_t t_thuoc, t_vtyt, t_bv, t_bh, t_bntt, t_bncct, t_bhtt, t_nguonkhac, t_bhtt_gdv;
} claim_visit_t;

/* One failed check: the visit, the table, the field and the rule. */
typedef struct claim_issue {
    char ma_lk[101];
    char table[8];   /* "XML1" ... "GIAMDINHHS" */
    char field[40];
    char rule[48];   /* stable rule id, e.g. "card_valid", "xsd", "icd10_exists" */
    char message[320];
} claim_issue_t;

typedef struct claim_issues {
    claim_issue_t *v;
    int n, cap;
} claim_issues_t;

void claim_issue_add(claim_issues_t *is, const char *ma_lk, const char *table, const char *field, const char *rule,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void claim_issues_free(claim_issues_t *is);

/* Reads the claim-input JSON (docs/claims.md "Claim input") into v; strings
 * stay owned by `in`. Structural problems are added to issues (table
 * "INPUT", field = JSON path) and false returned. */
struct arena;
bool claim_visit_from_json(json_t *in, claim_visit_t *v, struct arena *a, claim_issues_t *issues);

#endif
