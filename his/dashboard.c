/* dashboard: the provincial health department's charts (issue 8 point 3),
 * GET /api/v1/dashboard/CHART?from=YYYY-MM-DD&to=YYYY-MM-DD&district=CODE
 * [&format=csv]. Every chart reads the rollup tables of
 * schema/010_dashboard.sql, which triggers keep current as rows are written
 * here or replicated from the districts, so no chart scans the visits.
 * Row-level security on the rollups limits a reader to the province of
 * their facility (roles health_department and admin).
 *
 * A district is a district hospital's code: facility-based charts keep its
 * facilities (itself and those whose parent it is), commune-based charts
 * (notifiable diseases, record coverage) its communes. See
 * docs/dashboard.md. The numbers are aggregates (no patient appears), so
 * reads are not written to the audit log. */
#include "his/modules.h"
#include "core/handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DASH_ROLES (ROLE_HEALTH_DEPARTMENT | ROLE_ADMIN)
#define DASH_MAX_DAYS 731      /* two years: the longest period a chart accepts */
#define DASH_DEFAULT_DAYS 30   /* without from: the last 30 days up to `to` */
#define DASH_TOP_DEFAULT 10
#define DASH_TOP_MAX 50

/* PostgreSQL type oids of the columns the charts return. */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

/* Facility and commune filters; $3 is the district code or NULL. */
#define IN_DISTRICT(col) "($3::text IS NULL OR " col " IN (SELECT dash.district_facilities($3::text)))"
#define IN_COMMUNES(col) "($3::text IS NULL OR " col " IN (SELECT dash.district_communes_of($3::text)))"
/* A commune's current name, if the catalogue has it. */
#define COMMUNE_NAME(col)                                                                                       \
    "(SELECT a.name FROM catalog.admin_units a WHERE a.code = " col " AND a.level = 'commune' "                 \
    "ORDER BY a.valid_to DESC NULLS FIRST LIMIT 1)"

static const char SQL_VISITS_LEVEL[] =
    "SELECT to_char(v.day, 'YYYY-MM-DD') AS day, f.level, sum(v.visits)::bigint AS visits "
    "FROM dash.visits_daily_now v JOIN core.facilities f ON f.id = v.facility_id "
    "WHERE v.day BETWEEN $1::date AND $2::date AND " IN_DISTRICT("v.facility_id") " "
    "GROUP BY v.day, f.level HAVING sum(v.visits) <> 0 ORDER BY v.day, f.level";

static const char SQL_VISITS_FACILITY[] =
    "SELECT to_char(v.day, 'YYYY-MM-DD') AS day, f.code AS facility_code, f.name AS facility_name, f.level, "
    "sum(v.visits)::bigint AS visits "
    "FROM dash.visits_daily_now v JOIN core.facilities f ON f.id = v.facility_id "
    "WHERE v.day BETWEEN $1::date AND $2::date AND " IN_DISTRICT("v.facility_id") " "
    "GROUP BY v.day, f.code, f.name, f.level HAVING sum(v.visits) <> 0 ORDER BY v.day, f.code";

/* Whole months of the period from the monthly rollup, the partial months at
 * either end from the daily one: ms is the first whole month's first day,
 * me the day after the last whole month. */
#define TOP_MS "(date_trunc('month', $1::date - 1) + interval '1 month')::date"
#define TOP_ME "date_trunc('month', $2::date + 1)::date"
static const char SQL_TOP_DIAGNOSES[] =
    "WITH x AS ("
    " SELECT m.icd10, m.cases FROM dash.diagnoses_monthly m"
    " WHERE m.month >= " TOP_MS " AND m.month < " TOP_ME " AND " IN_DISTRICT("m.facility_id")
    " UNION ALL"
    " SELECT d.icd10, d.cases FROM dash.diagnoses_daily d"
    " WHERE d.day >= $1::date AND d.day < least(" TOP_MS ", $2::date + 1) AND " IN_DISTRICT("d.facility_id")
    " UNION ALL"
    " SELECT d.icd10, d.cases FROM dash.diagnoses_daily d"
    " WHERE d.day >= greatest(" TOP_ME ", " TOP_MS ", $1::date) AND d.day <= $2::date"
    "   AND " IN_DISTRICT("d.facility_id") "), "
    "s AS (SELECT icd10, sum(cases)::bigint AS cases FROM x GROUP BY icd10 HAVING sum(cases) <> 0) "
    "SELECT row_number() OVER (ORDER BY s.cases DESC, s.icd10)::int AS rank, s.icd10, i.name_vi, i.name_en, s.cases "
    "FROM s LEFT JOIN catalog.icd10 i ON i.code = s.icd10 "
    "ORDER BY s.cases DESC, s.icd10 LIMIT $4::int";

/* Aggregated first, names and code lists joined once per commune and
 * disease afterwards: a year of a province is ~100,000 rows, and per-row
 * subqueries made this chart take over a second. */
static const char SQL_NOTIFIABLE[] =
    "WITH s AS ("
    " SELECT w.week, w.commune_code, w.disease, sum(w.cases)::bigint AS cases"
    " FROM dash.notifiable_weekly w"
    " WHERE w.week >= date_trunc('week', $1::date)::date AND w.week <= $2::date"
    " AND " IN_COMMUNES("w.commune_code")
    " GROUP BY w.week, w.commune_code, w.disease HAVING sum(w.cases) <> 0), "
    "n AS (SELECT c.commune_code, " COMMUNE_NAME("c.commune_code") " AS commune_name"
    " FROM (SELECT DISTINCT commune_code FROM s) c), "
    "k AS (SELECT disease, string_agg(code, ' ' ORDER BY code) AS icd10 FROM dash.notifiable_codes GROUP BY disease) "
    "SELECT to_char(s.week, 'IYYY-\"W\"IW') AS week, to_char(s.week, 'YYYY-MM-DD') AS week_start, "
    "s.commune_code, n.commune_name, s.disease, k.icd10, d.name_vi, d.name_en, s.cases, "
    "coalesce(t.weekly_threshold, d.weekly_threshold) AS threshold, "
    "s.cases >= coalesce(t.weekly_threshold, d.weekly_threshold) AS alert "
    "FROM s JOIN dash.notifiable_diseases d ON d.disease = s.disease "
    "JOIN n ON n.commune_code = s.commune_code "
    "LEFT JOIN k ON k.disease = s.disease "
    "LEFT JOIN dash.notifiable_thresholds t ON t.disease = s.disease AND t.commune_code = s.commune_code "
    "ORDER BY s.week, s.commune_code, d.sort";

/* Coverage is a state, not a flow: the period does not apply. */
static const char SQL_COVERAGE[] =
    "SELECT r.commune_code, " COMMUNE_NAME("r.commune_code") " AS commune_name, "
    "sum(r.records)::bigint AS records, sum(r.people)::bigint AS people, "
    "round(100.0 * sum(r.records) / nullif(sum(r.people), 0), 1) AS coverage_percent "
    "FROM dash.record_coverage r WHERE $1::date <= $2::date AND " IN_COMMUNES("r.commune_code") " "
    "GROUP BY r.commune_code HAVING sum(r.people) <> 0 OR sum(r.records) <> 0 ORDER BY r.commune_code";

static const char SQL_PRESCRIPTIONS[] =
    "SELECT to_char(p.day, 'YYYY-MM-DD') AS day, sum(p.issued)::bigint AS issued, "
    "sum(p.cancelled)::bigint AS cancelled, sum(p.dispensings)::bigint AS dispensings, "
    "sum(p.portal_queued)::bigint AS portal_queued, sum(p.portal_sent)::bigint AS portal_sent, "
    "sum(p.portal_acknowledged)::bigint AS portal_acknowledged, sum(p.portal_error)::bigint AS portal_error "
    "FROM dash.prescriptions_daily p "
    "WHERE p.day BETWEEN $1::date AND $2::date AND " IN_DISTRICT("p.facility_id") " "
    "GROUP BY p.day HAVING sum(p.issued) <> 0 OR sum(p.cancelled) <> 0 OR sum(p.dispensings) <> 0 "
    "OR sum(p.portal_queued) <> 0 OR sum(p.portal_sent) <> 0 OR sum(p.portal_acknowledged) <> 0 "
    "OR sum(p.portal_error) <> 0 ORDER BY p.day";

/* Months that overlap the period. */
static const char SQL_CLAIMS[] =
    "SELECT to_char(c.month, 'YYYY-MM') AS month, sum(c.claims)::bigint AS claims, sum(c.ready)::bigint AS ready, "
    "sum(c.invalid)::bigint AS invalid, sum(c.sent)::bigint AS sent, sum(c.accepted)::bigint AS accepted, "
    "sum(c.rejected)::bigint AS rejected, "
    "round(sum(c.rejected)::numeric / nullif(sum(c.accepted) + sum(c.rejected), 0), 4) AS rejection_rate, "
    "sum(c.insurer_amount) AS insurer_amount, sum(c.patient_amount) AS patient_amount, "
    "sum(c.other_amount) AS other_amount "
    "FROM dash.claims_monthly c "
    "WHERE c.month >= date_trunc('month', $1::date)::date AND c.month <= $2::date "
    "AND " IN_DISTRICT("c.facility_id") " "
    "GROUP BY c.month HAVING sum(c.claims) <> 0 ORDER BY c.month";

/* Flows out of, or into, the district. */
static const char SQL_REFERRALS[] =
    "SELECT ff.code AS from_facility, ff.name AS from_name, ff.level AS from_level, r.to_facility::text AS to_facility, "
    "tf.name AS to_name, tf.level AS to_level, sum(r.referrals)::bigint AS referrals "
    "FROM dash.referrals_daily r JOIN core.facilities ff ON ff.id = r.facility_id "
    "LEFT JOIN core.facilities tf ON tf.code = r.to_facility "
    "WHERE r.day BETWEEN $1::date AND $2::date AND ($3::text IS NULL "
    "  OR r.facility_id IN (SELECT dash.district_facilities($3::text)) "
    "  OR r.to_facility IN (SELECT f.code FROM core.facilities f WHERE f.id IN "
    "                       (SELECT dash.district_facilities($3::text)))) "
    "GROUP BY ff.code, ff.name, ff.level, r.to_facility, tf.name, tf.level HAVING sum(r.referrals) <> 0 "
    "ORDER BY sum(r.referrals) DESC, ff.code, r.to_facility";

/* ---- parameters ---------------------------------------------------------- */

struct dash_params {
    const char *from, *to, *district; /* district NULL: the whole province */
    bool csv;
};

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static long dash_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* A calendar date written YYYY-MM-DD (years 2000-2100) into *days. */
static bool dash_parse_date(const char *s, long *days)
{
    int y, m, d, n = 0;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10 || s[4] != '-' ||
        s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 2000 || y > 2100 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
        return false;
    *days = dash_days_from_civil(y, m, d);
    return true;
}

/* YYYY-MM-DD of a day number, in the arena. */
static const char *dash_date_text(arena_t *a, long days)
{
    time_t t = (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    return arena_printf(a, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Today in Vietnam (UTC+7, no daylight saving). */
static long dash_today(void)
{
    return (long)((time(NULL) + 7 * 3600) / 86400);
}

/* Reads from/to/district/format; on a bad value replies 422 naming the
 * parameter(s) and returns false. The district must be a district hospital
 * of the reader's province. */
static bool dash_read_params(http_req_t *req, db_tx_t *tx, struct dash_params *p)
{
    verr_t v;
    verr_init(&v);
    const char *from = http_query(req, "from"), *to = http_query(req, "to");
    const char *district = http_query(req, "district"), *format = http_query(req, "format");
    long dfrom = 0, dto = dash_today();
    bool from_ok = true, to_ok = true;
    if (to && *to && !(to_ok = dash_parse_date(to, &dto)))
        verr_add(&v, "to", http_t(req, "Ngày không hợp lệ (YYYY-MM-DD)", "not a valid date (YYYY-MM-DD)"));
    if (from && *from) {
        if (!(from_ok = dash_parse_date(from, &dfrom)))
            verr_add(&v, "from", http_t(req, "Ngày không hợp lệ (YYYY-MM-DD)", "not a valid date (YYYY-MM-DD)"));
    } else {
        dfrom = dto - (DASH_DEFAULT_DAYS - 1);
    }
    if (from_ok && to_ok && dfrom > dto)
        verr_add(&v, "from", http_t(req, "Ngày bắt đầu sau ngày kết thúc", "from is after to"));
    else if (from_ok && to_ok && dto - dfrom + 1 > DASH_MAX_DAYS)
        verr_add(&v, "to", http_t(req, "Khoảng thời gian dài quá 731 ngày", "the period is longer than 731 days"));
    p->csv = false;
    if (format && *format) {
        if (!strcmp(format, "csv"))
            p->csv = true;
        else if (strcmp(format, "json") != 0)
            verr_add(&v, "format", http_t(req, "Định dạng là json hoặc csv", "format is json or csv"));
    }
    p->district = NULL;
    if (district && *district) {
        PGresult *r = NULL;
        if (strlen(district) == 5)
            r = db_q(tx,
                     "SELECT 1 FROM core.facilities WHERE code = $1 AND level = 'district_hospital' "
                     "AND province_code = (SELECT dash.my_province())",
                     district);
        if (strlen(district) == 5 && !r) {
            verr_free(&v);
            req_tx_fail(req, tx);
            return false;
        }
        if (!r || PQntuples(r) == 0)
            verr_add(&v, "district",
                     http_t(req, "Không phải mã trung tâm y tế huyện/khu vực của tỉnh",
                            "not the code of a district hospital of the province"));
        else
            p->district = district;
    }
    if (verr_any(&v)) {
        db_tx_rollback(tx);
        verr_reply(req, &v);
        return false;
    }
    verr_free(&v);
    p->from = dash_date_text(req->arena, dfrom);
    p->to = dash_date_text(req->arena, dto);
    return true;
}

/* ---- replies --------------------------------------------------------------- */

/* A growing buffer in the arena. */
struct dash_buf {
    arena_t *a;
    char *p;
    size_t len, cap;
};

static void dash_put(struct dash_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = arena_alloc(b->a, cap);
        if (b->len)
            memcpy(q, b->p, b->len);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One CSV field (RFC 4180): quoted when it holds a comma, quote or line
 * break; text that a spreadsheet would take for a formula gets a leading
 * apostrophe. */
static void dash_csv_field(struct dash_buf *b, const char *s, bool text)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        dash_put(b, "\"", 1);
    if (text && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@'))
        dash_put(b, "'", 1);
    for (const char *c = s; *c; c++) {
        dash_put(b, c, 1);
        if (*c == '"')
            dash_put(b, "\"", 1); /* doubled inside quotes */
    }
    if (quote)
        dash_put(b, "\"", 1);
}

static void dash_reply_csv(http_req_t *req, const char *chart, const struct dash_params *p, PGresult *r)
{
    struct dash_buf b = {.a = req->arena};
    int nf = PQnfields(r);
    /* A byte-order mark so that spreadsheets read the Vietnamese as UTF-8. */
    dash_put(&b, "\xEF\xBB\xBF", 3);
    for (int c = 0; c < nf; c++) {
        if (c)
            dash_put(&b, ",", 1);
        dash_csv_field(&b, PQfname(r, c), false);
    }
    dash_put(&b, "\r\n", 2);
    for (int i = 0; i < PQntuples(r); i++) {
        for (int c = 0; c < nf; c++) {
            if (c)
                dash_put(&b, ",", 1);
            if (PQgetisnull(r, i, c))
                continue;
            Oid t = PQftype(r, c);
            const char *s = PQgetvalue(r, i, c);
            if (t == OID_BOOL)
                s = s[0] == 't' ? "true" : "false";
            bool text = t != OID_INT2 && t != OID_INT4 && t != OID_INT8 && t != OID_NUMERIC && t != OID_FLOAT8 &&
                        t != OID_BOOL;
            dash_csv_field(&b, s, text);
        }
        dash_put(&b, "\r\n", 2);
    }
    http_add_header(req, "Content-Disposition",
                    arena_printf(req->arena, "attachment; filename=\"%s_%s_%s%s%s.csv\"", chart, p->from, p->to,
                                 p->district ? "_" : "", p->district ? p->district : ""));
    http_reply_raw(req, 200, "text/csv; charset=utf-8", b.p, b.len);
}

/* ---- the charts ------------------------------------------------------------ */

/* Runs one chart's query with $1 from, $2 to, $3 district and an optional
 * $4, and replies in the requested format. */
static void dash_chart(http_req_t *req, const char *chart, const char *sql, const char *extra_name,
                       long long extra_default, long long extra_min, long long extra_max)
{
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    struct dash_params p;
    if (!dash_read_params(req, &tx, &p))
        return;
    const char *extra = NULL;
    if (extra_name) {
        const char *s = http_query(req, extra_name);
        long long x = extra_default;
        char *end = NULL;
        if (s && *s) {
            x = strtoll(s, &end, 10);
            if (*end || x < extra_min || x > extra_max) {
                db_tx_rollback(&tx);
                http_problem_field(req, 422, extra_name,
                                   arena_printf(req->arena, "%s %lld–%lld",
                                                http_t(req, "Số nguyên trong khoảng", "an integer within"),
                                                extra_min, extra_max));
                return;
            }
        }
        extra = req_ll(req, x);
    }
    /* JSON is built by the database (exact numerics, rows in order); CSV
     * from the rows themselves. Both texts are made of this file's
     * constants only. */
    if (!p.csv)
        sql = arena_printf(req->arena,
                           "SELECT json_build_object('chart', '%s'::text, 'from', $1::text, 'to', $2::text, "
                           "'district', $3::text, 'rows', coalesce(json_agg(t), '[]'::json))::text FROM (%s) t",
                           chart, sql);
    PGresult *r = extra ? db_q(&tx, sql, p.from, p.to, p.district, extra) : db_q(&tx, sql, p.from, p.to, p.district);
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (req_tx_commit(req, &tx) < 0)
        return;
    req->log_note = chart;
    if (p.csv) {
        dash_reply_csv(req, chart, &p, r);
    } else {
        const char *body = PQgetvalue(r, 0, 0);
        http_reply_raw(req, 200, "application/json; charset=utf-8", body, strlen(body));
    }
}

static void handle_visits_per_day(http_req_t *req)
{
    const char *by = http_query(req, "by");
    if (by && *by && strcmp(by, "level") != 0 && strcmp(by, "facility") != 0) {
        http_problem_field(req, 422, "by", http_t(req, "Nhóm theo level hoặc facility", "by is level or facility"));
        return;
    }
    bool facility = by && !strcmp(by, "facility");
    dash_chart(req, "visits-per-day", facility ? SQL_VISITS_FACILITY : SQL_VISITS_LEVEL, NULL, 0, 0, 0);
}

static void handle_top_diagnoses(http_req_t *req)
{
    dash_chart(req, "top-diagnoses", SQL_TOP_DIAGNOSES, "limit", DASH_TOP_DEFAULT, 1, DASH_TOP_MAX);
}

static void handle_notifiable(http_req_t *req)
{
    dash_chart(req, "notifiable-diseases", SQL_NOTIFIABLE, NULL, 0, 0, 0);
}

static void handle_coverage(http_req_t *req)
{
    dash_chart(req, "record-coverage", SQL_COVERAGE, NULL, 0, 0, 0);
}

static void handle_prescriptions(http_req_t *req)
{
    dash_chart(req, "prescriptions", SQL_PRESCRIPTIONS, NULL, 0, 0, 0);
}

static void handle_claims(http_req_t *req)
{
    dash_chart(req, "claims", SQL_CLAIMS, NULL, 0, 0, 0);
}

static void handle_referrals(http_req_t *req)
{
    dash_chart(req, "referrals", SQL_REFERRALS, NULL, 0, 0, 0);
}

/* The notifiable list with thresholds and the districts of the province,
 * for the screen's legend and filter. */
static void handle_meta(http_req_t *req)
{
    db_tx_t tx;
    if (req_tx_begin(req, &tx) < 0)
        return;
    PGresult *r = db_q(&tx,
                       "SELECT json_build_object("
                       " 'diseases', (SELECT coalesce(json_agg(json_build_object('disease', d.disease, "
                       "   'group', d.law_group, 'name_vi', d.name_vi, 'name_en', d.name_en, 'report', d.report, "
                       "   'weekly_threshold', d.weekly_threshold, 'icd10', (SELECT json_agg(c.code ORDER BY c.code) "
                       "   FROM dash.notifiable_codes c WHERE c.disease = d.disease)) ORDER BY d.sort), '[]') "
                       "   FROM dash.notifiable_diseases d),"
                       " 'districts', (SELECT coalesce(json_agg(json_build_object('code', f.code, 'name', f.name) "
                       "   ORDER BY f.code), '[]') FROM core.facilities f WHERE f.level = 'district_hospital' "
                       "   AND f.province_code = (SELECT dash.my_province())),"
                       " 'province', (SELECT dash.my_province()),"
                       " 'max_days', $1::int)::text",
                       req_ll(req, DASH_MAX_DAYS));
    if (!r) {
        req_tx_fail(req, &tx);
        return;
    }
    if (req_tx_commit(req, &tx) < 0)
        return;
    const char *body = PQgetvalue(r, 0, 0);
    http_reply_raw(req, 200, "application/json; charset=utf-8", body, strlen(body));
}

void dashboard_register_routes(void)
{
    http_route("GET", "/api/v1/dashboard", handle_meta, DASH_ROLES, 0);
    http_route("GET", "/api/v1/dashboard/visits-per-day", handle_visits_per_day, DASH_ROLES, 0);
    http_route("GET", "/api/v1/dashboard/top-diagnoses", handle_top_diagnoses, DASH_ROLES, 0);
    http_route("GET", "/api/v1/dashboard/notifiable-diseases", handle_notifiable, DASH_ROLES, 0);
    http_route("GET", "/api/v1/dashboard/record-coverage", handle_coverage, DASH_ROLES, 0);
    http_route("GET", "/api/v1/dashboard/prescriptions", handle_prescriptions, DASH_ROLES, 0);
    http_route("GET", "/api/v1/dashboard/claims", handle_claims, DASH_ROLES, 0);
    http_route("GET", "/api/v1/dashboard/referrals", handle_referrals, DASH_ROLES, 0);
}
