-- TransactWriteItems: 4 Puts of ~200-byte items at distinct keys.
local common = require "common"
common.install("TransactWriteItems", function()
  local puts = {}
  for j, i in ipairs(common.distinct_indexes(4)) do
    puts[j] = '{"Put":{"TableName":"' .. common.opts.hash_table .. '","Item":' ..
      common.item_json(i) .. '}}'
  end
  return '{"TransactItems":[' .. table.concat(puts, ",") .. ']}'
end)
