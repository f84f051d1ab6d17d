/* Offline checks of Vietnamese identifiers: the citizen id (CCCD), the
 * health-insurance card number (mã thẻ BHYT), card validity dates, phone
 * numbers and dates of birth. Pure functions, no database: the social-security
 * portal stays the authority, these only stop typing mistakes at the desk.
 * Sources: shared/design/reference/vn-standards.md §2.1 (card), Appendix B
 * (province codes); the CCCD layout of Decree 137/2015 (province of birth,
 * century and sex, year of birth, 6 random digits). */
#ifndef HIS_IDCARD_H
#define HIS_IDCARD_H

#include <stdbool.h>
#include <stddef.h>

enum idcard_sex { IDCARD_SEX_UNKNOWN = 0, IDCARD_SEX_MALE = 1, IDCARD_SEX_FEMALE = 2 };

enum idcard_err {
    IDCARD_OK = 0,
    IDCARD_ERR_FORMAT,        /* wrong length or characters */
    IDCARD_ERR_PROVINCE,      /* province code not in the list */
    IDCARD_ERR_CENTURY,       /* CCCD digit 4 outside 0-3 (births 1900-2099) */
    IDCARD_ERR_BIRTH_YEAR,    /* CCCD year digits disagree with the birth year */
    IDCARD_ERR_SEX,           /* CCCD sex digit disagrees with the sex */
    IDCARD_ERR_CATEGORY,      /* card: unknown 2-letter category */
    IDCARD_ERR_LEVEL,         /* card: benefit level not 1-5 */
    IDCARD_ERR_DATE,          /* not a calendar date YYYY-MM-DD */
    IDCARD_ERR_DATE_ORDER,    /* valid_to before valid_from */
    IDCARD_ERR_PHONE,         /* not a Vietnamese mobile or landline number */
};

/* Message for an error code, in Vietnamese and English (static strings). */
const char *idcard_msg_vi(enum idcard_err e);
const char *idcard_msg_en(enum idcard_err e);

/* True when the 2-digit code is a province code (Appendix B; the 34
 * provinces of 2025 kept one of their predecessors' codes). */
bool idcard_province_known(int code);

/* CCCD: 12 digits; digits 1-3 the province of birth (0 + province code),
 * digit 4 century and sex (0 male / 1 female born 1900-1999, 2 / 3 born
 * 2000-2099), digits 5-6 the last two digits of the birth year. birth_year
 * 0 and sex IDCARD_SEX_UNKNOWN skip those cross-checks. */
enum idcard_err idcard_cccd_check(const char *s, int birth_year, enum idcard_sex sex);
/* The birth year and sex encoded in a CCCD that passed the format check. */
int idcard_cccd_birth_year(const char *s);
enum idcard_sex idcard_cccd_sex(const char *s);

/* Insurance card number: 15 characters, category (2 capital letters from
 * the list), benefit level 1-5, issuing province (or 97/98 for the defence
 * and police social-security offices), 10-digit social-insurance number. */
enum idcard_err idcard_card_check(const char *s);
/* The benefit level the category usually carries (1-5), 0 if unknown. The
 * social-security office is authoritative, so a mismatch is a warning. */
int idcard_card_usual_level(const char *category);
/* Facility code (MA_DKBD): 5 characters, 2-digit province code then 3 of [0-9A-Z]. */
bool idcard_facility_code_ok(const char *s);

/* Strict calendar date "YYYY-MM-DD" (years 1880-2200). */
bool idcard_date_parse(const char *s, int *y, int *m, int *d);
/* Card validity: both optional (NULL), each a date, to >= from. */
enum idcard_err idcard_card_dates_check(const char *from, const char *to);

/* Birth date "YYYY-MM-DD" or year only "YYYY"; *has_day tells which. */
bool idcard_birth_parse(const char *s, int *year, bool *has_day);

/* Normalises a Vietnamese phone number to its national form: strips spaces,
 * dots, dashes and parentheses, turns +84/84 into 0, then accepts a mobile
 * (10 digits, 03/05/07/08/09) or a landline (11 digits, 02x). out gets the
 * digits (at least 12 bytes). */
enum idcard_err idcard_phone_normalize(const char *in, char *out, size_t outlen);

#endif
