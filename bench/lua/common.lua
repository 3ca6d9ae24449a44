-- Shared by every workload script: the request framing, a syntactically
-- valid SigV4 Authorization header, per-thread random seeds and the JSON
-- summary that bench/run.py reads from wrk's output.
--
-- A workload script sets `target` (the operation name) and `make_body()`
-- (returns the JSON body of one request), then calls common.install().
-- Options come after wrk's `--` as key=value pairs (see bench/run.py):
--   items=N   items preloaded in the hash table (keys k0000000 .. k(N-1))
--   pks=N     partition keys of the range table (10 items each)
--   seed=N    base of the per-thread random seeds

local common = {}

common.opts = {items = 100000, pks = 10000, seed = 1, hash_table = "bench",
               range_table = "bench_range", scan_limit = 100}

-- 160 characters: with the key and two small attributes an item is ~200
-- bytes by DynamoDB's size rules (bench/run.py builds the same items).
common.PAYLOAD = string.rep("abcdefghijklmnop", 10)

-- The signature is never checked by local servers, but it must parse.
local AUTH = "AWS4-HMAC-SHA256 Credential=AKIDBENCHMARK/20240101/us-east-1/dynamodb/aws4_request, " ..
  "SignedHeaders=content-type;host;x-amz-date;x-amz-target, " ..
  "Signature=" .. string.rep("0123456789abcdef", 4)

local prefix

local threads = {}
local counter = 0

-- setup() runs in the main Lua state once per thread: give each its id.
function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

local function parse_args(args)
  for _, a in ipairs(args) do
    local k, v = string.match(a, "^([%w_]+)=(.*)$")
    if k then
      common.opts[k] = tonumber(v) or v
    end
  end
end

function common.install(target, make_body)
  function init(args)
    parse_args(args)
    local host = wrk.headers["Host"] or (wrk.host .. ":" .. wrk.port)
    prefix = "POST / HTTP/1.1\r\n" ..
      "Host: " .. host .. "\r\n" ..
      "Content-Type: application/x-amz-json-1.0\r\n" ..
      "X-Amz-Target: DynamoDB_20120810." .. target .. "\r\n" ..
      "X-Amz-Date: 20240101T000000Z\r\n" ..
      "Authorization: " .. AUTH .. "\r\n" ..
      "Content-Length: "
    math.randomseed(common.opts.seed * 1000 + (tid or 0) * 7919 + os.time())
    -- LuaJIT's first draws after a seed are poorly mixed.
    for _ = 1, 10 do math.random() end
  end

  function request()
    local body = make_body()
    return prefix .. #body .. "\r\n\r\n" .. body
  end

  -- Runs in the main state after the threads stopped: one JSON line.
  function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean))
  end
end

-- Keys -------------------------------------------------------------------

function common.hkey(i)
  return string.format("k%07d", i)
end

function common.random_index()
  return math.random(0, common.opts.items - 1)
end

-- `n` distinct indexes, spread over the key space (batches and transactions
-- refuse the same key twice).
function common.distinct_indexes(n)
  local items = common.opts.items
  local stride = math.floor(items / n)
  local base = math.random(0, stride - 1)
  local out = {}
  for j = 0, n - 1 do
    out[j + 1] = base + j * stride
  end
  return out
end

function common.item_json(i)
  return string.format(
    '{"pk":{"S":"%s"},"payload":{"S":"%s"},"n":{"N":"%d"},"tag":{"S":"bench"}}',
    common.hkey(i), common.PAYLOAD, math.random(0, 999999))
end

return common
