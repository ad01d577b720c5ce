-- wrk script: PUT then DELETE of one favourite, in turn: every PUT adds a
-- favourite (checked with products), every DELETE removes it.
-- Arguments (after `--`): the bearer key.

local counter = 0

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. (args[1] or "")
end

function request()
  counter = counter + 1
  local method = (counter % 2 == 1) and "PUT" or "DELETE"
  return wrk.format(method)
end
