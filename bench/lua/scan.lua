-- One Scan page (Limit scan_limit, default 100) starting after a random key.
local common = require "common"
common.install("Scan", function()
  return '{"TableName":"' .. common.opts.hash_table .. '","Limit":' .. common.opts.scan_limit ..
    ',"ExclusiveStartKey":{"pk":{"S":"' .. common.hkey(common.random_index()) .. '"}}}'
end)
