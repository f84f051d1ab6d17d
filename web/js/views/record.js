// A person's health record (QĐ 831/QĐ-BYT): 1 identity and administrative
// data, 2 history / allergies / risk factors, 3 vaccinations / pregnancies /
// screenings / chronic-disease follow-up, 4 examinations (the visits).
// Saved with PUT and If-Match; a 412 keeps the user's edits on screen.
import { h, clear, getPath, setPath, uid } from '../dom.js';
import { get, put, ApiError } from '../api.js';
import { t, fmtDateTime } from '../i18n.js';
import { field, FormErrors, alertBox, showAlert, errorTitle } from '../forms.js';
import { loading, loadError, patientBanner, visitDate, stateBadge } from './common.js';
import { SCHEMA } from './record_schema.js';

// A message to show once after the page re-renders.
let flash = null;

export async function recordView(main, params, ctx) {
  main.append(loading());
  const pid = encodeURIComponent(params.id);
  let p; let rec; let etag;
  try {
    const rr = await get(`/patients/${pid}/health-record`);
    rec = rr.data || {}; etag = rr.etag;
    p = rec.patient || (await get(`/patients/${pid}`)).data;
  } catch (e) {
    if (ctx.isCurrent()) loadError(main, e);
    return;
  }
  if (!ctx.isCurrent()) return;
  clear(main);
  ctx.setTitle(t('record.title'));
  let base = structuredClone(rec); // the document as last read from the server

  const alert = alertBox();
  if (flash) { showAlert(alert, 'success', flash); flash = null; }
  const saved = h('p', { class: 'save-status muted small', role: 'status', 'aria-live': 'polite' });
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('record.sections') });
  const panels = h('div', { class: 'tab-panels' });
  const editors = [];
  SCHEMA.forEach((sec, i) => {
    const tabId = `tab-${sec.key}`;
    const panelId = `panel-${sec.key}`;
    const tab = h('button', { type: 'button', role: 'tab', id: tabId, 'aria-controls': panelId, 'aria-selected': i === 0 ? 'true' : 'false', tabindex: i === 0 ? '0' : '-1', class: 'tab', dataset: { section: sec.key } },
      h('span', { class: 'tab-num' }, String(i + 1)), t(sec.title));
    const panel = h('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, class: 'tab-panel', hidden: i !== 0, tabindex: '0' });
    if (sec.key === 'examinations') panel.append(examinations(rec.examinations, ctx));
    else {
      if (sec.key === 'identity') panel.append(patientFacts(p));
      for (const part of sec.parts) {
        const ed = part.type === 'list' ? listEditor(sec.key, part, getPath(rec, `${sec.key}.${part.key}`) || []) : objectEditor(sec.key, part, getPath(rec, sec.key) || {});
        editors.push(ed);
        panel.append(ed.el);
      }
    }
    tabs.append(tab);
    panels.append(panel);
  });
  const tabList = () => Array.from(tabs.querySelectorAll('[role="tab"]'));
  function select(tab) {
    for (const x of tabList()) {
      const on = x === tab;
      x.setAttribute('aria-selected', on ? 'true' : 'false');
      x.tabIndex = on ? 0 : -1;
      document.getElementById(x.getAttribute('aria-controls')).hidden = !on;
    }
  }
  tabs.addEventListener('click', (e) => { const b = e.target.closest('[role="tab"]'); if (b) select(b); });
  tabs.addEventListener('keydown', (e) => {
    const list = tabList();
    const i = list.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % list.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + list.length) % list.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = list.length - 1;
    if (j !== null) { e.preventDefault(); list[j].focus(); select(list[j]); }
  });

  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-record' }, t('record.save'));
  const form = h('form', { class: 'form record-form', novalidate: true, 'data-testid': 'record-form' },
    alert, tabs, panels, h('div', { class: 'form-actions sticky-actions' }, saved, saveBtn));
  const errors = new FormErrors(form, alert);

  function doc() {
    // Start from the server's document so fields this screen does not edit
    // are sent back unchanged.
    const d = structuredClone(base);
    delete d.examinations;
    for (const ed of editors) ed.write(d);
    const out = {};
    for (const s of SCHEMA) if (s.key !== 'examinations') out[s.key] = d[s.key] || {};
    return out;
  }

  async function save(ifMatch) {
    const r = await put(`/patients/${pid}/health-record`, doc(), { ifMatch });
    etag = r.etag || (r.data && r.data.version !== undefined ? `"${r.data.version}"` : etag);
    if (r.data && r.data.identity) base = structuredClone(r.data);
    else base = { ...base, ...doc() };
    errors.clear();
    saved.textContent = t('record.saved_at', { time: new Date().toLocaleTimeString(document.documentElement.lang === 'en' ? 'en-GB' : 'vi-VN', { hour: '2-digit', minute: '2-digit' }) });
  }

  function conflict() {
    const keepBtn = h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-testid': 'conflict-overwrite' }, t('record.conflict_overwrite'));
    const reloadBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'conflict-reload' }, t('record.conflict_reload'));
    keepBtn.addEventListener('click', async () => {
      keepBtn.disabled = reloadBtn.disabled = true;
      try {
        const r = await get(`/patients/${pid}/health-record`);
        // Three-way merge per member of each section: what this user changed
        // since their last read wins; everything else comes from the newer copy.
        const mine = doc();
        const theirs = r.data || {};
        const merged = {};
        for (const s2 of SCHEMA) {
          if (s2.key === 'examinations') continue;
          const m = mine[s2.key] || {}; const o = base[s2.key] || {}; const th = theirs[s2.key] || {};
          const out = { ...th };
          for (const k of new Set([...Object.keys(m), ...Object.keys(o)])) {
            if (JSON.stringify(m[k] ?? null) !== JSON.stringify(o[k] ?? null)) out[k] = m[k];
          }
          merged[s2.key] = out;
        }
        await put(`/patients/${pid}/health-record`, merged, { ifMatch: r.etag });
        flash = t('record.saved_over');
        ctx.navigate(location.pathname, { replace: true });
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) conflict();
        else errors.show(err);
      }
    });
    reloadBtn.addEventListener('click', () => ctx.navigate(location.pathname, { replace: true }));
    showAlert(alert, 'warn', t('record.conflict'), h('div', { class: 'alert-actions' }, h('p', null, t('record.conflict_text')), keepBtn, ' ', reloadBtn));
    alert.setAttribute('data-testid', 'conflict');
    alert.focus();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    saveBtn.disabled = true;
    try {
      await save(etag);
      alert.hidden = true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) conflict();
      else {
        errors.show(err);
        // show the tab that holds the first field in error
        const bad = form.querySelector('.has-error');
        if (bad) { const panel = bad.closest('[role="tabpanel"]'); if (panel) select(document.getElementById(panel.getAttribute('aria-labelledby'))); }
      }
    }
    saveBtn.disabled = false;
  });

  main.append(h('div', { class: 'page-head' },
    h('div', null,
      h('p', { class: 'crumbs' }, ctx.user.role === 'commune_worker'
        ? [h('a', { href: '/households' }, t('nav.households')), p.household ? [' / ', h('a', { href: `/households/${p.household.id}` }, t('hh.title', { code: p.household.code }))] : null]
        : h('a', { href: `/patients/${p.id}` }, p.full_name)),
      h('h1', null, t('record.title'))),
    rec.version !== undefined ? h('div', { class: 'head-actions muted small', 'data-testid': 'record-version' }, rec.version ? t('record.version', { v: rec.version }) : t('record.not_saved_yet')) : null),
  patientBanner(p), form);
}

function patientFacts(p) {
  return h('p', { class: 'muted small' }, t('record.identity_from_patient'));
}

function inputFor(def, value, name) {
  const label = t(def.label);
  if (def.type === 'select') {
    return field({ name, label, type: 'select', value: value ?? '', options: [['', t('common.none_selected')], ...def.options.map((o) => [o, t(`${def.label}.${o}`)])] });
  }
  if (def.type === 'checkbox') return field({ name, label, type: 'checkbox' });
  if (def.type === 'partial_date') return field({ name, label, value: value ?? '', maxlength: 10, placeholder: t('phr.partial_date_ph') });
  return field({ name, label, type: def.type || 'text', value: value ?? '', maxlength: def.max || 200, rows: 3, min: def.min, step: def.step });
}

// A section part made of plain fields stored at sectionKey.field.
function objectEditor(sectionKey, part, obj) {
  const fields = part.fields.map((f) => {
    const fld = inputFor(f, getPath(obj, f.key), `${sectionKey}.${f.key}`);
    if (f.type === 'checkbox') fld.input.checked = !!getPath(obj, f.key);
    if (f.wide) fld.classList.add('span-all');
    return [f, fld];
  });
  const el = h('fieldset', { class: 'group' }, h('legend', null, t(part.title)),
    h('div', { class: 'grid grid-3' }, fields.map(([, fld]) => fld)));
  return {
    el,
    write(doc) {
      if (!doc[sectionKey] || typeof doc[sectionKey] !== 'object') doc[sectionKey] = {};
      for (const [f, fld] of fields) {
        const i = fld.input;
        let v;
        if (f.type === 'checkbox') v = i.checked;
        else if (f.type === 'number') v = i.value === '' ? null : Number(i.value);
        else v = i.value.trim() === '' ? null : i.value.trim();
        setPath(doc[sectionKey], f.key, v);
      }
    },
  };
}

// A list of rows (vaccinations, allergies, ...) stored at sectionKey.part.key.
function listEditor(sectionKey, part, rowsIn) {
  const path = `${sectionKey}.${part.key}`;
  const tbody = h('tbody');
  const empty = h('p', { class: 'muted small list-empty' }, t('record.list_empty'));
  const headId = uid('lh');
  const table = h('table', { class: 'table table-compact table-edit', 'aria-labelledby': headId, 'data-testid': `list-${part.key}` },
    h('thead', null, h('tr', null, part.columns.map((c) => h('th', { scope: 'col' }, t(c.label))), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('common.actions'))))),
    tbody);
  let n = 0;
  function addRow(row = {}) {
    n += 1;
    const idx = tbody.children.length;
    const cells = part.columns.map((c) => {
      const label = t(c.label);
      let input;
      const common = { 'aria-label': label, name: `${path}[${idx}].${c.key}`, dataset: { key: c.key } };
      if (c.type === 'select') {
        input = h('select', common, h('option', { value: '' }, '—'), c.options.map((o) => h('option', { value: o, selected: row[c.key] === o }, t(`${c.label}.${o}`))));
      } else {
        const type = c.type === 'partial_date' ? 'text' : (c.type || 'text');
        input = h('input', { ...common, type, value: row[c.key] ?? '', maxlength: c.type === 'partial_date' ? 10 : (c.max || 200), min: c.min, step: c.step,
          placeholder: c.type === 'partial_date' ? t('phr.partial_date_ph') : null, class: c.narrow || c.type === 'number' ? 'narrow' : null });
      }
      return h('td', { class: 'field', dataset: { field: `${path}[${idx}].${c.key}` } }, input, h('p', { class: 'field-error', hidden: true }));
    });
    const tr = h('tr', { dataset: { n: String(n) } }, cells,
      h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'aria-label': t('record.remove_row'), onclick: () => { tr.remove(); renumber(); } }, t('common.remove'))));
    tr.extra = row; // fields of the row this screen does not show are kept
    tbody.append(tr);
    renumber();
    return tr;
  }
  function renumber() {
    Array.from(tbody.children).forEach((tr, i) => {
      for (const td of tr.querySelectorAll('td.field')) {
        const input = td.querySelector('input, select');
        input.name = `${path}[${i}].${input.dataset.key}`;
        td.dataset.field = input.name;
      }
    });
    empty.hidden = tbody.children.length > 0;
    table.hidden = tbody.children.length === 0;
  }
  rowsIn.forEach((r) => addRow(r));
  renumber();
  const addBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': `add-${part.key}`,
    onclick: () => { const tr = addRow(); tr.querySelector('input, select').focus(); } }, '+ ', t(part.add));
  const el = h('fieldset', { class: 'group', dataset: { list: part.key } }, h('legend', { id: headId }, t(part.title)),
    part.hint ? h('p', { class: 'hint' }, t(part.hint)) : null, empty, h('div', { class: 'table-wrap' }, table), addBtn);
  return {
    el,
    write(doc) {
      const rows = Array.from(tbody.children).map((tr) => {
        const r = { ...(tr.extra || {}) };
        for (const input of tr.querySelectorAll('input, select')) {
          const c = part.columns.find((x) => x.key === input.dataset.key);
          const v = input.value.trim();
          r[c.key] = v === '' ? null : (c.type === 'number' ? Number(v) : v);
        }
        return r;
      }).filter((r) => part.columns.some((c) => r[c.key] !== null && r[c.key] !== undefined));
      if (!doc[sectionKey] || typeof doc[sectionKey] !== 'object') doc[sectionKey] = {};
      doc[sectionKey][part.key] = rows;
    },
  };
}

function examinations(ex, ctx) {
  const items = ex ? (Array.isArray(ex) ? ex : ex.items) : null;
  if (!items) return h('p', { class: 'muted' }, t('record.exams_unavailable'));
  if (!items.length) return h('p', { class: 'muted' }, t('history.none'));
  const canOpen = ctx.user.role === 'doctor' || ctx.user.role === 'nurse';
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'examinations' },
    h('thead', null, h('tr', null, [t('history.date'), t('visit.ma_lk'), t('visit.kind'), t('visit.diagnoses'), t('visit.state')].map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', null, items.map((v) => h('tr', null,
      h('td', null, canOpen ? h('a', { href: `/visits/${v.visit_id || v.id}` }, fmtDateTime(visitDate(v))) : fmtDateTime(visitDate(v))),
      h('td', { class: 'mono' }, v.ma_lk || ''),
      h('td', null, v.kind ? t('visit.kind.' + v.kind) : ''),
      h('td', null, (v.diagnoses || []).map((d) => h('div', null, h('span', { class: 'mono strong' }, d.icd10), ' ', d.name || '', d.primary ? h('span', { class: 'muted small' }, ` (${t('icd.primary')})`) : null))),
      h('td', null, v.state ? stateBadge(v.state) : ''))))));
}

export { errorTitle };
