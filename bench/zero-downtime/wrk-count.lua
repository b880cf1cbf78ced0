-- wrk script for the zero-downtime benchmark: counts every answer that is not 2xx by who
-- sent it, and prints one JSON line with wrk's totals at the end.
--   - the hello service's injected errors say "... from <version>" (ERROR_RATE): they are
--     the bad version's own answers while it was live, not losses caused by switching;
--   - anything else that is not 2xx (an nginx 502/503/504, an empty body) counts as
--     "other:<status>": a request lost by switching.
-- Socket errors (connect, read, write, timeout) come from wrk's own summary.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = {}
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    local who = body and string.match(body, "from (%S+)")
    local key = who and ("from:" .. who) or ("other:" .. status)
    non2xx[key] = (non2xx[key] or 0) + 1
  end
end

local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("non2xx") or {}) do
      merged[key] = (merged[key] or 0) + n
    end
  end
  local parts = {}
  for key, n in pairs(merged) do
    table.insert(parts, json_string(key) .. ":" .. n)
  end
  table.sort(parts)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f},' ..
    '"non2xx":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean, table.concat(parts, ",")))
end
