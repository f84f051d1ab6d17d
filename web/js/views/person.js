// The person fields of a patient (reception and adding a household member)
// and the conversion of those fields to the API's patient JSON.
import { h, clear } from '../dom.js';
import { get, qs } from '../api.js';
import { t } from '../i18n.js';
import { field, values } from '../forms.js';
import { fmtDate } from '../i18n.js';
import { SEX } from './common.js';
import { ETHNICITIES } from '../data/ethnicities.js';

// prefix: '' for a top-level patient body; 'head.' when nested, etc.
export function personFieldset(o = {}) {
  const p = o.value || {};
  const a = p.address || {};
  const c = p.insurance_card || {};
  const px = o.prefix || '';
  const sexOpts = [['', t('common.choose')], ...SEX.map((s) => [s, t('sex.' + s)])];
  const ident = h('fieldset', { class: 'group' },
    h('legend', null, o.legend || t('patient.identity')),
    h('div', { class: 'grid grid-3' },
      field({ name: px + 'full_name', label: t('patient.full_name'), required: true, maxlength: 200, value: p.full_name, class: 'span-2', autocomplete: 'off' }),
      field({ name: px + 'sex', label: t('patient.sex'), type: 'select', required: true, options: sexOpts, value: p.sex }),
      field({ name: px + 'birth_date', label: t('patient.birth_date'), required: true, value: p.birth_date, placeholder: t('patient.birth_date_ph'), hint: t('patient.birth_date_hint'), maxlength: 10 }),
      field({ name: px + 'cccd', label: t('patient.cccd'), value: p.cccd, inputmode: 'numeric', maxlength: 12, hint: t('patient.cccd_hint') }),
      field({ name: px + 'phone', label: t('patient.phone'), value: p.phone, type: 'tel', maxlength: 15 }),
      field({ name: px + 'ethnicity', label: t('patient.ethnicity'), type: 'select', value: p.ethnicity || '01',
        options: [['', t('common.choose')], ...ETHNICITIES.map(([c, n]) => [c, n])] })));
  const addr = o.noAddress ? null : h('fieldset', { class: 'group' },
    h('legend', null, t('patient.address')),
    h('div', { class: 'grid grid-4' },
      ...adminUnitFields(px, a.province_code ?? o.defaults?.province_code, a.commune_code ?? o.defaults?.commune_code),
      field({ name: px + 'address.village', label: t('address.village'), value: a.village ?? o.defaults?.village, maxlength: 100 }),
      field({ name: px + 'address.line', label: t('address.line'), value: a.line ?? o.defaults?.line, maxlength: 300, placeholder: t('address.line_ph') })));
  const card = o.noCard ? null : h('fieldset', { class: 'group' },
    h('legend', null, t('patient.insurance_card')),
    h('div', { class: 'grid grid-4' },
      field({ name: px + 'insurance_card.number', label: t('card.number'), value: c.number, maxlength: 15, hint: t('card.number_hint'), class: 'span-2' }),
      field({ name: px + 'insurance_card.valid_from', label: t('card.valid_from'), type: 'date', value: c.valid_from }),
      field({ name: px + 'insurance_card.valid_to', label: t('card.valid_to'), type: 'date', value: c.valid_to }),
      field({ name: px + 'insurance_card.primary_facility', label: t('card.primary_facility'), value: c.primary_facility, maxlength: 5, hint: t('card.primary_facility_hint') })));
  return h('div', { class: 'person' }, ident, addr, card);
}

// Builds the patient JSON from the fields under `container` (with prefix).
export function personBody(container, prefix = '') {
  const v = values(container);
  const g = (k) => v[prefix + k] ?? null;
  const body = {
    full_name: g('full_name'),
    birth_date: normalizeDate(g('birth_date')),
    sex: g('sex'),
    cccd: g('cccd'),
    phone: g('phone'),
    ethnicity: g('ethnicity'),
  };
  if ((prefix + 'address.province_code') in v) {
    body.address = {
      province_code: g('address.province_code'),
      commune_code: g('address.commune_code'),
      village: g('address.village'),
      line: g('address.line'),
    };
  }
  if ((prefix + 'insurance_card.number') in v) {
    const n = g('insurance_card.number');
    body.insurance_card = n || g('insurance_card.valid_from') || g('insurance_card.valid_to') ? {
      number: n ? n.toUpperCase() : n,
      valid_from: g('insurance_card.valid_from'),
      valid_to: g('insurance_card.valid_to'),
      primary_facility: g('insurance_card.primary_facility'),
    } : null;
  }
  for (const k of Object.keys(body)) if (body[k] === null && k !== 'insurance_card') delete body[k];
  return body;
}

// Accepts "dd/mm/yyyy", "d/m/yyyy", "yyyy-mm-dd" or "yyyy"; returns the API's
// "YYYY-MM-DD" or "YYYY" (or the text unchanged for the server to reject).
export function normalizeDate(s) {
  if (!s) return s;
  const m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(s.trim());
  if (m) return `${m[3]}-${m[2].padStart(2, '0')}-${m[1].padStart(2, '0')}`;
  return s.trim();
}

// Province and commune pickers filled from GET /admin-units (current units of
// the two-level structure). Until the list arrives, or if it cannot be
// loaded, the given codes stay selected.
function adminUnitFields(px, province, commune) {
  const pf = field({ name: px + 'address.province_code', label: t('address.province'), type: 'select', required: true,
    options: [['', t('common.choose')], ...(province ? [[province, province]] : [])], value: province || '' });
  const cf = field({ name: px + 'address.commune_code', label: t('address.commune'), type: 'select', required: true,
    options: [['', t('common.choose')], ...(commune ? [[commune, commune]] : [])], value: commune || '' });
  const fill = (sel, items, keep) => {
    clear(sel);
    sel.append(h('option', { value: '' }, t('common.choose')));
    let found = false;
    for (const it of items) {
      const o = h('option', { value: it.code }, `${it.name} (${it.code})`);
      if (it.code === keep) { o.selected = true; found = true; }
      sel.append(o);
    }
    if (keep && !found) sel.append(h('option', { value: keep, selected: true }, keep));
  };
  async function loadCommunes(prov, keep) {
    if (!prov) { fill(cf.input, [], ''); return; }
    try {
      const r = await get('/admin-units' + qs({ level: 'commune', parent: prov, limit: 200 }));
      fill(cf.input, (r.data.items || []).filter((x) => !x.valid_to), keep);
    } catch { /* keep the code as typed */ }
  }
  (async () => {
    try {
      const r = await get('/admin-units' + qs({ level: 'province', limit: 200 }));
      fill(pf.input, (r.data.items || []).filter((x) => !x.valid_to), pf.input.value);
    } catch { /* keep the code */ }
    await loadCommunes(pf.input.value, cf.input.value);
  })();
  pf.input.addEventListener('change', () => loadCommunes(pf.input.value, ''));
  return [pf, cf];
}

// The 409 answer of POST /patients (and of adding a household member as a
// new person): the people who may be the same. onConfirm re-sends with
// confirm_new; onUse(candidate) takes an existing record instead.
export function duplicatesPanel(err, { onConfirm, onUse, useLabel }) {
  const cands = err.problem.candidates || [];
  return h('div', { class: 'alert alert-warn dup-panel', role: 'alert', tabindex: '-1', 'data-testid': 'duplicates' },
    h('p', { class: 'alert-title' }, t('dup.title')),
    h('p', null, t('dup.text')),
    h('table', { class: 'table table-compact' },
      h('thead', null, h('tr', null, [t('patient.full_name'), t('patient.birth_date'), t('dup.reason'), ''].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, cands.map((c) => h('tr', null,
        h('td', { class: 'strong' }, c.full_name), h('td', null, fmtDate(c.birth_date)), h('td', null, reasonText(c.reason)),
        h('td', { class: 'actions' }, onUse ? h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => onUse(c) }, useLabel || t('dup.use')) : null))))),
    h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'confirm-new', onclick: onConfirm }, t('dup.confirm_new'))));
}

function reasonText(r) {
  if (!r) return '';
  return String(r).split(/[,;\s]+/).filter(Boolean).map((x) => { const k = 'dup.reason.' + x; const v = t(k); return v === k ? x : v; }).join(', ');
}
