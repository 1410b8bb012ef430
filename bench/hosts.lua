-- wrk script for bench/hostess-bench: every request carries the next Host from a list.
--
--   wrk ... -s bench/hosts.lua http://127.0.0.1:PORT/ -- HOSTS_FILE [PATH [close]]
--
-- With "close", every request also carries "Connection: close": the server closes after
-- each response and wrk reconnects, so every request comes on a new connection (with an
-- https:// URL, a new TLS handshake: the --tls "new connections" mode of hostess-bench).
--
-- HOSTS_FILE has one hostname per line. Each wrk thread pre-formats one request per host
-- (so Lua does no string work per request) and starts at a different offset, so the
-- proxy sees the Host spread over all names. done() prints one line
-- "WRKJSON {...}" with counts, errors and latency percentiles in microseconds; the
-- benchmark script parses that line instead of wrk's human-readable text.

local threads = {}
local counter = 0

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local reqs = {}
local n = 0
local i = 0

function init(args)
   local file = args[1]
   local path = args[2] or "/"
   local close = args[3] == "close"
   if not file then
      error("hosts.lua: pass the hosts file after --")
   end
   for line in io.lines(file) do
      if #line > 0 then
         n = n + 1
         if close then
            reqs[n] = wrk.format("GET", path, { Host = line, Connection = "close" })
         else
            reqs[n] = wrk.format("GET", path, { Host = line })
         end
      end
   end
   if n == 0 then
      error("hosts.lua: no hosts in " .. file)
   end
   -- spread the threads' starting points over the list
   i = ((id or 0) * 7919) % n
end

function request()
   i = i + 1
   if i > n then
      i = 1
   end
   return reqs[i]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9)))
end
