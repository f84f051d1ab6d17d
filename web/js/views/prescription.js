// The doctor's e-prescription inside the visit form: drug look-up as you
// type, the prescription type, items with quantity, unit, usage and days,
// the limits of TT 26 shown as you type (from GET
// /visits/{id}/prescription-limits), the server's refusal next to the item
// it names; then the issued prescriptions of the visit with their national
// code and the national portal's delivery state, cancel and replace.
import { h, clear } from '../dom.js';
import { get, post, newIdempotencyKey, ApiError } from '../api.js';
import { t, fmtDate, fmtDateTime } from '../i18n.js';
import { alertBox, showAlert, errorTitle } from '../forms.js';
import { RX_TYPES, typeBadge, rxStateBadge, portalState, drugPicker } from './drugs.js';

const POLL_MS = 2500;

export function prescriptionPanel({ visit, closed, canPrescribe, saveVisit }) {
  const editable = canPrescribe && !closed;
  const listBox = h('div', { class: 'rx-list', 'data-testid': 'prescriptions' });
  const listAlert = alertBox();
  let limits = null;
  let timer = null;
  let destroyed = false;

  /* ---- the editor ---- */
  const st = { type: 'C', typeTouched: false, rows: [], replaces: null, key: newIdempotencyKey() };
  const alert = alertBox();
  const typeId = 'rx-type';
  const typeSel = h('select', { id: typeId, 'data-testid': 'rx-type', 'aria-describedby': 'rx-limit' },
    RX_TYPES.map((k) => h('option', { value: k }, `${k} — ${t('rx.type.' + k)}`)));
  const limitText = h('p', { class: 'rx-limit', id: 'rx-limit', 'data-testid': 'rx-limit', 'aria-live': 'polite' });
  const typeWrap = h('div', { class: 'field rx-type-field', dataset: { rxField: 'type' } },
    h('label', { for: typeId }, t('rx.type')), typeSel, limitText, h('p', { class: 'field-error', hidden: true }));
  typeSel.addEventListener('change', () => { st.type = typeSel.value; st.typeTouched = true; renderLimit(); checkRows(true); });

  const picker = drugPicker({
    label: t('rx.add_drug'), testid: 'rx-drug-input', typeFilter: () => st.type,
    onChoose: (d) => addRow({ drug: d, quantity: '', dosage: '', days: '' }, true),
  });
  const rowsBody = h('tbody');
  const table = h('table', { class: 'table table-compact table-edit rx-items', 'data-testid': 'rx-items' },
    h('thead', null, h('tr', null,
      [t('rx.drug'), t('rx.quantity'), t('rx.unit'), t('rx.dosage'), t('rx.days')].map((x) => h('th', { scope: 'col' }, x)),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('common.actions'))))),
    rowsBody);
  const emptyRows = h('p', { class: 'muted small rx-empty' }, t('rx.no_items'));
  const adviceId = 'rx-advice';
  const advice = h('textarea', { id: adviceId, rows: 2, maxlength: 2000, 'data-testid': 'rx-advice' });
  const adviceWrap = h('div', { class: 'field', dataset: { rxField: 'advice' } },
    h('label', { for: adviceId }, t('rx.advice')), advice, h('p', { class: 'field-error', hidden: true }));
  const replacing = h('div', { class: 'alert alert-info rx-replacing', hidden: true, role: 'status' });
  const issueBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'issue-rx' }, t('rx.issue'));
  const resetBtn = h('button', { type: 'button', class: 'btn btn-ghost' }, t('rx.clear'));
  const editor = editable ? h('div', { class: 'rx-editor', 'data-testid': 'rx-form' },
    alert, replacing,
    h('div', { class: 'rx-head' }, typeWrap, picker.el),
    h('div', { class: 'table-wrap' }, table), emptyRows,
    adviceWrap,
    h('div', { class: 'rx-actions' }, h('p', { class: 'muted small' }, t('rx.issue_hint')), resetBtn, issueBtn)) : null;

  // Inside the visit <form>: Enter in a prescription field must not save the visit.
  const el = h('fieldset', { class: 'group rx-panel', 'data-testid': 'rx-panel' },
    h('legend', null, t('rx.title')), listAlert, listBox, editor);
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.tagName === 'INPUT') e.preventDefault();
  });

  function maxDays() {
    return limits && limits.limits && limits.limits[st.type] ? limits.limits[st.type].max_days : null;
  }
  // The limits come from the visit's saved diagnoses; diagnoses changed
  // on screen but not saved yet make them provisional.
  let onScreenDx = null;
  function staleDx() {
    if (!limits || !onScreenDx) return false;
    const saved = (limits.diagnoses || []).map((d) => d.icd10).sort().join();
    return saved !== onScreenDx.slice().sort().join();
  }
  function renderLimit() {
    clear(limitText);
    const m = maxDays();
    if (m == null) return;
    const rule = limits.limits[st.type].rule;
    limitText.append(h('span', { class: 'strong' }, t('rx.limit', { n: m })), ' ',
      h('span', { class: 'muted' }, `(${t('rx.rule.' + rule)})`), ' · ',
      h('span', { class: 'muted' }, t('rx.valid_days', { n: limits.valid_days || 5 })));
    if (staleDx() && saveVisit) {
      limitText.append(h('span', { class: 'rx-stale', 'data-testid': 'rx-limit-stale' },
        t('rx.limits_stale'), ' ',
        h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'rx-recompute', onclick: async (e) => {
          e.target.disabled = true;
          try { await saveVisit(); } catch { e.target.disabled = false; }
        } }, t('rx.recompute'))));
    }
    for (const s of rowsBody.querySelectorAll('.days-limit')) s.textContent = t('rx.days_max', { n: m });
  }

  function fieldCell(name, input, extra) {
    const w = h('div', { class: 'field', dataset: { rxField: name } }, input, extra || null, h('p', { class: 'field-error', hidden: true }));
    return w;
  }

  function addRow(r, focus) {
    if (st.rows.some((x) => x.drug.code === r.drug.code)) {
      showAlert(alert, 'warn', t('rx.duplicate', { name: r.drug.name }));
      return;
    }
    if (!st.rows.length && !st.typeTouched && r.drug.type && !st.replaces) {
      st.type = r.drug.type;
      typeSel.value = st.type;
      renderLimit();
    }
    st.rows.push(r);
    renderRows();
    if (focus) {
      const last = rowsBody.lastElementChild;
      if (last) last.querySelector('input').focus();
    }
  }

  function renderRows() {
    clear(rowsBody);
    emptyRows.hidden = st.rows.length > 0;
    table.hidden = st.rows.length === 0;
    st.rows.forEach((r, i) => {
      const d = r.drug;
      const p = `items[${i}].`;
      const qty = h('input', { type: 'number', min: '1', step: '1', value: r.quantity, class: 'narrow', 'aria-label': `${t('rx.quantity')} — ${d.name}`, 'data-testid': 'rx-qty' });
      const dosage = h('input', { type: 'text', maxlength: 500, value: r.dosage, 'aria-label': `${t('rx.dosage')} — ${d.name}`, placeholder: t('rx.dosage_ph'), 'data-testid': 'rx-dosage' });
      const days = h('input', { type: 'number', min: '1', step: '1', value: r.days, class: 'narrow', 'aria-label': `${t('rx.days')} — ${d.name}`, 'data-testid': 'rx-days' });
      const m = maxDays();
      const limit = h('span', { class: 'days-limit muted small', 'data-testid': 'days-limit' }, m != null ? t('rx.days_max', { n: m }) : '');
      qty.addEventListener('input', () => { r.quantity = qty.value; clearMark(tr, p + 'quantity'); });
      dosage.addEventListener('input', () => { r.dosage = dosage.value; clearMark(tr, p + 'dosage'); });
      days.addEventListener('input', () => { r.days = days.value; checkRow(tr, r, i, true); });
      const tr = h('tr', { dataset: { code: d.code }, 'data-testid': 'rx-row' },
        h('td', { class: 'rx-drug' }, fieldCell(p + 'drug_code',
          h('div', null, h('span', { class: 'strong' }, d.name), ' ', typeBadge(d.type),
            h('div', { class: 'muted small' }, [d.code, d.ingredient, d.strength].filter(Boolean).join(' · '))))),
        h('td', null, fieldCell(p + 'quantity', qty)),
        h('td', null, fieldCell(p + 'unit', h('span', { class: 'rx-unit' }, d.unit || ''))),
        h('td', { class: 'rx-dosage' }, fieldCell(p + 'dosage', dosage)),
        h('td', { class: 'rx-days' }, fieldCell(p + 'days', h('div', { class: 'days-box' }, days, limit))),
        h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'aria-label': t('rx.remove', { name: d.name }),
          onclick: () => { st.rows.splice(i, 1); renderRows(); } }, t('common.remove'))));
      rowsBody.append(tr);
      checkRow(tr, r, i);
    });
  }

  function wrapOf(container, name) {
    return container.querySelector(`[data-rx-field="${CSS.escape(name)}"]`);
  }
  function mark(w, msg, kind = 'error') {
    if (!w) return false;
    w.classList.add('has-error');
    if (kind === 'live') w.classList.add('live');
    const pe = w.querySelector('.field-error');
    pe.textContent = pe.textContent && kind !== 'live' ? `${pe.textContent} ${msg}` : msg;
    pe.hidden = false;
    const i = w.querySelector('input, select, textarea');
    if (i) i.setAttribute('aria-invalid', 'true');
    return true;
  }
  function unmark(w) {
    if (!w) return;
    w.classList.remove('has-error', 'live');
    const pe = w.querySelector('.field-error');
    pe.textContent = '';
    pe.hidden = true;
    const i = w.querySelector('input, select, textarea');
    if (i) i.removeAttribute('aria-invalid');
  }
  function clearMark(tr, name) { unmark(wrapOf(tr, name)); }

  // The limits as you type: days over the type's maximum, a drug whose
  // class belongs on another type. A refusal from the server stays next to
  // its field until the user edits that field: limits refreshed later (the
  // diagnoses saved just before the prescription) must not wipe it.
  function serverMarked(w) { return w && w.classList.contains('has-error') && !w.classList.contains('live'); }
  function checkRow(tr, r, i, typed) {
    const m = maxDays();
    const dw = wrapOf(tr, `items[${i}].days`);
    const n = Number(r.days);
    if (typed || !serverMarked(dw)) {
      unmark(dw);
      if (m != null && r.days !== '' && Number.isFinite(n) && n > m) mark(dw, t('rx.days_over', { n: m, type: st.type }), 'live');
    }
    const cw = wrapOf(tr, `items[${i}].drug_code`);
    if (serverMarked(cw)) return;
    unmark(cw);
    if (r.drug.type && r.drug.type !== st.type) mark(cw, t('rx.wrong_type', { type: r.drug.type, name: t('rx.type.' + r.drug.type) }), 'live');
  }
  function checkRows(typed) {
    Array.from(rowsBody.children).forEach((tr, i) => checkRow(tr, st.rows[i], i, typed));
  }

  function clearErrors() {
    if (!editor) return;
    for (const w of editor.querySelectorAll('.has-error')) unmark(w);
    clear(alert);
    alert.hidden = true;
  }

  function showErrors(err) {
    clearErrors();
    checkRows();
    const rest = [];
    if (err instanceof ApiError) {
      for (const e of err.errors) {
        const w = e.field ? wrapOf(editor, e.field) : null;
        if (w) {
          // the server's reason replaces the live hint
          if (w.classList.contains('live')) unmark(w);
          mark(w, e.message);
        } else if (e.message) rest.push(e.message);
      }
      const title = errorTitle(err);
      showAlert(alert, 'error', err.errors.length ? t('rx.refused') : title,
        rest.length ? h('ul', null, rest.map((m) => h('li', null, m))) : null);
    } else {
      showAlert(alert, 'error', t('error.unexpected'));
      console.error(err);
    }
    const first = editor.querySelector('.has-error input, .has-error select, .has-error textarea');
    if (first) first.focus();
    else alert.focus();
  }

  function reset() {
    st.rows = [];
    st.replaces = null;
    st.typeTouched = false;
    st.key = newIdempotencyKey();
    advice.value = '';
    replacing.hidden = true;
    clearErrors();
    renderRows();
  }
  resetBtn.addEventListener('click', reset);

  issueBtn.addEventListener('click', async () => {
    clearErrors();
    checkRows();
    if (!st.rows.length) { showAlert(alert, 'error', t('rx.no_items')); alert.focus(); return; }
    const body = {
      type: st.type,
      items: st.rows.map((r) => ({
        drug_code: r.drug.code, quantity: intOr(r.quantity), unit: r.drug.unit || undefined,
        dosage: r.dosage.trim(), days: intOr(r.days),
      })),
    };
    if (advice.value.trim()) body.advice = advice.value.trim();
    if (st.replaces) body.replaces = st.replaces;
    issueBtn.disabled = true;
    try {
      // Diagnoses typed in the visit form count for the limits: save them first.
      if (saveVisit) await saveVisit();
      const r = await post(`/visits/${visit.id}/prescriptions`, body, { idempotencyKey: st.key });
      reset();
      showAlert(alert, 'success', t('rx.issued', { code: r.data.code }));
      await loadList(r.data.code);
    } catch (err) {
      st.key = newIdempotencyKey();
      if (err && err.visitSave) { showAlert(alert, 'error', t('rx.visit_not_saved')); alert.focus(); }
      else showErrors(err);
    }
    issueBtn.disabled = false;
  });

  function startReplace(rx) {
    reset();
    st.replaces = rx.code;
    st.type = rx.type;
    st.typeTouched = true;
    typeSel.value = rx.type;
    advice.value = rx.advice || '';
    st.rows = (rx.items || []).map((it) => ({
      drug: { code: it.drug_code, name: it.name || it.drug_code, unit: it.unit, type: rx.type },
      quantity: String(it.quantity ?? ''), dosage: it.dosage || '', days: String(it.days ?? ''),
    }));
    clear(replacing);
    replacing.append(h('p', { class: 'alert-title' }, t('rx.replacing', { code: rx.code })),
      h('p', null, t('rx.replacing_text')));
    replacing.hidden = false;
    renderLimit();
    renderRows();
    editor.scrollIntoView({ block: 'start' });
    const first = rowsBody.querySelector('input');
    if (first) first.focus();
  }

  /* ---- the issued prescriptions ---- */
  function card(rx) {
    const undispensed = (rx.items || []).every((it) => !it.dispensed);
    const canAct = canPrescribe && rx.state === 'active' && undispensed;
    const confirm = h('div', { class: 'confirm-bar', hidden: true, role: 'group', 'aria-label': t('rx.cancel_confirm') });
    const reasonId = `rx-reason-${rx.code}`;
    const reason = h('input', { type: 'text', id: reasonId, maxlength: 500, placeholder: t('rx.cancel_reason_ph') });
    const cancelBtn = h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'cancel-rx' }, t('rx.cancel'));
    const replaceBtn = !closed ? h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': 'replace-rx', onclick: () => startReplace(rx) }, t('rx.replace')) : null;
    confirm.append(h('label', { for: reasonId }, t('rx.cancel_reason')), reason,
      h('button', { type: 'button', class: 'btn btn-danger btn-small', 'data-testid': 'confirm-cancel-rx', onclick: async (e) => {
        e.target.disabled = true;
        try {
          await post(`/prescriptions/${encodeURIComponent(rx.code)}/cancel`, reason.value.trim() ? { reason: reason.value.trim() } : {});
          alert.hidden = true;
          showAlert(listAlert, 'info', t('rx.cancelled', { code: rx.code }));
          await loadList();
        } catch (err) {
          showAlert(listAlert, 'error', errorTitle(err));
          e.target.disabled = false;
        }
      } }, t('rx.cancel_yes')),
      h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => { confirm.hidden = true; cancelBtn.hidden = false; } }, t('common.cancel')));
    cancelBtn.addEventListener('click', () => { confirm.hidden = false; cancelBtn.hidden = true; reason.focus(); });

    return h('article', { class: ['rx-card', rx.state === 'cancelled' && 'rx-card-cancelled'], 'data-testid': 'rx-card', dataset: { code: rx.code } },
      h('div', { class: 'rx-card-head' },
        h('div', null,
          h('p', { class: 'muted small' }, t('rx.national_code')),
          h('p', { class: 'rx-code mono', 'data-testid': 'rx-code' }, rx.code)),
        h('div', { class: 'rx-card-meta' },
          h('p', null, typeBadge(rx.type), ' ', t('rx.type.' + rx.type), ' ', rxStateBadge(rx.state)),
          h('p', { class: 'muted small' }, t('rx.issued_at', { at: fmtDateTime(rx.issued_at) }), ' · ',
            t('rx.valid_until', { date: fmtDate(rx.valid_until) }))),
        rx.portal ? portalState(rx.portal) : null),
      rx.replaces ? h('p', { class: 'small' }, t('rx.replaces', { code: rx.replaces })) : null,
      rx.replaced_by ? h('p', { class: 'small' }, t('rx.replaced_by', { code: rx.replaced_by })) : null,
      rx.state === 'cancelled' && rx.cancel_reason && !rx.replaced_by ? h('p', { class: 'small muted' }, t('rx.cancel_reason'), ': ', rx.cancel_reason) : null,
      h('table', { class: 'table table-compact' },
        h('thead', null, h('tr', null, [t('rx.drug'), t('rx.quantity'), t('rx.dosage'), t('rx.days'), t('rx.dispensed')]
          .map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', null, (rx.items || []).map((it) => h('tr', null,
          h('td', null, it.name || it.drug_code, h('span', { class: 'muted small' }, ` · ${it.drug_code}`)),
          h('td', { class: 'num' }, `${it.quantity} ${it.unit || ''}`),
          h('td', null, it.dosage || ''),
          h('td', { class: 'num' }, String(it.days ?? '')),
          h('td', { class: 'num' }, String(it.dispensed ?? 0)))))),
      canAct ? h('div', { class: 'rx-card-actions' }, replaceBtn, cancelBtn, confirm) : null);
  }

  async function loadList(highlight) {
    if (timer) { clearTimeout(timer); timer = null; }
    let list;
    try {
      const r = await get(`/visits/${visit.id}/prescriptions`);
      list = r.data.items || [];
      const details = await Promise.all(list.map((x) => get(`/prescriptions/${encodeURIComponent(x.code)}`).then((d) => d.data).catch(() => x)));
      if (destroyed) return;
      clear(listBox);
      if (!details.length) {
        if (!editable) listBox.append(h('p', { class: 'muted' }, t('rx.none')));
      } else {
        // newest first, replaced/cancelled after the live ones
        details.sort((a, b) => (a.state === 'cancelled') - (b.state === 'cancelled') || String(b.issued_at).localeCompare(String(a.issued_at)));
        listBox.append(...details.map(card));
        if (highlight) {
          const c = listBox.querySelector(`[data-code="${CSS.escape(highlight)}"]`);
          if (c) c.classList.add('rx-card-new');
        }
      }
      // While a message is on its way to the portal, look again.
      const pending = details.some((x) => x.portal && (x.portal.state === 'queued' || x.portal.state === 'sent') && x.portal.configured !== false);
      if (pending && !destroyed) timer = setTimeout(() => loadList(), POLL_MS);
    } catch (err) {
      if (destroyed) return;
      showAlert(listAlert, 'error', errorTitle(err));
    }
  }

  async function refreshLimits() {
    if (!editable) return;
    try {
      limits = (await get(`/visits/${visit.id}/prescription-limits`)).data;
    } catch { limits = null; }
    if (destroyed) return;
    renderLimit();
    checkRows();
  }

  renderRows();
  loadList();
  refreshLimits();
  return {
    el,
    refreshLimits,
    diagnosesChanged: (codes) => { onScreenDx = codes; renderLimit(); },
    destroy: () => { destroyed = true; if (timer) clearTimeout(timer); picker.destroy(); },
  };
}

function intOr(v) {
  const s = String(v ?? '').trim();
  if (s === '') return null;
  const n = Number(s);
  return Number.isInteger(n) ? n : s;
}
