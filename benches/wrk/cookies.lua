-- One random session of the N in $COOKIES per request; any non-200 aborts the run.
local ids = {}
for line in io.lines(os.getenv("COOKIES")) do ids[#ids + 1] = line end
request = function()
  return wrk.format("GET", wrk.path, { ["Cookie"] = "kc_session=" .. ids[math.random(#ids)] })
end
response = function(status)
  if status ~= 200 then error("status " .. status) end
end
