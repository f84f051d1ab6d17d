/* The e-prescription rules of TT 26/2025/TT-BYT that do not need the
 * database: the national code, which class goes on which type, and the
 * limits on days (docs/pharmacy.md has the table and its sources). */
#include "pharmacy/pharmacy.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <string.h>

enum rx_class rx_class_parse(const char *s)
{
    if (!s)
        return RX_CLASS_INVALID;
    if (!strcmp(s, "other"))
        return RX_CLASS_OTHER;
    if (!strcmp(s, "narcotic"))
        return RX_CLASS_NARCOTIC;
    if (!strcmp(s, "psychotropic"))
        return RX_CLASS_PSYCHOTROPIC;
    if (!strcmp(s, "herbal"))
        return RX_CLASS_HERBAL;
    return RX_CLASS_INVALID;
}

const char *rx_class_name(enum rx_class c)
{
    switch (c) {
    case RX_CLASS_OTHER: return "other";
    case RX_CLASS_NARCOTIC: return "narcotic";
    case RX_CLASS_PSYCHOTROPIC: return "psychotropic";
    case RX_CLASS_HERBAL: return "herbal";
    default: return NULL;
    }
}

char rx_class_type(enum rx_class c)
{
    switch (c) {
    case RX_CLASS_OTHER: return 'C';
    case RX_CLASS_NARCOTIC: return 'N';
    case RX_CLASS_PSYCHOTROPIC: return 'H';
    case RX_CLASS_HERBAL: return 'T';
    default: return 0;
    }
}

char rx_type_parse(const char *s)
{
    if (!s || !s[0] || s[1])
        return 0;
    char t = (char)toupper((unsigned char)s[0]);
    return strchr("NHCT", t) ? t : 0;
}

static bool facility_code_ok(const char *f)
{
    if (!f || strlen(f) != 5)
        return false;
    for (int i = 0; i < 5; i++)
        if (!isalnum((unsigned char)f[i]))
            return false;
    return true;
}

int rx_code_generate(const char *facility_code, char type, char out[RX_CODE_LEN + 1])
{
    if (!facility_code_ok(facility_code) || !type || !strchr("NHCT", type))
        return -1;
    memcpy(out, facility_code, 5);
    /* 36 symbols: a byte is used only below 252 = 7 * 36, so each symbol is
     * equally likely (plain b % 36 would favour the first 4 symbols). */
    int n = 0;
    while (n < RX_RANDOM_LEN) {
        unsigned char buf[16];
        if (RAND_bytes(buf, sizeof buf) != 1)
            return -1;
        for (size_t i = 0; i < sizeof buf && n < RX_RANDOM_LEN; i++)
            if (buf[i] < 252)
                out[5 + n++] = RX_ALPHABET[buf[i] % 36];
    }
    out[12] = '-';
    out[13] = type;
    out[14] = '\0';
    return 0;
}

bool rx_code_valid(const char *code)
{
    if (!code || strlen(code) != RX_CODE_LEN)
        return false;
    for (int i = 0; i < 5; i++)
        if (!isalnum((unsigned char)code[i]))
            return false;
    for (int i = 5; i < 12; i++)
        if (!strchr(RX_ALPHABET, code[i]) || code[i] == '\0')
            return false;
    return code[12] == '-' && code[13] && strchr("NHCTnhct", code[13]);
}

/* ---- chronic diseases ---------------------------------------------------- */

/* A demo subset of TT 26/2025 PL VII (the 252 chronic diseases or groups
 * allowed up to 90 days), as ICD-10 category ranges [from, to] on the first
 * three characters. The full list belongs in a catalogue table loaded from
 * the ministry's file; this covers what district outpatient clinics see
 * most. */
static const char *const chronic_ranges[][2] = {
    {"A15", "A19"}, /* tuberculosis (long-term treatment) */
    {"B18", "B18"}, /* chronic viral hepatitis */
    {"B20", "B24"}, /* HIV disease */
    {"C00", "C97"}, /* malignant neoplasms */
    {"D50", "D50"}, /* iron deficiency anaemia (chronic) */
    {"D56", "D58"}, /* thalassaemia and other haemolytic anaemias */
    {"E03", "E03"}, /* hypothyroidism */
    {"E05", "E05"}, /* thyrotoxicosis */
    {"E10", "E14"}, /* diabetes mellitus */
    {"E78", "E78"}, /* disorders of lipoprotein metabolism */
    {"F20", "F20"}, /* schizophrenia */
    {"F31", "F33"}, /* bipolar and depressive disorders */
    {"G20", "G20"}, /* Parkinson's disease */
    {"G40", "G40"}, /* epilepsy */
    {"I05", "I09"}, /* chronic rheumatic heart diseases */
    {"I10", "I15"}, /* hypertensive diseases */
    {"I20", "I25"}, /* ischaemic heart diseases */
    {"I48", "I48"}, /* atrial fibrillation and flutter */
    {"I50", "I50"}, /* heart failure */
    {"I69", "I69"}, /* sequelae of cerebrovascular disease */
    {"J44", "J45"}, /* COPD, asthma */
    {"K74", "K74"}, /* fibrosis and cirrhosis of liver */
    {"M05", "M06"}, /* rheumatoid arthritis */
    {"M10", "M10"}, /* gout */
    {"M32", "M32"}, /* systemic lupus erythematosus */
    {"N18", "N18"}, /* chronic kidney disease */
};

static bool in_ranges(const char *icd10, const char *const (*ranges)[2], size_t n)
{
    if (!icd10 || strlen(icd10) < 3)
        return false;
    char c3[4] = {(char)toupper((unsigned char)icd10[0]), icd10[1], icd10[2], '\0'};
    for (size_t i = 0; i < n; i++)
        if (strcmp(c3, ranges[i][0]) >= 0 && strcmp(c3, ranges[i][1]) <= 0)
            return true;
    return false;
}

bool rx_icd10_chronic(const char *icd10)
{
    return in_ranges(icd10, chronic_ranges, sizeof chronic_ranges / sizeof *chronic_ranges);
}

bool rx_icd10_cancer_or_aids(const char *icd10)
{
    static const char *const r[][2] = {{"C00", "C97"}, {"B20", "B24"}};
    return in_ranges(icd10, r, 2);
}

/* ---- limits --------------------------------------------------------------- */

int rx_max_days(char type, const struct rx_context *ctx, const char **why)
{
    bool chronic = ctx && ctx->chronic;
    const char *w = "acute";
    int d = 0;
    switch (type) {
    case 'C':
        d = chronic ? 90 : 30;
        w = chronic ? "chronic" : "general";
        break;
    case 'N':
        /* Cancer and AIDS outpatients may have 30 days, written as three
         * batches of at most 10: each batch is its own prescription here. */
        d = ctx && ctx->cancer_or_aids ? 10 : 7;
        w = ctx && ctx->cancer_or_aids ? "cancer_or_aids_batch" : "acute";
        break;
    case 'H':
        d = chronic ? 30 : 10;
        w = chronic ? "chronic" : "acute";
        break;
    case 'T':
        d = 30;
        w = "decoction";
        break;
    default:
        d = 0;
    }
    if (why)
        *why = w;
    return d;
}
