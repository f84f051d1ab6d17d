#include "core/text.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define FOLD_TABLE_SIZE 0x1F00

static unsigned char fold_table[FOLD_TABLE_SIZE];
static pthread_once_t fold_once = PTHREAD_ONCE_INIT;

struct fold_group {
    char base;
    const char *letters;
};

/* Every Vietnamese letter with a diacritic, both cases, plus common Latin-1. */
static const struct fold_group groups[] = {
    {'a', "àáảãạăằắẳẵặâầấẩẫậÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬäåāÄÅĀ"},
    {'e', "èéẻẽẹêềếểễệÈÉẺẼẸÊỀẾỂỄỆëēËĒ"},
    {'i', "ìíỉĩịÌÍỈĨỊïîÏÎ"},
    {'o', "òóỏõọôồốổỗộơờớởỡợÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢöøÖØ"},
    {'u', "ùúủũụưừứửữựÙÚỦŨỤƯỪỨỬỮỰüûÜÛ"},
    {'y', "ỳýỷỹỵỲÝỶỸỴÿ"},
    {'d', "đĐ"},
    {'c', "çÇ"},
    {'n', "ñÑ"},
};

static int decode(const unsigned char *s, size_t len, uint32_t *cp);

static int decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n;
    uint32_t v;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        v = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        v = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        v = c & 0x07;
    } else {
        return -1;
    }
    if ((size_t)n > len)
        return -1;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        v = (v << 6) | (s[i] & 0x3F);
    }
    /* reject overlong forms and surrogates */
    if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return -1;
    *cp = v;
    return n;
}

static void build_table(void)
{
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
        const unsigned char *p = (const unsigned char *)groups[g].letters;
        size_t len = strlen(groups[g].letters);
        while (len) {
            uint32_t cp;
            int n = decode(p, len, &cp);
            if (n <= 0)
                break;
            if (cp < FOLD_TABLE_SIZE)
                fold_table[cp] = (unsigned char)groups[g].base;
            p += n;
            len -= (size_t)n;
        }
    }
}

size_t text_fold(const char *in, char *out, size_t outlen)
{
    pthread_once(&fold_once, build_table);
    if (outlen == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)in;
    size_t len = strlen(in), o = 0;
    bool pending_space = false;
    while (len) {
        uint32_t cp;
        int n = decode(s, len, &cp);
        if (n <= 0) { /* invalid byte: skip it */
            s++;
            len--;
            continue;
        }
        s += n;
        len -= (size_t)n;
        char c = 0;
        if (cp < 0x80) {
            c = (char)cp;
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
        } else if (cp >= 0x300 && cp <= 0x36F) {
            continue; /* combining mark (decomposed input) */
        } else if (cp < FOLD_TABLE_SIZE && fold_table[cp]) {
            c = (char)fold_table[cp];
        } else {
            c = '?'; /* other scripts: keep a placeholder so lengths stay sane */
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            pending_space = o > 0;
            continue;
        }
        if ((unsigned char)c < 0x20)
            continue;
        if (pending_space) {
            if (o + 1 >= outlen)
                break;
            out[o++] = ' ';
            pending_space = false;
        }
        if (o + 1 >= outlen)
            break;
        out[o++] = c;
    }
    out[o] = '\0';
    return o;
}

bool text_valid_utf8(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    while (len) {
        uint32_t cp;
        int n = decode(s, len, &cp);
        if (n <= 0)
            return false;
        if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r')
            return false;
        if (cp == 0x7F)
            return false;
        s += n;
        len -= (size_t)n;
    }
    return true;
}
