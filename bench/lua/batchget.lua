-- BatchGetItem of 100 distinct preloaded keys.
local common = require "common"
common.install("BatchGetItem", function()
  local keys = {}
  for j, i in ipairs(common.distinct_indexes(100)) do
    keys[j] = '{"pk":{"S":"' .. common.hkey(i) .. '"}}'
  end
  return '{"RequestItems":{"' .. common.opts.hash_table .. '":{"Keys":[' ..
    table.concat(keys, ",") .. ']}}}'
end)
