// The commune station: household list, a new household with its head, a
// household with its members (add a new person, relationship).
import { h, clear, debounce } from '../dom.js';
import { get, post, qs, newIdempotencyKey } from '../api.js';
import { t, fmtDate } from '../i18n.js';
import { field, values, FormErrors, alertBox, errorTitle } from '../forms.js';
import { loading, loadError, sexLabel, RELATIONSHIPS, ageOf } from './common.js';
import { personFieldset, personBody } from './person.js';

const relLabel = (r) => (r ? t('rel.' + r) : '');

/* ---- list ---------------------------------------------------------------- */

export function householdListPanel(ctx) {
  const input = h('input', { id: 'hh-search', type: 'search', autocomplete: 'off', placeholder: t('hh.search_ph') });
  const status = h('p', { class: 'muted small', role: 'status', 'aria-live': 'polite' });
  const results = h('div', { class: 'results' });
  let ctl = null;
  async function run() {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    const q = input.value.trim();
    try {
      const r = await get('/households' + qs({ q, limit: 100 }), { signal: ctl.signal });
      const items = r.data.items || [];
      clear(results);
      status.textContent = items.length ? t('hh.count', { n: r.data.total ?? items.length }) : t('hh.none');
      if (items.length) results.append(householdTable(items));
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(results);
      status.textContent = errorTitle(e);
    }
  }
  const later = debounce(run, 250);
  input.addEventListener('input', later);
  const el = h('section', { class: 'panel', 'aria-labelledby': 'hh-title' },
    h('div', { class: 'panel-head' },
      h('h2', { id: 'hh-title' }, t('hh.list_title')),
      h('a', { href: '/households/new', class: 'btn btn-primary', 'data-testid': 'new-household' }, t('hh.new'))),
    h('label', { for: 'hh-search', class: 'label-strong' }, t('hh.search_label')),
    h('div', { class: 'search-box' }, input),
    status, results);
  run();
  return { el, cleanup: () => { later.cancel(); if (ctl) ctl.abort(); } };
}

function householdTable(items) {
  return h('table', { class: 'table table-hover', 'data-testid': 'household-list' },
    h('thead', null, h('tr', null, [t('hh.code'), t('hh.head'), t('hh.village'), t('hh.address'), t('hh.members')]
      .map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, items.map((x) => h('tr', null,
      h('td', { class: 'mono' }, h('a', { href: `/households/${x.id}` }, x.code || `#${x.id}`)),
      h('td', null, h('a', { href: `/households/${x.id}`, class: 'strong' }, x.head_name || x.head?.full_name || headFromMembers(x) || '—')),
      h('td', null, x.village || ''),
      h('td', null, x.address || ''),
      h('td', { class: 'num' }, String(x.member_count ?? (x.members ? x.members.length : '')))))));
}

function headFromMembers(x) {
  const m = (x.members || []).find((mm) => mm.relationship === 'head');
  return m ? (m.full_name || m.patient?.full_name) : '';
}

export function listView(main, params, ctx) {
  ctx.setTitle(t('nav.households'));
  main.append(h('div', { class: 'page-head' }, h('div', null, h('h1', null, t('nav.households')),
    h('p', { class: 'muted' }, ctx.user.facility?.name || ''))));
  const p = householdListPanel(ctx);
  main.append(p.el);
  return p.cleanup;
}

/* ---- new household -------------------------------------------------------- */

export function newHouseholdView(main, params, ctx) {
  ctx.setTitle(t('hh.new'));
  const f = ctx.user.facility || {};
  const alert = alertBox();
  const hhFields = h('fieldset', { class: 'group' }, h('legend', null, t('hh.info')),
    h('div', { class: 'grid grid-3' },
      field({ name: 'code', label: t('hh.code'), maxlength: 30, hint: t('hh.code_hint') }),
      field({ name: 'village', label: t('hh.village'), required: true, maxlength: 100 }),
      field({ name: 'address', label: t('hh.address'), maxlength: 300, placeholder: t('address.line_ph') }),
      field({ name: 'commune_code', label: t('address.commune_code'), value: f.commune_code || '', readOnly: true, hint: t('hh.commune_hint') })));
  const head = personFieldset({ prefix: 'head.', legend: t('hh.head_person'), noAddress: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-household' }, t('hh.create'));
  const form = h('form', { class: 'form', novalidate: true }, alert, hhFields, head,
    h('div', { class: 'form-actions sticky-actions' }, h('a', { href: '/households', class: 'btn btn-ghost' }, t('common.cancel')), submit));
  const errors = new FormErrors(form, alert);
  const keys = { patient: newIdempotencyKey(), household: newIdempotencyKey() };
  let headPatient = null;

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const v = values(form);
    const person = personBody(form, 'head.');
    let bad = false;
    if (!v.village) { errors.showField('village', t('error.required')); bad = true; }
    if (!person.full_name) { errors.showField('head.full_name', t('error.required')); bad = true; }
    if (bad) return;
    submit.disabled = true;
    try {
      person.address = { province_code: f.province_code || null, commune_code: v.commune_code, village: v.village, line: v.address };
      if (!headPatient) {
        try {
          headPatient = (await post('/patients', person, { idempotencyKey: keys.patient })).data;
        } catch (err) { prefixErrors(err, 'head.'); throw err; }
      }
      const body = { commune_code: v.commune_code, village: v.village, address: v.address, head_patient_id: headPatient.id };
      if (v.code) body.code = v.code;
      const hh = (await post('/households', body, { idempotencyKey: keys.household })).data;
      const members = hh.members || [];
      if (!members.some((m) => String(m.patient_id) === String(headPatient.id))) {
        await post(`/households/${hh.id}/members`, { patient_id: headPatient.id, relationship: 'head' }, { idempotencyKey: newIdempotencyKey() });
      }
      ctx.navigate(`/households/${hh.id}`);
    } catch (err) {
      errors.show(err);
      submit.disabled = false;
    }
  });
  main.append(h('div', { class: 'page-head' }, h('div', null,
    h('p', { class: 'crumbs' }, h('a', { href: '/households' }, t('nav.households'))),
    h('h1', null, t('hh.new')))), form);
  form.querySelector('input:not([readonly])').focus();
}

// Errors of the nested person's POST name top-level fields: show them on the
// prefixed fields of this form.
function prefixErrors(err, prefix) {
  if (err && Array.isArray(err.errors)) {
    err.errors = err.errors.map((x) => ({ ...x, field: x.field ? prefix + x.field : x.field }));
  }
}

/* ---- one household -------------------------------------------------------- */

export async function householdView(main, params, ctx) {
  main.append(loading());
  let hh;
  try {
    hh = (await get(`/households/${encodeURIComponent(params.id)}`)).data;
  } catch (e) {
    if (ctx.isCurrent()) loadError(main, e);
    return;
  }
  if (!ctx.isCurrent()) return;
  clear(main);
  ctx.setTitle(t('hh.title', { code: hh.code || hh.id }));
  const members = hh.members || [];
  // Member details: the household answer may carry them; fetch what it lacks.
  const people = await Promise.all(members.map(async (m) => {
    if (m.full_name || m.patient) return { ...(m.patient || {}), ...m, id: m.patient_id };
    try { return { ...(await get(`/patients/${m.patient_id}`)).data, relationship: m.relationship, patient_id: m.patient_id }; } catch { return { ...m, id: m.patient_id }; }
  }));
  if (!ctx.isCurrent()) return;
  const head = people.find((p) => p.relationship === 'head') || people.find((p) => String(p.patient_id) === String(hh.head_patient_id));

  main.append(h('div', { class: 'page-head' },
    h('div', null,
      h('p', { class: 'crumbs' }, h('a', { href: '/households' }, t('nav.households'))),
      h('h1', { 'data-testid': 'household-title' }, t('hh.title', { code: hh.code || hh.id }))),
    h('div', { class: 'head-actions' }, h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'add-member-open', onclick: () => openAdd() }, t('hh.add_member')))));
  main.append(h('section', { class: 'panel' },
    h('dl', { class: 'facts facts-row' },
      h('div', null, h('dt', null, t('hh.head')), h('dd', null, head ? head.full_name : '—')),
      h('div', null, h('dt', null, t('hh.village')), h('dd', null, hh.village || '—')),
      h('div', null, h('dt', null, t('hh.address')), h('dd', null, hh.address || '—')),
      h('div', null, h('dt', null, t('address.commune_code')), h('dd', null, [hh.commune_name, hh.commune_code].filter(Boolean).join(' · '))))));

  const membersPanel = h('section', { class: 'panel', 'aria-labelledby': 'mem-title' },
    h('h2', { id: 'mem-title' }, t('hh.members_title', { n: people.length })),
    people.length ? h('table', { class: 'table', 'data-testid': 'members' },
      h('thead', null, h('tr', null, [t('patient.full_name'), t('hh.relationship'), t('patient.sex'), t('patient.birth_date'), t('patient.cccd'), h('span', { class: 'sr-only' }, t('common.actions'))]
        .map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, people.map((p) => h('tr', { dataset: { patientId: String(p.patient_id || p.id) } },
        h('td', { class: 'strong' }, p.full_name || `#${p.patient_id}`),
        h('td', null, relLabel(p.relationship)),
        h('td', null, sexLabel(p.sex)),
        h('td', null, p.birth_date ? `${fmtDate(p.birth_date)} (${t('patient.age', { n: ageOf(p.birth_date) })})` : ''),
        h('td', { class: 'mono' }, p.cccd || ''),
        h('td', { class: 'actions' }, h('a', { href: `/patients/${p.patient_id || p.id}/record`, class: 'btn btn-secondary btn-small', 'data-testid': 'open-record' }, t('record.open')))))))
      : h('p', { class: 'muted' }, t('hh.no_members')));
  main.append(membersPanel);

  // Add a member: a new person and their relationship to the head.
  const alert = alertBox();
  const rel = field({ name: 'relationship', label: t('hh.relationship'), type: 'select', required: true,
    options: [['', t('common.choose')], ...RELATIONSHIPS.filter((r) => r !== 'head' || !head).map((r) => [r, relLabel(r)])] });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-member' }, t('hh.add_member_save'));
  const addForm = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'add-title' },
    h('h2', { id: 'add-title' }, t('hh.add_member')),
    h('p', { class: 'muted' }, t('hh.add_member_text')),
    alert,
    h('div', { class: 'grid grid-3' }, rel),
    personFieldset({ legend: t('hh.new_person'), noAddress: true }),
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => { addPanel.hidden = true; } }, t('common.cancel')), submit));
  const addPanel = h('section', { class: 'panel', hidden: true, 'data-testid': 'add-member' }, addForm);
  main.append(addPanel);
  const errors = new FormErrors(addForm, alert);
  let key = { patient: newIdempotencyKey(), member: newIdempotencyKey() };
  let created = null;
  function openAdd() {
    addPanel.hidden = false;
    addForm.querySelector('select').focus();
    addPanel.scrollIntoView({ block: 'start' });
  }
  addForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const v = values(addForm);
    const person = personBody(addForm);
    let bad = false;
    if (!v.relationship) { errors.showField('relationship', t('error.required')); bad = true; }
    if (!person.full_name) { errors.showField('full_name', t('error.required')); bad = true; }
    if (bad) return;
    person.address = { province_code: hh.province_code || ctx.user.facility?.province_code || null, commune_code: hh.commune_code, village: hh.village || null, line: hh.address || null };
    submit.disabled = true;
    try {
      if (!created) created = (await post('/patients', person, { idempotencyKey: key.patient })).data;
      await post(`/households/${hh.id}/members`, { patient_id: created.id, relationship: v.relationship }, { idempotencyKey: key.member });
      key = { patient: newIdempotencyKey(), member: newIdempotencyKey() };
      created = null;
      ctx.navigate(location.pathname, { replace: true });
    } catch (err) {
      errors.show(err);
      submit.disabled = false;
    }
  });
  if (new URLSearchParams(location.search).get('add')) openAdd();
}
