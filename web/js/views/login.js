import { h } from '../dom.js';
import { post } from '../api.js';
import { t } from '../i18n.js';
import { field, FormErrors, alertBox } from '../forms.js';

export function loginView(app, params, ctx) {
  const user = field({ name: 'username', label: t('auth.username'), required: true, autocomplete: 'username', maxlength: 64 });
  const pass = field({ name: 'password', label: t('auth.password'), type: 'password', required: true, autocomplete: 'current-password', maxlength: 256 });
  const alert = alertBox();
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('auth.login'));
  const form = h('form', { class: 'login-form', novalidate: true, 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, t('auth.title')),
    h('p', { class: 'muted' }, t('auth.subtitle')),
    alert, user, pass, submit);
  const errors = new FormErrors(form, alert);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    errors.clear();
    const username = user.input.value.trim();
    const password = pass.input.value;
    let bad = false;
    if (!username) { errors.showField('username', t('error.required')); bad = true; }
    if (!password) { errors.showField('password', t('error.required')); bad = true; }
    if (bad) return;
    submit.disabled = true;
    submit.textContent = t('auth.logging_in');
    try {
      const r = await post('/auth/login', { username, password }, { noAuthRedirect: true });
      ctx.afterLogin(r.data.user, r.data.csrf_token);
      const next = new URLSearchParams(location.search).get('next');
      ctx.navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
    } catch (err) {
      errors.show(err);
      submit.disabled = false;
      submit.textContent = t('auth.login');
      pass.input.value = '';
    }
  });

  app.append(h('div', { class: 'login-page' },
    h('div', { class: 'login-top' }, ctx.langButton()),
    h('div', { class: 'login-card' },
      h('div', { class: 'login-brand' }, h('img', { src: '/img/logo.svg', alt: '', width: 44, height: 44 }),
        h('div', null, h('p', { class: 'login-app' }, t('app.name')), h('p', { class: 'muted small' }, t('app.tagline')))),
      form),
    h('p', { class: 'login-foot muted small' }, t('auth.foot'))));
  user.input.focus();
}
