-- Any non-200 aborts the run.
response = function(status)
  if status ~= 200 then error("status " .. status) end
end
