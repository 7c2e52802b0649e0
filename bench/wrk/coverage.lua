-- GET /api/v1/coverage for random enrolled members.
-- args: members file (one id a line), plan code, day (YYYY-MM-DD), bearer token
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local report = require("report")

setup = report.setup
done = report.done

local members = {}
local plan, day, headers

function init(args)
  report.init_counters()
  for line in io.lines(args[1]) do
    table.insert(members, line)
  end
  plan, day = args[2], args[3]
  headers = {["Authorization"] = "Bearer " .. args[4]}
  math.randomseed(os.time() + tid * 7919)
end

function request()
  local member = members[math.random(#members)]
  local path = "/api/v1/coverage?member_id=" .. member .. "&plan_code=" .. plan .. "&on=" .. day
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  report.count(status, body, '"covered":true')
end
