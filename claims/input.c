/* The claim-input JSON: one insured visit with everything the claim tables
 * need, in the project's own spelling (ISO dates, English keys). Fixtures
 * are written in it, and claims/source.c produces it from the database, so
 * both paths go through the same reader. Decimals are JSON strings (or
 * integers): a JSON real would have passed through binary floating point. */
#include "claims/claim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

void claim_issue_add(claim_issues_t *is, const char *ma_lk, const char *table, const char *field, const char *rule,
                     const char *fmt, ...)
{
    if (is->n == is->cap) {
        int cap = is->cap ? is->cap * 2 : 16;
        claim_issue_t *nv = realloc(is->v, (size_t)cap * sizeof *nv);
        if (!nv)
            return;
        is->v = nv;
        is->cap = cap;
    }
    claim_issue_t *x = &is->v[is->n++];
    snprintf(x->ma_lk, sizeof x->ma_lk, "%s", ma_lk ? ma_lk : "");
    snprintf(x->table, sizeof x->table, "%s", table);
    snprintf(x->field, sizeof x->field, "%s", field);
    snprintf(x->rule, sizeof x->rule, "%s", rule);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->message, sizeof x->message, fmt, ap);
    va_end(ap);
}

void claim_issues_free(claim_issues_t *is)
{
    free(is->v);
    is->v = NULL;
    is->n = is->cap = 0;
}

struct rd {
    arena_t *a;
    claim_issues_t *is;
    const char *ma_lk;
    bool ok;
};

static void bad(struct rd *r, const char *path, const char *msg)
{
    claim_issue_add(r->is, r->ma_lk, "INPUT", path, "input", "%s", msg);
    r->ok = false;
}

static const char *str(struct rd *r, json_t *o, const char *key, const char *path)
{
    json_t *x = json_object_get(o, key);
    if (!x || json_is_null(x))
        return NULL;
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        return *s ? s : NULL;
    }
    if (json_is_integer(x))
        return arena_printf(r->a, "%lld", (long long)json_integer_value(x));
    bad(r, arena_printf(r->a, "%s.%s", path, key), "expected a string");
    return NULL;
}

static int num(struct rd *r, json_t *o, const char *key, const char *path, int def)
{
    json_t *x = json_object_get(o, key);
    if (!x || json_is_null(x))
        return def;
    if (json_is_integer(x))
        return (int)json_integer_value(x);
    if (json_is_string(x)) {
        char *end;
        long v = strtol(json_string_value(x), &end, 10);
        if (*json_string_value(x) && !*end)
            return (int)v;
    }
    bad(r, arena_printf(r->a, "%s.%s", path, key), "expected an integer");
    return def;
}

static int64_t dec(struct rd *r, json_t *o, const char *key, const char *path, int scale, int digits, bool required)
{
    json_t *x = json_object_get(o, key);
    char buf[32];
    const char *s = NULL;
    if (!x || json_is_null(x)) {
        if (required)
            bad(r, arena_printf(r->a, "%s.%s", path, key), "required");
        return 0;
    }
    if (json_is_integer(x)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(x));
        s = buf;
    } else if (json_is_string(x)) {
        s = json_string_value(x);
    }
    int64_t v;
    if (!s || !claim_dec_parse(s, scale, digits, &v)) {
        bad(r, arena_printf(r->a, "%s.%s", path, key),
            arena_printf(r->a, "expected a decimal string with at most %d decimals", scale));
        return 0;
    }
    return v;
}

/* "2025-03-04" -> "20250304"; "2025-03-04T08:15[:ss...]" -> "202503040815". */
static const char *when(struct rd *r, json_t *o, const char *key, const char *path, bool with_time)
{
    const char *s = str(r, o, key, path);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    bool ok = n >= 10 && s[4] == '-' && s[7] == '-';
    if (ok && with_time)
        ok = n >= 16 && (s[10] == 'T' || s[10] == ' ') && s[13] == ':';
    for (int i = 0; ok && i < (with_time ? 16 : 10); i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && (s[i] < '0' || s[i] > '9'))
            ok = false;
    if (!ok) {
        bad(r, arena_printf(r->a, "%s.%s", path, key),
            with_time ? "expected YYYY-MM-DDTHH:MM" : "expected YYYY-MM-DD");
        return NULL;
    }
    if (with_time)
        return arena_printf(r->a, "%.4s%.2s%.2s%.2s%.2s", s, s + 5, s + 8, s + 11, s + 14);
    return arena_printf(r->a, "%.4s%.2s%.2s", s, s + 5, s + 8);
}

static int enum_of(struct rd *r, const char *s, const char *path, const char *const *names, int def)
{
    if (!s)
        return def;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    bad(r, path, arena_printf(r->a, "unknown value '%s'", s));
    return def;
}

static void read_line(struct rd *r, json_t *o, claim_line_t *l, claim_line_kind_t kind, const char *path)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->code = str(r, o, "code", path);
    l->service_code = str(r, o, "service_code", path);
    l->name = str(r, o, "name", path);
    l->unit = str(r, o, "unit", path);
    l->group = num(r, o, "group", path, kind == CLAIM_LINE_DRUG ? 4 : kind == CLAIM_LINE_SUPPLY ? 10 : 1);
    json_t *il = json_object_get(o, "in_list");
    l->in_list = !il || json_is_true(il);
    l->qty = dec(r, o, "quantity", path, 3, 7, true);
    l->price_bv = dec(r, o, "price", path, 3, 12, true);
    l->price_bh = json_object_get(o, "insurer_price") ? dec(r, o, "insurer_price", path, 3, 12, false) : l->price_bv;
    l->ratio_bh = num(r, o, "insurer_ratio", path, 100);
    l->ratio_dv = num(r, o, "service_ratio", path, 100);
    json_t *f = json_object_get(o, "other_funding");
    if (f) {
        const char *fp = arena_printf(r->a, "%s.other_funding", path);
        l->nk_nsnn = dec(r, f, "state_budget", fp, 2, 13, false);
        l->nk_vtnn = dec(r, f, "foreign_aid", fp, 2, 13, false);
        l->nk_vttn = dec(r, f, "domestic_aid", fp, 2, 13, false);
        l->nk_cl = dec(r, f, "other", fp, 2, 13, false);
    }
    l->ordered_at = when(r, o, "ordered_at", path, true);
    l->performed_at = when(r, o, "performed_at", path, true);
    l->result_at = when(r, o, "result_at", path, true);
    l->department = str(r, o, "department", path);
    l->doctor = str(r, o, "doctor", path);
    l->performer = str(r, o, "performer", path);
    l->icd10 = str(r, o, "icd10", path);
    l->strength = str(r, o, "strength", path);
    l->route_code = str(r, o, "route", path);
    l->form = str(r, o, "form", path);
    l->dosage = str(r, o, "dosage", path);
    l->usage = str(r, o, "usage", path);
    l->reg_no = str(r, o, "registration", path);
    l->tender = str(r, o, "tender", path);
    l->payment_method = num(r, o, "payment_method", path, 1);
    l->source = num(r, o, "funding_source", path, 1);
}

static json_t *arr(struct rd *r, json_t *in, const char *key)
{
    json_t *x = json_object_get(in, key);
    if (x && !json_is_array(x) && !json_is_null(x)) {
        bad(r, key, "expected an array");
        return NULL;
    }
    return json_is_array(x) ? x : NULL;
}

bool claim_visit_from_json(json_t *in, claim_visit_t *v, struct arena *a, claim_issues_t *issues)
{
    static const char *const levels[] = {"commune_station", "district_hospital", "provincial_hospital",
                                         "central_hospital", NULL};
    static const char *const kinds[] = {"outpatient", "inpatient", "emergency", NULL};
    static const char *const routes[] = {"correct_route", "referral", "emergency", "free_route", "wrong_route",
                                         NULL};
    static const char *const sexes[] = {"", "male", "female", "unknown", NULL};
    memset(v, 0, sizeof *v);
    struct rd r = {.a = a, .is = issues, .ok = true};
    if (!json_is_object(in)) {
        bad(&r, "", "expected an object");
        return false;
    }
    v->ma_lk = r.ma_lk = str(&r, in, "ma_lk", "");
    json_t *fac = json_object_get(in, "facility"), *pat = json_object_get(in, "patient"),
           *card = json_object_get(in, "card"), *vis = json_object_get(in, "visit");
    if (!json_is_object(fac) || !json_is_object(pat) || !json_is_object(card) || !json_is_object(vis)) {
        bad(&r, "", "facility, patient, card and visit objects are required");
        return false;
    }
    v->facility_code = str(&r, fac, "code", "facility");
    v->level = (claim_level_t)enum_of(&r, str(&r, fac, "level", "facility"), "facility.level", levels, 1);
    v->head_id = str(&r, fac, "head_id", "facility");

    v->patient_id = str(&r, pat, "id", "patient");
    v->full_name = str(&r, pat, "full_name", "patient");
    v->cccd = str(&r, pat, "cccd", "patient");
    const char *b = str(&r, pat, "birth_date", "patient");
    if (b && strlen(b) == 4)
        v->birth = arena_printf(a, "%s00000000", b); /* year only: month, day, time unknown */
    else if (b && strlen(b) == 10)
        v->birth = arena_printf(a, "%.4s%.2s%.2s0000", b, b + 5, b + 8);
    else if (b)
        bad(&r, "patient.birth_date", "expected YYYY-MM-DD or YYYY");
    v->sex = enum_of(&r, str(&r, pat, "sex", "patient"), "patient.sex", sexes, 3);
    if (v->sex == 0)
        v->sex = 3;
    v->nationality = str(&r, pat, "nationality", "patient");
    v->ethnicity = str(&r, pat, "ethnicity", "patient");
    v->occupation = str(&r, pat, "occupation", "patient");
    v->address = str(&r, pat, "address", "patient");
    v->province = str(&r, pat, "province_code", "patient");
    v->district = str(&r, pat, "district_code", "patient");
    v->commune = str(&r, pat, "commune_code", "patient");
    v->phone = str(&r, pat, "phone", "patient");

    v->card_number = str(&r, card, "number", "card");
    v->primary_facility = str(&r, card, "primary_facility", "card");
    v->card_from = when(&r, card, "valid_from", "card", false);
    v->card_to = when(&r, card, "valid_to", "card", false);
    v->five_years_from = when(&r, card, "five_years_from", "card", false);
    v->copay_exempt_from = when(&r, card, "copay_exempt_from", "card", false);
    v->area = str(&r, card, "area", "card");
    v->benefit_level = num(&r, card, "benefit_level", "card", 0);
    if (v->benefit_level == 0 && v->card_number && strlen(v->card_number) >= 3)
        v->benefit_level = v->card_number[2] - '0'; /* the card's third character */

    v->kind = (claim_kind_t)enum_of(&r, str(&r, vis, "kind", "visit"), "visit.kind", kinds, 0);
    v->route = (claim_route_t)enum_of(&r, str(&r, vis, "route", "visit"), "visit.route", routes, 0);
    v->received_at = when(&r, vis, "received_at", "visit", true);
    v->admitted_at = when(&r, vis, "admitted_at", "visit", true);
    v->discharged_at = when(&r, vis, "discharged_at", "visit", true);
    v->paid_at = when(&r, vis, "paid_at", "visit", true);
    v->reason = str(&r, vis, "reason", "visit");
    v->diagnosis_in = str(&r, vis, "diagnosis_in", "visit");
    v->diagnosis_out = str(&r, vis, "diagnosis_out", "visit");
    v->icd_main = str(&r, vis, "icd10_main", "visit");
    json_t *other = json_object_get(vis, "icd10_other");
    if (json_is_array(other) && json_array_size(other) > 0) {
        size_t i;
        json_t *c;
        char *s = arena_strdup(a, "");
        json_array_foreach(other, i, c) {
            if (json_is_string(c))
                s = arena_printf(a, "%s%s%s", s, i ? ";" : "", json_string_value(c));
        }
        v->icd_other = s;
    }
    v->treatment_method = str(&r, vis, "treatment_method", "visit");
    v->advice = str(&r, vis, "advice", "visit");
    v->outcome = num(&r, vis, "outcome", "visit", 0);
    v->discharge_type = num(&r, vis, "discharge_type", "visit", 0);
    v->department = str(&r, vis, "department", "visit");
    v->weight = str(&r, vis, "weight_kg", "visit");
    v->record_no = str(&r, vis, "record_no", "visit");
    v->referral_from = str(&r, vis, "referral_from", "visit");
    v->referral_paper = str(&r, vis, "referral_paper", "visit");
    v->referral_to = str(&r, vis, "referral_to", "visit");
    const char *settle = str(&r, vis, "settlement", "visit");
    if (settle && strlen(settle) == 7 && settle[4] == '-') {
        v->settle_year = atoi(settle);
        v->settle_month = atoi(settle + 5);
    } else if (settle) {
        bad(&r, "visit.settlement", "expected YYYY-MM");
    } else if (v->discharged_at) {
        v->settle_year = (v->discharged_at[0] - '0') * 1000 + (v->discharged_at[1] - '0') * 100 +
                         (v->discharged_at[2] - '0') * 10 + (v->discharged_at[3] - '0');
        v->settle_month = (v->discharged_at[4] - '0') * 10 + (v->discharged_at[5] - '0');
    }

    json_t *drugs = arr(&r, in, "drugs"), *services = arr(&r, in, "services"), *supplies = arr(&r, in, "supplies");
    int n = (int)(json_array_size(drugs) + json_array_size(services) + json_array_size(supplies));
    v->lines = arena_calloc(a, (size_t)(n ? n : 1), sizeof *v->lines);
    size_t i;
    json_t *o;
    json_array_foreach(drugs, i, o) read_line(&r, o, &v->lines[v->nlines++], CLAIM_LINE_DRUG,
                                              arena_printf(a, "drugs[%zu]", i));
    json_array_foreach(services, i, o) read_line(&r, o, &v->lines[v->nlines++], CLAIM_LINE_SERVICE,
                                                 arena_printf(a, "services[%zu]", i));
    json_array_foreach(supplies, i, o) read_line(&r, o, &v->lines[v->nlines++], CLAIM_LINE_SUPPLY,
                                                 arena_printf(a, "supplies[%zu]", i));

    json_t *results = arr(&r, in, "results");
    v->results = arena_calloc(a, json_array_size(results) + 1, sizeof *v->results);
    json_array_foreach(results, i, o) {
        const char *p = arena_printf(a, "results[%zu]", i);
        claim_result_t *x = &v->results[v->nresults++];
        x->service_code = str(&r, o, "service_code", p);
        x->indicator_code = str(&r, o, "indicator_code", p);
        x->indicator_name = str(&r, o, "indicator_name", p);
        x->value = str(&r, o, "value", p);
        x->unit = str(&r, o, "unit", p);
        x->description = str(&r, o, "description", p);
        x->conclusion = str(&r, o, "conclusion", p);
        x->result_at = when(&r, o, "result_at", p, true);
        x->reader = str(&r, o, "reader", p);
    }
    json_t *prog = arr(&r, in, "progress");
    v->progress = arena_calloc(a, json_array_size(prog) + 1, sizeof *v->progress);
    json_array_foreach(prog, i, o) {
        const char *p = arena_printf(a, "progress[%zu]", i);
        claim_progress_t *x = &v->progress[v->nprogress++];
        x->text = str(&r, o, "text", p);
        x->stage = str(&r, o, "stage", p);
        x->consultation = str(&r, o, "consultation", p);
        x->surgery = str(&r, o, "surgery", p);
        x->at = when(&r, o, "at", p, true);
        x->author = str(&r, o, "author", p);
    }
    json_t *ref = json_object_get(in, "referral");
    if (json_is_object(ref)) {
        claim_referral_t *x = v->referral = arena_calloc(a, 1, sizeof *x);
        x->record_no = str(&r, ref, "record_no", "referral");
        x->book_no = str(&r, ref, "book_no", "referral");
        x->paper_no = str(&r, ref, "paper_no", "referral");
        x->signs = str(&r, ref, "clinical_signs", "referral");
        x->history = str(&r, ref, "history", "referral");
        x->results_summary = str(&r, ref, "results_summary", "referral");
        x->treatment = str(&r, ref, "treatment", "referral");
        x->plan = str(&r, ref, "plan", "referral");
        x->transport = str(&r, ref, "transport", "referral");
        x->escort_name = str(&r, ref, "escort_name", "referral");
        x->escort_title = str(&r, ref, "escort_title", "referral");
        x->doctor = str(&r, ref, "doctor", "referral");
        x->reason = num(&r, ref, "reason", "referral", 0);
    }
    return r.ok;
}
