-- An anonymous browser navigation to a protected page per request (no cookie): each starts a
-- login (302 to Keycloak, a pending login stored). Anything but a 302 aborts the run.
request = function()
  return wrk.format("GET", wrk.path, { ["Accept"] = "text/html", ["Sec-Fetch-Mode"] = "navigate" })
end
response = function(status)
  if status ~= 302 then error("status " .. status) end
end
