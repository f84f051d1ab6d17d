/* his catalog load icd10 FILE: loads an ICD-10 catalogue from a CSV file in
 * the ministry's import layout (code, code_base, code_nodot, dagger_asterisk,
 * category3, chapter, chapter_range, name_vi, name_en; only code and name_vi
 * are required, columns are found by their header names, and an optional
 * not_allowed_as_main column of 1/empty is honoured).
 *
 * The load is one transaction: rows go to a temporary table by COPY, then
 * into catalog.icd10 with an upsert, so a reader never sees half a catalogue
 * and a bad line leaves the old catalogue untouched. Codes are never deleted
 * (old visits point at them); --replace marks the codes absent from the file
 * invalid for new diagnoses. The demo seed loads schema/data/icd10_demo.csv
 * through the same function. */
#include "his/his.h"
#include "core/db.h"
#include "core/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_FIELDS 32
#define ICD_FILE_MAX (64L * 1024 * 1024)

bool catalog_icd10_normalize(const char *in, char *out, size_t outlen);
int csv_next_record(char **pos, char *end, char **fields, int maxfields);
const char *catalog_icd10_chapter(const char *code3, const char **range);
/* The whole file (buf[len] must be writable: parsed in place) as COPY text,
 * checked line by line; pure, no database (the fuzz target calls it). */
char *catalog_icd10_to_copy(char *buf, size_t len, const char *source, long *rows, char *err, size_t errlen);
int catalog_load_icd10(PGconn *c, const char *path, const char *source, bool replace, bool own_tx, long *inserted,
                       long *updated, long *invalidated, char *err, size_t errlen);

/* One RFC 4180 record from *pos, parsed in place: fields are NUL-terminated
 * inside the buffer (quoted fields unescaped). Returns the number of fields,
 * 0 at the end of input, -1 for an unterminated quote or too many fields.
 * Records end at LF or CRLF outside quotes. */
int csv_next_record(char **pos, char *end, char **fields, int maxfields)
{
    char *p = *pos;
    if (p >= end)
        return 0;
    int n = 0;
    for (;;) {
        if (n >= maxfields)
            return -1;
        char *out = p;
        fields[n++] = out;
        if (p < end && *p == '"') {
            p++;
            for (;;) {
                if (p >= end)
                    return -1;
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        *out++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *out++ = *p++;
            }
            /* anything after the closing quote up to the separator is kept */
            while (p < end && *p != ',' && *p != '\n' && *p != '\r')
                *out++ = *p++;
        } else {
            while (p < end && *p != ',' && *p != '\n' && *p != '\r')
                out++, p++;
        }
        /* the terminator is read before the NUL may overwrite it */
        char sep = p < end ? *p : '\n';
        *out = '\0';
        if (sep == ',') {
            p++;
            continue;
        }
        if (p < end)
            p++;
        if (sep == '\r' && p < end && *p == '\n')
            p++;
        *pos = p;
        return n;
    }
}

/* The ICD-10 chapter (Roman numeral) of a three-character category. */
const char *catalog_icd10_chapter(const char *code3, const char **range)
{
    static const struct {
        const char *chapter, *from, *to;
    } chapters[] = {
        {"I", "A00", "B99"},    {"II", "C00", "D48"},   {"III", "D50", "D89"}, {"IV", "E00", "E90"},
        {"V", "F00", "F99"},    {"VI", "G00", "G99"},   {"VII", "H00", "H59"}, {"VIII", "H60", "H95"},
        {"IX", "I00", "I99"},   {"X", "J00", "J99"},    {"XI", "K00", "K93"},  {"XII", "L00", "L99"},
        {"XIII", "M00", "M99"}, {"XIV", "N00", "N99"},  {"XV", "O00", "O99"},  {"XVI", "P00", "P96"},
        {"XVII", "Q00", "Q99"}, {"XVIII", "R00", "R99"}, {"XIX", "S00", "T98"}, {"XX", "V01", "Y98"},
        {"XXI", "Z00", "Z99"},  {"XXII", "U00", "U99"},
    };
    static char ranges[sizeof chapters / sizeof *chapters][8];
    for (size_t i = 0; i < sizeof chapters / sizeof *chapters; i++)
        if (strncmp(code3, chapters[i].from, 3) >= 0 && strncmp(code3, chapters[i].to, 3) <= 0) {
            if (range) {
                snprintf(ranges[i], sizeof ranges[i], "%s-%s", chapters[i].from, chapters[i].to);
                *range = ranges[i];
            }
            return chapters[i].chapter;
        }
    if (range)
        *range = NULL;
    return NULL;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb || cap > (size_t)ICD_FILE_MAX * 2) {
                free(nb ? nb : buf);
                fclose(f);
                snprintf(err, errlen, "%s is too large", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (got == 0)
            break;
        if (n > (size_t)ICD_FILE_MAX) {
            free(buf);
            fclose(f);
            snprintf(err, errlen, "%s is larger than 64 MB", path);
            return NULL;
        }
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* COPY text format: backslash, tab, CR and LF escaped; NULL as \N. */
static void copy_field(char **o, const char *s, bool last)
{
    char *p = *o;
    if (!s) {
        memcpy(p, "\\N", 2);
        p += 2;
    } else {
        for (; *s; s++) {
            if (*s == '\\' || *s == '\t' || *s == '\n' || *s == '\r') {
                *p++ = '\\';
                *p++ = *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : '\\';
            } else {
                *p++ = *s;
            }
        }
    }
    *p++ = last ? '\n' : '\t';
    *o = p;
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return rc;
}

struct icd_columns {
    int code, code_base, dagger, chapter, range, name_vi, name_en, not_main;
};

static int find_columns(char **h, int n, struct icd_columns *col, char *err, size_t errlen)
{
    *col = (struct icd_columns){-1, -1, -1, -1, -1, -1, -1, -1};
    for (int i = 0; i < n; i++) {
        const char *f = h[i];
        if (i == 0 && strncmp(f, "\xEF\xBB\xBF", 3) == 0) /* byte-order mark */
            f += 3;
        if (!strcmp(f, "code"))
            col->code = i;
        else if (!strcmp(f, "code_base"))
            col->code_base = i;
        else if (!strcmp(f, "dagger_asterisk"))
            col->dagger = i;
        else if (!strcmp(f, "chapter"))
            col->chapter = i;
        else if (!strcmp(f, "chapter_range"))
            col->range = i;
        else if (!strcmp(f, "name_vi"))
            col->name_vi = i;
        else if (!strcmp(f, "name_en"))
            col->name_en = i;
        else if (!strcmp(f, "not_allowed_as_main"))
            col->not_main = i;
    }
    if (col->code < 0 || col->name_vi < 0) {
        snprintf(err, errlen, "the header must name at least the columns code and name_vi");
        return -1;
    }
    return 0;
}

static const char *field(char **f, int n, int i)
{
    return i >= 0 && i < n && f[i][0] ? f[i] : NULL;
}

/* One data line to COPY text; returns -1 with err set for a bad line. */
static int icd_row_to_copy(char **f, int n, const struct icd_columns *col, const char *source, long line, char **o,
                           char *err, size_t errlen)
{
    const char *raw = field(f, n, col->code_base) ? field(f, n, col->code_base) : field(f, n, col->code);
    const char *vi = field(f, n, col->name_vi), *en = field(f, n, col->name_en);
    char code[8];
    if (!raw || !catalog_icd10_normalize(raw, code, sizeof code)) {
        snprintf(err, errlen, "line %ld: '%s' is not an ICD-10 code", line, raw ? raw : "");
        return -1;
    }
    if (!vi || strlen(vi) > 500 || (en && strlen(en) > 500) || !text_valid_utf8(vi, strlen(vi)) ||
        (en && !text_valid_utf8(en, strlen(en)))) {
        snprintf(err, errlen, "line %ld: name_vi must be 1-500 bytes of UTF-8 (name_en at most 500)", line);
        return -1;
    }
    /* The mark comes from its column, or from the code itself ("A17.0†"). */
    const char *mark = field(f, n, col->dagger);
    const char *rc = field(f, n, col->code);
    if (!mark && rc && strstr(rc, "\xE2\x80\xA0"))
        mark = "\xE2\x80\xA0";
    if (!mark && rc && strchr(rc, '*'))
        mark = "*";
    if (mark && strcmp(mark, "*") != 0 && strcmp(mark, "\xE2\x80\xA0") != 0) {
        snprintf(err, errlen, "line %ld: dagger_asterisk must be empty, † or *", line);
        return -1;
    }
    char nodot[8], cat3[4];
    size_t k = 0;
    for (const char *p = code; *p; p++)
        if (*p != '.')
            nodot[k++] = *p;
    nodot[k] = '\0';
    snprintf(cat3, sizeof cat3, "%.3s", code);
    const char *range = NULL;
    const char *chapter = field(f, n, col->chapter);
    const char *computed = catalog_icd10_chapter(cat3, &range);
    if (!chapter)
        chapter = computed;
    if (field(f, n, col->range))
        range = field(f, n, col->range);
    if ((chapter && strlen(chapter) > 10) || (range && strlen(range) > 20)) {
        snprintf(err, errlen, "line %ld: chapter or chapter_range too long", line);
        return -1;
    }
    char fold[1100];
    size_t fl = text_fold(vi, fold, 540);
    if (en) {
        snprintf(fold + fl, sizeof fold - fl, " | ");
        text_fold(en, fold + fl + 3, sizeof fold - fl - 3);
    }
    const char *not_main = field(f, n, col->not_main);
    bool main_allowed = !(mark && strcmp(mark, "*") == 0) && !(not_main && strcmp(not_main, "0") != 0);
    char lno[24];
    snprintf(lno, sizeof lno, "%ld", line);
    copy_field(o, code, false);
    copy_field(o, nodot, false);
    copy_field(o, cat3, false);
    copy_field(o, mark, false);
    copy_field(o, chapter, false);
    copy_field(o, range, false);
    copy_field(o, vi, false);
    copy_field(o, en, false);
    copy_field(o, fold, false);
    copy_field(o, main_allowed ? "t" : "f", false);
    copy_field(o, source, false);
    copy_field(o, lno, true);
    return 0;
}

/* Parses the whole file into COPY text before touching the database, so a
 * bad line is reported with nothing sent. */
char *catalog_icd10_to_copy(char *buf, size_t len, const char *source, long *rows, char *err, size_t errlen)
{
    char *pos = buf, *end = buf + len;
    char *f[CSV_MAX_FIELDS];
    int n = csv_next_record(&pos, end, f, CSV_MAX_FIELDS);
    struct icd_columns col;
    if (n <= 0) {
        snprintf(err, errlen, "the file is empty or its header is malformed");
        return NULL;
    }
    if (find_columns(f, n, &col, err, errlen) < 0)
        return NULL;
    size_t cap = len * 3 + 65536;
    char *copy = malloc(cap);
    char *o = copy;
    long line = 1;
    *rows = 0;
    char *start = pos;
    while ((n = csv_next_record(&pos, end, f, CSV_MAX_FIELDS)) != 0) {
        line++;
        /* Escaping at most doubles a field, the fold adds at most the names
         * again, plus the source name and separators. */
        size_t need = 4 * (size_t)(pos - start) + 1024, used = (size_t)(o - copy);
        start = pos;
        if (used + need > cap) {
            cap = (used + need) * 2;
            char *nc = realloc(copy, cap);
            if (!nc) {
                free(copy);
                snprintf(err, errlen, "out of memory");
                return NULL;
            }
            copy = nc;
            o = copy + used;
        }
        if (n < 0) {
            snprintf(err, errlen, "line %ld: malformed CSV (unterminated quote or too many fields)", line);
            free(copy);
            return NULL;
        }
        if (n == 1 && f[0][0] == '\0')
            continue; /* blank line */
        if (icd_row_to_copy(f, n, &col, source, line, &o, err, errlen) < 0) {
            free(copy);
            return NULL;
        }
        (*rows)++;
    }
    *o = '\0';
    return copy;
}

static int copy_in(PGconn *c, const char *data, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, "COPY pg_temp.icd10_load (code, code_nodot, category3, dagger_asterisk, chapter, "
                            "chapter_range, name_vi, name_en, name_fold, main_allowed, source, line) FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    if (PQputCopyData(c, data, (int)strlen(data)) != 1 || PQputCopyEnd(c, NULL) != 1) {
        snprintf(err, errlen, "%s", PQerrorMessage(c));
        return -1;
    }
    int rc = 0;
    while ((r = PQgetResult(c))) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
    }
    return rc;
}

/* Upsert from the temporary table. Where a file lists a code twice (plain
 * and with its dagger/asterisk form, as the ministry's file does), the plain
 * row wins: its name has no cross-reference. */
static int merge_loaded(PGconn *c, bool replace, long *inserted, long *updated,
                        long *invalidated, char *err, size_t errlen)
{
    PGresult *r = PQexec(c,
        "WITH pick AS ("
        "  SELECT DISTINCT ON (code) * FROM pg_temp.icd10_load "
        "  ORDER BY code, (dagger_asterisk IS NOT NULL), line), "
        "up AS ("
        "  INSERT INTO catalog.icd10 (code, code_nodot, category3, dagger_asterisk, chapter, chapter_range, "
        "                             name_vi, name_en, name_fold, valid, main_allowed, source, loaded_at) "
        "  SELECT code, code_nodot, category3, dagger_asterisk, chapter, chapter_range, name_vi, name_en, "
        "         name_fold, true, main_allowed, source, now() FROM pick "
        "  ON CONFLICT (code) DO UPDATE SET code_nodot = EXCLUDED.code_nodot, category3 = EXCLUDED.category3, "
        "     dagger_asterisk = EXCLUDED.dagger_asterisk, chapter = EXCLUDED.chapter, "
        "     chapter_range = EXCLUDED.chapter_range, name_vi = EXCLUDED.name_vi, name_en = EXCLUDED.name_en, "
        "     name_fold = EXCLUDED.name_fold, valid = true, main_allowed = EXCLUDED.main_allowed, "
        "     source = EXCLUDED.source, loaded_at = now() "
        "  RETURNING (xmax = 0) AS fresh) "
        "SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM up");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    *inserted = atol(PQgetvalue(r, 0, 0));
    *updated = atol(PQgetvalue(r, 0, 1));
    PQclear(r);
    *invalidated = 0;
    if (!replace)
        return 0;
    r = PQexec(c, "UPDATE catalog.icd10 SET valid = false WHERE valid AND code NOT IN "
                  "(SELECT code FROM pg_temp.icd10_load)");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    *invalidated = atol(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

int catalog_load_icd10(PGconn *c, const char *path, const char *source, bool replace, bool own_tx, long *inserted,
                       long *updated, long *invalidated, char *err, size_t errlen)
{
    size_t len;
    char *buf = read_file(path, &len, err, errlen);
    if (!buf)
        return -1;
    long rows;
    char *data = catalog_icd10_to_copy(buf, len, source, &rows, err, errlen);
    free(buf);
    if (!data)
        return -1;
    if (rows == 0) {
        free(data);
        snprintf(err, errlen, "%s has no codes", path);
        return -1;
    }
    int rc = -1;
    if (own_tx && exec_ok(c, "BEGIN", err, errlen) < 0)
        goto out;
    if (exec_ok(c, "DROP TABLE IF EXISTS pg_temp.icd10_load", err, errlen) < 0 ||
        exec_ok(c, "CREATE TEMP TABLE icd10_load (LIKE catalog.icd10 INCLUDING DEFAULTS, line bigint)",
                err, errlen) < 0 ||
        copy_in(c, data, err, errlen) < 0 ||
        merge_loaded(c, replace, inserted, updated, invalidated, err, errlen) < 0 ||
        exec_ok(c, "DROP TABLE pg_temp.icd10_load", err, errlen) < 0)
        goto rollback;
    if (own_tx && exec_ok(c, "COMMIT", err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
rollback:
    if (own_tx)
        PQclear(PQexec(c, "ROLLBACK"));
out:
    free(data);
    return rc;
}

/* ---- the command ------------------------------------------------------- */

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static const enum config_key catalog_keys[] = {CFG_DATA_DIR, CFG_DATABASE_URL, CFG_SCHEMA_DIR, CFG_LOG_LEVEL,
                                               CFG_CONFIG_FILE, CFG__COUNT};

#define CATALOG_USAGE                                                                                          \
    "Usage: his catalog load icd10 FILE [--replace] [--data-dir DIR] [--database-url URL]\n"                   \
    "Loads an ICD-10 catalogue (CSV with a header: code, name_vi required; code_base, dagger_asterisk,\n"      \
    "chapter, chapter_range, name_en, not_allowed_as_main optional). Existing codes are updated, new ones\n"   \
    "added; --replace marks the codes absent from FILE invalid for new diagnoses (never deleted)."

int cmd_catalog(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("%s\n", CATALOG_USAGE);
        return 0;
    }
    struct config cfg;
    const char *pos[32];
    int np = 0;
    static const char *const bools[] = {"--replace", NULL};
    bool bv[1] = {false};
    int rc = his_parse_args(argc, argv, catalog_keys, CATALOG_USAGE, &cfg, pos, &np, bools, bv);
    if (rc)
        return rc == 3 ? 0 : rc;
    if (np != 3 || strcmp(pos[0], "load") != 0 || strcmp(pos[1], "icd10") != 0) {
        fprintf(stderr, "%s\n", CATALOG_USAGE);
        return 2;
    }
    struct his_db db;
    char err[2048];
    if (his_db_open(&cfg, &db, err, sizeof err) < 0) {
        fprintf(stderr, "his: %s\n", err);
        return 1;
    }
    PGconn *c = db_connect(db.conninfo, err, sizeof err);
    if (!c) {
        fprintf(stderr, "his: cannot connect to the database: %s\n", err);
        his_db_close(&db);
        return 1;
    }
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    const char *base = strrchr(pos[2], '/') ? strrchr(pos[2], '/') + 1 : pos[2];
    char source[100];
    snprintf(source, sizeof source, "%s", base);
    long ins = 0, upd = 0, inv = 0;
    rc = catalog_load_icd10(c, pos[2], source, bv[0], true, &ins, &upd, &inv, err, sizeof err);
    PQfinish(c);
    his_db_close(&db);
    if (rc < 0) {
        fprintf(stderr, "his: %s: %s\n", pos[2], err);
        return 1;
    }
    printf("icd10 loaded from %s: %ld new, %ld updated, %ld marked invalid\n", pos[2], ins, upd, inv);
    return 0;
}
