// The fields of the health record form, per section. Keys are exactly the
// JSON members his/phr.c accepts (unknown members are refused there), so a
// change on either side must be made on both.
// Field types: text (default), date, partial_date (YYYY, YYYY-MM or
// YYYY-MM-DD), number, select (options are the API's enumeration values),
// checkbox.
export const SCHEMA = [
  {
    key: 'identity', title: 'record.s1',
    parts: [
      { title: 'record.s1.admin', fields: [
        { key: 'blood_group_abo', label: 'phr.blood_group_abo', type: 'select', options: ['A', 'B', 'AB', 'O'] },
        { key: 'blood_group_rh', label: 'phr.blood_group_rh', type: 'select', options: ['+', '-'] },
        { key: 'marital_status', label: 'phr.marital_status', type: 'select', options: ['single', 'married', 'divorced', 'widowed', 'other'] },
        { key: 'occupation', label: 'phr.occupation', max: 100 },
        { key: 'education', label: 'phr.education', max: 100 },
        { key: 'religion', label: 'phr.religion', max: 50 },
        { key: 'birth_place', label: 'phr.birth_place', max: 200 },
        { key: 'id_issued_on', label: 'phr.id_issued_on', type: 'date' },
        { key: 'id_issued_by', label: 'phr.id_issued_by', max: 200 },
      ] },
      { title: 'record.s1.contact', fields: [
        { key: 'father_name', label: 'phr.father_name', max: 200 },
        { key: 'mother_name', label: 'phr.mother_name', max: 200 },
        { key: 'caregiver', label: 'phr.caregiver', max: 200 },
        { key: 'caregiver_relationship', label: 'phr.caregiver_relationship', max: 50 },
        { key: 'home_phone', label: 'phr.home_phone', max: 20 },
        { key: 'email', label: 'phr.email', max: 254 },
        { key: 'current_address', label: 'phr.current_address', max: 300, wide: true },
        { key: 'note', label: 'phr.note', type: 'textarea', max: 2000, wide: true },
      ] },
    ],
  },
  {
    key: 'history', title: 'record.s2',
    parts: [
      { type: 'list', key: 'allergies', title: 'phr.allergies', add: 'phr.allergies.add', columns: [
        { key: 'type', label: 'phr.allergy.type', type: 'select', options: ['drug', 'chemical', 'food', 'other'] },
        { key: 'agent', label: 'phr.allergy.agent', max: 200 },
        { key: 'reaction', label: 'phr.allergy.reaction', max: 500 },
      ] },
      { type: 'list', key: 'risk_factors', title: 'phr.risk_factors', add: 'phr.risk_factors.add', columns: [
        { key: 'type', label: 'phr.risk.type', type: 'select', options: ['smoking', 'alcohol', 'drugs', 'physical_inactivity', 'other'] },
        { key: 'status', label: 'phr.risk.status', type: 'select', options: ['current', 'former', 'never'] },
        { key: 'detail', label: 'phr.detail', max: 500 },
        { key: 'since', label: 'phr.since', type: 'partial_date' },
      ] },
      { type: 'list', key: 'diseases', title: 'phr.diseases', add: 'phr.diseases.add', columns: [
        { key: 'icd10', label: 'phr.icd10', max: 8, narrow: true },
        { key: 'name', label: 'phr.disease_name', max: 300 },
        { key: 'since', label: 'phr.since', type: 'partial_date' },
        { key: 'status', label: 'phr.disease.status', type: 'select', options: ['active', 'resolved'] },
        { key: 'note', label: 'phr.note', max: 500 },
      ] },
      { type: 'list', key: 'surgeries', title: 'phr.surgeries', add: 'phr.surgeries.add', columns: [
        { key: 'name', label: 'phr.surgery_name', max: 300 },
        { key: 'date', label: 'phr.date', type: 'partial_date' },
        { key: 'place', label: 'phr.place', max: 200 },
        { key: 'note', label: 'phr.note', max: 500 },
      ] },
      { type: 'list', key: 'family_history', title: 'phr.family', add: 'phr.family.add', columns: [
        { key: 'relationship', label: 'phr.relative', max: 50 },
        { key: 'icd10', label: 'phr.icd10', max: 8, narrow: true },
        { key: 'name', label: 'phr.disease_name', max: 300 },
        { key: 'note', label: 'phr.note', max: 500 },
      ] },
      { type: 'list', key: 'disabilities', title: 'phr.disabilities', add: 'phr.disabilities.add', columns: [
        { key: 'type', label: 'phr.disability.type', type: 'select', options: ['hearing', 'vision', 'hands', 'legs', 'spine', 'cleft_lip_palate', 'other'] },
        { key: 'detail', label: 'phr.detail', max: 500 },
      ] },
      { title: 'phr.birth', fields: [
        { key: 'birth.delivery', label: 'phr.delivery', type: 'select', options: ['normal', 'caesarean', 'other'] },
        { key: 'birth.weight_g', label: 'phr.birth.weight_g', type: 'number', min: '300', step: '1' },
        { key: 'birth.length_cm', label: 'phr.birth.length_cm', type: 'number', min: '20', step: '1' },
        { key: 'birth.preterm', label: 'phr.birth.preterm', type: 'checkbox' },
        { key: 'birth.birth_asphyxia', label: 'phr.birth.asphyxia', type: 'checkbox' },
        { key: 'birth.congenital_defects', label: 'phr.birth.congenital_defects', max: 500 },
      ] },
      { title: 'phr.other', fields: [
        { key: 'reproductive_health', label: 'phr.reproductive_health', type: 'textarea', max: 2000, wide: true },
        { key: 'other_issues', label: 'phr.other_issues', type: 'textarea', max: 2000, wide: true },
      ] },
    ],
  },
  {
    key: 'prevention', title: 'record.s3',
    parts: [
      { type: 'list', key: 'vaccinations', title: 'phr.vaccinations', add: 'phr.vaccinations.add', columns: [
        { key: 'vaccine', label: 'phr.vaccine', max: 100 },
        { key: 'dose', label: 'phr.dose', type: 'number', min: '1', step: '1', narrow: true },
        { key: 'date', label: 'phr.date', type: 'date' },
        { key: 'lot', label: 'phr.lot', max: 50, narrow: true },
        { key: 'place', label: 'phr.place', max: 200 },
        { key: 'reaction', label: 'phr.reaction', max: 500 },
      ] },
      { type: 'list', key: 'pregnancies', title: 'phr.pregnancies', add: 'phr.pregnancies.add', columns: [
        { key: 'last_period', label: 'phr.last_period', type: 'date' },
        { key: 'due_date', label: 'phr.due_date', type: 'date' },
        { key: 'antenatal_visits', label: 'phr.antenatal_visits', type: 'number', min: '0', step: '1', narrow: true },
        { key: 'outcome', label: 'phr.outcome', type: 'select', options: ['ongoing', 'live_birth', 'stillbirth', 'miscarriage', 'abortion'] },
        { key: 'ended_on', label: 'phr.ended_on', type: 'date' },
        { key: 'delivery', label: 'phr.delivery', type: 'select', options: ['normal', 'caesarean', 'other'] },
      ] },
      { type: 'list', key: 'screenings', title: 'phr.screenings', add: 'phr.screenings.add', columns: [
        { key: 'type', label: 'phr.test', max: 100 },
        { key: 'date', label: 'phr.date', type: 'date' },
        { key: 'result', label: 'phr.result', max: 500 },
        { key: 'next_due', label: 'phr.next_due', type: 'date' },
      ] },
      { type: 'list', key: 'chronic_diseases', title: 'phr.chronic', add: 'phr.chronic.add', columns: [
        { key: 'icd10', label: 'phr.icd10', max: 8, narrow: true },
        { key: 'name', label: 'phr.disease_name', max: 300 },
        { key: 'diagnosed_on', label: 'phr.diagnosed_on', type: 'date' },
        { key: 'program', label: 'phr.program', max: 100 },
      ] },
    ],
  },
  { key: 'examinations', title: 'record.s4', parts: [] },
];
