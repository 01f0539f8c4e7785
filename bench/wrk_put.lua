-- wrk's side of load_efficiency.py: ChangeImageState PUTs only (wrk cannot follow each job), alternating
-- enable/disable over the images named in ZSCHECK_BENCH_IMAGES, with the session from ZSCHECK_BENCH_SESSION.
local images = {}
for uuid in string.gmatch(os.getenv("ZSCHECK_BENCH_IMAGES") or "", "[^,]+") do images[#images + 1] = uuid end
local session = os.getenv("ZSCHECK_BENCH_SESSION") or ""
local n = 0
local chars = "0123456789abcdef"

local function job_uuid()
  local t = {}
  for i = 1, 32 do local k = math.random(1, 16); t[i] = chars:sub(k, k) end
  return table.concat(t)
end

request = function()
  n = n + 1
  local image = images[(n % #images) + 1]
  local event = (math.floor(n / #images) % 2 == 0) and "disable" or "enable"
  local body = '{"changeImageState":{"stateEvent":"' .. event .. '"}}'
  local headers = {
    ["Content-Type"] = "application/json; charset=utf-8",
    ["Authorization"] = "OAuth " .. session,
    ["X-Job-UUID"] = job_uuid(),
    ["X-JSON-Schema"] = "true",
  }
  return wrk.format("PUT", "/zstack/v1/images/" .. image .. "/actions", headers, body)
end
