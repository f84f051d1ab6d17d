/* types.c -- v2.5 data types of the fields and components this library
 * knows, for the validator and for the XML element names (<CX.1>). Fields
 * not listed here use the generic names (<PID.3.1>). */
#include "hl7/hl7_int.h"

#include <string.h>

typedef struct type_row {
    const char *name;   /* segment id or composite type */
    const char *types;  /* types of fields/components 1..n, space separated */
} type_row;

static const char *nth_type(const type_row *rows, size_t nrows,
                            const char *name, int n);

static const type_row seg_types[] = {
    { "MSH", "ST ST HD HD HD HD TS ST MSG ST PT VID NM ST ID ID ID ID CE ID "
             "EI" },
    { "EVN", "ID TS TS IS XCN TS HD" },
    { "PID", "SI CX CX CX XPN XPN TS IS XPN CE XAD IS XTN XTN CE CE CE CX ST "
             "DLN CX CE ST ID NM CE CE CE TS ID ID IS CE ST HD CE CE ST CE "
             "CE" },
    { "PV1", "SI IS PL IS CX PL XCN XCN XCN IS PL IS IS IS IS IS XCN IS CX "
             "FC IS IS IS IS DT NM NM IS IS DT IS NM NM IS DT IS DLD CE IS "
             "IS IS PL PL TS TS NM NM NM NM CX IS XCN" },
    { "MSA", "ID ST ST NM ID CE" },
    { "ERR", "ELD ERL CWE ID CWE ST TX TX IS IS CWE XTN" },
    { "OBR", "SI EI EI CE ID TS TS TS CQ XCN ID CE ST TS SPS XCN XTN ST ST "
             "ST ST TS MOC ID ID PRL TQ XCN EIP ID CE NDL NDL NDL NDL TS" },
    { "OBX", "SI ID CE ST * CE ST IS NM ID ID TS ST TS CE XCN CE EI TS" },
    { "NTE", "SI ID FT CE" },
    { "RF1", "CE CE CE CE EI EI TS TS TS CE EI" },
    { "PRD", "CE XPN XAD PL XTN CE PLN TS TS" },
    { "DG1", "SI ID CE ST TS IS CE CE ID IS CE NM CP ST ID XCN IS ID TS EI "
             "ID" },
    { "AL1", "SI CE CE CE ST DT" },
    { "ORC", "ID EI EI EI ID ID TQ EIP TS XCN XCN XCN PL XTN TS CE CE CE "
             "XCN" },
    { "NK1", "SI XPN CE XAD XTN" },
};

static const type_row comp_types[] = {
    { "HD", "IS ST ID" },
    { "CX", "ST ST ST HD ID HD DT DT CWE CWE" },
    { "XPN", "FN ST ST ST ST IS ID ID CE DR ID TS TS ST" },
    { "FN", "ST ID ST ID ST" },
    { "XAD", "SAD ST ST ST ST ID ID ST IS IS ID DR TS TS" },
    { "SAD", "ST ST ST" },
    { "XTN", "ST ID ID ST NM NM NM NM ST NM ST ST" },
    { "CE", "ST ST ID ST ST ID" },
    { "CWE", "ST ST ID ST ST ID ST ST ST" },
    { "CNE", "ST ST ID ST ST ID ST ST ST" },
    { "XCN", "ST FN ST ST ST ST IS IS HD ID ST ID ID HD ID CE DR ID CWE CWE "
             "TS TS ST CWE CWE" },
    { "PL", "IS IS IS HD IS IS IS HD ST EI" },
    { "EI", "ST IS ST ID" },
    { "MSG", "ID ID ID" },
    { "PT", "ID ID" },
    { "VID", "ID CE CE" },
    { "TS", "DTM ID" },
    { "ERL", "ST NM NM NM NM NM" },
    { "CQ", "NM CE" },
    { "DLN", "ST IS DT" },
    { "FC", "IS TS" },
    { "PLN", "ST IS ST DT" },
    { "EIP", "EI EI" },
    { "PRL", "CE ST TX" },
    { "CP", "MO ID NM NM CE ID" },
    { "MO", "NM ID" },
    { "DLD", "IS TS" },
    { "DR", "TS TS" },
    { "SPS", "CWE CWE TX CWE CWE CWE CWE" },
    { "MOC", "MO CE" },
    { "ELD", "ST NM NM CE" },
};

static const char *const primitives[] = {
    "ST", "TX", "FT", "NM", "SI", "ID", "IS", "DT", "DTM", "TM", "GTS",
};

/* The table's tokens are not NUL-terminated; hand out the same name from
 * a table of string constants instead, so callers get a plain C string
 * without any buffer to own. */
static const char *intern(const char *p, size_t n)
{
    static const char *const names[] = {
        "ST", "TX", "FT", "NM", "SI", "ID", "IS", "DT", "DTM", "TM", "GTS",
        "HD", "CX", "XPN", "FN", "XAD", "SAD", "XTN", "CE", "CWE", "CNE",
        "XCN", "PL", "EI", "MSG", "PT", "VID", "TS", "ERL", "CQ", "DLN",
        "FC", "PLN", "EIP", "PRL", "CP", "MO", "DLD", "DR", "SPS", "MOC",
        "ELD", "NDL", "TQ",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && memcmp(names[i], p, n) == 0)
            return names[i];
    return NULL;
}

/* Token n (1-based) of the row called name, NULL when there is none. */
static const char *nth_type(const type_row *rows, size_t nrows,
                            const char *name, int n)
{
    if (!name || n < 1)
        return NULL;
    for (size_t i = 0; i < nrows; i++) {
        if (strcmp(rows[i].name, name) != 0)
            continue;
        const char *p = rows[i].types;
        for (int k = 1; *p; k++) {
            const char *e = strchr(p, ' ');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            if (k == n)
                return intern(p, len); /* "*" (varies) gives NULL */
            if (!e)
                break;
            p = e + 1;
        }
        return NULL;
    }
    return NULL;
}

const char *hl7_field_type(const char *seg, int field)
{
    return nth_type(seg_types, sizeof(seg_types) / sizeof(seg_types[0]), seg,
                    field);
}

const char *hl7__comp_type(const char *type, int comp)
{
    return nth_type(comp_types, sizeof(comp_types) / sizeof(comp_types[0]),
                    type, comp);
}

int hl7__is_primitive(const char *type)
{
    for (size_t i = 0; i < sizeof(primitives) / sizeof(primitives[0]); i++)
        if (strcmp(primitives[i], type) == 0)
            return 1;
    return 0;
}
