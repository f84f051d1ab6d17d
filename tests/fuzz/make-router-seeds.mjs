// make-router-seeds.mjs FUZZ_ROUTER OUTDIR -- writes the seed corpus of the
// router target: for every route, one input per sample body (byte 0 the
// route's index in the registered table, byte 1 flags, the query line, then
// the JSON body). Rerun after routes are added; indices follow the table.
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';

const [bin, out] = process.argv.slice(2);
const list = execFileSync(bin, ['-runs=0'], { env: { ...process.env, HIS_FUZZ_LIST_ROUTES: '1' }, stdio: ['ignore', 'pipe', 'ignore'] })
  .toString().trim().split('\n').map((l) => l.split(' ')).filter((x) => x.length === 3);
const addr = { line: '12 Lê Lợi', village: 'Thôn 3', commune_code: '01894', province_code: '19' };
const bodies = {
  '/api/v1/auth/login': [{ username: 'bs.an', password: 'Demo@2026' }],
  '/api/v1/patients': [
    { full_name: 'Đặng Thị Ngọc Ửng', birth_date: '1990-05-17', sex: 'female', cccd: '019190000123', phone: '0912345678', ethnicity: '01', address: addr, insurance_card: { number: 'DN4010123456789', primary_facility: '19010', valid_from: '2026-01-01', valid_to: '2026-12-31' } },
    { full_name: "Robert'); DROP TABLE clinical.patients;--", birth_date: '1941', sex: 'male' },
  ],
  '/api/v1/patients/{id}': [{ full_name: 'Lục Văn Cổ', phone: null, address: addr }],
  '/api/v1/patients/{id}/merge': [{ into: 2 }],
  '/api/v1/households': [{ head_patient_id: 1, address: addr, members: [{ patient_id: 2, relationship: 'spouse' }] }],
  '/api/v1/households/{id}': [{ address: addr }],
  '/api/v1/households/{id}/members': [{ patient_id: 3, relationship: 'child' }],
  '/api/v1/households/{id}/members/{patient_id}/move': [{ to_household_id: 2, relationship: 'head' }],
  '/api/v1/visits': [{ patient_id: 1, kind: 'outpatient', reason: 'Sốt <script>alert(1)</script>', department: 'K01' }],
  '/api/v1/visits/{id}': [{ vitals: { pulse: 110, temperature: 38.2 }, diagnoses: [{ icd10: 'J06.9', primary: true }], note: 'x', results: [{ code: 'HGB', value: '120', unit: 'g/L', reference_range: '120-160' }] }],
  '/api/v1/visits/{id}/close': [{ discharged_at: '2026-01-02T10:00:00+07:00', outcome: 'recovered' }],
  '/api/v1/patients/{id}/health-record': [{ allergies: [{ text: 'Penicillin' }], chronic: [{ code: 'I10' }] }],
  '/api/v1/visits/{id}/prescriptions': [{ type: 'C', items: [{ drug_code: 'T0001', quantity: 10, unit: 'viên', dosage: '1 viên x 2 lần', days: 5 }], advice: 'Uống nhiều nước' }],
  '/api/v1/prescriptions/{code}/cancel': [{ reason: 'sai liều' }],
  '/api/v1/prescriptions/{code}/dispensings': [{ items: [{ drug_code: 'T0001', quantity: 5 }] }],
  '/api/v1/stock/receipts': [{ drug_code: 'T0001', lot: 'L1', expiry: '2027-01-01', quantity: 100, unit_price: '450' }],
  '/api/v1/stock/adjustments': [{ drug_code: 'T0001', lot: 'L1', quantity: -1, reason: 'vỡ' }],
  '/api/v1/referrals': [{ visit_id: 1, to_facility: '19001', reason_code: 1, diagnosis: 'J18', clinical_signs: 'sốt', treatment_given: 'kháng sinh', transport: 'ambulance' }],
  '/api/v1/referrals/{id}/answer': [{ accepted: true, note: 'ok' }],
  '/api/v1/referrals/{id}/results': [{ text: 'ổn định', diagnosis: 'J18.9' }],
  '/api/v1/hl7/peers': [{ code: 'LAB', host: '127.0.0.1', port: 2575 }],
  '/api/v1/claims/batches': [{ month: '2026-01' }],
};
const queries = {
  '/api/v1/patients': 'q=dang thi&limit=20',
  '/api/v1/drugs': 'q=paracetamol&class=other&limit=5',
};
mkdirSync(out, { recursive: true });
for (const [idx, method, pattern] of list) {
  const samples = bodies[pattern] && method !== 'GET' && method !== 'DELETE' ? bodies[pattern] : [method === 'GET' ? null : {}];
  samples.forEach((b, k) => {
    const q = method === 'GET' ? (queries[pattern] || 'limit=10') : '';
    const body = b === null ? '' : JSON.stringify(b);
    const buf = Buffer.concat([Buffer.from([Number(idx), 0x20]), Buffer.from(q + '\n' + body)]);
    const name = `${method}_${pattern.replace(/^\/api\/v1\//, '').replace(/[^a-z0-9]+/gi, '_')}_${k}`;
    writeFileSync(`${out}/${name}`, buf);
  });
}
