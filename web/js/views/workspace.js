// The landing page of each role: who is logged in, where, and the role's
// main tool (or a clean empty workspace for roles whose screens come later).
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { searchPanel, todayPanel } from './clinic.js';
import { householdListPanel } from './commune.js';
import { pharmacistHome } from './pharmacy.js';
import { claimsHome } from './claims.js';

export function workspaceView(main, params, ctx) {
  const u = ctx.user;
  ctx.setTitle(t('workspace.' + u.role));
  const header = h('div', { class: 'page-head' },
    h('div', null,
      h('h1', { 'data-testid': 'workspace-title', dataset: { role: u.role } }, t('workspace.' + u.role)),
      h('p', { class: 'muted' }, t('workspace.greeting', { name: u.full_name || u.username }), ' · ',
        u.facility?.name || '', u.facility?.code ? ` (${u.facility.code})` : '')));
  main.append(header);
  let cleanup = null;
  if (u.role === 'doctor' || u.role === 'nurse') {
    const p = searchPanel(ctx, { autofocus: true });
    main.append(p.el, todayPanel());
    cleanup = p.cleanup;
  } else if (u.role === 'commune_worker') {
    const p = householdListPanel(ctx);
    main.append(p.el);
    cleanup = p.cleanup;
  } else if (u.role === 'pharmacist') {
    main.append(pharmacistHome(ctx).el);
  } else if (u.role === 'claims_officer') {
    main.append(claimsHome(ctx).el);
  } else {
    main.append(h('section', { class: 'panel empty-state', 'data-testid': 'empty-workspace' },
      h('h2', null, t('workspace.empty_title')),
      h('p', null, t('workspace.empty_text')),
      h('dl', { class: 'facts' },
        h('div', null, h('dt', null, t('workspace.user')), h('dd', null, u.full_name || u.username)),
        h('div', null, h('dt', null, t('workspace.role')), h('dd', null, t('role.' + u.role))),
        h('div', null, h('dt', null, t('workspace.facility')), h('dd', null, `${u.facility?.name || ''} (${u.facility?.code || ''})`))),
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: ctx.logout }, t('auth.logout'))));
  }
  return cleanup;
}
