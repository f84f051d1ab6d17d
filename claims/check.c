/* Schema validation and the assessment portal's business checks (check.h).
 * The rules and their sources are listed in docs/claims.md; each has a
 * stable id (the `rule` of an issue) that the batch view shows. */
#include "claims/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "claims/copay.h"
#include "claims/xml.h"
#include "core/arena.h"

enum { NSCHEMA = 7 }; /* the six tables and the envelope */

struct claim_schemas {
    xmlSchemaPtr s[NSCHEMA];
};

struct claim_validator {
    claim_schemas_t *schemas;
    xmlSchemaValidCtxtPtr v[NSCHEMA];
};

static const char *schema_name(int i)
{
    static const char *const n[NSCHEMA] = {"XML1", "XML2", "XML3", "XML4", "XML5", "XML13", "GIAMDINHHS"};
    return n[i];
}

/* Silences libxml2's default error printing while schemas load. */
static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

claim_schemas_t *claim_schemas_load(const char *dir, char *err, size_t errlen)
{
    claim_schemas_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    for (int i = 0; i < NSCHEMA; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.xsd", dir, schema_name(i));
        xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
        if (pc)
            xmlSchemaSetParserErrors(pc, quiet, quiet, NULL);
        s->s[i] = pc ? xmlSchemaParse(pc) : NULL;
        xmlSchemaFreeParserCtxt(pc);
        if (!s->s[i]) {
            snprintf(err, errlen, "cannot load the XML Schema %s", path);
            claim_schemas_free(s);
            return NULL;
        }
    }
    return s;
}

void claim_schemas_free(claim_schemas_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < NSCHEMA; i++)
        xmlSchemaFree(s->s[i]);
    free(s);
}

claim_validator_t *claim_validator_new(claim_schemas_t *s)
{
    claim_validator_t *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->schemas = s;
    for (int i = 0; i < NSCHEMA; i++)
        if (!(v->v[i] = xmlSchemaNewValidCtxt(s->s[i]))) {
            claim_validator_free(v);
            return NULL;
        }
    return v;
}

void claim_validator_free(claim_validator_t *v)
{
    if (!v)
        return;
    for (int i = 0; i < NSCHEMA; i++)
        xmlSchemaFreeValidCtxt(v->v[i]);
    free(v);
}

void claim_docs_free(claim_docs_t *d)
{
    for (int i = 0; i < 6; i++) {
        free(d->xml[i]);
        d->xml[i] = NULL;
    }
}

/* ---- schema errors ---------------------------------------------------------- */

struct xsd_ctx {
    claim_issues_t *is;
    const char *ma_lk, *table;
};

static void xsd_error(void *ctx, const xmlError *e)
{
    struct xsd_ctx *c = ctx;
    const char *field = "";
    xmlNodePtr n = e->node;
    if (n && n->type == XML_ELEMENT_NODE)
        field = (const char *)n->name;
    char msg[300];
    snprintf(msg, sizeof msg, "%s", e->message ? e->message : "schema violation");
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = '\0';
    claim_issue_add(c->is, c->ma_lk, c->table, field, "xsd", "%s", msg);
}

static xmlDocPtr parse_validate(claim_validator_t *val, int si, const char *xml, size_t len, const char *ma_lk,
                                claim_issues_t *is)
{
    struct xsd_ctx c = {is, ma_lk, schema_name(si)};
    xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, "utf-8", XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                   XML_PARSE_NOWARNING | XML_PARSE_HUGE);
    if (!doc) {
        claim_issue_add(is, ma_lk, schema_name(si), "", "well_formed", "the table is not well-formed UTF-8 XML");
        return NULL;
    }
    xmlSchemaSetValidStructuredErrors(val->v[si], (xmlStructuredErrorFunc)xsd_error, &c);
    xmlSchemaValidateDoc(val->v[si], doc);
    xmlSchemaSetValidStructuredErrors(val->v[si], NULL, NULL);
    return doc;
}

int claim_validate_table(claim_validator_t *val, int table, const char *xml, size_t len, const char *ma_lk,
                         claim_issues_t *is)
{
    int si = -1;
    for (int i = 0; i < 6; i++)
        if (claim_tables[i] == table)
            si = i;
    if (si < 0)
        return -1;
    int before = is->n;
    xmlDocPtr d = parse_validate(val, si, xml, len, ma_lk, is);
    xmlFreeDoc(d);
    return is->n - before;
}

int claim_validate_envelope(claim_validator_t *val, const char *xml, size_t len, claim_issues_t *is)
{
    int before = is->n;
    xmlDocPtr d = parse_validate(val, 6, xml, len, NULL, is);
    xmlFreeDoc(d);
    return is->n - before;
}

/* ---- reading the written tables ----------------------------------------------- */

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* Text of a leaf element ("" when absent or empty): the tables have no
 * mixed content, so the first text child is the value. */
static const char *val_of(xmlNodePtr row, const char *name)
{
    xmlNodePtr e = child(row, name);
    if (e && e->children && e->children->type == XML_TEXT_NODE && e->children->content)
        return (const char *)e->children->content;
    return "";
}

static int64_t dec_of(xmlNodePtr row, const char *name, int scale)
{
    int64_t v = 0;
    const char *s = val_of(row, name);
    if (*s && !claim_dec_parse(s, scale, 15, &v))
        return 0; /* the schema has already reported the format */
    return v;
}

struct bctx {
    const char *ma_lk;
    claim_issues_t *is;
    claim_icd_fn icd;
    void *icd_ctx;
};

static void check_icd(struct bctx *b, const char *table, const char *field, const char *list, bool main)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    for (char *save = NULL, *c = strtok_r(buf, ";", &save); c; c = strtok_r(NULL, ";", &save)) {
        n++;
        bool main_ok = true;
        if (!b->icd || !b->icd(b->icd_ctx, c, &main_ok))
            claim_issue_add(b->is, b->ma_lk, table, field, "icd10_exists",
                            "mã ICD-10 '%s' không có trong danh mục (ICD-10 code not in catalog.icd10)", c);
        else if (main && !main_ok)
            claim_issue_add(b->is, b->ma_lk, table, field, "icd10_main_allowed",
                            "mã '%s' không được dùng làm bệnh chính (may not be the main diagnosis)", c);
    }
    if (!main && n > 12)
        claim_issue_add(b->is, b->ma_lk, table, field, "icd10_secondary_max12",
                        "tối đa 12 mã bệnh kèm theo, có %d (at most 12 secondary codes)", n);
}

static bool card_ok(const char *c)
{
    if (strlen(c) != 15)
        return false;
    for (int i = 0; i < 15; i++) {
        char ch = c[i];
        if (i < 2 ? !(ch >= 'A' && ch <= 'Z') : i == 2 ? !(ch >= '1' && ch <= '5') : !(ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

/* yyyyMMdd plus n days, for the 15-day grace of an inpatient stay. */
static void add_days(const char *d, int n, char out[9])
{
    struct tm t = {0};
    t.tm_year = atoi((char[]){d[0], d[1], d[2], d[3], 0}) - 1900;
    t.tm_mon = atoi((char[]){d[4], d[5], 0}) - 1;
    t.tm_mday = atoi((char[]){d[6], d[7], 0}) + n;
    t.tm_hour = 12;
    timegm(&t);
    snprintf(out, 9, "%04u%02u%02u", (unsigned)(t.tm_year + 1900) % 10000u, (unsigned)(t.tm_mon + 1) % 100u,
             (unsigned)t.tm_mday % 100u); /* bounded so gcc -O2 sees 8 digits */
}

static void check_xml1(struct bctx *b, xmlNodePtr x1)
{
    const char *in = val_of(x1, "NGAY_VAO"), *outd = val_of(x1, "NGAY_RA");
    if (*in && *outd && strcmp(outd, in) < 0)
        claim_issue_add(b->is, b->ma_lk, "XML1", "NGAY_RA", "discharge_after_admission",
                        "NGAY_RA (%s) trước NGAY_VAO (%s) (discharge before admission)", outd, in);
    const char *card = val_of(x1, "MA_THE_BHYT");
    char cards[64];
    snprintf(cards, sizeof cards, "%s", card);
    for (char *save = NULL, *c = strtok_r(cards, ";", &save); c; c = strtok_r(NULL, ";", &save))
        if (!card_ok(c))
            claim_issue_add(b->is, b->ma_lk, "XML1", "MA_THE_BHYT", "card_format",
                            "mã thẻ BHYT '%s' sai cấu trúc 15 ký tự (card number malformed)", c);
    /* Card valid on the visit dates: from the first card's start to the last
     * card's end; an inpatient stay may end up to 15 days after expiry
     * (Decree 188/2025 Đ50 k4, [S]). */
    const char *from = val_of(x1, "GT_THE_TU"), *to = val_of(x1, "GT_THE_DEN");
    if (strlen(from) >= 8 && strlen(in) >= 8 && strncmp(in, from, 8) < 0)
        claim_issue_add(b->is, b->ma_lk, "XML1", "GT_THE_TU", "card_valid",
                        "thẻ chưa có giá trị khi vào viện: từ %.8s, vào %.8s (card not yet valid on admission)", from,
                        in);
    size_t tl = strlen(to);
    if (tl >= 8 && strlen(outd) >= 8) {
        const char *last = to + tl - 8;
        const char *kcb = val_of(x1, "MA_LOAI_KCB");
        bool inpatient = !strcmp(kcb, "03") || !strcmp(kcb, "04") || !strcmp(kcb, "09");
        char limit[9];
        if (inpatient && strncmp(in, last, 8) <= 0)
            add_days(last, 15, limit);
        else
            snprintf(limit, sizeof limit, "%.8s", last);
        if (strncmp(outd, limit, 8) > 0)
            claim_issue_add(b->is, b->ma_lk, "XML1", "GT_THE_DEN", "card_valid",
                            "thẻ hết hạn %.8s trước ngày ra %.8s (card expired before the end of the visit)", last,
                            outd);
    }
    const char *main = val_of(x1, "MA_BENH_CHINH");
    if (*main)
        check_icd(b, "XML1", "MA_BENH_CHINH", main, true);
    const char *kt = val_of(x1, "MA_BENH_KT");
    if (*kt)
        check_icd(b, "XML1", "MA_BENH_KT", kt, false);
}

struct sums {
    claim_amt_t thuoc, vtyt, bv, bh, bntt, bncct, bhtt, nk, gdv;
};

static void check_rows(struct bctx *b, xmlDocPtr doc, int table, const char *ma_lk, struct sums *s)
{
    const char *tname = table == 2 ? "XML2" : "XML3";
    xmlNodePtr list = child(xmlDocGetRootElement(doc), table == 2 ? "DSACH_CHI_TIET_THUOC" : "DSACH_CHI_TIET_DVKT");
    for (xmlNodePtr r = list ? list->children : NULL; r; r = r->next) {
        if (r->type != XML_ELEMENT_NODE)
            continue;
        const char *stt = val_of(r, "STT");
        if (strcmp(val_of(r, "MA_LK"), ma_lk) != 0)
            claim_issue_add(b->is, b->ma_lk, tname, "MA_LK", "ma_lk_link",
                            "dòng %s: MA_LK khác XML1 (row not linked to the visit)", stt);
        const char *yl = val_of(r, "NGAY_YL"), *th = val_of(r, "NGAY_TH_YL");
        if (*yl && *th && strcmp(th, yl) < 0)
            claim_issue_add(b->is, b->ma_lk, tname, "NGAY_TH_YL", "th_yl_after_yl",
                            "dòng %s: NGAY_TH_YL (%s) trước NGAY_YL (%s) (carried out before ordered)", stt, th, yl);
        int nhom = atoi(val_of(r, "MA_NHOM"));
        if (table == 3 && (nhom == 1 || nhom == 2 || nhom == 3 || nhom == 8 || nhom == 18)) {
            if (!*val_of(r, "NGUOI_THUC_HIEN"))
                claim_issue_add(b->is, b->ma_lk, tname, "NGUOI_THUC_HIEN", "performer_required",
                                "dòng %s: thiếu người thực hiện cho MA_NHOM %d (performer required)", stt, nhom);
            if (!*th)
                claim_issue_add(b->is, b->ma_lk, tname, "NGAY_TH_YL", "performed_at_required",
                                "dòng %s: thiếu NGAY_TH_YL cho MA_NHOM %d (execution time required)", stt, nhom);
        }
        if (table == 3 && *val_of(r, "MA_BENH"))
            check_icd(b, tname, "MA_BENH", val_of(r, "MA_BENH"), false);
        /* Line arithmetic, annex formulas, each rounded once to 2 decimals. */
        claim_qty_t q = dec_of(r, "SO_LUONG", 3);
        claim_price_t pbv = dec_of(r, table == 2 ? "DON_GIA" : "DON_GIA_BV", 3);
        claim_price_t pbh = table == 2 ? pbv : dec_of(r, "DON_GIA_BH", 3);
        claim_pct_t dv = table == 3 ? (claim_pct_t)atoi(val_of(r, "TYLE_TT_DV")) * 10 : 1000;
        claim_pct_t rbh = (claim_pct_t)atoi(val_of(r, "TYLE_TT_BH")) * 10;
        int pv = atoi(val_of(r, "PHAM_VI"));
        claim_amt_t bv = dec_of(r, "THANH_TIEN_BV", 2), bh = dec_of(r, "THANH_TIEN_BH", 2);
        if (claim_line_amount(q, pbv, dv, 1000) != bv)
            claim_issue_add(b->is, b->ma_lk, tname, "THANH_TIEN_BV", "line_amount",
                            "dòng %s: THANH_TIEN_BV khác SO_LUONG x đơn giá (amount is not quantity x price)", stt);
        if (pv != 2 && claim_line_amount(q, pbh, rbh, dv) != bh)
            claim_issue_add(b->is, b->ma_lk, tname, "THANH_TIEN_BH", "line_amount_bh",
                            "dòng %s: THANH_TIEN_BH khác công thức (insurer amount does not follow the formula)", stt);
        if (pv == 2 && bh != 0)
            claim_issue_add(b->is, b->ma_lk, tname, "THANH_TIEN_BH", "out_of_scope_zero",
                            "dòng %s: ngoài phạm vi BHYT nhưng THANH_TIEN_BH khác 0 (out of scope line claims money)",
                            stt);
        claim_amt_t nk = dec_of(r, "T_NGUONKHAC", 2), bntt = dec_of(r, "T_BNTT", 2),
                    bncct = dec_of(r, "T_BNCCT", 2), bhtt = dec_of(r, "T_BHTT", 2);
        if (nk != dec_of(r, "T_NGUONKHAC_NSNN", 2) + dec_of(r, "T_NGUONKHAC_VTNN", 2) +
                      dec_of(r, "T_NGUONKHAC_VTTN", 2) + dec_of(r, "T_NGUONKHAC_CL", 2))
            claim_issue_add(b->is, b->ma_lk, tname, "T_NGUONKHAC", "other_funding_sum",
                            "dòng %s: T_NGUONKHAC khác tổng 4 nguồn (not the sum of its sources)", stt);
        if (bntt + bncct + bhtt + nk != bv)
            claim_issue_add(b->is, b->ma_lk, tname, "T_BHTT", "line_split",
                            "dòng %s: T_BNTT + T_BNCCT + T_BHTT + T_NGUONKHAC khác THANH_TIEN_BV (split does not add up)",
                            stt);
        if (table == 2)
            s->thuoc += bv;
        else if (*val_of(r, "MA_VAT_TU"))
            s->vtyt += bv;
        s->bv += bv, s->bh += bh, s->bntt += bntt, s->bncct += bncct, s->bhtt += bhtt, s->nk += nk;
        if (atoi(val_of(r, "MA_PTTT")) == 1)
            s->gdv += bhtt;
    }
}

static void check_total(struct bctx *b, xmlNodePtr x1, const char *field, claim_amt_t want)
{
    claim_amt_t got = dec_of(x1, field, 2);
    if (got != want) {
        char g[32], w[32];
        claim_issue_add(b->is, b->ma_lk, "XML1", field, "total_equals_lines",
                        "%s = %s, tổng các dòng XML2+XML3 = %s (total differs from the sum of the lines)", field,
                        claim_dec_format(got, 2, g, sizeof g), claim_dec_format(want, 2, w, sizeof w));
    }
}

static void check_links(struct bctx *b, xmlDocPtr doc, const char *table, const char *list, const char *ma_lk)
{
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr l = list ? child(root, list) : NULL;
    if (!list) {
        if (strcmp(val_of(root, "MA_LK"), ma_lk) != 0)
            claim_issue_add(b->is, b->ma_lk, table, "MA_LK", "ma_lk_link", "MA_LK khác XML1 (not linked to the visit)");
        return;
    }
    for (xmlNodePtr r = l ? l->children : NULL; r; r = r->next)
        if (r->type == XML_ELEMENT_NODE && strcmp(val_of(r, "MA_LK"), ma_lk) != 0)
            claim_issue_add(b->is, b->ma_lk, table, "MA_LK", "ma_lk_link",
                            "dòng %s: MA_LK khác XML1 (row not linked to the visit)", val_of(r, "STT"));
}

int claim_build_visit(claim_validator_t *val, claim_visit_t *v, struct arena *a, claim_icd_fn icd, void *icd_ctx,
                      claim_docs_t *d, claim_issues_t *is)
{
    int before = is->n;
    memset(d, 0, sizeof *d);
    claim_price_visit(v, a);
    xmlDocPtr docs[6] = {0};
    for (int i = 0; i < 6; i++) {
        d->xml[i] = claim_table_xml(v, claim_tables[i], &d->len[i]);
        if (!d->xml[i] && claim_table_applies(v, claim_tables[i]))
            claim_issue_add(is, v->ma_lk, schema_name(i), "", "write", "cannot write the table");
        if (d->xml[i])
            docs[i] = parse_validate(val, i, d->xml[i], d->len[i], v->ma_lk, is);
    }
    struct bctx b = {v->ma_lk, is, icd, icd_ctx};
    if (docs[0]) {
        xmlNodePtr x1 = xmlDocGetRootElement(docs[0]);
        const char *ma_lk = val_of(x1, "MA_LK");
        check_xml1(&b, x1);
        struct sums s = {0};
        if (docs[1])
            check_rows(&b, docs[1], 2, ma_lk, &s);
        if (docs[2])
            check_rows(&b, docs[2], 3, ma_lk, &s);
        if (docs[3])
            check_links(&b, docs[3], "XML4", "DSACH_CHI_TIET_CLS", ma_lk);
        if (docs[4])
            check_links(&b, docs[4], "XML5", "DSACH_CHI_TIET_DIEN_BIEN_BENH", ma_lk);
        if (docs[5])
            check_links(&b, docs[5], "XML13", NULL, ma_lk);
        check_total(&b, x1, "T_THUOC", s.thuoc);
        check_total(&b, x1, "T_VTYT", s.vtyt);
        check_total(&b, x1, "T_TONGCHI_BV", s.bv);
        check_total(&b, x1, "T_TONGCHI_BH", s.bh);
        check_total(&b, x1, "T_BNTT", s.bntt);
        check_total(&b, x1, "T_BNCCT", s.bncct);
        check_total(&b, x1, "T_BHTT", s.bhtt);
        check_total(&b, x1, "T_NGUONKHAC", s.nk);
        check_total(&b, x1, "T_BHTT_GDV", s.gdv);
        /* XML1's own formula T_BHTT = T_TONGCHI_BH - T_BNCCT holds whenever no
         * other funding reached into the insured part. */
        if (s.nk == 0 && dec_of(x1, "T_BHTT", 2) != dec_of(x1, "T_TONGCHI_BH", 2) - dec_of(x1, "T_BNCCT", 2))
            claim_issue_add(is, v->ma_lk, "XML1", "T_BHTT", "bhtt_formula",
                            "T_BHTT khác T_TONGCHI_BH - T_BNCCT (insurer total does not follow the formula)");
    }
    for (int i = 0; i < 6; i++)
        xmlFreeDoc(docs[i]);
    return is->n - before;
}
