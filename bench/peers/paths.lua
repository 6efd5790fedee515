-- wrk script for bench/ogc.py: `wrk ... -s paths.lua URL -- FILE` cycles through the request paths
-- listed one per line in FILE (each thread starting at its own place) and ends with one JSON line.
local threads = {}
local paths = {}
local i = 0

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  i = (number * 7919) % #paths
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "seconds": %.3f, "rps": %.2f, "bytes": %d, "p50": %.2f, "p95": %.2f, ' ..
    '"p99": %.2f, "errors": %d, "non2xx": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6), summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status))
end
