-- wrk script for the benchmark workloads: POST requests with a JSON body, optionally spread
-- over N object keys or carrying the send time, and a done() that prints one JSON line.
--
-- Usage: wrk ... -s wrk.lua http://127.0.0.1:<ingress> -- <path> <body> [keys]
--   path  request path; "{key}" is replaced by "k<random 0..keys-1>" on every request
--   body  JSON body; "{now}" is replaced by the wall-clock send time in epoch ms (CLOCK_REALTIME,
--         microsecond resolution; LuaJIT ffi), for the `send` workload's time until executed
--   keys  number of distinct keys for "{key}" (default 1000)
--
-- done() prints, on stdout, one line: WRK_JSON {"requests":..,"duration_us":..,"errors":{..},
-- "latency_us":{"min","mean","p50","p90","p99","p999","max"},"status_errors":..}
-- wrk counts a response with status >= 400 in errors.status; connect/read/write/timeout are
-- socket-level errors.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } wrkbench_timespec;
int clock_gettime(int clk, wrkbench_timespec *ts);
]]
local ts = ffi.new("wrkbench_timespec")
local CLOCK_REALTIME = 0

local function now_ms()
  ffi.C.clock_gettime(CLOCK_REALTIME, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local path_template = "/"
local body_template = ""
local nkeys = 1000
local dynamic_path = false
local dynamic_body = false
local fixed_request = nil
local headers = { ["content-type"] = "application/json" }

function init(args)
  path_template = args[1] or "/"
  body_template = args[2] or ""
  nkeys = tonumber(args[3] or "1000")
  dynamic_path = string.find(path_template, "{key}", 1, true) ~= nil
  dynamic_body = string.find(body_template, "{now}", 1, true) ~= nil
  -- Different threads must not draw the same key sequence.
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000))
  if not dynamic_path and not dynamic_body then
    fixed_request = wrk.format("POST", path_template, headers, body_template)
  end
end

function request()
  if fixed_request then return fixed_request end
  local path = path_template
  if dynamic_path then
    path = string.gsub(path_template, "{key}", "k" .. math.random(0, nkeys - 1), 1)
  end
  local body = body_template
  if dynamic_body then
    body = string.gsub(body_template, "{now}", string.format("%.3f", now_ms()), 1)
  end
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local function p(q)
    return latency:percentile(q)
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, p(50), p(90), p(99), p(99.9), latency.max))
end
