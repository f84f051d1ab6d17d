// The doctor's day: patient search, reception, the patient with their visit
// history, and the visit form.
import { h, clear, debounce, uid } from '../dom.js';
import { get, post, patch, qs, newIdempotencyKey, ApiError } from '../api.js';
import { t, fmtDate, fmtDateTime } from '../i18n.js';
import { field, values, numOrNull, FormErrors, alertBox, showAlert, errorTitle } from '../forms.js';
import {
  sexLabel, addressText, loading, loadError, patientBanner, stateBadge, visitDate, primaryDiagnosis, VISIT_KINDS,
} from './common.js';
import { personFieldset, personBody, duplicatesPanel } from './person.js';
import { icd10Picker } from './icd10.js';
import { prescriptionPanel } from './prescription.js';

/* ---- patient search ------------------------------------------------------ */

export function searchPanel(ctx, opts = {}) {
  const inputId = 'patient-search';
  const input = h('input', {
    id: inputId, type: 'search', name: 'q', autocomplete: 'off', spellcheck: 'false',
    placeholder: t('search.placeholder'), 'aria-describedby': 'patient-search-hint', 'aria-controls': 'patient-results',
  });
  const status = h('p', { class: 'muted small', id: 'patient-search-status', role: 'status', 'aria-live': 'polite' });
  const results = h('div', { id: 'patient-results', class: 'results' });
  let ctl = null;
  const initial = new URLSearchParams(location.search).get('q') || '';
  input.value = initial;

  async function run() {
    const q = input.value.trim();
    if (ctl) ctl.abort();
    if (q.length < 2) {
      clear(results);
      status.textContent = q.length ? t('search.type_more') : '';
      return;
    }
    ctl = new AbortController();
    status.textContent = t('search.searching');
    try {
      const r = await get('/patients' + qs({ q, limit: 20 }), { signal: ctl.signal });
      const items = r.data.items || [];
      clear(results);
      status.textContent = items.length ? t('search.count', { n: r.data.total ?? items.length }) : t('search.none');
      if (items.length) results.append(resultTable(items));
      history.replaceState(null, '', location.pathname + qs({ q }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(results);
      status.textContent = errorTitle(e);
    }
  }
  const later = debounce(run, 250);
  input.addEventListener('input', later);
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); later.cancel(); run(); } });

  const el = h('section', { class: 'panel', 'aria-labelledby': 'search-title' },
    h('div', { class: 'panel-head' },
      h('h2', { id: 'search-title' }, t('search.title')),
      h('a', { href: '/patients/new', class: 'btn btn-primary', 'data-testid': 'new-patient' }, t('reception.new_patient'))),
    h('label', { for: inputId, class: 'label-strong' }, t('search.label')),
    h('div', { class: 'search-box' }, input),
    h('p', { class: 'hint', id: 'patient-search-hint' }, t('search.hint')),
    status, results);
  if (initial) run();
  if (opts.autofocus) setTimeout(() => input.focus(), 0);
  return { el, cleanup: () => { later.cancel(); if (ctl) ctl.abort(); } };
}

function resultTable(items) {
  return h('table', { class: 'table table-hover', 'data-testid': 'patient-results' },
    h('thead', null, h('tr', null,
      [t('patient.full_name'), t('patient.birth_date'), t('patient.sex'), t('patient.cccd'), t('card.number'), t('patient.address')]
        .map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, items.map((p) => h('tr', null,
      h('td', null, h('a', { href: `/patients/${p.id}`, class: 'strong' }, p.full_name)),
      h('td', null, fmtDate(p.birth_date)),
      h('td', null, sexLabel(p.sex)),
      h('td', { class: 'mono' }, p.cccd || ''),
      h('td', { class: 'mono' }, p.insurance_card?.number || ''),
      h('td', null, addressText(p.address))))));
}

// Today's visits at the user's facility (GET /visits: today by default),
// open ones first.
export function todayPanel() {
  const body = h('div', null, loading());
  const el = h('section', { class: 'panel', 'aria-labelledby': 'today-title', 'data-testid': 'today-visits' },
    h('h2', { id: 'today-title' }, t('today.title')), body);
  (async () => {
    try {
      const r = await get('/visits' + qs({ limit: 100 }));
      const items = (r.data.items || []).slice().sort((a, b) => (a.state === b.state ? 0 : a.state === 'open' ? -1 : 1));
      clear(body);
      if (!items.length) { body.append(h('p', { class: 'muted' }, t('today.none'))); return; }
      const open = items.filter((v) => v.state === 'open').length;
      body.append(h('p', { class: 'muted small' }, t('today.count', { n: r.data.total ?? items.length, open })),
        h('div', { class: 'table-wrap' }, h('table', { class: 'table table-hover' },
          h('thead', null, h('tr', null, [t('today.time'), t('patient.full_name'), t('visit.kind'), t('visit.primary_diagnosis'), t('visit.state')].map((x) => h('th', { scope: 'col' }, x)))),
          h('tbody', null, items.map((v) => h('tr', null,
            h('td', null, fmtDateTime(visitDate(v)).slice(11)),
            h('td', null, h('a', { href: `/visits/${v.id}`, class: 'strong' }, v.patient_name || `#${v.patient_id}`)),
            h('td', null, t('visit.kind.' + (v.kind || 'outpatient'))),
            h('td', null, primaryDiagnosis(v)),
            h('td', null, stateBadge(v.state))))))));
    } catch (e) {
      clear(body);
      body.append(h('p', { class: 'muted' }, errorTitle(e)));
    }
  })();
  return el;
}

export function searchView(main, params, ctx) {
  ctx.setTitle(t('search.title'));
  main.append(h('div', { class: 'page-head' }, h('h1', null, t('nav.patients'))));
  const p = searchPanel(ctx, { autofocus: true });
  main.append(p.el);
  return p.cleanup;
}

/* ---- reception ----------------------------------------------------------- */

export function receptionView(main, params, ctx) {
  ctx.setTitle(t('reception.title'));
  const u = ctx.user;
  const alert = alertBox();
  const person = personFieldset({ defaults: { province_code: u.facility?.province_code, commune_code: u.facility?.commune_code} });
  const kind = field({ name: 'visit_kind', label: t('visit.kind'), type: 'select', value: 'outpatient', options: VISIT_KINDS.map((k) => [k, t('visit.kind.' + k)]) });
  const saveOnly = h('button', { type: 'submit', class: 'btn btn-secondary', value: 'save', 'data-testid': 'save-patient' }, t('reception.save_only'));
  const saveVisit = h('button', { type: 'submit', class: 'btn btn-primary', value: 'visit', 'data-testid': 'save-and-visit' }, t('reception.save_and_visit'));
  const form = h('form', { class: 'form', novalidate: true },
    alert, person,
    h('fieldset', { class: 'group' }, h('legend', null, t('reception.visit')), h('div', { class: 'grid grid-3' }, kind)),
    h('div', { class: 'form-actions sticky-actions' }, h('a', { href: '/patients', class: 'btn btn-ghost' }, t('common.cancel')), saveOnly, saveVisit));
  const errors = new FormErrors(form, alert);
  const dupBox = h('div');
  form.prepend(dupBox);
  let patientKey = newIdempotencyKey();
  let created = null; // the patient, once registered (a failed visit start must not register twice)
  let startVisit = true;

  async function proceed(patient) {
    created = patient;
    if (startVisit) {
      const v = await post('/visits', { patient_id: patient.id, kind: values(form).visit_kind || 'outpatient' }, { idempotencyKey: newIdempotencyKey() });
      ctx.navigate(`/visits/${v.data.id}`);
    } else {
      ctx.navigate(`/patients/${patient.id}`);
    }
  }

  async function submit(confirmNew) {
    errors.clear();
    clear(dupBox);
    const body = personBody(form);
    if (!body.full_name) { errors.showField('full_name', t('error.required')); return; }
    if (confirmNew) body.confirm_new = true;
    saveOnly.disabled = saveVisit.disabled = true;
    try {
      if (!created) {
        const r = await post('/patients', body, { idempotencyKey: patientKey });
        created = r.data;
      }
      await proceed(created);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.problem.candidates) {
        patientKey = newIdempotencyKey(); // the next attempt is a different request
        const panel = duplicatesPanel(err, {
          useLabel: startVisit ? t('dup.use_visit') : t('dup.use'),
          onUse: async (c) => { try { await proceed(c); } catch (e2) { errors.show(e2); } },
          onConfirm: () => submit(true),
        });
        dupBox.append(panel);
        panel.focus();
      } else {
        errors.show(err);
      }
      saveOnly.disabled = saveVisit.disabled = false;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    startVisit = e.submitter ? e.submitter.value === 'visit' : true;
    submit(false);
  });

  main.append(h('div', { class: 'page-head' }, h('div', null,
    h('h1', null, t('reception.title')), h('p', { class: 'muted' }, t('reception.subtitle')))), form);
  form.querySelector('input').focus();
}

/* ---- a patient and their visits ----------------------------------------- */

export async function patientView(main, params, ctx) {
  main.append(loading());
  let p; let visits;
  try {
    const [pr, vr] = await Promise.all([
      get(`/patients/${encodeURIComponent(params.id)}`),
      get(`/patients/${encodeURIComponent(params.id)}/visits${qs({ limit: 50 })}`).catch((e) => e),
    ]);
    p = pr.data;
    visits = vr;
  } catch (e) {
    if (ctx.isCurrent()) loadError(main, e);
    return;
  }
  if (!ctx.isCurrent()) return;
  clear(main);
  ctx.setTitle(p.full_name);
  const alert = alertBox();
  const kind = field({ name: 'visit_kind', label: t('visit.kind'), type: 'select', value: 'outpatient', options: VISIT_KINDS.map((k) => [k, t('visit.kind.' + k)]), class: 'inline' });
  const start = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'start-visit' }, t('visit.start'));
  const startForm = h('form', { class: 'inline-form', novalidate: true }, kind, start);
  const errors = new FormErrors(startForm, alert);
  startForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    start.disabled = true;
    try {
      const v = await post('/visits', { patient_id: p.id, kind: values(startForm).visit_kind }, { idempotencyKey: newIdempotencyKey() });
      ctx.navigate(`/visits/${v.data.id}`);
    } catch (err) {
      errors.show(err);
      start.disabled = false;
    }
  });
  main.append(h('div', { class: 'page-head' },
    h('div', null, h('p', { class: 'crumbs' }, h('a', { href: '/patients' }, t('nav.patients'))), h('h1', null, p.full_name)),
    h('div', { class: 'head-actions' }, h('a', { href: `/patients/${p.id}/record`, class: 'btn btn-secondary' }, t('record.open')))));
  main.append(patientBanner(p, null, { showName: false }), alert,
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, t('visit.new')), startForm)),
    historyPanel(visits));
}


function historyPanel(vr) {
  const panel = h('section', { class: 'panel', 'aria-labelledby': 'history-title', 'data-testid': 'visit-history' },
    h('h2', { id: 'history-title' }, t('history.title')));
  if (vr instanceof Error) {
    panel.append(h('p', { class: 'alert alert-error', role: 'alert' }, errorTitle(vr)));
    return panel;
  }
  const items = vr.data.items || [];
  if (!items.length) {
    panel.append(h('p', { class: 'muted' }, t('history.none')));
    return panel;
  }
  panel.append(h('table', { class: 'table' },
    h('thead', null, h('tr', null, [t('history.date'), t('visit.ma_lk'), t('visit.kind'), t('visit.primary_diagnosis'), t('visit.state')]
      .map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, items.map((v) => h('tr', null,
      h('td', null, h('a', { href: `/visits/${v.id}` }, fmtDateTime(visitDate(v)) || `#${v.id}`)),
      h('td', { class: 'mono' }, v.ma_lk || ''),
      h('td', null, t('visit.kind.' + (v.kind || 'outpatient'))),
      h('td', null, primaryDiagnosis(v)),
      h('td', null, stateBadge(v.state)))))));
  return panel;
}

/* ---- the visit form ------------------------------------------------------ */

const VITALS = [
  ['pulse', 'vitals.pulse', 'vitals.unit.pulse', '1'],
  ['temperature', 'vitals.temperature', 'vitals.unit.temperature', '0.1'],
  ['systolic', 'vitals.systolic', 'vitals.unit.bp', '1'],
  ['diastolic', 'vitals.diastolic', 'vitals.unit.bp', '1'],
  ['respiration', 'vitals.respiration', 'vitals.unit.respiration', '1'],
  ['weight_kg', 'vitals.weight_kg', 'vitals.unit.kg', '0.1'],
  ['height_cm', 'vitals.height_cm', 'vitals.unit.cm', '0.5'],
];

export async function visitView(main, params, ctx) {
  main.append(loading());
  let v; let etag; let p = null;
  try {
    const r = await get(`/visits/${encodeURIComponent(params.id)}`);
    v = r.data;
    etag = r.etag;
    if (v.patient_id) {
      try { p = (await get(`/patients/${v.patient_id}`)).data; } catch { p = v.patient || null; }
    } else p = v.patient || null;
  } catch (e) {
    if (ctx.isCurrent()) loadError(main, e);
    return;
  }
  if (!ctx.isCurrent()) return;
  clear(main);
  ctx.setTitle(t('visit.title'));
  const closed = v.state === 'closed';
  const alert = alertBox();
  const saved = h('p', { class: 'save-status muted small', role: 'status', 'aria-live': 'polite' });

  const vit = v.vitals || {};
  const vitals = h('fieldset', { class: 'group', disabled: closed },
    h('legend', null, t('visit.vitals')),
    h('div', { class: 'grid grid-vitals' }, VITALS.map(([k, label, unit, step]) =>
      field({ name: 'vitals.' + k, label: `${t(label)} (${t(unit)})`, type: 'number', step, min: '0', value: vit[k] ?? '', inputmode: 'decimal' }))),
    h('p', { class: 'muted small bmi', 'aria-live': 'polite' }));
  const bmiEl = vitals.querySelector('.bmi');
  const updateBmi = () => {
    const w = numOrNull(vitals.querySelector('[name="vitals.weight_kg"]').value);
    const hc = numOrNull(vitals.querySelector('[name="vitals.height_cm"]').value);
    bmiEl.textContent = w > 0 && hc > 0 ? t('vitals.bmi', { v: (w / ((hc / 100) ** 2)).toFixed(1) }) : '';
  };
  vitals.addEventListener('input', updateBmi);
  updateBmi();

  const notes = h('fieldset', { class: 'group', disabled: closed },
    h('legend', null, t('visit.notes')),
    field({ name: 'notes', label: t('visit.notes_label'), type: 'textarea', rows: 6, value: notesText(v.notes), maxlength: 8000 }));

  const dx = icd10Picker({ value: v.diagnoses || [], disabled: closed });
  const diag = h('fieldset', { class: 'group', disabled: closed }, h('legend', null, t('visit.diagnoses')), dx.el);

  const svc = servicesEditor(v.services || [], closed);
  const services = h('fieldset', { class: 'group', disabled: closed }, h('legend', null, t('visit.services')), svc.el);

  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-visit' }, t('visit.save'));
  const closeBtn = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'close-visit' }, t('visit.close'));
  const confirmBar = h('div', { class: 'confirm-bar', hidden: true, role: 'group', 'aria-label': t('visit.close_confirm') },
    h('p', null, t('visit.close_confirm')),
    h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'confirm-close' }, t('visit.close_yes')),
    h('button', { type: 'button', class: 'btn btn-ghost' }, t('common.cancel')));

  // The e-prescription lives inside the visit; issuing saves the visit first
  // (the limits depend on the saved diagnoses).
  const rx = prescriptionPanel({
    visit: v, closed, canPrescribe: ctx.user.role === 'doctor',
    saveVisit: async () => {
      try { await save(); } catch (err) {
        errors.show(err);
        const e2 = new Error('visit not saved');
        e2.visitSave = true;
        throw e2;
      }
      rx.refreshLimits();
    },
  });
  const form = h('form', { class: 'form visit-form', novalidate: true, 'data-testid': 'visit-form' },
    alert, vitals, notes, diag, services, rx.el,
    closed ? h('p', { class: 'alert alert-info', role: 'status' }, t('visit.closed_readonly'))
      : h('div', { class: 'form-actions sticky-actions' }, saved, confirmBar, closeBtn, saveBtn));
  const errors = new FormErrors(form, alert);
  // The limits shown depend on the diagnoses: tell the prescription when they change.
  const dxWatch = new MutationObserver(() => rx.diagnosesChanged(dx.value().map((d) => d.icd10)));
  dxWatch.observe(dx.el, { childList: true, subtree: true });

  function body() {
    const vals = values(form);
    const vitalsBody = {};
    for (const [k] of VITALS) vitalsBody[k] = numOrNull(vals['vitals.' + k]);
    return { vitals: vitalsBody, notes: vals.notes || '', diagnoses: dx.value(), services: svc.value() };
  }

  async function save() {
    errors.clear();
    const r = await patch(`/visits/${v.id}`, body(), { ifMatch: etag || undefined });
    if (r.etag) etag = r.etag;
    else if (r.data && r.data.version !== undefined) etag = `"${r.data.version}"`;
    if (r.data && r.data.state) v = { ...v, ...r.data };
    saved.textContent = t('visit.saved_at', { time: new Date().toLocaleTimeString(document.documentElement.lang === 'en' ? 'en-GB' : 'vi-VN', { hour: '2-digit', minute: '2-digit' }) });
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    saveBtn.disabled = true;
    try { await save(); rx.refreshLimits(); } catch (err) { errors.show(err); if (err instanceof ApiError && err.status === 412) showConflict(); }
    saveBtn.disabled = false;
  });
  closeBtn.addEventListener('click', () => { confirmBar.hidden = false; closeBtn.hidden = true; confirmBar.querySelector('.btn-danger').focus(); });
  confirmBar.querySelector('.btn-ghost').addEventListener('click', () => { confirmBar.hidden = true; closeBtn.hidden = false; closeBtn.focus(); });
  confirmBar.querySelector('.btn-danger').addEventListener('click', async (e) => {
    e.target.disabled = true;
    try {
      await save();
      await post(`/visits/${v.id}/close`, {}, etag ? { ifMatch: etag } : {});
      ctx.navigate(v.patient_id ? `/patients/${v.patient_id}` : '/', { replace: false });
    } catch (err) {
      errors.show(err);
      if (err instanceof ApiError && err.status === 412) showConflict();
      e.target.disabled = false;
    }
  });

  function showConflict() {
    showAlert(alert, 'error', t('visit.conflict'), h('p', null,
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: async () => {
        try { const r = await get(`/visits/${v.id}`); etag = r.etag; showAlert(alert, 'info', t('visit.conflict_resolved')); } catch (err2) { errors.show(err2); }
      } }, t('visit.keep_mine'))));
  }

  const head = h('div', { class: 'page-head' },
    h('div', null,
      h('p', { class: 'crumbs' }, h('a', { href: '/patients' }, t('nav.patients')), p ? [' / ', h('a', { href: `/patients/${p.id}` }, p.full_name)] : null),
      h('h1', null, t('visit.title'), ' ', h('span', { class: 'mono muted' }, v.ma_lk || `#${v.id}`))),
    h('div', { class: 'head-actions' }, h('span', null, t('visit.kind.' + (v.kind || 'outpatient'))), stateBadge(v.state)));
  main.append(head);
  if (p) main.append(patientBanner(p));
  main.append(form);
  return () => { dx.destroy(); rx.destroy(); dxWatch.disconnect(); };
}

function notesText(n) {
  if (n == null) return '';
  if (typeof n === 'string') return n;
  if (typeof n === 'object') return n.text || n.examination || JSON.stringify(n);
  return String(n);
}

// Services and supplies ordered: code (looked up as you type in
// GET /services), name, quantity.
function servicesEditor(initial, disabled) {
  const listId = uid('svc-list');
  const datalist = h('datalist', { id: listId });
  const names = new Map();
  const rows = h('tbody');
  const table = h('table', { class: 'table table-compact', 'data-testid': 'services' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, t('service.code')), h('th', { scope: 'col' }, t('service.name')),
      h('th', { scope: 'col' }, t('service.quantity')), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('common.actions'))))),
    rows);
  let ctl = null;
  const lookup = debounce(async (q, nameCell) => {
    if (ctl) ctl.abort();
    if (!q) return;
    ctl = new AbortController();
    try {
      const r = await get('/services' + qs({ q, limit: 15 }), { signal: ctl.signal });
      clear(datalist);
      for (const it of r.data.items || []) {
        names.set(it.code, `${it.name}${it.unit ? ` (${it.unit})` : ''}`);
        datalist.append(h('option', { value: it.code }, it.name));
      }
      nameCell.textContent = names.get(q.toUpperCase()) || '';
    } catch { /* look-up is a convenience */ }
  }, 200);
  function addRow(s = {}) {
    const nameCell = h('td', { class: 'svc-name' }, s.name ? `${s.name}${s.unit ? ` (${s.unit})` : ''}` : '');
    const code = h('input', { type: 'text', 'aria-label': t('service.code'), value: s.code || '', maxlength: 50, class: 'mono svc-code', list: listId, autocomplete: 'off' });
    const qty = h('input', { type: 'number', 'aria-label': t('service.quantity'), value: s.quantity ?? 1, min: '0', step: '1', class: 'narrow' });
    code.addEventListener('input', () => { nameCell.textContent = names.get(code.value.trim().toUpperCase()) || ''; lookup(code.value.trim(), nameCell); });
    const tr = h('tr', null, h('td', null, code), nameCell, h('td', null, qty),
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-ghost btn-small', disabled, onclick: () => tr.remove(), 'aria-label': t('service.remove') }, t('common.remove'))));
    rows.append(tr);
    return code;
  }
  initial.forEach((s) => addRow(s));
  const add = h('button', { type: 'button', class: 'btn btn-secondary btn-small', disabled, onclick: () => addRow().focus(), 'data-testid': 'add-service' }, '+ ', t('service.add'));
  const el = h('div', null, datalist, initial.length || !disabled ? table : h('p', { class: 'muted' }, t('service.none')), disabled ? null : add);
  return {
    el,
    value: () => Array.from(rows.querySelectorAll('tr')).map((tr) => {
      const [c, q] = tr.querySelectorAll('input');
      return { code: c.value.trim().toUpperCase(), quantity: numOrNull(q.value) ?? 1 };
    }).filter((x) => x.code),
  };
}
