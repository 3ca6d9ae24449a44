-- PutItem of a ~200-byte item at a random key of the preloaded range (the
-- table stays at its preloaded size).
local common = require "common"
common.install("PutItem", function()
  return '{"TableName":"' .. common.opts.hash_table .. '","Item":' ..
    common.item_json(common.random_index()) .. '}'
end)
