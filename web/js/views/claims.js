// The claims officer's screens: build a month's batch, the month overview
// (visits, amounts by payer, ready/invalid/sent/accepted/rejected), each
// visit's validation result (visit, table, field, rule) or the portal's
// answer (transaction code, refusal codes), rebuild after a fix, submit, and
// the drill-down to one visit's claim tables.
import { h, clear } from '../dom.js';
import { get, post, qs, newIdempotencyKey, ApiError } from '../api.js';
import { t, getLang, fmtDateTime } from '../i18n.js';
import { alertBox, showAlert, errorTitle } from '../forms.js';
import { loading, loadError } from './common.js';

const STATES = ['ready', 'invalid', 'sent', 'accepted', 'rejected'];
const POLL_MS = 2000;

// Decimal strings from the API ("1234567.50") shown with the language's
// separators, without passing through floating point.
export function fmtMoney(s) {
  if (s === null || s === undefined || s === '') return '';
  const str = String(s);
  const neg = str.startsWith('-');
  const [i, f = ''] = (neg ? str.slice(1) : str).split('.');
  const en = getLang() === 'en';
  const grouped = i.replace(/\B(?=(\d{3})+(?!\d))/g, en ? ',' : '.');
  const frac = f.replace(/0+$/, '');
  return (neg ? '-' : '') + grouped + (frac ? (en ? '.' : ',') + f.padEnd(2, '0').slice(0, Math.max(2, frac.length)) : '');
}

export function claimStateBadge(state) {
  const cls = { ready: 'badge-open', invalid: 'badge-danger', sent: 'badge-warn', accepted: 'badge-ok', rejected: 'badge-danger' }[state] || '';
  return h('span', { class: ['badge', cls], 'data-testid': 'claim-state', dataset: { state } }, t('claims.state.' + state));
}

function prevMonth() {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() - 1);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

function monthLabel(m) {
  const x = /^(\d{4})-(\d{2})$/.exec(m || '');
  return x ? t('claims.month_label', { m: x[2], y: x[1] }) : (m || '');
}

/* ---- the batches and the build form (also the officer's workspace) --------------- */

export function claimsHome(ctx) {
  const alert = alertBox();
  const monthId = 'claims-month';
  const month = h('input', { id: monthId, type: 'month', value: prevMonth(), required: true, 'data-testid': 'claims-month', 'aria-describedby': 'claims-month-hint' });
  const err = h('p', { class: 'field-error', hidden: true });
  const build = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'build-batch' }, t('claims.build'));
  const form = h('form', { class: 'inline-form', novalidate: true },
    h('div', { class: 'field', dataset: { field: 'month' } }, h('label', { for: monthId }, t('claims.month')), month, err), build);
  const list = h('div', null, loading());
  let batches = [];
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    alert.hidden = true;
    if (!/^\d{4}-\d{2}$/.test(month.value)) { err.textContent = t('claims.month_invalid'); err.hidden = false; month.focus(); return; }
    build.disabled = true;
    showAlert(alert, 'info', t('claims.building'));
    try {
      const r = await post('/claims/batches', { month: month.value, facility: ctx.user.facility?.code }, { idempotencyKey: newIdempotencyKey() });
      ctx.navigate(`/claims/batches/${r.data.id}`);
    } catch (e2) {
      build.disabled = false;
      if (e2 instanceof ApiError && e2.status === 409) {
        const b = batches.find((x) => x.month === month.value);
        showAlert(alert, 'warn', t('claims.exists'), b ? h('p', null, h('a', { href: `/claims/batches/${b.id}` }, t('claims.open_existing', { month: monthLabel(b.month) }))) : null);
      } else {
        const fe = e2 instanceof ApiError ? e2.errors.find((x) => x.field === 'month' || x.field === 'facility') : null;
        if (fe) { err.textContent = fe.message; err.hidden = false; alert.hidden = true; } else showAlert(alert, 'error', errorTitle(e2));
      }
    }
  });
  (async () => {
    try {
      batches = (await get('/claims/batches')).data.items || [];
      clear(list);
      if (!batches.length) { list.append(h('p', { class: 'muted' }, t('claims.no_batches'))); return; }
      list.append(h('table', { class: 'table table-hover', 'data-testid': 'batches' },
        h('thead', null, h('tr', null, [t('claims.month'), t('claims.visits'), t('claims.state.invalid'), t('claims.state.accepted')].map((x, i) => h('th', { scope: 'col', class: i ? 'num' : null }, x)))),
        h('tbody', null, batches.map((b) => h('tr', { dataset: { month: b.month } },
          h('td', null, h('a', { href: `/claims/batches/${b.id}`, class: 'strong' }, monthLabel(b.month))),
          h('td', { class: 'num' }, String(b.visits)),
          h('td', { class: 'num' }, b.invalid ? h('span', { class: 'badge badge-danger' }, String(b.invalid)) : '0'),
          h('td', { class: 'num' }, String(b.accepted)))))));
    } catch (e2) { clear(list); list.append(h('p', { class: 'muted' }, errorTitle(e2))); }
  })();
  const el = h('div', null,
    h('section', { class: 'panel', 'aria-labelledby': 'build-title' },
      h('h2', { id: 'build-title' }, t('claims.build_title')),
      h('p', { class: 'muted small', id: 'claims-month-hint' }, t('claims.build_hint')), alert, form),
    h('section', { class: 'panel', 'aria-labelledby': 'batches-title' }, h('h2', { id: 'batches-title' }, t('claims.batches')), list));
  return { el };
}

export function overviewView(main, params, ctx) {
  ctx.setTitle(t('claims.title'));
  main.append(h('div', { class: 'page-head' }, h('div', null, h('h1', null, t('claims.title')), h('p', { class: 'muted' }, t('claims.subtitle')))),
    claimsHome(ctx).el);
}

/* ---- one month's batch ------------------------------------------------------------ */

export async function batchView(main, params, ctx) {
  const id = encodeURIComponent(params.id);
  const filter = new URLSearchParams(location.search).get('state') || '';
  let timer = null;
  let first = true;
  const alert = alertBox();
  const body = h('div');
  main.append(loading());

  async function load() {
    if (timer) { clearTimeout(timer); timer = null; }
    let b;
    try {
      b = (await get(`/claims/batches/${id}` + qs({ limit: 200, state: filter || undefined }))).data;
    } catch (e) {
      if (ctx.isCurrent()) { if (first) loadError(main, e); else showAlert(alert, 'error', errorTitle(e)); }
      return;
    }
    if (!ctx.isCurrent()) return;
    if (first) {
      clear(main);
      ctx.setTitle(`${t('claims.batch')} ${monthLabel(b.month)}`);
      main.append(h('div', { class: 'page-head' },
        h('div', null, h('p', { class: 'crumbs' }, h('a', { href: '/claims' }, t('nav.claims'))),
          h('h1', null, t('claims.batch'), ' ', monthLabel(b.month)),
          h('p', { class: 'muted' }, `${t('claims.facility')} ${b.facility}`)),
        actions), alert, body);
      first = false;
    }
    render(b);
    // While claims are on their way to the portal, look again.
    if (b.counts.sent > 0 && b.portal && b.portal.configured) timer = setTimeout(load, POLL_MS);
  }

  const rebuildBtn = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'rebuild' }, t('claims.rebuild'));
  const submitBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'submit-batch' }, t('claims.submit'));
  const fileLink = h('a', { href: `/api/v1/claims/batches/${id}/file`, class: 'btn btn-ghost', download: '', 'data-testid': 'batch-file' }, t('claims.file'));
  const confirm = h('div', { class: 'confirm-bar', hidden: true, role: 'group', 'aria-label': t('claims.submit') },
    h('p', { 'data-testid': 'submit-confirm-text' }),
    h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-testid': 'confirm-submit' }, t('claims.submit_yes')),
    h('button', { type: 'button', class: 'btn btn-ghost btn-small' }, t('common.cancel')));
  const actions = h('div', { class: 'head-actions' }, fileLink, rebuildBtn, submitBtn, confirm);
  let last = null;

  rebuildBtn.addEventListener('click', async () => {
    rebuildBtn.disabled = true;
    showAlert(alert, 'info', t('claims.rebuilding'));
    try {
      await post(`/claims/batches/${id}/rebuild`, {});
      showAlert(alert, 'success', t('claims.rebuilt'));
      await load();
    } catch (e) { showAlert(alert, 'error', errorTitle(e)); }
    rebuildBtn.disabled = false;
  });
  submitBtn.addEventListener('click', () => {
    confirm.querySelector('p').textContent = t('claims.submit_confirm', { n: last ? last.counts.ready : 0 });
    confirm.hidden = false;
    submitBtn.hidden = true;
    confirm.querySelector('.btn-primary').focus();
  });
  confirm.querySelector('.btn-ghost').addEventListener('click', () => { confirm.hidden = true; submitBtn.hidden = false; });
  confirm.querySelector('.btn-primary').addEventListener('click', async (e) => {
    e.target.disabled = true;
    try {
      const r = (await post(`/claims/batches/${id}/submit`, {})).data;
      const parts = [t('claims.submitted', { n: r.queued })];
      if (r.skipped_invalid) parts.push(t('claims.skipped_invalid', { n: r.skipped_invalid }));
      if (r.skipped_rejected) parts.push(t('claims.skipped_rejected', { n: r.skipped_rejected }));
      showAlert(alert, r.queued ? 'success' : 'info', parts.join(' '), r.portal_configured ? null : h('p', null, t('claims.portal_not_configured')));
      await load();
    } catch (err) { showAlert(alert, 'error', errorTitle(err)); }
    e.target.disabled = false;
    confirm.hidden = true;
    submitBtn.hidden = false;
  });

  function render(b) {
    last = b;
    clear(body);
    const c = b.counts;
    submitBtn.disabled = !c.ready;
    const a = b.amounts || {};
    const count = (st) => h('a', {
      href: `/claims/batches/${id}` + (filter === st ? '' : qs({ state: st })),
      class: ['count-card', `count-${st}`, filter === st && 'active'], 'data-testid': `count-${st}`, dataset: { n: String(c[st]) },
      'aria-current': filter === st ? 'true' : null,
    }, h('span', { class: 'count-n' }, String(c[st])), h('span', { class: 'count-label' }, t('claims.state.' + st)));
    body.append(
      h('section', { class: 'panel', 'aria-labelledby': 'overview-title', 'data-testid': 'batch-overview' },
        h('div', { class: 'panel-head' }, h('h2', { id: 'overview-title' }, t('claims.overview')),
          h('p', { class: 'muted small' }, t('claims.built_at', { at: fmtDateTime(b.built_at) }))),
        h('div', { class: 'counts' },
          h('a', { href: `/claims/batches/${id}`, class: ['count-card', 'count-all', !filter && 'active'], 'data-testid': 'count-visits', dataset: { n: String(c.visits) } },
            h('span', { class: 'count-n' }, String(c.visits)), h('span', { class: 'count-label' }, t('claims.visits'))),
          STATES.map(count)),
        h('dl', { class: 'money-grid', 'data-testid': 'amounts' },
          [['total', 'claims.amount.total'], ['insurance_scope', 'claims.amount.insurance_scope'], ['insurer', 'claims.amount.insurer'],
            ['patient_copay', 'claims.amount.patient_copay'], ['patient_out_of_scope', 'claims.amount.patient_out_of_scope'], ['other_funding', 'claims.amount.other_funding']]
            .map(([k, label]) => h('div', { class: ['money', `money-${k}`], dataset: { amount: k } },
              h('dt', null, t(label)), h('dd', null, fmtMoney(a[k]), h('span', { class: 'muted small' }, ' ₫'))))),
        b.portal && !b.portal.configured ? h('p', { class: 'alert alert-warn' }, t('claims.portal_not_configured')) : null),
      h('section', { class: 'panel', 'aria-labelledby': 'items-title' },
        h('div', { class: 'panel-head' }, h('h2', { id: 'items-title' }, filter ? t('claims.items_state', { state: t('claims.state.' + filter) }) : t('claims.items')),
          filter ? h('a', { href: `/claims/batches/${id}` }, t('claims.show_all')) : null),
        itemsTable(b, id)));
  }

  await load();
  return () => { if (timer) clearTimeout(timer); };
}

function itemsTable(b, id) {
  const items = b.items || [];
  if (!items.length) return h('p', { class: 'muted' }, t('claims.no_items'));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table claims-items', 'data-testid': 'claim-items' },
    h('thead', null, h('tr', null,
      [[t('claims.ma_lk')], [t('claims.state')], [t('claims.muc_huong'), 1], [t('claims.amount.total'), 1], [t('claims.amount.insurer'), 1],
        [t('claims.amount.patient'), 1], [t('claims.result')]]
        .map(([x, num]) => h('th', { scope: 'col', class: num ? 'num' : null }, x)))),
    h('tbody', null, items.map((it) => h('tr', { dataset: { visit: String(it.visit_id), state: it.state }, 'data-testid': 'claim-row' },
      h('td', null, h('a', { href: `/claims/batches/${id}/visits/${it.visit_id}`, class: 'mono strong', 'data-testid': 'open-claim', title: t('claims.tables') }, it.ma_lk),
        h('div', { class: 'muted small' }, t('claims.visit_no', { id: it.visit_id }))),
      h('td', null, claimStateBadge(it.state)),
      h('td', { class: 'num' }, it.muc_huong ? `${it.muc_huong} %` : ''),
      h('td', { class: 'num' }, fmtMoney(it.amounts?.total)),
      h('td', { class: 'num' }, fmtMoney(it.amounts?.insurer)),
      h('td', { class: 'num' }, fmtMoney(it.amounts?.patient_copay),
        Number(it.amounts?.patient_out_of_scope) ? h('div', { class: 'muted small' }, t('claims.out_of_scope_short', { v: fmtMoney(it.amounts.patient_out_of_scope) })) : null),
      h('td', { class: 'claim-result' }, resultCell(it),
        it.state === 'invalid' || it.state === 'rejected' ? h('p', { class: 'fix-line' }, fixLink(it.visit_id)) : null))))));
}

// The visit is fixed by the doctor in the visit form; the officer passes the link on.
function fixLink(visitId) {
  return h('a', { href: `/visits/${visitId}`, class: 'btn btn-secondary btn-small', 'data-testid': 'fix-visit', title: t('claims.fix_hint') }, t('claims.fix'));
}

function resultCell(it) {
  if (it.state === 'invalid') return issuesList(it.issues || []);
  if (it.state === 'rejected') return rejectionList(it.rejection, it.transaction_code);
  if (it.transaction_code) return h('span', { class: 'small' }, t('claims.transaction'), ' ', h('span', { class: 'mono', 'data-testid': 'transaction-code' }, it.transaction_code));
  if (it.state === 'sent') return h('span', { class: 'muted small' }, t('claims.waiting'));
  return h('span', { class: 'muted small' }, t('claims.valid'));
}

function issuesList(issues) {
  return h('ul', { class: 'issue-list', 'data-testid': 'issues' }, issues.map((i) => h('li', { dataset: { table: i.table, field: i.field, rule: i.rule } },
    h('span', { class: 'mono issue-where' }, [i.table, i.field].filter(Boolean).join(' · ')), ' ',
    h('span', { class: 'badge' }, i.rule), ' ', h('span', null, i.message))));
}

function rejectionList(rej, tx) {
  const errs = (rej && rej.danhSachLoi) || [];
  return h('div', { 'data-testid': 'rejection' },
    rej && rej.thongDiep ? h('p', { class: 'small' }, rej.maKetQua ? h('span', { class: 'mono' }, `${rej.maKetQua} `) : null, rej.thongDiep) : null,
    h('ul', { class: 'issue-list' }, errs.map((e) => h('li', { dataset: { code: e.maLoi || '', table: e.bang || '', field: e.truong || '' } },
      h('span', { class: 'mono strong', 'data-testid': 'rejection-code' }, e.maLoi || ''), ' ',
      h('span', { class: 'mono issue-where' }, [e.bang, e.truong].filter(Boolean).join(' · ')), ' ', e.moTa || ''))),
    tx ? h('p', { class: 'muted small' }, t('claims.transaction'), ' ', h('span', { class: 'mono' }, tx)) : null);
}

/* ---- one visit's claim: its tables ----------------------------------------------- */

const TABLE_ORDER = ['XML1', 'XML2', 'XML3', 'XML4', 'XML5', 'XML13'];

export async function claimView(main, params, ctx) {
  main.append(loading());
  let c;
  try {
    c = (await get(`/claims/batches/${encodeURIComponent(params.id)}/visits/${encodeURIComponent(params.vid)}`)).data;
  } catch (e) {
    if (ctx.isCurrent()) loadError(main, e);
    return;
  }
  if (!ctx.isCurrent()) return;
  clear(main);
  ctx.setTitle(`${t('claims.claim')} ${c.ma_lk}`);
  const bad = new Set((c.issues || []).map((i) => `${i.table}|${i.field}`));
  for (const e of (c.rejection && c.rejection.danhSachLoi) || []) bad.add(`${e.bang}|${e.truong}`);
  const tables = c.tables || {};
  const names = TABLE_ORDER.filter((k) => tables[k] != null).concat(Object.keys(tables).filter((k) => !TABLE_ORDER.includes(k)));

  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('claims.tables') });
  const panels = h('div');
  names.forEach((name, i) => {
    const tabId = `tab-${name}`;
    const panelId = `panel-${name}`;
    const rows = Array.isArray(tables[name]) ? tables[name] : [tables[name]];
    const hasBad = Array.from(bad).some((k) => k.startsWith(name + '|'));
    const tab = h('button', { type: 'button', role: 'tab', id: tabId, class: 'tab', 'aria-controls': panelId, 'aria-selected': i === 0 ? 'true' : 'false', tabindex: i === 0 ? '0' : '-1', dataset: { table: name } },
      name, ' ', h('span', { class: 'muted small' }, t('claims.table.' + name)),
      Array.isArray(tables[name]) ? h('span', { class: 'tab-num' }, String(rows.length)) : null,
      hasBad ? h('span', { class: 'badge badge-danger' }, '!') : null);
    const panel = h('div', { role: 'tabpanel', id: panelId, 'aria-labelledby': tabId, class: 'tab-panel', hidden: i !== 0, tabindex: '0', 'data-testid': `table-${name}` },
      Array.isArray(tables[name]) ? rowsTable(name, rows, bad) : fieldsGrid(name, tables[name], bad));
    tab.addEventListener('click', () => select(i));
    tab.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight') select((i + 1) % names.length, true);
      else if (e.key === 'ArrowLeft') select((i - 1 + names.length) % names.length, true);
    });
    tabs.append(tab);
    panels.append(panel);
  });
  function select(i, focus) {
    tabs.querySelectorAll('[role=tab]').forEach((tb, k) => { tb.setAttribute('aria-selected', k === i ? 'true' : 'false'); tb.tabIndex = k === i ? 0 : -1; if (k === i && focus) tb.focus(); });
    panels.querySelectorAll('[role=tabpanel]').forEach((p, k) => { p.hidden = k !== i; });
  }

  main.append(h('div', { class: 'page-head' },
    h('div', null, h('p', { class: 'crumbs' }, h('a', { href: '/claims' }, t('nav.claims')), ' / ', h('a', { href: `/claims/batches/${encodeURIComponent(params.id)}` }, t('claims.batch'))),
      h('h1', null, t('claims.claim'), ' ', h('span', { class: 'mono' }, c.ma_lk)),
      h('p', { class: 'muted' }, t('claims.visit_no', { id: c.visit_id }), c.muc_huong ? ` · ${t('claims.muc_huong')} ${c.muc_huong} %${c.muc_huong_rule ? ` (${c.muc_huong_rule})` : ''}` : '')),
    h('div', { class: 'head-actions' }, claimStateBadge(c.state), c.state === 'invalid' || c.state === 'rejected' ? fixLink(c.visit_id) : null)));
  if ((c.issues || []).length) {
    main.append(h('section', { class: 'alert alert-error', role: 'alert', 'data-testid': 'claim-issues' },
      h('p', { class: 'alert-title' }, t('claims.issues_title', { n: c.issues.length })), issuesList(c.issues)));
  }
  if (c.rejection) {
    main.append(h('section', { class: 'alert alert-error', role: 'alert' },
      h('p', { class: 'alert-title' }, t('claims.rejected_title')), rejectionList(c.rejection, c.transaction_code)));
  }
  main.append(h('section', { class: 'panel' }, tabs, panels));
  if ((c.submissions || []).length) {
    main.append(h('section', { class: 'panel', 'data-testid': 'submissions' }, h('h2', null, t('claims.submissions')),
      h('table', { class: 'table table-compact' },
        h('thead', null, h('tr', null, [t('claims.sent_at'), t('claims.state'), t('claims.transaction'), t('claims.answered_at')].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', null, c.submissions.map((s) => h('tr', null,
          h('td', null, fmtDateTime(s.sent_at)), h('td', null, claimStateBadge(s.state)),
          h('td', { class: 'mono' }, s.transaction_code || ''), h('td', null, fmtDateTime(s.answered_at))))))));
  }
}

function fieldsGrid(name, obj, bad) {
  if (!obj) return h('p', { class: 'muted' }, t('claims.empty_table'));
  return h('dl', { class: 'xml-fields' }, Object.entries(obj).map(([k, v]) => h('div', { class: bad.has(`${name}|${k}`) ? 'cell-error' : null, dataset: { field: k } },
    h('dt', { class: 'mono' }, k), h('dd', { class: 'mono' }, v === '' ? h('span', { class: 'muted' }, '—') : v))));
}

function rowsTable(name, rows, bad) {
  if (!rows.length) return h('p', { class: 'muted' }, t('claims.empty_table'));
  const cols = Array.from(rows.reduce((s, r) => { Object.keys(r).forEach((k) => s.add(k)); return s; }, new Set()));
  return h('div', { class: 'table-wrap xml-rows' }, h('table', { class: 'table table-compact' },
    h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col', class: ['mono', bad.has(`${name}|${k}`) && 'cell-error'] }, k)))),
    h('tbody', null, rows.map((r) => h('tr', null, cols.map((k) => h('td', { class: ['mono', bad.has(`${name}|${k}`) && 'cell-error'], dataset: { field: k } }, r[k] ?? '')))))));
}
