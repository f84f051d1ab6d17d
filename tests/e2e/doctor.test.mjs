// Issue 4 point 5, the doctor's day: bs.an registers a new patient at
// reception (CCCD, insurance card, address), starts a visit, records vitals,
// notes and diagnoses chosen from the ICD-10 look-up as they type, closes the
// visit, and finds it in the patient's history; the database holds it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setup, login, shot, lit } from './helpers.mjs';

let env;
before(async () => { env = await setup(); });
after(async () => { if (env) await env.close(); });

const NAME = 'Hoàng Thị Thử Nghiệm';
const CCCD = '019185004321';   // Thái Nguyên (019), woman born in the 1900s (1), 1985
const CARD = 'GD4191234567890';

test('a doctor registers a patient, records a visit with an ICD-10 diagnosis, sees it in the history', async () => {
  const page = await env.newPage();
  await login(page, 'bs.an');

  // Reception
  await page.getByTestId('new-patient').click();
  await page.getByRole('heading', { name: 'Tiếp đón bệnh nhân mới', level: 1 }).waitFor();
  await page.getByLabel('Họ và tên').fill(NAME);
  await page.getByLabel('Giới tính').selectOption('female');
  await page.getByLabel('Ngày sinh').fill('12/03/1985');
  await page.getByLabel('Số CCCD').fill(CCCD);
  await page.getByLabel('Điện thoại').fill('0912345678');
  await page.getByLabel('Tỉnh/thành phố').selectOption('19');
  await page.getByLabel('Xã/phường').selectOption('01894');
  await page.getByLabel('Thôn/xóm').fill('Thôn Đồng Tâm');
  await page.getByLabel('Số thẻ BHYT').fill(CARD);
  await page.getByLabel('Giá trị từ ngày').fill('2026-01-01');
  await page.getByLabel('Đến ngày').fill('2026-12-31');
  await page.getByLabel('Nơi đăng ký KCB ban đầu').fill('19010');
  await shot(page, 'doctor-1-reception');
  await page.getByTestId('save-and-visit').click();

  // The visit form
  await page.getByTestId('visit-form').waitFor();
  await page.getByTestId('patient-name').filter({ hasText: NAME }).waitFor();
  await page.getByLabel('Mạch (lần/phút)').fill('88');
  await page.getByLabel('Nhiệt độ (°C)').fill('38.2');
  await page.getByLabel('Huyết áp tâm thu (mmHg)').fill('125');
  await page.getByLabel('Huyết áp tâm trương (mmHg)').fill('80');
  await page.getByLabel('Nhịp thở (lần/phút)').fill('20');
  await page.getByLabel('Cân nặng (kg)').fill('52');
  await page.getByLabel('Chiều cao (cm)').fill('156');
  await page.getByLabel('Bệnh sử, triệu chứng, khám thực thể').fill('Sốt 2 ngày, ho, đau họng. Họng đỏ, phổi trong.');

  // ICD-10 look-up: typed without diacritics, chosen with the mouse
  const icd = page.getByTestId('icd10-input');
  await icd.fill('ho hap tren cap');
  const option = page.locator('[role="option"][data-code="J06.9"]');
  await option.waitFor();
  assert.match(await option.innerText(), /Nhiễm trùng đường hô hấp trên cấp/);
  await shot(page, 'doctor-2-icd10-lookup');
  await option.click();
  // a second diagnosis by code, chosen with the keyboard
  await icd.fill('I10');
  await page.locator('[role="option"][data-code="I10"]').waitFor();
  await icd.press('Enter');
  const dx = page.getByTestId('diagnoses');
  await dx.locator('[data-code="I10"]').waitFor();
  assert.ok(await dx.locator('[data-code="J06.9"] input[type=radio]').isChecked(), 'the first diagnosis is the primary one');
  assert.ok(!(await dx.locator('[data-code="I10"] input[type=radio]').isChecked()));

  await page.getByTestId('save-visit').click();
  await page.getByText(/^Đã lưu lúc/).waitFor();
  await shot(page, 'doctor-3-visit-saved');

  // Close the visit: back on the patient's page, the visit is in the history
  await page.getByTestId('close-visit').click();
  await page.getByTestId('confirm-close').click();
  const history = page.getByTestId('visit-history');
  await history.waitFor();
  const row = history.locator('tbody tr').first();
  await row.filter({ hasText: 'J06.9' }).waitFor();
  assert.match(await row.innerText(), /Đã kết thúc/);
  await shot(page, 'doctor-4-history');

  // The database: the patient with CCCD and card, one closed visit, its vitals and diagnoses
  const pid = env.server.sql(`SELECT id FROM clinical.patients WHERE cccd = ${lit(CCCD)}`);
  assert.ok(pid, 'patient registered');
  assert.equal(env.server.sql(`SELECT full_name || '|' || card_number || '|' || birth_date || '|' || commune_code FROM clinical.patients WHERE id = ${pid}`),
    `${NAME}|${CARD}|1985-03-12|01894`);
  assert.equal(env.server.sql(`SELECT count(*) FROM clinical.visits WHERE patient_id = ${pid}`), '1');
  assert.equal(env.server.sql(`SELECT state || '|' || kind || '|' || pulse || '|' || temperature || '|' || systolic || '/' || diastolic FROM clinical.visits WHERE patient_id = ${pid}`),
    'closed|outpatient|88|38.2|125/80');
  assert.equal(env.server.sql(`SELECT string_agg(d.icd10 || ':' || d.is_primary, ',' ORDER BY d.seq) FROM clinical.visit_diagnoses d JOIN clinical.visits v ON v.id = d.visit_id WHERE v.patient_id = ${pid}`),
    'J06.9:true,I10:false');
  assert.match(env.server.sql(`SELECT notes FROM clinical.visits WHERE patient_id = ${pid}`), /đau họng/);

  // Search finds her without diacritics, and the row leads to the same history
  await page.getByRole('navigation').getByRole('link', { name: 'Tìm bệnh nhân' }).click();
  await page.getByLabel('Họ tên, số CCCD, số thẻ BHYT hoặc số điện thoại').fill('hoang thi thu nghiem');
  const hit = page.getByTestId('patient-results').getByRole('link', { name: NAME });
  await hit.waitFor();
  await shot(page, 'doctor-5-search');
  await hit.click();
  await page.getByTestId('visit-history').locator('tbody tr').filter({ hasText: 'J06.9' }).waitFor();

  // The workspace lists today's visits, hers among them
  await page.getByRole('navigation').getByRole('link', { name: 'Bàn làm việc' }).click();
  await page.getByTestId('today-visits').locator('tr', { hasText: NAME }).filter({ hasText: 'Đã kết thúc' }).waitFor();
  await shot(page, 'doctor-6-workspace-today');
  assert.deepEqual(page.problems, []);
});

test('reception shows the server\'s field errors next to the fields, in the chosen language', async () => {
  const page = await env.newPage();
  await login(page, 'bs.an');
  await page.goto('/patients/new');
  await page.getByLabel('Họ và tên').fill('Nguyễn Văn Lỗi');
  await page.getByLabel('Giới tính').selectOption('male');
  await page.getByLabel('Ngày sinh').fill('1990');
  await page.getByLabel('Số CCCD').fill('12345');
  await page.getByLabel('Số thẻ BHYT').fill('ZZ9');
  await page.getByTestId('save-patient').click();
  const cccdErr = page.locator('.field[data-field="cccd"] .field-error');
  await cccdErr.waitFor();
  assert.ok((await cccdErr.innerText()).length > 0);
  await page.locator('.field[data-field="insurance_card.number"] .field-error').waitFor();
  assert.equal(await page.getByLabel('Số CCCD').getAttribute('aria-invalid'), 'true');
  await shot(page, 'doctor-7-reception-errors');
  assert.equal(env.server.sql(`SELECT count(*) FROM clinical.patients WHERE full_name = 'Nguyễn Văn Lỗi'`), '0');
});
