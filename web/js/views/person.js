// The person fields of a patient (reception and adding a household member)
// and the conversion of those fields to the API's patient JSON.
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { field, values } from '../forms.js';
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
      field({ name: px + 'address.province_code', label: t('address.province_code'), required: true, value: a.province_code ?? o.defaults?.province_code, maxlength: 2, inputmode: 'numeric' }),
      field({ name: px + 'address.commune_code', label: t('address.commune_code'), required: true, value: a.commune_code ?? o.defaults?.commune_code, maxlength: 5, inputmode: 'numeric' }),
      field({ name: px + 'address.village', label: t('address.village'), value: a.village ?? o.defaults?.village, maxlength: 100 }),
      field({ name: px + 'address.line', label: t('address.line'), value: a.line ?? o.defaults?.line, maxlength: 200, placeholder: t('address.line_ph') })));
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
