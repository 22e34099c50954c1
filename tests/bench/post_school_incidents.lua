-- wrk script for tests/bench/bench_schools.py: POST incidents to the schools of a service of
-- many schools (/v1/schools/<school>/decisions), each request to the next (school, incident)
-- pair of a shuffled list, and print a JSON summary line ("BENCH {...}") when done.
-- Usage: wrk -s post_school_incidents.lua URL -- REQUESTS.tsv   (lines: school TAB incident)

local requests = {}
local next_request = 1

function init(args)
  for line in io.lines(args[1]) do
    local school, body = line:match("^([^\t]+)\t(.+)$")
    if school then
      requests[#requests + 1] = {"/v1/schools/" .. school .. "/decisions", body}
    end
  end
  next_request = math.random(#requests)
end

function request()
  local chosen = requests[next_request]
  next_request = next_request % #requests + 1
  return wrk.format("POST", chosen[1], {["Content-Type"] = "application/json"}, chosen[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, '
      .. '"timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
