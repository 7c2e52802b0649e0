-- Shared by the bench's wrk scripts: per-thread status counts, and one JSON line at the end
-- ("WRKJSON {...}") with requests/s and latency percentiles, read by bench/run.py.
local M = {}
local threads = {}

function M.setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- call from a script's response(): counts statuses and, when `marker` is given, the bodies
-- containing it
function M.count(status, body, marker)
  statuses[status] = (statuses[status] or 0) + 1
  if marker ~= nil and body ~= nil and string.find(body, marker, 1, true) then
    marked = marked + 1
  end
end

function M.init_counters()
  statuses = {}
  marked = 0
end

function M.done(summary, latency, requests)
  local codes, total_marked = {}, 0
  for _, thread in ipairs(threads) do
    local counted = thread:get("statuses") or {}
    for code, n in pairs(counted) do
      codes[code] = (codes[code] or 0) + n
    end
    total_marked = total_marked + (thread:get("marked") or 0)
  end
  local parts = {}
  for code, n in pairs(codes) do
    table.insert(parts, string.format('"%d": %d', code, n))
  end
  local seconds = summary.duration / 1e6
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "requests_per_second": %.1f, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"statuses": {%s}, "marked": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    table.concat(parts, ", "), total_marked))
end

return M
