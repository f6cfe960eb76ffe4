-- wrk script for bench/load.sh: a mix of the API's endpoints. Per request, by chance:
-- 75% GET /v1/lookup of one name (a third each answer NL, answer US, or are NXDOMAIN, from a
-- pool of 3,000 names so the DNS cache both hits and misses), 10% POST /v1/lookup of 100 such
-- names, 10% GET /v1/ip/{ip}, 5% GET /metrics.
local zones = { "nl.load.test", "us.load.test", "nx.load.test" }

local function name()
    return "h" .. math.random(1, 1000) .. "." .. zones[math.random(1, 3)]
end

local batch_headers = { ["Content-Type"] = "application/json" }

request = function()
    local pick = math.random(1, 100)
    if pick <= 75 then
        return wrk.format("GET", "/v1/lookup?url=http%3A%2F%2F" .. name() .. "%2Fa.jpg")
    elseif pick <= 85 then
        local urls = {}
        for i = 1, 100 do
            urls[i] = '"hxxp://' .. name() .. '/x"'
        end
        return wrk.format("POST", "/v1/lookup", batch_headers,
            '{"urls":[' .. table.concat(urls, ",") .. ']}')
    elseif pick <= 95 then
        return wrk.format("GET", "/v1/ip/95.211." .. math.random(0, 255) .. "." .. math.random(0, 255))
    else
        return wrk.format("GET", "/metrics")
    end
end

local statuses = {}

response = function(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
    io.write(string.format("requests served: %d in %.1f s (%.0f/s); errors: %d non-2xx, " ..
        "%d connect, %d read, %d write, %d timeout\n",
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        summary.errors.status, summary.errors.connect, summary.errors.read,
        summary.errors.write, summary.errors.timeout))
    io.write(string.format("latency: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000))
end
