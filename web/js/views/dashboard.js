// The provincial health dashboard (issue 8 point 3) for the health
// department: seven charts over a period and optionally one district, each
// with its numbers as a table and a CSV download. Charts are drawn by
// Chart.js, served from /vendor (scripts/vendor-web.sh); the numbers come
// from /api/v1/dashboard/* (rollup tables, docs/dashboard.md).
import { h, clear } from '../dom.js';
import { get, qs, ApiError } from '../api.js';
import { t, getLang, fmtDate } from '../i18n.js';

let chartLib = null;

// Loads the Chart.js UMD build once (a classic script from our own origin,
// which the CSP allows) and resolves to window.Chart.
function loadChartLib() {
  if (!chartLib) {
    chartLib = new Promise((resolve, reject) => {
      if (window.Chart) { resolve(window.Chart); return; }
      const s = document.createElement('script');
      s.src = '/vendor/chart.umd.min.js';
      s.onload = () => resolve(window.Chart);
      s.onerror = () => { chartLib = null; reject(new Error('chart.js')); };
      document.head.append(s);
    });
  }
  return chartLib;
}

const LEVELS = ['provincial_hospital', 'district_hospital', 'commune_station', 'pharmacy', 'health_department'];
const COLORS = ['#0f5c6e', '#d9822b', '#2f8f4e', '#8e44ad', '#c0392b', '#7f8c8d', '#2c7fb8', '#b8860b', '#16a085', '#e84393'];

const num = (n) => (n === null || n === undefined ? '' : Number(n).toLocaleString(getLang() === 'vi' ? 'vi-VN' : 'en-GB'));
const money = (n) => num(Math.round(Number(n || 0)));
const pct = (n) => (n === null || n === undefined ? '—' : `${(Number(n) * 100).toLocaleString(getLang() === 'vi' ? 'vi-VN' : 'en-GB', { maximumFractionDigits: 1 })} %`);

function isoDay(d) {
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

function defaultPeriod() {
  const to = new Date();
  const from = new Date(to.getTime() - 89 * 86400000);
  return { from: isoDay(from), to: isoDay(to) };
}

// One chart: its section, table columns and chart drawing.
const CHARTS = [
  {
    id: 'visits-per-day',
    cols: [['day', (r) => fmtDate(r.day)], ['level', (r) => t('dash.level.' + r.level)], ['visits', (r) => num(r.visits), 'num']],
    draw(rows) {
      const days = [...new Set(rows.map((r) => r.day))];
      const levels = LEVELS.filter((l) => rows.some((r) => r.level === l));
      return {
        type: 'line',
        data: {
          labels: days.map(fmtDate),
          datasets: levels.map((l, i) => ({
            label: t('dash.level.' + l), borderColor: COLORS[i], backgroundColor: COLORS[i], pointRadius: 0, borderWidth: 2, tension: 0.2,
            data: days.map((d) => rows.find((r) => r.day === d && r.level === l)?.visits ?? 0),
          })),
        },
      };
    },
  },
  {
    id: 'top-diagnoses',
    cols: [['rank', (r) => r.rank, 'num'], ['icd10', (r) => r.icd10], ['diagnosis', (r) => (getLang() === 'en' ? r.name_en || r.name_vi : r.name_vi) || ''],
      ['cases', (r) => num(r.cases), 'num']],
    draw(rows) {
      return {
        type: 'bar',
        data: { labels: rows.map((r) => r.icd10), datasets: [{ label: t('dash.col.cases'), data: rows.map((r) => r.cases), backgroundColor: COLORS[0] }] },
        options: { indexAxis: 'y' },
      };
    },
  },
  {
    id: 'notifiable-diseases',
    cols: [['week', (r) => `${r.week} (${fmtDate(r.week_start)})`], ['commune', (r) => `${r.commune_name || r.commune_code || t('dash.unknown')}`],
      ['disease', (r) => `${getLang() === 'en' ? r.name_en : r.name_vi} (${r.icd10})`], ['cases', (r) => num(r.cases), 'num'],
      ['threshold', (r) => num(r.threshold), 'num'], ['alert', (r) => (r.alert ? t('dash.alert_yes') : ''), 'alert']],
    rowClass: (r) => (r.alert ? 'dash-alert-row' : null),
    draw(rows) {
      const weeks = [...new Set(rows.map((r) => r.week))];
      const diseases = [...new Set(rows.map((r) => r.disease))];
      return {
        type: 'bar',
        data: {
          labels: weeks,
          datasets: diseases.map((d, i) => {
            const one = rows.find((r) => r.disease === d);
            return {
              label: getLang() === 'en' ? one.name_en : one.name_vi, backgroundColor: COLORS[i % COLORS.length],
              data: weeks.map((w) => rows.filter((r) => r.week === w && r.disease === d).reduce((s, r) => s + r.cases, 0)),
            };
          }),
        },
        options: { scales: { x: { stacked: true }, y: { stacked: true } } },
      };
    },
    summary(rows) {
      const alerts = rows.filter((r) => r.alert);
      return h('p', { class: alerts.length ? 'dash-summary dash-summary-alert' : 'dash-summary', 'data-testid': 'notifiable-alerts', dataset: { count: alerts.length } },
        alerts.length ? t('dash.alerts', { n: alerts.length }) : t('dash.no_alerts'));
    },
  },
  {
    id: 'record-coverage',
    periodless: true,
    cols: [['commune', (r) => r.commune_name ? `${r.commune_name} (${r.commune_code})` : (r.commune_code || t('dash.unknown'))],
      ['records', (r) => num(r.records), 'num'], ['people', (r) => num(r.people), 'num'],
      ['coverage', (r) => (r.coverage_percent === null ? '—' : `${Number(r.coverage_percent).toLocaleString(getLang() === 'vi' ? 'vi-VN' : 'en-GB')} %`), 'num']],
    draw(rows) {
      return {
        type: 'bar',
        data: {
          labels: rows.map((r) => r.commune_name || r.commune_code || t('dash.unknown')),
          datasets: [
            { label: t('dash.col.people'), data: rows.map((r) => r.people), backgroundColor: '#b7d3da' },
            { label: t('dash.col.records'), data: rows.map((r) => r.records), backgroundColor: COLORS[0] },
          ],
        },
      };
    },
    summary(rows) {
      const rec = rows.reduce((s, r) => s + r.records, 0);
      const ppl = rows.reduce((s, r) => s + r.people, 0);
      return h('p', { class: 'dash-summary', 'data-testid': 'coverage-total', dataset: { records: rec, people: ppl } },
        t('dash.coverage_total', { records: num(rec), people: num(ppl) }));
    },
  },
  {
    id: 'prescriptions',
    cols: [['day', (r) => fmtDate(r.day)], ['issued', (r) => num(r.issued), 'num'], ['cancelled', (r) => num(r.cancelled), 'num'],
      ['dispensings', (r) => num(r.dispensings), 'num'], ['portal_queued', (r) => num(r.portal_queued), 'num'],
      ['portal_sent', (r) => num(r.portal_sent), 'num'], ['portal_acknowledged', (r) => num(r.portal_acknowledged), 'num'],
      ['portal_error', (r) => num(r.portal_error), 'num']],
    draw(rows) {
      const ds = ['issued', 'dispensings', 'portal_acknowledged', 'portal_error'];
      return {
        type: 'bar',
        data: {
          labels: rows.map((r) => fmtDate(r.day)),
          datasets: ds.map((k, i) => ({ label: t('dash.col.' + k), data: rows.map((r) => r[k]), backgroundColor: COLORS[i] })),
        },
      };
    },
  },
  {
    id: 'claims',
    cols: [['month', (r) => r.month], ['claims', (r) => num(r.claims), 'num'], ['accepted', (r) => num(r.accepted), 'num'],
      ['rejected', (r) => num(r.rejected), 'num'], ['rejection_rate', (r) => pct(r.rejection_rate), 'num'],
      ['insurer_amount', (r) => money(r.insurer_amount), 'num'], ['patient_amount', (r) => money(r.patient_amount), 'num'],
      ['other_amount', (r) => money(r.other_amount), 'num']],
    draw(rows) {
      const ds = ['insurer_amount', 'patient_amount', 'other_amount'];
      return {
        type: 'bar',
        data: {
          labels: rows.map((r) => r.month),
          datasets: ds.map((k, i) => ({ label: t('dash.col.' + k), data: rows.map((r) => Number(r[k])), backgroundColor: COLORS[i] })),
        },
        options: { scales: { x: { stacked: true }, y: { stacked: true } } },
      };
    },
  },
  {
    id: 'referrals',
    cols: [['from', (r) => `${r.from_name} (${r.from_facility})`], ['to', (r) => `${r.to_name || ''} (${r.to_facility})`],
      ['referrals', (r) => num(r.referrals), 'num']],
    draw(rows) {
      return {
        type: 'bar',
        data: {
          labels: rows.map((r) => `${r.from_facility} → ${r.to_facility}`),
          datasets: [{ label: t('dash.col.referrals'), data: rows.map((r) => r.referrals), backgroundColor: COLORS[1] }],
        },
        options: { indexAxis: 'y' },
      };
    },
  },
];

function table(spec, rows) {
  return h('div', { class: 'table-wrap dash-table-wrap' },
    h('table', { class: 'table dash-table', 'data-testid': `table-${spec.id}` },
      h('caption', { class: 'sr-only' }, t(`dash.chart.${spec.id}`)),
      h('thead', null, h('tr', null, spec.cols.map(([k, , cls]) => h('th', { scope: 'col', class: cls === 'num' ? 'num' : null }, t('dash.col.' + k))))),
      h('tbody', null, rows.length
        ? rows.map((r) => h('tr', { class: spec.rowClass ? spec.rowClass(r) : null },
          spec.cols.map(([k, f, cls]) => h('td', { class: cls === 'num' ? 'num' : cls === 'alert' ? 'dash-alert' : null, dataset: { col: k } }, f(r)))))
        : h('tr', null, h('td', { colspan: spec.cols.length, class: 'muted' }, t('dash.no_data'))))));
}

export async function dashboardView(main, params, ctx) {
  ctx.setTitle(t('dash.title'));
  const url = new URLSearchParams(location.search);
  const def = defaultPeriod();
  const filter = { from: url.get('from') || def.from, to: url.get('to') || def.to, district: url.get('district') || '' };
  const charts = [];
  const destroy = () => { while (charts.length) charts.pop().destroy(); };

  let meta = { districts: [] };
  try { meta = (await get('/dashboard')).data; } catch (e) { if (!(e instanceof ApiError)) throw e; }
  if (!ctx.isCurrent()) return undefined;

  const from = h('input', { type: 'date', id: 'dash-from', name: 'from', value: filter.from, required: true });
  const to = h('input', { type: 'date', id: 'dash-to', name: 'to', value: filter.to, required: true });
  const district = h('select', { id: 'dash-district', name: 'district', 'data-testid': 'dash-district' },
    h('option', { value: '' }, t('dash.all_districts')),
    meta.districts.map((d) => h('option', { value: d.code, selected: d.code === filter.district }, `${d.name} (${d.code})`)));
  const err = h('div', { class: 'dash-error', role: 'alert' });
  const form = h('form', { class: 'panel dash-filter', 'data-testid': 'dash-filter' },
    h('div', { class: 'field' }, h('label', { for: 'dash-from' }, t('dash.from')), from),
    h('div', { class: 'field' }, h('label', { for: 'dash-to' }, t('dash.to')), to),
    h('div', { class: 'field' }, h('label', { for: 'dash-district' }, t('dash.district')), district),
    h('div', { class: 'field dash-filter-go' }, h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'dash-apply' }, t('dash.apply'))),
    err);
  const body = h('div', { class: 'dash-grid', 'data-testid': 'dash-charts' });
  main.append(
    h('div', { class: 'page-head' }, h('div', null,
      h('h1', { 'data-testid': 'dashboard-title' }, t('dash.title')),
      h('p', { class: 'muted' }, t('dash.subtitle', { province: meta.province || '' })))),
    form, body);

  async function load() {
    destroy();
    clear(body);
    clear(err);
    body.setAttribute('aria-busy', 'true');
    const q = { from: filter.from, to: filter.to, district: filter.district };
    let Chart = null;
    try { Chart = await loadChartLib(); } catch { err.append(t('dash.chart_lib_missing')); }
    const results = await Promise.all(CHARTS.map(async (spec) => {
      try { return { spec, rows: (await get(`/dashboard/${spec.id}${qs(q)}`)).data.rows }; } catch (e) { return { spec, error: e }; }
    }));
    if (!ctx.isCurrent()) return;
    for (const { spec, rows, error } of results) {
      const section = h('section', { class: 'panel dash-panel', 'data-testid': `dash-${spec.id}`, 'aria-labelledby': `h-${spec.id}` });
      const csv = h('a', { class: 'btn btn-secondary btn-small', href: `/api/v1/dashboard/${spec.id}${qs({ ...q, format: 'csv' })}`, download: '', 'data-testid': `csv-${spec.id}` }, t('dash.csv'));
      section.append(h('div', { class: 'panel-head' }, h('h2', { id: `h-${spec.id}` }, t(`dash.chart.${spec.id}`)), csv));
      if (spec.periodless) section.append(h('p', { class: 'muted dash-note' }, t('dash.periodless')));
      if (error) {
        const fields = error.errors?.map((x) => x.message).join('; ');
        section.append(h('p', { class: 'alert alert-error' }, fields || error.message));
        body.append(section);
        continue;
      }
      if (spec.summary) section.append(spec.summary(rows));
      if (Chart && rows.length) {
        const canvas = h('canvas', { role: 'img', 'aria-label': t(`dash.chart.${spec.id}`) });
        section.append(h('div', { class: 'dash-chart' }, canvas));
        const cfg = spec.draw(rows);
        cfg.options = { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: 'bottom' } }, ...(cfg.options || {}) };
        charts.push(new Chart(canvas, cfg));
      }
      section.append(h('details', { class: 'dash-details', open: true }, h('summary', null, t('dash.table')), table(spec, rows)));
      body.append(section);
    }
    body.removeAttribute('aria-busy');
    body.dataset.loaded = `${filter.from}|${filter.to}|${filter.district}`;
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    filter.from = from.value;
    filter.to = to.value;
    filter.district = district.value;
    history.replaceState(null, '', `/dashboard${qs(filter)}`);
    load();
  });
  await load();
  return destroy;
}
