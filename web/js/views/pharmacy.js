// The pharmacist's screens: look a prescription up by its national code
// (typed or scanned) and dispense all or part of each item (the server picks
// lots first-expiring-first and says which); the stock with its lots, the
// low-stock and near-expiry list, receipts and adjustments.
import { h, clear, debounce } from '../dom.js';
import { get, post, qs, newIdempotencyKey, ApiError } from '../api.js';
import { t, fmtDate, fmtDateTime } from '../i18n.js';
import { field, alertBox, showAlert, errorTitle } from '../forms.js';
import { loading, sexLabel } from './common.js';
import { typeBadge, rxStateBadge, portalState, portalBadge, drugPicker, lotText } from './drugs.js';

const CODE_RE = /^[0-9A-Za-z]{5}[0-9a-z]{7}-[NHCTnhct]$/;

/* ---- look-up (also on the pharmacist's workspace) ---------------------------- */

export function lookupPanel(ctx, { onLookup, initial = '', autofocus = false } = {}) {
  const inputId = 'rx-code-input';
  const input = h('input', {
    id: inputId, type: 'search', autocomplete: 'off', spellcheck: 'false', maxlength: 20, value: initial,
    placeholder: t('disp.code_ph'), 'aria-describedby': 'rx-code-hint', 'data-testid': 'rx-lookup', class: 'mono',
  });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'rx-lookup-go' }, t('disp.lookup'));
  const msg = h('p', { class: 'field-error', id: 'rx-code-err', hidden: true, role: 'alert' });
  const form = h('form', { class: 'lookup-form', novalidate: true },
    h('label', { for: inputId, class: 'label-strong' }, t('disp.code')),
    h('div', { class: 'lookup-row' }, input, btn),
    h('p', { class: 'hint', id: 'rx-code-hint' }, t('disp.code_hint')), msg);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    // Scanners add spaces or line ends; the code's letters keep their case.
    const code = input.value.replace(/\s+/g, '');
    msg.hidden = true;
    if (!CODE_RE.test(code)) {
      msg.textContent = t('disp.code_invalid');
      msg.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    if (onLookup) onLookup(code);
    else ctx.navigate('/dispense' + qs({ code }));
  });
  if (autofocus) setTimeout(() => input.focus(), 0);
  const el = h('section', { class: 'panel', 'aria-labelledby': 'lookup-title' },
    h('h2', { id: 'lookup-title' }, t('disp.lookup_title')), form);
  return { el, input };
}

// The pharmacist's workspace: the look-up, and what needs attention in stock.
export function pharmacistHome(ctx) {
  const p = lookupPanel(ctx, { autofocus: true });
  const alerts = h('section', { class: 'panel', 'aria-labelledby': 'alerts-title', 'data-testid': 'stock-alerts-summary' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'alerts-title' }, t('stock.alerts')),
      h('a', { href: '/stock', class: 'btn btn-secondary' }, t('stock.open'))), loading());
  (async () => {
    try {
      const a = (await get('/stock/alerts')).data;
      alerts.lastChild.remove();
      alerts.append(h('dl', { class: 'facts-row' },
        h('div', null, h('dt', null, t('stock.low')), h('dd', null, String((a.low_stock || []).length))),
        h('div', null, h('dt', null, t('stock.near_expiry')), h('dd', null, String((a.near_expiry || []).length))),
        h('div', null, h('dt', null, t('stock.expired')), h('dd', null, String((a.expired || []).length)))));
    } catch (e) {
      alerts.lastChild.replaceWith(h('p', { class: 'muted' }, errorTitle(e)));
    }
  })();
  return { el: h('div', null, p.el, alerts) };
}

/* ---- dispensing ----------------------------------------------------------------- */

export function dispenseView(main, params, ctx) {
  ctx.setTitle(t('disp.title'));
  const initial = new URLSearchParams(location.search).get('code') || '';
  const result = h('div', { 'data-testid': 'rx-result' });
  let seq = 0;
  const p = lookupPanel(ctx, {
    initial, autofocus: !initial,
    onLookup: (code) => { history.replaceState(null, '', '/dispense' + qs({ code })); load(code); },
  });
  main.append(h('div', { class: 'page-head' }, h('div', null,
    h('h1', null, t('disp.title')), h('p', { class: 'muted' }, t('disp.subtitle')))), p.el, result);

  async function load(code, notice) {
    const mine = ++seq;
    clear(result);
    result.append(loading());
    try {
      const r = await get(`/prescriptions/${encodeURIComponent(code)}`);
      if (mine !== seq || !ctx.isCurrent()) return;
      clear(result);
      result.append(prescriptionView(r.data, { notice, reload: (n) => load(code, n) }));
    } catch (e) {
      if (mine !== seq || !ctx.isCurrent()) return;
      clear(result);
      const status = e instanceof ApiError ? e.status : 0;
      result.append(h('section', { class: 'panel', 'data-testid': 'rx-not-found', dataset: { status: String(status) } },
        h('p', { class: 'alert alert-error', role: 'alert' }, errorTitle(e))));
    }
  }
  if (initial) load(initial.trim());
}

// Whole days from today to a YYYY-MM-DD date (calendar days, not hours).
function dateDiff(ymd) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(ymd || '');
  if (!m) return null;
  const now = new Date();
  return Math.round((Date.UTC(+m[1], +m[2] - 1, +m[3]) - Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())) / 86400000);
}
const daysLeft = dateDiff;

function prescriptionView(rx, { notice, reload }) {
  const alert = alertBox();
  const pt = rx.patient || {};
  const open = rx.state === 'active' || rx.state === 'partially_dispensed';
  const left = daysLeft(rx.valid_until);
  const head = h('section', { class: 'patient-banner rx-banner', 'aria-label': t('disp.prescription') },
    h('div', { class: 'pb-main' },
      h('p', { class: 'muted small' }, t('rx.national_code')),
      h('p', { class: 'rx-code mono', 'data-testid': 'rx-code' }, rx.code),
      h('p', { class: 'pb-name', 'data-testid': 'patient-name' }, pt.name || ''),
      h('p', { class: 'pb-meta' }, [sexLabel(pt.sex), pt.birth_date, pt.card_number ? `${t('card.number')} ${pt.card_number}` : null].filter(Boolean).join(' · '))),
    h('div', { class: 'pb-side' },
      h('p', null, typeBadge(rx.type), ' ', t('rx.type.' + rx.type), ' ', rxStateBadge(rx.state)),
      h('p', { class: 'muted small' }, t('rx.issued_at', { at: fmtDateTime(rx.issued_at) }),
        rx.doctor && rx.doctor.name ? ` · ${rx.doctor.name}` : '', ` · ${rx.issuer_facility_code}`),
      h('p', { class: left != null && left < 0 ? 'strong text-danger' : 'small', 'data-testid': 'rx-validity' },
        t('rx.valid_until', { date: fmtDate(rx.valid_until) }),
        left != null && left >= 0 ? ` · ${t('disp.days_left', { n: left })}` : '')));

  const dx = (rx.diagnoses || []).map((d) => [d.icd10, d.name].filter(Boolean).join(' — ')).join('; ');
  const facts = h('dl', { class: 'facts-row rx-facts' },
    dx ? h('div', null, h('dt', null, t('visit.diagnoses')), h('dd', null, dx)) : null,
    rx.advice ? h('div', null, h('dt', null, t('rx.advice')), h('dd', null, rx.advice)) : null,
    rx.origin === 'portal' ? h('div', null, h('dt', null, t('disp.origin')), h('dd', null, t('disp.origin_portal'))) : null);

  const inputs = new Map();
  const rows = (rx.items || []).map((it) => {
    const remaining = it.remaining ?? (it.quantity - (it.dispensed || 0));
    const inp = h('input', {
      type: 'number', min: '0', max: String(remaining), step: '1', value: open && remaining > 0 ? String(remaining) : '0',
      class: 'narrow', disabled: !open || remaining <= 0, 'aria-label': `${t('disp.now')} — ${it.name || it.drug_code}`, 'data-testid': 'disp-qty',
    });
    const err = h('p', { class: 'field-error', hidden: true });
    inputs.set(it.drug_code, { inp, err, remaining, wrap: null });
    const wrap = h('div', { class: 'field' }, inp, err);
    inputs.get(it.drug_code).wrap = wrap;
    return h('tr', { dataset: { code: it.drug_code }, 'data-testid': 'disp-row' },
      h('td', null, h('span', { class: 'strong' }, it.name || it.drug_code), h('div', { class: 'muted small' }, it.drug_code)),
      h('td', null, it.dosage || ''),
      h('td', { class: 'num', 'data-testid': 'prescribed' }, String(it.quantity)),
      h('td', { class: 'num', 'data-testid': 'dispensed' }, String(it.dispensed || 0)),
      h('td', { class: ['num', 'strong'], 'data-testid': 'remaining' }, String(remaining)),
      h('td', null, it.unit || ''),
      h('td', null, wrap));
  });
  const table = h('table', { class: 'table table-edit', 'data-testid': 'disp-items' },
    h('thead', null, h('tr', null, [[t('rx.drug')], [t('rx.dosage')], [t('disp.prescribed'), 1], [t('disp.dispensed'), 1], [t('disp.remaining'), 1], [t('rx.unit')], [t('disp.now')]]
      .map(([x, num]) => h('th', { scope: 'col', class: num ? 'num' : null }, x)))),
    h('tbody', null, rows));

  let key = newIdempotencyKey();
  const go = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'dispense', disabled: !open }, t('disp.dispense'));
  const allBtn = h('button', { type: 'button', class: 'btn btn-secondary', disabled: !open, onclick: () => {
    for (const v of inputs.values()) if (!v.inp.disabled) v.inp.value = String(v.remaining);
  } }, t('disp.fill_all'));
  go.addEventListener('click', async () => {
    for (const v of inputs.values()) { v.wrap.classList.remove('has-error'); v.err.hidden = true; v.inp.removeAttribute('aria-invalid'); }
    alert.hidden = true;
    const items = [];
    for (const [code, v] of inputs) {
      const n = Number(v.inp.value || 0);
      if (!Number.isInteger(n) || n < 0) { markRow(v, t('disp.bad_qty')); return; }
      if (n > v.remaining) { markRow(v, t('disp.over_remaining', { n: v.remaining })); return; }
      if (n > 0) items.push({ drug_code: code, quantity: n });
    }
    if (!items.length) { showAlert(alert, 'error', t('disp.nothing')); alert.focus(); return; }
    go.disabled = true;
    try {
      const r = await post(`/prescriptions/${encodeURIComponent(rx.code)}/dispensings`, { items }, { idempotencyKey: key });
      reload(r.data);
    } catch (e) {
      key = newIdempotencyKey();
      const rest = [];
      if (e instanceof ApiError) {
        for (const fe of e.errors) {
          const m = /^items\[(\d+)\]\./.exec(fe.field || '');
          const v = m && items[Number(m[1])] ? inputs.get(items[Number(m[1])].drug_code) : null;
          if (v) markRow(v, fe.message); else rest.push(fe.message);
        }
      }
      showAlert(alert, 'error', e instanceof ApiError && e.errors.length ? t('disp.refused') : errorTitle(e),
        rest.length ? h('ul', null, rest.map((x) => h('li', null, x))) : null);
      go.disabled = false;
    }
  });
  function markRow(v, msg) {
    v.wrap.classList.add('has-error');
    v.err.textContent = msg;
    v.err.hidden = false;
    v.inp.setAttribute('aria-invalid', 'true');
    v.inp.focus();
  }

  const done = notice ? h('div', { class: 'alert alert-success', role: 'status', 'data-testid': 'disp-done' },
    h('p', { class: 'alert-title' }, t('disp.done', { invoice: notice.invoice_code })),
    h('ul', null, (notice.lines || []).map((l) => h('li', { 'data-testid': 'disp-line' },
      `${nameOf(rx, l.drug_code)}: `, lotText(l))))) : null;

  // Each dispensing is an invoice pushed to the national pharmacy portal.
  const portalCells = new Map();
  const history = (rx.dispensings || []).length ? h('section', { class: 'panel', 'data-testid': 'disp-history' },
    h('h2', null, t('disp.history')),
    h('table', { class: 'table table-compact' },
      h('thead', null, h('tr', null, [t('disp.invoice'), t('disp.when'), t('rx.drug'), t('stock.lot'), t('stock.expiry'), t('rx.quantity'), t('disp.pharmacy_portal')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, rx.dispensings.flatMap((d) => (d.lines || []).map((l, i) => {
        const pc = i === 0 ? h('td', { rowspan: String((d.lines || []).length), 'data-testid': 'invoice-portal', dataset: { invoice: d.invoice_code } }) : null;
        if (pc) portalCells.set(d.invoice_code, pc);
        return h('tr', null,
          h('td', { class: 'mono' }, i === 0 ? d.invoice_code : ''),
          h('td', null, i === 0 ? fmtDateTime(d.dispensed_at) : ''),
          h('td', null, nameOf(rx, l.drug_code)),
          h('td', { class: 'mono' }, l.lot),
          h('td', null, fmtDate(l.expiry)),
          h('td', { class: 'num' }, String(l.quantity)), pc);
      }))))) : null;
  if (portalCells.size) {
    (async () => {
      try {
        const r = (await get('/outbox' + qs({ target: 'pharmacy-portal', limit: 200 }))).data;
        for (const row of r.items || []) {
          const cell = portalCells.get(row.key);
          if (cell) { clear(cell); cell.dataset.state = row.state; cell.append(portalBadge(row)); }
        }
      } catch { /* the delivery state is a convenience here */ }
    })();
  }

  const closedNote = !open ? h('p', { class: 'alert alert-info', role: 'status', 'data-testid': 'rx-closed' }, t('disp.closed.' + rx.state)) : null;
  return h('div', null, done, head, facts.children.length ? facts : null,
    h('section', { class: 'panel', 'aria-labelledby': 'disp-items-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'disp-items-title' }, t('disp.items')),
        rx.portal ? portalState(rx.portal) : null),
      alert, closedNote, h('div', { class: 'table-wrap' }, table),
      open ? h('div', { class: 'form-actions' }, h('p', { class: 'muted small save-status' }, t('disp.fefo_hint')), allBtn, go) : null),
    history);
}

function nameOf(rx, code) {
  const it = (rx.items || []).find((x) => x.drug_code === code);
  return it ? (it.name || code) : code;
}

/* ---- stock ------------------------------------------------------------------------ */

export function stockView(main, params, ctx) {
  ctx.setTitle(t('stock.title'));
  const alertsBox = h('div', null, loading());
  const listBox = h('div', null, loading());
  const searchId = 'stock-search';
  const search = h('input', { id: searchId, type: 'search', autocomplete: 'off', placeholder: t('stock.search_ph'), 'data-testid': 'stock-search' });
  let ctl = null;

  async function loadAlerts() {
    try {
      const a = (await get('/stock/alerts')).data;
      if (!ctx.isCurrent()) return;
      clear(alertsBox);
      alertsBox.append(alertsPanel(a));
    } catch (e) { clear(alertsBox); alertsBox.append(h('p', { class: 'muted' }, errorTitle(e))); }
  }
  async function loadList() {
    if (ctl) ctl.abort();
    ctl = new AbortController();
    try {
      const r = (await get('/stock' + qs({ q: search.value.trim(), limit: 200 }), { signal: ctl.signal })).data;
      if (!ctx.isCurrent()) return;
      clear(listBox);
      listBox.append(stockTable(r));
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(listBox);
      listBox.append(h('p', { class: 'muted' }, errorTitle(e)));
    }
  }
  const later = debounce(loadList, 250);
  search.addEventListener('input', later);
  const refresh = () => { loadAlerts(); loadList(); };

  const receipt = receiptForm(refresh);
  const adjust = adjustForm(refresh);
  main.append(h('div', { class: 'page-head' }, h('div', null,
    h('h1', null, t('stock.title')), h('p', { class: 'muted' }, t('stock.subtitle')))),
  h('section', { class: 'panel', 'aria-labelledby': 'stock-alerts-title', 'data-testid': 'stock-alerts' },
    h('h2', { id: 'stock-alerts-title' }, t('stock.alerts')), alertsBox),
  h('div', { class: 'stock-forms' }, receipt.el, adjust.el),
  h('section', { class: 'panel', 'aria-labelledby': 'stock-list-title' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'stock-list-title' }, t('stock.list')),
      h('div', { class: 'stock-search' }, h('label', { for: searchId, class: 'sr-only' }, t('stock.search')), search)),
    listBox));
  refresh();
  return () => { later.cancel(); if (ctl) ctl.abort(); receipt.destroy(); adjust.destroy(); };
}

function alertsPanel(a) {
  const list = (title, items, row, testid, empty) => h('div', { class: 'alert-col', 'data-testid': testid },
    h('h3', null, title, ' ', h('span', { class: 'badge' }, String(items.length))),
    items.length ? h('ul', { class: 'plain-list' }, items.slice(0, 12).map(row)) : h('p', { class: 'muted small' }, empty),
    items.length > 12 ? h('p', { class: 'muted small' }, t('stock.more', { n: items.length - 12 })) : null);
  return h('div', { class: 'alert-cols' },
    list(t('stock.low_title', { n: a.low_below }), a.low_stock || [], (x) => h('li', { dataset: { code: x.drug_code } },
      h('span', null, x.name), ' ', h('span', { class: 'badge badge-warn' }, `${x.quantity} ${x.unit || ''}`)), 'low-stock', t('stock.none')),
    list(t('stock.near_title', { n: a.expiring_within_days }), a.near_expiry || [], (x) => h('li', { dataset: { code: x.drug_code, lot: x.lot } },
      h('span', null, x.name), h('span', { class: 'muted small' }, ` · ${t('stock.lot')} ${x.lot} · ${fmtDate(x.expiry)} · ${x.quantity}`), ' ',
      h('span', { class: 'badge badge-warn' }, t('stock.days_left', { n: x.days_left }))), 'near-expiry', t('stock.none')),
    list(t('stock.expired_title'), a.expired || [], (x) => h('li', { dataset: { code: x.drug_code, lot: x.lot } },
      h('span', null, x.name), h('span', { class: 'muted small' }, ` · ${t('stock.lot')} ${x.lot} · ${fmtDate(x.expiry)} · ${x.quantity}`), ' ',
      h('span', { class: 'badge badge-danger' }, t('stock.expired_badge'))), 'expired', t('stock.none')));
}

function stockTable(r) {
  const items = r.items || [];
  if (!items.length) return h('p', { class: 'muted' }, t('stock.empty'));
  return h('div', { class: 'table-wrap' }, h('p', { class: 'muted small' }, t('stock.count', { n: r.total ?? items.length })),
    h('table', { class: 'table', 'data-testid': 'stock-table' },
      h('thead', null, h('tr', null, [t('rx.drug'), t('rx.unit'), t('stock.usable'), t('stock.expired_qty'), t('stock.lots')].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', null, items.map((d) => h('tr', { dataset: { code: d.drug_code } },
        h('td', null, h('span', { class: 'strong' }, d.name), ' ', typeBadge(rxType(d.rx_class)), h('div', { class: 'muted small' }, d.drug_code)),
        h('td', null, d.unit || ''),
        h('td', { class: 'num strong', 'data-testid': 'usable' }, String(d.quantity)),
        h('td', { class: 'num' }, d.expired_quantity ? h('span', { class: 'text-danger' }, String(d.expired_quantity)) : '0'),
        h('td', null, h('ul', { class: 'lot-list' }, (d.lots || []).map((l) => {
          const days = dateDiff(l.expiry);
          return h('li', { dataset: { lot: l.lot } }, h('span', { class: 'mono' }, l.lot), ` · ${t('stock.hsd')} ${fmtDate(l.expiry)} · `,
            h('span', { class: 'strong' }, String(l.quantity)),
            l.expired ? [' ', h('span', { class: 'badge badge-danger' }, t('stock.expired_badge'))]
              : days <= 90 ? [' ', h('span', { class: 'badge badge-warn' }, t('stock.days_left', { n: days }))] : null);
        }))))))));
}

function rxType(cls) {
  return { narcotic: 'N', psychotropic: 'H', herbal: 'T' }[cls] || 'C';
}

function fieldErrorsInto(container, alert, err, prefix = '') {
  for (const w of container.querySelectorAll('.has-error')) {
    w.classList.remove('has-error');
    const pe = w.querySelector('.field-error');
    if (pe) { pe.hidden = true; pe.textContent = ''; }
  }
  if (!err) { alert.hidden = true; return; }
  const rest = [];
  if (err instanceof ApiError) {
    for (const e of err.errors) {
      const w = e.field ? container.querySelector(`[data-sf="${CSS.escape(prefix + e.field)}"]`) : null;
      if (w) {
        w.classList.add('has-error');
        const pe = w.querySelector('.field-error');
        pe.textContent = e.message;
        pe.hidden = false;
      } else rest.push(e.field && !/^items/.test(e.field) ? `${e.field}: ${e.message}` : e.message);
    }
  }
  showAlert(alert, 'error', err instanceof ApiError && err.errors.length ? t('error.check_fields') : errorTitle(err),
    rest.length ? h('ul', null, rest.map((x) => h('li', null, x))) : null);
}

function cell(name, input) {
  return h('div', { class: 'field', dataset: { sf: name } }, input, h('p', { class: 'field-error', hidden: true }));
}

function receiptForm(onDone) {
  const alert = alertBox();
  const rows = [];
  const body = h('tbody');
  const supplier = field({ name: 'supplier', label: t('stock.supplier'), maxlength: 200 });
  const note = field({ name: 'note', label: t('stock.note'), maxlength: 500 });
  const table = h('table', { class: 'table table-compact table-edit', 'data-testid': 'receipt-items', hidden: true },
    h('thead', null, h('tr', null, [t('rx.drug'), t('stock.lot'), t('stock.expiry'), t('rx.quantity'), t('stock.unit_price')].map((x) => h('th', { scope: 'col' }, x)),
      h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, t('common.actions'))))), body);
  const picker = drugPicker({ label: t('stock.add_drug'), testid: 'receipt-drug-input', onChoose: (d) => { rows.push({ drug: d }); render(); body.lastElementChild.querySelector('input').focus(); } });
  function render() {
    clear(body);
    table.hidden = rows.length === 0;
    rows.forEach((r, i) => {
      const p = `items[${i}].`;
      r.lot = r.lot || h('input', { type: 'text', maxlength: 50, class: 'mono', 'aria-label': `${t('stock.lot')} — ${r.drug.name}`, 'data-testid': 'receipt-lot' });
      r.expiry = r.expiry || h('input', { type: 'date', 'aria-label': `${t('stock.expiry')} — ${r.drug.name}`, 'data-testid': 'receipt-expiry' });
      r.qty = r.qty || h('input', { type: 'number', min: '1', step: '1', class: 'narrow', 'aria-label': `${t('rx.quantity')} — ${r.drug.name}`, 'data-testid': 'receipt-qty' });
      r.price = r.price || h('input', { type: 'number', min: '0', step: 'any', class: 'narrow', value: r.drug.insurance_price ?? '', 'aria-label': `${t('stock.unit_price')} — ${r.drug.name}` });
      body.append(h('tr', { dataset: { code: r.drug.code } },
        h('td', null, cell(p + 'drug_code', h('span', null, h('span', { class: 'strong' }, r.drug.name), h('span', { class: 'muted small' }, ` · ${r.drug.unit || ''}`)))),
        h('td', null, cell(p + 'lot', r.lot)), h('td', null, cell(p + 'expiry', r.expiry)),
        h('td', null, cell(p + 'quantity', r.qty)), h('td', null, cell(p + 'unit_price', r.price)),
        h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => { rows.splice(i, 1); render(); } }, t('common.remove')))));
    });
  }
  let key = newIdempotencyKey();
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-receipt' }, t('stock.save_receipt'));
  const form = h('form', { class: 'form', novalidate: true }, alert,
    h('div', { class: 'grid grid-3' }, supplier, note), picker.el, h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'form-actions' }, save));
  form.addEventListener('keydown', (e) => { if (e.key === 'Enter' && e.target.tagName === 'INPUT') e.preventDefault(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    fieldErrorsInto(form, alert, null);
    if (!rows.length) { showAlert(alert, 'error', t('stock.no_rows')); return; }
    const b = {
      supplier: supplier.input.value.trim() || undefined, note: note.input.value.trim() || undefined,
      items: rows.map((r) => ({
        drug_code: r.drug.code, lot: r.lot.value.trim(), expiry: r.expiry.value,
        quantity: r.qty.value === '' ? null : Number(r.qty.value), unit_price: r.price.value === '' ? undefined : Number(r.price.value),
      })),
    };
    save.disabled = true;
    try {
      const r = await post('/stock/receipts', b, { idempotencyKey: key });
      key = newIdempotencyKey();
      rows.length = 0;
      render();
      supplier.input.value = '';
      note.input.value = '';
      showAlert(alert, 'success', t('stock.received', { code: r.data.code, n: (r.data.items || []).length }));
      onDone();
    } catch (err) {
      key = newIdempotencyKey();
      fieldErrorsInto(form, alert, err);
    }
    save.disabled = false;
  });
  return {
    el: h('section', { class: 'panel', 'aria-labelledby': 'receipt-title', 'data-testid': 'receipt-form' },
      h('h2', { id: 'receipt-title' }, t('stock.receipt')), h('p', { class: 'muted small' }, t('stock.receipt_hint')), form),
    destroy: picker.destroy,
  };
}

const REASONS = ['count_correction', 'damaged', 'expired', 'lost', 'returned_to_supplier', 'other'];

function adjustForm(onDone) {
  const alert = alertBox();
  let drug = null;
  const chosen = h('p', { class: 'strong adj-drug' });
  const lotSel = h('select', { id: 'adj-lot', 'data-testid': 'adj-lot' });
  const qty = h('input', { id: 'adj-qty', type: 'number', step: '1', class: 'narrow', 'data-testid': 'adj-qty' });
  const reason = h('select', { id: 'adj-reason', 'data-testid': 'adj-reason' }, REASONS.map((r) => h('option', { value: r }, t('stock.reason.' + r))));
  const note = h('input', { id: 'adj-note', type: 'text', maxlength: 500 });
  const lab = (id, text, input, name) => h('div', { class: 'field', dataset: { sf: name } }, h('label', { for: id }, text), input, h('p', { class: 'field-error', hidden: true }));
  const fields = h('div', { class: 'grid grid-4', hidden: true },
    lab('adj-lot', t('stock.lot'), lotSel, 'items[0].lot'), lab('adj-qty', t('stock.delta'), qty, 'items[0].quantity'),
    lab('adj-reason', t('stock.reason'), reason, 'items[0].reason'), lab('adj-note', t('stock.note'), note, 'items[0].note'));
  const picker = drugPicker({ label: t('stock.adjust_drug'), testid: 'adj-drug-input', onChoose: async (d) => {
    drug = d;
    chosen.textContent = `${d.name} (${d.code})`;
    clear(lotSel);
    try {
      const r = (await get('/stock' + qs({ drug_code: d.code, include_empty: 'true' }))).data;
      const lots = (r.items[0] && r.items[0].lots) || [];
      for (const l of lots) lotSel.append(h('option', { value: l.lot }, `${l.lot} · ${t('stock.hsd')} ${fmtDate(l.expiry)} · ${l.quantity}`));
      if (!lots.length) lotSel.append(h('option', { value: '' }, t('stock.no_lots')));
    } catch (e) { showAlert(alert, 'error', errorTitle(e)); }
    fields.hidden = false;
    qty.focus();
  } });
  let key = newIdempotencyKey();
  const save = h('button', { type: 'submit', class: 'btn btn-secondary', 'data-testid': 'save-adjust' }, t('stock.save_adjust'));
  const form = h('form', { class: 'form', novalidate: true }, alert, picker.el, chosen, fields, h('div', { class: 'form-actions' }, save));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    fieldErrorsInto(form, alert, null);
    if (!drug) { showAlert(alert, 'error', t('stock.choose_drug')); return; }
    save.disabled = true;
    try {
      await post('/stock/adjustments', { items: [{ drug_code: drug.code, lot: lotSel.value, quantity: qty.value === '' ? null : Number(qty.value), reason: reason.value, note: note.value.trim() || undefined }] }, { idempotencyKey: key });
      key = newIdempotencyKey();
      showAlert(alert, 'success', t('stock.adjusted', { lot: lotSel.value }));
      qty.value = '';
      note.value = '';
      onDone();
    } catch (err) {
      key = newIdempotencyKey();
      fieldErrorsInto(form, alert, err);
    }
    save.disabled = false;
  });
  return {
    el: h('section', { class: 'panel', 'aria-labelledby': 'adjust-title', 'data-testid': 'adjust-form' },
      h('h2', { id: 'adjust-title' }, t('stock.adjust')), h('p', { class: 'muted small' }, t('stock.adjust_hint')), form),
    destroy: picker.destroy,
  };
}
