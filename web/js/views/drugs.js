// Drug look-up as you type (GET /drugs?q=, diacritics-insensitive on the
// server) as an ARIA combobox, and the labels shared by the prescription,
// dispensing and stock screens.
import { h, clear, debounce, uid } from '../dom.js';
import { get, qs } from '../api.js';
import { t, fmtDate } from '../i18n.js';

export const RX_TYPES = ['C', 'N', 'H', 'T'];

export function typeBadge(type) {
  return h('span', { class: ['badge', 'rx-type', `rx-type-${type}`], title: t('rx.type.' + type) }, type);
}

export function rxStateBadge(state) {
  const cls = { active: 'badge-open', partially_dispensed: 'badge-warn', dispensed: 'badge-ok', cancelled: 'badge-closed', expired: 'badge-danger' }[state] || '';
  return h('span', { class: ['badge', cls], 'data-testid': 'rx-state', dataset: { state } }, t('rx.state.' + state));
}

// The national portal's delivery state of one message (an outbox row as
// GET /outbox and the prescription's `portal` give it).
export function portalState(p) {
  const state = (p && p.state) || 'none';
  const cls = { queued: 'badge-warn', sent: 'badge-open', acknowledged: 'badge-ok', error: 'badge-danger' }[state] || '';
  const errs = (p && Array.isArray(p.errors)) ? p.errors : [];
  return h('div', { class: 'portal-state', 'data-testid': 'portal-state', dataset: { state } },
    h('span', { class: 'muted small' }, t('portal.label'), ' '),
    h('span', { class: ['badge', cls] }, t('portal.state.' + state)),
    p && p.message ? h('p', { class: 'muted small' }, p.message) : null,
    state === 'queued' && p && p.attempts > 0 && p.last_error ? h('p', { class: 'muted small' }, t('portal.retrying', { n: p.attempts })) : null,
    state === 'error' ? h('ul', { class: 'portal-errors', 'data-testid': 'portal-errors' },
      (errs.length ? errs : [{ message: p.last_error || '' }]).map((e) => h('li', null,
        e.code ? h('span', { class: 'mono' }, e.code, ' ') : null,
        e.field ? h('span', { class: 'mono muted' }, e.field, ': ') : null, e.message || ''))) : null);
}

// The same state as a single badge (tables); the portal's reasons in its title.
export function portalBadge(p) {
  const state = (p && p.state) || 'none';
  const cls = { queued: 'badge-warn', sent: 'badge-open', acknowledged: 'badge-ok', error: 'badge-danger' }[state] || '';
  const why = state === 'error' ? ((p.errors || []).map((e) => [e.code, e.message].filter(Boolean).join(' ')).join('; ') || p.last_error || '') : '';
  return h('span', { class: ['badge', cls], title: why || null }, t('portal.state.' + state), why ? ` — ${why}` : '');
}

export function drugLabel(d) {
  return [d.name || d.drug_name || d.drug_code, d.strength && !(d.name || '').includes(d.strength) ? d.strength : null].filter(Boolean).join(' ');
}

export function lotText(l) {
  return t('stock.lot_line', { lot: l.lot, expiry: fmtDate(l.expiry), n: l.quantity });
}

// A combobox that searches the catalogue; onChoose(drug) gets the chosen
// catalogue entry ({code, name, strength, unit, type, rx_class, ...}).
export function drugPicker({ onChoose, label, hint, testid = 'drug-input', typeFilter = null, id } = {}) {
  const listId = uid('drug-list');
  const inputId = id || uid('drug-input');
  const input = h('input', {
    id: inputId, type: 'text', role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
    'aria-controls': listId, autocomplete: 'off', spellcheck: 'false', placeholder: t('drug.placeholder'),
    'data-testid': testid,
  });
  const listbox = h('ul', { id: listId, role: 'listbox', class: 'combo-list', hidden: true, 'aria-label': t('drug.results') });
  const status = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  let items = [];
  let active = -1;
  let ctl = null;

  function close() {
    listbox.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }
  function setActive(i) {
    const opts = listbox.querySelectorAll('[role="option"]');
    opts.forEach((o, k) => o.setAttribute('aria-selected', k === i ? 'true' : 'false'));
    active = i;
    if (i >= 0 && opts[i]) {
      input.setAttribute('aria-activedescendant', opts[i].id);
      opts[i].scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  }
  async function search() {
    const q = input.value.trim();
    if (ctl) ctl.abort();
    if (q.length < 1) { close(); return; }
    ctl = new AbortController();
    try {
      const r = await get('/drugs' + qs({ q, limit: 15 }), { signal: ctl.signal });
      items = r.data.items || [];
      clear(listbox);
      if (!items.length) listbox.append(h('li', { class: 'combo-empty', role: 'presentation' }, t('drug.none')));
      const want = typeFilter ? typeFilter() : null;
      items.forEach((it, i) => {
        const li = h('li', { id: `${listId}-${i}`, role: 'option', 'aria-selected': 'false', class: 'combo-option drug-option', dataset: { code: it.code, type: it.type } },
          h('span', { class: 'mono code' }, it.code),
          h('span', { class: 'drug-opt-main' },
            h('span', { class: 'drug-opt-name' }, it.name),
            h('span', { class: 'muted small' }, [it.ingredient, it.dosage_form, it.unit].filter(Boolean).join(' · '))),
          h('span', { class: 'drug-opt-type' }, typeBadge(it.type),
            want && want !== it.type ? h('span', { class: 'muted small' }, ' ', t('drug.other_type')) : null));
        li.addEventListener('mousedown', (e) => { e.preventDefault(); choose(it); });
        listbox.append(li);
      });
      listbox.hidden = false;
      input.setAttribute('aria-expanded', 'true');
      status.textContent = t('drug.count', { n: items.length });
      setActive(items.length ? 0 : -1);
    } catch (e) {
      if (e.name !== 'AbortError') { clear(listbox); listbox.append(h('li', { class: 'combo-empty', role: 'presentation' }, t('error.network'))); listbox.hidden = false; }
    }
  }
  const later = debounce(search, 200);
  input.addEventListener('input', later);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); if (listbox.hidden) search(); else setActive(Math.min(active + 1, items.length - 1)); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setActive(Math.max(active - 1, 0)); }
    else if (e.key === 'Enter') { e.preventDefault(); if (!listbox.hidden && active >= 0 && items[active]) choose(items[active]); }
    else if (e.key === 'Escape') close();
  });
  input.addEventListener('blur', () => setTimeout(close, 100));

  function choose(it) {
    input.value = '';
    close();
    status.textContent = t('drug.added', { name: it.name });
    onChoose(it);
  }

  const el = h('div', { class: 'field drug-picker' },
    h('label', { for: inputId }, label || t('drug.label')),
    h('div', { class: 'combo' }, input, listbox),
    h('p', { class: 'hint' }, hint || t('drug.hint')),
    status);
  return { el, input, destroy: () => { later.cancel(); if (ctl) ctl.abort(); } };
}
