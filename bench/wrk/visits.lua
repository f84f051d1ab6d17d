-- wrk script: visit writes by the doctors of several stations, rotating
-- through a file of "TOKEN<TAB>PATIENT_ID<TAB>FACILITY_CODE" lines (each
-- patient of the doctor's own station). Mode (second argument):
--   post        POST /api/v1/visits {patient_id, kind} with an Idempotency-Key, as the UI sends it
--   post_patch  the same, then PATCH /api/v1/visits/{id} (If-Match from the reply) with vitals,
--               a primary ICD-10 diagnosis and a note: a visit recorded with its content
-- Usage: wrk -s bench/wrk/visits.lua URL -- FILE MODE
local lines, i, mode, seq = {}, 0, "post", 0   -- tid: set per thread by setup()
local pending = {}       -- PATCHes waiting for a connection: {auth, id, etag}
local by_facility = {}   -- facility code -> a doctor's bearer token there
local counter = 0
local dx = {"J06.9", "I10", "E11.9", "K29.7", "M54.5", "J20.9", "A09", "J02.9"}

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  for l in io.lines(args[1]) do
    local tok, pid, fc = l:match("^([^\t]+)\t(%d+)\t(%w+)$")
    if tok then
      lines[#lines + 1] = {"Bearer " .. tok, pid}
      by_facility[fc] = "Bearer " .. tok
    end
  end
  mode = args[2] or "post"
  tid = tid or 1
  i = (tid * 7919) % #lines
end

function request()
  if mode == "post_patch" and #pending > 0 then
    local p = table.remove(pending, 1)
    seq = seq + 1
    local body = string.format('{"vitals":{"pulse":%d,"temperature":36.8,"systolic":%d,"diastolic":80,"weight_kg":55},'
      .. '"notes":"Khám lâm sàng: họng đỏ, phổi không ran","diagnoses":[{"icd10":"%s","primary":true}]}',
      70 + seq % 30, 110 + seq % 40, dx[seq % #dx + 1])
    return wrk.format("PATCH", "/api/v1/visits/" .. p[2], {["Authorization"] = p[1],
      ["Content-Type"] = "application/json", ["If-Match"] = p[3]}, body)
  end
  i = i % #lines + 1
  seq = seq + 1
  local e = lines[i]
  return wrk.format("POST", "/api/v1/visits", {["Authorization"] = e[1], ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("bench-%d-%d-%d", tid, seq, os.time())},
    '{"patient_id":' .. e[2] .. ',"kind":"outpatient"}')
end

function response(status, headers, body)
  if mode ~= "post_patch" or status ~= 201 then return end
  local id = body:match('^{"id":%s*(%d+)') or body:match('"id":%s*(%d+),%s*"kind"')
  local fc = body:match('"facility_code":%s*"(%w+)"')
  if id and fc and by_facility[fc] then
    pending[#pending + 1] = {by_facility[fc], id, headers["ETag"] or '"1"'}
  end
end
