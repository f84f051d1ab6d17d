/* ack.c -- build the acknowledgement of a received message. */
#include "hl7/hl7_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *table0357_text(int code);
static int copy_field(hl7_msg *a, const char *to, const hl7_msg *orig,
                      const char *from, hl7_error *err);
static int add_err(hl7_msg *a, int occ, const hl7_error *e, hl7_error *err);
static const char *choose_code(const hl7_msg *orig, const hl7_ack_opts *o,
                               const hl7_error *errs, size_t nerrs);

static const char *table0357_text(int code)
{
    switch (code) {
    case 0: return "Message accepted";
    case 100: return "Segment sequence error";
    case 101: return "Required field missing";
    case 102: return "Data type error";
    case 103: return "Table value not found";
    case 200: return "Unsupported message type";
    case 201: return "Unsupported event code";
    case 202: return "Unsupported processing id";
    case 203: return "Unsupported version id";
    case 204: return "Unknown key identifier";
    case 205: return "Duplicate key identifier";
    case 206: return "Application record locked";
    default: return "Application internal error";
    }
}

/* Raw copy: both messages share the separators, so the encoded text of
 * the original is valid as it is in the ACK. */
static int copy_field(hl7_msg *a, const char *to, const hl7_msg *orig,
                      const char *from, hl7_error *err)
{
    hl7_str s;
    if (hl7_get_raw(orig, from, &s) < 0 || s.len == 0)
        return 0;
    char buf[1024];
    if (s.len >= sizeof(buf))
        s.len = sizeof(buf) - 1;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    return hl7_set_raw(a, to, buf, err);
}

/* AA unless an error of severity E was given; the enhanced mode codes
 * (CA/CE/CR) when the sender asked for accept/application ACKs in
 * MSH-15/MSH-16. */
static const char *choose_code(const hl7_msg *orig, const hl7_ack_opts *o,
                               const hl7_error *errs, size_t nerrs)
{
    const char *code = o ? o->code : NULL;
    if (!code) {
        code = "AA";
        for (size_t i = 0; i < nerrs; i++)
            if (errs[i].severity != 'W' && errs[i].severity != 'I')
                code = "AE";
    }
    hl7_str s15, s16;
    int enhanced = (hl7_get_raw(orig, "MSH-15", &s15) == 0 && s15.len) ||
                   (hl7_get_raw(orig, "MSH-16", &s16) == 0 && s16.len);
    if (!enhanced || code[0] != 'A')
        return code;
    if (strcmp(code, "AA") == 0) return "CA";
    if (strcmp(code, "AE") == 0) return "CE";
    if (strcmp(code, "AR") == 0) return "CR";
    return code;
}

/* ERR|<ERR-1 empty>|SEG^seq^field^rep^comp^sub|code^text^HL70357|E|...|msg */
static int add_err(hl7_msg *a, int occ, const hl7_error *e, hl7_error *err)
{
    char path[32], v[64];
    int rc;
    snprintf(path, sizeof(path), "ERR[%d]-4", occ);
    char sev[2] = { e->severity ? e->severity : 'E', '\0' };
    if ((rc = hl7_set(a, path, sev, err)) < 0)
        return rc;
    if (e->segment[0]) {
        int parts[5] = { e->seg_seq ? e->seg_seq : 1, e->field,
                         e->field ? (e->rep ? e->rep : 1) : 0, e->component,
                         e->subcomponent };
        const char *names[5] = { "2", "3", "4", "5", "6" };
        snprintf(path, sizeof(path), "ERR[%d]-2-1", occ);
        if ((rc = hl7_set(a, path, e->segment, err)) < 0)
            return rc;
        for (int i = 0; i < 5; i++) {
            if (!parts[i])
                continue;
            snprintf(path, sizeof(path), "ERR[%d]-2-%s", occ, names[i]);
            snprintf(v, sizeof(v), "%d", parts[i]);
            if ((rc = hl7_set(a, path, v, err)) < 0)
                return rc;
        }
    }
    int code = e->hl7_code ? e->hl7_code : 207;
    snprintf(path, sizeof(path), "ERR[%d]-3-1", occ);
    snprintf(v, sizeof(v), "%d", code);
    if ((rc = hl7_set(a, path, v, err)) < 0)
        return rc;
    snprintf(path, sizeof(path), "ERR[%d]-3-2", occ);
    if ((rc = hl7_set(a, path, table0357_text(code), err)) < 0)
        return rc;
    snprintf(path, sizeof(path), "ERR[%d]-3-3", occ);
    if ((rc = hl7_set(a, path, "HL70357", err)) < 0)
        return rc;
    if (e->message[0]) {
        snprintf(path, sizeof(path), "ERR[%d]-8", occ);
        /* the message is ASCII/UTF-8; in an 8859/1 ACK drop what cannot
         * be carried rather than fail the whole ACK */
        if ((rc = hl7_set(a, path, e->message, err)) == HL7_ECHARSET)
            rc = 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int hl7_ack(const hl7_msg *orig, const hl7_ack_opts *o,
            const hl7_error *errs, size_t nerrs, hl7_msg **out,
            hl7_error *err)
{
    *out = NULL;
    const char *code = choose_code(orig, o, errs, nerrs);
    static const char *const codes[] = { "AA", "AE", "AR", "CA", "CE", "CR" };
    int known = 0;
    for (size_t i = 0; i < 6; i++)
        known |= strcmp(code, codes[i]) == 0;
    if (!known)
        return hl7__fail(err, HL7_EINVAL, "acknowledgment code \"%s\" is not "
                         "AA, AE, AR, CA, CE or CR", code);
    hl7_msg *a;
    int rc = hl7_msg_create(orig->sep, &a);
    if (rc < 0)
        return hl7__fail(err, rc, "cannot create the ACK");

    char ts[32], ctl[256], type[64];
    if (o && o->timestamp) {
        snprintf(ts, sizeof(ts), "%s", o->timestamp);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y%m%d%H%M%S%z", &tm);
    }
    hl7_str ctl_in = { "", 0 }, ev = { "", 0 };
    hl7_get_raw(orig, "MSH-10", &ctl_in);
    hl7_get_raw(orig, "MSH-9-2", &ev);
    if (o && o->control_id)
        snprintf(ctl, sizeof(ctl), "%s", o->control_id);
    else
        snprintf(ctl, sizeof(ctl), "A%.*s",
                 (int)(ctl_in.len > 198 ? 198 : ctl_in.len), ctl_in.ptr);
    if (ev.len && ev.len < 16)
        snprintf(type, sizeof(type), "ACK%c%.*s%cACK", orig->cs, (int)ev.len,
                 ev.ptr, orig->cs);
    else
        snprintf(type, sizeof(type), "ACK");

    if ((rc = copy_field(a, "MSH-3", orig, "MSH-5", err)) < 0 ||
        (rc = copy_field(a, "MSH-4", orig, "MSH-6", err)) < 0 ||
        (rc = copy_field(a, "MSH-5", orig, "MSH-3", err)) < 0 ||
        (rc = copy_field(a, "MSH-6", orig, "MSH-4", err)) < 0 ||
        (rc = hl7_set(a, "MSH-7", ts, err)) < 0 ||
        (rc = hl7_set_raw(a, "MSH-9", type, err)) < 0 ||
        (rc = hl7_set(a, "MSH-10", ctl, err)) < 0)
        goto fail;
    if (hl7_get_raw(orig, "MSH-11", &ev) == 0 && ev.len)
        rc = copy_field(a, "MSH-11", orig, "MSH-11", err);
    else
        rc = hl7_set(a, "MSH-11", "P", err);
    if (rc < 0)
        goto fail;
    if (hl7_get_raw(orig, "MSH-12", &ev) == 0 && ev.len)
        rc = copy_field(a, "MSH-12", orig, "MSH-12", err);
    else
        rc = hl7_set(a, "MSH-12", "2.5", err);
    if (rc < 0 || (rc = copy_field(a, "MSH-18", orig, "MSH-18", err)) < 0)
        goto fail;
    if ((rc = hl7_set(a, "MSA-1", code, err)) < 0)
        goto fail;
    if (ctl_in.len) {
        char c[256];
        snprintf(c, sizeof(c), "%.*s",
                 (int)(ctl_in.len > 255 ? 255 : ctl_in.len), ctl_in.ptr);
        if ((rc = hl7_set_raw(a, "MSA-2", c, err)) < 0)
            goto fail;
    }
    if (o && o->text && (rc = hl7_set(a, "MSA-3", o->text, err)) < 0)
        goto fail;
    for (size_t i = 0; i < nerrs; i++)
        if ((rc = add_err(a, (int)i + 1, &errs[i], err)) < 0)
            goto fail;
    *out = a;
    return 0;
fail:
    hl7_msg_free(a);
    return rc;
}
