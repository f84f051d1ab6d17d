// Issue 2 point 9: the web shell. Log in as several roles, see each role's
// workspace (name, facility), switch to English and back, log out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, login, shot } from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { if (env) await env.close(); });

const ROLES = [
  { user: 'bs.an', title: 'Bàn làm việc của bác sĩ', en: "Doctor's workspace" },
  { user: 'yt.phucloc', title: 'Trạm y tế xã', en: 'Commune health station' },
  { user: 'ds.lan', title: 'Bàn làm việc của dược sĩ', en: "Pharmacist's workspace" },
  { user: 'syt.thu', title: 'Sở Y tế — theo dõi toàn tỉnh', en: 'Health Department — province overview', empty: true },
];

test('login page is in Vietnamese, rejects a wrong password next to the field', async () => {
  const page = await env.newPage();
  await page.goto('/');
  await page.getByRole('heading', { name: 'Đăng nhập' }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'vi');
  await page.getByLabel('Tên đăng nhập').fill('bs.an');
  await page.getByLabel('Mật khẩu').fill('wrong-password');
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  const err = page.locator('.field[data-field="password"] .field-error');
  await err.waitFor();
  assert.match(await err.innerText(), /Sai tên đăng nhập hoặc mật khẩu/);
  await shot(page, 'shell-login-error');
  assert.deepEqual(page.problems, []);
});

for (const r of ROLES) {
  test(`${r.user} sees their role's workspace, switches to English, logs out`, async () => {
    const page = await env.newPage();
    await login(page, r.user);
    const who = JSON.parse(env.server.sql(
      `SELECT json_build_object('name', u.full_name, 'facility', f.name, 'role', u.role) FROM core.users u JOIN core.facilities f ON f.id = u.facility_id WHERE u.username = '${r.user}'`));
    const title = page.getByTestId('workspace-title');
    assert.equal(await title.innerText(), r.title);
    assert.equal(await title.getAttribute('data-role'), who.role);
    assert.equal(await page.getByTestId('user-name').innerText(), who.name);
    assert.equal(await page.getByTestId('facility-name').innerText(), who.facility);
    if (r.empty) await page.getByTestId('empty-workspace').waitFor();
    await shot(page, `shell-workspace-${r.user}`);

    // English switch: texts change at once, and the choice survives a reload
    await page.getByRole('button', { name: 'Switch to English' }).click();
    await page.getByRole('heading', { name: r.en }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    await page.reload();
    await page.getByRole('heading', { name: r.en }).waitFor();
    assert.equal(await page.getByTestId('logout').innerText(), 'Sign out');
    const cookies = await page.context().cookies();
    assert.equal(cookies.find((c) => c.name === 'his_lang')?.value, 'en');
    await shot(page, `shell-workspace-${r.user}-en`);

    // The server answers in English too (problem+json titles)
    const res = await page.evaluate(async () => (await fetch('/api/v1/nothing-here')).json());
    assert.match(res.title, /^not found$/i);

    // Back to Vietnamese, then log out: the login page, and the session is gone
    await page.getByRole('button', { name: 'Chuyển sang tiếng Việt' }).click();
    await page.getByRole('heading', { name: r.title }).waitFor();
    await page.getByTestId('logout').click();
    await page.getByRole('heading', { name: 'Đăng nhập' }).waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
    assert.equal(me, 401);
    await page.goto('/');
    await page.getByRole('heading', { name: 'Đăng nhập' }).waitFor();
    assert.deepEqual(page.problems, []);
  });
}

test('a deep link before login returns there after login; CSRF token survives a reload', async () => {
  const page = await env.newPage();
  await page.goto('/households');
  await page.getByRole('heading', { name: 'Đăng nhập' }).waitFor();
  assert.match(page.url(), /\/login\?next=%2Fhouseholds$/);
  await page.getByLabel('Tên đăng nhập').fill('yt.phucloc');
  await page.getByLabel('Mật khẩu').fill('Demo@2026');
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  await page.getByRole('heading', { name: 'Hộ gia đình', level: 1 }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Hộ gia đình', level: 1 }).waitFor();
  // After the reload the CSRF token comes from /auth/me: a logout (POST with the token) works
  await page.getByTestId('logout').click();
  await page.getByRole('heading', { name: 'Đăng nhập' }).waitFor();
  assert.equal(await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status), 401);
});

test('a tablet-sized window shows the workspace without horizontal scrolling', async () => {
  const page = await env.newPage({ viewport: { width: 800, height: 1180 } });
  await login(page, 'bs.an');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `horizontal overflow of ${overflow}px`);
  await shot(page, 'shell-tablet-doctor');
});
