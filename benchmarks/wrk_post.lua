-- wrk script for benchmarks/serving.py: POST one inference request body, again and again.
--
-- The body comes from the WRK_BODY environment variable (a JSON Open Inference Protocol
-- request). At the end one line `RESULT {...}` is written with exact figures, so the caller
-- need not parse wrk's rounded human-readable output: requests, duration (us), latency
-- percentiles (us), and every kind of error including non-2xx answers.

wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or error("set WRK_BODY to the request body")
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
         .. '"p99_us": %d, "max_us": %d, "non2xx": %d, "connect": %d, "read": %d, '
         .. '"write": %d, "timeout": %d}\n',
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.status, e.connect, e.read, e.write, e.timeout))
end
