-- One random session of the N in $COOKIES per request; with $QUOTA, each thread stops after
-- that many responses (wrk is duration-based; the memory run needs an exact request count).
local ids = {}
for line in io.lines(os.getenv("COOKIES")) do ids[#ids + 1] = line end
local quota = tonumber(os.getenv("QUOTA") or "0")
local seen = 0
request = function()
  return wrk.format("GET", wrk.path, { ["Cookie"] = "kc_session=" .. ids[math.random(#ids)] })
end
response = function(status)
  if status ~= 200 then error("status " .. status) end
  seen = seen + 1
  if quota > 0 and seen >= quota then wrk.thread:stop() end
end
