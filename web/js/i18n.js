// Dictionary-based texts. Vietnamese by default; the choice is kept in the
// his_lang cookie, which also makes the server answer error messages in the
// same language.

const LANGS = ['vi', 'en'];
let lang = 'vi';
let dict = {};
let fallback = {};

function readCookie(name) {
  const m = document.cookie.split(';').map((s) => s.trim()).find((s) => s.startsWith(name + '='));
  return m ? decodeURIComponent(m.slice(name.length + 1)) : null;
}

async function load(l) {
  const res = await fetch(`/i18n/${l}.json`, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`i18n ${l}: ${res.status}`);
  return res.json();
}

export async function initI18n() {
  const c = readCookie('his_lang');
  lang = LANGS.includes(c) ? c : 'vi';
  fallback = await load('vi');
  dict = lang === 'vi' ? fallback : await load(lang);
  document.documentElement.lang = lang;
}

export async function setLang(l) {
  if (!LANGS.includes(l)) return;
  document.cookie = `his_lang=${l}; Path=/; Max-Age=31536000; SameSite=Strict`;
  lang = l;
  dict = l === 'vi' ? fallback : await load(l);
  document.documentElement.lang = l;
}

export function getLang() {
  return lang;
}

// t(KEY, {name: 'x'}) replaces {name} in the text.
export function t(key, params) {
  let s = dict[key] ?? fallback[key];
  if (s === undefined) {
    console.warn('missing text', key);
    s = key;
  }
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
  return s;
}

export function fmtDate(s) {
  if (!s) return '';
  if (/^\d{4}$/.test(s)) return s;
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s);
  if (!m) return s;
  return `${m[3]}/${m[2]}/${m[1]}`;
}

export function fmtDateTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getDate())}/${p(d.getMonth() + 1)}/${d.getFullYear()} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
