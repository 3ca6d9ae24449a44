-- BatchWriteItem: 25 PutRequests of ~200-byte items at distinct keys.
local common = require "common"
common.install("BatchWriteItem", function()
  local puts = {}
  for j, i in ipairs(common.distinct_indexes(25)) do
    puts[j] = '{"PutRequest":{"Item":' .. common.item_json(i) .. '}}'
  end
  return '{"RequestItems":{"' .. common.opts.hash_table .. '":[' ..
    table.concat(puts, ",") .. ']}}'
end)
