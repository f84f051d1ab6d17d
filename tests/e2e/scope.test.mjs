// Issue 4 point 5 (and issue 2 point 7 seen from the screen): a commune
// worker cannot open another commune's household or a member's record by
// typing its address: a not-found message and none of its data.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, login, shot } from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { if (env) await env.close(); });

test('a commune worker cannot open another commune\'s household or health record', async () => {
  // A household of Ba Bể (yt.babe's station), with a member
  const other = JSON.parse(env.server.sql(`SELECT json_build_object('id', h.id, 'code', h.code, 'village', h.village, 'pid', m.patient_id, 'name', p.full_name)
    FROM clinical.households h JOIN clinical.household_members m ON m.household_id = h.id AND m.left_at IS NULL
    JOIN clinical.patients p ON p.id = m.patient_id WHERE h.commune_code = '01906' ORDER BY h.id LIMIT 1`));
  assert.ok(other.id, 'the demo data has households in commune 01906');

  const page = await env.newPage();
  await login(page, 'yt.phucloc');
  // its own household list does not list it
  await page.getByTestId('household-list').waitFor();
  assert.equal(await page.getByTestId('household-list').getByText(other.code, { exact: true }).count(), 0);

  await page.goto(`/households/${other.id}`);
  const err = page.getByTestId('load-error');
  await err.waitFor();
  assert.equal(await err.getAttribute('data-status'), '404');
  assert.match(await err.innerText(), /Không tìm thấy/);
  const text = await page.locator('main').innerText();
  assert.ok(!text.includes(other.code) && !text.includes(other.name), 'no data of the household is shown');
  assert.equal(await page.getByTestId('members').count(), 0);
  await shot(page, 'scope-1-other-household');

  await page.goto(`/patients/${other.pid}/record`);
  await err.waitFor();
  assert.equal(await err.getAttribute('data-status'), '404');
  assert.ok(!(await page.locator('main').innerText()).includes(other.name));
  assert.equal(await page.getByTestId('record-form').count(), 0);

  // the worker of that commune does see it
  const page2 = await env.newPage();
  await login(page2, 'yt.babe');
  await page2.goto(`/households/${other.id}`);
  await page2.getByTestId('members').locator('tr', { hasText: other.name }).waitFor();
  await shot(page2, 'scope-2-own-household');

  // The refused read is in the audit trail
  assert.ok(Number(env.server.sql(`SELECT count(*) FROM audit.events WHERE entity = 'household' AND entity_id = '${other.id}' AND outcome = 'not_found'`)) >= 1);
});

test('a doctor cannot open the commune screens, a commune worker not the visit screens', async () => {
  const page = await env.newPage();
  await login(page, 'bs.an');
  await page.goto('/households');
  await page.getByRole('heading', { name: 'Vai trò của bạn không được mở trang này' }).waitFor();
  const page2 = await env.newPage();
  await login(page2, 'yt.phucloc');
  await page2.goto('/patients/new');
  await page2.getByRole('heading', { name: 'Vai trò của bạn không được mở trang này' }).waitFor();
});
