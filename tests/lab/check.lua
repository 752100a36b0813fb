-- wrk script for the lab's load run: count responses that are not 200 or do not name the expected client.
-- Usage: wrk ... -s check.lua URL -- '"client":"198.51.100.7"'
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  expected = args[1]
  ok = 0
  bad = 0
  sample = ""
end

function response(status, headers, body)
  if status == 200 and body ~= nil and string.find(body, expected, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if sample == "" then sample = tostring(status) .. " " .. tostring(body) end
  end
end

function done(summary, latency, requests)
  local good, wrong, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    wrong = wrong + thread:get("bad")
    if first == "" then first = thread:get("sample") end
  end
  local e = summary.errors
  io.write(string.format("LAB ok=%d bad=%d requests=%d errors=%d duration_us=%d\n", good, wrong,
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, summary.duration))
  if first ~= "" then io.write("LAB first-bad: " .. string.gsub(first, "\n", " ") .. "\n") end
end
