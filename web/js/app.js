// Entry point: session, routing (history API, single-page), the shell.
import { h, clear } from './dom.js';
import { get, post, setCsrf, setUnauthorizedHandler, ApiError } from './api.js';
import { initI18n, setLang, getLang, t } from './i18n.js';
import { loginView } from './views/login.js';
import { workspaceView } from './views/workspace.js';
import * as clinic from './views/clinic.js';
import * as commune from './views/commune.js';
import { recordView } from './views/record.js';
import * as pharmacy from './views/pharmacy.js';
import * as claims from './views/claims.js';
import { dashboardView } from './views/dashboard.js';
import { loadAdminUnits, resetAdminUnits } from './views/common.js';

const CLINICAL = ['doctor', 'nurse'];
const COMMUNE = ['commune_worker'];
const PHARMACY = ['pharmacist'];
const CLAIMS = ['claims_officer'];

const routes = [
  { path: '/login', view: loginView, public: true },
  { path: '/', view: workspaceView },
  { path: '/patients', view: clinic.searchView, roles: CLINICAL, nav: 'patients' },
  { path: '/patients/new', view: clinic.receptionView, roles: CLINICAL, nav: 'reception' },
  { path: '/patients/:id', view: clinic.patientView, roles: CLINICAL, nav: 'patients' },
  { path: '/patients/:id/record', view: recordView, roles: [...CLINICAL, ...COMMUNE], nav: 'households' },
  { path: '/visits/:id', view: clinic.visitView, roles: CLINICAL, nav: 'patients' },
  { path: '/households', view: commune.listView, roles: COMMUNE, nav: 'households' },
  { path: '/households/new', view: commune.newHouseholdView, roles: COMMUNE, nav: 'new-household' },
  { path: '/households/:id', view: commune.householdView, roles: COMMUNE, nav: 'households' },
  { path: '/dispense', view: pharmacy.dispenseView, roles: PHARMACY, nav: 'dispense' },
  { path: '/stock', view: pharmacy.stockView, roles: PHARMACY, nav: 'stock' },
  { path: '/claims', view: claims.overviewView, roles: CLAIMS, nav: 'claims' },
  { path: '/claims/batches/:id', view: claims.batchView, roles: CLAIMS, nav: 'claims' },
  { path: '/claims/batches/:id/visits/:vid', view: claims.claimView, roles: CLAIMS, nav: 'claims' },
  { path: '/dashboard', view: dashboardView, roles: ['health_department', 'admin'], nav: 'dashboard' },
];

const NAV = {
  doctor: [['/', 'nav.home', 'home'], ['/patients', 'nav.patients', 'patients'], ['/patients/new', 'nav.reception', 'reception']],
  nurse: [['/', 'nav.home', 'home'], ['/patients', 'nav.patients', 'patients'], ['/patients/new', 'nav.reception', 'reception']],
  commune_worker: [['/', 'nav.home', 'home'], ['/households', 'nav.households', 'households'], ['/households/new', 'nav.new_household', 'new-household']],
  pharmacist: [['/', 'nav.home', 'home'], ['/dispense', 'nav.dispense', 'dispense'], ['/stock', 'nav.stock', 'stock']],
  claims_officer: [['/', 'nav.home', 'home'], ['/claims', 'nav.claims', 'claims']],
  health_department: [['/', 'nav.home', 'home'], ['/dashboard', 'nav.dashboard', 'dashboard']],
};

const state = { user: null, renderSeq: 0, cleanup: null };

function match(pathname) {
  const parts = pathname.replace(/\/+$/, '').split('/').filter(Boolean);
  for (const r of routes) {
    const rp = r.path.split('/').filter(Boolean);
    if (rp.length !== parts.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; i < rp.length; i++) {
      if (rp[i].startsWith(':')) params[rp[i].slice(1)] = decodeURIComponent(parts[i]);
      else if (rp[i] !== parts[i]) { ok = false; break; }
    }
    if (ok) return { route: r, params };
  }
  return null;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

export function currentUser() {
  return state.user;
}

export async function logout() {
  try { await post('/auth/logout', {}, { noAuthRedirect: true }); } catch { /* session may be gone already */ }
  state.user = null;
  setCsrf(null);
  resetAdminUnits();
  navigate('/login', { replace: true });
}

export function afterLogin(user, csrf) {
  state.user = user;
  setCsrf(csrf);
}

async function switchLang() {
  await setLang(getLang() === 'vi' ? 'en' : 'vi');
  render();
}

function langButton() {
  const other = getLang() === 'vi' ? 'en' : 'vi';
  return h('button', {
    type: 'button', class: 'btn btn-ghost lang-switch', lang: other,
    'aria-label': t('lang.switch_label'), onclick: switchLang,
  }, t('lang.other'));
}

function shell(route) {
  const u = state.user;
  const items = NAV[u.role] || [['/', 'nav.home', 'home']];
  const nav = h('nav', { class: 'sidenav', 'aria-label': t('nav.label') },
    h('ul', null, items.map(([href, key, id]) => {
      const active = (route.nav || (route.path === '/' ? 'home' : '')) === id;
      return h('li', null, h('a', { href, class: active ? 'active' : null, 'aria-current': active ? 'page' : null }, t(key)));
    })));
  const header = h('header', { class: 'topbar' },
    h('a', { href: '/', class: 'brand' }, h('img', { src: '/img/logo.svg', alt: '', width: 28, height: 28 }),
      h('span', { class: 'brand-text' }, t('app.name'))),
    h('div', { class: 'topbar-right' },
      h('div', { class: 'who' },
        h('span', { class: 'who-name', 'data-testid': 'user-name' }, u.full_name || u.username),
        h('span', { class: 'who-meta' }, `${t('role.' + u.role)} · `, h('span', { 'data-testid': 'facility-name' }, u.facility?.name || ''))),
      langButton(),
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: logout, 'data-testid': 'logout' }, t('auth.logout'))));
  const main = h('main', { id: 'main', class: 'content', tabindex: '-1' });
  const root = h('div', { class: ['layout', items.length > 1 ? 'with-nav' : 'no-nav'] }, header, items.length > 1 ? nav : null, main);
  return { root, main };
}

function notFound(main) {
  main.append(h('section', { class: 'panel empty-state' },
    h('h1', null, t('page.not_found')),
    h('p', null, h('a', { href: '/' }, t('nav.back_home')))));
}

function forbidden(main) {
  main.append(h('section', { class: 'panel empty-state' },
    h('h1', null, t('page.forbidden')),
    h('p', null, h('a', { href: '/' }, t('nav.back_home')))));
}

async function render() {
  const seq = ++state.renderSeq;
  if (state.cleanup) { try { state.cleanup(); } catch { /* ignore */ } state.cleanup = null; }
  const app = document.getElementById('app');
  const m = match(location.pathname);
  if (!state.user && !(m && m.route.public)) {
    const next = location.pathname + location.search;
    history.replaceState(null, '', '/login' + (next && next !== '/' && next !== '/login' ? '?next=' + encodeURIComponent(next) : ''));
    return render();
  }
  if (m && m.route.public) {
    if (state.user) { history.replaceState(null, '', '/'); return render(); }
    clear(app);
    document.title = t('app.name');
    const c = m.route.view(app, m.params, { navigate, afterLogin, langButton });
    if (typeof c === 'function') state.cleanup = c;
    return undefined;
  }
  await loadAdminUnits(state.user.facility?.province_code);
  if (seq !== state.renderSeq) return undefined;
  const route = m ? m.route : { path: '*' };
  const { root, main } = shell(route);
  clear(app);
  app.append(root);
  document.title = t('app.name');
  if (!m) notFound(main);
  else if (m.route.roles && !m.route.roles.includes(state.user.role)) forbidden(main);
  else {
    const ctx = { user: state.user, navigate, logout, isCurrent: () => seq === state.renderSeq, setTitle };
    try {
      const c = await m.route.view(main, m.params, ctx);
      if (typeof c === 'function') { if (seq === state.renderSeq) state.cleanup = c; else c(); }
    } catch (e) {
      console.error(e);
      if (seq === state.renderSeq) {
        clear(main);
        main.append(h('div', { class: 'alert alert-error', role: 'alert' }, h('p', { class: 'alert-title' }, t('error.unexpected'))));
      }
    }
  }
  if (seq === state.renderSeq) {
    const h1 = main.querySelector('h1');
    if (h1 && document.activeElement === document.body) { h1.tabIndex = -1; h1.focus({ preventScroll: true }); }
  }
  return undefined;
}

function setTitle(s) {
  document.title = s ? `${s} · ${t('app.name')}` : t('app.name');
}

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const href = a.getAttribute('href');
  if (!href.startsWith('/') || href.startsWith('//') || href.startsWith('/api/')) return;
  e.preventDefault();
  navigate(href);
});
window.addEventListener('popstate', () => render());

setUnauthorizedHandler(() => {
  if (state.user) {
    state.user = null;
    setCsrf(null);
    render();
  }
});

async function boot() {
  await initI18n();
  try {
    const r = await get('/auth/me', { noAuthRedirect: true });
    state.user = r.data.user;
    setCsrf(r.data.csrf_token);
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) console.warn('auth/me', e);
    state.user = null;
  }
  document.body.classList.add('ready');
  render();
}

boot();
