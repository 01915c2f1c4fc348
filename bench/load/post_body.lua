-- wrk script for bench/load_test.py: POST one prepared body, over and over; print a JSON summary.
--   wrk -s bench/load/post_body.lua URL -- BODY_FILE CONTENT_TYPE [API_KEY]
-- The request is built once per thread in init(): no Lua runs per request, so wrk stays cheap.
-- The last output line starts with "LOADJSON " and holds counts, errors and latency percentiles (us).

function init(args)
  local f = assert(io.open(args[1], "rb"), "cannot open " .. tostring(args[1]))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = args[2]
  if args[3] and args[3] ~= "" then
    wrk.headers["X-API-Key"] = args[3]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'LOADJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
