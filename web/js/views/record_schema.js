// The fields of the health record form, per section. Keys are the JSON keys
// of the record's sections (GET/PUT /patients/{id}/health-record).
export const SCHEMA = [
  {
    key: 'identity', title: 'record.s1',
    parts: [
      { title: 'record.s1.admin', fields: [
        { key: 'blood_group', label: 'phr.blood_group', type: 'select', options: ['A', 'B', 'AB', 'O'] },
        { key: 'rh', label: 'phr.rh', type: 'select', options: ['positive', 'negative'] },
        { key: 'occupation', label: 'phr.occupation', max: 100 },
        { key: 'education', label: 'phr.education', max: 100 },
        { key: 'marital_status', label: 'phr.marital_status', type: 'select', options: ['single', 'married', 'divorced', 'widowed'] },
        { key: 'religion', label: 'phr.religion', max: 100 },
      ] },
      { title: 'record.s1.contact', fields: [
        { key: 'father_name', label: 'phr.father_name', max: 200 },
        { key: 'mother_name', label: 'phr.mother_name', max: 200 },
        { key: 'caregiver_name', label: 'phr.caregiver_name', max: 200 },
        { key: 'caregiver_phone', label: 'phr.caregiver_phone', max: 15 },
      ] },
    ],
  },
  {
    key: 'history', title: 'record.s2',
    parts: [
      { type: 'list', key: 'allergies', title: 'phr.allergies', add: 'phr.allergies.add', columns: [
        { key: 'agent', label: 'phr.allergy.agent' },
        { key: 'kind', label: 'phr.allergy.kind', type: 'select', options: ['drug', 'food', 'chemical', 'other'] },
        { key: 'reaction', label: 'phr.allergy.reaction' },
      ] },
      { type: 'list', key: 'personal', title: 'phr.personal', add: 'phr.personal.add', columns: [
        { key: 'condition', label: 'phr.condition' },
        { key: 'icd10', label: 'phr.icd10', max: 8 },
        { key: 'since', label: 'phr.since', max: 10 },
      ] },
      { type: 'list', key: 'family', title: 'phr.family', add: 'phr.family.add', columns: [
        { key: 'relative', label: 'phr.relative' },
        { key: 'condition', label: 'phr.condition' },
      ] },
      { title: 'phr.risk', fields: [
        { key: 'risk_factors.smoking', label: 'phr.smoking', type: 'select', options: ['never', 'former', 'current'] },
        { key: 'risk_factors.alcohol', label: 'phr.alcohol', type: 'select', options: ['none', 'occasional', 'regular'] },
        { key: 'risk_factors.physical_activity', label: 'phr.physical_activity', type: 'select', options: ['low', 'moderate', 'high'] },
        { key: 'risk_factors.other', label: 'phr.risk_other', max: 500 },
        { key: 'disabilities', label: 'phr.disabilities', max: 500 },
      ] },
    ],
  },
  {
    key: 'prevention', title: 'record.s3',
    parts: [
      { type: 'list', key: 'vaccinations', title: 'phr.vaccinations', add: 'phr.vaccinations.add', columns: [
        { key: 'vaccine', label: 'phr.vaccine' },
        { key: 'dose', label: 'phr.dose', type: 'number', min: '1', step: '1' },
        { key: 'date', label: 'phr.date', type: 'date' },
        { key: 'place', label: 'phr.place' },
        { key: 'reaction', label: 'phr.reaction' },
      ] },
      { type: 'list', key: 'pregnancies', title: 'phr.pregnancies', add: 'phr.pregnancies.add', columns: [
        { key: 'year', label: 'phr.year', type: 'number', min: '1900', step: '1' },
        { key: 'outcome', label: 'phr.outcome', type: 'select', options: ['live_birth', 'stillbirth', 'miscarriage', 'abortion', 'ongoing'] },
        { key: 'delivery', label: 'phr.delivery', type: 'select', options: ['vaginal', 'caesarean'] },
        { key: 'notes', label: 'phr.notes' },
      ] },
      { type: 'list', key: 'screenings', title: 'phr.screenings', add: 'phr.screenings.add', columns: [
        { key: 'test', label: 'phr.test' },
        { key: 'date', label: 'phr.date', type: 'date' },
        { key: 'result', label: 'phr.result' },
      ] },
      { type: 'list', key: 'chronic', title: 'phr.chronic', add: 'phr.chronic.add', columns: [
        { key: 'icd10', label: 'phr.icd10', max: 8 },
        { key: 'condition', label: 'phr.condition' },
        { key: 'date', label: 'phr.date', type: 'date' },
        { key: 'status', label: 'phr.status' },
        { key: 'plan', label: 'phr.plan' },
      ] },
    ],
  },
  { key: 'examinations', title: 'record.s4', parts: [] },
];
