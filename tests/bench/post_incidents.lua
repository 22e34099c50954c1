-- wrk script for tests/bench/bench_serve.py: POST a rotating set of incidents to
-- /v1/decisions and print a JSON summary line ("BENCH {...}") when done.
-- Usage: wrk -s post_incidents.lua URL -- INCIDENTS.jsonl

local bodies = {}
local next_body = 1

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
  next_body = math.random(#bodies)
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
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
