-- wrk: each connection alternates a PUT of 16 bytes to /v1/regions/N and a
-- GET of it (N from 0 to 9, by connection), keep-alive. CLIP_TOKEN, when
-- set, goes in the Authorization header as the page's API calls would.
local token = os.getenv("CLIP_TOKEN")
local value = "aaaaaaaaaaaaaaaa"
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  n = 0
  path = "/v1/regions/" .. (id % 10)
  headers = { ["Content-Type"] = "text/plain" }
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
end

function request()
  n = n + 1
  if n % 2 == 1 then
    return wrk.format("PUT", path, headers, value)
  end
  return wrk.format("GET", path, headers)
end
