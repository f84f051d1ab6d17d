// Form building blocks: labelled fields, and showing problem+json errors
// next to the field they name.
import { h, uid, clear } from './dom.js';
import { t } from './i18n.js';
import { ApiError } from './api.js';

// field({name, label, type, value, required, hint, options:[[value,label]], ...inputAttrs})
export function field(o) {
  const id = o.id || uid('f');
  const errId = id + '-err';
  const hintId = o.hint ? id + '-hint' : null;
  const describedby = [hintId, errId].filter(Boolean).join(' ');
  let input;
  const common = {
    id,
    name: o.name,
    required: o.required,
    'aria-describedby': describedby,
    autocomplete: o.autocomplete || 'off',
    disabled: o.disabled,
    readOnly: o.readOnly,
  };
  if (o.type === 'select') {
    input = h('select', common,
      (o.options || []).map(([v, label]) => h('option', { value: v, selected: String(o.value ?? '') === String(v) }, label)));
  } else if (o.type === 'textarea') {
    input = h('textarea', { ...common, rows: o.rows || 4, maxlength: o.maxlength, placeholder: o.placeholder });
    input.value = o.value ?? '';
  } else {
    input = h('input', {
      ...common,
      type: o.type || 'text',
      value: o.value ?? '',
      inputmode: o.inputmode,
      maxlength: o.maxlength,
      pattern: o.pattern,
      placeholder: o.placeholder,
      min: o.min,
      max: o.max,
      step: o.step,
      list: o.list,
    });
  }
  const wrap = h('div', { class: ['field', o.class, o.type === 'checkbox' && 'field-check'], dataset: { field: o.name } },
    o.type === 'checkbox' ? [input, h('label', { for: id }, o.label)] : [
      h('label', { for: id }, o.label, o.required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
      input,
    ],
    o.hint ? h('p', { class: 'hint', id: hintId }, o.hint) : null,
    h('p', { class: 'field-error', id: errId, hidden: true }));
  wrap.input = input;
  return wrap;
}

// Reads the named inputs of a container into a flat {name: value} object;
// empty strings become null.
export function values(container) {
  const out = {};
  for (const el of container.querySelectorAll('input[name], select[name], textarea[name]')) {
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.type === 'radio') { if (el.checked) out[el.name] = el.value; }
    else out[el.name] = el.value.trim() === '' ? null : el.value.trim();
  }
  return out;
}

export function numOrNull(v) {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(String(v).replace(',', '.'));
  return Number.isFinite(n) ? n : v;
}

// Error display for one form. `alertEl` shows errors that name no visible field.
export class FormErrors {
  constructor(form, alertEl) {
    this.form = form;
    this.alert = alertEl;
  }
  clear() {
    for (const w of this.form.querySelectorAll('.field.has-error')) {
      w.classList.remove('has-error');
      const p = w.querySelector('.field-error');
      if (p) { p.hidden = true; p.textContent = ''; }
      const i = w.querySelector('input, select, textarea');
      if (i) i.removeAttribute('aria-invalid');
    }
    if (this.alert) { clear(this.alert); this.alert.hidden = true; }
  }
  fieldWrap(name) {
    if (!name) return null;
    const sel = `.field[data-field="${CSS.escape(name)}"]`;
    let w = this.form.querySelector(sel);
    if (!w) {
      // "items[0].vaccine" -> try the field mapped by alias, then the last segment
      const last = name.replace(/\[\d+\]/g, '').split('.').pop();
      w = this.form.querySelector(`.field[data-field$=".${CSS.escape(last)}"]`) || this.form.querySelector(`.field[data-field="${CSS.escape(last)}"]`);
    }
    return w;
  }
  showField(name, message) {
    const w = this.fieldWrap(name);
    if (!w) return false;
    w.classList.add('has-error');
    const p = w.querySelector('.field-error');
    p.textContent = p.textContent ? p.textContent + ' ' + message : message;
    p.hidden = false;
    const i = w.querySelector('input, select, textarea');
    if (i) i.setAttribute('aria-invalid', 'true');
    return true;
  }
  show(err) {
    this.clear();
    const rest = [];
    if (err instanceof ApiError) {
      const title = errorTitle(err);
      rest.push(title);
      for (const e of err.errors) {
        if (!e.field && e.message === title) continue;
        if (!this.showField(e.field, e.message)) rest.push(e.field ? `${e.field}: ${e.message}` : e.message);
      }
    } else {
      rest.push(t('error.unexpected'));
      console.error(err);
    }
    if (rest.length && this.alert) {
      this.alert.hidden = false;
      append1(this.alert, rest);
    }
    const first = this.form.querySelector('.field.has-error input, .field.has-error select, .field.has-error textarea');
    if (first) first.focus();
    else if (this.alert && !this.alert.hidden) this.alert.focus();
  }
}

function append1(alertEl, lines) {
  clear(alertEl);
  alertEl.append(h('p', { class: 'alert-title' }, lines[0]));
  if (lines.length > 1) alertEl.append(h('ul', null, lines.slice(1).map((l) => h('li', null, l))));
}

export function errorTitle(err) {
  if (!(err instanceof ApiError)) return t('error.unexpected');
  if (err.status === 0) return t('error.network');
  if (err.status === 412) return t('error.conflict');
  if (err.status === 503) return t('error.unavailable');
  if (err.errors.some((e) => e.field)) return err.problem.detail || t('error.check_fields');
  // The server's own message (in the his_lang language) is the detail, or
  // an error without a field; the title is often only the HTTP reason.
  const general = err.problem.detail || (err.errors.find((e) => !e.field) || {}).message;
  if (general) return general;
  if (err.status === 403) return t('error.forbidden');
  if (err.status === 404) return t('error.not_found');
  return t('error.unexpected');
}

export function alertBox(kind = 'error') {
  return h('div', { class: ['alert', `alert-${kind}`], role: kind === 'error' ? 'alert' : 'status', tabindex: '-1', hidden: true });
}

export function showAlert(el, kind, text, extra) {
  el.className = `alert alert-${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  clear(el);
  el.append(h('p', { class: 'alert-title' }, text));
  if (extra) el.append(extra);
  el.hidden = false;
}
