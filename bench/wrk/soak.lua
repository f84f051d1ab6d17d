-- wrk script for the soak: a steady mix of reads and writes by one doctor,
-- throttled with delay() to a fixed rate per connection.
-- Usage: wrk -s bench/wrk/soak.lua URL -- TOKEN PATIENT_IDS_FILE DELAY_MS
local token, ids, delay_ms, n = "", {}, 10, 0

function init(args)
  token = "Bearer " .. args[1]
  for l in io.lines(args[2]) do ids[#ids + 1] = l end
  delay_ms = tonumber(args[3]) or 10
end

function delay()
  return delay_ms
end

function request()
  n = n + 1
  local id = ids[(n * 7919) % #ids + 1]
  local h = {["Authorization"] = token}
  if n % 4 == 0 then
    h["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/visits", h, '{"patient_id":' .. id .. ',"kind":"outpatient"}')
  elseif n % 4 == 1 then
    return wrk.format("GET", "/api/v1/patients?q=nguyen", h)
  elseif n % 4 == 2 then
    return wrk.format("GET", "/api/v1/patients/" .. id .. "/visits?limit=20", h)
  end
  return wrk.format("GET", "/api/v1/patients/" .. id, h)
end
