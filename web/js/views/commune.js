// The commune station: household list, a new household with its head, a
// household with its members (add a new person, relationship).
import { h, clear, debounce } from '../dom.js';
import { get, post, qs, newIdempotencyKey, ApiError } from '../api.js';
import { t, fmtDate } from '../i18n.js';
import { field, values, FormErrors, alertBox, errorTitle } from '../forms.js';
import { loading, loadError, sexLabel, RELATIONSHIPS, ageOf, unitName } from './common.js';
import { personFieldset, personBody, duplicatesPanel } from './person.js';

const relLabel = (r) => (r ? t('rel.' + r) : '');
// A one-time message shown after the page re-renders (never in the URL:
// it may carry a name).
let flash = null;

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
      field({ name: 'commune_code', label: t('address.commune_code'), value: f.commune_code || '', readOnly: true, hint: `${t('hh.commune_hint')}: ${unitName('commune', f.commune_code)}` })));
  const HP = 'members[0].patient.';
  const head = personFieldset({ prefix: HP, legend: t('hh.head_person'), noAddress: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-household' }, t('hh.create'));
  const dupBox = h('div');
  const form = h('form', { class: 'form', novalidate: true }, alert, dupBox, hhFields, head,
    h('div', { class: 'form-actions sticky-actions' }, h('a', { href: '/households', class: 'btn btn-ghost' }, t('common.cancel')), submit));
  const errors = new FormErrors(form, alert);
  let key = newIdempotencyKey();

  async function send(member) {
    const v = values(form);
    const body = { commune_code: v.commune_code, village: v.village, address: v.address, members: [member] };
    if (f.province_code) body.province_code = f.province_code;
    if (v.code) body.code = v.code;
    submit.disabled = true;
    try {
      const hh = (await post('/households', body, { idempotencyKey: key })).data;
      ctx.navigate(`/households/${hh.id}`);
    } catch (err) {
      key = newIdempotencyKey();
      if (err instanceof ApiError && err.status === 409 && err.problem.candidates) {
        const panel = duplicatesPanel(err, {
          useLabel: t('dup.use'),
          onUse: (c) => { clear(dupBox); send({ relationship: 'head', patient_id: c.id }); },
          onConfirm: () => { clear(dupBox); send({ ...member, confirm_new: true }); },
        });
        clear(dupBox);
        dupBox.append(panel);
        panel.focus();
      } else errors.show(err);
      submit.disabled = false;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    errors.clear();
    clear(dupBox);
    const v = values(form);
    const person = personBody(form, HP);
    let bad = false;
    if (!v.village) { errors.showField('village', t('error.required')); bad = true; }
    if (!person.full_name) { errors.showField(HP + 'full_name', t('error.required')); bad = true; }
    if (bad) return;
    person.address = { province_code: f.province_code || null, commune_code: v.commune_code, village: v.village, line: v.address };
    send({ relationship: 'head', patient: person });
  });
  main.append(h('div', { class: 'page-head' }, h('div', null,
    h('p', { class: 'crumbs' }, h('a', { href: '/households' }, t('nav.households'))),
    h('h1', null, t('hh.new')))), form);
  form.querySelector('input:not([readonly])').focus();
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
      h('div', null, h('dt', null, t('address.commune')), h('dd', null, hh.commune_name || unitName('commune', hh.commune_code))))));

  const notice = h('div', { role: 'status', 'aria-live': 'polite' });
  if (flash) { notice.append(h('p', { class: 'alert alert-success' }, flash)); flash = null; }
  main.append(notice);
  const membersPanel = h('section', { class: 'panel', 'aria-labelledby': 'mem-title' },
    h('h2', { id: 'mem-title' }, t('hh.members_title', { n: people.length })),
    people.length ? h('table', { class: 'table', 'data-testid': 'members' },
      h('thead', null, h('tr', null, [t('patient.full_name'), t('hh.relationship'), t('patient.sex'), t('patient.birth_date'), h('span', { class: 'sr-only' }, t('common.actions'))]
        .map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, people.map((p) => h('tr', { dataset: { patientId: String(p.patient_id || p.id) } },
        h('td', { class: 'strong' }, p.full_name || `#${p.patient_id}`),
        h('td', null, relLabel(p.relationship)),
        h('td', null, sexLabel(p.sex)),
        h('td', null, p.birth_date ? `${fmtDate(p.birth_date)} (${t('patient.age', { n: ageOf(p.birth_date) })})` : ''),
        h('td', { class: 'actions' },
          h('a', { href: `/patients/${p.patient_id || p.id}/record`, class: 'btn btn-secondary btn-small', 'data-testid': 'open-record' }, t('record.open')),
          ' ',
          h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => openMove(p) }, t('hh.move')))))))
      : h('p', { class: 'muted' }, t('hh.no_members')));
  main.append(membersPanel);

  // Move a member to another household of the commune.
  const movePanel = h('section', { class: 'panel', hidden: true, 'data-testid': 'move-member' });
  main.append(movePanel);
  async function openMove(p) {
    clear(movePanel);
    movePanel.hidden = false;
    const alertM = alertBox();
    const target = field({ name: 'to_household_id', label: t('hh.move_to'), type: 'select', required: true, options: [['', t('common.loading')]] });
    const relM = field({ name: 'relationship', label: t('hh.relationship_new'), type: 'select',
      options: [['', t('hh.keep_relationship')], ...RELATIONSHIPS.filter((r) => r !== 'head').map((r) => [r, relLabel(r)])] });
    const go = h('button', { type: 'submit', class: 'btn btn-primary' }, t('hh.move_save'));
    const f2 = h('form', { class: 'form', novalidate: true },
      h('h2', null, t('hh.move_title', { name: p.full_name })), alertM,
      h('div', { class: 'grid grid-3' }, target, relM),
      h('div', { class: 'form-actions' }, h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => { movePanel.hidden = true; } }, t('common.cancel')), go));
    movePanel.append(f2);
    const errs = new FormErrors(f2, alertM);
    movePanel.scrollIntoView({ block: 'start' });
    let list = [];
    try {
      list = ((await get('/households' + qs({ limit: 200 }))).data.items || []).filter((x) => x.id !== hh.id);
      clear(target.input);
      target.input.append(h('option', { value: '' }, t('common.choose')),
        list.map((x) => h('option', { value: String(x.id) }, [x.code, headFromMembers(x), x.village].filter(Boolean).join(' · '))));
      target.input.focus();
    } catch (err) { errs.show(err); }
    f2.addEventListener('submit', async (e) => {
      e.preventDefault();
      errs.clear();
      const v = values(f2);
      if (!v.to_household_id) { errs.showField('to_household_id', t('error.required')); return; }
      go.disabled = true;
      try {
        const body = { to_household_id: Number(v.to_household_id) };
        if (v.relationship) body.relationship = v.relationship;
        const r = await post(`/households/${hh.id}/members/${p.patient_id || p.id}/move`, body);
        const msg = t('hh.moved', { name: p.full_name, code: r.data.code || v.to_household_id });
        flash = msg;
        ctx.navigate(location.pathname, { replace: true });
      } catch (err) { errs.show(err); go.disabled = false; }
    });
  }

  // Add a member: a new person and their relationship to the head.
  const alert = alertBox();
  const rel = field({ name: 'relationship', label: t('hh.relationship'), type: 'select', required: true,
    options: [['', t('common.choose')], ...RELATIONSHIPS.filter((r) => r !== 'head' || !head).map((r) => [r, relLabel(r)])] });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-member' }, t('hh.add_member_save'));
  const dupBox = h('div');
  const addForm = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'add-title' },
    h('h2', { id: 'add-title' }, t('hh.add_member')),
    h('p', { class: 'muted' }, t('hh.add_member_text')),
    alert, dupBox,
    h('div', { class: 'grid grid-3' }, rel),
    personFieldset({ prefix: 'patient.', legend: t('hh.new_person'), noAddress: true }),
    h('div', { class: 'form-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => { addPanel.hidden = true; } }, t('common.cancel')), submit));
  const addPanel = h('section', { class: 'panel', hidden: true, 'data-testid': 'add-member' }, addForm);
  main.append(addPanel);
  const errors = new FormErrors(addForm, alert);
  let key = newIdempotencyKey();
  function openAdd() {
    addPanel.hidden = false;
    addForm.querySelector('select').focus();
    addPanel.scrollIntoView({ block: 'start' });
  }
  async function send(body) {
    submit.disabled = true;
    try {
      await post(`/households/${hh.id}/members`, body, { idempotencyKey: key });
      ctx.navigate(location.pathname, { replace: true });
    } catch (err) {
      key = newIdempotencyKey();
      if (err instanceof ApiError && err.status === 409 && err.problem.candidates) {
        const panel = duplicatesPanel(err, {
          useLabel: t('dup.use_member'),
          onUse: (c) => { clear(dupBox); send({ relationship: body.relationship, patient_id: c.id }); },
          onConfirm: () => { clear(dupBox); send({ ...body, confirm_new: true }); },
        });
        clear(dupBox);
        dupBox.append(panel);
        panel.focus();
      } else errors.show(err);
      submit.disabled = false;
    }
  }
  addForm.addEventListener('submit', (e) => {
    e.preventDefault();
    errors.clear();
    clear(dupBox);
    const v = values(addForm);
    const person = personBody(addForm, 'patient.');
    let bad = false;
    if (!v.relationship) { errors.showField('relationship', t('error.required')); bad = true; }
    if (!person.full_name) { errors.showField('patient.full_name', t('error.required')); bad = true; }
    if (bad) return;
    person.address = { province_code: hh.province_code || ctx.user.facility?.province_code || null, commune_code: hh.commune_code, village: hh.village || null, line: hh.address || null };
    send({ relationship: v.relationship, patient: person });
  });
  if (new URLSearchParams(location.search).get('add')) openAdd();
}
