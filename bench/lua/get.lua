-- GetItem of a random preloaded key (~200-byte item).
local common = require "common"
common.install("GetItem", function()
  return '{"TableName":"' .. common.opts.hash_table .. '","Key":{"pk":{"S":"' ..
    common.hkey(common.random_index()) .. '"}}}'
end)
