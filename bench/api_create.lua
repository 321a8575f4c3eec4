-- wrk script of `higgins bench api` (bench/api.py): POST /v1/containers with the JSON body in
-- $HIGGINS_BENCH_BODY, count 202s and everything else per thread, and print one
-- machine-readable line at the end:
--   HIGGINS_BENCH acks=<202s> other=<non-202s> seconds=<s> p50_us=<us> p99_us=<us> ...
-- and, when some answer was not a 202, the first such status and body:
--   HIGGINS_BENCH_SAMPLE <status> <body>
-- Latencies are of every answer, whatever its status.

wrk.method = "POST"
wrk.path = "/v1/containers"
wrk.body = os.getenv("HIGGINS_BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["OpenStack-API-Version"] = "container 1.40"

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   acks = 0
   other = 0
   sample = ""
end

function response(status, headers, body)
   if status == 202 then
      acks = acks + 1
   else
      other = other + 1
      if sample == "" then
         sample = status .. " " .. string.sub(body or "", 1, 300)
      end
   end
end

function done(summary, latency, requests)
   local total_acks, total_other, first = 0, 0, ""
   for _, thread in ipairs(threads) do
      total_acks = total_acks + thread:get("acks")
      total_other = total_other + thread:get("other")
      if first == "" then first = thread:get("sample") end
   end
   local e = summary.errors
   io.write(string.format(
      "HIGGINS_BENCH acks=%d other=%d seconds=%.6f p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
      "socket_errors=%d timeouts=%d\n",
      total_acks, total_other, summary.duration / 1e6, latency:percentile(50),
      latency:percentile(90), latency:percentile(99), latency.max,
      e.connect + e.read + e.write, e.timeout))
   if first ~= "" then
      io.write("HIGGINS_BENCH_SAMPLE " .. string.gsub(first, "\n", " ") .. "\n")
   end
end
