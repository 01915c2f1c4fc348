-- wrk script: POST one file, over and over, as multipart/form-data or as a raw body; print a JSON
-- summary at the end (line starting with "WRKJSON ") that serve_bench.py reads.
--   wrk -s bench/wrk/post_file.lua URL -- multipart FILE [FIELD] [CONTENT_TYPE]
--   wrk -s bench/wrk/post_file.lua URL -- json FILE
--   wrk -s bench/wrk/post_file.lua URL -- get
-- The request is built once per thread in init(): no Lua runs per request, so wrk stays cheap.

local function slurp(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  local mode = args[1] or "get"
  if mode == "multipart" then
    local data = slurp(args[2])
    local field = args[3] or "image"
    local ctype = args[4] or "image/png"
    local boundary = "----wrkbenchboundary7MA4YWxkTrZu0gW"
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
    wrk.body = "--" .. boundary .. "\r\n"
      .. 'Content-Disposition: form-data; name="' .. field .. '"; filename="canvas.png"\r\n'
      .. "Content-Type: " .. ctype .. "\r\n\r\n"
      .. data .. "\r\n--" .. boundary .. "--\r\n"
  elseif mode == "json" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = slurp(args[2])
  elseif mode == "raw" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = args[3] or "image/png"
    wrk.body = slurp(args[2])
  else
    wrk.method = "GET"
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,'
    .. '"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
