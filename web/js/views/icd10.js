// ICD-10 look-up as you type (ARIA combobox with a listbox) and the list of
// chosen diagnoses, one of them primary.
import { h, clear, debounce, uid } from '../dom.js';
import { get, qs } from '../api.js';
import { t, getLang } from '../i18n.js';

export function icd10Picker({ value = [], disabled = false } = {}) {
  const listId = uid('icd-list');
  const inputId = uid('icd-input');
  let chosen = value.map((d) => ({ icd10: d.icd10 || d.code, name: (getLang() === 'en' && d.name_en) || d.name || d.title || '', primary: !!d.primary }));
  if (chosen.length && !chosen.some((d) => d.primary)) chosen[0].primary = true;
  const nameCache = new Map();

  const input = h('input', {
    id: inputId, type: 'text', role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
    'aria-controls': listId, autocomplete: 'off', spellcheck: 'false', placeholder: t('icd.placeholder'),
    'data-testid': 'icd10-input', disabled,
  });
  const listbox = h('ul', { id: listId, role: 'listbox', class: 'combo-list', hidden: true, 'aria-label': t('icd.results') });
  const status = h('p', { class: 'sr-only', role: 'status', 'aria-live': 'polite' });
  const chosenList = h('ul', { class: 'dx-list', 'data-testid': 'diagnoses' });
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
      const r = await get('/icd10' + qs({ q, limit: 15 }), { signal: ctl.signal });
      items = r.data.items || [];
      clear(listbox);
      if (!items.length) {
        listbox.append(h('li', { class: 'combo-empty', role: 'presentation' }, t('icd.none')));
      }
      items.forEach((it, i) => {
        nameCache.set(it.code, it.name || it.title || '');
        const li = h('li', { id: `${listId}-${i}`, role: 'option', 'aria-selected': 'false', class: 'combo-option', dataset: { code: it.code } },
          h('span', { class: 'mono code' }, it.code), h('span', null, it.name || it.title || ''));
        li.addEventListener('mousedown', (e) => { e.preventDefault(); choose(it); });
        listbox.append(li);
      });
      listbox.hidden = false;
      input.setAttribute('aria-expanded', 'true');
      status.textContent = t('icd.count', { n: items.length });
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
    else if (e.key === 'Enter') { if (!listbox.hidden && active >= 0 && items[active]) { e.preventDefault(); choose(items[active]); } else e.preventDefault(); }
    else if (e.key === 'Escape') { close(); }
  });
  input.addEventListener('blur', () => setTimeout(close, 100));

  function choose(it) {
    if (!chosen.some((d) => d.icd10 === it.code)) {
      chosen.push({ icd10: it.code, name: it.name || it.title || '', primary: chosen.length === 0 });
    }
    input.value = '';
    close();
    renderChosen();
    status.textContent = t('icd.added', { code: it.code });
    input.focus();
  }
  const radioName = uid('dx-primary');
  function renderChosen() {
    clear(chosenList);
    if (!chosen.length) chosenList.append(h('li', { class: 'muted dx-empty' }, t('icd.no_diagnoses')));
    chosen.forEach((d, i) => {
      const rid = `${radioName}-${i}`;
      chosenList.append(h('li', { class: 'dx-item', dataset: { code: d.icd10 } },
        h('span', { class: 'mono code' }, d.icd10),
        h('span', { class: 'dx-name' }, d.name || nameCache.get(d.icd10) || ''),
        h('span', { class: 'dx-primary' },
          h('input', { type: 'radio', id: rid, name: radioName, checked: d.primary, disabled,
            onchange: () => { chosen.forEach((x, k) => { x.primary = k === i; }); renderChosen(); } }),
          h('label', { for: rid }, d.primary ? t('icd.primary') : t('icd.make_primary'))),
        disabled ? null : h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'aria-label': t('icd.remove', { code: d.icd10 }),
          onclick: () => { const wasPrimary = d.primary; chosen.splice(i, 1); if (wasPrimary && chosen.length) chosen[0].primary = true; renderChosen(); } }, t('common.remove'))));
    });
  }
  renderChosen();
  // Names of diagnoses loaded from the server without a name.
  (async () => {
    for (const d of chosen.filter((x) => !x.name)) {
      try {
        const r = await get('/icd10' + qs({ q: d.icd10, limit: 5 }));
        const m = (r.data.items || []).find((x) => x.code === d.icd10);
        if (m) { d.name = m.name || m.title || ''; }
      } catch { /* names are a convenience */ }
    }
    renderChosen();
  })();

  const el = h('div', { class: 'icd-picker' },
    disabled ? null : h('div', { class: 'field' },
      h('label', { for: inputId }, t('icd.label')),
      h('div', { class: 'combo' }, input, listbox),
      h('p', { class: 'hint' }, t('icd.hint'))),
    status,
    h('div', { class: 'field', dataset: { field: 'diagnoses' } },
      h('p', { class: 'label-strong' }, t('icd.chosen')), chosenList,
      h('p', { class: 'field-error', hidden: true })));
  return {
    el,
    value: () => chosen.map((d) => ({ icd10: d.icd10, primary: d.primary })),
    destroy: () => { later.cancel(); if (ctl) ctl.abort(); },
  };
}
