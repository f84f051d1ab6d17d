// Pieces shared by the clinical and commune screens.
import { h, clear } from '../dom.js';
import { t, fmtDate } from '../i18n.js';
import { errorTitle } from '../forms.js';
import { ApiError, get, qs } from '../api.js';

export const SEX = ['male', 'female', 'unknown'];
export const VISIT_KINDS = ['outpatient', 'inpatient', 'emergency'];
export const RELATIONSHIPS = ['head', 'spouse', 'child', 'parent', 'sibling', 'grandchild', 'grandparent', 'child_in_law', 'other'];

export function sexLabel(s) {
  return s ? t('sex.' + s) : '';
}

export function ageOf(birth) {
  if (!birth) return '';
  const y = Number(String(birth).slice(0, 4));
  if (!y) return '';
  return String(new Date().getFullYear() - y);
}

// Names of administrative units (provinces, and the communes of the user's
// province), loaded once per session for showing addresses.
const unitNames = new Map();
let unitsLoaded = null;
export function loadAdminUnits(provinceCode) {
  if (!unitsLoaded) {
    unitsLoaded = (async () => {
      try {
        const [pr, cr] = await Promise.all([
          get('/admin-units' + qs({ level: 'province', limit: 200 })),
          provinceCode ? get('/admin-units' + qs({ level: 'commune', parent: provinceCode, limit: 200 })) : { data: { items: [] } },
        ]);
        for (const it of [...(pr.data.items || []), ...(cr.data.items || [])]) {
          if (!it.valid_to) unitNames.set(`${it.level}:${it.code}`, it.name);
        }
      } catch { /* codes are shown instead */ }
    })();
  }
  return unitsLoaded;
}
export function resetAdminUnits() { unitsLoaded = null; unitNames.clear(); }
export function unitName(level, code) {
  return code ? (unitNames.get(`${level}:${code}`) || code) : '';
}

export function addressText(a) {
  if (!a) return '';
  return [a.line, a.village, a.commune_name || unitName('commune', a.commune_code), a.province_name || unitName('province', a.province_code)]
    .filter(Boolean).join(', ');
}

export function loading() {
  return h('p', { class: 'loading', role: 'status' }, t('common.loading'));
}

// A full-page message for errors when loading a screen: 404/403 show a
// not-found/forbidden panel with no data.
export function loadError(main, err) {
  clear(main);
  const status = err instanceof ApiError ? err.status : 0;
  const title = status === 404 ? t('error.not_found_page') : status === 403 ? t('error.forbidden_page') : errorTitle(err);
  const detail = err instanceof ApiError ? (err.problem.detail || (err.errors[0] && err.errors[0].message)) : null;
  main.append(h('section', { class: 'panel empty-state', 'data-testid': 'load-error', dataset: { status: String(status) } },
    h('h1', null, title),
    detail && (status === 404 || status === 403) ? h('p', { class: 'muted' }, detail) : null,
    h('p', null, h('a', { href: '/' }, t('nav.back_home')))));
}

export function patientBanner(p, extra, { showName = true } = {}) {
  const card = p.insurance_card;
  return h('section', { class: 'patient-banner', 'aria-label': t('patient.banner') },
    h('div', { class: 'pb-main' },
      showName ? h('p', { class: 'pb-name', 'data-testid': 'patient-name' }, p.full_name) : null,
      h('p', { class: 'pb-meta' },
        [sexLabel(p.sex), p.birth_date ? `${fmtDate(p.birth_date)} (${t('patient.age', { n: ageOf(p.birth_date) })})` : null,
          p.cccd ? `${t('patient.cccd_short')} ${p.cccd}` : null, p.phone].filter(Boolean).join(' · '))),
    h('div', { class: 'pb-side' },
      card && card.number ? h('p', null, h('span', { class: 'badge badge-ok' }, t('patient.insured')), ' ', card.number,
        card.valid_to ? h('span', { class: 'muted' }, ` · ${t('patient.valid_to')} ${fmtDate(card.valid_to)}`) : null)
        : h('p', null, h('span', { class: 'badge' }, t('patient.uninsured'))),
      h('p', { class: 'muted' }, addressText(p.address))),
    extra || null);
}

export function stateBadge(state) {
  return h('span', { class: ['badge', state === 'open' ? 'badge-open' : 'badge-closed'] }, t('visit.state.' + (state || 'open')));
}

export function visitDate(v) {
  return v.received_at || v.started_at || v.opened_at || v.admitted_at || v.created_at || v.visit_date || v.date || null;
}

export function primaryDiagnosis(v) {
  if (v.primary_diagnosis) return [v.primary_diagnosis.icd10, v.primary_diagnosis.name].filter(Boolean).join(' — ');
  const ds = v.diagnoses || [];
  const d = ds.find((x) => x.primary) || ds[0];
  if (!d) return '';
  return [d.icd10, d.name || d.title].filter(Boolean).join(' — ');
}
