// The dictionaries: Vietnamese and English have the same keys, every text the
// code asks for by a literal key exists, Vietnamese texts carry diacritics
// (no accidental ASCII-only translations of whole sentences), and no
// inline scripts or styles slipped into the HTML (the CSP forbids them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const vi = JSON.parse(readFileSync(join(web, 'i18n', 'vi.json'), 'utf8'));
const en = JSON.parse(readFileSync(join(web, 'i18n', 'en.json'), 'utf8'));

function files(dir, ext) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
  });
}

test('vi and en have the same keys, none empty', () => {
  assert.deepEqual(Object.keys(vi).sort(), Object.keys(en).sort());
  for (const [k, v] of Object.entries(vi)) assert.ok(v.length > 0, `vi ${k} empty`);
  for (const [k, v] of Object.entries(en)) assert.ok(v.length > 0, `en ${k} empty`);
});

test('every literal key used by the code exists', () => {
  const missing = [];
  for (const f of files(join(web, 'js'), '.js')) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/\bt\('([A-Za-z0-9_.+-]+)'\s*[,)]/g)) if (!(m[1] in vi)) missing.push(`${f}: ${m[1]}`);
    if (f.endsWith('record_schema.js')) {
      for (const m of src.matchAll(/\b(?:label|title|add): '([a-z0-9_.]+)'/g)) if (!(m[1] in vi)) missing.push(`${f}: ${m[1]}`);
      for (const m of src.matchAll(/label: '([^']+)', type: 'select', options: \[([^\]]*)\]/g)) {
        for (const o of m[2].matchAll(/'([^']*)'/g)) if (!(`${m[1]}.${o[1]}` in vi)) missing.push(`${f}: ${m[1]}.${o[1]}`);
      }
    }
  }
  // keys built from a prefix and an API value
  const enums = {
    'role.': ['doctor', 'nurse', 'pharmacist', 'commune_worker', 'claims_officer', 'health_department', 'admin'],
    'workspace.': ['doctor', 'nurse', 'pharmacist', 'commune_worker', 'claims_officer', 'health_department', 'admin'],
    'sex.': ['male', 'female', 'unknown'],
    'visit.kind.': ['outpatient', 'inpatient', 'emergency'],
    'visit.state.': ['open', 'closed'],
    'rel.': ['head', 'spouse', 'child', 'parent', 'grandchild', 'grandparent', 'sibling', 'child_in_law', 'other'],
  };
  for (const [pre, vals] of Object.entries(enums)) for (const v of vals) if (!(pre + v in vi)) missing.push(pre + v);
  assert.deepEqual(missing, []);
});

test('Vietnamese sentences are written with diacritics', () => {
  const plain = Object.entries(vi).filter(([, v]) => v.split(' ').length >= 4 && !/[^\x00-\x7F]/.test(v));
  assert.deepEqual(plain, []);
});

test('no inline script or style in the HTML shell', () => {
  const html = readFileSync(join(web, 'index.html'), 'utf8');
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'inline <script>');
  assert.ok(!/<style/i.test(html), '<style> block');
  assert.ok(!/\sstyle=/i.test(html), 'style attribute');
  assert.ok(!/\son[a-z]+=/i.test(html), 'inline event handler');
  for (const f of files(join(web, 'js'), '.js')) {
    const src = readFileSync(f, 'utf8');
    assert.ok(!/innerHTML\s*=/.test(src), `${f} sets innerHTML`);
    assert.ok(!/\.style\./.test(src) && !/'style'/.test(src), `${f} sets inline styles`);
  }
});
