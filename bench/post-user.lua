-- wrk script: POST /users with a JSON body and a unique email per request.
-- Arguments (after `--`): the bearer key, then a tag unique to this run.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

local counter = 0
local prefix

function init(args)
  math.randomseed(os.time() + (thread_id or 0))
  prefix = string.format("bench-%s-%d-%d", args[2] or "run", thread_id or 0, math.random(1, 1000000000))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (args[1] or "")
end

function request()
  counter = counter + 1
  local body = string.format('{"name":"Bench User","email":"%s-%d@example.com"}', prefix, counter)
  return wrk.format(nil, nil, nil, body)
end
