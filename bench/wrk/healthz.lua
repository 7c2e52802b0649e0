-- GET /healthz (answered by nginx itself): the gateway baseline.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local report = require("report")

setup = report.setup
done = report.done

function init(args)
  report.init_counters()
end

function response(status, headers, body)
  report.count(status)
end
