// Issue 4 point 5, the commune station: yt.phucloc adds a household with two
// members (the head, then a new person as spouse), updates one member's
// vaccinations in the health record, and a conflicting save keeps the edits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, login, shot, lit } from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { if (env) await env.close(); });

const HEAD = 'Lục Văn Thử';
const SPOUSE = 'Ma Thị Kiểm';
const VILLAGE = 'Thôn Nà Thử';

async function openRecordOf(page, name) {
  await page.getByTestId('members').locator('tr', { hasText: name }).getByTestId('open-record').click();
  await page.getByTestId('record-form').waitFor();
}

test('a commune worker adds a household with two members and updates a member\'s vaccinations', async () => {
  const page = await env.newPage();
  await login(page, 'yt.phucloc');
  await page.getByTestId('household-list').waitFor();
  await shot(page, 'commune-1-households');

  await page.getByTestId('new-household').click();
  await page.getByRole('heading', { name: 'Thêm hộ gia đình', level: 1 }).waitFor();
  await page.getByLabel('Thôn/xóm').fill(VILLAGE);
  await page.getByLabel('Địa chỉ', { exact: true }).fill('Nhà số 7, đường liên thôn');
  await page.getByLabel('Họ và tên').fill(HEAD);
  await page.getByLabel('Giới tính').selectOption('male');
  await page.getByLabel('Ngày sinh').fill('1968');
  await page.getByLabel('Dân tộc').selectOption('02');
  await shot(page, 'commune-2-new-household');
  await page.getByTestId('save-household').click();

  await page.getByTestId('household-title').waitFor();
  const members = page.getByTestId('members');
  await members.locator('tr', { hasText: HEAD }).filter({ hasText: 'Chủ hộ' }).waitFor();

  // Second member: a new person, the head's spouse
  await page.getByTestId('add-member-open').click();
  const add = page.getByTestId('add-member');
  await add.getByLabel('Quan hệ với chủ hộ').selectOption('spouse');
  await add.getByLabel('Họ và tên').fill(SPOUSE);
  await add.getByLabel('Giới tính').selectOption('female');
  await add.getByLabel('Ngày sinh').fill('15/06/1972');
  await add.getByLabel('Dân tộc').selectOption('02');
  await add.getByTestId('save-member').click();
  await members.locator('tr', { hasText: SPOUSE }).filter({ hasText: 'Vợ/chồng' }).waitFor();
  assert.equal(await members.locator('tbody tr').count(), 2);
  await shot(page, 'commune-3-household');

  // The spouse's record, section 3: two vaccinations
  await openRecordOf(page, SPOUSE);
  await page.getByRole('tab', { name: /Tiêm chủng/ }).click();
  const list = page.getByTestId('list-vaccinations');
  await page.getByTestId('add-vaccinations').click();
  let row = list.locator('tbody tr').nth(0);
  await row.getByLabel('Vắc xin').fill('Uốn ván (VAT)');
  await row.getByLabel('Mũi thứ').fill('2');
  await row.getByLabel('Ngày').fill('2025-03-10');
  await row.getByLabel('Nơi thực hiện').fill('Trạm Y tế xã Phúc Lộc');
  await page.getByTestId('add-vaccinations').click();
  row = list.locator('tbody tr').nth(1);
  await row.getByLabel('Vắc xin').fill('Cúm mùa');
  await row.getByLabel('Mũi thứ').fill('1');
  await row.getByLabel('Ngày').fill('2025-10-02');
  await page.getByTestId('save-record').click();
  await page.getByText(/^Đã lưu lúc/).waitFor();
  await shot(page, 'commune-4-vaccinations');

  // The database: the household in the worker's commune with its two members, the vaccinations stored
  const hh = env.server.sql(`SELECT id FROM clinical.households WHERE village = ${lit(VILLAGE)}`);
  assert.ok(hh, 'household created');
  assert.equal(env.server.sql(`SELECT commune_code FROM clinical.households WHERE id = ${hh}`), '01894');
  assert.equal(env.server.sql(`SELECT string_agg(p.full_name || ':' || m.relationship, ',' ORDER BY m.id) FROM clinical.household_members m JOIN clinical.patients p ON p.id = m.patient_id WHERE m.household_id = ${hh} AND m.left_at IS NULL`),
    `${HEAD}:head,${SPOUSE}:spouse`);
  const pid = env.server.sql(`SELECT id FROM clinical.patients WHERE full_name = ${lit(SPOUSE)}`);
  const vacc = JSON.parse(env.server.sql(`SELECT prevention->'vaccinations' FROM clinical.health_records WHERE patient_id = ${pid}`));
  assert.equal(vacc.length, 2);
  assert.equal(vacc[0].vaccine, 'Uốn ván (VAT)');
  assert.equal(vacc[0].dose, 2);
  assert.equal(vacc[0].date, '2025-03-10');
  assert.equal(vacc[1].vaccine, 'Cúm mùa');

  // Reload: the record shows what was saved
  await page.reload();
  await page.getByRole('tab', { name: /Tiêm chủng/ }).click();
  assert.equal(await list.locator('tbody tr').nth(0).getByLabel('Vắc xin').inputValue(), 'Uốn ván (VAT)');
  assert.deepEqual(page.problems, []);
});

test('a conflicting save shows a message and keeps the user\'s edits; saving over works', async () => {
  const page = await env.newPage();
  await login(page, 'yt.phucloc');
  // a member of a seeded household of the commune
  const pid = env.server.sql(`SELECT m.patient_id FROM clinical.household_members m JOIN clinical.households h ON h.id = m.household_id WHERE h.commune_code = '01894' AND m.left_at IS NULL ORDER BY m.id LIMIT 1`);
  await page.goto(`/patients/${pid}/record`);
  await page.getByTestId('record-form').waitFor();
  await page.getByRole('tab', { name: /Tiêm chủng/ }).click();
  await page.getByTestId('add-vaccinations').click();
  const row = page.getByTestId('list-vaccinations').locator('tbody tr').last();
  await row.getByLabel('Vắc xin').fill('Viêm gan B');
  await row.getByLabel('Mũi thứ').fill('3');
  await row.getByLabel('Ngày').fill('2025-11-20');

  // Meanwhile a colleague saves the record (section 2) through the API
  const api = await env.server.login('yt.phucloc');
  const cur = await api.get(`/api/v1/patients/${pid}/health-record`);
  const put = await api.put(`/api/v1/patients/${pid}/health-record`,
    { history: { ...cur.json.history, other_issues: 'Ghi chú của đồng nghiệp' } }, { 'If-Match': cur.headers.get('etag') });
  assert.equal(put.status, 200, put.text);

  await page.getByTestId('save-record').click();
  const conflict = page.getByTestId('conflict');
  await conflict.waitFor();
  assert.match(await conflict.innerText(), /người khác cập nhật/);
  assert.equal(await row.getByLabel('Vắc xin').inputValue(), 'Viêm gan B', 'the edit is still there');
  await shot(page, 'commune-5-conflict');

  await page.getByTestId('conflict-overwrite').click();
  await page.getByText('Đã lưu thay đổi của bạn lên phiên bản mới nhất.').waitFor();
  const rec = JSON.parse(env.server.sql(`SELECT json_build_object('p', prevention, 'h', history) FROM clinical.health_records WHERE patient_id = ${pid}`));
  assert.ok(rec.p.vaccinations.some((v) => v.vaccine === 'Viêm gan B' && v.dose === 3));
  assert.equal(rec.h.other_issues, 'Ghi chú của đồng nghiệp', 'the colleague\'s change is kept');
  // the form now shows both: the colleague's note and the user's vaccination
  await page.getByRole('tab', { name: /Tiền sử/ }).click();
  assert.equal(await page.getByLabel('Vấn đề sức khỏe khác').inputValue(), 'Ghi chú của đồng nghiệp');
});
