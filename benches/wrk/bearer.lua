-- The bearer token in $TOKEN on every request; any non-200 aborts the run.
local token = io.open(os.getenv("TOKEN")):read("*l")
wrk.headers["Authorization"] = "Bearer " .. token
response = function(status)
  if status ~= 200 then error("status " .. status) end
end
