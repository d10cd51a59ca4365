-- wrk script: POST snippet-sized batches, each event with a fresh UUID, and count answers.
-- Environment: BATCH (events per request, default 20); RATE and CONNS (requests per second
-- in all, over this many connections) pace the requests instead of sending flat out.

local batch = tonumber(os.getenv("BATCH") or "20")
local rate = tonumber(os.getenv("RATE") or "0")
local conns = tonumber(os.getenv("CONNS") or "1")
local threads = {}
local hex = "0123456789abcdef"

local function uuid()
  local t = {}
  for i = 1, 36 do
    if i == 9 or i == 14 or i == 19 or i == 24 then
      t[i] = "-"
    elseif i == 15 then
      t[i] = "4"
    elseif i == 20 then
      local n = 9 + math.random(0, 3) -- the variant: 8, 9, a or b
      t[i] = hex:sub(n, n)
    else
      local n = math.random(1, 16)
      t[i] = hex:sub(n, n)
    end
  end
  return table.concat(t)
end

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  ok, refused, failed = 0, 0, 0
end

function request()
  local now = string.format("%d", os.time() * 1000)
  local events = {}
  for i = 1, batch do
    events[i] = '{"id":"' .. uuid() .. '","t":"click","ts":' .. now .. ',"q":' .. (i - 1) ..
      ',"tg":"button#buy","l":"Buy","p":{"x":' .. i .. ',"y":10}}'
  end
  local body = '{"v":1,"s":"demo","sid":"' .. uuid() .. '","at":' .. now ..
    ',"u":"http://127.0.0.1/load","c":{"sdk":"bench","vw":1280,"vh":800},"e":[' ..
    table.concat(events, ",") .. "]}"
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0.0.0 Safari/537.36",
  }, body)
end

-- Paced runs: each connection waits its share of the interval before its next request,
-- randomised (exponential, as independent visitors arrive) so that the connections do not
-- fire in lockstep bursts.
if rate > 0 then
  function delay()
    return -math.log(1 - math.random()) * conns * 1000 / rate
  end
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 429 or status == 503 then
    refused = refused + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local o, r, f = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    r = r + t:get("refused")
    f = f + t:get("failed")
  end
  -- One machine-readable line for loadtests/bench.py.
  io.write(string.format(
    "BENCH ok=%d refused=%d failed=%d errors=%d p50=%.3f p90=%.3f p99=%.3f batch=%d\n",
    o, r, f, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, batch))
end
