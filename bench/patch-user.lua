-- wrk script: PATCH /users/1 with a name that changes each request.
-- Arguments (after `--`): the bearer key.

local counter = 0

function init(args)
  wrk.method = "PATCH"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (args[1] or "")
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format('{"name":"Alice %d"}', counter))
end
