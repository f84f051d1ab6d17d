// Pieces shared by the clinical and commune screens.
import { h, clear } from '../dom.js';
import { t, fmtDate } from '../i18n.js';
import { errorTitle } from '../forms.js';
import { ApiError } from '../api.js';

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

export function addressText(a) {
  if (!a) return '';
  return [a.line, a.village, a.commune_name || a.commune_code, a.province_name || a.province_code].filter(Boolean).join(', ');
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
  main.append(h('section', { class: 'panel empty-state', 'data-testid': 'load-error', dataset: { status: String(status) } },
    h('h1', null, title),
    err instanceof ApiError && err.problem.title && (status === 404 || status === 403) ? h('p', { class: 'muted' }, err.problem.title) : null,
    h('p', null, h('a', { href: '/' }, t('nav.back_home')))));
}

export function patientBanner(p, extra) {
  const card = p.insurance_card;
  return h('section', { class: 'patient-banner', 'aria-label': t('patient.banner') },
    h('div', { class: 'pb-main' },
      h('p', { class: 'pb-name', 'data-testid': 'patient-name' }, p.full_name),
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
  return v.started_at || v.opened_at || v.admitted_at || v.created_at || v.visit_date || v.date || null;
}

export function primaryDiagnosis(v) {
  const ds = v.diagnoses || [];
  const d = ds.find((x) => x.primary) || ds[0];
  if (!d) return '';
  return [d.icd10, d.name || d.title].filter(Boolean).join(' — ');
}
