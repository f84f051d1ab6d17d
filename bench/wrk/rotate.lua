-- wrk script: GET requests rotating through a file of "TOKEN<TAB>PATH" lines
-- (each request carries its own user's bearer token). Every thread starts at
-- a different line. Usage: wrk -s bench/wrk/rotate.lua URL -- FILE
local lines, i = {}, 0
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  for l in io.lines(args[1]) do
    local tok, path = l:match("^([^\t]+)\t(.+)$")
    if tok then lines[#lines + 1] = {"Bearer " .. tok, path} end
  end
  i = ((tid or 1) * 7919) % #lines
end

function request()
  i = i % #lines + 1
  local e = lines[i]
  return wrk.format("GET", e[2], {["Authorization"] = e[1]})
end
