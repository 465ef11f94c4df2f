-- wrk script of tests/bench/gateway.sh: POSTs product events or usage
-- reports to tally-gateway, one event (a bare JSON object) or a JSON array
-- of BATCH events per request.
--
--   wrk ... -s gateway_post.lua http://HOST:PORT -- ROUTE BATCH [API_KEY]
--     ROUTE    product (/v1/product/events) or usage (/v1/usage/reports)
--     BATCH    events per request; 1 sends a bare object
--     API_KEY  the usage route's key (tenant "bench-tenant", env "bench-env")
--
-- Requests are built once per thread in init(), so wrk spends its CPU on
-- sockets, not on JSON. Product events cycle through INSTALLS installation
-- ids, "bench-install-NNNN" (bench_produce_direct keys its records with the
-- same ids), so the gateway's keys spread over partitions as real traffic
-- does. done() prints one "BENCH key=value ..." line for gateway.sh.

local INSTALLS = 1000
local POOL = 64                 -- distinct requests per thread

local counter = 0

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
end

local function uuid(n)
   -- Deterministic, distinct, and of UUID version 4 form.
   local h = string.format("%032x", n)
   return string.format("%s-%s-4%s-8%s-%s", h:sub(1, 8), h:sub(9, 12), h:sub(14, 16), h:sub(18, 20),
                        h:sub(21, 32))
end

local function product_event(n, now)
   local install = n % INSTALLS
   return string.format(
      '{"event_id":"%s","source":"CLI","event":"project.create.start","occurred_at":%d,' ..
      '"install_id":"bench-install-%04d","project_id":"bench-project-%04d","version":"5.2.1","ci":false,' ..
      '"properties":{"template":"blog","language":"typescript"}}',
      uuid(n), now - 1000, install, install)
end

local function usage_report(n, now)
   return string.format(
      '{"tenant_id":"bench-tenant","environment_id":"bench-env","reporter_id":"%s",' ..
      '"reporter_started_at":%d,"seq":%d,"observed_at":%d,"api_calls":1000,"status_4xx":10,' ..
      '"status_5xx":2,"exec_ms":12345}',
      uuid(n % INSTALLS), now - 3600000, n, now - 1000)
end

local requests = {}
local next_request = 0

function init(args)
   local route, batch, key = args[1], tonumber(args[2]), args[3]
   if (route ~= "product" and route ~= "usage") or batch == nil or batch < 1 then
      error("usage: -- product|usage BATCH [API_KEY]")
   end
   local path = route == "product" and "/v1/product/events" or "/v1/usage/reports"
   local make = route == "product" and product_event or usage_report
   local headers = {["Content-Type"] = "application/json"}
   if route == "usage" then
      headers["Authorization"] = "Bearer " .. key
   end
   local now = os.time() * 1000
   -- Each thread starts elsewhere in the id space: distinct events.
   local n = tid * POOL * batch
   for r = 1, POOL do
      local body
      if batch == 1 then
         body = make(n, now)
         n = n + 1
      else
         local events = {}
         for i = 1, batch do
            events[i] = make(n, now)
            n = n + 1
         end
         body = "[" .. table.concat(events, ",") .. "]"
      end
      requests[r] = wrk.format("POST", path, headers, body)
   end
end

function request()
   next_request = next_request % #requests + 1
   return requests[next_request]
end

function done(summary, latency, _)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d non2xx=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d " ..
      "duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.0f\n",
      summary.requests, e.status, e.connect, e.read, e.write, e.timeout, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
