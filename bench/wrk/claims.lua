-- POST /api/v1/claims: every request a new claim that passes every check, so that it is
-- approved at once under the plan's auto-approval limit.
-- args: members file, plan code, bearer token, first sequence number, thread count,
--       first admission day as seconds since the epoch (UTC midnight), days between stays
--
-- Request n (over all threads: first + count * threads + tid) files for member n mod M, a
-- one-night stay in round n div M: admitted first day + round * gap days. So a member's
-- stays never overlap, every invoice number (and Idempotency-Key) is new, and a later run
-- that starts after the last sequence number of an earlier one never repeats either.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local report = require("report")

setup = report.setup
done = report.done

local members = {}
local plan, token, first, threads, day0, gap
local count = 0

function init(args)
  report.init_counters()
  for line in io.lines(args[1]) do
    table.insert(members, line)
  end
  plan, token = args[2], args[3]
  first, threads = tonumber(args[4]), tonumber(args[5])
  day0, gap = tonumber(args[6]), tonumber(args[7])
end

function request()
  local n = first + count * threads + tid
  count = count + 1
  local member = members[(n % #members) + 1]
  local round = math.floor(n / #members)
  local admitted = day0 + round * gap * 86400
  local body = string.format(
    '{"member_id":"%s","plan_code":"%s","facts":{"admitted_on":"%s","discharged_on":"%s",' ..
    '"hospital":"内蒙古自治区人民医院","diagnosis_codes":["J18.9"],"invoice_numbers":["BENCH-%d"],' ..
    '"total_cost":"3000.00","insurance_paid":"1000.00","out_of_pocket_in_policy":"1800.00",' ..
    '"self_pay":"200.00"}}',
    member, plan, os.date("!%Y-%m-%d", admitted), os.date("!%Y-%m-%d", admitted + 86400), n)
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. n,
  }
  return wrk.format("POST", "/api/v1/claims", headers, body)
end

function response(status, headers, body)
  report.count(status, body, '"status":"approved"')
end
