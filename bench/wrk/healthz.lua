-- A plain GET (the /healthz baseline, the gateway's own /healthz, nginx's 404): statuses only.
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
