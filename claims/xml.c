/* Claim tables (QĐ 130 + QĐ 4750) written with libxml2's xmlTextWriter, and
 * the canonical GIAMDINHHS envelope pieces. Element names and order: the
 * reference's Appendix A (vendor transcription of the annex), with the two
 * elements the [P] CV 1245 templates add: XML1 NHOM_MAU, XML2 NGAY_TH_YL.
 * Every element of a table is always written, empty when there is no value,
 * because the portal checks the element list itself. */
#include "claims/xml.h"

#include "claims/copay.h"

#include <stdlib.h>
#include <string.h>
#include <libxml/xmlwriter.h>

const int claim_tables[6] = {CLAIM_XML1, CLAIM_XML2, CLAIM_XML3, CLAIM_XML4, CLAIM_XML5, CLAIM_XML13};

static const char *const xml1_fields[] = {
    "MA_LK", "STT", "MA_BN", "HO_TEN", "SO_CCCD", "NGAY_SINH", "GIOI_TINH", "NHOM_MAU", "MA_QUOCTICH",
    "MA_DANTOC", "MA_NGHE_NGHIEP", "DIA_CHI", "MATINH_CU_TRU", "MAHUYEN_CU_TRU", "MAXA_CU_TRU", "DIEN_THOAI",
    "MA_THE_BHYT", "MA_DKBD", "GT_THE_TU", "GT_THE_DEN", "NGAY_MIEN_CCT", "LY_DO_VV", "LY_DO_VNT",
    "MA_LY_DO_VNT", "CHAN_DOAN_VAO", "CHAN_DOAN_RV", "MA_BENH_CHINH", "MA_BENH_KT", "MA_BENH_YHCT",
    "MA_PTTT_QT", "MA_DOITUONG_KCB", "MA_NOI_DI", "MA_NOI_DEN", "MA_TAI_NAN", "NGAY_VAO", "NGAY_VAO_NOI_TRU",
    "NGAY_RA", "GIAY_CHUYEN_TUYEN", "SO_NGAY_DTRI", "PP_DIEU_TRI", "KET_QUA_DTRI", "MA_LOAI_RV", "GHI_CHU",
    "NGAY_TTOAN", "T_THUOC", "T_VTYT", "T_TONGCHI_BV", "T_TONGCHI_BH", "T_BNTT", "T_BNCCT", "T_BHTT",
    "T_NGUONKHAC", "T_BHTT_GDV", "NAM_QT", "THANG_QT", "MA_LOAI_KCB", "MA_KHOA", "MA_CSKCB", "MA_KHUVUC",
    "CAN_NANG", "CAN_NANG_CON", "NAM_NAM_LIEN_TUC", "NGAY_TAI_KHAM", "MA_HSBA", "MA_TTDV", "DU_PHONG"};

static const char *const xml2_fields[] = {
    "MA_LK", "STT", "MA_THUOC", "MA_PP_CHEBIEN", "MA_CSKCB_THUOC", "MA_NHOM", "TEN_THUOC", "DON_VI_TINH",
    "HAM_LUONG", "DUONG_DUNG", "DANG_BAO_CHE", "LIEU_DUNG", "CACH_DUNG", "SO_DANG_KY", "TT_THAU", "PHAM_VI",
    "TYLE_TT_BH", "SO_LUONG", "DON_GIA", "THANH_TIEN_BV", "THANH_TIEN_BH", "T_NGUONKHAC_NSNN",
    "T_NGUONKHAC_VTNN", "T_NGUONKHAC_VTTN", "T_NGUONKHAC_CL", "T_NGUONKHAC", "MUC_HUONG", "T_BNTT", "T_BNCCT",
    "T_BHTT", "MA_KHOA", "MA_BAC_SI", "MA_DICH_VU", "NGAY_YL", "NGAY_TH_YL", "MA_PTTT", "NGUON_CTRA",
    "VET_THUONG_TP", "DU_PHONG"};

static const char *const xml3_fields[] = {
    "MA_LK", "STT", "MA_DICH_VU", "MA_PTTT_QT", "MA_VAT_TU", "MA_NHOM", "GOI_VTYT", "TEN_VAT_TU",
    "TEN_DICH_VU", "MA_XANG_DAU", "DON_VI_TINH", "PHAM_VI", "SO_LUONG", "DON_GIA_BV", "DON_GIA_BH", "TT_THAU",
    "TYLE_TT_DV", "TYLE_TT_BH", "THANH_TIEN_BV", "THANH_TIEN_BH", "T_TRANTT", "MUC_HUONG", "T_NGUONKHAC_NSNN",
    "T_NGUONKHAC_VTNN", "T_NGUONKHAC_VTTN", "T_NGUONKHAC_CL", "T_NGUONKHAC", "T_BNTT", "T_BNCCT", "T_BHTT",
    "MA_KHOA", "MA_GIUONG", "MA_BAC_SI", "NGUOI_THUC_HIEN", "MA_BENH", "MA_BENH_YHCT", "NGAY_YL", "NGAY_TH_YL",
    "NGAY_KQ", "MA_PTTT", "VET_THUONG_TP", "PP_VO_CAM", "VI_TRI_TH_DVKT", "MA_MAY", "MA_HIEU_SP", "TAI_SU_DUNG",
    "DU_PHONG"};

static const char *const xml4_fields[] = {"MA_LK", "STT", "MA_DICH_VU", "MA_CHI_SO", "TEN_CHI_SO", "GIA_TRI",
                                          "DON_VI_DO", "MO_TA", "KET_LUAN", "NGAY_KQ", "MA_BS_DOC_KQ",
                                          "DU_PHONG"};

static const char *const xml5_fields[] = {"MA_LK", "STT", "DIEN_BIEN_LS", "GIAI_DOAN_BENH", "HOI_CHAN",
                                          "PHAU_THUAT", "THOI_DIEM_DBLS", "NGUOI_THUC_HIEN", "DU_PHONG"};

static const char *const xml13_fields[] = {
    "MA_LK", "SO_HOSO", "SO_CHUYENTUYEN", "GIAY_CHUYEN_TUYEN", "MA_CSKCB", "MA_NOI_DI", "MA_NOI_DEN", "HO_TEN",
    "NGAY_SINH", "GIOI_TINH", "MA_QUOCTICH", "MA_DANTOC", "MA_NGHE_NGHIEP", "DIA_CHI", "MA_THE_BHYT",
    "GT_THE_DEN", "NGAY_VAO", "NGAY_VAO_NOI_TRU", "NGAY_RA", "DAU_HIEU_LS", "CHAN_DOAN_RV", "QT_BENHLY",
    "TOMTAT_KQ", "PP_DIEUTRI", "MA_BENH_CHINH", "MA_BENH_KT", "MA_BENH_YHCT", "TEN_DICH_VU", "TEN_THUOC",
    "PP_DIEU_TRI", "MA_LOAI_RV", "MA_LYDO_CT", "HUONG_DIEU_TRI", "PHUONGTIEN_VC", "HOTEN_NGUOI_HT",
    "CHUCDANH_NGUOI_HT", "MA_BAC_SI", "MA_TTDV", "DU_PHONG"};

#define NF(a) ((int)(sizeof(a) / sizeof((a)[0])))

const char *const *claim_table_fields(int table, int *n)
{
    switch (table) {
    case 1: *n = NF(xml1_fields); return xml1_fields;
    case 2: *n = NF(xml2_fields); return xml2_fields;
    case 3: *n = NF(xml3_fields); return xml3_fields;
    case 4: *n = NF(xml4_fields); return xml4_fields;
    case 5: *n = NF(xml5_fields); return xml5_fields;
    case 13: *n = NF(xml13_fields); return xml13_fields;
    }
    *n = 0;
    return NULL;
}

const char *claim_table_root(int table)
{
    switch (table) {
    case 1: return "TONG_HOP";
    case 2: return "CHITIEU_CHITIET_THUOC";
    case 3: return "CHITIEU_CHITIET_DVKT_VTYT";
    case 4: return "CHITIEU_CHITIET_DICHVUCANLAMSANG";
    case 5: return "CHITIEU_CHITIET_DIENBIENLAMSANG";
    case 13: return "CHI_TIEU_GIAYCHUYENTUYEN";
    }
    return NULL;
}

/* List and row elements of the tables that have rows. */
static void table_rows(int table, const char **list, const char **row)
{
    *list = *row = NULL;
    switch (table) {
    case 2: *list = "DSACH_CHI_TIET_THUOC", *row = "CHI_TIET_THUOC"; break;
    case 3: *list = "DSACH_CHI_TIET_DVKT", *row = "CHI_TIET_DVKT"; break;
    case 4: *list = "DSACH_CHI_TIET_CLS", *row = "CHI_TIET_CLS"; break;
    case 5: *list = "DSACH_CHI_TIET_DIEN_BIEN_BENH", *row = "CHI_TIET_DIEN_BIEN_BENH"; break;
    }
}

bool claim_table_applies(const claim_visit_t *v, int table)
{
    int drugs = 0, other = 0;
    for (int i = 0; i < v->nlines; i++) {
        if (v->lines[i].kind == CLAIM_LINE_DRUG)
            drugs++;
        else
            other++;
    }
    switch (table) {
    case 1: return true;
    case 2: return drugs > 0;
    case 3: return other > 0;
    case 4: return v->nresults > 0;
    case 5: return v->nprogress > 0;
    case 13: return v->referral != NULL;
    }
    return false;
}

/* ---- values ------------------------------------------------------------- */

/* Scratch space for the numbers of one row: each formatted value gets its
 * own slot so the row's value array can point into it. */
struct scratch {
    char s[64][32];
    int n;
};

static const char *amt(struct scratch *sc, claim_amt_t v)
{
    return claim_dec_format(v, 2, sc->s[sc->n++ & 63], 32);
}
static const char *d3(struct scratch *sc, int64_t v)
{
    return claim_dec_format(v, 3, sc->s[sc->n++ & 63], 32);
}
static const char *inum(struct scratch *sc, long long v)
{
    char *b = sc->s[sc->n++ & 63];
    snprintf(b, 32, "%lld", v);
    return b;
}
static const char *pct(struct scratch *sc, claim_pct_t v)
{
    return claim_pct_format(v, sc->s[sc->n++ & 63], 32);
}
static const char *nz(struct scratch *sc, long long v)
{
    return v ? inum(sc, v) : NULL;
}

/* SO_NGAY_DTRI: 0 for MA_LOAI_KCB 01, 07, 09; else calendar days from
 * admission to discharge, counting both ends ([B], docs/claims.md). */
static int treatment_days(const claim_visit_t *v)
{
    const char *k = v->ma_loai_kcb;
    if (!k || !strcmp(k, "01") || !strcmp(k, "07") || !strcmp(k, "09"))
        return 0;
    const char *in = v->admitted_at ? v->admitted_at : v->received_at;
    if (!in || !v->discharged_at)
        return 0;
    return (int)(claim_days(v->discharged_at) - claim_days(in) + 1);
}

static void xml1_values(const claim_visit_t *v, const char **x, struct scratch *sc)
{
    int i = 0;
    x[i++] = v->ma_lk;
    x[i++] = "1";
    x[i++] = v->patient_id;
    x[i++] = v->full_name;
    x[i++] = v->cccd;
    x[i++] = v->birth;
    x[i++] = inum(sc, v->sex);
    x[i++] = NULL; /* NHOM_MAU */
    x[i++] = v->nationality;
    x[i++] = v->ethnicity;
    x[i++] = v->occupation;
    x[i++] = v->address;
    x[i++] = v->province;
    x[i++] = v->district;
    x[i++] = v->commune;
    x[i++] = v->phone;
    x[i++] = v->card_number;
    x[i++] = v->primary_facility;
    x[i++] = v->card_from;
    x[i++] = v->card_to;
    x[i++] = v->copay_exempt_from;
    x[i++] = v->reason;
    x[i++] = v->kind == CLAIM_INPATIENT ? v->reason : NULL; /* LY_DO_VNT */
    x[i++] = NULL;                                          /* MA_LY_DO_VNT: no code list issued yet */
    x[i++] = v->diagnosis_in;
    x[i++] = v->diagnosis_out;
    x[i++] = v->icd_main;
    x[i++] = v->icd_other;
    x[i++] = NULL; /* MA_BENH_YHCT */
    x[i++] = NULL; /* MA_PTTT_QT */
    x[i++] = v->ma_doituong;
    x[i++] = v->referral_from;
    x[i++] = v->referral_to;
    x[i++] = NULL; /* MA_TAI_NAN */
    x[i++] = v->received_at;
    x[i++] = v->admitted_at;
    x[i++] = v->discharged_at;
    x[i++] = v->referral_paper;
    x[i++] = inum(sc, treatment_days(v));
    x[i++] = v->treatment_method;
    x[i++] = nz(sc, v->outcome);
    x[i++] = nz(sc, v->discharge_type);
    x[i++] = v->advice;
    x[i++] = v->paid_at;
    x[i++] = amt(sc, v->t_thuoc);
    x[i++] = amt(sc, v->t_vtyt);
    x[i++] = amt(sc, v->t_bv);
    x[i++] = amt(sc, v->t_bh);
    x[i++] = amt(sc, v->t_bntt);
    x[i++] = amt(sc, v->t_bncct);
    x[i++] = amt(sc, v->t_bhtt);
    x[i++] = amt(sc, v->t_nguonkhac);
    x[i++] = amt(sc, v->t_bhtt_gdv);
    x[i++] = nz(sc, v->settle_year);
    x[i++] = nz(sc, v->settle_month);
    x[i++] = v->ma_loai_kcb;
    x[i++] = v->department;
    x[i++] = v->facility_code;
    x[i++] = v->area;
    x[i++] = v->weight;
    x[i++] = NULL; /* CAN_NANG_CON */
    x[i++] = v->five_years_from;
    x[i++] = NULL; /* NGAY_TAI_KHAM */
    x[i++] = v->record_no;
    x[i++] = v->head_id;
    x[i++] = NULL; /* DU_PHONG */
}

static void money_values(const claim_line_t *l, const char **x, int *pi, struct scratch *sc, bool nk_then_muc)
{
    int i = *pi;
    if (!nk_then_muc)
        x[i++] = pct(sc, l->muc_huong);
    x[i++] = amt(sc, l->nk_nsnn);
    x[i++] = amt(sc, l->nk_vtnn);
    x[i++] = amt(sc, l->nk_vttn);
    x[i++] = amt(sc, l->nk_cl);
    x[i++] = amt(sc, l->nguonkhac);
    if (nk_then_muc)
        x[i++] = pct(sc, l->muc_huong);
    x[i++] = amt(sc, l->bntt);
    x[i++] = amt(sc, l->bncct);
    x[i++] = amt(sc, l->bhtt);
    *pi = i;
}

static void xml2_values(const claim_visit_t *v, const claim_line_t *l, int stt, const char **x, struct scratch *sc)
{
    int i = 0;
    x[i++] = v->ma_lk;
    x[i++] = inum(sc, stt);
    x[i++] = l->code;
    x[i++] = NULL; /* MA_PP_CHEBIEN */
    x[i++] = NULL; /* MA_CSKCB_THUOC */
    x[i++] = inum(sc, l->group);
    x[i++] = l->name;
    x[i++] = l->unit;
    x[i++] = l->strength;
    x[i++] = l->route_code;
    x[i++] = l->form;
    x[i++] = l->dosage;
    x[i++] = l->usage;
    x[i++] = l->reg_no;
    x[i++] = l->tender;
    x[i++] = inum(sc, l->pham_vi);
    x[i++] = inum(sc, l->ratio_bh_eff);
    x[i++] = d3(sc, l->qty);
    x[i++] = d3(sc, l->price_bv);
    x[i++] = amt(sc, l->tt_bv);
    x[i++] = amt(sc, l->tt_bh);
    money_values(l, x, &i, sc, true);
    x[i++] = l->department ? l->department : v->department;
    x[i++] = l->doctor;
    x[i++] = l->service_code;
    x[i++] = l->ordered_at;
    x[i++] = l->performed_at;
    x[i++] = inum(sc, l->payment_method);
    x[i++] = inum(sc, l->source);
    x[i++] = NULL; /* VET_THUONG_TP */
    x[i++] = NULL; /* DU_PHONG */
}

static void xml3_values(const claim_visit_t *v, const claim_line_t *l, int stt, const char **x, struct scratch *sc)
{
    bool supply = l->kind == CLAIM_LINE_SUPPLY;
    claim_price_t pbh = claim_line_insurer_price(l);
    int i = 0;
    x[i++] = v->ma_lk;
    x[i++] = inum(sc, stt);
    x[i++] = supply ? l->service_code : l->code;
    x[i++] = NULL; /* MA_PTTT_QT */
    x[i++] = supply ? l->code : NULL;
    x[i++] = inum(sc, l->group);
    x[i++] = NULL; /* GOI_VTYT */
    x[i++] = supply ? l->name : NULL;
    x[i++] = supply ? NULL : l->name;
    x[i++] = NULL; /* MA_XANG_DAU */
    x[i++] = l->unit;
    x[i++] = inum(sc, l->pham_vi);
    x[i++] = d3(sc, l->qty);
    x[i++] = d3(sc, l->price_bv);
    x[i++] = d3(sc, pbh);
    x[i++] = l->tender;
    x[i++] = inum(sc, l->ratio_dv);
    x[i++] = inum(sc, l->ratio_bh_eff);
    x[i++] = amt(sc, l->tt_bv);
    x[i++] = amt(sc, l->tt_bh);
    x[i++] = NULL; /* T_TRANTT */
    money_values(l, x, &i, sc, false);
    x[i++] = l->department ? l->department : v->department;
    x[i++] = NULL; /* MA_GIUONG */
    x[i++] = l->doctor;
    x[i++] = l->performer;
    x[i++] = l->icd10;
    x[i++] = NULL; /* MA_BENH_YHCT */
    x[i++] = l->ordered_at;
    x[i++] = l->performed_at;
    x[i++] = l->result_at;
    x[i++] = inum(sc, l->payment_method);
    x[i++] = NULL; /* VET_THUONG_TP */
    x[i++] = NULL; /* PP_VO_CAM */
    x[i++] = NULL; /* VI_TRI_TH_DVKT */
    x[i++] = NULL; /* MA_MAY */
    x[i++] = NULL; /* MA_HIEU_SP */
    x[i++] = NULL; /* TAI_SU_DUNG */
    x[i++] = NULL; /* DU_PHONG */
}

static void xml4_values(const claim_visit_t *v, const claim_result_t *r, int stt, const char **x,
                        struct scratch *sc)
{
    int i = 0;
    x[i++] = v->ma_lk;
    x[i++] = inum(sc, stt);
    x[i++] = r->service_code;
    x[i++] = r->indicator_code;
    x[i++] = r->indicator_name;
    x[i++] = r->value;
    x[i++] = r->unit;
    x[i++] = r->description;
    x[i++] = r->conclusion;
    x[i++] = r->result_at;
    x[i++] = r->reader;
    x[i++] = NULL;
}

static void xml5_values(const claim_visit_t *v, const claim_progress_t *p, int stt, const char **x,
                        struct scratch *sc)
{
    int i = 0;
    x[i++] = v->ma_lk;
    x[i++] = inum(sc, stt);
    x[i++] = p->text;
    x[i++] = p->stage;
    x[i++] = p->consultation;
    x[i++] = p->surgery;
    x[i++] = p->at;
    x[i++] = p->author;
    x[i++] = NULL;
}

static void xml13_values(const claim_visit_t *v, const char **x, struct scratch *sc, char *names, size_t nlen,
                         char *drugs, size_t dlen)
{
    const claim_referral_t *r = v->referral;
    /* TEN_DICH_VU / TEN_THUOC: the services and drugs used, ";"-separated. */
    size_t np = 0, dp = 0;
    names[0] = drugs[0] = '\0';
    for (int k = 0; k < v->nlines; k++) {
        const claim_line_t *l = &v->lines[k];
        if (!l->name)
            continue;
        if (l->kind == CLAIM_LINE_DRUG && dp < dlen)
            dp += (size_t)snprintf(drugs + dp, dlen - dp, "%s%s", dp ? ";" : "", l->name);
        else if (l->kind == CLAIM_LINE_SERVICE && np < nlen)
            np += (size_t)snprintf(names + np, nlen - np, "%s%s", np ? ";" : "", l->name);
    }
    int i = 0;
    x[i++] = v->ma_lk;
    x[i++] = r->record_no;
    x[i++] = r->book_no;
    x[i++] = r->paper_no;
    x[i++] = v->facility_code;
    x[i++] = v->referral_from;
    x[i++] = v->referral_to;
    x[i++] = v->full_name;
    x[i++] = v->birth;
    x[i++] = inum(sc, v->sex);
    x[i++] = v->nationality;
    x[i++] = v->ethnicity;
    x[i++] = v->occupation;
    x[i++] = v->address;
    x[i++] = v->card_number;
    x[i++] = v->card_to;
    x[i++] = v->received_at;
    x[i++] = v->admitted_at;
    x[i++] = v->discharged_at;
    x[i++] = r->signs;
    x[i++] = v->diagnosis_out;
    x[i++] = r->history;
    x[i++] = r->results_summary;
    x[i++] = r->treatment; /* PP_DIEUTRI */
    x[i++] = v->icd_main;
    x[i++] = v->icd_other;
    x[i++] = NULL; /* MA_BENH_YHCT */
    x[i++] = names[0] ? names : NULL;
    x[i++] = drugs[0] ? drugs : NULL;
    x[i++] = v->treatment_method; /* PP_DIEU_TRI */
    x[i++] = nz(sc, v->discharge_type);
    x[i++] = nz(sc, r->reason);
    x[i++] = r->plan;
    x[i++] = r->transport;
    x[i++] = r->escort_name;
    x[i++] = r->escort_title;
    x[i++] = r->doctor;
    x[i++] = v->head_id;
    x[i++] = NULL;
}

/* ---- writer ------------------------------------------------------------- */

static int write_fields(xmlTextWriterPtr w, const char *const *names, int n, const char **vals)
{
    for (int i = 0; i < n; i++)
        if (xmlTextWriterWriteElement(w, BAD_CAST names[i], BAD_CAST(vals[i] ? vals[i] : "")) < 0)
            return -1;
    return 0;
}

char *claim_table_xml(const claim_visit_t *v, int table, size_t *len)
{
    if (!claim_table_applies(v, table))
        return NULL;
    int n;
    const char *const *names = claim_table_fields(table, &n);
    const char *list, *row;
    table_rows(table, &list, &row);
    xmlBufferPtr buf = xmlBufferCreateSize(4096);
    xmlTextWriterPtr w = xmlNewTextWriterMemory(buf, 0);
    if (!w) {
        xmlBufferFree(buf);
        return NULL;
    }
    const char *vals[80];
    struct scratch sc = {.n = 0};
    char names_buf[4096], drugs_buf[4096];
    int rc = xmlTextWriterStartDocument(w, "1.0", "utf-8", NULL);
    rc |= xmlTextWriterStartElement(w, BAD_CAST claim_table_root(table));
    if (list)
        rc |= xmlTextWriterStartElement(w, BAD_CAST list);
    int stt = 0;
    switch (table) {
    case 1:
        xml1_values(v, vals, &sc);
        rc |= write_fields(w, names, n, vals);
        break;
    case 2:
    case 3:
        for (int i = 0; i < v->nlines; i++) {
            const claim_line_t *l = &v->lines[i];
            if ((table == 2) != (l->kind == CLAIM_LINE_DRUG))
                continue;
            sc.n = 0;
            if (table == 2)
                xml2_values(v, l, ++stt, vals, &sc);
            else
                xml3_values(v, l, ++stt, vals, &sc);
            rc |= xmlTextWriterStartElement(w, BAD_CAST row);
            rc |= write_fields(w, names, n, vals);
            rc |= xmlTextWriterEndElement(w);
        }
        break;
    case 4:
        for (int i = 0; i < v->nresults; i++) {
            sc.n = 0;
            xml4_values(v, &v->results[i], i + 1, vals, &sc);
            rc |= xmlTextWriterStartElement(w, BAD_CAST row);
            rc |= write_fields(w, names, n, vals);
            rc |= xmlTextWriterEndElement(w);
        }
        break;
    case 5:
        for (int i = 0; i < v->nprogress; i++) {
            sc.n = 0;
            xml5_values(v, &v->progress[i], i + 1, vals, &sc);
            rc |= xmlTextWriterStartElement(w, BAD_CAST row);
            rc |= write_fields(w, names, n, vals);
            rc |= xmlTextWriterEndElement(w);
        }
        break;
    case 13:
        xml13_values(v, vals, &sc, names_buf, sizeof names_buf, drugs_buf, sizeof drugs_buf);
        rc |= write_fields(w, names, n, vals);
        break;
    }
    rc |= xmlTextWriterEndDocument(w); /* closes every open element */
    xmlFreeTextWriter(w);
    char *out = NULL;
    if (rc >= 0) {
        *len = (size_t)xmlBufferLength(buf);
        out = malloc(*len + 1);
        if (out) {
            memcpy(out, xmlBufferContent(buf), *len);
            out[*len] = '\0';
        }
    }
    xmlBufferFree(buf);
    return out;
}

/* ---- envelope pieces ---------------------------------------------------- */

void claim_buf_add(claim_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *nd = realloc(b->data, cap);
        if (!nd)
            abort(); /* out of memory: nothing sensible to send */
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void claim_buf_str(claim_buf_t *b, const char *s)
{
    claim_buf_add(b, s, strlen(s));
}

void claim_buf_free(claim_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void claim_buf_base64(claim_buf_t *b, const void *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    size_t out = (n + 2) / 3 * 4;
    claim_buf_add(b, "", 0);
    if (b->len + out + 1 > b->cap) {
        size_t cap = b->cap;
        while (cap < b->len + out + 1)
            cap *= 2;
        char *nd = realloc(b->data, cap);
        if (!nd)
            abort();
        b->data = nd;
        b->cap = cap;
    }
    char *d = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        *d++ = t[s[i] >> 2];
        *d++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
        *d++ = t[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
        *d++ = t[s[i + 2] & 63];
    }
    if (i < n) {
        *d++ = t[s[i] >> 2];
        if (i + 1 < n) {
            *d++ = t[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
            *d++ = t[(s[i + 1] & 15) << 2];
        } else {
            *d++ = t[(s[i] & 3) << 4];
            *d++ = '=';
        }
        *d++ = '=';
    }
    b->len += out;
    b->data[b->len] = '\0';
}

void claim_hoso(claim_buf_t *out, char *const docs[6], const size_t lens[6])
{
    claim_buf_str(out, "<HOSO>");
    for (int i = 0; i < 6; i++) {
        if (!docs[i])
            continue;
        char head[80];
        snprintf(head, sizeof head, "<FILEHOSO><LOAIHOSO>XML%d</LOAIHOSO><NOIDUNGFILE>", claim_tables[i]);
        claim_buf_str(out, head);
        claim_buf_base64(out, docs[i], lens[i]);
        claim_buf_str(out, "</NOIDUNGFILE></FILEHOSO>");
    }
    claim_buf_str(out, "</HOSO>");
}
